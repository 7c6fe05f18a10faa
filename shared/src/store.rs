//! The dedup store: one record per platform + bot + event id, claimed with the semantics of
//! AWS Lambda Powertools' idempotency. A claim succeeds when there is no record, when the
//! record has expired (checked in code; DynamoDB's TTL deletes up to 48 h late), or when it
//! is in progress past its own short in-progress expiry (its owner died). On conflict the
//! existing record comes back with the failed write, not from a second read.

#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod memory;

use thiserror::Error;

/// The state of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Claimed; the event is being enqueued.
    InProgress,
    /// Enqueued.
    Done,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "INPROGRESS",
            Self::Done => "COMPLETED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "INPROGRESS" => Some(Self::InProgress),
            "COMPLETED" => Some(Self::Done),
            _ => None,
        }
    }
}

/// A dedup record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its state.
    pub status: Status,
    /// When it was claimed, Unix ms.
    pub claimed_at_ms: i64,
    /// Until when an in-progress claim holds, Unix ms.
    pub in_progress_expiry_ms: i64,
    /// When the record expires, Unix seconds (also the DynamoDB TTL attribute).
    pub expiration_secs: i64,
    /// The claim's owner token.
    pub owner: String,
    /// The answer the claim's request got (a passive reply), replayed to the platform's
    /// retries of the same event byte for byte.
    pub answer: Option<String>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller owns the record now, under this token.
    Claimed(String),
    /// The caller owns the record now, under this token, taken over from an owner whose
    /// in-progress claim expired (it died, or outlived its deadline, midway).
    TookOver(String),
    /// Someone else holds it: here is the record as the failed write returned it.
    Held(Record),
}

/// How long an effect's claim holds while it runs: longer than the functions' timeout
/// (30 s in `template.yaml`), so a live instance is never taken over.
pub const EFFECT_IN_PROGRESS_MS: i64 = 120_000;
/// How long effects are remembered: 14 days, SQS's longest retention (a redriven event
/// from the dead-letter queue still finds them).
pub const EFFECT_RETENTION_SECS: i64 = 14 * 86_400;

/// The parameters of a claim.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    /// The record key.
    pub key: &'a str,
    /// Now, Unix ms.
    pub now_ms: i64,
    /// How long the claim holds while in progress, in ms.
    pub in_progress_ms: i64,
    /// How long the record is kept, in seconds.
    pub retention_secs: i64,
    /// The answer to keep with the record ([`Record::answer`]).
    pub answer: Option<&'a str>,
}

impl<'a> ClaimRequest<'a> {
    /// The claim of an effect (something sent once): [`EFFECT_IN_PROGRESS_MS`],
    /// [`EFFECT_RETENTION_SECS`].
    pub fn effect(key: &'a str, now_ms: i64) -> Self {
        Self {
            key,
            now_ms,
            in_progress_ms: EFFECT_IN_PROGRESS_MS,
            retention_secs: EFFECT_RETENTION_SECS,
            answer: None,
        }
    }

    /// The record a successful claim writes.
    pub fn record(&self, owner: String) -> Record {
        Record {
            status: Status::InProgress,
            claimed_at_ms: self.now_ms,
            in_progress_expiry_ms: self.now_ms.saturating_add(self.in_progress_ms),
            expiration_secs: self.now_ms.div_euclid(1000).saturating_add(self.retention_secs),
            owner,
            answer: self.answer.map(str::to_owned),
        }
    }
}

/// A dedup store failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the call.
    #[error("dedup store unavailable: {0}")]
    Unavailable(String),
    /// A stored record is not in the expected shape.
    #[error("dedup store record is corrupt: {0}")]
    Corrupt(String),
}

/// A fresh owner token.
pub fn owner_token() -> String {
    hex::encode(botgate_core::crypto::random_bytes::<12>())
}

/// The dedup store.
#[async_trait::async_trait]
pub trait DedupStore: Send + Sync {
    /// Claims `key` if it is free, expired, or in progress past its in-progress expiry.
    async fn claim(&self, req: ClaimRequest<'_>) -> Result<Claim, StoreError>;
    /// Marks the caller's claim done; a claim taken over since is left alone.
    async fn complete(&self, key: &str, owner: &str) -> Result<(), StoreError>;
    /// Deletes the caller's claim so a retry can run; a claim taken over since is left alone.
    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError>;
}

/// Whether a claim over `old` takes over a live-looking in-progress record (as opposed to a
/// record that had expired altogether).
pub fn was_in_progress(old: &Record, now_ms: i64) -> bool {
    old.status == Status::InProgress && old.expiration_secs >= now_ms.div_euclid(1000)
}

/// Whether `existing` may be taken over at `now_ms` (the claim condition, in code).
pub fn claimable(existing: &Record, now_ms: i64) -> bool {
    existing.expiration_secs < now_ms.div_euclid(1000)
        || (existing.status == Status::InProgress && existing.in_progress_expiry_ms < now_ms)
}
