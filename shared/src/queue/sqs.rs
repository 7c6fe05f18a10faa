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

/// SQS's longest visibility timeout (12 hours).
const MAX_VISIBILITY_SECS: i32 = 43_200;

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

/// A received message: the record for the dispatcher and the handle that deletes it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The record.
    pub record: crate::dispatcher::Record,
    /// The receipt handle.
    pub receipt_handle: String,
}

fn unavailable<E: std::fmt::Debug>(e: SdkError<E>) -> QueueError {
    QueueError::Unavailable(match &e {
        SdkError::ServiceError(s) => format!("{:?}", s.err()),
        other => other.to_string(),
    })
}

impl SqsQueue {
    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Receives up to `max` (1-10) messages, waiting up to `wait_secs` for the first (what
    /// Lambda's event source mapping does for the function; used by `botgate serve` with
    /// `queue: sqs`, `botgate dlq` and the tests).
    pub async fn receive(&self, max: i32, wait_secs: i32) -> Result<Vec<Received>, QueueError> {
        use aws_sdk_sqs::types::MessageSystemAttributeName as Attr;
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(Attr::MessageGroupId)
            .message_system_attribute_names(Attr::ApproximateReceiveCount)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                let attrs = m.attributes();
                Some(Received {
                    record: crate::dispatcher::Record {
                        message_id: m.message_id()?.to_owned(),
                        body: m.body().unwrap_or_default().to_owned(),
                        group_id: attrs.and_then(|a| a.get(&Attr::MessageGroupId)).cloned(),
                        receive_count: attrs
                            .and_then(|a| a.get(&Attr::ApproximateReceiveCount))
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(1),
                    },
                    receipt_handle: m.receipt_handle()?.to_owned(),
                })
            })
            .collect())
    }

    /// Deletes a received message.
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Makes a received message visible again at once (after only looking at it).
    pub async fn release(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.hold(receipt_handle, 0).await
    }

    /// Keeps a received message out of sight for `secs` more seconds (0 releases it; SQS
    /// takes at most 12 hours).
    pub async fn hold(&self, receipt_handle: &str, secs: i32) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs.clamp(0, MAX_VISIBILITY_SECS))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Holds back the failed records that know when to try again (a target at its rate
    /// limit) until then, instead of the queue's visibility timeout. `handles` maps message
    /// ids to receipt handles. A hold that fails is logged: the record then comes back at
    /// the visibility timeout, as without it.
    pub async fn hold_failures(&self, failed: &[crate::dispatcher::Failure], handles: &[(&str, &str)], now_ms: i64) {
        for f in failed {
            let Some(at) = f.retry_at_ms else { continue };
            let Some((_, handle)) = handles.iter().find(|(id, _)| *id == f.message_id) else {
                continue;
            };
            let secs = i32::try_from((at - now_ms).div_euclid(1000) + 1).unwrap_or(MAX_VISIBILITY_SECS);
            match self.hold(handle, secs).await {
                Ok(()) => {
                    tracing::info!(message_id = %f.message_id, hold_secs = secs, "record held back until its retry time (a target's rate limit, or an open circuit breaker)")
                }
                Err(e) => {
                    tracing::warn!(message_id = %f.message_id, error = %e, "could not hold the record back; it returns at the visibility timeout")
                }
            }
        }
    }

    /// Moves the records that can never succeed (`permanent` failures) to this queue, the
    /// dead-letter queue, at once, keeping their group. Returns the message ids moved: the
    /// consumer reports them done, so they leave the events queue. A move that fails is
    /// logged and the record stays failed (it reaches the DLQ by the redrive policy).
    pub async fn take_dead_letters(
        &self,
        failed: &[crate::dispatcher::Failure],
        records: &[crate::dispatcher::Record],
    ) -> Vec<String> {
        let mut moved = Vec::new();
        for f in failed.iter().filter(|f| f.permanent) {
            let Some(r) = records.iter().find(|r| r.message_id == f.message_id) else {
                continue;
            };
            let group = r.group_id.clone().unwrap_or_else(|| r.message_id.clone());
            let dedup = super::fifo_id(&format!("dead#{}", r.message_id));
            match self.send_raw(&r.body, &group, &dedup).await {
                Ok(()) => {
                    tracing::warn!(message_id = %r.message_id, outcome = "dead_letter",
                        "a record that can never succeed went to the dead-letter queue at once");
                    moved.push(r.message_id.clone());
                }
                Err(e) => tracing::warn!(message_id = %r.message_id, error = %e,
                    "could not move the record to the dead-letter queue; it stays on the queue"),
            }
        }
        moved
    }

    /// Sends a raw body to this FIFO queue (re-driving a dead letter).
    pub async fn send_raw(&self, body: &str, group_id: &str, dedup_id: &str) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_group_id(group_id)
            .message_deduplication_id(dedup_id)
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Receives one batch, runs it through `dispatcher` as Lambda would, and deletes the
    /// records that did not fail. Returns (received, failed).
    pub async fn poll_once(
        &self,
        dispatcher: &crate::dispatcher::Dispatcher,
        dead_letters: Option<&SqsQueue>,
        wait_secs: i32,
        deadline_ms: i64,
    ) -> Result<(usize, usize), QueueError> {
        let batch = self.receive(10, wait_secs).await?;
        if batch.is_empty() {
            return Ok((0, 0));
        }
        let records: Vec<_> = batch.iter().map(|r| r.record.clone()).collect();
        let request_id = botgate_core::crypto::random_nonce(16);
        let mut failed = dispatcher
            .process_batch_detailed(&request_id, records.clone(), deadline_ms)
            .await;
        if let Some(dlq) = dead_letters {
            let moved = dlq.take_dead_letters(&failed, &records).await;
            failed.retain(|f| !moved.contains(&f.message_id));
        }
        for r in &batch {
            if !failed.iter().any(|f| f.message_id == r.record.message_id) {
                self.delete(&r.receipt_handle).await?;
            }
        }
        let handles: Vec<(&str, &str)> = batch
            .iter()
            .map(|r| (r.record.message_id.as_str(), r.receipt_handle.as_str()))
            .collect();
        self.hold_failures(&failed, &handles, dispatcher.clock.now_ms()).await;
        Ok((batch.len(), failed.len()))
    }
}

impl SqsQueue {
    /// Moves up to `max` messages from this queue (a dead-letter queue) back to `to`,
    /// keeping each message's group (so a conversation stays in order) under a fresh
    /// deduplication id. Returns how many moved.
    pub async fn redrive_to(&self, to: &SqsQueue, max: usize) -> Result<usize, QueueError> {
        let mut moved = 0;
        while moved < max {
            let batch = self.receive(10, 0).await?;
            if batch.is_empty() {
                break;
            }
            for m in batch.into_iter().take(max - moved) {
                let group = m.record.group_id.clone().unwrap_or_else(|| m.record.message_id.clone());
                let dedup = super::fifo_id(&format!("redrive#{}", m.record.message_id));
                to.send_raw(&m.record.body, &group, &dedup).await?;
                self.delete(&m.receipt_handle).await?;
                moved += 1;
            }
        }
        Ok(moved)
    }
}
