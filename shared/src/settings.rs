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
/// How far back the scheduler's minute tick catches up runs it missed (an outage, a
/// throttled or failed tick), in seconds.
pub const DEFAULT_SCHEDULE_LOOKBACK_SECS: u64 = 900;
/// How often a warm instance checks its configuration object for a change, in seconds.
pub const DEFAULT_CONFIG_REFRESH_SECS: u64 = 60;

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
    /// The events' dead-letter queue URL, when records that can never succeed go there at once.
    pub dead_letter_queue_url: Option<String>,
}

/// The limits of `botgate serve`'s HTTP listener (`serve:`); the Lambda functions sit
/// behind API Gateway, which has its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    /// A request's headers must arrive within this, seconds (half-open and slow clients).
    pub header_read_timeout_secs: u64,
    /// A whole request, body and answer, must be done within this, seconds.
    pub request_timeout_secs: u64,
    /// An idle keep-alive connection is closed after this, seconds.
    pub idle_timeout_secs: u64,
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// On shutdown, how long requests in flight may take to finish, seconds.
    pub shutdown_grace_secs: u64,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_connections: 1024,
            shutdown_grace_secs: 10,
        }
    }
}

/// The long connections' timings (`connector:`), in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorSettings {
    /// How often a WebSocket ping probes each connection.
    pub ping_interval_ms: u64,
    /// Silence (pings unanswered) after which a connection is replaced.
    pub silence_timeout_ms: u64,
    /// The longest pause between reconnect attempts.
    pub reconnect_max_ms: u64,
    /// On shutdown, how long events being queued may take to finish.
    pub shutdown_grace_ms: u64,
    /// Events of one connection claimed and queued at once (one lane per chat).
    pub ingest_lanes: u64,
}

impl Default for ConnectorSettings {
    fn default() -> Self {
        Self {
            ping_interval_ms: 10_000,
            silence_timeout_ms: 20_000,
            reconnect_max_ms: 60_000,
            shutdown_grace_ms: 10_000,
            ingest_lanes: 8,
        }
    }
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
    /// How far back the scheduler's tick catches up missed runs, in seconds.
    pub schedule_lookback_secs: u64,
    /// How often the configuration's source is checked for a change, in seconds.
    pub config_refresh_secs: u64,
    /// The dispatcher's rules.
    pub rules: Arc<Rules>,
    /// Outbound settings.
    pub delivery: DeliverySettings,
    /// Notification targets by name.
    pub targets: BTreeMap<String, TargetSpec>,
    /// The notify API's settings (`None`: the API is off).
    pub notify_api: Option<ApiSettings>,
    /// Alert routers and the people they mention.
    pub alerts: crate::notify::route::AlertRouting,
    /// Scheduled notifications by name.
    pub notifications: BTreeMap<String, Notification>,
    /// `botgate serve`'s listener limits.
    pub serve: ServeSettings,
    /// The long connections' timings.
    pub connector: ConnectorSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bots: BTreeMap::new(),
            backends: Backends::default(),
            dedup_retention_secs: DEFAULT_DEDUP_RETENTION_SECS,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            state_ttl_secs: DEFAULT_STATE_TTL_SECS,
            schedule_lookback_secs: DEFAULT_SCHEDULE_LOOKBACK_SECS,
            config_refresh_secs: DEFAULT_CONFIG_REFRESH_SECS,
            rules: Arc::new(Rules::default()),
            delivery: DeliverySettings::default(),
            targets: BTreeMap::new(),
            notify_api: None,
            alerts: crate::notify::route::AlertRouting::default(),
            notifications: BTreeMap::new(),
            serve: ServeSettings::default(),
            connector: ConnectorSettings::default(),
        }
    }
}
