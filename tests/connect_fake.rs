//! The long-connection connector against fake Feishu and DingTalk Stream servers
//! (`support/longconn.rs`): every pushed event reaches the queue exactly once and is
//! acknowledged only once it is there; with the queue down nothing is acknowledged and the
//! event arrives after recovery; a dropped connection, a zombie and a server's request to
//! reconnect are each followed by a new connection, losing and duplicating nothing; an
//! event delivered both by webhook and over the connection is queued once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use botgate::clock::SystemClock;
use botgate::connect::Connector;
use botgate::queue::memory::MemoryQueue;
use botgate::reload::Live;
use botgate_tests::longconn::{FakeLongConnection, Kind};
use serde_json::{Value, json};

const FEISHU_APP: (&str, &str) = ("cli_longconn01", "feishu-app-secret");
const DINGTALK_APP: (&str, &str) = ("dinglongconn01", "dingtalk-app-secret");
const WAIT: Duration = Duration::from_secs(10);

/// A configuration with one long-connection bot on the fake, short timings, and (for
/// Feishu) webhook credentials too.
fn config(kind: Kind, fake: &FakeLongConnection) -> String {
    let bot = match kind {
        Kind::Feishu => format!(
            "    platform: feishu\n    mode: long_connection\n    app_id: {}\n    app_secret: {}\n    encrypt_key: lc-encrypt-key\n    verification_token: lc-token\n    card_answer: {{toast: {{type: success, content: Noted}}}}\n",
            FEISHU_APP.0, FEISHU_APP.1
        ),
        Kind::Dingtalk => format!(
            "    platform: dingtalk\n    mode: long_connection\n    app_key: {}\n    app_secret: {}\n",
            DINGTALK_APP.0, DINGTALK_APP.1
        ),
    };
    // A press named `approve` is answered by a rule, over the connection as in a webhook's
    // response; any other by the bot's card_answer.
    format!(
        "connector: {{ping_interval_ms: 100, silence_timeout_ms: 600, reconnect_max_ms: 200, shutdown_grace_ms: 2000}}\n\
         delivery: {{dry_run: true}}\n\
         rules:\n  - name: approve\n    when: {{kind: card_action, action: {{name: approve}}}}\n    answer: {{toast: {{type: success, text: \"Approved by {{{{ sender }}}}\"}}}}\n\
         bots:\n  lc:\n{bot}    api_base: {}\n",
        fake.url
    )
}

struct Running {
    queue: Arc<MemoryQueue>,
    gateway: Arc<Live<botgate::callback::Deps>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Event ids on the queue (each message once, in order).
    fn queued(&self, seen: &mut Vec<String>) -> Vec<String> {
        for m in self.queue.drain() {
            let env: botgate::queue::Envelope = serde_json::from_str(&m.body).unwrap();
            seen.push(env.event.event_id);
        }
        seen.clone()
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(WAIT, self.task).await.unwrap().unwrap();
    }
}

async fn start(kind: Kind, fake: &FakeLongConnection) -> Running {
    let settings = botgate::deps::load_yaml(&config(kind, fake), &botgate::config::EnvResolver)
        .await
        .unwrap();
    let (mut deps, queue) = botgate_tests::memory_gateway(settings, Arc::new(SystemClock));
    // A queue that takes 50 ms to answer, as SQS might: an acknowledgement sent before the
    // enqueue finished would reach the fake before the event reaches the queue.
    deps.queue = Arc::new(Slow(queue.clone()));
    let gateway = Arc::new(Live::new(deps));
    let q = queue.clone();
    // At each acknowledgement: the event must be on the queue already. The tests name
    // each event after its message (`m-x` carries `ev-x`, `msg-x` or `card:m-x`).
    fake.on_ack(move |message_id| {
        let suffix = message_id.trim_start_matches('m').trim_start_matches('-');
        let ids = [
            format!("ev{suffix}"),
            format!("ev-{suffix}"),
            format!("msg{suffix}"),
            format!("msg-{suffix}"),
            format!("card:{message_id}"),
        ];
        q.bodies()
            .iter()
            .filter_map(|b| serde_json::from_str::<botgate::queue::Envelope>(b).ok())
            .any(|env| ids.contains(&env.event.event_id))
    });
    let transport = botgate_cli::connect::endpoint_transport(&gateway.get().config).unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(Connector::new(gateway.clone(), transport, Arc::new(botgate::metrics::Discard)).run(rx));
    Running {
        queue,
        gateway,
        stop,
        task,
    }
}

struct Slow(Arc<MemoryQueue>);

#[async_trait::async_trait]
impl botgate::queue::Queue for Slow {
    async fn send(&self, msg: &botgate::queue::OutgoingMessage) -> Result<(), botgate::queue::QueueError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.0.send(msg).await
    }
}

fn feishu_message(event_id: &str, text: &str) -> Value {
    json!({"schema": "2.0",
        "header": {"event_id": event_id, "event_type": "im.message.receive_v1", "create_time": "1795000000000",
            "token": "lc-token", "app_id": FEISHU_APP.0, "tenant_key": "t1"},
        "event": {"sender": {"sender_id": {"open_id": "ou_sender"}},
            "message": {"message_id": format!("om_{event_id}"), "chat_id": "oc_chat", "chat_type": "group",
                "message_type": "text", "content": json!({"text": text}).to_string()}}})
}

/// Waits until the queue has `n` events; returns them.
async fn wait_queued(r: &Running, seen: &mut Vec<String>, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let q = r.queued(seen);
        if q.len() >= n {
            return q;
        }
        assert!(std::time::Instant::now() < deadline, "only {q:?} queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_once(ids: &[String]) {
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for id in ids {
        *counts.entry(id).or_default() += 1;
    }
    assert!(counts.values().all(|c| *c == 1), "each event queued once: {counts:?}");
}

#[tokio::test]
async fn feishu_events_split_frames_and_card_actions_are_queued_once_and_acknowledged_after() {
    let fake = FakeLongConnection::start(Kind::Feishu, FEISHU_APP, 400).await;
    let r = start(Kind::Feishu, &fake).await;
    let mut seen = Vec::new();
    fake.feishu_event("m-plain", &feishu_message("ev-plain", "hello"), 1);
    // A long message in three frames, sent last part first.
    fake.feishu_event("m-split", &feishu_message("ev-split", &"长".repeat(3000)), 3);
    // A card action (schema 2.0 card.action.trigger) and a legacy `card` frame.
    fake.feishu_event(
        "m-card",
        &json!({"schema": "2.0", "header": {"event_id": "ev-card", "event_type": "card.action.trigger", "app_id": FEISHU_APP.0},
            "event": {"operator": {"open_id": "ou_op"}, "action": {"value": {"approve": "yes"}, "tag": "button"},
                "context": {"open_message_id": "om_card", "open_chat_id": "oc_chat"}}}),
        1,
    );
    fake.feishu_card(
        "m-legacy",
        &json!({"open_id": "ou_op", "open_message_id": "om_old", "open_chat_id": "oc_chat", "action": {"value": {"k": 1}, "tag": "button"}}),
    );
    // A press a rule answers.
    fake.feishu_event(
        "m-approve",
        &json!({"schema": "2.0", "header": {"event_id": "ev-approve", "event_type": "card.action.trigger", "app_id": FEISHU_APP.0},
            "event": {"operator": {"open_id": "ou_op"}, "action": {"value": {"name": "approve"}, "tag": "button"},
                "context": {"open_message_id": "om_card", "open_chat_id": "oc_chat"}}}),
        1,
    );
    fake.wait_all_acked(WAIT).await;
    let ids = wait_queued(&r, &mut seen, 5).await;
    assert_once(&ids);
    assert_eq!(
        ids.iter()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        ["card:m-legacy", "ev-approve", "ev-card", "ev-plain", "ev-split"]
            .into_iter()
            .collect()
    );
    let acked = fake.acked();
    assert!(
        acked.iter().all(|a| a.check),
        "acknowledged only once queued: {acked:?}"
    );
    let card = acked.iter().find(|a| a.id == "m-card").unwrap();
    assert_eq!(
        card.data.as_deref(),
        Some(r#"{"toast":{"content":"Noted","type":"success"}}"#),
        "a card action is answered with the bot's card_answer"
    );
    let approve = acked.iter().find(|a| a.id == "m-approve").unwrap();
    assert_eq!(
        approve.data.as_deref(),
        Some(r#"{"toast":{"content":"Approved by ou_op","type":"success"}}"#),
        "a press a rule answers gets the rule's answer, as over a webhook"
    );
    assert!(acked.iter().find(|a| a.id == "m-plain").unwrap().data.is_none());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(fake.pings() >= 1, "the server's PingInterval (1 s) is honoured");
    // The split message arrived whole.
    assert_eq!(fake.deliveries()["m-split"], 1);
    r.stop().await;
}

#[tokio::test]
async fn events_of_one_chat_are_queued_in_the_order_they_arrived() {
    let fake = FakeLongConnection::start(Kind::Feishu, FEISHU_APP, 5_000).await;
    let r = start(Kind::Feishu, &fake).await;
    fake.wait_connections(1, WAIT).await;
    // Three chats, interleaved; the lanes (one chat to a lane) take them in side by side.
    for n in 0..24 {
        let mut m = feishu_message(&format!("ev-{n}"), "x");
        m["event"]["message"]["chat_id"] = json!(format!("oc_chat{}", n % 3));
        fake.feishu_event(&format!("m-{n}"), &m, 1);
    }
    fake.wait_all_acked(WAIT).await;
    let mut seen = Vec::new();
    let ids = wait_queued(&r, &mut seen, 24).await;
    assert_once(&ids);
    for chat in 0..3 {
        let order: Vec<u32> = ids
            .iter()
            .filter_map(|id| id.trim_start_matches("ev-").parse::<u32>().ok())
            .filter(|n| n % 3 == chat)
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "chat {chat}'s events in the order they arrived: {ids:?}");
    }
    r.stop().await;
}

#[tokio::test]
async fn with_the_queue_down_nothing_is_acknowledged_and_the_event_arrives_after_recovery() {
    let fake = FakeLongConnection::start(Kind::Feishu, FEISHU_APP, 200).await;
    let r = start(Kind::Feishu, &fake).await;
    r.queue.set_failing(true);
    fake.feishu_event("m-1", &feishu_message("ev-1", "while the queue is down"), 1);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(fake.acked().is_empty(), "nothing acknowledged while the queue is down");
    assert!(
        fake.deliveries()["m-1"] >= 2,
        "delivered again after each failure answer"
    );
    r.queue.set_failing(false);
    fake.wait_all_acked(WAIT).await;
    let mut seen = Vec::new();
    assert_eq!(wait_queued(&r, &mut seen, 1).await, ["ev-1"]);
    r.stop().await;
}

/// Drops, a zombie and a reconnect request, with events pushed around each: a new
/// connection every time, every event queued once.
async fn survives_drops_zombies_and_reconnect_requests(kind: Kind) {
    let app = if kind == Kind::Feishu { FEISHU_APP } else { DINGTALK_APP };
    let fake = FakeLongConnection::start(kind, app, 300).await;
    let r = start(kind, &fake).await;
    let push = |n: u32| match kind {
        Kind::Feishu => fake.feishu_event(&format!("m{n}"), &feishu_message(&format!("ev{n}"), "x"), 1),
        Kind::Dingtalk => fake.dingtalk_message(&format!("m{n}"), &format!("msg{n}"), "x"),
    };
    let mut seen = Vec::new();
    fake.wait_connections(1, WAIT).await;
    push(1);
    fake.wait_all_acked(WAIT).await;

    fake.drop_connections();
    push(2);
    fake.wait_connections(2, WAIT).await;
    fake.wait_all_acked(WAIT).await;

    // A zombie: the socket stays open, nothing answers. Replaced within the silence timeout.
    let before = fake.elapsed();
    fake.go_silent();
    push(3);
    fake.wait_connections(3, WAIT).await;
    let replaced = fake.connections()[2] - before;
    assert!(
        replaced < Duration::from_secs(3),
        "a zombie is replaced soon after the 600 ms silence timeout, not {replaced:?}"
    );
    fake.wait_all_acked(WAIT).await;

    fake.ask_reconnect();
    push(4);
    fake.wait_connections(4, WAIT).await;
    fake.wait_all_acked(WAIT).await;

    let ids = wait_queued(&r, &mut seen, 4).await;
    assert_once(&ids);
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(fake.acked().iter().all(|a| a.check));
    let (calls, refused) = fake.endpoint_calls();
    assert!(
        calls >= 4 && refused == 0,
        "a fresh endpoint for each connection: {calls}"
    );
    r.stop().await;
}

#[tokio::test]
async fn feishu_survives_drops_zombies_and_reconnect_requests() {
    survives_drops_zombies_and_reconnect_requests(Kind::Feishu).await;
}

#[tokio::test]
async fn dingtalk_survives_drops_zombies_and_disconnect_notices() {
    survives_drops_zombies_and_reconnect_requests(Kind::Dingtalk).await;
}

#[tokio::test]
async fn dingtalk_messages_events_and_pings() {
    let fake = FakeLongConnection::start(Kind::Dingtalk, DINGTALK_APP, 300).await;
    let r = start(Kind::Dingtalk, &fake).await;
    fake.dingtalk_message("m-100", "msg-100", "/help");
    fake.dingtalk_frame(
        "m-200",
        "EVENT",
        "*",
        &json!({"ChatId": "chat9", "Operator": "staff-2"}),
        &[
            ("eventId", "ev-200"),
            ("eventType", "chat_update_title"),
            ("eventBornTime", "1795000000000"),
        ],
    );
    fake.wait_all_acked(WAIT).await;
    let mut seen = Vec::new();
    let ids = wait_queued(&r, &mut seen, 2).await;
    assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>().len(), 2);
    assert!(ids.contains(&"msg-100".to_owned()) && ids.contains(&"ev-200".to_owned()));
    assert!(fake.acked().iter().all(|a| a.check), "acknowledged only once queued");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(fake.pings() >= 1, "the server's pings are answered with their data");
    r.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_retried_slowly() {
    let fake = FakeLongConnection::start(Kind::Dingtalk, (DINGTALK_APP.0, "another-secret"), 300).await;
    let r = start(Kind::Dingtalk, &fake).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (calls, refused) = fake.endpoint_calls();
    assert_eq!(calls, refused, "every call refused");
    assert!(
        (1..=5).contains(&refused),
        "retried at the longest backoff (200 ms here), not in a loop: {refused}"
    );
    assert!(fake.connections().is_empty());
    r.stop().await;
}

#[tokio::test]
async fn one_event_by_webhook_and_by_long_connection_is_queued_once() {
    let fake = FakeLongConnection::start(Kind::Feishu, FEISHU_APP, 300).await;
    let r = start(Kind::Feishu, &fake).await;
    let deps = r.gateway.get();
    let bot = &deps.config.bots["lc"];
    // The same event through the bot's callback URL (encrypted and signed) ...
    let payload = feishu_message("ev-both", "twice");
    let now = botgate::clock::Clock::now_ms(&SystemClock) / 1000;
    let creds = match &bot.credentials {
        botgate::Credentials::Feishu(c) => c.clone(),
        _ => unreachable!(),
    };
    let key = botgate::platform::feishu::derive_key(creds.encrypt_key.as_ref().unwrap().expose());
    let encrypted =
        json!({"encrypt": botgate::platform::feishu::encrypt(&key, payload.to_string().as_bytes())}).to_string();
    let ts = now.to_string();
    let sig = botgate::platform::feishu::signature(&ts, "nonce", "lc-encrypt-key", encrypted.as_bytes());
    let (status, _) = botgate_tests::post(
        &deps,
        "/feishu/lc",
        vec![
            ("x-lark-request-timestamp", &ts),
            ("x-lark-request-nonce", "nonce"),
            ("x-lark-signature", &sig),
        ],
        &encrypted,
    )
    .await;
    assert_eq!(status, 200);
    // ... and over the long connection.
    fake.feishu_event("m-both", &payload, 1);
    fake.wait_all_acked(WAIT).await;
    let mut seen = Vec::new();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(r.queued(&mut seen), ["ev-both"], "queued once");
    r.stop().await;
}

#[tokio::test]
async fn shutdown_closes_the_connection() {
    let fake = FakeLongConnection::start(Kind::Feishu, FEISHU_APP, 300).await;
    let r = start(Kind::Feishu, &fake).await;
    fake.wait_connections(1, WAIT).await;
    let started = std::time::Instant::now();
    r.stop().await;
    assert!(started.elapsed() < Duration::from_secs(3), "stops promptly");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.connections().len(), 1, "no reconnect after shutdown");
}
