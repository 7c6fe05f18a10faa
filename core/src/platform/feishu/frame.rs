//! Feishu/Lark long connection (长连接): the `pbbp2` protobuf frames the WebSocket carries,
//! the endpoint answer that opens it, and the reassembly of payloads split over several
//! frames. Pure data: the connector in the runtime does the I/O.
//!
//! The frame is proto2 (`pbbp2.proto` in the official SDKs): `SeqID`, `LogID`, `service`
//! and `method` are *required*, so they are encoded even when zero (a proto3 encoder would
//! drop them and the server would refuse the frame). `method` 0 is a control frame
//! (`type` header `ping` / `pong`), 1 a data frame (`type` `event` or `card`, with
//! `message_id`, `sum`, `seq`, `trace_id` headers). Each data message is answered once,
//! after it is reassembled, with the same frame carrying a `biz_rt` header and the
//! payload `{"code":200}` (`data`, base64, for a card action's answer).

use std::collections::HashMap;

use prost::Message as _;
use serde::Deserialize;
use thiserror::Error;

/// `POST {base}/callback/ws/endpoint`: where a long connection is opened.
pub const ENDPOINT_PATH: &str = "/callback/ws/endpoint";

/// The largest frame accepted from the server (a data frame's payload is one part of an
/// event; events are at most a few hundred KiB).
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// A fragmented message has at most this many parts.
pub const MAX_PARTS: usize = 64;
/// At most this many fragmented messages are reassembled at once (more: the oldest is dropped
/// and the server, never answered, delivers it again).
pub const MAX_PENDING: usize = 64;
/// The parts of one message must all arrive within this (the SDKs keep them 5 s).
pub const FRAGMENT_TTL_MS: i64 = 10_000;

/// A frame header: `key` and `value`, both required.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Header {
    /// The header's name (`type`, `message_id`, `sum`, `seq`, `trace_id`, `biz_rt`, ...).
    #[prost(string, required, tag = "1")]
    pub key: String,
    /// Its value.
    #[prost(string, required, tag = "2")]
    pub value: String,
}

/// One frame of the long connection.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Frame {
    /// Sequence id (required).
    #[prost(uint64, required, tag = "1")]
    pub seq_id: u64,
    /// Log id (required).
    #[prost(uint64, required, tag = "2")]
    pub log_id: u64,
    /// The service id from the connection URL's `service_id` (required).
    #[prost(int32, required, tag = "3")]
    pub service: i32,
    /// 0 control, 1 data (required).
    #[prost(int32, required, tag = "4")]
    pub method: i32,
    /// Headers.
    #[prost(message, repeated, tag = "5")]
    pub headers: Vec<Header>,
    /// Payload encoding.
    #[prost(string, optional, tag = "6")]
    pub payload_encoding: Option<String>,
    /// Payload type.
    #[prost(string, optional, tag = "7")]
    pub payload_type: Option<String>,
    /// The payload: an event's JSON (or one part of it), a pong's client configuration.
    #[prost(bytes = "vec", optional, tag = "8")]
    pub payload: Option<Vec<u8>>,
    /// The newer log id.
    #[prost(string, optional, tag = "9")]
    pub log_id_new: Option<String>,
}

/// A control frame (`method` 0).
pub const METHOD_CONTROL: i32 = 0;
/// A data frame (`method` 1).
pub const METHOD_DATA: i32 = 1;

/// Why a frame or an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Not a protobuf frame.
    #[error("not a pbbp2 frame: {0}")]
    Decode(String),
    /// Larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes is over the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    /// A data frame without a header it needs, or with one that does not parse.
    #[error("data frame: {0}")]
    Header(String),
}

impl Frame {
    /// Reads one binary WebSocket message.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(bytes.len()));
        }
        <Self as prost::Message>::decode(bytes).map_err(|e| FrameError::Decode(e.to_string()))
    }

    /// The frame as bytes, for a binary WebSocket message.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// The first header called `key`.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.key == key).map(|h| h.value.as_str())
    }

    /// The `type` header: `ping`, `pong`, `event`, `card`.
    pub fn kind(&self) -> &str {
        self.header("type").unwrap_or_default()
    }

    /// A ping for the connection's service id.
    pub fn ping(service: i32) -> Self {
        Self {
            service,
            method: METHOD_CONTROL,
            headers: vec![header("type", "ping")],
            ..Self::default()
        }
    }

    /// The answer to this data frame: the same frame with `biz_rt` (ms spent) added and the
    /// payload `{"code": code}`, with `data` (base64) when there is an answer to carry (a
    /// card action's toast and card).
    pub fn answer(&self, code: u16, data: Option<&[u8]>, biz_rt_ms: u64) -> Self {
        let mut out = self.clone();
        out.headers.push(header("biz_rt", &biz_rt_ms.to_string()));
        let mut body = serde_json::json!({ "code": code });
        if let Some(d) = data {
            body["data"] = serde_json::Value::String(crate::crypto::b64(d));
        }
        out.payload = Some(body.to_string().into_bytes());
        out
    }

    /// The data frame's `message_id`, `sum` and `seq` (a payload in one frame has `sum` 1).
    pub fn parts(&self) -> Result<Parts<'_>, FrameError> {
        let message_id = self
            .header("message_id")
            .filter(|m| !m.is_empty())
            .ok_or_else(|| FrameError::Header("no message_id".into()))?;
        let number = |name: &str, default: usize| -> Result<usize, FrameError> {
            self.header(name).map_or(Ok(default), |v| {
                v.trim()
                    .parse()
                    .map_err(|_| FrameError::Header(format!("`{name}` is not a number")))
            })
        };
        let sum = number("sum", 1)?.max(1);
        let seq = number("seq", 0)?;
        if sum > MAX_PARTS {
            return Err(FrameError::Header(format!("sum {sum} is over {MAX_PARTS} parts")));
        }
        if seq >= sum {
            return Err(FrameError::Header(format!("seq {seq} is not below sum {sum}")));
        }
        Ok(Parts { message_id, sum, seq })
    }
}

/// Builds a header.
pub fn header(key: &str, value: &str) -> Header {
    Header {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

/// Where a data frame's payload sits in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts<'a> {
    /// The message's id (the same on every part).
    pub message_id: &'a str,
    /// How many parts (1: not split).
    pub sum: usize,
    /// This part's index, from 0.
    pub seq: usize,
}

/// The server's connection settings, in seconds (the endpoint's `ClientConfig`, and a
/// pong's payload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct ClientConfig {
    /// Reconnect attempts before giving up (-1: forever; botgate always keeps trying).
    #[serde(rename = "ReconnectCount", default)]
    pub reconnect_count: Option<i64>,
    /// The pause between reconnect attempts, s.
    #[serde(rename = "ReconnectInterval", default)]
    pub reconnect_interval: Option<u64>,
    /// The random spread of the first reconnect, s.
    #[serde(rename = "ReconnectNonce", default)]
    pub reconnect_nonce: Option<u64>,
    /// How often to ping, s.
    #[serde(rename = "PingInterval", default)]
    pub ping_interval: Option<u64>,
}

/// What `POST /callback/ws/endpoint` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The WebSocket URL, to be used verbatim.
    pub url: String,
    /// Its `service_id` query parameter (put on pings).
    pub service: i32,
    /// Its `device_id` query parameter (the connection's id in logs).
    pub device_id: String,
    /// The server's settings, if it sent any.
    pub config: Option<ClientConfig>,
}

/// Why an endpoint could not be had.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EndpointError {
    /// The server is busy or failed: try again later.
    #[error("endpoint: the server is busy ({0})")]
    Busy(String),
    /// The server refused the app (bad credentials, long connection not enabled, too many
    /// connections): it will answer the same until someone fixes it.
    #[error("endpoint refused: {0}")]
    Refused(String),
    /// An answer that is not the documented one.
    #[error("endpoint answer: {0}")]
    Malformed(String),
}

/// The endpoint request's body: `{"AppID", "AppSecret"}`.
pub fn endpoint_request(app_id: &str, app_secret: &str) -> String {
    serde_json::json!({ "AppID": app_id, "AppSecret": app_secret }).to_string()
}

/// Reads the endpoint's answer (`{code, msg, data: {URL, ClientConfig}}`). Codes 1 (system
/// busy) and 1000040343 (internal error) are worth a retry; any other non-zero code is a
/// refusal (the message says why: a wrong secret, the long connection not enabled, ...).
pub fn parse_endpoint(status: u16, body: &str) -> Result<Endpoint, EndpointError> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        code: i64,
        #[serde(default)]
        msg: String,
        #[serde(default)]
        data: Option<Data>,
    }
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "URL", default)]
        url: String,
        #[serde(rename = "ClientConfig", default)]
        client_config: Option<ClientConfig>,
    }
    let parsed: Option<Answer> = serde_json::from_str(body).ok();
    if status >= 500 || status == 429 {
        let msg = parsed.map(|a| a.msg).unwrap_or_default();
        return Err(EndpointError::Busy(format!("HTTP {status} {msg}")));
    }
    let answer = parsed.ok_or_else(|| EndpointError::Malformed(format!("HTTP {status}, not JSON")))?;
    match answer.code {
        0 => {}
        1 | 1_000_040_343 => return Err(EndpointError::Busy(format!("code {}: {}", answer.code, answer.msg))),
        c => return Err(EndpointError::Refused(format!("code {c}: {}", answer.msg))),
    }
    if status != 200 {
        return Err(EndpointError::Refused(format!("HTTP {status}: {}", answer.msg)));
    }
    let data = answer
        .data
        .filter(|d| !d.url.is_empty())
        .ok_or_else(|| EndpointError::Malformed("no data.URL".into()))?;
    let query = data.url.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let service = param("service_id").and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok(Endpoint {
        device_id: param("device_id").unwrap_or_default(),
        service,
        config: data.client_config,
        url: data.url,
    })
}

/// The payloads of split messages, put together as their parts arrive (in any order).
/// Bounded: at most [`MAX_PENDING`] messages of [`MAX_PARTS`] parts, each for
/// [`FRAGMENT_TTL_MS`]; what does not complete in time is dropped (unanswered, so the
/// server delivers it again).
#[derive(Debug, Default)]
pub struct Reassembly {
    pending: HashMap<String, Pending>,
}

#[derive(Debug)]
struct Pending {
    parts: Vec<Option<Vec<u8>>>,
    since_ms: i64,
}

impl Reassembly {
    /// Adds one part; the whole payload comes back when this was its last missing part. A
    /// part whose `sum` disagrees with the earlier parts' restarts the message.
    pub fn push(&mut self, parts: Parts<'_>, payload: Vec<u8>, now_ms: i64) -> Option<Vec<u8>> {
        if parts.sum <= 1 {
            return Some(payload);
        }
        self.pending
            .retain(|_, p| now_ms.saturating_sub(p.since_ms) <= FRAGMENT_TTL_MS);
        let fresh = || Pending {
            parts: vec![None; parts.sum],
            since_ms: now_ms,
        };
        if !self.pending.contains_key(parts.message_id) && self.pending.len() >= MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.since_ms)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.pending.remove(&k);
            }
        }
        let entry = self.pending.entry(parts.message_id.to_owned()).or_insert_with(fresh);
        if entry.parts.len() != parts.sum {
            *entry = fresh();
        }
        entry.parts[parts.seq] = Some(payload);
        if entry.parts.iter().any(Option::is_none) {
            return None;
        }
        let done = self.pending.remove(parts.message_id)?;
        Some(done.parts.into_iter().flatten().flatten().collect())
    }

    /// Messages waiting for parts.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(message_id: &str, sum: usize, seq: usize, payload: &[u8]) -> Frame {
        Frame {
            method: METHOD_DATA,
            headers: vec![
                header("type", "event"),
                header("message_id", message_id),
                header("sum", &sum.to_string()),
                header("seq", &seq.to_string()),
                header("trace_id", "t-1"),
            ],
            payload: Some(payload.to_vec()),
            ..Frame::default()
        }
    }

    #[test]
    fn required_fields_are_encoded_even_when_zero() {
        // SeqID 0, LogID 0, service 0, method 0: the tags 1-4 with value 0 still appear.
        let bytes = Frame::ping(0).to_bytes();
        assert_eq!(&bytes[..8], &[0x08, 0x00, 0x10, 0x00, 0x18, 0x00, 0x20, 0x00]);
        let back = Frame::decode(&bytes).unwrap();
        assert_eq!(back.kind(), "ping");
        assert_eq!(back.method, METHOD_CONTROL);
    }

    /// A data frame as the Go SDK's gogo-protobuf code lays it out (every required field,
    /// empty optional strings written too), built by hand from `pbbp2.proto`.
    #[test]
    fn reads_a_frame_laid_out_as_the_official_sdk_writes_it() {
        fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
            let mut out = vec![tag, u8::try_from(bytes.len()).unwrap()];
            out.extend_from_slice(bytes);
            out
        }
        let mut wire = vec![0x08, 0x05, 0x10, 0x00, 0x18, 0x21, 0x20, 0x01]; // SeqID 5, LogID 0, service 33, method 1
        for (k, v) in [
            ("type", "event"),
            ("message_id", "m-7"),
            ("sum", "1"),
            ("seq", "0"),
            ("trace_id", "tr"),
        ] {
            let mut h = field(0x0a, k.as_bytes());
            h.extend(field(0x12, v.as_bytes()));
            wire.extend(field(0x2a, &h));
        }
        wire.extend(field(0x32, b"")); // payload_encoding
        wire.extend(field(0x3a, b"")); // payload_type
        wire.extend(field(0x42, br#"{"schema":"2.0"}"#));
        wire.extend(field(0x4a, b"")); // LogIDNew
        let f = Frame::decode(&wire).unwrap();
        assert_eq!((f.seq_id, f.service, f.method), (5, 33, METHOD_DATA));
        assert_eq!(f.kind(), "event");
        assert_eq!(
            f.parts().unwrap(),
            Parts {
                message_id: "m-7",
                sum: 1,
                seq: 0
            }
        );
        assert_eq!(f.payload.as_deref(), Some(br#"{"schema":"2.0"}"#.as_slice()));
        // Our answer starts with the same required fields, in order.
        assert_eq!(&f.answer(200, None, 0).to_bytes()[..8], &wire[..8]);
    }

    #[test]
    fn a_frame_round_trips_and_the_answer_keeps_its_headers() {
        let f = data("m1", 1, 0, br#"{"schema":"2.0"}"#);
        let back = Frame::decode(&f.to_bytes()).unwrap();
        assert_eq!(back, f);
        let a = back.answer(200, None, 3);
        assert_eq!(a.header("message_id"), Some("m1"));
        assert_eq!(a.header("biz_rt"), Some("3"));
        assert_eq!(a.payload.as_deref(), Some(br#"{"code":200}"#.as_slice()));
        let card = back.answer(200, Some(br#"{"toast":{}}"#), 0);
        let v: serde_json::Value = serde_json::from_slice(card.payload.as_deref().unwrap()).unwrap();
        assert_eq!(
            crate::crypto::b64_decode(v["data"].as_str().unwrap()).unwrap(),
            br#"{"toast":{}}"#
        );
    }

    #[test]
    fn hostile_frames_are_refused_not_panicked_on() {
        assert!(Frame::decode(&[0xff, 0xff, 0xff]).is_err());
        assert!(matches!(
            Frame::decode(&vec![0u8; MAX_FRAME_BYTES + 1]),
            Err(FrameError::TooLarge(_))
        ));
        assert!(data("m", 2, 2, b"").parts().is_err(), "seq past sum");
        assert!(data("m", 100_000, 0, b"").parts().is_err(), "too many parts");
        assert!(data("", 1, 0, b"").parts().is_err(), "no message id");
        let mut bad = data("m", 1, 0, b"");
        bad.headers[2].value = "x".into();
        assert!(bad.parts().is_err());
    }

    #[test]
    fn split_payloads_are_put_together_in_any_order() {
        let mut r = Reassembly::default();
        let a = data("m1", 3, 2, b"c");
        let b = data("m1", 3, 0, b"a");
        let c = data("m1", 3, 1, b"b");
        assert_eq!(r.push(a.parts().unwrap(), b"c".to_vec(), 0), None);
        assert_eq!(r.push(b.parts().unwrap(), b"a".to_vec(), 1), None);
        assert_eq!(r.push(c.parts().unwrap(), b"b".to_vec(), 2), Some(b"abc".to_vec()));
        assert!(r.is_empty());
        // A part that comes too late starts over and never completes the old message.
        assert_eq!(r.push(a.parts().unwrap(), b"c".to_vec(), 0), None);
        assert_eq!(r.push(b.parts().unwrap(), b"a".to_vec(), FRAGMENT_TTL_MS + 1), None);
        assert_eq!(r.len(), 1);
        // Bounded however many messages never complete.
        for i in 0..(MAX_PENDING * 3) {
            let f = data(&format!("x{i}"), 2, 0, b"");
            r.push(f.parts().unwrap(), vec![0; 10], FRAGMENT_TTL_MS + 2);
        }
        assert_eq!(r.len(), MAX_PENDING);
    }

    #[test]
    fn endpoint_answers() {
        let ok = r#"{"code":0,"msg":"ok","data":{"URL":"wss://msg-frontier.feishu.cn/ws/v2?fpid=493&aid=552564&device_id=7412&access_key=a&service_id=33554678&ticket=t","ClientConfig":{"ReconnectCount":-1,"ReconnectInterval":120,"ReconnectNonce":30,"PingInterval":120}}}"#;
        let e = parse_endpoint(200, ok).unwrap();
        assert_eq!(e.service, 33_554_678);
        assert_eq!(e.device_id, "7412");
        assert!(e.url.ends_with("ticket=t"));
        assert_eq!(e.config.unwrap().ping_interval, Some(120));
        assert!(matches!(
            parse_endpoint(200, r#"{"code":1,"msg":"system busy"}"#),
            Err(EndpointError::Busy(_))
        ));
        assert!(matches!(
            parse_endpoint(200, r#"{"code":10003,"msg":"app secret invalid"}"#),
            Err(EndpointError::Refused(m)) if m.contains("app secret invalid")
        ));
        assert!(matches!(parse_endpoint(502, "<html>"), Err(EndpointError::Busy(_))));
        assert!(matches!(
            parse_endpoint(200, r#"{"code":0,"data":{}}"#),
            Err(EndpointError::Malformed(_))
        ));
    }
}
