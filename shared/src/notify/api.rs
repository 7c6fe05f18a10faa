//! The notify API on the callback's HTTP API: `POST /notify/{target}` with a message,
//! `POST /alertmanager/{target}` with Alertmanager's webhook payload (version 4), and
//! `POST /grafana/{target}` with Grafana Alerting's (version 1; the payloads' cards and
//! routes are [`super::alert`]). All are
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
use botgate_core::message::Message;
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
    /// An alert's group, name, status and link (what a digest lists of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<super::digest::AlertSummary>,
    /// A digest job: what it folded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<super::digest::Digest>,
    /// The trace id of the request that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl NotifyJob {
    /// Its effect in the effect store: claimed while it is sent (or folded), done after.
    pub fn effect_key(&self) -> String {
        format!("effect#notify#{}#{}", self.target, self.id)
    }

    /// How a digest sees it.
    pub fn folded(&self) -> super::digest::Folded<'_> {
        super::digest::Folded {
            id: &self.id,
            message: &self.message,
            alert: self.alert.as_ref(),
            digest: self.digest.as_ref(),
        }
    }

    /// `jobs` (queued for `target`, oldest first) folded into one digest job
    /// ([`super::digest::fold`]), fitted to `limit`.
    pub fn digest_of<J: std::borrow::Borrow<NotifyJob>>(
        target: &str,
        jobs: &[J],
        limit: botgate_core::limits::Limit,
    ) -> Self {
        let views: Vec<super::digest::Folded<'_>> = jobs.iter().map(|j| j.borrow().folded()).collect();
        let (digest, id, message) = super::digest::fold(target, &views, limit);
        Self {
            target: target.to_owned(),
            message,
            id,
            source: super::digest::SOURCE.to_owned(),
            fold: None,
            alert: None,
            digest: Some(digest),
            trace_id: None,
        }
    }

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
