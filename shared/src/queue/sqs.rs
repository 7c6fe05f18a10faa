//! The SQS FIFO queue.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::types::MessageAttributeValue;

use super::{OutgoingMessage, Queue, QueueError};

/// Sends to one SQS FIFO queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    limit: usize,
}

impl SqsQueue {
    /// A queue at `url` taking messages up to `limit` bytes.
    pub fn new(client: Client, url: impl Into<String>, limit: usize) -> Self {
        Self {
            client,
            url: url.into(),
            limit,
        }
    }
}

#[async_trait::async_trait]
impl Queue for SqsQueue {
    async fn send(&self, msg: &OutgoingMessage) -> Result<(), QueueError> {
        msg.check_size(self.limit)?;
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(&msg.body)
            .message_group_id(&msg.group_id)
            .message_deduplication_id(&msg.dedup_id);
        for (k, v) in &msg.attributes {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| QueueError::Unavailable(e.to_string()))?;
            req = req.message_attributes(k, attr);
        }
        req.send().await.map(|_| ()).map_err(|e| {
            QueueError::Unavailable(match &e {
                SdkError::ServiceError(s) => format!("{:?}", s.err()),
                other => other.to_string(),
            })
        })
    }
}
