//! The callback flow, shared by the Lambda function, the local gateway and the tests:
//! route, verify, answer URL verification, claim in the dedup store, enqueue, answer.
//!
//! Sequential AWS round trips for a new event: two. (1) a conditional `PutItem` claims the
//! event id; (2) `SendMessage` to the FIFO queue and the `UpdateItem` that marks the claim
//! done run concurrently. The FIFO deduplication id is the event's key, so any later send
//! of the same event within SQS's 5-minute interval is accepted but not delivered again.
//! That is what makes the shortcut safe: a delivery that finds a record claimed less than
//! [`RESEND_WINDOW_MS`] ago sends again instead of trusting it, which covers an owner that
//! died between its claim and its send (the platform, never having had its 200, retries
//! within seconds: Feishu after 15 s, WeChat after 5 s). If the send fails, the claim is
//! deleted and the platform gets a 5xx, so its retry starts clean.
//! [`CallbackError::status`] is the one place that maps failures to HTTP statuses.
//!
//! A synchronous answer (a WeChat/WeCom passive reply, a card action's answer: [`answer`])
//! is computed before the claim and stored with it, so the platform's retry of the same
//! event gets the same answer, byte for byte, and the queued event says what was answered.

pub mod answer;

use std::sync::Arc;
use std::time::Instant;

use thiserror::Error;
use tracing::Instrument;

use crate::bot::Bot;
use crate::clock::Clock;
use crate::metrics::{MetricsSink, RequestMetrics};
use crate::queue::{OutgoingMessage, Queue, QueueError};
use crate::settings::Settings;
use crate::store::{Claim, ClaimRequest, DedupStore, StoreError};
use botgate_core::event::Platform;
use botgate_core::inbound::{Accepted, Rejection, ReplayGuard, Request, Response};

/// How long a claim holds while its owner enqueues: longer than the function's timeout
/// (5 s in `template.yaml`), so a live owner is never taken over.
pub const IN_PROGRESS_MS: i64 = 10_000;
/// A held record younger than this is re-sent (deduplicated by the FIFO queue) rather than
/// trusted: 4 minutes, inside SQS's 5-minute deduplication interval with a minute to spare.
pub const RESEND_WINDOW_MS: i64 = 4 * 60 * 1000;

/// What the callback needs, built once per process.
#[derive(Clone)]
pub struct Deps {
    /// Bots and settings.
    pub config: Arc<Settings>,
    /// The dedup store.
    pub store: Arc<dyn DedupStore>,
    /// The queue.
    pub queue: Arc<dyn Queue>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where EMF metrics go.
    pub metrics: Arc<dyn MetricsSink>,
    /// The conversation state the dispatcher keeps, read (never written) when a rule that
    /// answers in the callback (a passive reply) depends on it. `None`: no state.
    pub state: Option<Arc<dyn crate::state::StateStore>>,
    /// Custom handlers, asked for their synchronous answers ([`answer`]).
    pub handlers: crate::handler::Registry,
}

impl Deps {
    /// Where synchronous answers come from ([`answer::compute`]).
    pub fn answers(&self) -> answer::Sources<'_> {
        answer::Sources {
            rules: &self.config.rules,
            handlers: &self.handlers,
            state: self.state.as_deref(),
        }
    }
}

/// Why a request was not accepted.
#[derive(Debug, Error)]
pub enum CallbackError {
    /// No such route or bot.
    #[error("not found: {0}")]
    NotFound(String),
    /// The platform layer refused the request.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The event is larger than a queue message may be.
    #[error("event too large for the queue: {0}")]
    TooLargeForQueue(QueueError),
    /// The dedup store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error("{0}")]
    Queue(QueueError),
    /// A request with the same idempotency key is being accepted right now.
    #[error("in progress: {0}")]
    InProgress(String),
}

impl CallbackError {
    /// The HTTP status: 404 unknown bot, the rejection's own status (401/400/405/413), 413
    /// for events too large to queue, 409 while the same idempotency key is being accepted,
    /// 503 when a dependency failed (so the platform retries).
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::Rejected(r) => r.status(),
            Self::TooLargeForQueue(_) => 413,
            Self::InProgress(_) => 409,
            Self::Store(_) | Self::Queue(_) => 503,
        }
    }

    /// A stable snake_case reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "unknown_bot",
            Self::Rejected(r) => r.reason(),
            Self::TooLargeForQueue(_) => "too_large_for_queue",
            Self::InProgress(_) => "in_progress",
            Self::Store(_) => "store_unavailable",
            Self::Queue(_) => "queue_unavailable",
        }
    }

    /// The short body sent back: the reason, never the detail.
    pub fn response(&self) -> Response {
        Response {
            status: self.status(),
            content_type: "text/plain; charset=utf-8".into(),
            body: self.reason().to_owned(),
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Self::Store(_) | Self::Queue(_) => "failed",
            _ => "rejected",
        }
    }
}

/// How an accepted request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A URL verification was answered.
    Verification,
    /// A new event was enqueued.
    Accepted,
    /// A duplicate was acknowledged (and re-sent inside the deduplication window).
    Duplicate,
}

impl Outcome {
    /// Its name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verification => "verification",
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
        }
    }
}

/// What is known about a request for its log line, filled in as it is processed.
#[derive(Debug, Default)]
struct Trace {
    bot: String,
    platform: Option<Platform>,
    event_id: String,
    event_type: String,
    /// Follows the event through the queue into every log line of the dispatcher.
    trace_id: String,
    /// The synchronous answer given, if any (`passive_reply`, `card_answer`, `replayed`).
    answer: Option<&'static str>,
}

/// The request's trace id: X-Ray's root when API Gateway or a caller sent a trace header,
/// else `fallback` (API Gateway's request id).
pub fn trace_id_of(req: &Request<'_>, fallback: &str) -> String {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amzn-trace-id"))
        .and_then(|(_, v)| v.split(';').find_map(|part| part.trim().strip_prefix("Root=")))
        .filter(|root| {
            !root.is_empty() && root.len() <= 64 && root.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(|| fallback.to_owned(), str::to_owned)
}

/// Where queued notification jobs come from.
struct Origin<'a> {
    source: &'a str,
    trace_id: &'a str,
    now_ms: i64,
}

/// Splits `/.../{platform}/{bot}` (a stage or prefix before them is ignored).
fn route(path: &str) -> Option<(&str, &str)> {
    let mut segs = path.trim_end_matches('/').rsplit('/').filter(|s| !s.is_empty());
    let bot = segs.next()?;
    let platform = segs.next()?;
    Some((platform, bot))
}

fn find_bot<'c>(config: &'c Settings, path: &str) -> Result<&'c Bot, CallbackError> {
    let (platform, bot_id) = route(path).ok_or_else(|| CallbackError::NotFound(format!("no route {path:?}")))?;
    let bot = config
        .bots
        .get(bot_id)
        .ok_or_else(|| CallbackError::NotFound(format!("no bot `{bot_id}`")))?;
    let wanted: Platform = platform
        .parse()
        .map_err(|_| CallbackError::NotFound(format!("no platform `{platform}`")))?;
    if wanted != bot.platform {
        return Err(CallbackError::NotFound(format!(
            "bot `{bot_id}` is a {} bot, not {wanted}",
            bot.platform
        )));
    }
    Ok(bot)
}

/// `POST /notify/{target}`, `POST /alertmanager/{target}` and `POST /grafana/{target}`:
/// authenticate, parse, queue,
/// answer 202 with the message's id. Credentials are checked before the target is looked
/// up, so an unknown target cannot be told from a known one without them. Requests that
/// [`crate::notify::api::fold`] makes one message claim their fold key in the dedup store:
/// the first is queued, a repeat is answered exactly as the first was (202, same id) and
/// not queued, and a repeat while the first is still being queued gets 409.
async fn notify(
    deps: &Deps,
    source: &str,
    target: &str,
    req: &Request<'_>,
    now_ms: i64,
    trace: &mut Trace,
) -> Result<(Response, Outcome), CallbackError> {
    use crate::notify::{alert, api};
    trace.bot = format!("{source}:{target}");
    let settings =
        deps.config.notify_api.as_ref().ok_or_else(|| {
            CallbackError::NotFound("the notify API is off (no notify_api in the configuration)".into())
        })?;
    if !req.method.eq_ignore_ascii_case("POST") {
        return Err(Rejection::UnsupportedMethod(format!("{} (use POST)", req.method)).into());
    }
    if req.body.len() > settings.max_body_bytes {
        return Err(Rejection::TooLarge {
            size: req.body.len(),
            limit: settings.max_body_bytes,
        }
        .into());
    }
    let auth = settings.authenticate(req, now_ms.div_euclid(1000))?;
    let router = match source {
        "alertmanager" | "grafana" if !deps.config.targets.contains_key(target) => {
            deps.config.alerts.routers.get(target)
        }
        _ => None,
    };
    if router.is_none() && !deps.config.targets.contains_key(target) {
        return Err(CallbackError::NotFound(format!("no target or router `{target}`")));
    }
    let hook = match source {
        "alertmanager" | "grafana" => Some(alert::read(req.body, source)?),
        _ => None,
    };
    let (messages, body_id) = match (&hook, router) {
        (Some(hook), Some(router)) => (
            hook.routed(settings, &deps.config.alerts, router, now_ms, &deps.config.targets)?,
            None,
        ),
        (Some(hook), None) => (
            vec![(
                target.to_owned(),
                hook.for_target(settings, target, deps.config.targets.get(target))?,
            )],
            None,
        ),
        (None, _) => {
            let n = api::parse_notify(req.body, settings.allow_templates)?;
            (vec![(target.to_owned(), n.message)], n.id)
        }
    };
    let fold = api::fold(source, target, req, body_id.as_deref(), auth, settings)?;
    trace.event_type = source.to_owned();
    let accepted = |id: &str| Response {
        status: 202,
        content_type: "application/json".into(),
        body: serde_json::json!({"accepted": id}).to_string(),
    };
    if messages.is_empty() {
        tracing::warn!(
            source,
            router = target,
            outcome = "unrouted",
            "no route took any of the alerts: nothing is sent"
        );
    }
    let alert = hook.as_ref().map(alert::AlertWebhook::summary);
    let Some(fold) = fold else {
        let id = botgate_core::crypto::random_nonce(32);
        trace.event_id = id.clone();
        let origin = Origin {
            source,
            trace_id: &trace.trace_id,
            now_ms,
        };
        enqueue_jobs(deps, &origin, &id, None, alert, messages).await?;
        return Ok((accepted(&id), Outcome::Accepted));
    };
    let claim = deps
        .store
        .claim(ClaimRequest {
            key: &fold.key,
            now_ms,
            in_progress_ms: IN_PROGRESS_MS,
            retention_secs: fold.window_secs,
            answer: None,
        })
        .await?;
    let owner = match claim {
        Claim::Claimed(owner) | Claim::TookOver(owner) => owner,
        Claim::Held(rec) if rec.status == crate::store::Status::Done => {
            let id = fold.id(rec.claimed_at_ms);
            trace.event_id = id.clone();
            return Ok((accepted(&id), Outcome::Duplicate));
        }
        Claim::Held(_) => {
            return Err(CallbackError::InProgress(
                "a request with the same idempotency key is being accepted now".into(),
            ));
        }
    };
    let id = fold.id(now_ms);
    trace.event_id = id.clone();
    let origin = Origin {
        source,
        trace_id: &trace.trace_id,
        now_ms,
    };
    if let Err(e) = enqueue_jobs(deps, &origin, &id, Some(&fold.key), alert, messages).await {
        if let Err(release) = deps.store.release(&fold.key, &owner).await {
            tracing::warn!(key = %fold.key, error = %release, "could not release the notify claim");
        }
        return Err(e);
    }
    deps.store.complete(&fold.key, &owner).await?;
    Ok((accepted(&id), Outcome::Accepted))
}

/// Queues one notification per (target, message) under the request's `id` (each job's own
/// id is derived from it and the target when there are several) and fold key, with the
/// alert group's summary (what a digest lists of it) for alert webhooks. Every
/// message is built and size-checked before the first is sent, so a request is refused
/// whole rather than half queued.
async fn enqueue_jobs(
    deps: &Deps,
    origin: &Origin<'_>,
    id: &str,
    fold: Option<&str>,
    alert: Option<crate::notify::digest::AlertSummary>,
    messages: Vec<(String, botgate_core::message::Message)>,
) -> Result<(), CallbackError> {
    let several = messages.len() > 1;
    let mut outgoing = Vec::with_capacity(messages.len());
    for (target, message) in messages {
        let job_id = if several {
            hex::encode(&botgate_core::crypto::sha256(&[id.as_bytes(), b"#", target.as_bytes()])[..16])
        } else {
            id.to_owned()
        };
        let job = crate::notify::api::NotifyJob {
            fold: fold.map(|f| format!("{f}#{target}")),
            target,
            message,
            id: job_id,
            source: origin.source.to_owned(),
            alert: alert.clone(),
            digest: None,
            trace_id: Some(origin.trace_id.to_owned()),
        };
        let msg = job.outgoing(origin.now_ms).map_err(CallbackError::Queue)?;
        msg.check_size(deps.config.max_message_bytes)
            .map_err(CallbackError::TooLargeForQueue)?;
        outgoing.push(msg);
    }
    for msg in &outgoing {
        deps.queue.send(msg).await.map_err(CallbackError::Queue)?;
    }
    Ok(())
}

/// Remembers a signature that does not cover its body ([`ReplayGuard`]) for its window:
/// `Ok(true)` when this is its first use.
async fn first_use(deps: &Deps, bot: &Bot, guard: &ReplayGuard, now_ms: i64) -> Result<bool, StoreError> {
    let key = format!("signature#{}#{}#{}", bot.platform, bot.id, guard.key);
    let claim = deps
        .store
        .claim(ClaimRequest {
            key: &key,
            now_ms,
            in_progress_ms: IN_PROGRESS_MS,
            retention_secs: i64::try_from(guard.window_secs.saturating_mul(2)).unwrap_or(i64::MAX),
            answer: None,
        })
        .await?;
    match claim {
        Claim::Claimed(owner) | Claim::TookOver(owner) => {
            deps.store.complete(&key, &owner).await?;
            Ok(true)
        }
        Claim::Held(_) => Ok(false),
    }
}

async fn process(
    deps: &Deps,
    path: &str,
    req: &Request<'_>,
    now_ms: i64,
    trace: &mut Trace,
) -> Result<(Response, Outcome), CallbackError> {
    if let Some((source @ ("notify" | "alertmanager" | "grafana"), target)) = route(path) {
        return notify(deps, source, target, req, now_ms, trace).await;
    }
    let bot = find_bot(&deps.config, path)?;
    trace.bot = bot.id.clone();
    trace.platform = Some(bot.platform);
    let verifier = bot.verifier.as_ref().ok_or_else(|| {
        CallbackError::NotFound(format!(
            "bot `{}` takes its events over a long connection and has no webhook credentials",
            bot.id
        ))
    })?;
    let (event, response, guard) = match verifier.verify(req, now_ms.div_euclid(1000), &bot.options)? {
        Accepted::Verification(r) => return Ok((r, Outcome::Verification)),
        Accepted::Event {
            event,
            response,
            replay_guard,
        } => (event, response, replay_guard),
    };
    trace.event_id = event.event_id.clone();
    trace.event_type = event.event_type.clone();
    let answer = answer::compute(&deps.answers(), bot, &event, now_ms)
        .await?
        .and_then(|(marker, a)| {
            let rendered = verifier.answer(req, &event, &a, now_ms.div_euclid(1000))?;
            trace.answer = Some(a.name());
            Some((marker, rendered))
        });
    let (outcome, stored) = ingest_answered(
        deps,
        bot,
        &event,
        now_ms,
        &trace.trace_id,
        guard.as_ref(),
        answer.as_ref().map(|(a, r)| (a, r.body.as_str())),
    )
    .await?;
    // A retry of an answered event gets the first answer, byte for byte.
    let response = match (stored, answer) {
        (Some(body), _) => {
            trace.answer = Some("replayed");
            Response {
                status: 200,
                content_type: answer::content_type(bot.platform).into(),
                body,
            }
        }
        (None, Some((_, answer))) => answer,
        (None, None) => response,
    };
    Ok((response, outcome))
}

/// Takes a verified event in: claims its key (`platform#bot#event_id`) in the dedup store
/// and puts it on the queue, as described in the module's documentation. The webhook path
/// and the long-connection connector share it, so an event delivered both ways (or twice
/// either way) is queued once. `guard`: a signature that does not cover the body, to be
/// accepted for one event only. `Accepted` and `Duplicate` both mean the event is safely
/// queued and the platform may be told so; an error means it is not.
pub async fn ingest(
    deps: &Deps,
    bot: &Bot,
    event: &botgate_core::Event,
    now_ms: i64,
    trace_id: &str,
    guard: Option<&ReplayGuard>,
) -> Result<Outcome, CallbackError> {
    Ok(ingest_answered(deps, bot, event, now_ms, trace_id, guard, None)
        .await?
        .0)
}

/// [`ingest`] for an event pushed over a long connection, with the answer a Feishu card
/// action gets there (the response frame's `data`): computed, stored with the claim and
/// replayed to a redelivery, as on the webhook path. Returns the answer's JSON, if any.
pub async fn ingest_pushed(
    deps: &Deps,
    bot: &Bot,
    event: &botgate_core::Event,
    now_ms: i64,
    trace_id: &str,
) -> Result<(Outcome, Option<String>), CallbackError> {
    let answer = match answer::compute(&deps.answers(), bot, event, now_ms).await? {
        Some((marker, botgate_core::answer::Answer::Card(card)))
            if bot.platform == Platform::Feishu && !card.is_empty() =>
        {
            Some((
                marker,
                botgate_core::platform::feishu::render::answer(&card).to_string(),
            ))
        }
        _ => None,
    };
    let (outcome, stored) = ingest_answered(
        deps,
        bot,
        event,
        now_ms,
        trace_id,
        None,
        answer.as_ref().map(|(m, body)| (m, body.as_str())),
    )
    .await?;
    Ok((outcome, stored.or(answer.map(|(_, body)| body))))
}

/// [`ingest`] for an event answered in the callback: `answer` (the rule action and the
/// answer's body) is kept with the dedup record and marked on the queued event. Returns the
/// answer a duplicate's first delivery got, to be given again.
pub async fn ingest_answered(
    deps: &Deps,
    bot: &Bot,
    event: &botgate_core::Event,
    now_ms: i64,
    trace_id: &str,
    guard: Option<&ReplayGuard>,
    answer: Option<(&crate::queue::Answered, &str)>,
) -> Result<(Outcome, Option<String>), CallbackError> {
    let key = format!("{}#{}#{}", bot.platform, bot.id, event.event_id);
    let msg = OutgoingMessage::for_answered_event(&bot.id, &key, event, now_ms, Some(trace_id), answer.map(|(a, _)| a))
        .map_err(CallbackError::Queue)?;
    msg.check_size(deps.config.max_message_bytes)
        .map_err(CallbackError::TooLargeForQueue)?;
    let event_claim = deps.store.claim(ClaimRequest {
        key: &key,
        now_ms,
        in_progress_ms: IN_PROGRESS_MS,
        retention_secs: i64::try_from(deps.config.dedup_retention_secs).unwrap_or(i64::MAX),
        answer: answer.map(|(_, body)| body),
    });
    // The signature's first use is claimed beside the event (one round trip for both).
    let (claim, fresh) = match guard {
        Some(g) => {
            let (claim, fresh) = tokio::join!(event_claim, first_use(deps, bot, g, now_ms));
            (claim?, fresh?)
        }
        None => (event_claim.await?, true),
    };
    match claim {
        Claim::Claimed(owner) | Claim::TookOver(owner) if !fresh => {
            // A new event under a signature already used for another: a captured
            // timestamp and sign replayed with a forged body.
            if let Err(e) = deps.store.release(&key, &owner).await {
                tracing::warn!(event_id = %event.event_id, error = %e, "could not release the claim of a refused event");
            }
            Err(Rejection::Replayed("this timestamp and sign were already used for another message".into()).into())
        }
        Claim::Claimed(owner) | Claim::TookOver(owner) => {
            let (sent, completed) = tokio::join!(deps.queue.send(&msg), deps.store.complete(&key, &owner));
            if let Err(e) = sent {
                if let Err(release) = deps.store.release(&key, &owner).await {
                    tracing::error!(event_id = %event.event_id, error = %release,
                        "could not release the claim after a failed send; it expires in {IN_PROGRESS_MS} ms");
                }
                return Err(match e {
                    QueueError::TooLarge { .. } => CallbackError::TooLargeForQueue(e),
                    other => CallbackError::Queue(other),
                });
            }
            if let Err(e) = completed {
                tracing::warn!(event_id = %event.event_id, error = %e,
                    "enqueued, but the claim could not be marked done; it stays in progress until it expires");
            }
            Ok((Outcome::Accepted, None))
        }
        Claim::Held(record) => {
            if now_ms.saturating_sub(record.claimed_at_ms) < RESEND_WINDOW_MS {
                deps.queue.send(&msg).await.map_err(CallbackError::Queue)?;
            }
            Ok((Outcome::Duplicate, record.answer))
        }
    }
}

/// Handles one callback request. `path` is the request path (`/{platform}/{bot}`),
/// `request_id` the platform's or API Gateway's request id (for the log line).
pub async fn handle(deps: &Deps, path: &str, req: &Request<'_>, request_id: &str) -> Response {
    handle_traced(deps, path, req, request_id, request_id).await
}

/// [`handle`] with the request's trace id: `trace_id` (API Gateway's request id) unless the
/// request carries an X-Ray trace header ([`trace_id_of`]). The trace id goes in the log
/// line, on the queued event, and from there into every log line the dispatcher writes
/// about it (the `trace` span's `trace_id`) and the `X-Botgate-Trace-Id` header of forwards.
pub async fn handle_traced(deps: &Deps, path: &str, req: &Request<'_>, request_id: &str, trace_id: &str) -> Response {
    let started = Instant::now();
    let now_ms = deps.clock.now_ms();
    let mut trace = Trace {
        trace_id: trace_id_of(req, trace_id),
        ..Trace::default()
    };
    let span = tracing::info_span!("trace", trace_id = %trace.trace_id);
    let result = process(deps, path, req, now_ms, &mut trace)
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let platform = trace.platform.map_or("unknown", Platform::as_str);
    let (response, outcome, reason) = match &result {
        Ok((r, o)) => (r.clone(), o.as_str(), "none"),
        Err(e) => (e.response(), e.outcome(), e.reason()),
    };
    match &result {
        Ok(_) => tracing::info!(
            request_id, bot = %trace.bot, platform, event_id = %trace.event_id, event_type = %trace.event_type,
            outcome, answer = trace.answer.unwrap_or("none"), status = response.status, duration_ms, "callback"
        ),
        Err(e) => tracing::warn!(
            request_id, bot = %trace.bot, platform, event_id = %trace.event_id, event_type = %trace.event_type,
            outcome, reason, detail = %e, status = response.status, duration_ms, "callback"
        ),
    }
    deps.metrics.emit(&RequestMetrics {
        component: "callback",
        platform,
        outcome,
        reason,
        latency_ms: duration_ms,
        timestamp_ms: now_ms,
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/feishu/ops"), Some(("feishu", "ops")));
        assert_eq!(route("/prod/feishu/ops/"), Some(("feishu", "ops")));
        assert_eq!(route("/ops"), None);
        assert_eq!(route(""), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(CallbackError::NotFound(String::new()).status(), 404);
        assert_eq!(
            CallbackError::Queue(QueueError::Unavailable(String::new())).status(),
            503
        );
        assert_eq!(
            CallbackError::Store(StoreError::Unavailable(String::new())).status(),
            503
        );
        let big = QueueError::TooLarge { size: 2, limit: 1 };
        assert_eq!(CallbackError::TooLargeForQueue(big).status(), 413);
    }
}
