//! The dispatcher against a fake platform, with in-memory stores: replies on each
//! platform, retries, permanent errors, token refetch, effects never repeated, partial
//! batch failures, order within a conversation, forwards, state, handlers, and the batch
//! wall time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use botgate::clock::FixedClock;
use botgate::deps::DispatchStores;
use botgate::dispatcher::{EFFECT_IN_PROGRESS_MS, Record, RecordOutcome};
use botgate::handler::{Handler, HandlerContext, HandlerError, Outcome, Registry};
use botgate::inbound::SampleKind;
use botgate::rules::{Action, StateChange};
use botgate::store::ClaimRequest;
use botgate::{EventKind, Message};
use botgate_tests::fake::{FORWARD_SECRET, FakePlatform};
use botgate_tests::{action_outcomes, dispatcher, fake_config, record, sample_event, traced_record};

const NOW: i64 = 1_795_440_463;

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::at_ms(NOW * 1000))
}

/// A dispatcher over fresh in-memory stores at [`NOW`], without custom handlers.
fn memory_dispatcher(config: &botgate::Settings) -> (botgate::dispatcher::Dispatcher, Arc<botgate::metrics::Recorded>) {
    dispatcher(
        config.clone(),
        DispatchStores::in_memory(),
        clock(),
        Registry::default(),
    )
}

fn far() -> i64 {
    NOW * 1000 + 25_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_platform_replies_once_with_a_fresh_token() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let cases = [
        ("feishu-demo", SampleKind::Message, "/help", "feishu"),
        ("wechat-demo", SampleKind::Subscribe, "", "wechat"),
        ("wecom-demo", SampleKind::Message, "disk full", "wecom"),
        ("dingtalk-demo", SampleKind::Message, "ping", "dingtalk-session"),
    ];
    let (d, _) = memory_dispatcher(&config);
    for (i, (bot, kind, text, _)) in cases.iter().enumerate() {
        let mut ev = sample_event(&config, bot, *kind, text, NOW);
        if *bot == "dingtalk-demo" {
            // The session webhook is where DingTalk wants the reply while it is valid.
            ev.reply.session_webhook = Some(format!("{}/robot/sendBySession?session=abc", fake.url));
        }
        let r = d.process_record("t", &record(&format!("m{i}"), bot, &ev), far()).await;
        assert_eq!(r.unwrap(), RecordOutcome::Done, "{bot}");
    }
    let feishu = fake.delivered_to("feishu");
    assert_eq!(feishu.len(), 1);
    assert!(feishu[0].path.ends_with("/reply"), "{}", feishu[0].path);
    assert!(feishu[0].body["content"].as_str().unwrap().contains("/feedback"));
    assert_eq!(feishu[0].body["uuid"].as_str().unwrap().len(), 32);
    let wechat = fake.delivered_to("wechat");
    assert_eq!(wechat.len(), 1);
    assert_eq!(
        wechat[0].body["text"]["content"],
        "Welcome! Send 'help' to see what I can do."
    );
    let wecom = fake.delivered_to("wecom");
    assert_eq!(wecom[0].body["text"]["content"], "Got it: disk full");
    assert_eq!(wecom[0].body["agentid"], 1000002);
    let ding = fake.delivered_to("dingtalk-session");
    assert_eq!(ding[0].body["text"]["content"], "You said: ping");
    for p in ["feishu", "wechat", "wecom"] {
        assert_eq!(fake.token_requests(p), 1, "{p}");
    }
    // The session webhook needs no token.
    assert_eq!(fake.token_requests("dingtalk"), 0);
}

#[tokio::test]
async fn expired_session_webhook_falls_back_to_the_robot_api_with_a_token() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let ev = sample_event(&config, "dingtalk-demo", SampleKind::Message, "ping", NOW);
    // Two hours later the 90-minute session webhook has expired.
    let later = Arc::new(FixedClock::at_ms((NOW + 7200) * 1000));
    let (d, _) = dispatcher(config, DispatchStores::in_memory(), later, Registry::default());
    d.process_record("t", &record("m", "dingtalk-demo", &ev), (NOW + 7200) * 1000 + 25_000)
        .await
        .unwrap();
    let sent = fake.delivered_to("dingtalk");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1.0/robot/groupMessages/send");
    assert_eq!(sent[0].body["openConversationId"], "cidSampleConversation");
    assert_eq!(sent[0].body["msgKey"], "sampleText");
    assert!(sent[0].headers["x-acs-dingtalk-access-token"].starts_with("dingtalk-token-"));
    assert_eq!(fake.token_requests("dingtalk"), 1);
}

#[tokio::test]
async fn the_same_record_twice_sends_one_reply() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let (d, metrics) = memory_dispatcher(&config);
    let ev = sample_event(&config, "wechat-demo", SampleKind::Subscribe, "", NOW);
    let rec = record("m1", "wechat-demo", &ev);
    for _ in 0..2 {
        assert!(d.process_batch("t", vec![rec.clone()], far()).await.is_empty());
    }
    assert_eq!(fake.delivered_to("wechat").len(), 1);
    assert_eq!(
        action_outcomes(&metrics),
        [("reply".into(), "sent".into()), ("reply".into(), "already_sent".into())]
    );
}

/// An instance that died after sending leaves its effect claimed; the next attempt takes
/// it over once the claim lapses. Feishu drops a repeat with the same uuid, so the repeat
/// is sent; WeChat cannot, so it is skipped. Either way the user sees one reply.
#[tokio::test]
async fn crash_after_send_never_gives_a_second_reply() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    for (bot, kind, text, rule, platform, sends) in [
        ("feishu-demo", SampleKind::Message, "/help", "feishu-help", "feishu", 2),
        ("wechat-demo", SampleKind::Subscribe, "", "wechat-welcome", "wechat", 1),
    ] {
        let ev = sample_event(&config, bot, kind, text, NOW);
        // First life: sends, then "crashes" before anything is recorded (fresh stores below).
        let (first, _) = memory_dispatcher(&config);
        first.process_record("t", &record("m", bot, &ev), far()).await.unwrap();
        // What the crash leaves behind: the effect claimed, in progress, past its expiry.
        let stores = DispatchStores::in_memory();
        let key = format!("effect#{bot}#{}#{rule}#0", ev.event_id);
        stores
            .effects
            .claim(ClaimRequest {
                key: &key,
                now_ms: NOW * 1000 - EFFECT_IN_PROGRESS_MS - 1,
                in_progress_ms: EFFECT_IN_PROGRESS_MS,
                retention_secs: 86_400,
                answer: None,
            })
            .await
            .unwrap();
        let (second, metrics) = dispatcher(config.clone(), stores, clock(), Registry::default());
        second.process_record("t", &record("m", bot, &ev), far()).await.unwrap();
        assert_eq!(fake.delivered_to(platform).len(), 1, "{platform}: one reply");
        assert_eq!(fake.send_requests(platform), sends, "{platform}: requests");
        let outcome = if sends == 2 { "sent" } else { "skipped" };
        assert_eq!(action_outcomes(&metrics), [("reply".into(), outcome.into())]);
    }
}

#[tokio::test]
async fn rate_limited_then_ok_is_one_reply_after_backoff() {
    let fake = FakePlatform::for_example().await;
    fake.script(
        "feishu",
        &[(429, r#"{"code":99991400,"msg":"request trigger frequency limit"}"#)],
    );
    let config = fake_config(&fake).await;
    let (d, metrics) = memory_dispatcher(&config);
    let ev = sample_event(&config, "feishu-demo", SampleKind::Message, "/help", NOW);
    let started = Instant::now();
    assert!(
        d.process_batch("t", vec![record("m", "feishu-demo", &ev)], far())
            .await
            .is_empty()
    );
    assert!(started.elapsed().as_millis() >= 10, "no backoff pause");
    assert_eq!(fake.send_requests("feishu"), 2);
    assert_eq!(fake.delivered_to("feishu").len(), 1);
    let lines = metrics.0.lock().unwrap().clone();
    let action = lines.iter().find(|l| l.get("action").is_some()).unwrap();
    assert_eq!(
        (action["outcome"].as_str(), action["send_attempts"].as_u64()),
        (Some("sent"), Some(2))
    );
}

#[tokio::test]
async fn permanent_error_is_not_retried_and_the_record_is_done() {
    let fake = FakePlatform::for_example().await;
    fake.always("wechat", 200, r#"{"errcode":40003,"errmsg":"invalid openid"}"#);
    let config = fake_config(&fake).await;
    let (d, metrics) = memory_dispatcher(&config);
    let ev = sample_event(&config, "wechat-demo", SampleKind::Subscribe, "", NOW);
    assert!(
        d.process_batch("t", vec![record("m", "wechat-demo", &ev)], far())
            .await
            .is_empty()
    );
    assert_eq!(fake.send_requests("wechat"), 1, "a permanent error is not retried");
    assert_eq!(action_outcomes(&metrics), [("reply".into(), "permanent".into())]);
    // Redelivery does not try again either.
    d.process_batch("t", vec![record("m", "wechat-demo", &ev)], far()).await;
    assert_eq!(fake.send_requests("wechat"), 1);
}

#[tokio::test]
async fn an_invalid_token_is_refetched_once() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let (d, _) = memory_dispatcher(&config);
    for (i, text) in ["one", "two"].iter().enumerate() {
        if i == 1 {
            fake.revoke_tokens();
        }
        let ev = sample_event(&config, "wecom-demo", SampleKind::Message, text, NOW);
        assert!(
            d.process_batch("t", vec![record(&format!("m{i}"), "wecom-demo", &ev)], far())
                .await
                .is_empty()
        );
    }
    assert_eq!(fake.token_requests("wecom"), 2);
    assert_eq!(fake.delivered_to("wecom").len(), 2);
    assert_eq!(fake.send_requests("wecom"), 3);
}

#[tokio::test]
async fn bad_app_secret_is_a_permanent_failure() {
    let fake = FakePlatform::start(&[("wx1m3vrk1npimbdk01", "another-secret")], FORWARD_SECRET).await;
    let config = fake_config(&fake).await;
    let (d, metrics) = memory_dispatcher(&config);
    let ev = sample_event(&config, "wechat-demo", SampleKind::Subscribe, "", NOW);
    assert!(
        d.process_batch("t", vec![record("m", "wechat-demo", &ev)], far())
            .await
            .is_empty()
    );
    assert_eq!(fake.token_requests("wechat"), 1);
    assert_eq!(fake.send_requests("wechat"), 0);
    assert_eq!(action_outcomes(&metrics), [("reply".into(), "permanent".into())]);
}

/// A WeCom message from user `i` (its own conversation).
fn wecom_user_record(config: &botgate::Settings, i: usize) -> Record {
    let mut ev = sample_event(config, "wecom-demo", SampleKind::Message, &format!("n{i}"), NOW);
    ev.sender_id = Some(format!("user{i}"));
    ev.chat_id = Some(format!("user{i}"));
    ev.reply.open_id = Some(format!("user{i}"));
    record(&format!("m{i}"), "wecom-demo", &ev)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_of_ten_with_one_malformed_record_fails_only_that_one() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let (d, _) = memory_dispatcher(&config);
    let mut records: Vec<Record> = (0..9).map(|i| wecom_user_record(&config, i)).collect();
    records.insert(
        4,
        Record {
            message_id: "bad".into(),
            body: "{not json".into(),
            group_id: Some("g-bad".into()),
            receive_count: 1,
        },
    );
    let failed = d.process_batch("t", records, far()).await;
    assert_eq!(failed, ["bad"]);
    assert_eq!(fake.delivered_to("wecom").len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_holds_back_the_rest_of_its_conversation_only() {
    let fake = FakePlatform::for_example().await;
    fake.always("wechat", 503, "busy");
    let config = fake_config(&fake).await;
    let (d, _) = memory_dispatcher(&config);
    let mut records = Vec::new();
    for i in 0..3 {
        let mut ev = sample_event(&config, "wechat-demo", SampleKind::Subscribe, "", NOW);
        ev.event_id = format!("e{i}");
        ev.sender_id = Some("same-user".into());
        ev.chat_id = Some("same-user".into());
        records.push(record(&format!("wx{i}"), "wechat-demo", &ev));
    }
    let other = sample_event(&config, "wecom-demo", SampleKind::Message, "fine", NOW);
    records.push(record("wc", "wecom-demo", &other));
    let mut failed = d.process_batch("t", records, far()).await;
    failed.sort();
    assert_eq!(failed, ["wx0", "wx1", "wx2"]);
    // Only the first of the conversation was tried (3 attempts); the others waited.
    assert_eq!(fake.send_requests("wechat"), 3);
    assert_eq!(fake.delivered_to("wecom").len(), 1);
}

#[tokio::test]
async fn forwards_are_signed_and_checked_by_the_receiver() {
    let fake = FakePlatform::for_example().await;
    let mut config = fake_config(&fake).await;
    let yaml = format!(
        "- name: fwd\n  when: {{platform: wecom}}\n  forward: {{url: '{}/forward/events', secret: {FORWARD_SECRET}}}\n\
         - name: fwd-bad\n  when: {{platform: wechat}}\n  forward: {{url: '{}/forward/events', secret: wrong}}\n",
        fake.url, fake.url
    );
    let v: serde_json::Value = serde_saphyr_free_parse(&yaml);
    config.rules = Arc::new(botgate::deps::rules(&v, &config.bots).unwrap());
    // The receiver checks the timestamp against its own clock: send on the real one.
    let system = Arc::new(botgate::clock::SystemClock);
    let deadline = botgate::clock::Clock::now_ms(&botgate::clock::SystemClock) + 25_000;
    let (d, metrics) = dispatcher(config.clone(), DispatchStores::in_memory(), system, Registry::default());
    let ev = sample_event(&config, "wecom-demo", SampleKind::Message, "hello", NOW);
    d.process_record("t", &traced_record("m1", "wecom-demo", &ev, Some("apigw-7")), deadline)
        .await
        .unwrap();
    let bad = sample_event(&config, "wechat-demo", SampleKind::Message, "hello", NOW);
    d.process_record("t", &record("m2", "wechat-demo", &bad), deadline)
        .await
        .unwrap();
    let got = fake.delivered_to("forward");
    assert_eq!(got.len(), 1, "only the correctly signed forward is accepted");
    assert_eq!(got[0].body["event"]["text"], "hello");
    assert_eq!(got[0].body["bot"], "wecom-demo");
    assert_eq!(got[0].headers["x-botgate-event-id"], ev.event_id);
    assert_eq!(got[0].headers["x-botgate-delivery"].len(), 64);
    assert_eq!(got[0].headers["x-botgate-trace-id"], "apigw-7", "the trace goes on");
    assert_eq!(
        action_outcomes(&metrics),
        [
            ("forward".into(), "sent".into()),
            ("forward".into(), "permanent".into())
        ]
    );
}

fn serde_saphyr_free_parse(yaml: &str) -> serde_json::Value {
    serde_saphyr::from_str(yaml).unwrap()
}

#[tokio::test]
async fn a_two_step_command_keeps_state_per_user() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let (d, _) = memory_dispatcher(&config);
    let steps = ["/feedback", "Fast and simple", "/help"];
    for (i, text) in steps.iter().enumerate() {
        let ev = sample_event(&config, "feishu-demo", SampleKind::Message, text, NOW);
        let rec = record(&format!("m{i}"), "feishu-demo", &ev);
        d.process_record("t", &rec, far()).await.unwrap();
        // A redelivery of the same event plans from the state before it: no new reply.
        d.process_record("t", &rec, far()).await.unwrap();
    }
    let texts: Vec<String> = fake
        .delivered_to("feishu")
        .iter()
        .map(|m| m.body["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[0].contains("What do you think of botgate"));
    assert!(texts[1].contains("Thanks! Noted: Fast and simple"));
    assert!(texts[2].contains("/feedback"), "state cleared: /help answered normally");
}

/// The handler of the documentation: counts a user's messages in the conversation state.
struct Counter;

#[async_trait::async_trait]
impl Handler for Counter {
    fn name(&self) -> &str {
        "counter"
    }

    async fn handle(&self, cx: &HandlerContext<'_>) -> Result<Outcome, HandlerError> {
        if cx.event.text.as_deref() == Some("pass") {
            return Ok(Outcome::Pass);
        }
        let seen = cx.state.get("seen").and_then(serde_json::Value::as_u64).unwrap_or(0) + 1;
        Ok(Outcome::Handled {
            actions: vec![Action::Reply(Message::text(format!("message number {seen}")))],
            state: StateChange::Set(serde_json::json!({ "seen": seen })),
        })
    }
}

#[tokio::test]
async fn custom_handlers_run_before_rules_and_can_pass() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let mut handlers = Registry::default();
    handlers.register("message", Arc::new(Counter));
    let (d, _) = dispatcher(config.clone(), DispatchStores::in_memory(), clock(), handlers);
    for (i, text) in ["a", "b", "pass"].iter().enumerate() {
        let ev = sample_event(&config, "wecom-demo", SampleKind::Message, text, NOW);
        assert_eq!(ev.kind, EventKind::Message);
        d.process_record("t", &record(&format!("m{i}"), "wecom-demo", &ev), far())
            .await
            .unwrap();
    }
    let texts: Vec<String> = fake
        .delivered_to("wecom")
        .iter()
        .map(|m| m.body["text"]["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["message number 1", "message number 2", "Got it: pass"]);
}

/// Measurement: ten records for ten chats against a platform answering in 50 ms take
/// about as long as one record (the groups run concurrently).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_chats_take_less_than_twice_one_record() {
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let (d, _) = memory_dispatcher(&config);
    // Warm the token cache and the connection pool, as a warm Lambda instance would be.
    let warm = sample_event(&config, "wecom-demo", SampleKind::Message, "warm", NOW);
    d.process_record("t", &record("w", "wecom-demo", &warm), far())
        .await
        .unwrap();
    fake.set_latency_ms(50);
    let make = |i: usize| wecom_user_record(&config, i);
    let t = Instant::now();
    assert!(d.process_batch("t", vec![make(100)], far()).await.is_empty());
    let one = t.elapsed();
    let batch: Vec<Record> = (0..10).map(make).collect();
    let t = Instant::now();
    assert!(d.process_batch("t", batch, far()).await.is_empty());
    let ten = t.elapsed();
    println!(
        "batch wall time: 1 record {:.1} ms, 10 records for 10 chats {:.1} ms ({:.2}x)",
        one.as_secs_f64() * 1000.0,
        ten.as_secs_f64() * 1000.0,
        ten.as_secs_f64() / one.as_secs_f64()
    );
    assert!(ten < one * 2, "10 chats took {ten:?}, one took {one:?}");
    assert_eq!(fake.delivered_to("wecom").len(), 12);
}

#[tokio::test]
async fn a_refused_ip_says_where_to_allow_list_it() {
    let fake = FakePlatform::for_example().await;
    fake.refuse_ip("wechat");
    fake.refuse_ip("wecom");
    let mut config = fake_config(&fake).await;
    for (name, bot, to) in [("wx", "wechat-demo", "openid-1"), ("wc", "wecom-demo", "user-1")] {
        let target = serde_json::json!({"type": "app", "bot": bot, "to": to});
        config
            .targets
            .insert(name.into(), botgate::deps::target(&target, &config.bots).unwrap());
    }
    let (d, _) = memory_dispatcher(&config);
    let input =
        serde_json::json!({"targets": ["wx", "wc"], "message": "hello", "scheduled_time": "2026-11-25T01:00:00Z"});
    let err = botgate::scheduler::run(&d, input, "r", far()).await.unwrap_err();
    assert!(
        err.is_permanent(),
        "an IP refusal fails the same way until fixed: {err}"
    );
    let err = err.to_string();
    assert!(
        err.contains("errcode 40164") && err.contains("not on the WeChat Official Account's IP allow-list"),
        "{err}"
    );
    assert!(
        err.contains("errcode 60020") && err.contains("not among the WeCom app's trusted IPs"),
        "{err}"
    );
    assert_eq!(err.matches("EgressIp").count(), 2, "{err}");
    assert_eq!(
        fake.send_requests("wechat") + fake.send_requests("wecom"),
        0,
        "no token, no send"
    );
}
