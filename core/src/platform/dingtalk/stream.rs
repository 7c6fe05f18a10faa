//! DingTalk Stream mode: the open-connection call, the JSON frames the WebSocket carries,
//! their acknowledgements, and the normalization of what they push. Pure data: the
//! connector in the runtime does the I/O.
//!
//! `POST {base}/v1.0/gateway/connections/open` with the app's client id and secret and the
//! subscriptions (every `EVENT`, and the chat bot's `CALLBACK` topic) answers `{endpoint,
//! ticket}`; the socket is `endpoint?ticket=...`. Every frame is
//! `{"specVersion","type","headers":{"messageId","topic",...},"data":"<JSON text>"}`:
//! `SYSTEM` frames are the server's `ping` (answered with its data) and `disconnect` (the
//! server closes soon: reconnect); `EVENT` and `CALLBACK` frames are acknowledged with
//! their `messageId`: `{"code":200,"headers":{"contentType","messageId"},"message","data"}`,
//! an event's data being `{"status":"SUCCESS"}` or `{"status":"LATER"}` (deliver again).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use thiserror::Error;

use crate::event::{Event, EventKind, Platform};
use crate::inbound::Rejection;

/// The open-connection call.
pub const OPEN_PATH: &str = "/v1.0/gateway/connections/open";
/// The chat bot's callback topic (a message to the bot).
pub const CHATBOT_TOPIC: &str = "/v1.0/im/bot/messages/get";
/// The interactive cards' callback topic (a button pressed on a card the bot sent).
pub const CARD_TOPIC: &str = "/v1.0/card/instances/callback";
/// The largest frame accepted.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// The open-connection request's body: every event, the chat bot's messages and card
/// callbacks, with botgate's user agent.
pub fn open_request(client_id: &str, client_secret: &str, ua: &str) -> String {
    json!({
        "clientId": client_id,
        "clientSecret": client_secret,
        "subscriptions": [
            {"type": "EVENT", "topic": "*"},
            {"type": "CALLBACK", "topic": CHATBOT_TOPIC},
            {"type": "CALLBACK", "topic": CARD_TOPIC},
        ],
        "ua": ua,
    })
    .to_string()
}

/// Where to connect, as the open-connection call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The WebSocket endpoint.
    pub endpoint: String,
    /// The one-time ticket (a credential: never log it).
    pub ticket: String,
}

impl Opened {
    /// The URL to connect to: the endpoint with the ticket in its query.
    pub fn url(&self) -> String {
        let ticket: String = form_urlencoded::byte_serialize(self.ticket.as_bytes()).collect();
        let sep = if self.endpoint.contains('?') { '&' } else { '?' };
        format!("{}{sep}ticket={ticket}", self.endpoint)
    }
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpenError {
    /// The server is busy or failed: try again later.
    #[error("open connection: the server is busy ({0})")]
    Busy(String),
    /// The server refused the app (bad client id or secret, Stream mode not enabled).
    #[error("open connection refused: {0}")]
    Refused(String),
    /// An answer that is not the documented one.
    #[error("open connection answer: {0}")]
    Malformed(String),
}

/// Reads the open-connection answer: `{endpoint, ticket}` on 200; DingTalk's error shape
/// `{code, message}` otherwise (4xx: refused, 5xx and 429: busy).
pub fn parse_open(status: u16, body: &str) -> Result<Opened, OpenError> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        endpoint: String,
        #[serde(default)]
        ticket: String,
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    let parsed: Option<Answer> = serde_json::from_str(body).ok();
    let why = || {
        parsed.as_ref().map_or_else(String::new, |a| {
            format!(
                "{} {}",
                a.code.as_deref().unwrap_or_default(),
                a.message.as_deref().unwrap_or_default()
            )
        })
    };
    match status {
        200 => {}
        429 | 500..=599 => return Err(OpenError::Busy(format!("HTTP {status} {}", why()))),
        _ => return Err(OpenError::Refused(format!("HTTP {status} {}", why()))),
    }
    let a = parsed.ok_or_else(|| OpenError::Malformed("not JSON".into()))?;
    if a.endpoint.is_empty() || a.ticket.is_empty() {
        return Err(OpenError::Malformed("no endpoint or ticket".into()));
    }
    Ok(Opened {
        endpoint: a.endpoint,
        ticket: a.ticket,
    })
}

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// The server's own: `ping`, `disconnect`.
    System,
    /// An event subscription push.
    Event,
    /// A callback (the chat bot's messages, card actions).
    Callback,
    /// Anything else (answered "not implemented").
    Other,
}

/// One frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its type.
    pub kind: FrameType,
    /// The `type` as sent.
    pub type_name: String,
    /// Headers (`messageId`, `topic`, `eventId`, `eventType`, `eventBornTime`, ...), values
    /// as text.
    pub headers: BTreeMap<String, String>,
    /// The `data` text (JSON for events and callbacks).
    pub data: String,
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Not a Stream frame.
    #[error("not a DingTalk Stream frame: {0}")]
    Malformed(String),
    /// Larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes is over the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
}

impl Frame {
    /// Reads one text WebSocket message.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "type", default)]
            kind: String,
            #[serde(default)]
            headers: BTreeMap<String, Value>,
            #[serde(default)]
            data: Value,
        }
        if text.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(text.len()));
        }
        let raw: Raw = serde_json::from_str(text).map_err(|e| FrameError::Malformed(e.to_string()))?;
        let headers = raw
            .headers
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect();
        let data = match raw.data {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let kind = match raw.kind.as_str() {
            "SYSTEM" => FrameType::System,
            "EVENT" => FrameType::Event,
            "CALLBACK" => FrameType::Callback,
            _ => FrameType::Other,
        };
        Ok(Self {
            kind,
            type_name: raw.kind,
            headers,
            data,
        })
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// `messageId`, which every acknowledgement carries.
    pub fn message_id(&self) -> &str {
        self.header("messageId").unwrap_or_default()
    }

    /// `topic`.
    pub fn topic(&self) -> &str {
        self.header("topic").unwrap_or_default()
    }

    /// The answer to a `ping`: its own data back.
    pub fn pong(&self) -> String {
        ack(self.message_id(), 200, "OK", &self.data)
    }

    /// The acknowledgement of an event or callback: `ok` once it is safely queued; otherwise
    /// an event asks to be delivered again (`LATER`) and a callback reports a failure.
    pub fn acknowledge(&self, ok: bool) -> String {
        match (self.kind, ok) {
            (FrameType::Event, true) => ack(
                self.message_id(),
                200,
                "OK",
                &json!({"status": "SUCCESS", "message": "success"}).to_string(),
            ),
            (FrameType::Event, false) => ack(
                self.message_id(),
                200,
                "OK",
                &json!({"status": "LATER", "message": "later"}).to_string(),
            ),
            (_, true) => ack(self.message_id(), 200, "OK", &json!({"response": {}}).to_string()),
            (_, false) => ack(self.message_id(), 500, "not queued; deliver again", ""),
        }
    }

    /// The answer to a frame botgate does not handle.
    pub fn not_implemented(&self) -> String {
        ack(self.message_id(), 404, "not implemented", "")
    }

    /// The event this frame pushes, normalized as the HTTP paths normalize it: a chat bot
    /// message exactly as the HTTP chat bot's (its `msgId` is the event id), an event
    /// subscription push with its `eventId`. `None` for system frames and topics that carry
    /// no event.
    pub fn event(&self) -> Result<Option<Event>, Rejection> {
        match (self.kind, self.topic()) {
            (FrameType::Callback, CHATBOT_TOPIC) => super::robot_event(self.data.as_bytes()).map(Some),
            (FrameType::Callback, CARD_TOPIC) => self.card_event().map(Some),
            (FrameType::Event, _) => self.subscription_event().map(Some),
            _ => Ok(None),
        }
    }

    fn data_json(&self) -> Result<Value, Rejection> {
        serde_json::from_str(&self.data).map_err(|_| Rejection::Malformed("frame data is not JSON".into()))
    }

    fn subscription_event(&self) -> Result<Event, Rejection> {
        let data = self.data_json()?;
        let event_type = self
            .header("eventType")
            .ok_or_else(|| Rejection::Malformed("event frame without eventType".into()))?
            .to_owned();
        let event_id = self
            .header("eventId")
            .map(str::to_owned)
            .or_else(|| (!self.message_id().is_empty()).then(|| format!("stream:{}", self.message_id())))
            .ok_or_else(|| Rejection::Malformed("event frame without eventId or messageId".into()))?;
        let mut ev = Event::new(
            Platform::Dingtalk,
            event_id,
            event_type,
            EventKind::Unknown,
            self.data.clone(),
        );
        ev.time_ms = self.header("eventBornTime").and_then(|t| t.parse().ok());
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| data.get(*k).and_then(Value::as_str))
                .map(str::to_owned)
        };
        ev.chat_id = text(&["ChatId", "chatId", "openConversationId"]);
        ev.sender_id = text(&["Operator", "operatorUserId", "operator", "UserId", "userId", "staffId"]);
        Ok(ev)
    }

    fn card_event(&self) -> Result<Event, Rejection> {
        let data = self.data_json()?;
        let id = self.message_id();
        if id.is_empty() {
            return Err(Rejection::Malformed("card callback without messageId".into()));
        }
        let mut ev = Event::new(
            Platform::Dingtalk,
            format!("card:{id}"),
            "card_callback".into(),
            EventKind::CardAction,
            self.data.clone(),
        );
        ev.sender_id = data.get("userId").and_then(Value::as_str).map(str::to_owned);
        ev.chat_id = data
            .get("openConversationId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        ev.key = data.get("value").map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        Ok(ev)
    }
}

/// An acknowledgement frame.
fn ack(message_id: &str, code: u16, message: &str, data: &str) -> String {
    json!({
        "code": code,
        "headers": {"contentType": "application/json", "messageId": message_id},
        "message": message,
        "data": data,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chatbot(msg_id: &str) -> String {
        let data = json!({
            "msgId": msg_id, "conversationId": "cid1", "conversationType": "2", "senderStaffId": "u1",
            "msgtype": "text", "text": {"content": " hi "}, "robotCode": "ding1",
            "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=x", "sessionWebhookExpiredTime": 1
        });
        json!({"specVersion": "1.0", "type": "CALLBACK",
            "headers": {"appId": "a", "connectionId": "c", "contentType": "application/json", "messageId": "m-1",
                "time": 1_795_000_000_000_i64, "topic": CHATBOT_TOPIC},
            "data": data.to_string()})
        .to_string()
    }

    #[test]
    fn a_chat_bot_message_normalizes_as_the_http_chat_bot_does() {
        let f = Frame::parse(&chatbot("msg-9")).unwrap();
        assert_eq!(f.header("time"), Some("1795000000000"), "numbers read as text");
        let ev = f.event().unwrap().unwrap();
        let http = super::super::robot_event(f.data.as_bytes()).unwrap();
        assert_eq!(ev, http);
        assert_eq!(ev.event_id, "msg-9");
        assert_eq!(ev.text.as_deref(), Some("hi"));
        assert_eq!(ev.chat_type.as_deref(), Some("group"));
        let ack: Value = serde_json::from_str(&f.acknowledge(true)).unwrap();
        assert_eq!(ack["code"], 200);
        assert_eq!(ack["headers"]["messageId"], "m-1");
        let nack: Value = serde_json::from_str(&f.acknowledge(false)).unwrap();
        assert_eq!(nack["code"], 500);
    }

    #[test]
    fn events_system_frames_and_their_answers() {
        let ev = json!({"specVersion": "1.0", "type": "EVENT",
            "headers": {"messageId": "m-2", "eventId": "ev-1", "eventType": "chat_update_title", "eventBornTime": "1795000000000", "topic": "*"},
            "data": "{\"ChatId\":\"chat1\",\"Operator\":\"u2\",\"Title\":\"x\"}"})
        .to_string();
        let f = Frame::parse(&ev).unwrap();
        let e = f.event().unwrap().unwrap();
        assert_eq!(
            (e.event_id.as_str(), e.event_type.as_str()),
            ("ev-1", "chat_update_title")
        );
        assert_eq!(
            (e.chat_id.as_deref(), e.sender_id.as_deref()),
            (Some("chat1"), Some("u2"))
        );
        assert_eq!(e.time_ms, Some(1_795_000_000_000));
        let later: Value = serde_json::from_str(&f.acknowledge(false)).unwrap();
        assert!(later["data"].as_str().unwrap().contains("LATER"));
        let ping = Frame::parse(
            r#"{"specVersion":"1.0","type":"SYSTEM","headers":{"messageId":"p1","topic":"ping"},"data":"{\"opaque\":\"x\"}"}"#,
        )
        .unwrap();
        assert_eq!(ping.kind, FrameType::System);
        assert_eq!(ping.event().unwrap(), None);
        let pong: Value = serde_json::from_str(&ping.pong()).unwrap();
        assert_eq!(pong["data"], "{\"opaque\":\"x\"}");
        assert_eq!(pong["headers"]["messageId"], "p1");
    }

    #[test]
    fn hostile_frames_are_refused() {
        assert!(Frame::parse("not json").is_err());
        assert!(Frame::parse(&" ".repeat(MAX_FRAME_BYTES + 1)).is_err());
        let no_id = json!({"type": "CALLBACK", "headers": {"topic": CHATBOT_TOPIC}, "data": "{}"}).to_string();
        assert!(Frame::parse(&no_id).unwrap().event().is_err());
        let bad_data = json!({"type": "EVENT", "headers": {"eventType": "x", "eventId": "e"}, "data": "{"}).to_string();
        assert!(Frame::parse(&bad_data).unwrap().event().is_err());
        let other = Frame::parse(r#"{"type":"NEW","headers":{"messageId":"q"}}"#).unwrap();
        assert_eq!(other.kind, FrameType::Other);
        assert!(other.not_implemented().contains("404"));
    }

    #[test]
    fn open_answers() {
        let ok = parse_open(
            200,
            r#"{"endpoint":"wss://wss-open-connection.dingtalk.com:443/connect","ticket":"a+b/c="}"#,
        )
        .unwrap();
        assert_eq!(
            ok.url(),
            "wss://wss-open-connection.dingtalk.com:443/connect?ticket=a%2Bb%2Fc%3D"
        );
        assert!(matches!(
            parse_open(400, r#"{"code":"invalidClientSecret","message":"bad"}"#),
            Err(OpenError::Refused(m)) if m.contains("invalidClientSecret")
        ));
        assert!(matches!(parse_open(503, ""), Err(OpenError::Busy(_))));
        assert!(matches!(parse_open(200, "{}"), Err(OpenError::Malformed(_))));
        let req: Value = serde_json::from_str(&open_request("id", "secret", "botgate/0.1")).unwrap();
        assert_eq!(req["subscriptions"][1]["topic"], CHATBOT_TOPIC);
    }
}
