//! Fake long-connection servers: Feishu/Lark's (`POST /callback/ws/endpoint`, then a
//! WebSocket speaking the `pbbp2` protobuf frames) and DingTalk Stream's (`POST
//! /v1.0/gateway/connections/open`, then a WebSocket of JSON frames with pings and a
//! disconnect notice). Each checks the app's credentials and a one-time ticket, pushes the
//! events it is given, answers pings, and delivers an event again until it is acknowledged
//! as the platforms do (a failure answer, or no answer within `redeliver_ms`). It can drop
//! the connection, go silent without closing (a zombie: it stops reading, so not even the
//! WebSocket pings get an answer), or ask for a reconnect. At each acknowledgement it runs
//! a check (the tests: "is the event on the queue already?") and keeps the result.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use botgate::platform::dingtalk::stream::{CHATBOT_TOPIC, OPEN_PATH};
use botgate::platform::feishu::frame::{self, Frame};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// Which platform the fake plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Feishu/Lark long connection.
    Feishu,
    /// DingTalk Stream.
    Dingtalk,
}

/// One event to push.
#[derive(Debug, Clone)]
struct Push {
    id: String,
    /// Feishu: `event` or `card`; DingTalk: `EVENT` or `CALLBACK`.
    kind: String,
    /// DingTalk: the topic.
    topic: String,
    payload: String,
    /// Feishu: split over this many frames.
    parts: usize,
    acked: bool,
    /// When it was last sent, if it waits for its acknowledgement.
    in_flight: Option<Instant>,
    deliveries: u32,
}

/// An acknowledgement the fake received.
#[derive(Debug, Clone)]
pub struct Acked {
    /// The message id.
    pub id: String,
    /// Whether the check passed at that moment.
    pub check: bool,
    /// Feishu: the `data` of the answer (a card action's answer), decoded.
    pub data: Option<String>,
    /// When it arrived, relative to the fake's start.
    pub at: Duration,
}

type Check = Box<dyn Fn(&str) -> bool + Send + Sync>;

#[derive(Default)]
struct Inner {
    pushes: Vec<Push>,
    acked: Vec<Acked>,
    refusals: u32,
    tickets: HashSet<String>,
    connections: u32,
    endpoint_calls: u32,
    pings: u32,
    /// When each connection was accepted, relative to the start.
    connected_at: Vec<Duration>,
    /// Connections that stopped reading and writing, their sockets open.
    silent: HashSet<u32>,
    check: Option<Arc<Check>>,
}

/// A fake long-connection server.
#[derive(Clone)]
pub struct FakeLongConnection {
    kind: Kind,
    inner: Arc<Mutex<Inner>>,
    app: (String, String),
    /// Its HTTP base URL (the bot's `api_base`).
    pub url: String,
    ws_port: u16,
    started: Instant,
    redeliver_ms: u64,
    kick: Arc<Notify>,
    /// Bumped to make every open connection drop (abruptly), or close (asking to reconnect).
    drop_gen: Arc<AtomicU64>,
    close_gen: Arc<AtomicU64>,
}

impl FakeLongConnection {
    /// Starts a fake for an app `(id, secret)`; unacknowledged events go again after
    /// `redeliver_ms`.
    pub async fn start(kind: Kind, app: (&str, &str), redeliver_ms: u64) -> Self {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Self {
            kind,
            inner: Arc::new(Mutex::new(Inner::default())),
            app: (app.0.to_owned(), app.1.to_owned()),
            url: format!("http://{}", http.local_addr().unwrap()),
            ws_port: ws.local_addr().unwrap().port(),
            started: Instant::now(),
            redeliver_ms,
            kick: Arc::new(Notify::new()),
            drop_gen: Arc::new(AtomicU64::new(0)),
            close_gen: Arc::new(AtomicU64::new(0)),
        };
        let router = Router::new().fallback(endpoint).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(http, router).await.unwrap() });
        let f = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = ws.accept().await else { return };
                let f = f.clone();
                tokio::spawn(async move { f.connection(tcp).await });
            }
        });
        fake
    }

    /// Runs `check(message_id)` at each acknowledgement and keeps its result.
    pub fn on_ack(&self, check: impl Fn(&str) -> bool + Send + Sync + 'static) {
        self.inner.lock().unwrap().check = Some(Arc::new(Box::new(check)));
    }

    fn push(&self, p: Push) {
        self.inner.lock().unwrap().pushes.push(p);
        self.kick.notify_waiters();
    }

    /// Feishu: pushes an event's JSON, split over `parts` frames (1: not split).
    pub fn feishu_event(&self, id: &str, payload: &Value, parts: usize) {
        self.push(Push {
            id: id.to_owned(),
            kind: "event".into(),
            topic: String::new(),
            payload: payload.to_string(),
            parts,
            acked: false,
            in_flight: None,
            deliveries: 0,
        });
    }

    /// Feishu: pushes a `card` frame.
    pub fn feishu_card(&self, id: &str, payload: &Value) {
        self.push(Push {
            id: id.to_owned(),
            kind: "card".into(),
            topic: String::new(),
            payload: payload.to_string(),
            parts: 1,
            acked: false,
            in_flight: None,
            deliveries: 0,
        });
    }

    /// DingTalk: pushes a frame of `kind` (`EVENT` or `CALLBACK`) with this topic and data;
    /// `headers` adds event headers (`eventId`, `eventType`, ...).
    pub fn dingtalk_frame(&self, id: &str, kind: &str, topic: &str, data: &Value, headers: &[(&str, &str)]) {
        let mut payload = json!({"data": data.to_string(), "headers": {}});
        for (k, v) in headers {
            payload["headers"][*k] = json!(v);
        }
        self.push(Push {
            id: id.to_owned(),
            kind: kind.to_owned(),
            topic: topic.to_owned(),
            payload: payload.to_string(),
            parts: 1,
            acked: false,
            in_flight: None,
            deliveries: 0,
        });
    }

    /// DingTalk: a chat bot message with `msgId` `msg_id`.
    pub fn dingtalk_message(&self, id: &str, msg_id: &str, text: &str) {
        let data = json!({
            "msgId": msg_id, "conversationId": "cidFAKE", "conversationType": "1", "senderStaffId": "staff-1",
            "msgtype": "text", "text": {"content": text}, "robotCode": self.app.0,
            "createAt": 1_795_000_000_000_i64
        });
        self.dingtalk_frame(id, "CALLBACK", CHATBOT_TOPIC, &data, &[]);
    }

    /// Drops every open connection without a close frame.
    pub fn drop_connections(&self) {
        self.drop_gen.fetch_add(1, Ordering::SeqCst);
        self.kick.notify_waiters();
    }

    /// Asks every open connection to reconnect (Feishu: a close frame; DingTalk: a
    /// `disconnect` system frame, then a close).
    pub fn ask_reconnect(&self) {
        self.close_gen.fetch_add(1, Ordering::SeqCst);
        self.kick.notify_waiters();
    }

    /// Makes the connection open now a zombie: it stops reading and writing, socket open.
    pub fn go_silent(&self) {
        let mut i = self.inner.lock().unwrap();
        let n = i.connections;
        i.silent.insert(n);
        drop(i);
        self.kick.notify_waiters();
    }

    /// Acknowledgements received, in order.
    pub fn acked(&self) -> Vec<Acked> {
        self.inner.lock().unwrap().acked.clone()
    }

    /// Connections accepted so far, and when (since the start).
    pub fn connections(&self) -> Vec<Duration> {
        self.inner.lock().unwrap().connected_at.clone()
    }

    /// Endpoint (or open-connection) calls, and those refused for bad credentials.
    pub fn endpoint_calls(&self) -> (u32, u32) {
        let i = self.inner.lock().unwrap();
        (i.endpoint_calls, i.refusals)
    }

    /// How many times each event was delivered.
    pub fn deliveries(&self) -> BTreeMap<String, u32> {
        let i = self.inner.lock().unwrap();
        i.pushes.iter().map(|p| (p.id.clone(), p.deliveries)).collect()
    }

    /// Pings received (Feishu's protocol pings; DingTalk's pong answers to its pings).
    pub fn pings(&self) -> u32 {
        self.inner.lock().unwrap().pings
    }

    /// Waits until every pushed event is acknowledged (panics after `timeout`).
    pub async fn wait_all_acked(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let i = self.inner.lock().unwrap();
                if !i.pushes.is_empty() && i.pushes.iter().all(|p| p.acked) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "not every event was acknowledged: {:?}",
                self.deliveries()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `n` connections were accepted (panics after `timeout`).
    pub async fn wait_connections(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.connections().len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} connections",
                self.connections().len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn ticket(&self) -> String {
        let t = botgate::crypto::random_nonce(16);
        self.inner.lock().unwrap().tickets.insert(t.clone());
        t
    }

    #[allow(clippy::result_large_err)] // the handshake callback's type is tungstenite's
    async fn connection(&self, tcp: tokio::net::TcpStream) {
        let tickets = self.inner.clone();
        let kind = self.kind;
        let accept = move |req: &Request, resp: Response| {
            let query = req.uri().query().unwrap_or_default().to_owned();
            let ticket = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "ticket")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            // A ticket is good for one connection.
            if tickets.lock().unwrap().tickets.remove(&ticket) {
                Ok(resp)
            } else {
                let mut refused =
                    tokio_tungstenite::tungstenite::handshake::server::ErrorResponse::new(Some("bad ticket".into()));
                *refused.status_mut() = axum::http::StatusCode::FORBIDDEN;
                if kind == Kind::Feishu {
                    refused
                        .headers_mut()
                        .insert("handshake-status", axum::http::HeaderValue::from_static("403"));
                }
                Err(refused)
            }
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, accept).await else {
            return;
        };
        let number = {
            let mut i = self.inner.lock().unwrap();
            i.connections += 1;
            i.connected_at.push(self.started.elapsed());
            i.connections
        };
        let drop_at = self.drop_gen.load(Ordering::SeqCst);
        let close_at = self.close_gen.load(Ordering::SeqCst);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut system_ping = tokio::time::interval(Duration::from_millis(150));
        loop {
            let silent = self.inner.lock().unwrap().silent.contains(&number);
            if silent {
                // A zombie: holds the socket, reads nothing, answers nothing.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            if self.drop_gen.load(Ordering::SeqCst) != drop_at {
                self.release(number);
                return; // dropped: no close frame
            }
            if self.close_gen.load(Ordering::SeqCst) != close_at {
                self.release(number);
                if self.kind == Kind::Dingtalk {
                    let notice = json!({"specVersion": "1.0", "type": "SYSTEM",
                        "headers": {"messageId": "sys-disconnect", "topic": "disconnect", "contentType": "application/json"},
                        "data": "{\"reason\":\"server restart\"}"});
                    let _ = ws.send(Message::Text(notice.to_string().into())).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let _ = ws.close(None).await;
                return;
            }
            for m in self.due(number) {
                if ws.send(m).await.is_err() {
                    self.release(number);
                    return;
                }
            }
            tokio::select! {
                msg = ws.next() => match msg {
                    Some(Ok(m)) => self.answer(&mut ws, m).await,
                    _ => { self.release(number); return; }
                },
                _ = tick.tick() => {}
                _ = system_ping.tick(), if self.kind == Kind::Dingtalk => {
                    let ping = json!({"specVersion": "1.0", "type": "SYSTEM",
                        "headers": {"messageId": format!("ping-{}", botgate::crypto::random_nonce(4)), "topic": "ping", "contentType": "application/json"},
                        "data": "{\"opaque\":\"1\"}"});
                    if ws.send(Message::Text(ping.to_string().into())).await.is_err() {
                        self.release(number);
                        return;
                    }
                }
                () = self.kick.notified() => {}
            }
        }
    }

    /// Events this connection lost go again on the next one.
    fn release(&self, _connection: u32) {
        let mut i = self.inner.lock().unwrap();
        for p in i.pushes.iter_mut().filter(|p| !p.acked) {
            p.in_flight = None;
        }
    }

    /// The frames of the events due now (never sent, or unanswered for `redeliver_ms`).
    fn due(&self, _connection: u32) -> Vec<Message> {
        let mut i = self.inner.lock().unwrap();
        let mut out = Vec::new();
        let now = Instant::now();
        for p in i.pushes.iter_mut().filter(|p| !p.acked) {
            if p.in_flight
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(self.redeliver_ms))
            {
                continue;
            }
            p.in_flight = Some(now);
            p.deliveries += 1;
            match self.kind {
                Kind::Feishu => {
                    let bytes = p.payload.as_bytes();
                    let size = bytes.len().div_ceil(p.parts).max(1);
                    let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
                    // The parts arrive out of order, last first.
                    for (seq, chunk) in chunks.iter().enumerate().rev() {
                        let f = Frame {
                            seq_id: 0,
                            log_id: 0,
                            service: 77,
                            method: frame::METHOD_DATA,
                            headers: vec![
                                frame::header("type", &p.kind),
                                frame::header("message_id", &p.id),
                                frame::header("sum", &chunks.len().to_string()),
                                frame::header("seq", &seq.to_string()),
                                frame::header("trace_id", &format!("trace-{}", p.id)),
                            ],
                            payload: Some(chunk.to_vec()),
                            ..Frame::default()
                        };
                        out.push(Message::Binary(f.to_bytes().into()));
                    }
                }
                Kind::Dingtalk => {
                    let mut v: Value = serde_json::from_str(&p.payload).unwrap();
                    v["specVersion"] = json!("1.0");
                    v["type"] = json!(p.kind);
                    v["headers"]["messageId"] = json!(p.id);
                    v["headers"]["topic"] = json!(if p.kind == "EVENT" { "*" } else { p.topic.as_str() });
                    v["headers"]["contentType"] = json!("application/json");
                    v["headers"]["time"] = json!("1795000000000");
                    out.push(Message::Text(v.to_string().into()));
                }
            }
        }
        out
    }

    async fn answer(&self, ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, m: Message) {
        let (id, ok, data) = match (self.kind, m) {
            (Kind::Feishu, Message::Binary(b)) => {
                let f = Frame::decode(&b).unwrap();
                if f.method == frame::METHOD_CONTROL && f.kind() == "ping" {
                    assert_eq!(f.service, 77, "a ping carries the connection's service id");
                    self.inner.lock().unwrap().pings += 1;
                    let pong = Frame {
                        service: 77,
                        method: frame::METHOD_CONTROL,
                        headers: vec![frame::header("type", "pong")],
                        payload: Some(
                            br#"{"PingInterval":1,"ReconnectCount":-1,"ReconnectInterval":1,"ReconnectNonce":0}"#
                                .to_vec(),
                        ),
                        ..Frame::default()
                    };
                    let _ = ws.send(Message::Binary(pong.to_bytes().into())).await;
                    return;
                }
                assert!(f.header("biz_rt").is_some(), "an answer carries biz_rt");
                let body: Value = serde_json::from_slice(f.payload.as_deref().unwrap_or_default()).unwrap();
                let data = body["data"]
                    .as_str()
                    .map(|d| String::from_utf8(botgate::crypto::b64_decode(d).unwrap()).unwrap());
                (
                    f.header("message_id").unwrap_or_default().to_owned(),
                    body["code"] == 200,
                    data,
                )
            }
            (Kind::Dingtalk, Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                let id = v["headers"]["messageId"].as_str().unwrap_or_default().to_owned();
                if id.starts_with("ping-") {
                    assert_eq!(v["data"], "{\"opaque\":\"1\"}", "a pong carries the ping's data");
                    self.inner.lock().unwrap().pings += 1;
                    return;
                }
                if id == "sys-disconnect" {
                    return;
                }
                let status_ok = v["data"]
                    .as_str()
                    .and_then(|d| serde_json::from_str::<Value>(d).ok())
                    .is_none_or(|d| d["status"] != "LATER");
                (id, v["code"] == 200 && status_ok, None)
            }
            _ => return,
        };
        let check = self.inner.lock().unwrap().check.clone();
        let passed = check.is_none_or(|c| c(&id));
        let mut i = self.inner.lock().unwrap();
        let at = self.started.elapsed();
        let Some(p) = i.pushes.iter_mut().find(|p| p.id == id) else {
            return;
        };
        if ok {
            let first = !p.acked;
            p.acked = true;
            p.in_flight = None;
            if first {
                i.acked.push(Acked {
                    id,
                    check: passed,
                    data,
                    at,
                });
            }
        } else {
            // A failure answer: delivered again at once.
            p.in_flight = None;
        }
    }
}

/// The endpoint / open-connection API.
async fn endpoint(State(fake): State<FakeLongConnection>, uri: Uri, body: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let good = |id: &Value, secret: &Value| id == fake.app.0.as_str() && secret == fake.app.1.as_str();
    fake.inner.lock().unwrap().endpoint_calls += 1;
    let ws = format!("ws://127.0.0.1:{}", fake.ws_port);
    match (fake.kind, uri.path()) {
        (Kind::Feishu, frame::ENDPOINT_PATH) => {
            if !good(&v["AppID"], &v["AppSecret"]) {
                fake.inner.lock().unwrap().refusals += 1;
                return json_answer(
                    200,
                    &json!({"code": 1_000_040_351, "msg": "app id or secret is invalid"}),
                );
            }
            let device = fake.inner.lock().unwrap().connections + 1;
            let ticket = fake.ticket();
            let url =
                format!("{ws}/ws/v2?fpid=1&aid=1&device_id=dev-{device}&access_key=k&service_id=77&ticket={ticket}");
            json_answer(
                200,
                &json!({"code": 0, "msg": "ok", "data": {"URL": url,
                "ClientConfig": {"ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0, "PingInterval": 1}}}),
            )
        }
        (Kind::Dingtalk, OPEN_PATH) => {
            if !good(&v["clientId"], &v["clientSecret"]) {
                fake.inner.lock().unwrap().refusals += 1;
                return json_answer(
                    400,
                    &json!({"code": "invalidClientSecret", "message": "client secret is wrong"}),
                );
            }
            let subs = v["subscriptions"].as_array().cloned().unwrap_or_default();
            assert!(
                subs.iter()
                    .any(|s| s["type"] == "CALLBACK" && s["topic"] == CHATBOT_TOPIC)
                    && subs.iter().any(|s| s["type"] == "EVENT" && s["topic"] == "*"),
                "subscribes to the chat bot's messages and every event: {subs:?}"
            );
            json_answer(
                200,
                &json!({"endpoint": format!("{ws}/connect"), "ticket": fake.ticket()}),
            )
        }
        _ => (axum::http::StatusCode::NOT_FOUND, "no such API").into_response(),
    }
}

fn json_answer(status: u16, v: &Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}
