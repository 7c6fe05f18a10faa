//! The notify API on the callback's HTTP API: `POST /notify/{target}` with a message,
//! `POST /alertmanager/{target}` with Alertmanager's webhook payload (version 4), and
//! `POST /grafana/{target}` with Grafana Alerting's (version 1). All are
//! authenticated (a bearer key, or an HMAC signature with a timestamp: the scheme of
//! forwards), answered 202 at once, and go through the events queue to the dispatcher,
//! which sends them like everything else (rate limits, size limits, retries, effects).
//!
//! Configuration (`notify_api:`): `bearer_token`, `hmac_secret` (either or both),
//! `timestamp_window_secs` (300), `utc_offset` for the times shown (`+08:00`),
//! `mention_all` (severities that @all, default `[critical]`),
//! `alertmanager_retry_window_secs` (600).
//!
//! What counts as one message ([`fold`]): every accepted request is its own message,
//! except
//! - requests with the same `Idempotency-Key` header (or `"id"` in a notify body) for the
//!   same target within 24 h: one message, and every repeat is answered as the first was;
//! - a signed request delivered again (same timestamp, same body): its signature is only
//!   accepted within the timestamp window, and it is folded for twice that window;
//! - an Alertmanager (or Grafana) webhook retried after a failure (byte-identical body
//!   within `alertmanager_retry_window_secs`); a `repeat_interval` reminder comes later and
//!   is sent again.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::queue::{OutgoingMessage, QueueError, fifo_id};
use crate::template::{MessageSpec, Templates};
use botgate_core::inbound::{Rejection, Request};
use botgate_core::message::{Button, Mentions, Message};
use botgate_core::secret::Secret;

/// `notify_api:` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// `Authorization: Bearer <token>` accepted when set.
    pub bearer_token: Option<Secret>,
    /// `X-Botgate-Timestamp` + `X-Botgate-Signature` accepted when set.
    pub hmac_secret: Option<Secret>,
    /// Accepted clock skew of signed requests, seconds.
    pub timestamp_window_secs: i64,
    /// The offset times are shown in.
    pub utc_offset: time::UtcOffset,
    /// Alert severities that mention everyone.
    pub mention_all: Vec<String>,
    /// Callers may send minijinja templates (`{"message": {...}, "data": {...}}`); off, a
    /// message's title and text are sent as written.
    pub allow_templates: bool,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// An Alertmanager webhook with the same body within this many seconds is a retry
    /// (sent once); later, it is a `repeat_interval` reminder (sent again).
    pub alertmanager_retry_window_secs: i64,
}

/// The default of `alertmanager_retry_window_secs`: ten minutes. Alertmanager retries a
/// failed webhook within one flush (bounded by `group_interval`, default 5 min) and again at
/// the next flush, one `group_interval` later; a reminder comes `repeat_interval` (default
/// 4 h) after a success. Ten minutes covers the retries at the default `group_interval`
/// and stays far below any sensible `repeat_interval`.
pub const DEFAULT_ALERTMANAGER_RETRY_WINDOW_SECS: i64 = 600;
/// How long an `Idempotency-Key` holds: 24 hours.
pub const IDEMPOTENCY_KEY_SECS: i64 = 86_400;
/// The longest `Idempotency-Key` (or body `"id"`), in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// How a request proved who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A bearer token.
    Bearer,
    /// A signature over this timestamp (seconds) and the body.
    Signed(i64),
}

/// The notify API's default body limit: Alertmanager groups of hundreds of alerts fit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl ApiSettings {
    /// Checks the request's credentials: a matching bearer token, or a fresh valid signature.
    pub fn authenticate(&self, req: &Request<'_>, now_secs: i64) -> Result<Auth, Rejection> {
        if let (Some(want), Some(auth)) = (&self.bearer_token, req.header("authorization")) {
            let given = bearer(auth).unwrap_or_default();
            return if botgate_core::crypto::ct_eq(given.as_bytes(), want.expose().as_bytes()) {
                Ok(Auth::Bearer)
            } else {
                Err(Rejection::WrongToken(
                    "the bearer token does not match notify_api.bearer_token".into(),
                ))
            };
        }
        let Some(secret) = &self.hmac_secret else {
            return Err(Rejection::WrongToken(
                "missing Authorization: Bearer <notify_api.bearer_token>".into(),
            ));
        };
        let (Some(ts), Some(sig)) = (req.header("x-botgate-timestamp"), req.header("x-botgate-signature")) else {
            return Err(Rejection::BadSignature(
                "missing X-Botgate-Timestamp / X-Botgate-Signature (or a bearer token)".into(),
            ));
        };
        let ts_n: i64 = ts
            .parse()
            .map_err(|_| Rejection::BadSignature("X-Botgate-Timestamp is not a number of seconds".into()))?;
        let skew = now_secs.abs_diff(ts_n);
        if skew > self.timestamp_window_secs.unsigned_abs() {
            return Err(Rejection::StaleTimestamp(format!(
                "X-Botgate-Timestamp is {skew} s from now; the window is {} s",
                self.timestamp_window_secs
            )));
        }
        let want = crate::delivery::forward::signature_bytes(secret.expose(), ts_n, req.body);
        if botgate_core::crypto::ct_eq(want.as_bytes(), sig.as_bytes()) {
            Ok(Auth::Signed(ts_n))
        } else {
            Err(Rejection::BadSignature(
                "X-Botgate-Signature is not v1=hex(HMAC-SHA256(secret, timestamp + \".\" + body))".into(),
            ))
        }
    }
}

/// What makes requests one message: the store key they share and how long it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// The dedup store key (`notify-key#..`, `notify-signed#..`, `alertmanager#..`).
    pub key: String,
    /// How long it holds, seconds.
    pub window_secs: i64,
}

impl Fold {
    /// The message id of the request that first claimed the key at `claimed_at_ms`: the
    /// same for every repeat, new after the window.
    pub fn id(&self, claimed_at_ms: i64) -> String {
        let at = claimed_at_ms.to_string();
        hex::encode(&botgate_core::crypto::sha256(&[self.key.as_bytes(), b"#", at.as_bytes()])[..16])
    }
}

fn digest(parts: &[&[u8]]) -> String {
    hex::encode(&botgate_core::crypto::sha256(parts)[..16])
}

/// What makes this request the same message as another (see the module documentation):
/// `None` when it is its own message.
pub fn fold(
    source: &str,
    target: &str,
    req: &Request<'_>,
    body_id: Option<&str>,
    auth: Auth,
    settings: &ApiSettings,
) -> Result<Option<Fold>, Rejection> {
    let key = match (req.header("idempotency-key"), body_id) {
        (Some(h), Some(b)) if h != b => {
            return Err(malformed("the Idempotency-Key header and the body's \"id\" differ"));
        }
        (Some(k), _) | (None, Some(k)) => Some(k),
        (None, None) => None,
    };
    if let Some(k) = key {
        if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY_BYTES || k.chars().any(char::is_control) {
            return Err(malformed(format!(
                "an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes without control characters"
            )));
        }
        return Ok(Some(Fold {
            key: format!(
                "notify-key#{target}#{}",
                digest(&[source.as_bytes(), b"#", k.as_bytes()])
            ),
            window_secs: IDEMPOTENCY_KEY_SECS,
        }));
    }
    if source == "alertmanager" || source == "grafana" {
        // Grafana's notifier is an Alertmanager: the same retries and repeat_interval.
        return Ok(Some(Fold {
            key: format!("{source}#{target}#{}", digest(&[req.body])),
            window_secs: settings.alertmanager_retry_window_secs,
        }));
    }
    Ok(match auth {
        Auth::Signed(ts) => Some(Fold {
            key: format!(
                "notify-signed#{target}#{}",
                digest(&[ts.to_string().as_bytes(), b".", req.body])
            ),
            // The signature is accepted while its timestamp is within the window either side
            // of now: any redelivery of it falls inside twice the window.
            window_secs: settings.timestamp_window_secs.saturating_mul(2),
        }),
        Auth::Bearer => None,
    })
}

/// What the dispatcher receives for a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyJob {
    /// The target's name.
    pub target: String,
    /// The message (rendered).
    pub message: Message,
    /// The message's id: new for every message, the same for the requests [`fold`] makes one.
    pub id: String,
    /// `notify` or `alertmanager`.
    pub source: String,
    /// The fold key, when requests share one: the queue deduplicates on it (so an attempt
    /// that took over a dead one's claim does not queue the message twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<String>,
}

impl NotifyJob {
    /// The queue message: its own FIFO group per target, deduplicated on the id.
    pub fn outgoing(&self, now_ms: i64) -> Result<OutgoingMessage, QueueError> {
        let body = json!({"v": 1, "received_at_ms": now_ms, "notify": self}).to_string();
        Ok(OutgoingMessage {
            body,
            group_id: fifo_id(&format!("notify#{}", self.target)),
            dedup_id: fifo_id(&format!(
                "notify#{}#{}",
                self.target,
                self.fold.as_deref().unwrap_or(&self.id)
            )),
            attributes: vec![
                ("kind".into(), "notify".into()),
                ("target".into(), self.target.clone()),
                ("source".into(), self.source.clone()),
            ],
        })
    }
}

fn malformed(why: impl Into<String>) -> Rejection {
    Rejection::Malformed(why.into())
}

/// A parsed notify request.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    /// The message to send.
    pub message: Message,
    /// The caller's idempotency key (`"id"`), if any.
    pub id: Option<String>,
}

/// `POST /notify/{target}`: `{"text": ".."}`, or `{"message": {type, title, text, buttons,
/// color, mentions}, "data": {..}}` where title and text are minijinja templates over data;
/// either with an optional `"id"` (an idempotency key). With `templates` off, the message
/// is sent as written and `data` is refused.
pub fn parse_notify(body: &[u8], templates: bool) -> Result<Notify, Rejection> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        message: Option<MessageSpec>,
        #[serde(default)]
        data: Option<Value>,
    }
    let b: Body = serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "body is not {{\"text\": ...}} or {{\"message\": {{...}}, \"data\": {{...}}}}: {}",
            botgate_core::secret::redact_serde_error(&e.to_string())
        ))
    })?;
    let id = b.id;
    if let Some(t) = b.text {
        return Ok(Notify {
            message: Message::text(t),
            id,
        });
    }
    let spec = b
        .message
        .ok_or_else(|| malformed("expected {\"text\": ...} or {\"message\": {...}, \"data\": {...}}"))?;
    if !templates {
        if b.data.is_some() {
            return Err(malformed(
                "`data` needs templates, which are off for the notify API (notify_api.allow_templates: true turns them on)",
            ));
        }
        return Ok(Notify {
            message: spec.literal(),
            id,
        });
    }
    let ctx = crate::template::context(json!({"data": b.data.unwrap_or(json!({})), "notification": "notify"}));
    let message = Templates::render_once(&spec, "message", &ctx).map_err(|e| malformed(e.to_string()))?;
    Ok(Notify { message, id })
}

/// One alert of an Alertmanager webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    status: String,
    #[serde(default)]
    labels: serde_json::Map<String, Value>,
    #[serde(default)]
    annotations: serde_json::Map<String, Value>,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    /// Grafana only: its own new-silence link for this alert.
    #[serde(default, rename = "silenceURL")]
    silence_url: String,
    /// Grafana only: the alert rule's dashboard.
    #[serde(default, rename = "dashboardURL")]
    dashboard_url: String,
}

/// Alertmanager's webhook payload, version 4 (Grafana's is the same shape, version 1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Webhook {
    version: String,
    status: String,
    #[serde(default)]
    common_labels: serde_json::Map<String, Value>,
    #[serde(default)]
    group_labels: serde_json::Map<String, Value>,
    #[serde(default)]
    common_annotations: serde_json::Map<String, Value>,
    #[serde(default, rename = "externalURL")]
    external_url: String,
    alerts: Vec<Alert>,
}

fn label<'a>(m: &'a serde_json::Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// An RFC 3339 time shown at `offset` (`2026-11-23 09:00:00 +08:00`); Alertmanager's zero
/// time (`0001-01-01T00:00:00Z`, for alerts still firing) is empty.
pub fn local_time(rfc3339: &str, offset: time::UtcOffset) -> String {
    let Ok(t) = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339) else {
        return rfc3339.to_owned();
    };
    if t.year() <= 1 {
        return String::new();
    }
    t.to_offset(offset)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
        ))
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// The colour of a group: green when resolved, else by the highest severity.
fn colour(status: &str, severities: &[&str]) -> &'static str {
    if status == "resolved" {
        return "green";
    }
    if severities.iter().any(|s| *s == "critical" || *s == "page") {
        "red"
    } else if severities.contains(&"warning") {
        "orange"
    } else {
        "blue"
    }
}

/// `POST /alertmanager/{target}`: one card for the whole group, firing alerts first, with
/// buttons for the source graph, the runbook, a silence and Alertmanager itself.
pub fn parse_alertmanager(body: &[u8], settings: &ApiSettings) -> Result<Message, Rejection> {
    card(&webhook(body, Origin::Alertmanager)?, settings, Origin::Alertmanager)
}

/// `POST /grafana/{target}`: Grafana Alerting's webhook contact point (its payload is
/// Alertmanager's, version 1, with a silence and a dashboard link per alert), rendered like
/// Alertmanager's.
pub fn parse_grafana(body: &[u8], settings: &ApiSettings) -> Result<Message, Rejection> {
    card(&webhook(body, Origin::Grafana)?, settings, Origin::Grafana)
}

fn webhook(body: &[u8], origin: Origin) -> Result<Webhook, Rejection> {
    let (what, version) = match origin {
        Origin::Alertmanager => ("an Alertmanager webhook", "4"),
        Origin::Grafana => ("a Grafana alerting webhook", "1"),
    };
    let hook: Webhook = serde_json::from_slice(body).map_err(|e| malformed(format!("not {what}: {e}")))?;
    if hook.version != version {
        return Err(malformed(format!(
            "{what} has version {:?}; expected \"{version}\"",
            hook.version
        )));
    }
    Ok(hook)
}

/// An alert webhook (`source` `alertmanager` or `grafana`) routed through `router`: for each
/// target some alert was routed to, one card with those alerts, mentioning the people the
/// routes name, or who is on call at `now_ms` (on the target's platform, from
/// `platform_of`). Empty when no route took any alert.
pub fn routed_cards(
    body: &[u8],
    source: &str,
    settings: &ApiSettings,
    routing: &crate::notify::route::AlertRouting,
    router: &[crate::notify::route::Route],
    now_ms: i64,
    platform_of: impl Fn(&str) -> Option<botgate_core::event::Platform>,
) -> Result<Vec<(String, Message)>, Rejection> {
    let origin = if source == "grafana" {
        Origin::Grafana
    } else {
        Origin::Alertmanager
    };
    let hook = webhook(body, origin)?;
    if hook.alerts.is_empty() {
        return Err(malformed("no alerts"));
    }
    let labels: Vec<&serde_json::Map<String, Value>> = hook.alerts.iter().map(|a| &a.labels).collect();
    let mut out = Vec::new();
    for (target, got) in routing.route(router, &labels, now_ms) {
        let mut sub = hook.clone();
        sub.alerts = got.alerts.iter().filter_map(|i| hook.alerts.get(*i).cloned()).collect();
        sub.status = if sub.alerts.iter().any(|a| a.status == "firing") {
            "firing".into()
        } else {
            "resolved".into()
        };
        let built_in = card(&sub, settings, origin)?;
        let mut message = match &got.template {
            None => built_in,
            Some(spec) => {
                match crate::template::Templates::render_once(spec, &target, &alert_context(&sub, settings, origin)) {
                    Ok(mut m) => {
                        // The built-in card's @all (for `mention_all` severities) carries over.
                        if let (Some(all), Some(mentions)) =
                            (message_mentions(&built_in).map(|m| m.all), mentions_mut(&mut m))
                        {
                            mentions.all |= all;
                        }
                        m
                    }
                    Err(e) => {
                        // Never lose an alert to a template: the built-in card goes instead.
                        tracing::warn!(target = %target, error = %e, "alert template failed: sending the built-in card");
                        built_in
                    }
                }
            }
        };
        if let (Some(mentions), Some(platform)) = (mentions_mut(&mut message), platform_of(&target)) {
            let people = routing.mentions(&got.people, platform);
            mentions.user_ids.extend(people.user_ids);
            mentions.mobiles.extend(people.mobiles);
        }
        out.push((target, message));
    }
    Ok(out)
}

fn message_mentions(m: &Message) -> Option<&Mentions> {
    match m {
        Message::Text { mentions, .. } | Message::Markdown { mentions, .. } | Message::Card { mentions, .. } => {
            Some(mentions)
        }
        _ => None,
    }
}

fn mentions_mut(m: &mut Message) -> Option<&mut Mentions> {
    match m {
        Message::Text { mentions, .. } | Message::Markdown { mentions, .. } | Message::Card { mentions, .. } => {
            Some(mentions)
        }
        _ => None,
    }
}

/// What a route's template sees (see `alerts.routers` in the configuration reference).
fn alert_context(hook: &Webhook, settings: &ApiSettings, origin: Origin) -> minijinja::Value {
    let alerts: Vec<Value> = hook
        .alerts
        .iter()
        .map(|a| {
            json!({
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "starts_at": local_time(&a.starts_at, settings.utc_offset),
                "ends_at": local_time(&a.ends_at, settings.utc_offset),
                "generator_url": a.generator_url,
            })
        })
        .collect();
    let firing = hook.alerts.iter().filter(|a| a.status == "firing").count();
    let silence_url = match origin {
        Origin::Grafana => hook
            .alerts
            .iter()
            .map(|a| a.silence_url.clone())
            .find(|u| !u.is_empty()),
        Origin::Alertmanager => silence_link(
            &hook.external_url,
            if hook.group_labels.is_empty() {
                &hook.common_labels
            } else {
                &hook.group_labels
            },
        ),
    };
    crate::template::context(json!({
        "status": hook.status,
        "alerts": alerts,
        "firing": firing,
        "resolved": hook.alerts.len() - firing,
        "group_labels": hook.group_labels,
        "common_labels": hook.common_labels,
        "common_annotations": hook.common_annotations,
        "external_url": hook.external_url,
        "silence_url": silence_url.unwrap_or_default(),
    }))
}

/// Which alerting system sent a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Alertmanager,
    Grafana,
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Alertmanager's new-silence form with the group's matchers filled in:
/// `<externalURL>/#/silences/new?filter={alertname="X",job="y"}` (URL-encoded).
pub fn silence_link(external_url: &str, matchers: &serde_json::Map<String, Value>) -> Option<String> {
    let base = external_url.trim_end_matches('/');
    if matchers.is_empty() || !(base.starts_with("https://") || base.starts_with("http://")) {
        return None;
    }
    let filter = matchers
        .iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_default()
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(",");
    Some(format!(
        "{base}/#/silences/new?filter={}",
        percent_encode(&format!("{{{filter}}}"))
    ))
}

fn card(hook: &Webhook, settings: &ApiSettings, origin: Origin) -> Result<Message, Rejection> {
    if hook.alerts.is_empty() {
        return Err(malformed("no alerts"));
    }
    let firing: Vec<&Alert> = hook.alerts.iter().filter(|a| a.status == "firing").collect();
    let resolved: Vec<&Alert> = hook.alerts.iter().filter(|a| a.status != "firing").collect();
    let severities: Vec<&str> = firing.iter().map(|a| label(&a.labels, "severity")).collect();
    // The common alert name, else the labels the group is grouped by.
    let name = match label(&hook.common_labels, "alertname") {
        "" if !hook.group_labels.is_empty() => hook
            .group_labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", "),
        "" => hook
            .alerts
            .first()
            .map_or("", |a| label(&a.labels, "alertname"))
            .to_owned(),
        n => n.to_owned(),
    };
    let title = if firing.is_empty() {
        format!("[RESOLVED] {name}")
    } else {
        format!("[FIRING:{}] {name}", firing.len())
    };
    let mut text = String::new();
    for (heading, list) in [("Firing", &firing), ("Resolved", &resolved)] {
        if list.is_empty() {
            continue;
        }
        if !firing.is_empty() && !resolved.is_empty() {
            text.push_str(&format!("**{heading}**\n"));
        }
        for a in list.iter() {
            let sev = label(&a.labels, "severity");
            let what = [label(&a.annotations, "summary"), label(&a.annotations, "description")]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or(label(&a.labels, "alertname"));
            let whom = ["instance", "pod", "service", "job"]
                .iter()
                .map(|k| label(&a.labels, k))
                .find(|s| !s.is_empty())
                .unwrap_or_default();
            text.push_str(&format!("- **{}**", label(&a.labels, "alertname")));
            if !sev.is_empty() {
                text.push_str(&format!(" [{sev}]"));
            }
            if !whom.is_empty() {
                text.push_str(&format!(" {whom}"));
            }
            text.push_str(&format!(": {what}\n"));
            let start = local_time(&a.starts_at, settings.utc_offset);
            let end = local_time(&a.ends_at, settings.utc_offset);
            if a.status == "firing" {
                text.push_str(&format!("  since {start}\n"));
            } else {
                text.push_str(&format!("  {start} to {end}\n"));
            }
        }
    }
    let mut buttons = Vec::new();
    let link = |text: &str, url: &str| Button {
        text: text.into(),
        url: url.to_owned(),
    };
    let first_firing = firing.first().copied().or(hook.alerts.first());
    if let Some(a) = first_firing.filter(|a| !a.generator_url.is_empty()) {
        buttons.push(link("Source", &a.generator_url));
    }
    if let Some(a) = first_firing.filter(|a| !a.dashboard_url.is_empty()) {
        buttons.push(link("Dashboard", &a.dashboard_url));
    }
    // The runbook: the Prometheus convention `runbook_url` (or `runbook`), common or per alert.
    let runbook = ["runbook_url", "runbook"].iter().find_map(|k| {
        Some(label(&hook.common_annotations, k))
            .filter(|u| !u.is_empty())
            .or_else(|| firing.iter().map(|a| label(&a.annotations, k)).find(|u| !u.is_empty()))
    });
    if let Some(url) = runbook {
        buttons.push(link("Runbook", url));
    }
    if !firing.is_empty() {
        let silence = match origin {
            Origin::Grafana => firing.iter().map(|a| a.silence_url.clone()).find(|u| !u.is_empty()),
            Origin::Alertmanager => {
                let matchers = if hook.group_labels.is_empty() {
                    &hook.common_labels
                } else {
                    &hook.group_labels
                };
                silence_link(&hook.external_url, matchers)
            }
        };
        if let Some(url) = silence {
            buttons.push(link("Silence", &url));
        }
    }
    if !hook.external_url.is_empty() {
        let name = match origin {
            Origin::Alertmanager => "Alertmanager",
            Origin::Grafana => "Grafana",
        };
        buttons.push(link(name, &hook.external_url));
    }
    let mentions = Mentions {
        all: hook.status == "firing" && severities.iter().any(|s| settings.mention_all.iter().any(|m| m == s)),
        ..Mentions::default()
    };
    Ok(Message::Card {
        title,
        text: text.trim_end().to_owned(),
        buttons,
        color: Some(colour(&hook.status, &severities).to_owned()),
        mentions,
    })
}
