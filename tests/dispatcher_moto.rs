//! The callback, the queue and the dispatcher against moto (DynamoDB for dedup, effects,
//! tokens and state; SQS FIFO with a dead-letter queue) and a fake platform.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use botgate::Platform;
use botgate::callback;
use botgate::clock::{Clock, FixedClock};
use botgate::deps::DispatchStores;
use botgate::handler::Registry;
use botgate::inbound::SampleKind;
use botgate::queue::sqs::SqsQueue;
use botgate::state::failure_key;
use botgate::store::dynamodb::DynamoStore;
use botgate_tests::fake::FakePlatform;
use botgate_tests::{Fixture, create_fifo_queue_with_dlq, deps, dispatcher, fake_config, record, sample_event};

const NOW: i64 = 1_795_440_463;

fn stores(sdk: &aws_config::SdkConfig, table: &str) -> DispatchStores {
    DispatchStores::dynamodb(aws_sdk_dynamodb::Client::new(sdk), table)
}

fn queue(sdk: &aws_config::SdkConfig, url: &str) -> SqsQueue {
    SqsQueue::new(aws_sdk_sqs::Client::new(sdk), url, 262_144)
}

/// A signed callback for each platform goes through the callback (DynamoDB dedup, SQS
/// FIFO), then the dispatcher (DynamoDB effects and tokens) and ends as exactly one reply
/// at the fake platform, carrying a token it issued. A second delivery of every callback
/// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_callbacks_end_as_one_reply_each() {
    let f = Fixture::start().await;
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    // Two hours after the callbacks: DingTalk's session webhook has expired, so its reply
    // goes through the robot API with an access token.
    let later = (NOW + 7200) * 1000;
    let clock = Arc::new(FixedClock::at_ms(NOW * 1000));
    let (cb, _) = deps(
        config.clone(),
        Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&f.sdk), &f.table)),
        Arc::new(queue(&f.sdk, &f.queue_url)),
        clock.clone(),
    );
    let cases = [
        ("feishu-demo", Platform::Feishu, SampleKind::Message, "/help"),
        ("wechat-demo", Platform::Wechat, SampleKind::Subscribe, ""),
        ("wecom-demo", Platform::Wecom, SampleKind::Message, "disk full"),
        ("dingtalk-demo", Platform::Dingtalk, SampleKind::Message, "ping"),
    ];
    for (bot, platform, kind, text) in cases {
        let creds = config.bots[bot].credentials();
        let req = creds.sample_request(kind, text, NOW).unwrap();
        for _ in 0..2 {
            let r = callback::handle(&cb, &format!("/{platform}/{bot}"), &req.as_request(), "t").await;
            assert_eq!(r.status, 200, "{bot}: {}", r.body);
        }
    }
    let (d, _) = dispatcher(
        config,
        stores(&f.sdk, &f.table),
        Arc::new(FixedClock::at_ms(later)),
        Registry::default(),
    );
    let q = queue(&f.sdk, &f.queue_url);
    let mut received = 0;
    loop {
        let (n, failed) = q.poll_once(&d, None, 0, later + 25_000).await.unwrap();
        assert_eq!(failed, 0);
        if n == 0 {
            break;
        }
        received += n;
    }
    assert_eq!(received, 4, "one queued event per platform");
    for (platform, path) in [
        ("feishu", "/reply"),
        ("wechat", "/cgi-bin/message/custom/send"),
        ("wecom", "/cgi-bin/message/send"),
        ("dingtalk", "/v1.0/robot/groupMessages/send"),
    ] {
        let got = fake.delivered_to(platform);
        assert_eq!(got.len(), 1, "{platform}");
        assert!(got[0].path.ends_with(path), "{platform}: {}", got[0].path);
        assert_eq!(fake.token_requests(platform), 1, "{platform}");
    }
}

/// The same SQS message delivered twice (its visibility lapsed before it was deleted):
/// still one reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_sqs_message_twice_gives_one_reply() {
    let f = Fixture::start().await;
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let ev = sample_event(&config, "wecom-demo", SampleKind::Message, "once", NOW);
    let rec = record("ignored", "wecom-demo", &ev);
    let q = queue(&f.sdk, &f.queue_url);
    q.send_raw(&rec.body, rec.group_id.as_deref().unwrap(), "d1")
        .await
        .unwrap();
    let got = q.receive(10, 0).await.unwrap();
    assert_eq!(got.len(), 1);
    let (d, _) = dispatcher(
        config,
        stores(&f.sdk, &f.table),
        Arc::new(FixedClock::at_ms(NOW * 1000)),
        Registry::default(),
    );
    // Two deliveries of the same message (two instances, or one after a timeout).
    let deadline = NOW * 1000 + 25_000;
    let (a, b) = tokio::join!(
        d.process_batch("a", vec![got[0].record.clone()], deadline),
        d.process_batch("b", vec![got[0].record.clone()], deadline)
    );
    // One instance may find the other's effect in progress and leave its copy for later.
    assert!(a.len() + b.len() <= 1);
    let again = d.process_batch("c", vec![got[0].record.clone()], deadline).await;
    assert!(again.is_empty());
    assert_eq!(fake.delivered_to("wecom").len(), 1);
}

/// Twenty instances, each with its own process cache, dispatch at once with nothing
/// cached: the platform sees one token request; the lease makes the others wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_instances_fetch_one_token() {
    let f = Fixture::start().await;
    let fake = FakePlatform::for_example().await;
    let config = fake_config(&fake).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (d, _) = dispatcher(
            config.clone(),
            stores(&f.sdk, &f.table),
            Arc::new(botgate::clock::SystemClock),
            Registry::default(),
        );
        let mut ev = sample_event(&config, "wechat-demo", SampleKind::Subscribe, "", NOW);
        ev.event_id = format!("race-{i}");
        let rec = record(&format!("m{i}"), "wechat-demo", &ev);
        tasks.push(tokio::spawn(async move {
            let deadline = botgate::clock::SystemClock.now_ms() + 25_000;
            d.process_batch("t", vec![rec], deadline).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_empty());
    }
    assert_eq!(fake.token_requests("wechat"), 1, "one token request for 20 instances");
    assert_eq!(fake.delivered_to("wechat").len(), 20);
}

/// A platform that always answers 5xx: the record fails on every receive, lands in the
/// dead-letter queue after maxReceiveCount, and its reason is on record. Re-driven once
/// the platform is back, it is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn always_failing_sends_reach_the_dlq_with_their_reason() {
    let f = Fixture::start().await;
    let (url, dlq_url) = create_fifo_queue_with_dlq(&f.sdk, "work", 2, 1).await;
    let fake = FakePlatform::for_example().await;
    fake.always("wecom", 502, "bad gateway");
    let config = fake_config(&fake).await;
    let ev = sample_event(&config, "wecom-demo", SampleKind::Message, "alert", NOW);
    let rec = record("x", "wecom-demo", &ev);
    let q = queue(&f.sdk, &url);
    let dlq = queue(&f.sdk, &dlq_url);
    q.send_raw(&rec.body, rec.group_id.as_deref().unwrap(), "d1")
        .await
        .unwrap();
    let stores = stores(&f.sdk, &f.table);
    let (d, _) = dispatcher(
        config,
        stores.clone(),
        Arc::new(botgate::clock::SystemClock),
        Registry::default(),
    );
    let mut failures = 0;
    for _ in 0..20 {
        let deadline = botgate::clock::SystemClock.now_ms() + 25_000;
        let (_, failed) = q.poll_once(&d, None, 2, deadline).await.unwrap();
        failures += failed;
        if failures >= 2 {
            // Once more after the visibility timeout: moto moves it to the DLQ.
            tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
            let (n, _) = q.poll_once(&d, None, 1, deadline).await.unwrap();
            assert_eq!(n, 0, "the record should have moved to the DLQ");
            break;
        }
    }
    assert_eq!(failures, 2, "failed once per receive");
    assert_eq!(fake.send_requests("wecom"), 6, "3 attempts per receive");
    let reason = stores
        .state
        .get(
            &failure_key("wecom-demo", &ev.event_id),
            botgate::clock::SystemClock.now_secs(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reason["reason"], "send_failed");
    assert!(reason["detail"].as_str().unwrap().contains("HTTP 502"), "{reason}");
    assert_eq!(reason["receive_count"], 2);
    // Re-drive after the platform recovered.
    fake.heal();
    assert_eq!(dlq.redrive_to(&q, 10).await.unwrap(), 1);
    let deadline = botgate::clock::SystemClock.now_ms() + 25_000;
    let (n, failed) = q.poll_once(&d, None, 1, deadline).await.unwrap();
    assert_eq!((n, failed), (1, 0));
    assert_eq!(fake.delivered_to("wecom").len(), 1);
}

/// Thirty instances ask the shared DynamoDB limiter at once for a 20-per-minute robot:
/// exactly twenty go ahead; the others are told to ask again. Settled, the sends fill the
/// window until a minute after their answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rate_limit_holds_across_instances() {
    use botgate::notify::rate::dynamodb::DynamoLimiter;
    use botgate::notify::rate::{Acquired, RateLimiter, RateRule};
    let f = Fixture::start().await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let limiter = DynamoLimiter::new(aws_sdk_dynamodb::Client::new(&f.sdk), &f.table);
        tasks.push(tokio::spawn(async move {
            let rules = [RateRule {
                window_ms: 60_000,
                max: 20,
            }];
            limiter.acquire("rate#robot", NOW * 1000 + i, &rules).await.unwrap()
        }));
    }
    let mut admitted = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Acquired::Yes => admitted.push(NOW * 1000 + i64::try_from(i).unwrap()),
            // Only sends in flight fill the window: ask again shortly.
            Acquired::RetryAt(at) => assert!(at > NOW * 1000),
        }
    }
    assert_eq!(admitted.len(), 20);
    // Once answered, the window is full until a minute after the first answer.
    let limiter = DynamoLimiter::new(aws_sdk_dynamodb::Client::new(&f.sdk), &f.table);
    for started in &admitted {
        limiter.settle("rate#robot", *started, NOW * 1000 + 500).await.unwrap();
    }
    let rules = [RateRule {
        window_ms: 60_000,
        max: 20,
    }];
    assert_eq!(
        limiter.acquire("rate#robot", NOW * 1000 + 1_000, &rules).await.unwrap(),
        Acquired::RetryAt(NOW * 1000 + 500 + botgate::notify::rate::ARRIVAL_GUARD_MS + 60_001)
    );
    assert_eq!(
        limiter
            .acquire("rate#robot", NOW * 1000 + 60_700, &rules)
            .await
            .unwrap(),
        Acquired::Yes
    );
}

/// A notification over its target's rate limit is held back on SQS until the limit
/// allows it (ChangeMessageVisibility), not for the queue's whole visibility timeout
/// (60 s here), and is then sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limited_notification_returns_when_the_limit_allows() {
    let f = Fixture::start().await;
    let (url, _) = create_fifo_queue_with_dlq(&f.sdk, "held", 5, 60).await;
    let fake = FakePlatform::for_example().await;
    let mut config = fake_config(&fake).await;
    let t = serde_json::json!({"type": "wecom_webhook",
        "url": format!("{}/cgi-bin/webhook/send?key={}", fake.url, botgate_tests::fake::WECOM_KEY),
        "rate_limit": [{"per_secs": 3, "max": 1}]});
    config
        .targets
        .insert("ops".into(), botgate::deps::target(&t, &config.bots).unwrap());
    config.notify_api = Some(botgate::deps::notify_api(&serde_json::json!({"bearer_token": "b"})).unwrap());
    let clock = Arc::new(FixedClock::at_ms(botgate::clock::SystemClock.now_ms()));
    let (gw, _) = deps(
        config.clone(),
        Arc::new(botgate::store::memory::MemoryStore::new()),
        Arc::new(queue(&f.sdk, &url)),
        clock,
    );
    for i in 0..2 {
        let body = format!(r#"{{"text": "deploy {i}"}}"#);
        let req = botgate::inbound::Request {
            method: "POST",
            query: "",
            headers: vec![("authorization", "Bearer b")],
            body: body.as_bytes(),
        };
        assert_eq!(callback::handle(&gw, "/notify/ops", &req, "r").await.status, 202);
    }
    let (d, _) = dispatcher(
        config,
        stores(&f.sdk, &f.table),
        Arc::new(botgate::clock::SystemClock),
        Registry::default(),
    );
    let q = queue(&f.sdk, &url);
    let now = botgate::clock::SystemClock.now_ms();
    assert_eq!(
        q.poll_once(&d, None, 1, now + 1_000).await.unwrap(),
        (2, 1),
        "one sent, one over the limit"
    );
    assert_eq!(fake.delivered_to("wecom-webhook").len(), 1);
    assert_eq!(
        q.poll_once(&d, None, 0, now + 1_000).await.unwrap(),
        (0, 0),
        "held back for now"
    );
    tokio::time::sleep(std::time::Duration::from_millis(4_500)).await;
    let now = botgate::clock::SystemClock.now_ms();
    assert_eq!(
        q.poll_once(&d, None, 1, now + 10_000).await.unwrap(),
        (1, 0),
        "back well before the 60 s timeout"
    );
    let got = fake.delivered_to("wecom-webhook");
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body["text"]["content"], "deploy 1");
}
