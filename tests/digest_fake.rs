//! Digests on a virtual clock: a burst of 50 alerts to a DingTalk group bot (20 per minute,
//! refused beyond that by the fake, which counts the signed arrival times) goes through the
//! gateway and the dispatcher on an SQS-like FIFO loop. The bot never receives more than 20
//! in any 60 s, every alert is in some message, and an alert resolved while its firing
//! notification still waits arrives only as resolved.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::sync::Arc;

use botgate::clock::{Clock, FixedClock};
use botgate::deps::DispatchStores;
use botgate::dispatcher::{Dispatcher, Record};
use botgate::handler::Registry;
use botgate::queue::memory::MemoryQueue;
use botgate_tests::fake::{FakePlatform, WEBHOOK_SECRET};
use botgate_tests::{dispatcher, fake_config, post};
use serde_json::json;

const BEARER: &str = "digest-bearer";
const START_MS: i64 = 1_795_440_000_000;

fn yaml(fake: &str, extra: &str) -> String {
    format!(
        r#"
notify_api:
  bearer_token: {BEARER}
targets:
  pager: {{type: dingtalk_webhook, url: "{fake}/robot/send?access_token=abc", secret: "{WEBHOOK_SECRET}"{extra}}}
bots: {{}}
"#
    )
}

fn alert(i: usize, status: &str) -> String {
    let name = format!("Alert{i:02}");
    json!({"version": "4", "status": status, "receiver": "botgate",
      "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
      "groupLabels": {"alertname": name}, "commonLabels": {"alertname": name, "severity": "warning"},
      "commonAnnotations": {}, "externalURL": "http://am.example.com",
      "alerts": [{"status": status,
        "labels": {"alertname": name, "severity": "warning", "instance": format!("db-{i}")},
        "annotations": {"summary": format!("{name} on db-{i}")},
        "startsAt": "2026-11-23T01:00:00Z",
        "endsAt": if status == "resolved" { "2026-11-23T01:05:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": format!("http://prometheus.example.com/graph?g0.expr={name}")}]})
    .to_string()
}

/// One FIFO message group as SQS serves it to a Lambda consumer: batches of up to ten from
/// the head, a failed record and those behind it held until their retry time.
struct Fifo {
    records: VecDeque<(Record, i64)>,
    next_id: usize,
    batches: usize,
}

impl Fifo {
    fn take_new(&mut self, queue: &MemoryQueue) {
        for m in queue.drain() {
            self.next_id += 1;
            let rec = Record {
                message_id: format!("m{}", self.next_id),
                body: m.body,
                group_id: Some(m.group_id),
                receive_count: 1,
            };
            self.records.push_back((rec, 0));
        }
    }

    async fn step(&mut self, d: &Dispatcher, now: i64) {
        if self.records.front().is_none_or(|(_, visible)| *visible > now) {
            return;
        }
        let batch: Vec<Record> = self.records.iter().take(10).map(|(r, _)| r.clone()).collect();
        self.batches += 1;
        // Little time left to wait in the invocation: the rate limit's holds come back as
        // retry times (a longer wait would sleep in real time while the clock stands still).
        let failed = d.process_batch_detailed("t", batch.clone(), now + 900).await;
        for rec in batch {
            let pos = self
                .records
                .iter()
                .position(|(r, _)| r.message_id == rec.message_id)
                .unwrap();
            match failed.iter().find(|f| f.message_id == rec.message_id) {
                None => {
                    self.records.remove(pos);
                }
                Some(f) => {
                    assert!(!f.permanent, "{f:?}");
                    let (r, visible) = &mut self.records[pos];
                    r.receive_count += 1;
                    assert!(
                        r.receive_count <= 5,
                        "a record would reach the dead-letter queue: {f:?}"
                    );
                    *visible = f.retry_at_ms.unwrap_or(now + 30_000);
                }
            }
        }
    }
}

async fn run(extra: &str) -> (FakePlatform, usize) {
    let fake = FakePlatform::for_example().await;
    let mut config = botgate::deps::load_yaml(&yaml(&fake.url, extra), &botgate::config::EnvResolver)
        .await
        .unwrap();
    config.delivery = fake_config(&fake).await.delivery.clone();
    let clock = Arc::new(FixedClock::at_ms(START_MS));
    let (deps, queue) = botgate_tests::memory_gateway(config.clone(), clock.clone());
    let (mut d, _) = dispatcher(config, DispatchStores::in_memory(), clock.clone(), Registry::default());
    d.queue = Some(queue.clone());
    let bearer = format!("Bearer {BEARER}");
    let mut fifo = Fifo {
        records: VecDeque::new(),
        next_id: 0,
        batches: 0,
    };
    // 50 alerts over 10 s, five a second; Alert45 resolves 20 s in, while it still waits.
    for tick in 0..1_200 {
        let now = clock.now_ms();
        if tick < 10 {
            for i in tick * 5..tick * 5 + 5 {
                let (status, body) = post(
                    &deps,
                    "/alertmanager/pager",
                    vec![("authorization", &bearer)],
                    &alert(i, "firing"),
                )
                .await;
                assert_eq!(status, 202, "{body}");
            }
        }
        if tick == 20 {
            let (status, _) = post(
                &deps,
                "/alertmanager/pager",
                vec![("authorization", &bearer)],
                &alert(45, "resolved"),
            )
            .await;
            assert_eq!(status, 202);
        }
        fifo.take_new(&queue);
        fifo.step(&d, now).await;
        fifo.take_new(&queue);
        if tick > 20 && fifo.records.is_empty() {
            break;
        }
        clock.advance_ms(1_000);
    }
    assert!(
        fifo.records.is_empty(),
        "everything was delivered within 20 virtual minutes"
    );
    (fake, fifo.batches)
}

fn assert_within_the_limit(arrivals: &[i64]) {
    for (i, t) in arrivals.iter().enumerate() {
        let in_window = arrivals[i..].iter().filter(|a| **a < t + 60_000).count();
        assert!(in_window <= 20, "{in_window} arrivals in the 60 s from {t}");
    }
}

#[tokio::test]
async fn fifty_alerts_to_a_bot_at_its_limit_fold_into_a_digest_without_losing_one() {
    let (fake, _) = run("").await;
    assert_eq!(fake.throttled(), 0, "the bot never refused a message for its rate");
    let arrivals = fake.robot_arrivals();
    assert_within_the_limit(&arrivals);
    let bodies: Vec<String> = fake
        .delivered_to("dingtalk-webhook")
        .iter()
        .map(|d| d.body.to_string())
        .collect();
    assert!(bodies.len() < 50, "some alerts were folded: {} messages", bodies.len());
    assert!(bodies.iter().any(|b| b.contains("Digest: ")), "a digest was sent");
    for i in 0..50 {
        let name = format!("Alert{i:02}");
        assert!(bodies.iter().any(|b| b.contains(&name)), "{name} is in no message");
    }
    // Alert45 resolved before its turn came: it is reported resolved, never firing.
    assert!(bodies.iter().any(|b| b.contains("[RESOLVED] Alert45")), "{bodies:#?}");
    assert!(!bodies.iter().any(|b| b.contains("[FIRING:1] Alert45")), "{bodies:#?}");
    // Every notification is counted: 51 in all (50 firing, one resolved).
    let counted: u32 = bodies
        .iter()
        .filter_map(|b| {
            let at = b.find("Digest: ")? + "Digest: ".len();
            b[at..].split(' ').next()?.parse::<u32>().ok()
        })
        .sum();
    let singles = bodies.iter().filter(|b| !b.contains("Digest: ")).count();
    assert_eq!(counted as usize + singles, 51, "{bodies:#?}");
}

#[tokio::test]
async fn without_digests_every_alert_waits_its_turn_within_the_limit() {
    let (fake, _) = run(", digest: false").await;
    assert_eq!(fake.throttled(), 0);
    let arrivals = fake.robot_arrivals();
    assert_within_the_limit(&arrivals);
    // One message per notification, the firing Alert45 included.
    assert_eq!(fake.delivered_to("dingtalk-webhook").len(), 51);
    let span = arrivals.last().unwrap() - arrivals.first().unwrap();
    assert!(
        span >= 120_000,
        "51 messages at 20 a minute take over two minutes: {span} ms"
    );
}
