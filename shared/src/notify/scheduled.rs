//! Scheduled notifications: a named message template with its targets and data (the
//! configuration's `notifications:`), and the scheduler's input that names one or carries
//! one inline:
//!
//! ```json
//! {"notification": "daily-report", "scheduled_time": "<aws.scheduler.scheduled-time>", "data": {"env": "prod"}}
//! {"targets": ["ops-dingtalk"], "message": {"type": "markdown", "title": "Deploy", "text": "{{ data.service }} is live"}, "data": {"service": "api"}}
//! ```

use std::collections::BTreeMap;

use serde_json::{Value, json};
use thiserror::Error;

use crate::template::{MessageSpec, RenderError, Templates};
use botgate_core::message::Message;

/// A notification as configured or given inline.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Its name (`inline` when given in the input).
    pub name: String,
    /// Target names.
    pub targets: Vec<String>,
    /// The message, with minijinja templates in `title` and `text`.
    pub message: MessageSpec,
    /// Template data (the configuration's, then the input's on top).
    pub data: Value,
    /// Its schedule (EventBridge Scheduler's expression), if it has one.
    pub schedule: Option<String>,
    /// The IANA time zone the schedule is read in, if set.
    pub timezone: Option<String>,
}

/// A scheduler input that does not name or carry a notification.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InputError(pub String);

/// The input, unwrapped from an EventBridge envelope if it came in one.
pub fn unwrap_input(v: Value) -> Value {
    let is_envelope =
        v.get("detail").is_some_and(Value::is_object) && (v.get("detail-type").is_some() || v.get("source").is_some());
    if is_envelope {
        return v["detail"].clone();
    }
    v
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
pub fn resolve(input: &Value, configured: &BTreeMap<String, Notification>) -> Result<Notification, InputError> {
    let bad = |w: &str| InputError(w.to_owned());
    if !input.is_object() {
        return Err(bad(
            "expected a JSON object with `notification` or `targets` and `message`",
        ));
    }
    let base = match input.get("notification").and_then(Value::as_str) {
        Some(n) => configured
            .get(n)
            .cloned()
            .ok_or_else(|| InputError(format!("no notification `{n}` in the configuration")))?,
        None => Notification {
            name: "inline".into(),
            targets: Vec::new(),
            message: MessageSpec::default(),
            data: json!({}),
            schedule: None,
            timezone: None,
        },
    };
    let targets: Vec<String> = match input.get("targets") {
        Some(Value::Array(t)) => t.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(t)) => vec![t.clone()],
        Some(_) => return Err(bad("`targets` must be a list of target names")),
        None => base.targets.clone(),
    };
    if targets.is_empty() {
        return Err(bad("no `targets`"));
    }
    let message = match input.get("message") {
        Some(m) => serde_json::from_value::<MessageSpec>(m.clone()).map_err(|e| {
            InputError(format!(
                "message: {}",
                botgate_core::secret::redact_serde_error(&e.to_string())
            ))
        })?,
        None if input.get("notification").is_some() => base.message.clone(),
        None => return Err(bad("no `message`")),
    };
    let mut data = base.data.clone();
    merge(&mut data, input.get("data").unwrap_or(&Value::Null));
    Ok(Notification {
        targets,
        message,
        data,
        ..base
    })
}

/// Renders the message template with `data` (and `notification`, `scheduled_time`).
pub fn render(n: &Notification, scheduled_time: &str) -> Result<Message, RenderError> {
    let ctx = crate::template::context(json!({
        "data": n.data, "notification": n.name, "scheduled_time": scheduled_time,
    }));
    Templates::render_once(&n.message, "message", &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::MessageKind;
    use botgate_core::message::Mentions;

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
        let configured = BTreeMap::from([(
            "daily".to_owned(),
            Notification {
                name: "daily".into(),
                targets: vec!["ops".into()],
                message: MessageSpec {
                    kind: MessageKind::Markdown,
                    title: Some("Daily {{ data.env }}".into()),
                    text: "for {{ data.team }}".into(),
                    ..MessageSpec::default()
                },
                data: json!({"env": "staging", "team": "sre"}),
                schedule: None,
                timezone: None,
            },
        )]);
        let n = resolve(&json!({"notification": "daily", "data": {"env": "prod"}}), &configured).unwrap();
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
        let n = resolve(
            &json!({"targets": "ops", "message": "at {{ scheduled_time }}"}),
            &configured,
        )
        .unwrap();
        assert_eq!(render(&n, "T").unwrap(), Message::text("at T"));
        assert!(resolve(&json!({"notification": "nope"}), &configured).is_err());
        assert!(resolve(&json!({"message": "x"}), &configured).is_err());
        assert!(resolve(&json!([1]), &configured).is_err());
    }
}
