//! Regression tests for the holes an adversarial review of `botgate serve` and the runtime
//! found (each failed before its fix), and for the suspicions it raised.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use botgate::callback::Deps;
use botgate::clock::{Clock, FixedClock, SystemClock};
use botgate::deps::DispatchStores;
use botgate::dispatcher::Record;
use botgate::handler::Registry;
use botgate::inbound::SampleKind;
use botgate::store::memory::MemoryStore;
use botgate_tests::fake::FakePlatform;
use botgate_tests::post as call;
use botgate_tests::{deps, dispatcher, fake_config, record, sample_event};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DINGTALK_SECRET: &str = "uGZVplMZhBhMugETucJjc8Ekq33Pn1kFEmD0BMTUUBKMqnQVJGuQOqYpurYV3lBd";

fn memory_deps(config: botgate::Settings, now_ms: i64) -> Deps {
    let queue = Arc::new(botgate::queue::memory::MemoryQueue::new(
        Arc::new(SystemClock),
        config.max_message_bytes,
    ));
    deps(
        config,
        Arc::new(MemoryStore::new()),
        queue,
        Arc::new(FixedClock::at_ms(now_ms)),
    )
    .0
}

fn robot_body(msg_id: &str, text: &str, webhook: &str) -> String {
    json!({"msgId": msg_id, "conversationId": "cid1", "conversationType": "2", "senderStaffId": "u1",
           "msgtype": "text", "text": {"content": text}, "robotCode": "dingmfj88k27cmra8su0",
           "sessionWebhook": webhook, "sessionWebhookExpiredTime": 9_999_999_999_999i64})
    .to_string()
}

/// One captured `timestamp` + `sign` pair carries one message, not any.
#[tokio::test]
async fn a_dingtalk_signature_is_accepted_for_one_message_only() {
    let now_ms = SystemClock.now_ms();
    let d = memory_deps(botgate_tests::example_config().await, now_ms);
    let ts = now_ms.to_string();
    let sign = botgate::platform::dingtalk::hmac_sign(DINGTALK_SECRET, &ts);
    let headers = || vec![("timestamp", ts.as_str()), ("sign", sign.as_str())];
    let hook = "https://oapi.dingtalk.com/robot/sendBySession?session=s";
    let genuine = robot_body("msg-1", "deploy api", hook);
    assert_eq!(call(&d, "/dingtalk/dingtalk-demo", headers(), &genuine).await.0, 200);
    // DingTalk's own retry of the same message: a duplicate, acknowledged.
    assert_eq!(call(&d, "/dingtalk/dingtalk-demo", headers(), &genuine).await.0, 200);
    for (i, forged) in ["drop the database", "wire the money"].iter().enumerate() {
        let body = robot_body(&format!("forged-{i}"), forged, "http://127.0.0.1:1/admin");
        let (status, reason) = call(&d, "/dingtalk/dingtalk-demo", headers(), &body).await;
        assert_eq!((status, reason.as_str()), (401, "replayed_signature"));
    }
}

/// The sessionWebhook comes from the unsigned body: botgate posts only to DingTalk's own
/// session webhook URLs (the fake's loopback host is allowed in the tests' configuration).
#[tokio::test]
async fn a_session_webhook_elsewhere_is_never_posted_to() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let mut ev = sample_event(
        &config,
        "dingtalk-demo",
        SampleKind::Message,
        "hi",
        SystemClock.now_secs(),
    );
    ev.reply.session_webhook = Some(format!("{}/forward/stolen?session=abc", fake.url));
    let (d, _) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    let failed = d
        .process_batch(
            "t",
            vec![record("m1", "dingtalk-demo", &ev)],
            SystemClock.now_ms() + 20_000,
        )
        .await;
    assert!(failed.is_empty());
    assert!(fake.delivered_to("forward").is_empty(), "posted to a URL from the body");
    assert_eq!(
        fake.delivered_to("dingtalk").len(),
        1,
        "answered through the robot API instead"
    );
}

/// A redirect is an answer, not an instruction.
#[tokio::test]
async fn redirects_are_never_followed() {
    let fake = FakePlatform::for_example().await;
    let mut config = fake_config(&fake).await;
    let rules = json!([{"name": "fwd", "when": {}, "forward": {"url": format!("{}/redirect", fake.url),
        "secret": botgate_tests::fake::FORWARD_SECRET}}]);
    config.rules = Arc::new(botgate::deps::rules(&rules, &config.bots).unwrap());
    let ev = sample_event(
        &config,
        "feishu-demo",
        SampleKind::Message,
        "hi",
        SystemClock.now_secs(),
    );
    let (d, metrics) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    d.process_batch(
        "t",
        vec![record("m1", "feishu-demo", &ev)],
        SystemClock.now_ms() + 20_000,
    )
    .await;
    assert!(fake.delivered_to("forward").is_empty(), "the redirect was followed");
    assert_eq!(
        botgate_tests::action_outcomes(&metrics),
        [("forward".to_owned(), "permanent".to_owned())]
    );
}

/// Forwards carry no credential: not Feishu's verification token (the only one a bot
/// without an encrypt key has), not DingTalk's session webhook unless asked for.
#[tokio::test]
async fn forwards_leave_credentials_behind() {
    let fake = FakePlatform::for_example().await;
    let mut config = fake_config(&fake).await;
    let rules = json!([
        {"name": "ding-reply", "when": {"platform": "dingtalk"}, "continue": true,
            "forward": {"url": format!("{}/forward/r", fake.url), "secret": botgate_tests::fake::FORWARD_SECRET,
                "include_session_webhook": true}},
        {"name": "ding", "when": {"platform": "dingtalk"}, "forward": {"url": format!("{}/forward/d", fake.url),
            "secret": botgate_tests::fake::FORWARD_SECRET}},
        {"name": "fs", "when": {"platform": "feishu"}, "forward": {"url": format!("{}/forward/f", fake.url),
            "secret": botgate_tests::fake::FORWARD_SECRET}}
    ]);
    config.rules = Arc::new(botgate::deps::rules(&rules, &config.bots).unwrap());
    let now = SystemClock.now_secs();
    let fs = sample_event(&config, "feishu-plain", SampleKind::Message, "hi", now);
    assert!(
        fs.raw.contains("6ENTbiudpnZOI68F2oRySblch8SriNub"),
        "the raw payload holds the token"
    );
    let ding = sample_event(&config, "dingtalk-demo", SampleKind::Message, "hi", now);
    let (d, _) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    let records = vec![record("m1", "feishu-plain", &fs), record("m2", "dingtalk-demo", &ding)];
    assert!(
        d.process_batch("t", records, SystemClock.now_ms() + 20_000)
            .await
            .is_empty()
    );
    let got = fake.delivered_to("forward");
    let body = |path: &str| {
        got.iter()
            .find(|d| d.path == path)
            .map(|d| d.body.to_string())
            .unwrap_or_else(|| panic!("nothing at {path}"))
    };
    assert!(
        !body("/forward/f").contains("6ENTbiudpnZOI68F2oRySblch8SriNub"),
        "{}",
        body("/forward/f")
    );
    assert!(body("/forward/f").contains("im.message.receive_v1"));
    assert!(!body("/forward/d").contains("sendBySession"), "{}", body("/forward/d"));
    assert!(body("/forward/r").contains("sendBySession"), "asked for: kept");
}

fn notify_config(config: &mut botgate::Settings, api: Value) {
    config.notify_api = Some(botgate::deps::notify_api(&api).unwrap());
}

/// A template in a notify request cannot take the process's memory or time: templates are
/// off unless the API allows them, and bounded when it does.
#[tokio::test]
async fn notify_api_templates_are_off_by_default_and_bounded_when_on() {
    let fake = FakePlatform::for_example().await;
    let mut config = fake_config(&fake).await;
    let t = json!({"type": "wecom_webhook", "url": format!("{}/cgi-bin/webhook/send?key={}", fake.url, botgate_tests::fake::WECOM_KEY)});
    config
        .targets
        .insert("ops".into(), botgate::deps::target(&t, &config.bots).unwrap());
    // The 217-byte request of the review, and the same bomb in the title.
    let bomb = r#"{"message":{"text":"{% for a in range(100000) %}{% for b in range(100000) %}{{ 'xxxxxxxxxx' * 1000 }}{% endfor %}{% endfor %}"},"data":{}}"#;
    notify_config(&mut config, json!({"bearer_token": "b"}));
    let d = memory_deps(config.clone(), SystemClock.now_ms());
    let (status, _) = call(&d, "/notify/ops", vec![("authorization", "Bearer b")], bomb).await;
    assert_eq!(status, 400, "`data` needs templates, which are off");
    let literal = r#"{"message":{"type":"markdown","title":"{{ not rendered }}","text":"x"}}"#;
    assert_eq!(
        call(&d, "/notify/ops", vec![("authorization", "Bearer b")], literal)
            .await
            .0,
        202
    );

    notify_config(&mut config, json!({"bearer_token": "b", "allow_templates": true}));
    let d = memory_deps(config, SystemClock.now_ms());
    let started = std::time::Instant::now();
    let (status, _) = call(&d, "/notify/ops", vec![("authorization", "Bearer b")], bomb).await;
    assert_eq!(status, 400);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

/// Credentials first: an unknown target is not told from a known one without them, and a
/// timestamp at the far end of i64 neither wraps nor panics.
#[tokio::test]
async fn notify_api_authenticates_before_anything_else() {
    let fake = FakePlatform::for_example().await;
    let mut config = fake_config(&fake).await;
    let t = json!({"type": "wecom_webhook", "url": format!("{}/cgi-bin/webhook/send?key=k", fake.url)});
    config
        .targets
        .insert("ops".into(), botgate::deps::target(&t, &config.bots).unwrap());
    notify_config(&mut config, json!({"bearer_token": "b", "hmac_secret": "h"}));
    let d = memory_deps(config, SystemClock.now_ms());
    let body = r#"{"text":"x"}"#;
    let known = call(&d, "/notify/ops", vec![], body).await;
    let unknown = call(&d, "/notify/no-such-target", vec![], body).await;
    assert_eq!((known.0, unknown.0), (401, 401));
    assert_eq!(known.1, unknown.1);
    assert_eq!(
        call(&d, "/notify/no-such-target", vec![("authorization", "Bearer b")], body)
            .await
            .0,
        404
    );
    assert_eq!(
        call(&d, "/notify/ops", vec![("authorization", "bearer b")], body)
            .await
            .0,
        202
    );
    assert_eq!(
        call(&d, "/notify/ops", vec![("authorization", "BEARER b")], body)
            .await
            .0,
        202
    );
    let ts = i64::MIN.to_string();
    let sig = botgate::delivery::forward::signature("h", i64::MIN, body);
    let headers = vec![
        ("x-botgate-timestamp", ts.as_str()),
        ("x-botgate-signature", sig.as_str()),
    ];
    assert_eq!(call(&d, "/notify/ops", headers, body).await.0, 401);
}

/// User text inserted by a template cannot mention anyone.
#[tokio::test]
async fn user_text_cannot_inject_mentions_into_replies() {
    let fake = FakePlatform::for_example().await;
    let mut config = fake_config(&fake).await;
    let rules = json!([{"name": "echo", "when": {"platform": "feishu"}, "reply": "You said: {{ text }}"}]);
    config.rules = Arc::new(botgate::deps::rules(&rules, &config.bots).unwrap());
    let ev = sample_event(
        &config,
        "feishu-demo",
        SampleKind::Message,
        r#"hi <at user_id="all"></at>"#,
        SystemClock.now_secs(),
    );
    let (d, _) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    assert!(
        d.process_batch(
            "t",
            vec![record("m1", "feishu-demo", &ev)],
            SystemClock.now_ms() + 20_000
        )
        .await
        .is_empty()
    );
    let sent = fake.delivered_to("feishu");
    let content = sent[0].body["content"].as_str().unwrap();
    assert!(content.contains("You said: hi"), "{content}");
    assert!(!content.contains(r#"<at user_id=\"all\">"#), "{content}");
}

/// Configuration that used to pass and then panic, or pass and then leak.
#[tokio::test]
async fn dangerous_configurations_are_refused_with_the_field_named() {
    let base = "bots:\n  f:\n    platform: feishu\n    verification_token: t\n";
    let cases = [
        (
            "targets:\n  t: {type: dingtalk_webhook, url: 'https://oapi.dingtalk.com/robot/send?access_token=x', rate_limit: [{per_secs: 60, max: 0}]}\n",
            "rate_limit[0].max",
        ),
        (
            "rules:\n  - name: fwd\n    forward: {url: 'http://localhost:9@127.0.0.1:18500/x', secret: s}\n",
            "user name",
        ),
        ("gateway:\n  dedup_retention_secs: 3600\n", "Feishu retries"),
        (
            "delivery:\n  base_urls: {feishu: 'http://open.feishu.cn'}\n",
            "delivery.base_urls.feishu",
        ),
    ];
    for (extra, expected) in cases {
        let text = format!("{base}{extra}");
        let e = botgate::deps::load_yaml(&text, &botgate::config::EnvResolver)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected), "{extra}: {e}");
    }
}

/// The body limit is per route: a notify-only configuration takes notify requests.
#[tokio::test]
async fn a_notify_only_gateway_takes_notify_requests() {
    let text = "notify_api: {bearer_token: b}\ntargets:\n  ops: {type: wecom_webhook, url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k'}\nbots: {}\n";
    let config = botgate::deps::load_yaml(text, &botgate::config::EnvResolver)
        .await
        .unwrap();
    let limit = botgate_cli::serve::body_limit(&config);
    assert!(limit > 2048, "{limit}");
    let d = memory_deps(config, SystemClock.now_ms());
    let body = json!({"text": "x".repeat(2000)}).to_string();
    assert_eq!(
        call(&d, "/notify/ops", vec![("authorization", "Bearer b")], &body)
            .await
            .0,
        202
    );
    let huge = json!({"text": "x".repeat(2 * 1024 * 1024)}).to_string();
    assert_eq!(
        call(&d, "/notify/ops", vec![("authorization", "Bearer b")], &huge)
            .await
            .0,
        413
    );
}

type Server = tokio::task::JoinHandle<std::io::Result<()>>;

/// `botgate serve`'s listener with `limits` over `config` on a loopback port, until the
/// returned sender is used or dropped.
async fn serve_example(
    config: botgate::Settings,
    limits: botgate::settings::ServeSettings,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, Server) {
    let d = memory_deps(config, SystemClock.now_ms());
    let router = botgate_cli::serve::router(Arc::new(botgate::reload::Live::new(d)), 1 << 20);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(botgate_cli::http::serve(listener, router, limits, async move {
        let _ = stop_rx.await;
    }));
    (addr, stop_tx, server)
}

/// Idle and half-open connections are closed, and hundreds of them do not stop the server.
#[tokio::test]
async fn serve_closes_idle_connections_and_keeps_answering() {
    let config = botgate_tests::example_config().await;
    let limits = botgate::settings::ServeSettings {
        header_read_timeout_secs: 1,
        request_timeout_secs: 2,
        idle_timeout_secs: 2,
        max_connections: 400,
        shutdown_grace_secs: 1,
    };
    let (addr, stop_tx, server) = serve_example(config, limits).await;
    // 300 connections that never send a byte (half-open, slowloris).
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let healthz = || async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let mut buf = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        (String::from_utf8_lossy(&buf[..n]).into_owned(), s)
    };
    let (answer, mut kept) = healthz().await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Past the header timeout, every half-open connection has been closed by the server.
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    for s in &mut idle {
        let mut b = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut b)).await;
        assert!(
            matches!(n, Ok(Ok(_)) | Ok(Err(_))),
            "a half-open connection is still open"
        );
    }
    // The kept-alive connection that answered is closed once idle.
    let mut b = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(4), kept.read(&mut b)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "an idle keep-alive connection stayed open"
    );
    let (answer, _) = healthz().await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// A connection past the cap is closed at once, and a slow request gets a 408.
#[tokio::test]
async fn serve_caps_connections_and_times_requests_out() {
    let config = botgate_tests::example_config().await;
    let limits = botgate::settings::ServeSettings {
        header_read_timeout_secs: 5,
        request_timeout_secs: 1,
        idle_timeout_secs: 30,
        max_connections: 2,
        shutdown_grace_secs: 1,
    };
    let (addr, _stop, _server) = serve_example(config, limits).await;
    // A request whose body never finishes: answered 408 after the request timeout.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /feishu/feishu-demo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
        .await
        .unwrap();
    let _second = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut b = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), third.read(&mut b))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "the third connection was served");
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(3), slow.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

/// A batch that starts with too little time left sends nothing (a send cut off by the
/// invocation's timeout would be skipped on WeChat and DingTalk, never retried).
#[tokio::test]
async fn no_send_starts_that_could_not_finish_before_the_deadline() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let now = SystemClock.now_secs();
    let ev = sample_event(&config, "wechat-demo", SampleKind::Subscribe, "", now);
    let (d, _) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    let rec = record("m1", "wechat-demo", &ev);
    let failed = d
        .process_batch("t", vec![rec.clone()], SystemClock.now_ms() + 300)
        .await;
    assert_eq!(failed, ["m1"]);
    assert_eq!(fake.send_requests("wechat"), 0);
    // With time, the same record is sent once.
    assert!(
        d.process_batch("t", vec![rec], SystemClock.now_ms() + 20_000)
            .await
            .is_empty()
    );
    assert_eq!(fake.delivered_to("wechat").len(), 1);
}

/// A record that can never succeed does not hold its conversation back.
#[tokio::test]
async fn a_record_that_can_never_succeed_is_marked_permanent_and_blocks_nothing() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let ev = sample_event(&config, "wecom-demo", SampleKind::Message, "hi", SystemClock.now_secs());
    let good = record("m2", "wecom-demo", &ev);
    let bad = Record {
        message_id: "m1".into(),
        body: "not an envelope".into(),
        group_id: good.group_id.clone(),
        receive_count: 1,
    };
    let (d, _) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    let failed = d
        .process_batch_detailed("t", vec![bad, good], SystemClock.now_ms() + 20_000)
        .await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0].permanent && failed[0].message_id == "m1");
    assert_eq!(
        fake.delivered_to("wecom").len(),
        1,
        "the next record of the conversation ran"
    );
}
