//! Circuit breakers against the fake platform on a virtual clock: a host answering 5xx
//! opens its breaker past the threshold; while open, records are held (not attempted) with
//! the end of the open period as their retry time; after it, a probe that succeeds closes
//! the breaker and the held records are each sent exactly once; permanent errors never
//! open it; and a bot's fallback target hears of the outage once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use botgate::clock::FixedClock;
use botgate::deps::DispatchStores;
use botgate::dispatcher::{Failure, Record};
use botgate::handler::Registry;
use botgate::inbound::SampleKind;
use botgate_tests::fake::{FakePlatform, WECOM_KEY};
use botgate_tests::{dispatcher, fake_config, record, sample_event};

const NOW: i64 = 1_795_440_463;

/// The example with quick breakers: open past 50 % of at least 6 calls in 30 s, for 30 s,
/// one probe.
async fn config(fake: &FakePlatform) -> botgate::Settings {
    let mut c = fake_config(fake).await;
    c.delivery.circuit_breaker = botgate::delivery::breaker::BreakerSettings {
        enabled: true,
        failure_percent: 50,
        min_calls: 6,
        window_ms: 30_000,
        open_ms: 30_000,
        half_open_probes: 1,
    };
    c
}

/// A WeCom message from user `i` (each its own conversation).
fn wecom_record(config: &botgate::Settings, i: usize) -> Record {
    let mut ev = sample_event(config, "wecom-demo", SampleKind::Message, &format!("disk {i}"), NOW);
    ev.event_id = format!("ev-{i}");
    ev.sender_id = Some(format!("user-{i}"));
    ev.chat_id = ev.sender_id.clone();
    ev.reply.open_id = ev.sender_id.clone();
    record(&format!("m{i}"), "wecom-demo", &ev)
}

async fn batch(d: &botgate::dispatcher::Dispatcher, records: Vec<Record>, clock: &FixedClock) -> Vec<Failure> {
    let deadline = botgate::clock::Clock::now_ms(clock) + 25_000;
    d.process_batch_detailed("t", records, deadline).await
}

fn host(fake: &FakePlatform) -> String {
    botgate::delivery::breaker::host_of(&fake.url)
}

#[tokio::test]
async fn failures_open_it_held_records_wait_and_a_good_probe_closes_it() {
    let fake = FakePlatform::for_example().await;
    let config = config(&fake).await;
    let clock = Arc::new(FixedClock::at_ms(NOW * 1000));
    let (d, metrics) = dispatcher(
        config.clone(),
        DispatchStores::in_memory(),
        clock.clone(),
        Registry::default(),
    );
    fake.always("wecom", 503, "upstream unavailable");

    // Two records, up to three attempts each, every one a 503: once the window holds 6
    // calls (the token fetch, answered, and 5 sends that failed) the breaker opens, and the
    // sixth send is not made.
    assert_eq!(batch(&d, vec![wecom_record(&config, 0)], &clock).await.len(), 1);
    assert_eq!(
        d.delivery.breakers.state(&host(&fake)),
        "closed",
        "4 calls: below min_calls"
    );
    let failed = batch(&d, vec![wecom_record(&config, 1)], &clock).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(d.delivery.breakers.state(&host(&fake)), "open");
    assert!(
        failed[0].retry_at_ms.is_some(),
        "the attempt the open breaker refused holds the record"
    );
    let attempts_when_opened = fake.send_requests("wecom");
    assert_eq!(attempts_when_opened, 5);

    // While open: records are held, not attempted, until the end of the open period.
    clock.advance_ms(5_000);
    let held: Vec<Record> = (2..8).map(|i| wecom_record(&config, i)).collect();
    let failed = batch(&d, held.clone(), &clock).await;
    assert_eq!(failed.len(), 6);
    let opened_at = NOW * 1000;
    for f in &failed {
        let at = f.retry_at_ms.expect("a held record knows when to come back");
        assert!((opened_at + 30_000..=opened_at + 31_000).contains(&at), "{at}");
        assert!(!f.permanent);
    }
    assert_eq!(
        fake.send_requests("wecom"),
        attempts_when_opened,
        "nothing attempted while open"
    );

    // The host recovers; after the open period a probe goes, succeeds, closes the breaker,
    // and every held record is sent once.
    fake.clear_always("wecom");
    clock.advance_ms(26_000);
    let mut all: Vec<Record> = vec![wecom_record(&config, 0), wecom_record(&config, 1)];
    all.extend(held);
    // As SQS would: what is held comes back at its retry time (the others wait for the
    // probe: a second later).
    let mut pending = all.clone();
    for round in 0..3 {
        let failed = batch(&d, pending.clone(), &clock).await;
        assert!(
            failed.iter().all(|f| f.retry_at_ms.is_some()),
            "round {round}: only held"
        );
        pending.retain(|r| failed.iter().any(|f| f.message_id == r.message_id));
        if pending.is_empty() {
            break;
        }
        clock.advance_ms(1_000);
    }
    assert!(pending.is_empty(), "{} still held", pending.len());
    assert_eq!(d.delivery.breakers.state(&host(&fake)), "closed");
    let delivered = fake.delivered_to("wecom");
    let mut users: Vec<String> = delivered
        .iter()
        .map(|m| m.body["touser"].as_str().unwrap().to_owned())
        .collect();
    users.sort();
    let mut want: Vec<String> = (0..8).map(|i| format!("user-{i}")).collect();
    want.sort();
    assert_eq!(users, want, "each held reply sent exactly once");
    // A redelivery of the same batch sends nothing more.
    assert!(batch(&d, all, &clock).await.is_empty());
    assert_eq!(fake.delivered_to("wecom").len(), 8);

    let transitions: Vec<String> = metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m["breaker_transitions"] == 1)
        .map(|m| m["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(transitions, ["open", "half_open", "closed"]);
}

#[tokio::test]
async fn a_failed_probe_opens_it_again() {
    let fake = FakePlatform::for_example().await;
    let config = config(&fake).await;
    let clock = Arc::new(FixedClock::at_ms(NOW * 1000));
    let (d, _) = dispatcher(
        config.clone(),
        DispatchStores::in_memory(),
        clock.clone(),
        Registry::default(),
    );
    fake.always("wecom", 500, "");
    batch(&d, vec![wecom_record(&config, 0), wecom_record(&config, 1)], &clock).await;
    assert_eq!(d.delivery.breakers.state(&host(&fake)), "open");
    clock.advance_ms(31_000);
    let before = fake.send_requests("wecom");
    let failed = batch(&d, vec![wecom_record(&config, 2)], &clock).await;
    assert_eq!(fake.send_requests("wecom"), before + 1, "one probe, not a retry loop");
    assert_eq!(d.delivery.breakers.state(&host(&fake)), "open");
    assert!(failed[0].retry_at_ms.is_some());
}

#[tokio::test]
async fn permanent_errors_and_rate_limits_never_open_it() {
    let fake = FakePlatform::for_example().await;
    let config = config(&fake).await;
    let clock = Arc::new(FixedClock::at_ms(NOW * 1000));
    let (d, _) = dispatcher(
        config.clone(),
        DispatchStores::in_memory(),
        clock.clone(),
        Registry::default(),
    );
    fake.always("wecom", 200, r#"{"errcode":40003,"errmsg":"invalid userid"}"#);
    let records: Vec<Record> = (0..20).map(|i| wecom_record(&config, i)).collect();
    assert!(
        batch(&d, records, &clock).await.is_empty(),
        "permanent: done, not retried"
    );
    assert_eq!(d.delivery.breakers.state(&host(&fake)), "closed");
    assert_eq!(fake.send_requests("wecom"), 20);
    // WeCom's frequency limit (45033) is retried, but it is the bot's limit, not the host.
    fake.always(
        "wecom",
        200,
        r#"{"errcode":45033,"errmsg":"api concurrent out of limit"}"#,
    );
    let records: Vec<Record> = (20..30).map(|i| wecom_record(&config, i)).collect();
    batch(&d, records, &clock).await;
    assert_eq!(d.delivery.breakers.state(&host(&fake)), "closed");
}

#[tokio::test]
async fn the_fallback_target_hears_of_an_outage_once() {
    let fake = FakePlatform::for_example().await;
    // The fallback goes to a group bot on another host (a second fake).
    let elsewhere = FakePlatform::for_example().await;
    let mut config = config(&fake).await;
    let target = serde_json::json!({"type": "wecom_webhook", "url": format!("{}/cgi-bin/webhook/send?key={WECOM_KEY}", elsewhere.url)});
    config
        .targets
        .insert("ops".into(), botgate::deps::target(&target, &config.bots).unwrap());
    config.bots.get_mut("wecom-demo").unwrap().fallback = Some(botgate::bot::Fallback {
        target: "ops".into(),
        after_ms: 10_000,
    });
    let clock = Arc::new(FixedClock::at_ms(NOW * 1000));
    let (d, _) = dispatcher(
        config.clone(),
        DispatchStores::in_memory(),
        clock.clone(),
        Registry::default(),
    );
    fake.always("wecom", 502, "");
    batch(&d, vec![wecom_record(&config, 0), wecom_record(&config, 1)], &clock).await;
    // Held, but the outage is younger than after_secs: nobody is told yet.
    batch(&d, vec![wecom_record(&config, 2)], &clock).await;
    assert!(elsewhere.delivered_to("wecom-webhook").is_empty());
    clock.advance_ms(12_000);
    for i in 3..8 {
        batch(&d, vec![wecom_record(&config, i)], &clock).await;
    }
    let told = elsewhere.delivered_to("wecom-webhook");
    assert_eq!(told.len(), 1, "once per outage, not per held message");
    let text = told[0].body["text"]["content"].as_str().unwrap();
    assert!(
        text.contains("wecom-demo") && text.contains("circuit breaker"),
        "{text}"
    );
}
