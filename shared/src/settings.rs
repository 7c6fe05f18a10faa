//! The validated configuration the flows run on: bots with their verifiers, compiled rules,
//! targets, the notify API's settings, scheduled notifications, delivery and storage
//! settings. Built from a configuration file by [`crate::deps`] (the composition root);
//! nothing here reads files or checks values.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bot::Bot;
use crate::config::{QueueKind, StoreKind};
use crate::delivery::DeliverySettings;
use crate::notify::api::ApiSettings;
use crate::notify::scheduled::Notification;
use crate::notify::target::TargetSpec;
use crate::rules::Rules;

/// Default time a delivered event id is remembered: 24 h, beyond Feishu's ~7 h of retries.
pub const DEFAULT_DEDUP_RETENTION_SECS: u64 = 24 * 3600;
/// Default limit for one queue message: SQS's classic 256 KiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Default lifetime of conversation state: one hour after its last change.
pub const DEFAULT_STATE_TTL_SECS: u64 = 3600;

/// Storage and queue settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backends {
    /// The dedup store.
    pub store: StoreKind,
    /// The queue.
    pub queue: QueueKind,
    /// The DynamoDB table name (store `dynamodb`).
    pub table: Option<String>,
    /// The SQS FIFO queue URL (queue `sqs`).
    pub queue_url: Option<String>,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bots by id.
    pub bots: BTreeMap<String, Bot>,
    /// Backends.
    pub backends: Backends,
    /// How long an event id is remembered, in seconds.
    pub dedup_retention_secs: u64,
    /// The largest queue message, in bytes.
    pub max_message_bytes: usize,
    /// Conversation state lifetime after its last change, in seconds.
    pub state_ttl_secs: u64,
    /// The dispatcher's rules.
    pub rules: Arc<Rules>,
    /// Outbound settings.
    pub delivery: DeliverySettings,
    /// Notification targets by name.
    pub targets: BTreeMap<String, TargetSpec>,
    /// The notify API's settings (`None`: the API is off).
    pub notify_api: Option<ApiSettings>,
    /// Scheduled notifications by name.
    pub notifications: BTreeMap<String, Notification>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bots: BTreeMap::new(),
            backends: Backends::default(),
            dedup_retention_secs: DEFAULT_DEDUP_RETENTION_SECS,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            state_ttl_secs: DEFAULT_STATE_TTL_SECS,
            rules: Arc::new(Rules::default()),
            delivery: DeliverySettings::default(),
            targets: BTreeMap::new(),
            notify_api: None,
            notifications: BTreeMap::new(),
        }
    }
}
