//! The decrypted payload of a Feishu callback (schema 2.0, schema 1.0, URL verification)
//! and its normalization into an [`Event`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use crate::event::{Event, EventKind, MessageType, Platform};
use crate::inbound::Rejection;

/// The `encrypt` field of the body, if it has one. Feishu sends exactly
/// `{"encrypt":"<base64>"}`: that shape is sliced out directly, without a JSON pass over
/// the ciphertext (base64 has no escapes, and the decoder refuses any quote or backslash);
/// any other shape goes through the JSON parser.
pub(super) fn encrypted_field(body: &[u8]) -> Result<Option<Cow<'_, [u8]>>, Rejection> {
    let trimmed = body.trim_ascii();
    for prefix in [br#"{"encrypt":""#.as_slice(), br#"{"encrypt": ""#.as_slice()] {
        if let Some(inner) = trimmed.strip_prefix(prefix).and_then(|t| t.strip_suffix(br#""}"#)) {
            return Ok(Some(Cow::Borrowed(inner)));
        }
    }
    let outer: Outer<'_> =
        serde_json::from_slice(body).map_err(|e| Rejection::Malformed(format!("body is not a JSON object: {e}")))?;
    Ok(outer.encrypt.map(|e| match e {
        Cow::Borrowed(b) => Cow::Borrowed(b.as_bytes()),
        Cow::Owned(o) => Cow::Owned(o.into_bytes()),
    }))
}

#[derive(Deserialize)]
struct Outer<'a> {
    #[serde(borrow, default)]
    encrypt: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
pub(super) struct Payload<'a> {
    #[serde(default, rename = "type", borrow)]
    pub(super) kind: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) challenge: Option<String>,
    #[serde(default, borrow)]
    pub(super) token: Option<Cow<'a, str>>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default, borrow)]
    ts: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    header: Option<Header<'a>>,
    #[serde(default, borrow)]
    event: Option<EventBody<'a>>,
}

#[derive(Deserialize, Default)]
struct Header<'a> {
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default, borrow)]
    create_time: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    token: Option<Cow<'a, str>>,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    tenant_key: Option<String>,
}

#[derive(Deserialize, Default)]
struct Ids {
    #[serde(default)]
    open_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize, Default)]
struct Sender {
    #[serde(default)]
    sender_id: Option<Ids>,
}

#[derive(Deserialize, Default)]
struct MessageBody {
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    chat_id: Option<String>,
    #[serde(default)]
    chat_type: Option<String>,
    #[serde(default)]
    message_type: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize, Default)]
struct CardContext {
    #[serde(default)]
    open_message_id: Option<String>,
    #[serde(default)]
    open_chat_id: Option<String>,
}

#[derive(Deserialize, Default)]
struct EventBody<'a> {
    // schema 2.0 messages
    #[serde(default)]
    sender: Option<Sender>,
    #[serde(default)]
    message: Option<MessageBody>,
    // schema 2.0 card.action.trigger
    #[serde(default)]
    operator: Option<Ids>,
    #[serde(default)]
    action: Option<Value>,
    #[serde(default)]
    context: Option<CardContext>,
    #[serde(default, borrow)]
    token: Option<Cow<'a, str>>,
    // schema 1.0
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    msg_type: Option<String>,
    #[serde(default)]
    text_without_at_bot: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    open_id: Option<String>,
    #[serde(default)]
    open_chat_id: Option<String>,
    #[serde(default)]
    chat_type: Option<String>,
    #[serde(default)]
    open_message_id: Option<String>,
}

impl Payload<'_> {
    /// True for a schema 2.0 payload (it has a `header`).
    pub(super) fn has_header(&self) -> bool {
        self.header.is_some()
    }
}

fn parse_ms(s: Option<&str>) -> Option<i64> {
    let v: i64 = s?.trim().parse().ok()?;
    Some(if v < 100_000_000_000 { v.saturating_mul(1000) } else { v })
}

/// The plain text of a Feishu message `content` JSON: `text` for text, the joined `text`
/// tags of the first locale for `post`.
pub(super) fn content_text(message_type: &str, content: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct TextContent {
        text: String,
    }
    if message_type == "text" {
        return serde_json::from_str::<TextContent>(content).ok().map(|c| c.text);
    }
    let v: Value = serde_json::from_str(content).ok()?;
    match message_type {
        "post" => {
            let post = if v.get("content").is_some() {
                &v
            } else {
                v.as_object()?.values().next()?
            };
            let mut out = String::new();
            if let Some(title) = post.get("title").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                out.push_str(title);
                out.push('\n');
            }
            for (i, line) in post.get("content")?.as_array()?.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                for el in line.as_array().into_iter().flatten() {
                    if let Some(t) = el.get("text").and_then(Value::as_str) {
                        out.push_str(t);
                    }
                }
            }
            Some(out)
        }
        _ => None,
    }
}

pub(super) fn normalize(
    payload: Payload<'_>,
    check_token: impl Fn(Option<&str>) -> Result<(), Rejection>,
) -> Result<Event, Rejection> {
    if let Some(header) = payload.header {
        // schema 2.0
        let body = payload.event.unwrap_or_default();
        check_token(header.token.as_deref().or(body.token.as_deref()))?;
        let event_id = header
            .event_id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Rejection::Malformed("schema 2.0 event without header.event_id".into()))?;
        let event_type = header.event_type.unwrap_or_default();
        let kind = match event_type.as_str() {
            "im.message.receive_v1" => EventKind::Message,
            "card.action.trigger" => EventKind::CardAction,
            _ => EventKind::Unknown,
        };
        let mut ev = Event::new(Platform::Feishu, event_id, event_type, kind, String::new());
        ev.time_ms = parse_ms(header.create_time.as_deref());
        ev.reply.app_id = header.app_id;
        ev.reply.tenant_key = header.tenant_key;
        if let Some(msg) = body.message {
            let mt = msg.message_type.unwrap_or_default();
            ev.text = msg.content.as_deref().and_then(|c| content_text(&mt, c));
            ev.message_type = Some(MessageType::from_platform(&mt));
            ev.chat_id = msg.chat_id;
            ev.chat_type = msg.chat_type;
            ev.reply.message_id = msg.message_id;
        }
        if let Some(ids) = body.sender.and_then(|s| s.sender_id) {
            ev.sender_id = ids.open_id.or(ids.user_id);
        }
        if kind == EventKind::CardAction {
            if let Some(op) = body.operator {
                ev.sender_id = op.open_id.or(op.user_id);
            }
            if let Some(ctx) = body.context {
                ev.chat_id = ctx.open_chat_id;
                ev.reply.message_id = ctx.open_message_id;
            }
            ev.key = body.action.as_ref().and_then(|a| a.get("value")).map(Value::to_string);
        }
        return Ok(ev);
    }
    if payload.kind.as_deref() == Some("event_callback") || payload.uuid.is_some() {
        // schema 1.0
        check_token(payload.token.as_deref())?;
        let event_id = payload
            .uuid
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Rejection::Malformed("schema 1.0 event without uuid".into()))?;
        let body = payload.event.unwrap_or_default();
        let event_type = body.kind.clone().unwrap_or_default();
        let kind = if event_type == "message" {
            EventKind::Message
        } else {
            EventKind::Unknown
        };
        let mut ev = Event::new(Platform::Feishu, event_id, event_type, kind, String::new());
        ev.time_ms = parse_ms(payload.ts.as_deref().map(|t| t.split('.').next().unwrap_or(t)));
        if kind == EventKind::Message {
            ev.message_type = body.msg_type.as_deref().map(MessageType::from_platform);
            ev.text = body.text_without_at_bot.or(body.text);
            ev.chat_id = body.open_chat_id;
            ev.chat_type = body.chat_type.map(|c| if c == "private" { "p2p".into() } else { c });
            ev.sender_id = body.open_id;
            ev.reply.message_id = body.open_message_id;
        }
        return Ok(ev);
    }
    Err(Rejection::Malformed(
        "payload is neither a schema 2.0 nor a 1.0 event nor a url_verification".into(),
    ))
}
