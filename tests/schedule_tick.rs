//! The scheduler's minute tick on a virtual clock (dry-run transport): a simulated day
//! sends exactly the expected runs of a weekday-morning cron in Asia/Shanghai and a
//! five-minute rate; a retried tick, overlapping ticks on two instances, and an outage
//! followed by catch-up each send every due run exactly once; a schedule removed by a
//! configuration change stops, and a changed one starts afresh.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use botgate::clock::FixedClock;
use botgate::delivery::transport::DryRun;
use botgate::deps::DispatchStores;
use botgate::dispatcher::Dispatcher;
use botgate::metrics::Recorded;
use botgate::schedules::{TICK_PERIOD_MS, TickReport, Ticker};
use serde_json::{Value, json};

/// Monday 2026-11-23 00:00:20 in Beijing (2026-11-22T16:00:20Z): ticks fall at :20.
const MONDAY_MS: i64 = 1_795_363_220_000;
const MINUTE: i64 = 60_000;

struct World {
    clock: Arc<FixedClock>,
    transport: Arc<DryRun>,
    stores: DispatchStores,
}

impl World {
    fn new(start_ms: i64) -> Self {
        Self {
            clock: Arc::new(FixedClock::at_ms(start_ms)),
            transport: Arc::new(DryRun::recording()),
            stores: DispatchStores::in_memory(),
        }
    }

    /// A dispatcher (one instance) on `notifications`, over the world's shared stores.
    fn instance(&self, notifications: Value) -> Dispatcher {
        let mut config = botgate::Settings::default();
        let target = json!({"type": "wecom_webhook", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"});
        config
            .targets
            .insert("ops".into(), botgate::deps::target(&target, &config.bots).unwrap());
        let Value::Object(map) = notifications else {
            panic!("notifications are a map")
        };
        for (name, n) in map {
            let n = botgate::deps::notification(&name, &n, &config.targets).unwrap();
            config.notifications.insert(name, n);
        }
        let stores = DispatchStores {
            effects: self.stores.effects.clone(),
            state: self.stores.state.clone(),
            tokens: self.stores.tokens.clone(),
            limiter: self.stores.limiter.clone(),
        };
        botgate::deps::dispatcher_with(
            Arc::new(config),
            stores,
            self.transport.clone(),
            self.clock.clone(),
            Arc::new(Recorded::default()),
            botgate::handler::Registry::default(),
        )
    }

    /// The texts sent so far, by text, with how many times each arrived.
    fn sent(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in self.transport.requests.lock().unwrap().iter() {
            let body: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
            let text = body["text"]["content"].as_str().unwrap().to_owned();
            *out.entry(text).or_insert(0) += 1;
        }
        out
    }
}

async fn tick(d: &Dispatcher, t: &Ticker) -> TickReport {
    t.tick(d, "test", d.clock.now_ms() + 120_000).await
}

fn utc(ms: i64) -> String {
    botgate::schedules::scheduled_time(ms)
}

fn morning_and_pulse() -> Value {
    json!({
        "morning": {"schedule": "cron(0 9 ? * MON-FRI *)", "timezone": "Asia/Shanghai", "targets": "ops",
                    "message": "morning {{ scheduled_time }}"},
        "pulse": {"schedule": "rate(5 minutes)", "targets": "ops", "message": "pulse {{ scheduled_time }}"},
    })
}

#[tokio::test]
async fn a_simulated_day_sends_exactly_the_expected_runs() {
    let w = World::new(MONDAY_MS);
    let d = w.instance(morning_and_pulse());
    let ticker = Ticker::new(TICK_PERIOD_MS);
    for _ in 0..=24 * 60 {
        let r = tick(&d, &ticker).await;
        assert!(r.is_ok(), "{r:?}");
        w.clock.advance_ms(MINUTE);
    }
    let sent = w.sent();
    assert!(sent.values().all(|n| *n == 1), "each run once");
    let mornings: Vec<&String> = sent.keys().filter(|t| t.starts_with("morning")).collect();
    assert_eq!(
        mornings,
        ["morning 2026-11-23T01:00:00Z"],
        "09:00 in Beijing on Monday, once; Tuesday's is past the day"
    );
    // First seen at 16:00:20 UTC less a tick's grace; the last tick is at 16:00:20 the next day.
    let first = MONDAY_MS - TICK_PERIOD_MS;
    let last = MONDAY_MS + 24 * 60 * MINUTE;
    let expected: Vec<String> = (first.div_euclid(5 * MINUTE) + 1..=last.div_euclid(5 * MINUTE))
        .map(|n| format!("pulse {}", utc(n * 5 * MINUTE)))
        .collect();
    let pulses: Vec<String> = sent.keys().filter(|t| t.starts_with("pulse")).cloned().collect();
    assert_eq!(pulses.len(), 289, "every five minutes for a day, both ends included");
    assert_eq!(pulses, expected);
}

#[tokio::test]
async fn retried_and_overlapping_ticks_send_each_run_once() {
    let w = World::new(MONDAY_MS + (8 * 60 + 59) * MINUTE); // 00:59:20 UTC: the morning run is next
    let a = w.instance(morning_and_pulse());
    let b = w.instance(morning_and_pulse());
    let (ta, tb) = (Ticker::new(TICK_PERIOD_MS), Ticker::new(TICK_PERIOD_MS));
    tick(&a, &ta).await;
    let before = w.sent();
    w.clock.advance_ms(MINUTE); // 01:00:20 UTC = 09:00:20 in Beijing
    // Two instances tick at the same moment (EventBridge retried a slow tick).
    let (ra, rb) = tokio::join!(tick(&a, &ta), tick(&b, &tb));
    let mut runs: Vec<String> = [&ra, &rb]
        .iter()
        .flat_map(|r| r.sent.iter().chain(&r.already_sent).chain(&r.in_progress).cloned())
        .collect();
    runs.sort();
    assert!(
        runs.contains(&"morning@2026-11-23T01:00:00Z".to_owned()),
        "{ra:?} {rb:?}"
    );
    // The same tick retried on each instance, then a cold instance.
    tick(&a, &ta).await;
    tick(&b, &tb).await;
    let r = tick(&b, &Ticker::new(TICK_PERIOD_MS)).await;
    assert!(r.sent.is_empty(), "{r:?}");
    assert!(
        r.already_sent.contains(&"morning@2026-11-23T01:00:00Z".to_owned()),
        "{r:?}"
    );
    let sent = w.sent();
    assert_eq!(sent.get("morning 2026-11-23T01:00:00Z"), Some(&1));
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    assert!(sent.len() > before.len());
}

#[tokio::test]
async fn an_outage_is_caught_up_once_within_the_lookback() {
    let w = World::new(MONDAY_MS);
    let d = w.instance(json!({
        "minutely": {"schedule": "rate(1 minute)", "targets": "ops", "message": "m {{ scheduled_time }}"},
    }));
    let ticker = Ticker::new(TICK_PERIOD_MS);
    for _ in 0..3 {
        tick(&d, &ticker).await;
        w.clock.advance_ms(MINUTE);
    }
    assert_eq!(w.sent().len(), 3, "16:00, 16:01 and 16:02");
    // No tick for 10 minutes (a regional outage, a throttled function): the next one
    // catches up every missed run.
    w.clock.advance_ms(10 * MINUTE);
    let r = tick(&d, &ticker).await;
    assert_eq!(r.sent.len(), 11, "16:03 to 16:13: {r:?}");
    // A longer outage: only the look-back (15 minutes) is caught up.
    w.clock.advance_ms(40 * MINUTE);
    let r = tick(&d, &ticker).await;
    assert_eq!(r.sent.len(), 15, "{r:?}");
    let sent = w.sent();
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    assert_eq!(sent.len(), 3 + 11 + 15);
    assert!(sent.contains_key(&format!("m {}", utc(MONDAY_MS - 20_000 + 53 * MINUTE))));
    assert!(!sent.contains_key(&format!("m {}", utc(MONDAY_MS - 20_000 + 38 * MINUTE))));
}

#[tokio::test]
async fn a_removed_schedule_stops_and_a_changed_one_starts_afresh() {
    let w = World::new(MONDAY_MS);
    let ticker = Ticker::new(TICK_PERIOD_MS);
    let d = w.instance(morning_and_pulse());
    tick(&d, &ticker).await;
    assert_eq!(w.sent().len(), 1, "the 16:00 pulse");
    // The configuration changes: the pulse is gone.
    let d = w.instance(json!({"morning": morning_and_pulse()["morning"].clone()}));
    for _ in 0..30 {
        w.clock.advance_ms(MINUTE);
        tick(&d, &ticker).await;
    }
    assert_eq!(w.sent().len(), 1, "no pulse after its removal");
    // It comes back as a ten-minute rate: a new schedule, first seen now (16:30:20), so
    // only its runs from now on are sent, not the look-back's.
    let d = w.instance(json!({
        "pulse": {"schedule": "rate(10 minutes)", "targets": "ops", "message": "pulse {{ scheduled_time }}"},
    }));
    let r = tick(&d, &ticker).await;
    assert_eq!(r.sent, ["pulse@2026-11-22T16:30:00Z"], "only the run inside the grace");
    w.clock.advance_ms(10 * MINUTE);
    let r = tick(&d, &ticker).await;
    assert_eq!(r.sent, ["pulse@2026-11-22T16:40:00Z"]);
}
