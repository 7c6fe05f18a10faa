//! The contract between the delivery loop and the platform modules: a call to make, how
//! answers are classified ([`SendError`]), and the helpers every platform module shares.

use serde_json::Value;
use thiserror::Error;

use super::transport::{HttpResponse, TransportError};
use crate::bot::Bot;
use crate::token::TokenError;
use botgate_core::event::{Event, Platform};
use botgate_core::message::Message;

/// Why a send failed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SendError {
    /// Worth another try after a pause.
    #[error("retryable: {reason}")]
    Retryable {
        /// What the platform said.
        reason: String,
        /// The platform's `Retry-After`, in ms.
        retry_after_ms: Option<u64>,
    },
    /// The access token was refused: refetch and try once more.
    #[error("token invalid: {0}")]
    TokenInvalid(String),
    /// Will fail the same way every time.
    #[error("permanent: {0}")]
    Permanent(String),
    /// The request went out and no answer came back: it may have been delivered.
    #[error("no answer (may have been delivered): {0}")]
    Ambiguous(String),
    /// Not attempted: the host's circuit breaker is open (it failed too often lately). Try
    /// again at `retry_at_ms`; the record is held back on the queue until then.
    #[error("held: {reason}")]
    Held {
        /// The host whose breaker is open.
        host: String,
        /// Which host, and since when.
        reason: String,
        /// When the breaker lets a call through again (Unix ms).
        retry_at_ms: i64,
    },
}

impl SendError {
    /// The class as a snake_case word (logs, metrics).
    pub fn class(&self) -> &'static str {
        match self {
            Self::Retryable { .. } => "retryable",
            Self::TokenInvalid(_) => "token_invalid",
            Self::Permanent(_) => "permanent",
            Self::Ambiguous(_) => "ambiguous",
            Self::Held { .. } => "held",
        }
    }

    /// When trying again is worth it (Unix ms), when the error knows: a held send.
    pub fn retry_at_ms(&self) -> Option<i64> {
        match self {
            Self::Held { retry_at_ms, .. } => Some(*retry_at_ms),
            _ => None,
        }
    }

    /// True for the errors a later attempt may fix (retryable, or held by a breaker).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Retryable { .. } | Self::Held { .. })
    }

    /// Whether trying again would fail the same way, or could deliver twice (ambiguous).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_) | Self::Ambiguous(_))
    }

    pub(crate) fn retryable(reason: impl Into<String>) -> Self {
        Self::Retryable {
            reason: reason.into(),
            retry_after_ms: None,
        }
    }
}

impl From<TokenError> for SendError {
    fn from(e: TokenError) -> Self {
        Self::retryable(e.to_string())
    }
}

impl From<TransportError> for SendError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Connect(_) => Self::retryable(e.to_string()),
            TransportError::NoResponse(_) => Self::Ambiguous(e.to_string()),
            TransportError::Invalid(_) => Self::Permanent(e.to_string()),
        }
    }
}

/// The codes by which a platform says it is failing, not refusing: WeChat, WeCom and
/// DingTalk `-1` ("system busy"), Feishu's internal errors.
pub(crate) const BUSY: [i64; 3] = [-1, 1_000_004, 1_000_005];

/// What a transport failure says about the host: a connection that failed or an answer
/// that never came is the host's; a request that could not be built is not.
pub(crate) fn transport_health(e: &TransportError) -> super::breaker::Health {
    match e {
        TransportError::Connect(_) | TransportError::NoResponse(_) => super::breaker::Health::Down,
        TransportError::Invalid(_) => super::breaker::Health::Neither,
    }
}

/// What an answer (and how it was classified) says about the host: 5xx and the [`BUSY`]
/// codes are the host failing; 429 and other retryable codes (rate limits) are neither; any
/// other answer, refusals included, shows the host up.
pub(crate) fn health(resp: &HttpResponse, error: Option<&SendError>) -> super::breaker::Health {
    use super::breaker::Health;
    if resp.status >= 500 {
        return Health::Down;
    }
    match error {
        Some(SendError::Retryable { .. }) if resp.status == 429 => Health::Neither,
        Some(SendError::Retryable { .. }) => {
            let code = serde_json::from_str::<Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("code").or_else(|| v.get("errcode")).and_then(Value::as_i64));
            if code.is_some_and(|c| BUSY.contains(&c)) {
                Health::Down
            } else {
                Health::Neither
            }
        }
        _ => Health::Up,
    }
}

/// The generic HTTP part of classifying an answer: 429 and 5xx are retryable.
pub(crate) fn classify_status(resp: &HttpResponse) -> Option<SendError> {
    match resp.status {
        429 => Some(SendError::Retryable {
            reason: format!("HTTP 429: {}", snippet(&resp.body)),
            retry_after_ms: resp.retry_after_secs.map(|s| s.saturating_mul(1000)),
        }),
        500..=599 => Some(SendError::retryable(format!(
            "HTTP {}: {}",
            resp.status,
            snippet(&resp.body)
        ))),
        _ => None,
    }
}

/// Classifies a platform's numeric answer `code` (named `field` in the reason: `code`,
/// `errcode`): 0 is success, then token-invalid codes, retryable codes, anything else
/// permanent. Every platform module and the group bots share it.
pub(crate) fn classify_code(
    field: &str,
    code: i64,
    msg: &str,
    token_invalid: &[i64],
    retryable: &[i64],
) -> Result<(), SendError> {
    match code {
        0 => Ok(()),
        c if token_invalid.contains(&c) => Err(SendError::TokenInvalid(format!("{field} {c}: {msg}"))),
        c if retryable.contains(&c) => Err(SendError::retryable(format!("{field} {c}: {msg}"))),
        c => match allow_list_hint(field, c) {
            Some(hint) => Err(SendError::Permanent(format!("{field} {c}: {msg}; {hint}"))),
            None => Err(SendError::Permanent(format!("{field} {c}: {msg}"))),
        },
    }
}

/// What to do when a platform refuses the caller's IP address: WeChat's 40164 (the
/// Official Account's IP allow-list guards `token` and `stable_token`) and WeCom's 60020
/// (an app's trusted IPs).
pub(crate) fn allow_list_hint(field: &str, code: i64) -> Option<&'static str> {
    if field != "errcode" {
        return None;
    }
    match code {
        40164 => Some(
            "the caller's IP is not on the WeChat Official Account's IP allow-list: add botgate's egress IP \
             (the stack output EgressIp with EgressMode new-vpc; README \"A fixed egress IP\") under 设置与开发 > 基本配置 > \
             IP白名单 (Settings and Development > Basic Configuration > IP whitelist); it applies after about 5 minutes",
        ),
        60020 => Some(
            "the caller's IP is not among the WeCom app's trusted IPs: add botgate's egress IP (the stack output \
             EgressIp with EgressMode new-vpc; README \"A fixed egress IP\") under 应用管理 > the app > 企业可信IP \
             (App Management > the app > Trusted enterprise IP) in the WeCom admin console",
        ),
        _ => None,
    }
}

/// [`classify_code`] for the `{"errcode", "errmsg"}` answers of WeChat, WeCom and DingTalk.
pub(crate) fn classify_errcode(
    v: &serde_json::Value,
    token_invalid: &[i64],
    retryable: &[i64],
) -> Result<(), SendError> {
    classify_code(
        "errcode",
        v["errcode"].as_i64().unwrap_or(0),
        v["errmsg"].as_str().unwrap_or_default(),
        token_invalid,
        retryable,
    )
}

/// The start of a response body, for reasons (platform error messages, never our secrets).
pub(crate) fn snippet(body: &str) -> String {
    let mut end = body.len().min(200);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_owned()
}

/// Parses a JSON answer (429 and 5xx first become retryable errors); a body that is not JSON is a permanent failure unless the status
/// already said "retry".
pub fn json_body(resp: &HttpResponse) -> Result<Value, SendError> {
    if let Some(e) = classify_status(resp) {
        return Err(e);
    }
    serde_json::from_str(&resp.body)
        .map_err(|_| SendError::Permanent(format!("HTTP {}: not JSON: {}", resp.status, snippet(&resp.body))))
}

/// Where a message goes.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Back to where the event came from (the message, the chat, the user).
    Reply(&'a Event),
    /// A chat or user id on the bot's platform: Feishu `oc_` chat / `ou_` open id / user id
    /// / email; DingTalk `cid` open conversation id or a user id; WeChat openid; WeCom
    /// user ids (`a|b`, or `@all`).
    To(&'a str),
}

/// How one send may be repeated safely.
#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    /// A stable key for this effect (hex, at most 64 characters): Feishu's `uuid`.
    pub key: &'a str,
    /// True when this may repeat an earlier attempt that could have been delivered: WeCom
    /// then asks the platform to drop an identical message.
    pub resend: bool,
}

/// True when the platform drops a resend of the same effect, so an ambiguous attempt may
/// be retried.
pub fn platform_deduplicates(platform: Platform) -> bool {
    matches!(platform, Platform::Feishu | Platform::Wecom)
}

/// A credential the send needs, or a permanent error naming it.
pub(crate) fn required<'b>(bot: &Bot, field: &str, value: Option<&'b str>) -> Result<&'b str, SendError> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| {
        SendError::Permanent(format!(
            "bot `{}` has no `{field}`: it is needed to send on {}",
            bot.id, bot.platform
        ))
    })
}

/// The platform-specific part of a send.
pub(crate) struct Call<'a> {
    pub(crate) bot: &'a Bot,
    pub(crate) base: String,
    pub(crate) target: Target<'a>,
    pub(crate) message: &'a Message,
    pub(crate) idem: Idempotency<'a>,
    pub(crate) now_ms: i64,
    /// The hosts a DingTalk session webhook may point at.
    pub(crate) session_hosts: &'a [String],
}
