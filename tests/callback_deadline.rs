//! The callback answers within Feishu's 3 s even when DynamoDB and SQS stall: each AWS call
//! has an operation timeout (retries included), so a stalled table is a 503 in about a
//! second, and the platform retries, instead of a timeout the platform counts as a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use botgate::callback;
use botgate::inbound::SampleKind;
use botgate_tests::example_config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_table_and_queue_still_get_an_answer_within_three_seconds() {
    // Accepts connections and never answers, as a stalled endpoint does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let sdk = botgate::deps::callback_timeouts(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "test",
            )),
    )
    .load()
    .await;
    let mut config = example_config().await;
    config.backends.store = botgate::config::StoreKind::Dynamodb;
    config.backends.table = Some("dedup".into());
    config.backends.queue = botgate::config::QueueKind::Sqs;
    config.backends.queue_url = Some(format!("http://127.0.0.1:{port}/000000000000/events.fifo"));
    let (deps, _) = botgate::deps::build_on(config, Arc::new(botgate::metrics::Discard), Some(&sdk)).unwrap();
    let creds = deps.config.bots["feishu-demo"].credentials.clone();
    let now = botgate::clock::Clock::now_secs(&botgate::clock::SystemClock);
    let req = creds.sample_request(SampleKind::Message, "deploy", now).unwrap();
    let started = Instant::now();
    let r = callback::handle(&deps, "/feishu/feishu-demo", &req.as_request(), "t").await;
    let took = started.elapsed();
    assert!(
        r.status >= 500,
        "a stalled store is a server error the platform retries: {}",
        r.status
    );
    assert!(took < Duration::from_millis(2_500), "answered in {took:?}");
    assert!(
        took >= Duration::from_millis(700),
        "the timeout, not a refusal: {took:?}"
    );
}
