//! AWS-side helpers: resolving `${ssm:...}` and `${secretsmanager:...}` references.

use aws_sdk_secretsmanager::Client as SecretsClient;
use aws_sdk_ssm::Client as SsmClient;

use crate::config::{Resolver, resolve_env};

/// Resolves `env`, `ssm` (SecureString decrypted) and `secretsmanager` references
/// (`${secretsmanager:id}` for the whole string, `${secretsmanager:id#key}` for one JSON key).
/// Clients are created on first use, so configurations without such references cost nothing.
#[derive(Debug, Default)]
pub struct AwsResolver {
    sdk: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

impl AwsResolver {
    /// A resolver using the default AWS configuration chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// A resolver using a given AWS configuration (tests, custom endpoints).
    pub fn from_sdk(sdk: aws_config::SdkConfig) -> Self {
        Self {
            sdk: tokio::sync::OnceCell::new_with(Some(sdk)),
        }
    }

    async fn sdk(&self) -> &aws_config::SdkConfig {
        self.sdk.get_or_init(aws_config::load_from_env).await
    }
}

fn describe<E: std::fmt::Debug>(e: aws_sdk_ssm::error::SdkError<E>) -> String {
    match &e {
        aws_sdk_ssm::error::SdkError::ServiceError(s) => format!("{:?}", s.err()),
        other => other.to_string(),
    }
}

#[async_trait::async_trait]
impl Resolver for AwsResolver {
    async fn resolve(&self, kind: &str, argument: &str) -> Result<String, String> {
        match kind {
            "ssm" => {
                let out = SsmClient::new(self.sdk().await)
                    .get_parameter()
                    .name(argument)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(describe)?;
                out.parameter()
                    .and_then(|p| p.value())
                    .map(str::to_owned)
                    .ok_or_else(|| "parameter has no value".to_owned())
            }
            "secretsmanager" => {
                let (id, key) = match argument.split_once('#') {
                    Some((id, key)) => (id, Some(key)),
                    None => (argument, None),
                };
                let out = SecretsClient::new(self.sdk().await)
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(describe)?;
                let text = out.secret_string().ok_or("secret has no string value")?;
                match key {
                    None => Ok(text.to_owned()),
                    Some(k) => {
                        let v: serde_json::Value =
                            serde_json::from_str(text).map_err(|_| "secret is not a JSON object".to_owned())?;
                        v.get(k)
                            .and_then(|x| x.as_str())
                            .map(str::to_owned)
                            .ok_or_else(|| format!("secret has no string key `{k}`"))
                    }
                }
            }
            _ => resolve_env(kind, argument),
        }
    }
}
