//! SNS and SES through the AWS SDK. The clients are made on first use from the standard
//! environment (credentials, region, `AWS_ENDPOINT_URL` for emulators), so a configuration
//! without SNS or e-mail targets never loads them.

use aws_sdk_sesv2::types::{Body, Destination, EmailContent};
use aws_sdk_sns::error::ProvideErrorMetadata;
use tokio::sync::OnceCell;

use super::{Escalator, Rendered, is_fifo, sns_message};
use crate::delivery::SendError;
use aws_sdk_sns::error::SdkError;

/// Error codes worth another try (throttling and the services' own transient failures).
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "Throttled",
    "TooManyRequestsException",
    "KMSThrottling",
    "InternalError",
    "InternalFailure",
    "InternalErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// Sends through SNS and SES v2.
#[derive(Debug, Default)]
pub struct AwsEscalator {
    sdk: OnceCell<aws_config::SdkConfig>,
}

impl AwsEscalator {
    /// Clients are made on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `sdk` instead of the environment.
    pub fn with_config(sdk: aws_config::SdkConfig) -> Self {
        Self {
            sdk: OnceCell::new_with(Some(sdk)),
        }
    }

    async fn sdk(&self) -> &aws_config::SdkConfig {
        self.sdk.get_or_init(aws_config::load_from_env).await
    }
}

/// Sorts an SDK failure: never sent (retryable or permanent), or sent without an answer
/// (ambiguous: it may have arrived, so it is not sent again).
fn classify<E, R>(what: &str, e: &SdkError<E, R>) -> SendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ConstructionFailure(_) => SendError::Permanent(format!("{what}: the request could not be built")),
        SdkError::TimeoutError(_) => SendError::Ambiguous(format!("{what}: timed out")),
        SdkError::DispatchFailure(d) if d.is_timeout() => SendError::Ambiguous(format!("{what}: timed out")),
        SdkError::DispatchFailure(_) => SendError::retryable(format!("{what}: could not connect")),
        SdkError::ResponseError(_) => SendError::Ambiguous(format!("{what}: unreadable answer")),
        SdkError::ServiceError(s) => {
            let err = s.err();
            let code = err.code().unwrap_or("unknown");
            let message = err.message().unwrap_or_default();
            let reason = format!("{what}: {code}: {message}");
            if RETRYABLE_CODES.contains(&code) {
                SendError::retryable(reason)
            } else {
                SendError::Permanent(reason)
            }
        }
        _ => SendError::Ambiguous(format!("{what}: {e}")),
    }
}

#[async_trait::async_trait]
impl Escalator for AwsEscalator {
    async fn publish(&self, topic_arn: &str, message: &Rendered, dedup_id: &str) -> Result<String, SendError> {
        let client = aws_sdk_sns::Client::new(self.sdk().await);
        let mut req = client
            .publish()
            .topic_arn(topic_arn)
            .subject(&message.subject)
            .message_structure("json")
            .message(sns_message(message));
        if is_fifo(topic_arn) {
            req = req.message_group_id("botgate").message_deduplication_id(dedup_id);
        }
        let out = req.send().await.map_err(|e| classify("SNS Publish", &e))?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn email(&self, from: &str, to: &[String], message: &Rendered) -> Result<String, SendError> {
        let client = aws_sdk_sesv2::Client::new(self.sdk().await);
        let text = |s: &str| {
            aws_sdk_sesv2::types::Content::builder()
                .data(s)
                .charset("UTF-8")
                .build()
        };
        let (subject, body) = match (text(&message.subject), text(&message.text)) {
            (Ok(s), Ok(b)) => (s, b),
            (Err(e), _) | (_, Err(e)) => return Err(SendError::Permanent(format!("SES SendEmail: {e}"))),
        };
        let simple = aws_sdk_sesv2::types::Message::builder()
            .subject(subject)
            .body(Body::builder().text(body).build())
            .build();
        let content: EmailContent = EmailContent::builder().simple(simple).build();
        let out = client
            .send_email()
            .from_email_address(from)
            .destination(Destination::builder().set_to_addresses(Some(to.to_vec())).build())
            .content(content)
            .send()
            .await
            .map_err(|e| classify("SES SendEmail", &e))?;
        Ok(out.message_id.unwrap_or_default())
    }
}
