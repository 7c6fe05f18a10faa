//! Calls the Lambda handler with every `events/dispatcher-*.json` (SQS batches), on the
//! example configuration (dry run: the requests are recorded, not sent), with the clock
//! pinned to the time the events were generated.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use botgate::clock::FixedClock;
use botgate::config::EnvResolver;
use botgate::delivery::transport::DryRun;
use botgate::deps::DispatchStores;
use botgate::metrics::Recorded;
use lambda_runtime::{Context, LambdaEvent};

const EVENTS_TIME_MS: i64 = 1_795_440_463_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn every_sample_batch_is_dispatched() {
    dispatch_every_sample(u64::try_from(EVENTS_TIME_MS + 30_000).unwrap()).await;
}

/// `cargo lambda watch` sends `Lambda-Runtime-Deadline-Ms: 600000` (the time left, not a
/// Unix time): read as a Unix time, every record would look late and be left for redelivery.
#[tokio::test]
async fn an_emulators_relative_deadline_still_dispatches() {
    dispatch_every_sample(600_000).await;
}

async fn dispatch_every_sample(deadline: u64) {
    let config = botgate::deps::load_file(&root().join("examples/botgate.yaml"), &EnvResolver)
        .await
        .unwrap();
    assert!(config.delivery.dry_run, "the example configuration is a dry run");
    let transport = Arc::new(DryRun::recording());
    let d = botgate::deps::dispatcher_with(
        Arc::new(config),
        DispatchStores::in_memory(),
        transport.clone(),
        Arc::new(FixedClock::at_ms(EVENTS_TIME_MS)),
        Arc::new(Recorded::default()),
        dispatcher::handlers(),
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("dispatcher-"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "events/ has only {} dispatcher events", files.len());
    let mut expected = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let event: SqsEvent = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut context = Context::default();
        context.deadline = deadline;
        let resp = dispatcher::handler(&d, None, None, LambdaEvent::new(event, context))
            .await
            .unwrap();
        assert!(resp.batch_item_failures.is_empty(), "{name}");
        let sent = transport.requests.lock().unwrap().len();
        // WeChat's samples were answered in the callback's response (a passive reply, the
        // default): the dispatcher does not send them again. The approval's press was
        // answered in the callback too; the dispatcher forwards it and updates the card.
        expected += if name.contains("wechat") {
            0
        } else if name.contains("card-action") {
            2
        } else {
            1
        };
        assert_eq!(
            sent, expected,
            "{name}: one request per sample, none for a passive reply"
        );
    }
    let requests = transport.requests.lock().unwrap().clone();
    let urls: Vec<&str> = requests.iter().map(|r| r.url.as_str()).collect();
    assert!(
        urls.iter()
            .any(|u| u.starts_with("https://oapi.dingtalk.com/robot/sendBySession")),
        "{urls:?}"
    );
    assert!(
        urls.iter().any(|u| u.contains("/open-apis/im/v1/messages/om_")),
        "{urls:?}"
    );
    assert!(
        !urls.iter().any(|u| u.contains("/cgi-bin/message/custom/send")),
        "no customer-service call for WeChat's passive replies: {urls:?}"
    );
    assert!(urls.iter().any(|u| u.contains("/cgi-bin/message/send")), "{urls:?}");
    let methods: Vec<(&str, &str)> = requests.iter().map(|r| (r.method, r.url.as_str())).collect();
    assert!(
        methods
            .iter()
            .any(|(m, u)| *m == "PATCH" && u.ends_with("/open-apis/im/v1/messages/om_sample_card")),
        "the approval's card update: {methods:?}"
    );
    assert!(
        urls.iter()
            .any(|u| u.starts_with("https://ci.example.com/botgate/deploy")),
        "{urls:?}"
    );
}

#[tokio::test]
async fn a_malformed_record_is_reported_failed() {
    let config = botgate::deps::load_file(&root().join("examples/botgate.yaml"), &EnvResolver)
        .await
        .unwrap();
    let d = botgate::deps::dispatcher_with(
        Arc::new(config),
        DispatchStores::in_memory(),
        Arc::new(DryRun::recording()),
        Arc::new(FixedClock::at_ms(EVENTS_TIME_MS)),
        Arc::new(Recorded::default()),
        dispatcher::handlers(),
    );
    let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
        {"messageId": "m-bad", "body": "nope", "attributes": {"MessageGroupId": "g", "ApproximateReceiveCount": "3"}}
    ]}))
    .unwrap();
    let mut context = Context::default();
    context.deadline = u64::try_from(EVENTS_TIME_MS + 30_000).unwrap();
    let resp = dispatcher::handler(&d, None, None, LambdaEvent::new(event, context))
        .await
        .unwrap();
    assert_eq!(resp.batch_item_failures.len(), 1);
    assert_eq!(resp.batch_item_failures[0].item_identifier, "m-bad");
}
