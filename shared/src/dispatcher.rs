//! The dispatcher flow, shared by the Lambda function, `botgate serve` and the tests:
//! decode each queued record on its own, plan with handlers or rules, run each action once,
//! keep conversation state, and say which records failed.
//!
//! Order and concurrency: records of one FIFO message group (one conversation) run one
//! after another; groups run concurrently. When a record fails, the records after it in
//! its group are reported failed without being processed, so SQS redelivers them in
//! order (what AWS asks of FIFO consumers that report partial failures).
//!
//! Effects: every action is claimed in the effect store under
//! `effect#<bot>#<event id>#<rule>#<index>` before it runs and marked done after, so a
//! redelivered event skips what was already sent. If an instance died midway, the next
//! attempt takes the claim over once its in-progress time lapsed; it then re-sends only
//! where the receiver drops repeats (Feishu `uuid`, WeCom duplicate check, forwards with
//! `X-Botgate-Delivery`) and otherwise skips with a warning: a possible miss, never a
//! second copy.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use thiserror::Error;
use tracing::Instrument;

use crate::bot::{Bot, ReplyVia};
use crate::clock::Clock;
use crate::delivery::{Delivery, Idempotency, SendError, Target, forward, platform_deduplicates};
use crate::handler::{HandlerContext, HandlerError, Outcome, Registry};
use crate::metrics::{ActionMetrics, BatchMetrics, MetricsSink, NotifyMetrics};
use crate::notify::Waits;
use crate::notify::api::NotifyJob;
use crate::queue::{Envelope, fifo_id};
use crate::rules::{Action, Plan, StateChange};
use crate::settings::Settings;
use crate::state::{StateStore, conversation_key, failure_key};
use crate::store::{Claim, ClaimRequest, DedupStore, Status, StoreError};
use botgate_core::event::{Event, EventKind};
use botgate_core::message::Message;

/// A record is started only with at least this much of the invocation left (each send
/// also checks that its request can finish before the deadline).
pub const MIN_RECORD_MS: i64 = 200;

pub use crate::store::{EFFECT_IN_PROGRESS_MS, EFFECT_RETENTION_SECS};
/// How long a failure reason is kept for `botgate dlq`: as long as the DLQ keeps messages.
pub const FAILURE_RETENTION_SECS: i64 = 14 * 86_400;

/// One queued record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The SQS message id (reported back when the record fails).
    pub message_id: String,
    /// The body: an [`Envelope`].
    pub body: String,
    /// The FIFO message group (`MessageGroupId`), if known.
    pub group_id: Option<String>,
    /// `ApproximateReceiveCount` (1 on first delivery).
    pub receive_count: u32,
}

/// Why a record failed (it is reported to SQS, which redelivers it, and after
/// `maxReceiveCount` moves it to the dead-letter queue).
#[derive(Debug, Error)]
pub enum RecordError {
    /// Not an envelope.
    #[error("malformed record: {0}")]
    Malformed(String),
    /// The envelope names a bot this configuration does not have.
    #[error("unknown bot `{0}` (was it removed from the configuration?)")]
    UnknownBot(String),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue refused a digest.
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    /// A send failed in a way worth retrying later.
    #[error("{action} failed: {error}")]
    Send {
        /// The action.
        action: &'static str,
        /// The last error.
        error: SendError,
        /// When trying again is worth it (Unix ms), when known: a target's rate limit.
        retry_at_ms: Option<i64>,
    },
    /// Another instance is running the same action right now.
    #[error("action {0} is in progress in another instance")]
    InProgressElsewhere(String),
    /// A handler asked for a retry.
    #[error("handler {0}")]
    Handler(String),
    /// An earlier record of the same conversation failed in this batch.
    #[error("an earlier record of the same conversation failed")]
    Blocked,
    /// Too little of the invocation was left to start the record.
    #[error("the invocation's deadline is near")]
    DeadlineNear,
}

impl RecordError {
    /// When trying the record again is worth it (Unix ms), when known.
    pub fn retry_at_ms(&self) -> Option<i64> {
        match self {
            Self::Send { retry_at_ms, .. } => *retry_at_ms,
            _ => None,
        }
    }

    /// A stable snake_case reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownBot(_) => "unknown_bot",
            Self::Store(_) => "store_unavailable",
            Self::Queue(_) => "queue_unavailable",
            Self::Send { .. } => "send_failed",
            Self::InProgressElsewhere(_) => "in_progress_elsewhere",
            Self::Handler(_) => "handler_retry",
            Self::Blocked => "blocked",
            Self::DeadlineNear => "deadline_near",
        }
    }

    /// True when the record can never succeed (it is not a botgate envelope, or names a
    /// bot the configuration no longer has): retrying it only delays its conversation.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Malformed(_) | Self::UnknownBot(_))
    }
}

/// A record that failed (SQS redelivers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Its message id.
    pub message_id: String,
    /// When trying it again is worth it (Unix ms), when known.
    pub retry_at_ms: Option<i64>,
    /// It will never succeed (not a botgate envelope, or its bot is gone): it belongs in
    /// the dead-letter queue now, not after every redelivery.
    pub permanent: bool,
}

/// The `trace` span of a record's log lines: the trace id the gateway gave it, or its
/// message id when it has none.
fn trace_span(trace_id: Option<&str>, rec: &Record) -> tracing::Span {
    let trace_id = trace_id.unwrap_or(&rec.message_id);
    tracing::info_span!("trace", trace_id = %trace_id)
}

/// [`trace_span`] of a record whose body is not otherwise parsed (it is read for the
/// trace id alone: only records left for redelivery unread take this path).
fn unread_span(rec: &Record, job: Option<&NotifyJob>) -> tracing::Span {
    match job {
        Some(j) => trace_span(j.trace_id.as_deref(), rec),
        None => trace_span(crate::queue::trace_of(&rec.body).as_deref(), rec),
    }
}

/// The dispatcher's dependencies, built once per process.
#[derive(Clone)]
pub struct Dispatcher {
    /// Bots, rules and settings.
    pub config: Arc<Settings>,
    /// Custom handlers.
    pub handlers: Registry,
    /// The effect store (the dedup store's table, other keys).
    pub effects: Arc<dyn DedupStore>,
    /// Conversation state and failure reasons.
    pub state: Arc<dyn StateStore>,
    /// Sending.
    pub delivery: Arc<Delivery>,
    /// Sending to named notification targets (over the same delivery).
    pub notifier: Arc<crate::notify::Notifier>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Metrics.
    pub metrics: Arc<dyn MetricsSink>,
    /// The events queue, where digests of the notifications waiting behind a target's rate
    /// limit are put ([`crate::notify::digest`]); without one, each waits its turn.
    pub queue: Option<Arc<dyn crate::queue::Queue>>,
}

/// How a record ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Every action done (or already done before).
    Done,
    /// No rule or handler matched.
    NoRule,
    /// A handler or a template failed permanently: logged, not retried.
    Dropped,
}

impl RecordOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::NoRule => "no_rule",
            Self::Dropped => "dropped",
        }
    }
}

/// When an action was (or could only have been) given in the callback's response instead:
/// the outcome to log, and why when it is not sent at all. A card action's `answer` is
/// never sent by the dispatcher; a reply of a WeChat/WeCom bot with `reply_via` passive or
/// auto is not sent when it was the passive reply (`answered`), and with passive not at
/// all (one reply per message, in the response).
fn answered_elsewhere(
    bot: &Bot,
    event: &Event,
    answered: Option<&crate::queue::Answered>,
    source: &str,
    index: usize,
    action: &Action,
) -> Option<(&'static str, Option<&'static str>)> {
    let marked = answered.is_some_and(|a| a.source == source && a.index == index);
    match action {
        Action::Answer(_) if marked => Some(("answered", None)),
        Action::Answer(_) => Some((
            "skipped",
            Some(
                "an answer goes only in the callback's response, and this event's callback did not give one (not a card action, or not a platform that answers this way)",
            ),
        )),
        Action::Reply(_) if event.kind == EventKind::CardAction || bot.reply_via == ReplyVia::Api => None,
        Action::Reply(_) if marked => Some(("answered", None)),
        Action::Reply(Message::Image { key: None, .. } | Message::File { key: None, .. })
            if bot.reply_via == ReplyVia::Passive =>
        {
            Some((
                "skipped",
                Some(
                    "reply_via: passive cannot send an image or file by url or path (it must be uploaded first): use reply_via: auto, or the media's key",
                ),
            ))
        }
        Action::Reply(_) if bot.reply_via == ReplyVia::Passive => Some((
            "skipped",
            Some(
                "reply_via: passive answers once per message, in the callback's response (reply_via: auto sends further replies through the API)",
            ),
        )),
        _ => None,
    }
}

/// How long after the event arrived a Feishu card it answered may be updated: Feishu
/// applies the callback's answer first, and an update made before that is undone by it.
pub const UPDATE_AFTER_ANSWER_MS: i64 = 1_000;

/// The stored conversation state: the current value, and the value before `event` changed
/// it (a redelivery of `event` plans again from `prev`, so it matches the same rule).
pub(crate) fn state_for(doc: Option<Value>, event_id: &str) -> Value {
    match doc {
        Some(d) if d["event"] == event_id => d["prev"].clone(),
        Some(d) => d["data"].clone(),
        None => Value::Null,
    }
}

/// The notify job a queued body carries, if it is one (`{"v", "notify": {...}}`).
fn notify_job(body: &str) -> Option<NotifyJob> {
    #[derive(serde::Deserialize)]
    struct Queued {
        notify: NotifyJob,
    }
    if !body.contains("\"notify\"") {
        return None;
    }
    serde_json::from_str::<Queued>(body).ok().map(|q| q.notify)
}

struct Ctx<'a> {
    request_id: &'a str,
    trace_id: Option<&'a str>,
    message_id: &'a str,
    bot: &'a Bot,
    event: &'a Event,
    deadline_ms: i64,
    /// When the callback received the event (Unix ms).
    received_at_ms: i64,
    /// The callback answered the event in its response.
    answered: bool,
}

impl Dispatcher {
    /// Processes a batch; returns the message ids of the records that failed.
    pub async fn process_batch(&self, request_id: &str, records: Vec<Record>, deadline_ms: i64) -> Vec<String> {
        self.process_batch_detailed(request_id, records, deadline_ms)
            .await
            .into_iter()
            .map(|f| f.message_id)
            .collect()
    }

    /// Processes a batch; returns the records that failed, each with the time it is worth
    /// trying again when that is known (a target at its rate limit), so the consumer can
    /// hold it back until then (SQS: ChangeMessageVisibility) instead of the queue's
    /// visibility timeout. The records held back behind it in its group get the same time.
    pub async fn process_batch_detailed(
        &self,
        request_id: &str,
        records: Vec<Record>,
        deadline_ms: i64,
    ) -> Vec<Failure> {
        let started = Instant::now();
        let refreshes_before = self.delivery.tokens().refreshes();
        let count = records.len();
        let mut groups: Vec<(String, Vec<Record>)> = Vec::new();
        for r in records {
            let g = r.group_id.clone().unwrap_or_else(|| r.message_id.clone());
            match groups.iter_mut().find(|(k, _)| *k == g) {
                Some((_, list)) => list.push(r),
                None => groups.push((g, vec![r])),
            }
        }
        let results = futures::future::join_all(
            groups
                .into_iter()
                .map(|(_, list)| self.process_group(request_id, list, deadline_ms)),
        )
        .await;
        let failed: Vec<Failure> = results.into_iter().flatten().collect();
        self.metrics.emit(&BatchMetrics {
            records: count,
            failed: failed.len(),
            token_refreshes: self.delivery.tokens().refreshes() - refreshes_before,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            timestamp_ms: self.clock.now_ms(),
        });
        tracing::info!(
            request_id,
            records = count,
            failed = failed.len(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "batch"
        );
        failed
    }

    async fn process_group(&self, request_id: &str, records: Vec<Record>, deadline_ms: i64) -> Vec<Failure> {
        let jobs: Vec<Option<NotifyJob>> = records.iter().map(|r| notify_job(&r.body)).collect();
        let mut failed: Vec<Failure> = Vec::new();
        let mut folded_until = 0;
        for (i, rec) in records.iter().enumerate() {
            if i < folded_until {
                continue;
            }
            // A record that can never succeed leaves the queue and blocks nothing.
            if let Some(first) = failed.iter().find(|f| !f.permanent) {
                unread_span(rec, jobs[i].as_ref()).in_scope(|| tracing::warn!(request_id, message_id = %rec.message_id, outcome = "failed", reason = RecordError::Blocked.reason(),
                    "record left for redelivery: an earlier record of its conversation failed"));
                let retry_at_ms = first.retry_at_ms;
                failed.push(Failure {
                    message_id: rec.message_id.clone(),
                    retry_at_ms,
                    permanent: false,
                });
                continue;
            }
            if self.clock.now_ms().saturating_add(MIN_RECORD_MS) > deadline_ms {
                unread_span(rec, jobs[i].as_ref()).in_scope(|| tracing::warn!(request_id, message_id = %rec.message_id, outcome = "failed", reason = RecordError::DeadlineNear.reason(),
                    "record left for redelivery: too little time left in this invocation to start it"));
                failed.push(Failure {
                    message_id: rec.message_id.clone(),
                    retry_at_ms: None,
                    permanent: false,
                });
                continue;
            }
            let result = match &jobs[i] {
                Some(job) => {
                    // The notifications queued right behind this one for the same target.
                    let backlog: Vec<&NotifyJob> = jobs[i..]
                        .iter()
                        .map_while(|j| j.as_ref().filter(|j| j.target == job.target))
                        .collect();
                    let (taken, result) = self
                        .process_notify(request_id, &records[i..i + backlog.len()], &backlog, deadline_ms)
                        .instrument(trace_span(job.trace_id.as_deref(), rec))
                        .await;
                    folded_until = i + taken;
                    result
                }
                None => self.process_record(request_id, rec, deadline_ms).await,
            };
            if let Err(e) = result {
                failed.push(Failure {
                    message_id: rec.message_id.clone(),
                    retry_at_ms: e.retry_at_ms(),
                    permanent: e.is_permanent(),
                });
            }
        }
        failed
    }

    /// The notification at the head of `records`, `jobs` being theirs (the notifications
    /// queued right behind it for the same target, itself first): sent, or, when it already
    /// waited its turn or the target's rate limit would hold it longer than the target's
    /// `digest_after_secs`, folded with them all into one digest ([`crate::notify::digest`]).
    /// Returns how many records it took and how the first ended.
    async fn process_notify(
        &self,
        request_id: &str,
        records: &[Record],
        jobs: &[&NotifyJob],
        deadline_ms: i64,
    ) -> (usize, Result<RecordOutcome, RecordError>) {
        let (Some(rec), Some(job)) = (records.first(), jobs.first()) else {
            return (0, Ok(RecordOutcome::Done));
        };
        let Some(after) = self
            .notifier
            .digest_after_ms(&job.target)
            .filter(|_| jobs.len() > 1 && self.queue.is_some())
        else {
            return (1, self.run_notify(request_id, rec, job, deadline_ms, deadline_ms).await);
        };
        let wait_until = self.clock.now_ms().saturating_add(after);
        // A notification that already waited its turn (held for the limit, or a digest) is
        // folded with those queued behind it when its turn comes, not sent ahead of them.
        let waited = rec.receive_count > 1 || job.digest.is_some();
        let held_until = if waited {
            None
        } else {
            match self.run_notify(request_id, rec, job, deadline_ms, wait_until).await {
                Err(RecordError::Send {
                    retry_at_ms: Some(at), ..
                }) if at > wait_until => Some(at),
                other => return (1, other),
            }
        };
        let Err(e) = self.fold_digest(request_id, records, jobs).await else {
            return (records.len(), Ok(RecordOutcome::Done));
        };
        tracing::warn!(request_id, message_id = %rec.message_id, target = %job.target, error = %e,
            "could not fold the waiting notifications into a digest: each goes on its own");
        match held_until {
            None => (1, self.run_notify(request_id, rec, job, deadline_ms, wait_until).await),
            Some(at) => (
                1,
                Err(RecordError::Send {
                    action: "notify",
                    error: SendError::retryable(e.to_string()),
                    retry_at_ms: Some(at),
                }),
            ),
        }
    }

    /// Folds `jobs` (the notifications of `records`, all for one target, oldest first) into
    /// one digest job and queues it in their place ([`crate::notify::digest`]). Each job's
    /// effect is claimed first and marked done only once the digest is queued, so a job is
    /// either in a queued digest or still waits itself; a redelivered batch folds into the
    /// same digest id, which the queue deduplicates.
    async fn fold_digest(&self, request_id: &str, records: &[Record], jobs: &[&NotifyJob]) -> Result<(), RecordError> {
        let started = Instant::now();
        let (Some(queue), Some(first)) = (&self.queue, jobs.first()) else {
            return Err(RecordError::Send {
                action: "digest",
                error: SendError::Permanent("no queue to put a digest on".into()),
                retry_at_ms: None,
            });
        };
        let target = first.target.as_str();
        let mut owners: Vec<(String, String)> = Vec::new();
        let mut live: Vec<&NotifyJob> = Vec::new();
        let mut blocked: Option<RecordError> = None;
        for &job in jobs {
            let key = job.effect_key();
            match self.claim_effect(&key).await {
                Ok(Claim::Claimed(o) | Claim::TookOver(o)) => {
                    owners.push((key, o));
                    live.push(job);
                }
                // Sent (or folded) by an earlier attempt: nothing to fold.
                Ok(Claim::Held(r)) if r.status == Status::Done => {}
                Ok(Claim::Held(_)) => {
                    blocked = Some(RecordError::InProgressElsewhere(key));
                    break;
                }
                Err(e) => {
                    blocked = Some(e.into());
                    break;
                }
            }
        }
        let queued = match blocked {
            Some(e) => Err(e),
            None => self.queue_digest(queue.as_ref(), target, &live).await,
        };
        let digest = match queued {
            Ok(d) => d,
            Err(e) => {
                for (key, owner) in &owners {
                    if let Err(release) = self.effects.release(key, owner).await {
                        tracing::warn!(request_id, key, error = %release, "could not release a folded notification's claim");
                    }
                }
                return Err(e);
            }
        };
        for (key, owner) in &owners {
            self.effects.complete(key, owner).await?;
        }
        let total = digest.digest.as_ref().map_or(0, |d| d.total());
        for (rec, job) in records.iter().zip(jobs) {
            tracing::info!(request_id, message_id = %rec.message_id, target, id = %job.id, source = %job.source,
                digest = %digest.id, folded = total, outcome = "folded", "notification");
        }
        self.emit_notify("dispatcher", target, "folded", 0, &Waits::default(), started);
        Ok(())
    }

    /// Folds `jobs` into one digest job for `target` and puts it on `queue`.
    async fn queue_digest(
        &self,
        queue: &dyn crate::queue::Queue,
        target: &str,
        jobs: &[&NotifyJob],
    ) -> Result<NotifyJob, RecordError> {
        let limit = self.notifier.limit(target).map_err(|error| RecordError::Send {
            action: "digest",
            error,
            retry_at_ms: None,
        })?;
        let digest = NotifyJob::digest_of(target, jobs, limit);
        let msg = digest.outgoing(self.clock.now_ms())?;
        msg.check_size(self.config.max_message_bytes)?;
        queue.send(&msg).await?;
        Ok(digest)
    }

    /// Processes one record, logging its outcome (and, on failure, storing the reason),
    /// every line inside a `trace` span with the trace id the gateway gave the event (the
    /// message id when it has none).
    pub async fn process_record(
        &self,
        request_id: &str,
        rec: &Record,
        deadline_ms: i64,
    ) -> Result<RecordOutcome, RecordError> {
        let started = Instant::now();
        if let Some(job) = notify_job(&rec.body) {
            return self
                .run_notify(request_id, rec, &job, deadline_ms, deadline_ms)
                .instrument(trace_span(job.trace_id.as_deref(), rec))
                .await;
        }
        let envelope: Result<Envelope, RecordError> =
            serde_json::from_str(&rec.body).map_err(|e| RecordError::Malformed(e.to_string()));
        let span = trace_span(envelope.as_ref().ok().and_then(|e| e.trace_id.as_deref()), rec);
        self.finish_record(request_id, rec, envelope, started, deadline_ms)
            .instrument(span)
            .await
    }

    /// Runs a parsed (or unparseable) envelope and logs how it ended.
    async fn finish_record(
        &self,
        request_id: &str,
        rec: &Record,
        envelope: Result<Envelope, RecordError>,
        started: Instant,
        deadline_ms: i64,
    ) -> Result<RecordOutcome, RecordError> {
        let result = match &envelope {
            Ok(env) => self.run(request_id, rec, env, deadline_ms).await,
            Err(_) => Err(RecordError::Malformed("not a botgate envelope".into())),
        };
        let (bot, event_id, event_type) = envelope.as_ref().map_or(("", "", ""), |e| {
            (e.bot.as_str(), e.event.event_id.as_str(), e.event.event_type.as_str())
        });
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(o) => tracing::info!(request_id, message_id = %rec.message_id, bot, event_id, event_type,
                outcome = o.as_str(), receive_count = rec.receive_count, duration_ms, "record"),
            Err(e) => {
                tracing::warn!(request_id, message_id = %rec.message_id, bot, event_id, event_type,
                    outcome = "failed", reason = e.reason(), detail = %e, receive_count = rec.receive_count, duration_ms, "record");
                let key = if event_id.is_empty() {
                    failure_key("-", &rec.message_id)
                } else {
                    failure_key(bot, event_id)
                };
                let doc = json!({"reason": e.reason(), "detail": e.to_string(), "message_id": rec.message_id,
                                 "receive_count": rec.receive_count, "at_ms": self.clock.now_ms()});
                let until = self.clock.now_secs() + FAILURE_RETENTION_SECS;
                if let Err(store) = self.state.put(&key, &doc, until).await {
                    tracing::warn!(request_id, message_id = %rec.message_id, error = %store, "could not store the failure reason");
                }
            }
        }
        result
    }

    /// Claims the effect `key` (see the module documentation).
    pub async fn claim_effect(&self, key: &str) -> Result<Claim, StoreError> {
        self.effects.claim(ClaimRequest::effect(key, self.clock.now_ms())).await
    }

    /// A notification from the notify API: send it to its target once, waiting for the
    /// target's rate limit no later than `wait_until_ms`.
    async fn run_notify(
        &self,
        request_id: &str,
        rec: &Record,
        job: &NotifyJob,
        deadline_ms: i64,
        wait_until_ms: i64,
    ) -> Result<RecordOutcome, RecordError> {
        let started = Instant::now();
        let key = job.effect_key();
        let claim = self.claim_effect(&key).await?;
        let mut waits = Waits::default();
        let owner = match claim {
            Claim::Claimed(o) | Claim::TookOver(o) => o,
            Claim::Held(r) if r.status == Status::Done => {
                tracing::info!(request_id, message_id = %rec.message_id, target = %job.target, id = %job.id,
                    outcome = "already_sent", "notification");
                self.emit_notify("dispatcher", &job.target, "already_sent", 0, &waits, started);
                return Ok(RecordOutcome::Done);
            }
            Claim::Held(_) => return Err(RecordError::InProgressElsewhere(key)),
        };
        let result = self
            .notifier
            .send_within(
                &job.target,
                &job.message,
                &fifo_id(&key),
                deadline_ms,
                wait_until_ms,
                &mut waits,
            )
            .await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(parts) => {
                self.effects.complete(&key, &owner).await?;
                tracing::info!(request_id, message_id = %rec.message_id, target = %job.target, id = %job.id,
                    source = %job.source, parts, throttled = waits.throttled, rate_wait_ms = waits.waited_ms,
                    outcome = "sent", duration_ms, "notification");
                self.emit_notify("dispatcher", &job.target, "sent", parts, &waits, started);
                Ok(RecordOutcome::Done)
            }
            Err(e @ (SendError::Retryable { .. } | SendError::Held { .. })) => {
                if let Err(release) = self.effects.release(&key, &owner).await {
                    tracing::warn!(request_id, key, error = %release, "could not release the notification claim");
                }
                let outcome = waits.outcome(&e);
                tracing::warn!(request_id, message_id = %rec.message_id, target = %job.target, id = %job.id,
                    outcome, throttled = waits.throttled, retry_at_ms = waits.retry_at, reason = %e, duration_ms, "notification");
                self.emit_notify("dispatcher", &job.target, outcome, 0, &waits, started);
                Err(RecordError::Send {
                    action: "notify",
                    retry_at_ms: waits.retry_at.or(e.retry_at_ms()),
                    error: e,
                })
            }
            Err(e) => {
                self.effects.complete(&key, &owner).await?;
                tracing::warn!(request_id, message_id = %rec.message_id, target = %job.target, id = %job.id,
                    outcome = e.class(), reason = %e, duration_ms, "notification");
                self.emit_notify("dispatcher", &job.target, e.class(), 0, &waits, started);
                Ok(RecordOutcome::Dropped)
            }
        }
    }

    /// Records one notification's metrics (by target and outcome, with its rate-limit holds).
    pub(crate) fn emit_notify(
        &self,
        component: &str,
        target: &str,
        outcome: &str,
        parts: usize,
        waits: &Waits,
        started: Instant,
    ) {
        let platform = self.config.targets.get(target).map_or("none", |t| t.channel());
        self.metrics.emit(&NotifyMetrics {
            component,
            target,
            platform,
            outcome,
            parts,
            throttled: waits.throttled,
            rate_wait_ms: waits.waited_ms,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            timestamp_ms: self.clock.now_ms(),
        });
    }

    async fn run(
        &self,
        request_id: &str,
        rec: &Record,
        env: &Envelope,
        deadline_ms: i64,
    ) -> Result<RecordOutcome, RecordError> {
        let bot = self
            .config
            .bots
            .get(&env.bot)
            .ok_or_else(|| RecordError::UnknownBot(env.bot.clone()))?;
        let event = &env.event;
        let cx = Ctx {
            request_id,
            trace_id: env.trace_id.as_deref(),
            message_id: &rec.message_id,
            bot,
            event,
            deadline_ms,
            received_at_ms: env.received_at_ms,
            answered: env.answered.is_some(),
        };
        let uses_state = !self.handlers.is_empty() || self.config.rules.use_state();
        let state_key = conversation_key(&bot.id, event.conversation(), event.sender_id.as_deref().unwrap_or("-"));
        let state = if uses_state {
            state_for(
                self.state.get(&state_key, self.clock.now_secs()).await?,
                &event.event_id,
            )
        } else {
            Value::Null
        };

        let mut plans = Vec::new();
        let mut dropped = false;
        for h in self.handlers.for_event(event) {
            match h
                .handle(&HandlerContext {
                    bot,
                    event,
                    state: &state,
                })
                .await
            {
                Ok(Outcome::Handled { actions, state }) => {
                    plans.push(Plan {
                        source: format!("handler:{}", h.name()),
                        actions,
                        state,
                    });
                    break;
                }
                Ok(Outcome::Pass) => {}
                Err(HandlerError::Retryable(why)) => return Err(RecordError::Handler(format!("{}: {why}", h.name()))),
                Err(HandlerError::Permanent(why)) => {
                    tracing::warn!(request_id, bot = %bot.id, event_id = %event.event_id, handler = h.name(),
                        outcome = "dropped", reason = "handler_failed", detail = why, "handler");
                    return Ok(RecordOutcome::Dropped);
                }
            }
        }
        if plans.is_empty() {
            for p in self.config.rules.plan(&bot.id, event, &state) {
                match p {
                    Ok(plan) => plans.push(plan),
                    Err((rule, e)) => {
                        dropped = true;
                        tracing::warn!(request_id, bot = %bot.id, event_id = %event.event_id, rule,
                            outcome = "dropped", reason = "template_failed", detail = %e, "rule");
                    }
                }
            }
        }
        if plans.is_empty() {
            return Ok(if dropped {
                RecordOutcome::Dropped
            } else {
                RecordOutcome::NoRule
            });
        }

        let mut new_state = StateChange::Keep;
        for plan in &plans {
            for (i, action) in plan.actions.iter().enumerate() {
                if let Some((outcome, reason)) =
                    answered_elsewhere(bot, event, env.answered.as_ref(), &plan.source, i, action)
                {
                    let started = Instant::now();
                    self.log_action(&cx, &plan.source, action.name(), outcome, 0, started, reason);
                    self.emit(bot.platform.as_str(), action.name(), outcome, started, 0);
                    continue;
                }
                self.run_action(&cx, &plan.source, i, action).await?;
            }
            if plan.state != StateChange::Keep {
                new_state = plan.state.clone();
            }
        }
        let data = match new_state {
            StateChange::Keep => None,
            StateChange::Set(v) => Some(v),
            StateChange::Clear => Some(Value::Null),
        };
        if let Some(data) = data {
            let doc = json!({"data": data, "prev": state, "event": event.event_id});
            let until = self.clock.now_secs() + i64::try_from(self.config.state_ttl_secs).unwrap_or(i64::MAX / 2);
            self.state.put(&state_key, &doc, until).await?;
        }
        Ok(RecordOutcome::Done)
    }

    fn emit(&self, platform: &str, action: &str, outcome: &str, started: Instant, attempts: u32) {
        self.metrics.emit(&ActionMetrics {
            platform,
            action,
            outcome,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            attempts,
            timestamp_ms: self.clock.now_ms(),
        });
    }

    async fn run_action(&self, cx: &Ctx<'_>, source: &str, index: usize, action: &Action) -> Result<(), RecordError> {
        let started = Instant::now();
        let name = action.name();
        let (sender, platform) = match action {
            Action::Notify { bot, .. } => match self.config.bots.get(bot) {
                Some(b) => (Some(b), b.platform.as_str()),
                None => {
                    self.log_action(
                        cx,
                        source,
                        name,
                        "permanent",
                        0,
                        started,
                        Some(&format!("no bot `{bot}` to notify through")),
                    );
                    self.emit("none", name, "permanent", started, 0);
                    return Ok(());
                }
            },
            Action::Reply(_) | Action::UpdateCard(_) => (Some(cx.bot), cx.bot.platform.as_str()),
            Action::Forward { .. } | Action::Answer(_) | Action::Ignore => (None, "none"),
        };
        if matches!(action, Action::Ignore | Action::Answer(_)) {
            self.log_action(cx, source, name, "ignored", 0, started, None);
            self.emit(platform, name, "ignored", started, 0);
            return Ok(());
        }
        let key = format!("effect#{}#{}#{source}#{index}", cx.bot.id, cx.event.event_id);
        // A message too large for the platform goes in parts, each its own effect, so a
        // retry after part 2 of 3 failed sends parts 2 and 3 only.
        let parts = match (action, sender) {
            (Action::Reply(m) | Action::Notify { message: m, .. }, Some(b)) => {
                use botgate_core::limits::{Limit, MAX_REPLY_PARTS, fit_in};
                fit_in(Limit::for_app(b.platform), m, MAX_REPLY_PARTS)
            }
            _ => Vec::new(),
        };
        if parts.len() <= 1 {
            return self
                .run_effect(cx, source, action, sender, &key, parts.first(), started)
                .await;
        }
        for (i, part) in parts.iter().enumerate() {
            self.run_effect(cx, source, action, sender, &format!("{key}#{i}"), Some(part), started)
                .await?;
        }
        Ok(())
    }

    /// Runs one effect of `action` under `key` at most once: claimed, sent (`part`: the
    /// message or the part of it to send), marked done; released for a retry when the send
    /// may work later.
    #[allow(clippy::too_many_arguments)]
    async fn run_effect(
        &self,
        cx: &Ctx<'_>,
        source: &str,
        action: &Action,
        sender: Option<&Bot>,
        key: &str,
        part: Option<&botgate_core::message::Message>,
        started: Instant,
    ) -> Result<(), RecordError> {
        let name = action.name();
        let platform = sender.map_or("none", |b| b.platform.as_str());
        let claim = self.claim_effect(key).await?;
        let safe_to_repeat = match (action, sender) {
            // A forward carries its delivery id; a card replaced twice shows once.
            (Action::Forward { .. } | Action::UpdateCard(_), _) => true,
            (_, Some(b)) => platform_deduplicates(b.platform),
            _ => false,
        };
        let (owner, resend) =
            match claim {
                Claim::Claimed(owner) => (owner, false),
                Claim::Held(rec) if rec.status == Status::Done => {
                    self.log_action(cx, source, name, "already_sent", 0, started, None);
                    self.emit(platform, name, "already_sent", started, 0);
                    return Ok(());
                }
                Claim::Held(_) => return Err(RecordError::InProgressElsewhere(key.to_owned())),
                Claim::TookOver(owner) if safe_to_repeat => (owner, true),
                Claim::TookOver(owner) => {
                    self.effects.complete(key, &owner).await?;
                    self.log_action(cx, source, name, "skipped", 0, started,
                    Some("an earlier attempt stopped midway and may have sent it; this platform cannot drop a repeat"));
                    self.emit(platform, name, "skipped", started, 0);
                    return Ok(());
                }
            };
        let effect_id = fifo_id(key);
        let idem = Idempotency {
            key: &effect_id[..32],
            resend,
        };
        let result = match (action, sender, part) {
            (Action::Reply(_), Some(bot), Some(msg)) => {
                self.delivery
                    .send(bot, Target::Reply(cx.event), msg, idem, cx.deadline_ms)
                    .await
            }
            (Action::Notify { to, .. }, Some(bot), Some(msg)) => {
                self.delivery.send(bot, Target::To(to), msg, idem, cx.deadline_ms).await
            }
            (Action::UpdateCard(msg), Some(bot), _) => {
                self.after_answer(cx, bot).await;
                self.delivery.update_card(bot, cx.event, msg, cx.deadline_ms).await
            }
            (
                Action::Forward {
                    url,
                    secret,
                    keep_session_webhook,
                },
                _,
                _,
            ) => match crate::delivery::endpoint::check(url) {
                // Rules' URLs are checked at load; a handler's are checked here.
                Err(why) => Err(SendError::Permanent(format!("forward URL refused: {why}"))),
                Ok(_) => {
                    let mut req = forward::request(
                        url,
                        secret.expose(),
                        &cx.bot.id,
                        cx.event,
                        *keep_session_webhook,
                        &effect_id,
                        self.clock.now_secs(),
                    );
                    if let Some(t) = cx.trace_id {
                        req = req.header("X-Botgate-Trace-Id", t);
                    }
                    self.delivery
                        .send_raw(&req, forward::classify, true, cx.deadline_ms)
                        .await
                }
            },
            _ => Err(SendError::Permanent("nothing to send".into())),
        };
        match result {
            Ok(sent) => {
                self.effects.complete(key, &owner).await?;
                self.log_action(cx, source, name, "sent", sent.attempts, started, None);
                self.emit(platform, name, "sent", started, sent.attempts);
                Ok(())
            }
            Err(e @ (SendError::Permanent(_) | SendError::Ambiguous(_) | SendError::TokenInvalid(_))) => {
                // Not retried: a permanent error fails the same way again, and an ambiguous
                // one may have been delivered. Marked done so a redelivery does not repeat it.
                self.effects.complete(key, &owner).await?;
                let outcome = e.class();
                self.log_action(cx, source, name, outcome, 0, started, Some(&e.to_string()));
                self.emit(platform, name, outcome, started, 0);
                Ok(())
            }
            Err(error @ (SendError::Retryable { .. } | SendError::Held { .. })) => {
                if let Err(release) = self.effects.release(key, &owner).await {
                    tracing::warn!(request_id = cx.request_id, key, error = %release,
                        "could not release the effect claim; it lapses after {EFFECT_IN_PROGRESS_MS} ms");
                }
                let outcome = if error.retry_at_ms().is_some() { "held" } else { "retry" };
                if let SendError::Held { host, .. } = &error {
                    self.fallback(cx.bot, host, cx.deadline_ms).await;
                }
                self.log_action(cx, source, name, outcome, 0, started, Some(&error.to_string()));
                self.emit(platform, name, outcome, started, 0);
                Err(RecordError::Send {
                    action: name,
                    retry_at_ms: error.retry_at_ms(),
                    error,
                })
            }
        }
    }

    /// Waits, if need be, until a Feishu card the callback answered may be updated
    /// ([`UPDATE_AFTER_ANSWER_MS`] after the event arrived), within the deadline.
    async fn after_answer(&self, cx: &Ctx<'_>, bot: &Bot) {
        if !cx.answered || bot.platform != botgate_core::Platform::Feishu {
            return;
        }
        let wait = cx
            .received_at_ms
            .saturating_add(UPDATE_AFTER_ANSWER_MS)
            .saturating_sub(self.clock.now_ms());
        if wait > 0 && self.clock.now_ms().saturating_add(wait) < cx.deadline_ms {
            tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
        }
    }

    /// Tells `bot`'s fallback target, once per outage, that the bot's replies are held
    /// because `host` keeps failing (after the breaker has been open `after_secs`).
    async fn fallback(&self, bot: &Bot, host: &str, deadline_ms: i64) {
        let Some(fb) = &bot.fallback else {
            return;
        };
        let breakers = &self.delivery.breakers;
        let Some(since) = breakers.open_since(host) else {
            return;
        };
        if self.clock.now_ms().saturating_sub(since) < fb.after_ms || !breakers.first_fallback(host, &bot.id) {
            return;
        }
        let at = chrono::DateTime::from_timestamp_millis(since)
            .map_or_else(|| since.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
        let message = botgate_core::message::Message::text(format!(
            "botgate: bot `{}` cannot reach {host} since {at} (its circuit breaker is open). Its replies are held on the queue and go out once {host} answers again.",
            bot.id
        ));
        let key = fifo_id(&format!("fallback#{}#{host}#{since}", bot.id));
        match self.notifier.send(&fb.target, &message, &key, deadline_ms).await {
            Ok(_) => tracing::warn!(bot = %bot.id, host, target = %fb.target, outcome = "sent", "fallback"),
            Err(e) => tracing::error!(bot = %bot.id, host, target = %fb.target, outcome = e.class(), reason = %e,
                "fallback: could not tell the fallback target"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn log_action(
        &self,
        cx: &Ctx<'_>,
        source: &str,
        action: &str,
        outcome: &str,
        attempts: u32,
        started: Instant,
        reason: Option<&str>,
    ) {
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match reason {
            None => tracing::info!(request_id = cx.request_id, message_id = cx.message_id, bot = %cx.bot.id,
                platform = %cx.event.platform, event_id = %cx.event.event_id, rule = source, action, outcome,
                attempts, duration_ms, "action"),
            Some(reason) => tracing::warn!(request_id = cx.request_id, message_id = cx.message_id, bot = %cx.bot.id,
                platform = %cx.event.platform, event_id = %cx.event.event_id, rule = source, action, outcome,
                reason, duration_ms, "action"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redelivery_plans_from_the_state_before_the_event() {
        let doc = json!({"data": {"step": 2}, "prev": {"step": 1}, "event": "e1"});
        assert_eq!(state_for(Some(doc.clone()), "e1"), json!({"step": 1}));
        assert_eq!(state_for(Some(doc), "e2"), json!({"step": 2}));
        assert_eq!(state_for(None, "e1"), Value::Null);
    }
}
