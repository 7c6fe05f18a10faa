//! Calls the scheduler handler with `events/scheduler-*.json` (a raw schedule input and one
//! in an EventBridge envelope) on the example configuration, in dry run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use botgate::clock::FixedClock;
use botgate::config::EnvResolver;
use botgate::delivery::transport::DryRun;
use botgate::deps::DispatchStores;
use botgate::metrics::Recorded;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

const NOW_MS: i64 = 1_795_440_463_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn event(name: &str) -> LambdaEvent<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(root().join("events").join(name)).unwrap()).unwrap();
    let mut context = Context::default();
    context.deadline = u64::try_from(NOW_MS + 60_000).unwrap();
    LambdaEvent::new(v, context)
}

#[tokio::test]
async fn raw_and_enveloped_inputs_send_once_per_scheduled_run() {
    let config = botgate::deps::load_file(&root().join("examples/botgate.yaml"), &EnvResolver)
        .await
        .unwrap();
    let transport = Arc::new(DryRun::recording());
    let d = botgate::deps::dispatcher_with(
        Arc::new(config),
        DispatchStores::in_memory(),
        transport.clone(),
        Arc::new(FixedClock::at_ms(NOW_MS)),
        Arc::new(Recorded::default()),
        botgate::handler::Registry::default(),
    );
    let r = scheduler::handler(&d, event("scheduler-daily-report.json"))
        .await
        .unwrap();
    assert_eq!(r["sent"], serde_json::json!(["ops-dingtalk", "ops-wecom"]));
    let r = scheduler::handler(&d, event("scheduler-envelope.json")).await.unwrap();
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
    let r = scheduler::handler(&d, event("scheduler-daily-report.json"))
        .await
        .unwrap();
    assert_eq!(r["already_sent"], serde_json::json!(["ops-dingtalk", "ops-wecom"]));
    assert_eq!(transport.requests.lock().unwrap().len(), 3);
    // A bad input is an error (Scheduler retries, then dead-letters it with the message).
    let mut bad = event("scheduler-daily-report.json");
    bad.payload = serde_json::json!({"notification": "no-such"});
    let e = scheduler::handler(&d, bad).await.unwrap_err().to_string();
    assert!(e.contains("no-such"), "{e}");
}
