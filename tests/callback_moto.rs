//! The callback flow against moto: DynamoDB for dedup, an SQS FIFO queue.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use botgate::callback::{self, IN_PROGRESS_MS};
use botgate::clock::{Clock, FixedClock};
use botgate::inbound::{OwnedRequest, SampleKind};
use botgate::queue::sqs::SqsQueue;
use botgate::store::dynamodb::DynamoStore;
use botgate_tests::{Fixture, create_fifo_queue, deps, drain_queue, example_config};

const NOW_MS: i64 = 1_795_440_463_000;

async fn feishu_event(now_ms: i64) -> OwnedRequest {
    let config = example_config().await;
    let creds = config.bots["feishu-demo"].credentials.clone();
    creds
        .sample_request(SampleKind::Message, "deploy", now_ms / 1000)
        .unwrap()
}

async fn status(d: &botgate::callback::Deps, req: &OwnedRequest) -> u16 {
    callback::handle(d, "/feishu/feishu-demo", &req.as_request(), "test")
        .await
        .status
}

async fn item(
    sdk: &aws_config::SdkConfig,
    table: &str,
    key: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    aws_sdk_dynamodb::Client::new(sdk)
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_give_one_message() {
    let f = Fixture::start().await;
    let (sdk, table, url) = (f.sdk.clone(), f.table.clone(), f.queue_url.clone());
    let clock = Arc::new(FixedClock::at_ms(NOW_MS));
    let (d, metrics) = deps(
        example_config().await,
        Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table)),
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &url, 262_144)),
        clock,
    );
    let d = Arc::new(d);
    let req = Arc::new(feishu_event(NOW_MS).await);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (d, req) = (d.clone(), req.clone());
        tasks.push(tokio::spawn(async move { status(&d, &req).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let messages = drain_queue(&sdk, &url).await;
    assert_eq!(messages.len(), 1, "50 deliveries must give exactly one message");
    let env: botgate::queue::Envelope = serde_json::from_str(&messages[0]).unwrap();
    assert_eq!(env.event.text.as_deref(), Some("deploy"));
    let outcomes: Vec<String> = metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|l| l["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| *o == "accepted").count(), 1);
    assert_eq!(outcomes.iter().filter(|o| *o == "duplicate").count(), 49);
    // and the record is done
    let key = format!("feishu#feishu-demo#{}", env.event.event_id);
    let rec = item(&sdk, &table, &key).await.unwrap();
    assert_eq!(rec["status"].as_s().unwrap(), "COMPLETED");
}

#[tokio::test]
async fn failing_queue_gives_5xx_and_the_retry_gives_one_message() {
    let f = Fixture::start().await;
    let (sdk, table, url) = (f.sdk.clone(), f.table.clone(), f.queue_url.clone());
    let clock = Arc::new(FixedClock::at_ms(NOW_MS));
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table));
    let req = feishu_event(NOW_MS).await;

    // 1. a deleted queue
    let gone = create_fifo_queue(&sdk, "gone").await;
    aws_sdk_sqs::Client::new(&sdk)
        .delete_queue()
        .queue_url(&gone)
        .send()
        .await
        .unwrap();
    let (d, _) = deps(
        example_config().await,
        store.clone(),
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &gone, 262_144)),
        clock.clone(),
    );
    assert_eq!(status(&d, &req).await, 503);
    // 2. an unreachable queue endpoint
    let unreachable = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("t", "t", None, None, "t"))
        .load()
        .await;
    let (d2, _) = deps(
        example_config().await,
        store.clone(),
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&unreachable), &url, 262_144)),
        clock.clone(),
    );
    assert_eq!(status(&d2, &req).await, 503);

    // no record is left claiming anything for this event
    let event_id = {
        let creds = example_config().await.bots["feishu-demo"].verifier.clone().unwrap();
        match creds
            .verify(&req.as_request(), NOW_MS / 1000, &Default::default())
            .unwrap()
        {
            botgate::Accepted::Event { event, .. } => event.event_id,
            other => panic!("{other:?}"),
        }
    };
    let key = format!("feishu#feishu-demo#{event_id}");
    assert!(
        item(&sdk, &table, &key).await.is_none(),
        "the failed claim must be released"
    );

    // 3. the platform retries after recovery: exactly one message
    let (ok, _) = deps(
        example_config().await,
        store,
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &url, 262_144)),
        clock.clone(),
    );
    clock.advance_ms(5_000);
    let retry = req.clone();
    assert_eq!(status(&ok, &retry).await, 200);
    assert_eq!(status(&ok, &retry).await, 200);
    assert_eq!(drain_queue(&sdk, &url).await.len(), 1);
}

#[tokio::test]
async fn in_progress_claim_of_a_dead_owner_is_taken_over() {
    let f = Fixture::start().await;
    let (sdk, table, url) = (f.sdk.clone(), f.table.clone(), f.queue_url.clone());
    let clock = Arc::new(FixedClock::at_ms(NOW_MS));
    let req = feishu_event(NOW_MS).await;
    let verifier = example_config().await.bots["feishu-demo"].verifier.clone().unwrap();
    let event_id = match verifier
        .verify(&req.as_request(), NOW_MS / 1000, &Default::default())
        .unwrap()
    {
        botgate::Accepted::Event { event, .. } => event.event_id,
        other => panic!("{other:?}"),
    };
    // An owner claimed the event 20 minutes ago and died before sending.
    let claimed_at = NOW_MS - 20 * 60 * 1000;
    aws_sdk_dynamodb::Client::new(&sdk)
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S(format!("feishu#feishu-demo#{event_id}")))
        .item("status", AttributeValue::S("INPROGRESS".into()))
        .item("claimed_at", AttributeValue::N(claimed_at.to_string()))
        .item(
            "in_progress_expiry",
            AttributeValue::N((claimed_at + IN_PROGRESS_MS).to_string()),
        )
        .item(
            "expiration",
            AttributeValue::N((claimed_at / 1000 + 86_400).to_string()),
        )
        .item("owner", AttributeValue::S("dead-owner".into()))
        .send()
        .await
        .unwrap();
    let (d, metrics) = deps(
        example_config().await,
        Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table)),
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &url, 262_144)),
        clock.clone(),
    );
    assert_eq!(status(&d, &req).await, 200);
    assert_eq!(
        metrics.0.lock().unwrap()[0]["outcome"],
        "accepted",
        "taken over, not a duplicate"
    );
    assert_eq!(drain_queue(&sdk, &url).await.len(), 1);
    assert_eq!(clock.now_ms(), NOW_MS);
}
