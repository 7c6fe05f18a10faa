//! One trace id end to end: an event through the callback and the dispatcher, in process
//! and on moto (DynamoDB, SQS), yields log lines (the JSON the functions write) that all
//! carry the trace id API Gateway gave the request; an X-Ray trace header wins over it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use botgate::callback;
use botgate::clock::FixedClock;
use botgate::deps::DispatchStores;
use botgate::inbound::SampleKind;
use botgate::queue::sqs::SqsQueue;
use botgate::store::dynamodb::DynamoStore;
use botgate_tests::{Fixture, deps, example_config, memory_gateway, records_of};
use serde_json::Value;

const NOW_MS: i64 = 1_795_440_463_000;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn json(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Every line about the event carries `trace` (the dispatcher's `batch` line sums up a
/// batch of many events and has none); returns the messages seen.
fn assert_traced(lines: &[Value], trace: &str) -> Vec<String> {
    for l in lines.iter().filter(|l| l["message"] != "batch") {
        assert_eq!(l["span"]["trace_id"], trace, "a line without the trace id: {l}");
    }
    lines
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn dry_run_dispatcher(
    config: botgate::Settings,
    stores: DispatchStores,
    clock: Arc<FixedClock>,
) -> botgate::dispatcher::Dispatcher {
    botgate::deps::dispatcher_with(
        Arc::new(config),
        stores,
        Arc::new(botgate::delivery::transport::DryRun::recording()),
        clock,
        Arc::new(botgate::metrics::Discard),
        Default::default(),
    )
}

/// A signed Feishu `/help` through the callback under trace id `trace`: accepted.
async fn accept_help(gateway: &botgate::callback::Deps, config: &botgate::Settings, trace: &str) {
    let req = feishu_message(config, "/help").await;
    let r = callback::handle_traced(gateway, "/feishu/feishu-demo", &req.as_request(), "lambda-1", trace).await;
    assert_eq!(r.status, 200);
}

async fn feishu_message(config: &botgate::Settings, text: &str) -> botgate::inbound::OwnedRequest {
    config.bots["feishu-demo"]
        .credentials
        .sample_request(SampleKind::Message, text, NOW_MS / 1000)
        .unwrap()
}

#[tokio::test]
async fn in_process_every_line_of_one_event_carries_its_trace_id() {
    let lines = Lines::default();
    let writer = lines.clone();
    let _log = tracing::subscriber::set_default(botgate::logging::json(move || writer.clone()));
    let config = example_config().await;
    let clock = Arc::new(FixedClock::at_ms(NOW_MS));
    let (gateway, queue) = memory_gateway(config.clone(), clock.clone());
    accept_help(&gateway, &config, "apigw-req-1").await;
    let queued = queue.drain();
    assert!(queued[0].body.contains(r#""trace_id":"apigw-req-1""#));
    let d = dry_run_dispatcher(config, DispatchStores::in_memory(), clock);
    let failed = d.process_batch("lambda-2", records_of(&queued), NOW_MS + 30_000).await;
    assert!(failed.is_empty(), "{:#?}", lines.json());
    let messages = assert_traced(&lines.json(), "apigw-req-1");
    assert!(messages.contains(&"callback".to_owned()), "{messages:?}");
    assert!(messages.contains(&"record".to_owned()), "{messages:?}");
    assert!(messages.contains(&"action".to_owned()), "{messages:?}");

    // An X-Ray trace header (API Gateway passes one when tracing is on) names the trace.
    let mut req = feishu_message(&example_config().await, "/help again").await;
    req.headers.insert(
        "x-amzn-trace-id".into(),
        "Root=1-67891233-abcdef012345678912345678;Sampled=1".into(),
    );
    callback::handle_traced(
        &gateway,
        "/feishu/feishu-demo",
        &req.as_request(),
        "lambda-3",
        "apigw-req-2",
    )
    .await;
    let queued = queue.drain();
    assert!(
        queued[0]
            .body
            .contains(r#""trace_id":"1-67891233-abcdef012345678912345678""#)
    );
}

#[tokio::test]
async fn on_moto_every_line_of_one_event_carries_its_trace_id() {
    let f = Fixture::start().await;
    let lines = Lines::default();
    let writer = lines.clone();
    let _log = tracing::subscriber::set_default(botgate::logging::json(move || writer.clone()));
    let config = example_config().await;
    let clock = Arc::new(FixedClock::at_ms(NOW_MS));
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&f.sdk), &f.queue_url, 262_144);
    let (gateway, _) = deps(
        config.clone(),
        Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&f.sdk), &f.table)),
        Arc::new(queue.clone()),
        clock.clone(),
    );
    accept_help(&gateway, &config, "apigw-req-9").await;
    let stores = DispatchStores::dynamodb(aws_sdk_dynamodb::Client::new(&f.sdk), &f.table);
    let d = dry_run_dispatcher(config, stores, clock);
    let (received, _) = queue.poll_once(&d, None, 1, NOW_MS + 30_000).await.unwrap();
    assert_eq!(received, 1);
    let messages = assert_traced(&lines.json(), "apigw-req-9");
    assert!(
        messages.contains(&"callback".to_owned()) && messages.contains(&"record".to_owned()),
        "{messages:?}"
    );
}
