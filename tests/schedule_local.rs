//! `botgate serve`'s local schedules on a virtual clock: a weekday-morning cron read in
//! Asia/Shanghai and a one-minute rate send through the scheduler's tick to a WeCom group
//! bot; a failed run is retried later and each scheduled run arrives exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use botgate::clock::FixedClock;
use botgate::deps::DispatchStores;
use botgate::handler::Registry;
use botgate_cli::schedule;
use botgate_tests::fake::{FakePlatform, WECOM_KEY};
use botgate_tests::{dispatcher, fake_config};
use serde_json::json;

/// Friday 2026-11-20 08:59:30 in Beijing.
const START_MS: i64 = 1_795_136_370_000;

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn texts(fake: &FakePlatform) -> Vec<String> {
    fake.delivered_to("wecom-webhook")
        .iter()
        .map(|d| d.body["text"]["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn configured_schedules_run_on_the_local_clock_once_per_run() {
    assert_eq!(
        chrono_like(START_MS),
        "2026-11-20T00:59:30Z",
        "the test starts 30 s before 09:00 in Beijing"
    );
    let fake = FakePlatform::for_example().await;
    let mut config = fake_config(&fake).await;
    let target = json!({"type": "wecom_webhook", "url": format!("{}/cgi-bin/webhook/send?key={WECOM_KEY}", fake.url)});
    config
        .targets
        .insert("ops".into(), botgate::deps::target(&target, &config.bots).unwrap());
    config.notifications.clear();
    config.notifications.insert(
        "morning".into(),
        botgate::deps::notification(
            "morning",
            &json!({"schedule": "cron(0 9 ? * MON-FRI *)", "targets": ["ops"],
                   "message": "good morning {{ scheduled_time }}"}),
            &config.targets,
        )
        .unwrap(),
    );
    config.notifications.insert(
        "pulse".into(),
        botgate::deps::notification(
            "pulse",
            &json!({"schedule": "rate(1 minute)", "timezone": "UTC", "targets": ["ops"],
                   "message": "pulse {{ scheduled_time }}"}),
            &config.targets,
        )
        .unwrap(),
    );
    assert_eq!(schedule::configured(&config).unwrap().len(), 2);
    let clock = Arc::new(FixedClock::at_ms(START_MS));
    let (d, _) = dispatcher(config, DispatchStores::in_memory(), clock.clone(), Registry::default());
    let runner = tokio::spawn(schedule::run(
        Arc::new(botgate::reload::Live::new(d)),
        Duration::from_millis(5),
    ));

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(texts(&fake).is_empty(), "nothing is due before 09:00");

    clock.advance_ms(30_000); // 09:00:00 in Beijing = 01:00:00 UTC: the report and a pulse
    wait_for("the morning report", || texts(&fake).len() == 2).await;
    let mut got = texts(&fake);
    got.sort();
    assert_eq!(got, ["good morning 2026-11-20T01:00:00Z", "pulse 2026-11-20T01:00:00Z"]);

    // The bot fails (WeCom "system busy") through the delivery's own retries: the run fails
    // and is retried a minute later, after the bot is back.
    fake.always("wecom-webhook", 200, r#"{"errcode":-1,"errmsg":"system busy"}"#);
    let before = fake.send_requests("wecom-webhook");
    clock.advance_ms(60_000);
    wait_for("the failed attempts", || {
        fake.send_requests("wecom-webhook") >= before + 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(texts(&fake).len(), 2, "nothing arrives while the bot fails");
    fake.heal();
    clock.advance_ms(60_000); // the retry of 01:01:00 and the run of 01:02:00 are both due
    wait_for("the retried and the next pulse", || texts(&fake).len() == 4).await;
    clock.advance_ms(3 * 60_000); // later retries (if any were wrongly kept) would fire by now
    wait_for("three more pulses", || texts(&fake).len() >= 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut got = texts(&fake);
    got.sort();
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(got, unique, "each scheduled run arrives once: {got:?}");
    assert!(got.contains(&"pulse 2026-11-20T01:01:00Z".to_owned()), "{got:?}");
    assert!(got.contains(&"pulse 2026-11-20T01:02:00Z".to_owned()), "{got:?}");
    assert_eq!(got.iter().filter(|t| t.starts_with("good morning")).count(), 1);
    runner.abort();
}

/// `ms` as an RFC 3339 UTC second.
fn chrono_like(ms: i64) -> String {
    schedule::input("x", chrono::DateTime::from_timestamp_millis(ms).unwrap())["scheduled_time"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn template_yaml_runs_every_schedule_with_one_minute_tick() {
    let template = std::fs::read_to_string(botgate_tests::root().join("template.yaml")).unwrap();
    assert_eq!(
        template.matches("Type: ScheduleV2").count(),
        1,
        "one schedule for every configured notification"
    );
    assert!(template.contains("ScheduleExpression: rate(1 minute)"));
    assert!(template.contains(r#"Input: '{"tick": "<aws.scheduler.scheduled-time>"}'"#));
    assert_eq!(
        botgate::schedules::TICK_PERIOD_MS,
        60_000,
        "the function's grace is the tick's period"
    );
}
