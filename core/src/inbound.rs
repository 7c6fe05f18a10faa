//! The inbound contract every platform module implements: an HTTP request in, exactly one
//! of a URL-verification answer, a verified event with its answer, or a typed rejection out.
//!
//! [`Rejection::status`] is the one place that maps rejections to HTTP statuses. The
//! platform modules implement this contract; [`crate::platform::Verifier`] dispatches over them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::event::Event;

/// The largest body accepted by default (256 KiB); real callbacks are a few KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// The widest timestamp window that can be configured: one hour. A request older than this
/// is always stale, whatever the configuration says.
pub const MAX_WINDOW_SECS: u64 = 3600;

/// An HTTP request as the platform sent it, borrowed from whatever server received it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header names and values; names are matched case-insensitively.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The raw body bytes (signatures are computed over these).
    pub body: &'a [u8],
}

impl Request<'_> {
    /// The first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The query string decoded into pairs.
    pub fn query(&self) -> Query<'_> {
        Query(form_urlencoded::parse(self.query.as_bytes()).collect())
    }
}

/// A decoded query string.
#[derive(Debug, Clone, Default)]
pub struct Query<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl Query<'_> {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// The first value of `name`, or a `Malformed` rejection naming it.
    pub fn require(&self, name: &str) -> Result<&str, Rejection> {
        self.get(name)
            .ok_or_else(|| Rejection::Malformed(format!("missing query parameter {name}")))
    }
}

/// An owned request in the shape of the test vectors' cases: `{"method","query","headers","body"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The raw query string, without `?`.
    #[serde(default)]
    pub query: String,
    /// Header names and values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    #[serde(default)]
    pub body: String,
}

impl OwnedRequest {
    /// Borrows it as a [`Request`].
    pub fn as_request(&self) -> Request<'_> {
        Request {
            method: &self.method,
            query: &self.query,
            headers: self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            body: self.body.as_bytes(),
        }
    }
}

/// What the gateway answers the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: String,
    /// Body text.
    pub body: String,
}

impl Response {
    /// 200 with a JSON body.
    pub fn json(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            content_type: "application/json".into(),
            body: body.into(),
        }
    }

    /// 200 with a plain-text body.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            content_type: "text/plain; charset=utf-8".into(),
            body: body.into(),
        }
    }
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A URL verification (challenge, echo, `check_url`): answer it, nothing else to do.
    Verification(Response),
    /// A real event, with the answer the platform expects.
    Event {
        /// The normalized event.
        event: Box<Event>,
        /// The answer to send the platform once the event is safely stored.
        response: Response,
        /// Set when the request's signature does not cover its body (DingTalk's chat bot
        /// signs only the timestamp): the same signature must not be accepted for another
        /// event while it is fresh. The caller remembers it (see [`ReplayGuard`]).
        replay_guard: Option<ReplayGuard>,
    },
}

/// A signature that authenticates a request without covering its body, so a captured one
/// could carry a forged body. Whoever stores events remembers `key` for `window_secs` and
/// refuses it for any other event id: the signature then proves one event, not any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayGuard {
    /// Identifies the signature (a digest of the signed timestamp and the signature).
    pub key: String,
    /// How long the signature is accepted (its timestamp window), in seconds.
    pub window_secs: u64,
}

impl Accepted {
    /// The answer to send the platform.
    pub fn response(&self) -> &Response {
        match self {
            Self::Verification(r) | Self::Event { response: r, .. } => r,
        }
    }
}

/// Why a request was refused. Details never include secrets or decrypted content.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The signature is missing or does not match.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The signed timestamp is outside the accepted window (a replay, or a skewed clock).
    #[error("stale timestamp: {0}")]
    StaleTimestamp(String),
    /// The verification token in the payload is not the configured one.
    #[error("wrong token: {0}")]
    WrongToken(String),
    /// The decrypted message was sealed for another app or corp.
    #[error("wrong receive id: {0}")]
    WrongReceiveId(String),
    /// The ciphertext could not be decrypted (bad base64, wrong key, bad padding).
    #[error("undecryptable: {0}")]
    Undecryptable(String),
    /// The body or query is not what the platform sends.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The body is larger than the configured limit.
    #[error("too large: body is {size} bytes, limit {limit}")]
    TooLarge {
        /// Body size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The HTTP method is not one the platform uses for this callback.
    #[error("unsupported method {0}")]
    UnsupportedMethod(String),
    /// A signature that does not cover the body was already used for another event.
    #[error("replayed signature: {0}")]
    Replayed(String),
}

impl Rejection {
    /// A stable snake_case name for logs, metrics and `--json` output.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadSignature(_) => "bad_signature",
            Self::StaleTimestamp(_) => "stale_timestamp",
            Self::WrongToken(_) => "wrong_token",
            Self::WrongReceiveId(_) => "wrong_receive_id",
            Self::Undecryptable(_) => "undecryptable",
            Self::Malformed(_) => "malformed",
            Self::TooLarge { .. } => "too_large",
            Self::UnsupportedMethod(_) => "unsupported_method",
            Self::Replayed(_) => "replayed_signature",
        }
    }

    /// The HTTP status for this rejection: authentication failures (a replayed signature
    /// included) 401, undecryptable or
    /// unparseable 400, oversized 413, wrong method 405.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadSignature(_)
            | Self::StaleTimestamp(_)
            | Self::WrongToken(_)
            | Self::WrongReceiveId(_)
            | Self::Replayed(_) => 401,
            Self::Undecryptable(_) | Self::Malformed(_) => 400,
            Self::TooLarge { .. } => 413,
            Self::UnsupportedMethod(_) => 405,
        }
    }

    /// The short body sent to the platform: the reason, never the detail.
    pub fn response(&self) -> Response {
        Response {
            status: self.status(),
            content_type: "text/plain; charset=utf-8".into(),
            body: self.reason().to_owned(),
        }
    }
}

impl From<crate::crypto::CipherError> for Rejection {
    fn from(e: crate::crypto::CipherError) -> Self {
        match e {
            crate::crypto::CipherError::ReceiveId => Self::WrongReceiveId(e.to_string()),
            other => Self::Undecryptable(other.to_string()),
        }
    }
}

impl From<crate::xml::XmlError> for Rejection {
    fn from(e: crate::xml::XmlError) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// Per-bot options for inbound checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Accepted distance between the signed timestamp and now, in seconds. `None` uses the
    /// platform's default; values above [`MAX_WINDOW_SECS`] are capped.
    pub timestamp_window_secs: Option<u64>,
    /// The largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Feishu `card.action.trigger`: the synchronous answer (`{"toast":..,"card":..}`);
    /// `None` answers `{}`.
    pub card_answer: Option<serde_json::Value>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timestamp_window_secs: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            card_answer: None,
        }
    }
}

impl Options {
    /// The window to apply, given the platform's default.
    pub fn window(&self, default_secs: u64) -> u64 {
        self.timestamp_window_secs.unwrap_or(default_secs).min(MAX_WINDOW_SECS)
    }

    /// Rejects bodies over the limit.
    pub fn check_size(&self, body: &[u8]) -> Result<(), Rejection> {
        if body.len() > self.max_body_bytes {
            return Err(Rejection::TooLarge {
                size: body.len(),
                limit: self.max_body_bytes,
            });
        }
        Ok(())
    }
}

/// Checks a signed timestamp (seconds, or milliseconds when it is that large) against `now`
/// (Unix seconds), in both directions.
pub fn check_timestamp(timestamp: &str, now: i64, window_secs: u64) -> Result<(), Rejection> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::StaleTimestamp(format!("timestamp {timestamp:?} is not a number")))?;
    let secs = if ts > 100_000_000_000 { ts / 1000 } else { ts };
    let skew = now.saturating_sub(secs).unsigned_abs();
    if skew > window_secs {
        let direction = if secs < now { "old" } else { "in the future" };
        return Err(Rejection::StaleTimestamp(format!(
            "timestamp {ts} is {skew} s {direction}; the window is {window_secs} s"
        )));
    }
    Ok(())
}

/// Requires `method` to be one of `allowed`.
pub fn check_method(method: &str, allowed: &[&str]) -> Result<(), Rejection> {
    if allowed.iter().any(|m| m.eq_ignore_ascii_case(method)) {
        Ok(())
    } else {
        Err(Rejection::UnsupportedMethod(format!(
            "{method} (this callback takes {})",
            allowed.join(" or ")
        )))
    }
}

/// A credentials object that cannot be used. Names the field, never its value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CredentialsError {
    /// A required field is absent or empty; `needs` says which fields each mode takes.
    #[error("missing field `{field}` ({needs})")]
    Missing {
        /// The field (or the choice of fields).
        field: &'static str,
        /// What the platform's modes need, in a sentence.
        needs: &'static str,
    },
    /// A field has a value of the wrong shape.
    #[error("field `{field}` is invalid: {why}")]
    Invalid {
        /// The field name.
        field: &'static str,
        /// What is wrong with it (never the value).
        why: String,
    },
    /// The object itself is not of the expected shape.
    #[error("credentials are not a valid object: {0}")]
    Shape(String),
}

/// The kinds of sample callback that the platforms' `sample_request` functions generate
/// (each platform makes those it has; the others are refused with a message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    /// A text message.
    Message,
    /// The URL verification (Feishu challenge, WeChat/WeCom echo, DingTalk `check_url`).
    UrlVerification,
    /// A card action: Feishu `card.action.trigger`, WeCom `template_card_event` (the text
    /// is the action's name, or its value as a JSON object).
    CardAction,
    /// WeChat/WeCom `subscribe`.
    Subscribe,
    /// A menu click: WeChat/WeCom `CLICK`, Feishu `application.bot.menu_v6` (the text is the key).
    Click,
    /// DingTalk event subscription: an ordinary encrypted event (`chat_update_title`).
    Event,
    /// WeChat/WeCom `VIEW` (the text is the URL).
    View,
    /// WeChat `SCAN` (the text is the scene).
    Scan,
    /// WeChat/WeCom `LOCATION` (a reported location).
    Location,
    /// A location message (WeChat/WeCom; the text is the place's label).
    LocationMessage,
    /// An image message (WeChat, WeCom, Feishu, DingTalk `picture`).
    Image,
    /// A voice message (WeChat, WeCom; the text is the recognition).
    Voice,
    /// A video message (WeChat, WeCom).
    Video,
    /// A file message (Feishu, DingTalk; the text is the file name).
    File,
    /// A link message (WeChat, WeCom; the text is the title).
    Link,
    /// Feishu `im.chat.member.user.added_v1`.
    MemberAdded,
    /// Feishu `im.chat.member.user.deleted_v1`.
    MemberRemoved,
    /// Feishu `im.chat.member.bot.added_v1`.
    BotAdded,
    /// Feishu `im.message.reaction.created_v1` (the text is the emoji type).
    Reaction,
    /// Feishu `p2p_chat_create`.
    ChatCreated,
    /// WeCom `enter_agent`.
    EnterChat,
    /// WeCom `change_contact` (`create_user`; the text is the user's name).
    ContactChange,
    /// DingTalk rich text (the text, then a picture).
    RichText,
}

impl SampleKind {
    /// Every kind, in a stable order.
    pub const ALL: [SampleKind; 23] = [
        Self::Message,
        Self::UrlVerification,
        Self::CardAction,
        Self::Subscribe,
        Self::Click,
        Self::Event,
        Self::View,
        Self::Scan,
        Self::Location,
        Self::LocationMessage,
        Self::Image,
        Self::Voice,
        Self::Video,
        Self::File,
        Self::Link,
        Self::MemberAdded,
        Self::MemberRemoved,
        Self::BotAdded,
        Self::Reaction,
        Self::ChatCreated,
        Self::EnterChat,
        Self::ContactChange,
        Self::RichText,
    ];

    /// Its name on the command line (`card_action`, `member_added`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::UrlVerification => "url_verification",
            Self::CardAction => "card_action",
            Self::Subscribe => "subscribe",
            Self::Click => "click",
            Self::Event => "event",
            Self::View => "view",
            Self::Scan => "scan",
            Self::Location => "location",
            Self::LocationMessage => "location_message",
            Self::Image => "image",
            Self::Voice => "voice",
            Self::Video => "video",
            Self::File => "file",
            Self::Link => "link",
            Self::MemberAdded => "member_added",
            Self::MemberRemoved => "member_removed",
            Self::BotAdded => "bot_added",
            Self::Reaction => "reaction",
            Self::ChatCreated => "chat_created",
            Self::EnterChat => "enter_chat",
            Self::ContactChange => "contact_change",
            Self::RichText => "rich_text",
        }
    }

    /// The value a card action's sample carries for `text`: the JSON object itself, or
    /// `{"name": text}`.
    pub fn action_value(text: &str) -> serde_json::Value {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => serde_json::json!({ "name": text }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_window_both_ways_and_units() {
        assert!(check_timestamp("1000", 1000, 300).is_ok());
        assert!(check_timestamp("1300", 1000, 300).is_ok());
        assert!(check_timestamp("1301", 1000, 300).is_err());
        assert!(check_timestamp("699", 1000, 300).is_err());
        assert!(check_timestamp("1795440463000", 1_795_440_463, 300).is_ok());
        assert!(check_timestamp("abc", 1000, 300).is_err());
        assert!(check_timestamp("-9223372036854775808", 1000, 300).is_err());
    }

    #[test]
    fn window_is_capped_below_two_hours() {
        let o = Options {
            timestamp_window_secs: Some(100_000),
            ..Options::default()
        };
        assert_eq!(o.window(300), MAX_WINDOW_SECS);
        assert!(check_timestamp("0", 7200, o.window(300)).is_err());
    }

    #[test]
    fn statuses() {
        assert_eq!(Rejection::BadSignature(String::new()).status(), 401);
        assert_eq!(Rejection::Malformed(String::new()).status(), 400);
        assert_eq!(Rejection::TooLarge { size: 2, limit: 1 }.status(), 413);
        assert_eq!(Rejection::UnsupportedMethod("PUT".into()).status(), 405);
    }
}
