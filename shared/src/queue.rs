//! The event queue. Messages carry a deduplication id (the event's dedup key, hashed) and a
//! group id (the conversation, hashed): on an SQS FIFO queue, re-sending the same event
//! within SQS's 5-minute deduplication interval never delivers it twice, and one
//! conversation's events reach the consumer in order while other conversations proceed.

pub mod memory;
#[cfg(feature = "aws")]
pub mod sqs;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use botgate_core::event::Event;

/// SQS FIFO's deduplication interval.
pub const DEDUP_INTERVAL_MS: i64 = 5 * 60 * 1000;

/// One message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The JSON body (an [`Envelope`]).
    pub body: String,
    /// FIFO message group: one per conversation.
    pub group_id: String,
    /// FIFO deduplication id: one per event.
    pub dedup_id: String,
    /// Message attributes (`platform`, `bot`, `event_type`).
    pub attributes: Vec<(String, String)>,
}

/// What goes on the queue: the normalized event and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version.
    pub v: u32,
    /// The bot id.
    pub bot: String,
    /// When the gateway accepted it, Unix ms.
    pub received_at_ms: i64,
    /// The event.
    pub event: Event,
    /// The trace id the gateway gave it (API Gateway's request id, or X-Ray's root), which
    /// every log line of the dispatcher for it carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The reply the callback already gave as its answer (a passive reply): the dispatcher
    /// does not send it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<Answered>,
}

/// Which action of which rule the callback answered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answered {
    /// The rule.
    pub source: String,
    /// The action's index in the rule's actions.
    pub index: usize,
}

/// A queue failure.
#[derive(Debug, Error)]
pub enum QueueError {
    /// The message is larger than the queue accepts.
    #[error("message is {size} bytes, the queue takes at most {limit}")]
    TooLarge {
        /// Size in bytes.
        size: usize,
        /// Limit in bytes.
        limit: usize,
    },
    /// The queue could not be reached or refused the message.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

/// The trace id a queued body carries (an envelope's or a notification job's), if any.
pub fn trace_of(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Traced {
        trace_id: Option<String>,
        notify: Option<Job>,
    }
    #[derive(serde::Deserialize)]
    struct Job {
        trace_id: Option<String>,
    }
    let t = serde_json::from_str::<Traced>(body).ok()?;
    t.trace_id.or_else(|| t.notify?.trace_id)
}

/// An SQS-safe id (at most 128 characters of `[0-9a-f]`) derived from `text`.
pub fn fifo_id(text: &str) -> String {
    hex::encode(botgate_core::crypto::sha256(&[text.as_bytes()]))
}

impl OutgoingMessage {
    /// Builds the message for an event accepted for `bot`.
    pub fn for_event(bot: &str, dedup_key: &str, event: &Event, received_at_ms: i64) -> Result<Self, QueueError> {
        Self::for_traced_event(bot, dedup_key, event, received_at_ms, None)
    }

    /// [`OutgoingMessage::for_traced_event`] for an event the callback answered with a
    /// rule's reply (`answered`).
    pub fn for_answered_event(
        bot: &str,
        dedup_key: &str,
        event: &Event,
        received_at_ms: i64,
        trace_id: Option<&str>,
        answered: Option<&Answered>,
    ) -> Result<Self, QueueError> {
        #[derive(Serialize)]
        struct EnvelopeRef<'a> {
            v: u32,
            bot: &'a str,
            received_at_ms: i64,
            event: &'a Event,
            #[serde(skip_serializing_if = "Option::is_none")]
            trace_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            answered: Option<&'a Answered>,
        }
        let envelope = EnvelopeRef {
            v: 1,
            bot,
            received_at_ms,
            event,
            trace_id,
            answered,
        };
        let body = serde_json::to_string(&envelope).map_err(|e| QueueError::Unavailable(e.to_string()))?;
        Ok(Self {
            body,
            group_id: fifo_id(&format!("{}#{bot}#{}", event.platform, event.conversation())),
            dedup_id: fifo_id(dedup_key),
            attributes: vec![
                ("platform".into(), event.platform.as_str().into()),
                ("bot".into(), bot.into()),
                ("event_type".into(), event.event_type.clone()),
            ],
        })
    }

    /// [`OutgoingMessage::for_event`] carrying the request's trace id.
    pub fn for_traced_event(
        bot: &str,
        dedup_key: &str,
        event: &Event,
        received_at_ms: i64,
        trace_id: Option<&str>,
    ) -> Result<Self, QueueError> {
        Self::for_answered_event(bot, dedup_key, event, received_at_ms, trace_id, None)
    }

    /// Refuses messages over `limit` bytes.
    pub fn check_size(&self, limit: usize) -> Result<(), QueueError> {
        if self.body.len() > limit {
            return Err(QueueError::TooLarge {
                size: self.body.len(),
                limit,
            });
        }
        Ok(())
    }
}

/// The queue.
#[async_trait::async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues one message. Sending the same `dedup_id` again within
    /// [`DEDUP_INTERVAL_MS`] succeeds without delivering a second copy.
    async fn send(&self, msg: &OutgoingMessage) -> Result<(), QueueError>;
}
