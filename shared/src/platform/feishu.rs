//! Feishu / Lark: event subscription callbacks (schema 2.0 and 1.0, encrypted or plain,
//! `card.action.trigger`), the custom group bot signature, and message rendering.
//!
//! Checks on every request, in order: method, size, signature (when an Encrypt Key is set,
//! every event must carry a valid `X-Lark-Signature`), timestamp window, decryption with
//! PKCS#7 validated for block 16, and the verification token on every payload that carries one.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::crypto::{self, CipherError};
use crate::event::{Event, EventKind, MessageType, Platform};
use crate::inbound::{
    Accepted, CredentialsError, OwnedRequest, Rejection, Request, Response, SampleKind, check_method, check_timestamp,
};
use crate::message::{Mentions, Message};
use crate::secret::Secret;

/// Default timestamp window: 5 minutes. Feishu signs every delivery, retries included, with
/// a fresh timestamp, so only clock skew needs room; the SDKs check nothing at all.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// A Feishu app's credentials, named as in the vectors and the developer console.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Credentials {
    /// App ID (`cli_...`).
    #[serde(default)]
    pub app_id: Option<String>,
    /// App Secret (for the token API; not needed to verify callbacks).
    #[serde(default)]
    pub app_secret: Option<Secret>,
    /// Encrypt Key: enables encryption and request signatures.
    #[serde(default)]
    pub encrypt_key: Option<Secret>,
    /// Verification Token.
    #[serde(default)]
    pub verification_token: Option<Secret>,
}

/// A Feishu bot's prepared verifier.
#[derive(Clone)]
pub struct Verifier {
    encrypt_key: Option<Secret>,
    aes_key: Option<[u8; 32]>,
    token: Option<Secret>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("feishu::Verifier")
            .field("encrypted", &self.aes_key.is_some())
            .field("token", &self.token.is_some())
            .finish()
    }
}

/// The AES key Feishu derives from an Encrypt Key: SHA-256 of it.
pub fn derive_key(encrypt_key: &str) -> [u8; 32] {
    crypto::sha256(&[encrypt_key.as_bytes()])
}

/// Decrypts the `encrypt` field: base64, IV in the first 16 bytes, AES-256-CBC, PKCS#7/16.
pub fn decrypt(key: &[u8; 32], encrypt_b64: impl AsRef<[u8]>) -> Result<Vec<u8>, CipherError> {
    let mut raw = crypto::b64_decode(encrypt_b64)?;
    if raw.len() < 32 {
        return Err(CipherError::Length(raw.len().saturating_sub(16)));
    }
    let (iv, body) = raw.split_at_mut(16);
    crypto::aes256_cbc_decrypt(key, iv, body)?;
    let len = crypto::pkcs7_unpad(body, 16)?;
    raw.truncate(16 + len);
    raw.drain(..16);
    Ok(raw)
}

/// Encrypts a payload the way Feishu does (random IV first, PKCS#7/16), as base64.
pub fn encrypt(key: &[u8; 32], plaintext: &[u8]) -> String {
    let iv = crypto::random_bytes::<16>();
    let mut buf = plaintext.to_vec();
    crypto::pkcs7_pad(&mut buf, 16);
    if crypto::aes256_cbc_encrypt(key, &iv, &mut buf).is_err() {
        return String::new();
    }
    let mut out = iv.to_vec();
    out.extend_from_slice(&buf);
    crypto::b64(&out)
}

/// `X-Lark-Signature`: hex SHA-256 of `timestamp + nonce + encrypt_key + body`.
pub fn signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    hex::encode(crypto::sha256(&[
        timestamp.as_bytes(),
        nonce.as_bytes(),
        encrypt_key.as_bytes(),
        body,
    ]))
}

/// The custom group bot signature: base64(HMAC-SHA256(key = `timestamp + "\n" + secret`,
/// message = empty)), with `timestamp` in seconds. Sent in the body as `timestamp` and `sign`.
pub fn webhook_sign(secret: &str, timestamp_secs: i64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    crypto::b64(&crypto::hmac_sha256(key.as_bytes(), b""))
}

/// The `encrypt` field of the body, if it has one. Feishu sends exactly
/// `{"encrypt":"<base64>"}`: that shape is sliced out directly, without a JSON pass over
/// the ciphertext (base64 has no escapes, and the decoder refuses any quote or backslash);
/// any other shape goes through the JSON parser.
fn encrypted_field(body: &[u8]) -> Result<Option<Cow<'_, [u8]>>, Rejection> {
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
struct Payload<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default, borrow)]
    token: Option<Cow<'a, str>>,
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

impl Verifier {
    /// Prepares a verifier; needs an Encrypt Key or a Verification Token (ideally both).
    pub fn new(creds: Credentials) -> Result<Self, CredentialsError> {
        let encrypt_key = creds.encrypt_key.filter(|k| !k.is_blank());
        let token = creds.verification_token.filter(|t| !t.is_blank());
        if encrypt_key.is_none() && token.is_none() {
            return Err(CredentialsError::Missing("encrypt_key or verification_token"));
        }
        let aes_key = encrypt_key.as_ref().map(|k| derive_key(k.expose()));
        Ok(Self {
            encrypt_key,
            aes_key,
            token,
        })
    }

    /// Verifies and normalizes one callback.
    pub fn verify(&self, req: &Request<'_>, now: i64, opts: &crate::inbound::Options) -> Result<Accepted, Rejection> {
        check_method(req.method, &["POST"])?;
        opts.check_size(req.body)?;
        let signed = self.check_signature(req, now, opts.window(DEFAULT_WINDOW_SECS))?;

        let encrypt = encrypted_field(req.body)?;
        let raw: Vec<u8> = match (&encrypt, &self.aes_key) {
            (Some(enc), Some(key)) => decrypt(key, enc)?,
            (Some(_), None) => {
                return Err(Rejection::Undecryptable(
                    "body is encrypted but this bot has no encrypt_key".into(),
                ));
            }
            (None, _) => req.body.to_vec(),
        };
        let raw_text = String::from_utf8(raw).map_err(|_| Rejection::Malformed("payload is not UTF-8".into()))?;
        let payload: Payload = serde_json::from_str(&raw_text)
            .map_err(|e| Rejection::Malformed(format!("payload is not a Feishu event: {e}")))?;

        if payload.kind.as_deref() == Some("url_verification") {
            self.check_token(payload.token.as_deref(), true)?;
            let challenge = payload
                .challenge
                .ok_or_else(|| Rejection::Malformed("url_verification without challenge".into()))?;
            let body = json!({ "challenge": challenge }).to_string();
            return Ok(Accepted::Verification(Response::json(body)));
        }

        if !signed && self.aes_key.is_some() {
            return Err(Rejection::BadSignature(
                "missing X-Lark-Signature headers (required for events when an encrypt_key is set)".into(),
            ));
        }
        let mut event = normalize(payload, |token| self.check_token(token, !signed))?;
        event.raw = raw_text;
        let response = if event.kind == EventKind::CardAction {
            Response::json(
                opts.card_answer
                    .as_ref()
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            )
        } else {
            Response::json("{}")
        };
        Ok(Accepted::Event {
            event: Box::new(event),
            response,
        })
    }

    /// Checks `X-Lark-Signature` when present; returns whether the request was signed.
    fn check_signature(&self, req: &Request<'_>, now: i64, window: u64) -> Result<bool, Rejection> {
        let sig = req.header("x-lark-signature");
        let Some(sig) = sig else {
            return Ok(false);
        };
        let Some(key) = &self.encrypt_key else {
            // Without an Encrypt Key Feishu does not sign; the token authenticates instead.
            return Ok(false);
        };
        let ts = req
            .header("x-lark-request-timestamp")
            .ok_or_else(|| Rejection::BadSignature("missing X-Lark-Request-Timestamp".into()))?;
        let nonce = req
            .header("x-lark-request-nonce")
            .ok_or_else(|| Rejection::BadSignature("missing X-Lark-Request-Nonce".into()))?;
        let expected = crypto::sha256(&[ts.as_bytes(), nonce.as_bytes(), key.expose().as_bytes(), req.body]);
        let mut given = [0u8; 32];
        let well_formed = hex::decode_to_slice(sig.trim(), &mut given).is_ok();
        if !well_formed || !crypto::ct_eq(&given, &expected) {
            return Err(Rejection::BadSignature(
                "X-Lark-Signature does not match SHA-256(timestamp + nonce + encrypt_key + body)".into(),
            ));
        }
        check_timestamp(ts, now, window)?;
        Ok(true)
    }

    /// Compares the payload's token with the Verification Token in constant time. A payload
    /// without a token passes only when it was signed (`required == false`).
    fn check_token(&self, token: Option<&str>, required: bool) -> Result<(), Rejection> {
        match (token, &self.token) {
            (Some(given), Some(expected)) => {
                if crypto::ct_eq(given.as_bytes(), expected.expose().as_bytes()) {
                    Ok(())
                } else {
                    Err(Rejection::WrongToken(
                        "payload token is not the Verification Token".into(),
                    ))
                }
            }
            (None, _) if required => Err(Rejection::WrongToken(
                "payload carries no token and the request is not signed".into(),
            )),
            (Some(_), None) if required => Err(Rejection::WrongToken(
                "no verification_token configured to check the payload's token".into(),
            )),
            _ => Ok(()),
        }
    }
}

fn parse_ms(s: Option<&str>) -> Option<i64> {
    let v: i64 = s?.trim().parse().ok()?;
    Some(if v < 100_000_000_000 { v * 1000 } else { v })
}

/// The plain text of a Feishu message `content` JSON: `text` for text, the joined `text`
/// tags of the first locale for `post`.
fn content_text(message_type: &str, content: &str) -> Option<String> {
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

fn normalize(
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

/// A ready-to-send sample callback for these credentials (encrypted and signed when an
/// Encrypt Key is set). `now` is Unix seconds.
pub fn sample_request(creds: &Credentials, kind: SampleKind, text: &str, now: i64) -> Result<OwnedRequest, String> {
    let token = creds.verification_token.as_ref().map(Secret::expose).unwrap_or("");
    let app_id = creds.app_id.as_deref().unwrap_or("cli_sample");
    let event_id = hex::encode(crypto::random_bytes::<16>());
    let payload = match kind {
        SampleKind::UrlVerification => json!({
            "challenge": crypto::random_nonce(36), "token": token, "type": "url_verification"
        }),
        SampleKind::Message => json!({
            "schema": "2.0",
            "header": {"event_id": event_id, "event_type": "im.message.receive_v1",
                       "create_time": (now * 1000).to_string(), "token": token, "app_id": app_id,
                       "tenant_key": "sample_tenant"},
            "event": {"sender": {"sender_id": {"open_id": "ou_sample_user", "user_id": "sample"},
                                 "sender_type": "user", "tenant_key": "sample_tenant"},
                      "message": {"message_id": format!("om_{event_id}"), "chat_id": "oc_sample_chat",
                                  "chat_type": "group", "message_type": "text",
                                  "content": json!({"text": text}).to_string(),
                                  "create_time": (now * 1000).to_string()}}
        }),
        SampleKind::CardAction => json!({
            "schema": "2.0",
            "header": {"event_id": event_id, "event_type": "card.action.trigger",
                       "create_time": (now * 1000).to_string(), "token": token, "app_id": app_id,
                       "tenant_key": "sample_tenant"},
            "event": {"operator": {"open_id": "ou_sample_user", "user_id": "sample"},
                      "token": format!("c-{event_id}"),
                      "action": {"tag": "button", "value": {"action": text}},
                      "host": "im_message",
                      "context": {"open_message_id": "om_sample_card", "open_chat_id": "oc_sample_chat"}}
        }),
        other => return Err(format!("feishu has no {other:?} callback")),
    };
    let plain = payload.to_string();
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("content-type".to_owned(), "application/json".to_owned());
    let body = match creds.encrypt_key.as_ref().filter(|k| !k.is_blank()) {
        Some(key) => {
            let body = json!({ "encrypt": encrypt(&derive_key(key.expose()), plain.as_bytes()) }).to_string();
            if kind != SampleKind::UrlVerification {
                let ts = now.to_string();
                let nonce = crypto::random_nonce(10);
                let sig = signature(&ts, &nonce, key.expose(), body.as_bytes());
                headers.insert("x-lark-request-timestamp".into(), ts);
                headers.insert("x-lark-request-nonce".into(), nonce);
                headers.insert("x-lark-signature".into(), sig);
            }
            body
        }
        None => plain,
    };
    Ok(OwnedRequest {
        method: "POST".into(),
        query: String::new(),
        headers,
        body,
    })
}

fn at_tag(user_id: &str) -> String {
    format!("<at user_id=\"{user_id}\"></at>")
}

fn mention_prefix(m: &Mentions) -> String {
    let mut out = String::new();
    if m.all {
        out.push_str(&at_tag("all"));
        out.push(' ');
    }
    for u in &m.user_ids {
        out.push_str(&at_tag(u));
        out.push(' ');
    }
    out
}

/// Renders a message as Feishu's `{"msg_type", "content"}` (the custom bot's shape; the
/// app API takes the same `msg_type` with `content` serialized to a string).
/// Feishu mentions users by `open_id`/`user_id`, not by mobile: mobiles are ignored.
pub fn render(msg: &Message) -> Value {
    match msg {
        Message::Text { text, mentions } => json!({
            "msg_type": "text",
            "content": {"text": format!("{}{text}", mention_prefix(mentions))}
        }),
        Message::Markdown { title, text, mentions } => {
            let mut line = Vec::new();
            if mentions.all {
                line.push(json!({"tag": "at", "user_id": "all"}));
            }
            for u in &mentions.user_ids {
                line.push(json!({"tag": "at", "user_id": u}));
            }
            line.push(json!({"tag": "md", "text": text}));
            json!({"msg_type": "post", "content": {"post": {"zh_cn": {"title": title, "content": [line]}}}})
        }
        Message::Card {
            title,
            text,
            buttons,
            color,
            mentions,
        } => {
            let mut elements =
                vec![json!({"tag": "markdown", "content": format!("{}{text}", mention_prefix(mentions))})];
            if !buttons.is_empty() {
                let actions: Vec<Value> = buttons
                    .iter()
                    .map(|b| {
                        json!({"tag": "button", "text": {"tag": "plain_text", "content": b.text},
                                    "type": "default", "url": b.url})
                    })
                    .collect();
                elements.push(json!({"tag": "action", "actions": actions}));
            }
            json!({"msg_type": "interactive", "card": {
                "config": {"wide_screen_mode": true},
                "header": {"title": {"tag": "plain_text", "content": title},
                           "template": color.as_deref().unwrap_or("blue")},
                "elements": elements}})
        }
        Message::Image { key, url } => match key {
            Some(k) => json!({"msg_type": "image", "content": {"image_key": k}}),
            None => json!({"msg_type": "post", "content": {"post": {"zh_cn": {"title": "",
                "content": [[{"tag": "a", "text": url.as_deref().unwrap_or(""), "href": url.as_deref().unwrap_or("")}]]}}}}),
        },
        Message::News { articles } => {
            let title = articles.first().map(|a| a.title.as_str()).unwrap_or("");
            let lines: Vec<Value> = articles
                .iter()
                .map(|a| {
                    let mut line = vec![json!({"tag": "a", "text": a.title, "href": a.url})];
                    if let Some(d) = a.description.as_deref().filter(|d| !d.is_empty()) {
                        line.push(json!({"tag": "text", "text": format!(" {d}")}));
                    }
                    Value::Array(line)
                })
                .collect();
            json!({"msg_type": "post", "content": {"post": {"zh_cn": {"title": title, "content": lines}}}})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::Options;

    fn verifier() -> Verifier {
        Verifier::new(Credentials {
            encrypt_key: Some(Secret::new("k3y")),
            verification_token: Some(Secret::new("tok")),
            ..Credentials::default()
        })
        .unwrap()
    }

    #[test]
    fn sample_round_trip_for_each_kind() {
        let creds = Credentials {
            encrypt_key: Some(Secret::new("k3y")),
            verification_token: Some(Secret::new("tok")),
            ..Credentials::default()
        };
        for kind in [SampleKind::Message, SampleKind::UrlVerification, SampleKind::CardAction] {
            let req = sample_request(&creds, kind, "hi", 1000).unwrap();
            let out = verifier().verify(&req.as_request(), 1000, &Options::default()).unwrap();
            match (kind, out) {
                (SampleKind::UrlVerification, Accepted::Verification(r)) => assert!(r.body.contains("challenge")),
                (SampleKind::Message, Accepted::Event { event, .. }) => assert_eq!(event.text.as_deref(), Some("hi")),
                (SampleKind::CardAction, Accepted::Event { event, .. }) => {
                    assert_eq!(event.kind, EventKind::CardAction);
                    assert_eq!(event.key.as_deref(), Some(r#"{"action":"hi"}"#));
                }
                (k, o) => panic!("{k:?} gave {o:?}"),
            }
        }
    }

    #[test]
    fn unsigned_event_is_refused_when_key_is_set() {
        let creds = Credentials {
            encrypt_key: Some(Secret::new("k3y")),
            verification_token: Some(Secret::new("tok")),
            ..Credentials::default()
        };
        let mut req = sample_request(&creds, SampleKind::Message, "hi", 1000).unwrap();
        req.headers.retain(|k, _| k == "content-type");
        let err = verifier()
            .verify(&req.as_request(), 1000, &Options::default())
            .unwrap_err();
        assert_eq!(err.reason(), "bad_signature");
    }

    #[test]
    fn plain_mode_requires_token_and_parses_schema_1() {
        let v = Verifier::new(Credentials {
            verification_token: Some(Secret::new("tok")),
            ..Credentials::default()
        })
        .unwrap();
        let body = r#"{"uuid":"u-1","token":"tok","ts":"1700000000.1","type":"event_callback",
            "event":{"type":"message","msg_type":"text","text":"@bot hi","text_without_at_bot":"hi",
            "open_id":"ou_1","open_chat_id":"oc_1","chat_type":"group"}}"#;
        let req = OwnedRequest {
            method: "POST".into(),
            body: body.into(),
            ..OwnedRequest::default()
        };
        let Accepted::Event { event, .. } = v.verify(&req.as_request(), 0, &Options::default()).unwrap() else {
            panic!("not an event")
        };
        assert_eq!((event.event_id.as_str(), event.event_type.as_str()), ("u-1", "message"));
        assert_eq!(event.text.as_deref(), Some("hi"));
        assert_eq!(event.time_ms, Some(1_700_000_000_000));
        let bad = OwnedRequest {
            body: body.replace("\"tok\"", "\"nope\""),
            ..req.clone()
        };
        assert_eq!(
            v.verify(&bad.as_request(), 0, &Options::default())
                .unwrap_err()
                .reason(),
            "wrong_token"
        );
        let none = OwnedRequest {
            body: body.replace("\"token\":\"tok\",", ""),
            ..req
        };
        assert_eq!(
            v.verify(&none.as_request(), 0, &Options::default())
                .unwrap_err()
                .reason(),
            "wrong_token"
        );
    }

    #[test]
    fn unknown_event_type_keeps_raw() {
        let v = Verifier::new(Credentials {
            verification_token: Some(Secret::new("tok")),
            ..Credentials::default()
        })
        .unwrap();
        let body = r#"{"schema":"2.0","header":{"event_id":"e1","event_type":"brand.new.event_v9","token":"tok"},"event":{"x":1}}"#;
        let req = OwnedRequest {
            method: "POST".into(),
            body: body.into(),
            ..OwnedRequest::default()
        };
        let Accepted::Event { event, .. } = v.verify(&req.as_request(), 0, &Options::default()).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(event.kind, EventKind::Unknown);
        assert_eq!(event.event_type, "brand.new.event_v9");
        assert_eq!(event.raw, body);
    }

    #[test]
    fn post_content_text() {
        let c = r#"{"title":"T","content":[[{"tag":"text","text":"a"},{"tag":"at","user_id":"x"},{"tag":"text","text":"b"}],[{"tag":"text","text":"c"}]]}"#;
        assert_eq!(content_text("post", c).as_deref(), Some("T\nab\nc"));
    }

    #[test]
    fn bad_padding_is_rejected() {
        let key = derive_key("k");
        let mut buf = vec![5u8; 32];
        buf[31] = 17;
        crypto::aes256_cbc_encrypt(&key, &[0; 16], &mut buf).unwrap();
        let mut framed = vec![0u8; 16];
        framed.extend_from_slice(&buf);
        assert_eq!(decrypt(&key, crypto::b64(&framed)), Err(CipherError::Padding));
    }
}
