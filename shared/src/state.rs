//! A small keyed store for JSON documents with an expiry: conversation state (multi-step
//! commands), and the reason an event failed (read back when it sits in the dead-letter
//! queue). In memory locally, in the DynamoDB table (same `pk` key, TTL `expiration`) on AWS.

#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod memory;

use serde_json::Value;

use crate::store::StoreError;

/// A stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The JSON value.
    pub data: Value,
    /// When it expires, Unix seconds (checked in code: DynamoDB's TTL deletes late).
    pub expires_at_secs: i64,
}

/// JSON documents by key.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// The document under `key`, unless missing or expired at `now_secs`.
    async fn get(&self, key: &str, now_secs: i64) -> Result<Option<Value>, StoreError>;
    /// Writes `data` under `key` until `expires_at_secs`.
    async fn put(&self, key: &str, data: &Value, expires_at_secs: i64) -> Result<(), StoreError>;
    /// Deletes `key` (missing is fine).
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// The key of one user's conversation state with a bot in a chat.
pub fn conversation_key(bot: &str, chat: &str, sender: &str) -> String {
    format!("state#{bot}#{chat}#{sender}")
}

/// The key of the failure record of an event (`botgate dlq` reads it).
pub fn failure_key(bot: &str, event_id: &str) -> String {
    format!("failure#{bot}#{event_id}")
}
