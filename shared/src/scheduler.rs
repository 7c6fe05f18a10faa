//! Scheduled notifications: the scheduler function's flow. EventBridge Scheduler invokes
//! it with the schedule's `Input` (raw; an EventBridge envelope with the input under
//! `detail` is accepted too). The input names a notification of the configuration's
//! `notifications:` map, or carries one inline:
//!
//! ```json
//! {"notification": "daily-report", "scheduled_time": "<aws.scheduler.scheduled-time>", "data": {"env": "prod"}}
//! {"targets": ["ops-dingtalk"], "message": {"type": "markdown", "title": "Deploy", "text": "{{ data.service }} is live"}, "data": {"service": "api"}}
//! ```
//!
//! Each target is sent on its own (one failing target does not stop the others) under an
//! effect record keyed by notification, scheduled time and target, so when the invocation
//! fails and Scheduler retries it, the targets already done are not sent again. The
//! invocation fails (and, after the schedule's retries, lands in its dead-letter queue
//! with the error) only when a target still fails after the delivery's own retries.

use serde_json::Value;
use thiserror::Error;

use crate::delivery::SendError;
use crate::dispatcher::Dispatcher;
use crate::notify::Waits;
use crate::notify::scheduled::{self, InputError, Notification};
use crate::queue::fifo_id;
use crate::store::{Claim, Status};
use botgate_core::message::Message;

/// Why a scheduled invocation failed.
#[derive(Debug, Error)]
pub enum ScheduleError {
    /// The input is not a notification.
    #[error("bad schedule input: {0}")]
    BadInput(String),
    /// Some targets failed; the others were sent.
    #[error("{failed} of {total} targets failed: {reasons}")]
    Targets {
        /// Failed targets.
        failed: usize,
        /// All targets.
        total: usize,
        /// `target: reason; ...`.
        reasons: String,
        /// Whether every failure is permanent (trying again would fail the same way).
        permanent: bool,
    },
}

impl ScheduleError {
    /// Whether trying the run again would fail the same way.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::BadInput(_) => true,
            Self::Targets { permanent, .. } => *permanent,
        }
    }
}

impl From<InputError> for ScheduleError {
    fn from(e: InputError) -> Self {
        Self::BadInput(e.0)
    }
}

/// What was done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Targets sent now.
    pub sent: Vec<String>,
    /// Targets already sent by an earlier attempt of the same scheduled run.
    pub already_sent: Vec<String>,
    /// Targets another attempt of the same run is sending now.
    pub elsewhere: Vec<String>,
}

/// What sending one target found.
enum Sent {
    Now,
    Before,
    Elsewhere,
}

/// Runs one scheduled invocation. A target another attempt is sending at the same time
/// counts as failed, so EventBridge Scheduler tries the invocation again later.
pub async fn run(d: &Dispatcher, input: Value, request_id: &str, deadline_ms: i64) -> Result<Report, ScheduleError> {
    let input = scheduled::unwrap_input(input);
    let n = scheduled::resolve(&input, &d.config.notifications)?;
    let scheduled_time = input
        .get("scheduled_time")
        .and_then(Value::as_str)
        .filter(|t| !t.starts_with('<'))
        .map_or_else(|| request_id.to_owned(), str::to_owned);
    let report = run_notification(d, &n, &scheduled_time, request_id, deadline_ms).await?;
    if report.elsewhere.is_empty() {
        return Ok(report);
    }
    Err(ScheduleError::Targets {
        failed: report.elsewhere.len(),
        total: n.targets.len(),
        reasons: report
            .elsewhere
            .iter()
            .map(|t| format!("{t}: another attempt is sending it now"))
            .collect::<Vec<_>>()
            .join("; "),
        permanent: false,
    })
}

/// Sends notification `n`'s run at `scheduled_time` to each of its targets once.
pub async fn run_notification(
    d: &Dispatcher,
    n: &Notification,
    scheduled_time: &str,
    request_id: &str,
    deadline_ms: i64,
) -> Result<Report, ScheduleError> {
    let message = scheduled::render(n, scheduled_time).map_err(|e| ScheduleError::BadInput(format!("message: {e}")))?;
    for t in &n.targets {
        if !d.config.targets.contains_key(t) {
            return Err(ScheduleError::BadInput(format!("no target `{t}` in the configuration")));
        }
    }
    let results = futures::future::join_all(
        n.targets
            .iter()
            .map(|t| send_once(d, &n.name, scheduled_time, t, &message, deadline_ms)),
    )
    .await;
    let mut report = Report::default();
    let mut reasons = Vec::new();
    let mut permanent = true;
    for (t, r) in n.targets.iter().zip(results) {
        match r {
            Ok(Sent::Now) => report.sent.push(t.clone()),
            Ok(Sent::Before) => report.already_sent.push(t.clone()),
            Ok(Sent::Elsewhere) => report.elsewhere.push(t.clone()),
            Err(e) => {
                tracing::warn!(request_id, notification = %n.name, scheduled_time, target = %t, outcome = e.class(), reason = %e, "notification");
                permanent &= e.is_permanent();
                reasons.push(format!("{t}: {e}"));
            }
        }
    }
    for t in &report.sent {
        tracing::info!(request_id, notification = %n.name, scheduled_time, target = %t, outcome = "sent", "notification");
    }
    if reasons.is_empty() {
        Ok(report)
    } else {
        Err(ScheduleError::Targets {
            failed: reasons.len(),
            total: n.targets.len(),
            reasons: reasons.join("; "),
            permanent,
        })
    }
}

/// Sends a CloudWatch alarm change (from the alarm topic) to `target` as an Alertmanager
/// card, once per SNS message: true when sent now, false when an earlier delivery did.
pub async fn send_alarm(
    d: &Dispatcher,
    change: &crate::notify::cloudwatch::AlarmChange,
    target: &str,
    deadline_ms: i64,
) -> Result<bool, ScheduleError> {
    let spec = d.config.targets.get(target).ok_or_else(|| {
        ScheduleError::BadInput(format!(
            "AlarmChatTarget `{target}` is not a target of the configuration"
        ))
    })?;
    let settings = crate::notify::cloudwatch::card_settings(d.config.notify_api.as_ref());
    let body = change.alertmanager.to_string();
    let message = crate::notify::alert::read(body.as_bytes(), "alertmanager")
        .and_then(|hook| hook.for_target(&settings, target, Some(spec)))
        .map_err(|e| ScheduleError::BadInput(format!("alarm: {e}")))?;
    let failed = |e: SendError| ScheduleError::Targets {
        failed: 1,
        total: 1,
        reasons: format!("{target}: {e}"),
        permanent: e.is_permanent(),
    };
    match send_once(d, "cloudwatch-alarm", &change.message_id, target, &message, deadline_ms).await {
        Ok(Sent::Now) => Ok(true),
        Ok(Sent::Before) => Ok(false),
        Ok(Sent::Elsewhere) => Err(failed(SendError::retryable("another delivery is sending it now"))),
        Err(e) => Err(failed(e)),
    }
}

/// Sends to one target once per scheduled run.
async fn send_once(
    d: &Dispatcher,
    name: &str,
    scheduled_time: &str,
    target: &str,
    message: &Message,
    deadline_ms: i64,
) -> Result<Sent, SendError> {
    let started = std::time::Instant::now();
    let mut waits = Waits::default();
    let key = format!("effect#notification#{name}#{scheduled_time}#{target}");
    let claim = d
        .claim_effect(&key)
        .await
        .map_err(|e| SendError::retryable(e.to_string()))?;
    let owner = match claim {
        Claim::Claimed(o) | Claim::TookOver(o) => o,
        Claim::Held(r) if r.status == Status::Done => {
            d.emit_notify("scheduler", target, "already_sent", 0, &waits, started);
            return Ok(Sent::Before);
        }
        Claim::Held(_) => return Ok(Sent::Elsewhere),
    };
    let id = fifo_id(&key);
    match d
        .notifier
        .send_counted(target, message, &id, deadline_ms, &mut waits)
        .await
    {
        Ok(parts) => {
            d.effects
                .complete(&key, &owner)
                .await
                .map_err(|e| SendError::retryable(e.to_string()))?;
            d.emit_notify("scheduler", target, "sent", parts, &waits, started);
            Ok(Sent::Now)
        }
        Err(e) => {
            // An ambiguous send may have been delivered: it is never sent a second time.
            let settled = if matches!(e, SendError::Ambiguous(_)) {
                d.effects.complete(&key, &owner).await
            } else {
                d.effects.release(&key, &owner).await
            };
            if let Err(store) = settled {
                tracing::warn!(key, error = %store, "could not settle the notification claim");
            }
            d.emit_notify("scheduler", target, waits.outcome(&e), 0, &waits, started);
            Err(e)
        }
    }
}
