//! `botgate serve`'s schedules: the scheduler function's tick ([`botgate::schedules`]) on
//! the dispatcher's clock, woken at each run instead of once a minute. The schedules are
//! read the way EventBridge Scheduler reads them ([`botgate::notify::calendar`]), so a
//! schedule runs at the same instants here and on AWS, each run once.

use std::sync::Arc;
use std::time::Duration;

use botgate::dispatcher::Dispatcher;
use botgate::reload::Live;
use botgate::schedules::Ticker;

pub use botgate::notify::calendar::{DEFAULT_TIMEZONE, Schedule, ScheduleError, configured, describe, input};

/// How often the local runner looks at the clock while waiting (it also wakes at each run).
pub const TICK: Duration = Duration::from_secs(1);
/// Time allowed to one tick's runs (the scheduler function's timeout in `template.yaml`).
pub const RUN_DEADLINE_MS: i64 = 120_000;

/// Runs the configuration's schedules on the dispatcher's clock until dropped, on the live
/// configuration (a schedule added or removed by a reload starts or stops). A tick
/// starts whenever a run is due, without waiting for the one before (runs claimed by a
/// tick still in flight are left to it); `tick` bounds each wait, so a test's virtual
/// clock is followed.
pub async fn run(live: Arc<Live<Dispatcher>>, tick: Duration) {
    let ticker = Arc::new(Ticker::new(0));
    loop {
        let d = live.get();
        let now_ms = d.clock.now_ms();
        if ticker.has_due(&d.config, now_ms) {
            let (d, ticker) = (d.clone(), ticker.clone());
            drop(tokio::spawn(async move {
                let request_id = botgate::crypto::random_nonce(16);
                let report = ticker.tick(&d, &request_id, d.clock.now_ms() + RUN_DEADLINE_MS).await;
                if !report.is_ok() {
                    tracing::warn!(request_id, failed = ?report.failed, "schedules: tick with failures");
                }
            }));
        }
        let wait = ticker.next_wake_ms(&d.config, now_ms).map_or(tick, |w| {
            Duration::from_millis(u64::try_from(w - now_ms).unwrap_or(0)).min(tick)
        });
        tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
    }
}
