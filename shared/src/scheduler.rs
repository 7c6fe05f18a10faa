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

use serde_json::{Map, Value, json};
use thiserror::Error;

use crate::delivery::SendError;
use crate::dispatcher::Dispatcher;
use crate::message::{Button, Mentions, Message};
use crate::notify::Waits;
use crate::queue::fifo_id;
use crate::store::{Claim, Status};

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
    },
}

/// What was done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Targets sent now.
    pub sent: Vec<String>,
    /// Targets already sent by an earlier attempt of the same scheduled run.
    pub already_sent: Vec<String>,
}

/// The input, unwrapped from an EventBridge envelope if it came in one.
pub fn unwrap_input(v: Value) -> Value {
    let is_envelope =
        v.get("detail").is_some_and(Value::is_object) && (v.get("detail-type").is_some() || v.get("source").is_some());
    if is_envelope {
        return v["detail"].clone();
    }
    v
}

/// A notification as configured or given inline: targets, message template, data.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Its name (`inline` when given in the input).
    pub name: String,
    /// Target names.
    pub targets: Vec<String>,
    /// The message, with minijinja templates in `title` and `text`.
    pub message: Value,
    /// Template data (the configuration's, then the input's on top).
    pub data: Value,
}

fn merge(base: &mut Value, over: &Value) {
    match (base.as_object_mut(), over.as_object()) {
        (Some(b), Some(o)) => {
            for (k, v) in o {
                b.insert(k.clone(), v.clone());
            }
        }
        _ => {
            if !over.is_null() {
                *base = over.clone();
            }
        }
    }
}

/// Resolves the input against the configured notifications.
pub fn notification(input: &Value, configured: &Map<String, Value>) -> Result<Notification, ScheduleError> {
    let bad = |w: &str| ScheduleError::BadInput(w.to_owned());
    if !input.is_object() {
        return Err(bad(
            "expected a JSON object with `notification` or `targets` and `message`",
        ));
    }
    let (name, base) = match input.get("notification").and_then(Value::as_str) {
        Some(n) => (
            n.to_owned(),
            configured
                .get(n)
                .cloned()
                .ok_or_else(|| ScheduleError::BadInput(format!("no notification `{n}` in the configuration")))?,
        ),
        None => ("inline".to_owned(), json!({})),
    };
    let targets: Vec<String> = match input.get("targets").or(base.get("targets")) {
        Some(Value::Array(t)) => t.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(t)) => vec![t.clone()],
        _ => return Err(bad("no `targets`")),
    };
    if targets.is_empty() {
        return Err(bad("`targets` is empty"));
    }
    let message = input
        .get("message")
        .or(base.get("message"))
        .cloned()
        .ok_or_else(|| bad("no `message`"))?;
    let mut data = base.get("data").cloned().unwrap_or(json!({}));
    merge(&mut data, input.get("data").unwrap_or(&Value::Null));
    Ok(Notification {
        name,
        targets,
        message,
        data,
    })
}

/// Renders the message template with `data` (and `notification`, `scheduled_time`).
pub fn render(n: &Notification, scheduled_time: &str) -> Result<Message, ScheduleError> {
    let env = minijinja::Environment::new();
    let ctx = minijinja::Value::from(minijinja::value::Serde(json!({
        "data": n.data, "notification": n.name, "scheduled_time": scheduled_time,
    })));
    let r = |field: &str| -> Result<String, ScheduleError> {
        match n.message.get(field).and_then(Value::as_str) {
            None => Ok(String::new()),
            Some(t) => env
                .render_str(t, ctx.clone())
                .map_err(|e| ScheduleError::BadInput(format!("message.{field}: {e}"))),
        }
    };
    let m = &n.message;
    let (text, title) = match m.as_str() {
        Some(t) => (
            env.render_str(t, ctx.clone())
                .map_err(|e| ScheduleError::BadInput(format!("message: {e}")))?,
            String::new(),
        ),
        None => (r("text")?, r("title")?),
    };
    let mentions: Mentions = m
        .get("mentions")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| ScheduleError::BadInput(format!("message.mentions: {e}")))?
        .unwrap_or_default();
    Ok(match m.get("type").and_then(Value::as_str).unwrap_or("text") {
        "markdown" => Message::Markdown { title, text, mentions },
        "card" => Message::Card {
            title,
            text,
            buttons: m
                .get("buttons")
                .cloned()
                .map(serde_json::from_value::<Vec<Button>>)
                .transpose()
                .map_err(|e| ScheduleError::BadInput(format!("message.buttons: {e}")))?
                .unwrap_or_default(),
            color: m.get("color").and_then(Value::as_str).map(str::to_owned),
            mentions,
        },
        "text" => Message::Text { text, mentions },
        other => {
            return Err(ScheduleError::BadInput(format!(
                "message.type `{other}`: text, markdown or card"
            )));
        }
    })
}

/// Runs one scheduled invocation.
pub async fn run(d: &Dispatcher, input: Value, request_id: &str, deadline_ms: i64) -> Result<Report, ScheduleError> {
    let input = unwrap_input(input);
    let n = notification(&input, &d.config.notifications)?;
    let scheduled_time = input
        .get("scheduled_time")
        .and_then(Value::as_str)
        .filter(|t| !t.starts_with('<'))
        .map_or_else(|| request_id.to_owned(), str::to_owned);
    let message = render(&n, &scheduled_time)?;
    for t in &n.targets {
        if !d.config.targets.contains_key(t) {
            return Err(ScheduleError::BadInput(format!("no target `{t}` in the configuration")));
        }
    }
    let results = futures::future::join_all(
        n.targets
            .iter()
            .map(|t| send_once(d, &n.name, &scheduled_time, t, &message, deadline_ms)),
    )
    .await;
    let mut report = Report::default();
    let mut reasons = Vec::new();
    for (t, r) in n.targets.iter().zip(results) {
        match r {
            Ok(true) => report.sent.push(t.clone()),
            Ok(false) => report.already_sent.push(t.clone()),
            Err(e) => {
                tracing::warn!(request_id, notification = %n.name, target = %t, outcome = e.class(), reason = %e, "notification");
                reasons.push(format!("{t}: {e}"));
            }
        }
    }
    for t in &report.sent {
        tracing::info!(request_id, notification = %n.name, target = %t, outcome = "sent", "notification");
    }
    if reasons.is_empty() {
        Ok(report)
    } else {
        Err(ScheduleError::Targets {
            failed: reasons.len(),
            total: n.targets.len(),
            reasons: reasons.join("; "),
        })
    }
}

/// Sends to one target once per scheduled run; false when an earlier attempt did.
async fn send_once(
    d: &Dispatcher,
    name: &str,
    scheduled_time: &str,
    target: &str,
    message: &Message,
    deadline_ms: i64,
) -> Result<bool, SendError> {
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
            return Ok(false);
        }
        Claim::Held(_) => return Err(SendError::retryable("another attempt is sending it now")),
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
            Ok(true)
        }
        Err(e) => {
            if let Err(release) = d.effects.release(&key, &owner).await {
                tracing::warn!(key, error = %release, "could not release the notification claim");
            }
            d.emit_notify("scheduler", target, waits.outcome(&e), 0, &waits, started);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_with_and_without_an_envelope() {
        let raw = json!({"notification": "daily", "data": {"x": 1}});
        let wrapped = json!({"version": "0", "id": "1", "detail-type": "Scheduled Event",
                             "source": "aws.scheduler", "detail": raw.clone()});
        assert_eq!(unwrap_input(raw.clone()), raw);
        assert_eq!(unwrap_input(wrapped), raw);
        // An input that merely has a `detail` field of its own is left alone.
        let own = json!({"targets": ["t"], "message": "x", "detail": {"a": 1}});
        assert_eq!(unwrap_input(own.clone()), own);
    }

    #[test]
    fn configured_and_inline_notifications_render() {
        let configured: Map<String, Value> = serde_json::from_value(json!({
            "daily": {"targets": ["ops"], "data": {"env": "staging", "team": "sre"},
                      "message": {"type": "markdown", "title": "Daily {{ data.env }}", "text": "for {{ data.team }}"}}
        }))
        .unwrap();
        let n = notification(&json!({"notification": "daily", "data": {"env": "prod"}}), &configured).unwrap();
        assert_eq!(n.targets, ["ops"]);
        let m = render(&n, "2026-11-23T01:00:00Z").unwrap();
        assert_eq!(
            m,
            Message::Markdown {
                title: "Daily prod".into(),
                text: "for sre".into(),
                mentions: Mentions::default()
            }
        );
        let n = notification(
            &json!({"targets": "ops", "message": "at {{ scheduled_time }}"}),
            &configured,
        )
        .unwrap();
        assert_eq!(render(&n, "T").unwrap(), Message::text("at T"));
        assert!(notification(&json!({"notification": "nope"}), &configured).is_err());
        assert!(notification(&json!({"message": "x"}), &configured).is_err());
        assert!(notification(&json!([1]), &configured).is_err());
    }
}
