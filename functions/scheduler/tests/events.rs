//! Calls the scheduler handler with `events/scheduler-*.json` (a raw schedule input and one
//! in an EventBridge envelope, and the minute tick) on the example configuration, in dry run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use botgate::clock::FixedClock;
use botgate::config::EnvResolver;
use botgate::delivery::transport::DryRun;
use botgate::deps::DispatchStores;
use botgate::metrics::Recorded;
use botgate::schedules::{TICK_PERIOD_MS, Ticker};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

const NOW_MS: i64 = 1_795_440_463_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn event(name: &str) -> LambdaEvent<Value> {
    event_at(name, NOW_MS)
}

fn event_at(name: &str, now_ms: i64) -> LambdaEvent<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(root().join("events").join(name)).unwrap()).unwrap();
    let mut context = Context::default();
    context.deadline = u64::try_from(now_ms + 60_000).unwrap();
    LambdaEvent::new(v, context)
}

/// A dispatcher on the example configuration that records what it would send.
async fn example_dispatcher(clock: Arc<FixedClock>) -> (botgate::dispatcher::Dispatcher, Arc<DryRun>) {
    let config = botgate::deps::load_file(&root().join("examples/botgate.yaml"), &EnvResolver)
        .await
        .unwrap();
    let transport = Arc::new(DryRun::recording());
    let d = botgate::deps::dispatcher_with(
        Arc::new(config),
        DispatchStores::in_memory(),
        transport.clone(),
        clock,
        Arc::new(Recorded::default()),
        botgate::handler::Registry::default(),
    );
    (d, transport)
}

#[tokio::test]
async fn raw_and_enveloped_inputs_send_once_per_scheduled_run() {
    let (d, transport) = example_dispatcher(Arc::new(FixedClock::at_ms(NOW_MS))).await;
    let ticker = Ticker::new(TICK_PERIOD_MS);
    let r = scheduler::handler(&d, &ticker, None, event("scheduler-daily-report.json"))
        .await
        .unwrap();
    assert_eq!(r["sent"], serde_json::json!(["ops-dingtalk", "ops-wecom"]));
    let r = scheduler::handler(&d, &ticker, None, event("scheduler-envelope.json"))
        .await
        .unwrap();
    assert_eq!(r["sent"], serde_json::json!(["ops-feishu"]));
    let requests = transport.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    let ding = requests.iter().find(|r| r.url.contains("oapi.dingtalk.com")).unwrap();
    assert!(
        ding.url.contains("&timestamp=") && ding.url.contains("&sign="),
        "signed in the query"
    );
    assert!(
        ding.body.as_deref().unwrap().contains("errors: 3"),
        "input data over configured data"
    );
    let feishu = requests.iter().find(|r| r.url.contains("open.feishu.cn")).unwrap();
    let body: Value = serde_json::from_str(feishu.body.as_deref().unwrap()).unwrap();
    assert!(
        body["sign"].is_string() && body["timestamp"].is_string(),
        "signed in the body"
    );
    assert_eq!(body["card"]["header"]["template"], "green");
    // Scheduler retries the same run: nothing is sent twice.
    let r = scheduler::handler(&d, &ticker, None, event("scheduler-daily-report.json"))
        .await
        .unwrap();
    assert_eq!(r["already_sent"], serde_json::json!(["ops-dingtalk", "ops-wecom"]));
    assert_eq!(transport.requests.lock().unwrap().len(), 3);
    // A bad input is an error (Scheduler retries, then dead-letters it with the message).
    let mut bad = event("scheduler-daily-report.json");
    bad.payload = serde_json::json!({"notification": "no-such"});
    let e = scheduler::handler(&d, &ticker, None, bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no-such"), "{e}");
}

#[tokio::test]
async fn the_minute_tick_sends_the_configured_daily_report_once() {
    // Tuesday 2026-11-24, 08:58:20 in Beijing: the first tick sees the schedule.
    let clock = Arc::new(FixedClock::at_ms(1_795_481_900_000));
    let (d, transport) = example_dispatcher(clock.clone()).await;
    let ticker = Ticker::new(TICK_PERIOD_MS);
    let r = scheduler::handler(&d, &ticker, None, tick(&clock)).await.unwrap();
    assert_eq!(r["sent"], serde_json::json!([]), "nothing is due before 09:00");
    clock.advance_ms(60_000);
    scheduler::handler(&d, &ticker, None, tick(&clock)).await.unwrap();
    clock.advance_ms(60_000); // 09:00:20
    let r = scheduler::handler(&d, &ticker, None, tick(&clock)).await.unwrap();
    assert_eq!(r["sent"], serde_json::json!(["daily-report@2026-11-24T01:00:00Z"]));
    assert_eq!(
        transport.requests.lock().unwrap().len(),
        2,
        "to ops-dingtalk and ops-wecom"
    );
    // The same tick again (a retry), and a fresh instance over the same store: nothing more.
    let r = scheduler::handler(&d, &ticker, None, tick(&clock)).await.unwrap();
    assert_eq!(r["sent"], serde_json::json!([]));
    let fresh = Ticker::new(TICK_PERIOD_MS);
    let r = scheduler::handler(&d, &fresh, None, tick(&clock)).await.unwrap();
    assert_eq!(
        r["already_sent"],
        serde_json::json!(["daily-report@2026-11-24T01:00:00Z"])
    );
    assert_eq!(transport.requests.lock().unwrap().len(), 2);
}

fn tick(clock: &FixedClock) -> LambdaEvent<Value> {
    event_at("scheduler-tick.json", botgate::clock::Clock::now_ms(clock))
}

#[test]
fn a_tick_is_recognised_raw_and_in_an_envelope() {
    assert_eq!(
        scheduler::tick_of(&serde_json::json!({"tick": "2026-11-24T01:00:00Z"})).as_deref(),
        Some("2026-11-24T01:00:00Z")
    );
    assert_eq!(
        scheduler::tick_of(&serde_json::json!({"source": "aws.scheduler", "detail": {"tick": true}})).as_deref(),
        Some("now")
    );
    assert_eq!(
        scheduler::tick_of(&serde_json::json!({"notification": "daily-report"})),
        None
    );
    assert_eq!(scheduler::tick_of(&serde_json::json!({"tick": 5})), None);
}

#[tokio::test]
async fn an_alarm_from_the_alarm_topic_reaches_the_chat_once() {
    let (d, transport) = example_dispatcher(Arc::new(FixedClock::at_ms(NOW_MS))).await;
    let ticker = Ticker::new(TICK_PERIOD_MS);
    let r = scheduler::handler(&d, &ticker, Some("ops-wecom"), event("scheduler-alarm.json"))
        .await
        .unwrap();
    assert_eq!(
        r["sent"],
        serde_json::json!(["botgate-PermanentSendFailuresAlarm-1ABCDEF"])
    );
    let requests = transport.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let body = requests[0].body.as_deref().unwrap();
    assert!(
        body.contains("FIRING") && body.contains("botgate-PermanentSendFailuresAlarm-1ABCDEF"),
        "{body}"
    );
    assert!(body.contains("failed for good"), "the runbook line: {body}");
    assert!(!body.contains("silences"), "no Alertmanager to silence in: {body}");
    // SNS retries a delivery: sent once.
    let r = scheduler::handler(&d, &ticker, Some("ops-wecom"), event("scheduler-alarm.json"))
        .await
        .unwrap();
    assert_eq!(
        r["already_sent"],
        serde_json::json!(["botgate-PermanentSendFailuresAlarm-1ABCDEF"])
    );
    assert_eq!(transport.requests.lock().unwrap().len(), 1);
    // Without a target, or with one the configuration lacks, the invocation fails loudly.
    assert!(
        scheduler::handler(&d, &ticker, None, event("scheduler-alarm.json"))
            .await
            .is_err()
    );
    let e = scheduler::handler(&d, &ticker, Some("no-such"), event("scheduler-alarm.json"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no-such"), "{e}");
}
