//! Notifications to custom group bots against the fake platform: signatures as the
//! platforms check them, the DingTalk robot's 20-per-minute limit on a virtual clock, and
//! over-long messages split within each platform's limit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use botgate::Settings;
use botgate::clock::{Clock, FixedClock};
use botgate::deps::DispatchStores;
use botgate::handler::Registry;
use botgate::message::Message;
use botgate::notify::Sent;
use botgate::notify::limits::TRUNCATED;
use botgate_tests::fake::{FakePlatform, WEBHOOK_SECRET, WECOM_KEY};
use botgate_tests::{dispatcher, fake_config};

const NOW_MS: i64 = 1_795_440_463_000;

async fn config_with_targets(fake: &FakePlatform, secret: &str) -> Settings {
    let mut c = fake_config(fake).await;
    let yaml = format!(
        r#"
robot: {{type: dingtalk_webhook, url: "{u}/robot/send?access_token=abc", secret: "{secret}"}}
feishu: {{type: feishu_webhook, url: "{u}/open-apis/bot/v2/hook/hook-token", secret: "{secret}"}}
wecom: {{type: wecom_webhook, url: "{u}/cgi-bin/webhook/send?key={WECOM_KEY}"}}
"#,
        u = fake.url
    );
    let v: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    for (name, t) in v.as_object().unwrap() {
        c.targets
            .insert(name.clone(), botgate::deps::target(t, &c.bots).unwrap());
    }
    c
}

#[tokio::test]
async fn a_burst_of_100_to_one_dingtalk_robot_never_trips_its_throttle() {
    let fake = FakePlatform::for_example().await;
    let config = config_with_targets(&fake, WEBHOOK_SECRET).await;
    let clock = Arc::new(FixedClock::at_ms(NOW_MS));
    let (d, _) = dispatcher(config, DispatchStores::in_memory(), clock.clone(), Registry::default());
    let mut pending: std::collections::VecDeque<usize> = (0..100).collect();
    let mut delays = 0;
    while let Some(&i) = pending.front() {
        let msg = Message::text(format!("alert {i}"));
        match d
            .notifier
            .try_send("robot", &msg, &format!("k{i}"), i64::MAX)
            .await
            .unwrap()
        {
            Sent::Sent => {
                pending.pop_front();
                clock.advance_ms(50);
            }
            Sent::Delayed(at) => {
                delays += 1;
                assert!(at > clock.now_ms());
                clock.advance_ms(at - clock.now_ms());
            }
        }
    }
    let arrivals = fake.robot_arrivals();
    assert_eq!(arrivals.len(), 100, "every notification arrives");
    assert_eq!(fake.throttled(), 0, "the platform never throttled");
    for (i, t) in arrivals.iter().enumerate() {
        let in_minute = arrivals[i..].iter().take_while(|u| **u < t + 60_000).count();
        assert!(in_minute <= 20, "{in_minute} messages in the minute from {t}");
    }
    let span = arrivals.last().unwrap() - arrivals.first().unwrap();
    assert!(span >= 4 * 60_000, "100 at 20/min take over 4 minutes, took {span} ms");
    assert!(delays >= 4);
}

#[tokio::test]
async fn webhook_signatures_are_what_the_platforms_check() {
    let fake = FakePlatform::for_example().await;
    let good = config_with_targets(&fake, WEBHOOK_SECRET).await;
    let system: Arc<dyn Clock> = Arc::new(botgate::clock::SystemClock);
    let (d, _) = dispatcher(good, DispatchStores::in_memory(), system.clone(), Registry::default());
    let deadline = system.now_ms() + 20_000;
    for target in ["robot", "feishu", "wecom"] {
        let sent = d
            .notifier
            .send(target, &Message::text("deploy done"), "k", deadline)
            .await;
        assert_eq!(sent.unwrap(), 1, "{target}");
    }
    assert_eq!(fake.delivered_to("dingtalk-webhook").len(), 1);
    assert_eq!(fake.delivered_to("feishu-webhook").len(), 1);
    assert_eq!(
        fake.delivered_to("wecom-webhook")[0].body["text"]["content"],
        "deploy done"
    );
    // A wrong secret: refused by the platform, not retried.
    let bad = config_with_targets(&fake, "SECwrong").await;
    let (d, _) = dispatcher(bad, DispatchStores::in_memory(), system, Registry::default());
    for target in ["robot", "feishu"] {
        let e = d
            .notifier
            .send(target, &Message::text("x"), "k", deadline)
            .await
            .unwrap_err();
        assert_eq!(e.class(), "permanent", "{target}: {e}");
    }
    assert_eq!(fake.send_requests("dingtalk-webhook"), 2);
    assert_eq!(fake.send_requests("feishu-webhook"), 2);
}

#[tokio::test]
async fn over_long_messages_are_split_within_each_platform_limit() {
    let fake = FakePlatform::for_example().await;
    let config = config_with_targets(&fake, WEBHOOK_SECRET).await;
    let system: Arc<dyn Clock> = Arc::new(botgate::clock::SystemClock);
    let (d, _) = dispatcher(config, DispatchStores::in_memory(), system.clone(), Registry::default());
    let deadline = system.now_ms() + 20_000;
    let text: String = (0..400)
        .map(|i| format!("{i}: 磁盘告警 disk full on db-{i}\n"))
        .collect();
    let parts = d
        .notifier
        .send("wecom", &Message::text(&text), "k", deadline)
        .await
        .unwrap();
    assert!(parts > 1);
    let got = fake.delivered_to("wecom-webhook");
    assert_eq!(got.len(), parts);
    for m in &got {
        let content = m.body["text"]["content"].as_str().unwrap();
        assert!(content.len() <= 2048, "{} bytes", content.len());
    }
    // Far too long: five parts, the last marked as truncated.
    let huge = "告".repeat(100_000);
    let parts = d
        .notifier
        .send(
            "wecom",
            &Message::Markdown {
                title: "t".into(),
                text: huge,
                mentions: Default::default(),
            },
            "k2",
            deadline,
        )
        .await
        .unwrap();
    assert_eq!(parts, 5);
    let last = fake.delivered_to("wecom-webhook").last().unwrap().body["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(last.ends_with(TRUNCATED) && last.len() <= 4096, "{}", last.len());
    // DingTalk: one 30 KB text becomes parts under 20000 bytes.
    let parts = d
        .notifier
        .send("robot", &Message::text("x".repeat(30_000)), "k3", deadline)
        .await
        .unwrap();
    assert_eq!(parts, 2);
    for m in fake.delivered_to("dingtalk-webhook") {
        assert!(m.body.to_string().len() < 20_000);
    }
}

/// A scheduled run to three targets where one is failing: the other two are sent, the
/// invocation fails naming the failed one; Scheduler's retry of the same run sends only it.
#[tokio::test]
async fn one_failing_target_does_not_stop_the_others_and_a_retry_sends_only_it() {
    let fake = FakePlatform::for_example().await;
    fake.always("wecom-webhook", 200, r#"{"errcode":-1,"errmsg":"system busy"}"#);
    let config = config_with_targets(&fake, WEBHOOK_SECRET).await;
    let system: Arc<dyn Clock> = Arc::new(botgate::clock::SystemClock);
    let (d, _) = dispatcher(config, DispatchStores::in_memory(), system.clone(), Registry::default());
    let input = serde_json::json!({
        "targets": ["robot", "wecom", "feishu"],
        "scheduled_time": "2026-11-23T01:00:00Z",
        "message": {"type": "markdown", "title": "Report", "text": "{{ data.n }} errors"},
        "data": {"n": 7}
    });
    let deadline = system.now_ms() + 20_000;
    let e = botgate::scheduler::run(&d, input.clone(), "r1", deadline)
        .await
        .unwrap_err();
    let e = e.to_string();
    assert!(e.contains("1 of 3 targets failed") && e.contains("wecom"), "{e}");
    assert_eq!(fake.delivered_to("dingtalk-webhook").len(), 1);
    assert_eq!(fake.delivered_to("feishu-webhook").len(), 1);
    fake.heal();
    let report = botgate::scheduler::run(&d, input, "r2", deadline).await.unwrap();
    assert_eq!(report.sent, ["wecom"]);
    assert_eq!(report.already_sent, ["robot", "feishu"]);
    assert_eq!(fake.delivered_to("dingtalk-webhook").len(), 1);
    assert_eq!(
        fake.delivered_to("wecom-webhook")[0].body["markdown"]["content"],
        "**Report**\n7 errors"
    );
}

/// A three-part notification whose second part fails (through the delivery's own retries)
/// on the first attempt: the redelivered job sends only what was not sent, so the group
/// bot, which keeps no record of what it got, shows each part exactly once, in order.
#[tokio::test]
async fn a_retried_notification_sends_only_the_parts_not_sent() {
    let fake = FakePlatform::for_example().await;
    let config = config_with_targets(&fake, WEBHOOK_SECRET).await;
    let attempts = config.delivery.retry.max_attempts;
    let system: Arc<dyn Clock> = Arc::new(botgate::clock::SystemClock);
    let (d, _) = dispatcher(config, DispatchStores::in_memory(), system.clone(), Registry::default());
    let text: String = (0..150)
        .map(|i| format!("line {i:03}: disk full on db-{i}\n"))
        .collect();
    let message = Message::text(&text);
    assert_eq!(d.notifier.parts("wecom", &message).unwrap().len(), 3);
    let job = botgate::notify::api::NotifyJob {
        target: "wecom".into(),
        message,
        id: "job-1".into(),
        source: "notify".into(),
        fold: None,
        alert: None,
        digest: None,
        trace_id: None,
    };
    let msg = job.outgoing(system.now_ms()).unwrap();
    let record = botgate::dispatcher::Record {
        message_id: "m1".into(),
        body: msg.body,
        group_id: Some(msg.group_id),
        receive_count: 1,
    };
    // Part 1 goes through; part 2 is refused on every one of the delivery's attempts.
    let busy = r#"{"errcode":-1,"errmsg":"system busy"}"#;
    let answers: Vec<(u16, &str)> = (0..attempts).map(|_| (200, busy)).collect();
    fake.script_after("wecom-webhook", 1, &answers);
    let deadline = system.now_ms() + 20_000;
    let failed = d.process_batch("t", vec![record.clone()], deadline).await;
    assert_eq!(failed, ["m1"], "the job fails and is redelivered");
    assert_eq!(fake.delivered_to("wecom-webhook").len(), 1);
    // Redelivered: parts 2 and 3 only.
    let failed = d.process_batch("t", vec![record.clone()], deadline).await;
    assert!(failed.is_empty(), "{failed:?}");
    let got: Vec<String> = fake
        .delivered_to("wecom-webhook")
        .iter()
        .map(|m| m.body["text"]["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got.len(), 3, "each part once");
    assert!(
        got[0].contains("line 000") && got[1] != got[0] && got[2] != got[1],
        "{:?}",
        got.iter().map(|g| &g[..40]).collect::<Vec<_>>()
    );
    assert_eq!(got.concat().matches("line 000:").count(), 1);
    assert!(got[2].contains("line 149"));
    // And once more: nothing.
    assert!(d.process_batch("t", vec![record], deadline).await.is_empty());
    assert_eq!(fake.delivered_to("wecom-webhook").len(), 3);
}
