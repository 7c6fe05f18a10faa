//! `botgate serve` (the real binary) with long-connection bots and no public URL: a Feishu
//! bot and a DingTalk bot in `mode: long_connection` against the fake servers of
//! `botgate-tests` (`support/longconn.rs`). Pushed events are acknowledged (the fakes
//! redeliver what is not), reach the dispatcher once each, and a rule answers them; SIGTERM
//! closes the connections and exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use botgate_tests::longconn::{FakeLongConnection, Kind};
use serde_json::{Value, json};
use support::{Serve, free_port, http};

const FEISHU_APP: (&str, &str) = ("cli_serveconn01", "feishu-serve-secret");
const DINGTALK_APP: (&str, &str) = ("dingserveconn01", "dingtalk-serve-secret");

fn config(feishu: &FakeLongConnection, dingtalk: &FakeLongConnection) -> String {
    format!(
        "connector: {{ping_interval_ms: 200, silence_timeout_ms: 1000, reconnect_max_ms: 500}}\n\
         delivery: {{dry_run: true}}\n\
         bots:\n\
         \x20 lark:\n    platform: feishu\n    mode: long_connection\n    app_id: {}\n    app_secret: {}\n    api_base: {}\n\
         \x20 ding:\n    platform: dingtalk\n    mode: long_connection\n    app_key: {}\n    app_secret: {}\n    api_base: {}\n\
         rules:\n\
         \x20 - name: help\n    when: {{command: /help}}\n    reply: \"Commands: /help\"\n",
        FEISHU_APP.0, FEISHU_APP.1, feishu.url, DINGTALK_APP.0, DINGTALK_APP.1, dingtalk.url
    )
}

fn feishu_message(event_id: &str, text: &str) -> Value {
    json!({"schema": "2.0",
        "header": {"event_id": event_id, "event_type": "im.message.receive_v1", "create_time": "1795000000000",
            "app_id": FEISHU_APP.0, "tenant_key": "t1"},
        "event": {"sender": {"sender_id": {"open_id": "ou_sender"}},
            "message": {"message_id": format!("om_{event_id}"), "chat_id": "oc_chat", "chat_type": "p2p",
                "message_type": "text", "content": json!({"text": text}).to_string()}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_long_connection_bots_with_no_public_url() {
    let feishu = FakeLongConnection::start(Kind::Feishu, FEISHU_APP, 300).await;
    let dingtalk = FakeLongConnection::start(Kind::Dingtalk, DINGTALK_APP, 300).await;
    let dir = std::env::temp_dir().join(format!("botgate-serve-connect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("botgate.yaml");
    std::fs::write(&path, config(&feishu, &dingtalk)).unwrap();

    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_botgate"))
        .args(["serve", "--no-schedules", "--json", "--config"])
        .arg(&path)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let mut serve = Serve(child);
    let started = Instant::now();
    while http(port, "GET", "/healthz", &[], "").await.0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(30), "serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    feishu.wait_connections(1, Duration::from_secs(10)).await;
    dingtalk.wait_connections(1, Duration::from_secs(10)).await;

    // A split Feishu payload, a plain one, and a DingTalk chat-bot message.
    feishu.feishu_event("m-1", &feishu_message("ev-1", "/help"), 3);
    feishu.feishu_event("m-2", &feishu_message("ev-2", "hello"), 1);
    dingtalk.dingtalk_message("m-3", "msg-3", "/help");
    feishu.wait_all_acked(Duration::from_secs(10)).await;
    dingtalk.wait_all_acked(Duration::from_secs(10)).await;
    assert!(
        feishu.deliveries().values().all(|&n| n == 1),
        "{:?}",
        feishu.deliveries()
    );
    assert!(
        dingtalk.deliveries().values().all(|&n| n == 1),
        "{:?}",
        dingtalk.deliveries()
    );

    // The dispatcher (in the same process, on the in-memory queue) handles each once.
    let mut logs = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // SIGTERM: graceful shutdown (connections closed, exit status 0).
    let term = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(term.success());
    let status = loop {
        if let Some(status) = serve.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    stdout.read_to_string(&mut logs).unwrap();
    let lines: Vec<Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let field = |l: &Value, k: &str| {
        l.get(k)
            .or_else(|| l.get("fields").and_then(|f| f.get(k)))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let records = |id: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| field(l, "message").as_deref() == Some("record") && field(l, "event_id").as_deref() == Some(id))
            .filter_map(|l| field(l, "outcome"))
            .collect()
    };
    assert_eq!(records("ev-1"), ["done"], "{logs}");
    assert_eq!(records("ev-2"), ["no_rule"], "{logs}");
    assert_eq!(records("msg-3"), ["done"], "{logs}");
    let pushed = lines
        .iter()
        .filter(|l| field(l, "message").as_deref() == Some("pushed event"))
        .count();
    assert_eq!(pushed, 3, "{logs}");
    let closed = lines
        .iter()
        .filter(|l| {
            field(l, "message").as_deref() == Some("long connection")
                && field(l, "outcome").as_deref() == Some("shutdown")
        })
        .count();
    assert_eq!(closed, 2, "both connections closed on SIGTERM: {logs}");
    assert!(
        !logs.contains(FEISHU_APP.1) && !logs.contains(DINGTALK_APP.1),
        "no secret in the logs"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
