//! The decrypted payload of a Feishu callback (schema 2.0, schema 1.0, URL verification)
//! and its normalization into an [`Event`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use crate::event::{CardAction, Event, EventKind, Media, MessageType, Platform};
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

/// The `event` object. Fields whose shape differs between event types (an operator is a
/// pair of ids on a card action, `{operator_id: ids}` on a menu click; `user_id` a string
/// or an object) are read as JSON values, so no event type's shape can make another's fail.
#[derive(Deserialize, Default)]
struct EventBody<'a> {
    // schema 2.0 messages
    #[serde(default)]
    sender: Option<Sender>,
    #[serde(default)]
    message: Option<MessageBody>,
    // card.action.trigger, application.bot.menu_v6, p2p_chat_create
    #[serde(default)]
    operator: Option<Value>,
    #[serde(default)]
    action: Option<Value>,
    #[serde(default)]
    context: Option<CardContext>,
    #[serde(default, borrow)]
    token: Option<Cow<'a, str>>,
    // im.chat.member.*, im.message.reaction.*, application.bot.menu_v6, p2p_chat_create
    #[serde(default)]
    chat_id: Option<String>,
    #[serde(default)]
    operator_id: Option<Value>,
    #[serde(default)]
    users: Option<Vec<Value>>,
    #[serde(default)]
    user: Option<Value>,
    #[serde(default)]
    user_id: Option<Value>,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    reaction_type: Option<Value>,
    #[serde(default)]
    event_key: Option<String>,
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

/// A user's id from any of Feishu's shapes: a string, `{open_id, user_id, union_id}`, or
/// an object holding one of those under `operator_id`/`user_id`. The open id first.
fn user_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(m) => ["open_id", "user_id", "union_id"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
            .map(str::to_owned)
            .or_else(|| {
                ["operator_id", "user_id"]
                    .iter()
                    .find_map(|k| m.get(*k).and_then(user_of))
            }),
        _ => None,
    }
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

/// The normalized kind of a Feishu event type (schema 2.0 `header.event_type` or schema
/// 1.0 `event.type`).
fn kind_of(event_type: &str) -> EventKind {
    match event_type {
        "im.message.receive_v1" | "message" => EventKind::Message,
        "card.action.trigger" => EventKind::CardAction,
        "im.chat.member.user.added_v1" => EventKind::MemberAdded,
        "im.chat.member.user.deleted_v1" | "im.chat.member.user.withdrawn_v1" => EventKind::MemberRemoved,
        "im.chat.member.bot.added_v1" => EventKind::BotAdded,
        "im.message.reaction.created_v1" => EventKind::Reaction,
        "p2p_chat_create" => EventKind::ChatCreated,
        "application.bot.menu_v6" => EventKind::MenuClick,
        _ => EventKind::Unknown,
    }
}

/// A card action's `action` object: its value (botgate's buttons carry `name`), the option
/// chosen in a select, and a form's values.
fn card_action(action: &Value) -> CardAction {
    let mut a = CardAction::from_value(action.get("value").cloned().unwrap_or(Value::Null));
    a.option = action.get("option").and_then(Value::as_str).map(str::to_owned);
    if let Some(options) = action.get("options").and_then(Value::as_array) {
        let chosen: Vec<String> = options.iter().filter_map(Value::as_str).map(str::to_owned).collect();
        if a.option.is_none() {
            a.option = chosen.first().cloned();
        }
        a.selected.insert("options".into(), chosen);
    }
    if let Some(form) = action.get("form_value").and_then(Value::as_object) {
        for (k, v) in form {
            let values = match v {
                Value::Array(items) => items.iter().map(scalar).collect(),
                other => vec![scalar(other)],
            };
            a.selected.insert(k.clone(), values);
        }
    }
    a
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The attachment of an image, file, audio or video message (`content` JSON).
pub(super) fn content_media(message_type: &str, content: &str) -> Option<Media> {
    if !matches!(message_type, "image" | "file" | "audio" | "media" | "sticker") {
        return None;
    }
    let v: Value = serde_json::from_str(content).ok()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Media {
        id: s("file_key").or_else(|| s("image_key")),
        url: None,
        name: s("file_name"),
        format: None,
    })
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
        let kind = kind_of(&event_type);
        let mut ev = Event::new(Platform::Feishu, event_id, event_type, kind, String::new());
        ev.time_ms = parse_ms(header.create_time.as_deref());
        ev.reply.app_id = header.app_id;
        ev.reply.tenant_key = header.tenant_key;
        if let Some(msg) = body.message {
            let mt = msg.message_type.unwrap_or_default();
            ev.text = msg.content.as_deref().and_then(|c| content_text(&mt, c));
            ev.media = msg.content.as_deref().and_then(|c| content_media(&mt, c));
            ev.message_type = Some(MessageType::from_platform(&mt));
            ev.chat_id = msg.chat_id;
            ev.chat_type = msg.chat_type;
            ev.reply.message_id = msg.message_id;
        }
        if let Some(ids) = body.sender.and_then(|s| s.sender_id) {
            ev.sender_id = ids.open_id.or(ids.user_id);
        }
        match kind {
            EventKind::CardAction => {
                ev.sender_id = body.operator.as_ref().and_then(user_of);
                if let Some(ctx) = body.context {
                    ev.chat_id = ctx.open_chat_id;
                    ev.reply.message_id = ctx.open_message_id;
                }
                ev.key = body.action.as_ref().and_then(|a| a.get("value")).map(Value::to_string);
                ev.action = body.action.as_ref().map(card_action);
            }
            EventKind::MemberAdded | EventKind::MemberRemoved | EventKind::BotAdded => {
                ev.chat_id = body.chat_id;
                ev.chat_type = Some("group".into());
                ev.sender_id = body.operator_id.as_ref().and_then(user_of);
                ev.members = body.users.iter().flatten().filter_map(user_of).collect();
            }
            EventKind::Reaction => {
                ev.sender_id = body.user_id.as_ref().and_then(user_of);
                ev.reply.message_id = body.message_id;
                ev.key = body
                    .reaction_type
                    .as_ref()
                    .and_then(|r| r.get("emoji_type"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            EventKind::MenuClick => {
                ev.sender_id = body.operator.as_ref().and_then(user_of);
                ev.chat_type = Some("p2p".into());
                ev.key = body.event_key;
            }
            _ => {}
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
        let kind = kind_of(&event_type);
        let mut ev = Event::new(Platform::Feishu, event_id, event_type, kind, String::new());
        ev.time_ms = parse_ms(payload.ts.as_deref().map(|t| t.split('.').next().unwrap_or(t)));
        match kind {
            EventKind::Message => {
                ev.message_type = body.msg_type.as_deref().map(MessageType::from_platform);
                ev.text = body.text_without_at_bot.or(body.text);
                ev.chat_id = body.open_chat_id;
                ev.chat_type = body.chat_type.map(|c| if c == "private" { "p2p".into() } else { c });
                ev.sender_id = body.open_id;
                ev.reply.message_id = body.open_message_id;
            }
            EventKind::ChatCreated => {
                // The user who opened the chat; `operator` is the same user.
                ev.sender_id = body
                    .user
                    .as_ref()
                    .and_then(user_of)
                    .or_else(|| body.operator.as_ref().and_then(user_of));
                ev.chat_id = body.chat_id;
                ev.chat_type = Some("p2p".into());
            }
            _ => {}
        }
        return Ok(ev);
    }
    Err(Rejection::Malformed(
        "payload is neither a schema 2.0 nor a 1.0 event nor a url_verification".into(),
    ))
}
