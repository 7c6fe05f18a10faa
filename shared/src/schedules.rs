//! The configured schedules, run by a tick: on AWS, one EventBridge Scheduler schedule
//! invokes the scheduler function every minute with `{"tick": "<aws.scheduler.scheduled-time>"}`,
//! so adding, changing or removing a schedule is a configuration change and nothing else;
//! `botgate serve` runs the same tick on its own clock.
//!
//! Each tick sends every run that fell due within the look-back
//! (`gateway.schedule_lookback_secs`, default 15 minutes), so the runs an outage or a
//! failed tick missed are caught up, and sends each run exactly once:
//!
//! - each target of a run is claimed under the same effect key as a direct invocation
//!   (notification, scheduled time, target), so a retried tick, two overlapping ticks, or
//!   a tick and a direct invocation never send a target twice;
//! - a schedule runs only after it was first seen (one record per notification,
//!   expression and time zone, written by the first tick that reads it), so a deploy or a
//!   newly added schedule does not fire the runs of the past 15 minutes;
//! - an instance remembers the runs it finished, so a warm one makes no store call for
//!   them, and it tries a failed run again 1, 2, 4 and 8 minutes later while the look-back
//!   still covers it (a permanent failure is not tried again by that instance).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::Instrument;

use crate::dispatcher::Dispatcher;
use crate::metrics::Count;
use crate::notify::calendar::{self, Schedule};
use crate::scheduler::{self, ScheduleError};
use crate::settings::Settings;
use crate::store::{Claim, ClaimRequest, StoreError};

/// How long a schedule's first-seen record is kept (it is written again after).
const FIRST_SEEN_RETENTION_SECS: i64 = 400 * 86_400;
/// Runs of one schedule that a single tick sends at most (the newest ones).
pub const MAX_RUNS_PER_TICK: usize = 60;
/// The pause before an instance tries a failed run again; it doubles each time.
pub const RETRY_PAUSE_MS: i64 = 60_000;
/// The period of the scheduler function's tick in `template.yaml`.
pub const TICK_PERIOD_MS: i64 = 60_000;

/// One run: a notification at a scheduled time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Run {
    /// The notification.
    pub notification: String,
    /// The scheduled time, Unix ms.
    pub at_ms: i64,
}

impl Run {
    /// The scheduled time as EventBridge Scheduler writes it (`2026-11-23T01:00:00Z`):
    /// part of each target's effect key.
    pub fn scheduled_time(&self) -> String {
        scheduled_time(self.at_ms)
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.notification, self.scheduled_time())
    }
}

/// `ms` as EventBridge Scheduler's `<aws.scheduler.scheduled-time>`.
pub fn scheduled_time(ms: i64) -> String {
    calendar::scheduled_time(utc(ms))
}

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// What one tick did, each run as `notification@scheduled-time`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Runs sent now (to at least one target).
    pub sent: Vec<String>,
    /// Runs every target of which an earlier attempt had sent.
    pub already_sent: Vec<String>,
    /// Runs another attempt is sending now.
    pub in_progress: Vec<String>,
    /// Failed runs waiting for their next try on this instance.
    pub waiting: Vec<String>,
    /// Runs (or schedules) that failed, with the reason.
    pub failed: Vec<String>,
}

impl TickReport {
    /// Whether nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

#[derive(Debug, Default)]
struct Memo {
    first_seen: HashMap<String, i64>,
    finished: HashSet<Run>,
    running: HashSet<Run>,
    /// Failed runs: tries so far and when the next may start, Unix ms.
    retry: HashMap<Run, (u32, i64)>,
}

/// The tick's memory on one instance (see the module's documentation).
#[derive(Debug)]
pub struct Ticker {
    memo: Mutex<Memo>,
    grace_ms: i64,
}

impl Ticker {
    /// A ticker whose schedules count as seen `grace_ms` before their first tick: the
    /// tick's period on AWS ([`TICK_PERIOD_MS`]), so a schedule pushed a few seconds
    /// before its run still gets it; 0 for `botgate serve`, whose tick is continuous.
    pub fn new(grace_ms: i64) -> Self {
        Self {
            memo: Mutex::new(Memo::default()),
            grace_ms,
        }
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends every run of the configuration's schedules that is due now; its log lines are
    /// in a `trace` span whose trace id is the tick's request id.
    pub async fn tick(&self, d: &Dispatcher, request_id: &str, deadline_ms: i64) -> TickReport {
        let span = tracing::info_span!("trace", trace_id = %request_id);
        self.tick_traced(d, request_id, deadline_ms).instrument(span).await
    }

    async fn tick_traced(&self, d: &Dispatcher, request_id: &str, deadline_ms: i64) -> TickReport {
        let now_ms = d.clock.now_ms();
        let mut report = TickReport::default();
        let schedules = match calendar::configured(&d.config) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(request_id, error = %e, "schedules: the configuration's schedules cannot be read");
                report.failed.push(e.to_string());
                return report;
            }
        };
        let lookback_ms = secs_ms(d.config.schedule_lookback_secs);
        let mut due = Vec::new();
        for s in &schedules {
            match self.first_seen(d, s, now_ms).await {
                Ok(since) => due.extend(self.due(s, since, now_ms, lookback_ms, &mut report)),
                Err(e) => {
                    tracing::warn!(request_id, notification = %s.notification, error = %e, "schedules: first-seen record unavailable");
                    report.failed.push(format!("{}: {e}", s.notification));
                }
            }
        }
        let results = futures::future::join_all(due.iter().map(|run| self.run(d, run, request_id, deadline_ms))).await;
        for (run, outcome) in due.into_iter().zip(results) {
            let name = run.to_string();
            let metric = match outcome {
                Outcome::Sent => {
                    report.sent.push(name);
                    "sent"
                }
                Outcome::AlreadySent => {
                    report.already_sent.push(name);
                    "already_sent"
                }
                Outcome::InProgress => {
                    report.in_progress.push(name);
                    "in_progress"
                }
                Outcome::Failed { reason, permanent } => {
                    report.failed.push(format!("{name}: {reason}"));
                    if permanent { "failed" } else { "retry" }
                }
            };
            d.metrics.emit(&Count {
                name: "scheduled_runs",
                component: "scheduler",
                outcome: metric,
                timestamp_ms: now_ms,
            });
        }
        self.forget_before(now_ms.saturating_sub(lookback_ms + TICK_PERIOD_MS));
        report
    }

    /// When this instance should look again: the next run of any schedule, or the next
    /// try of a failed run, Unix ms.
    pub fn next_wake_ms(&self, config: &Settings, now_ms: i64) -> Option<i64> {
        let next_run = calendar::configured(config)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.next_after(utc(now_ms)))
            .map(|t| t.timestamp_millis())
            .min();
        let next_retry = self.memo().retry.values().map(|(_, at)| *at).min();
        next_run.into_iter().chain(next_retry).min()
    }

    /// Whether a tick now would have a run to send (or a schedule to see for the first time).
    pub fn has_due(&self, config: &Settings, now_ms: i64) -> bool {
        let Ok(schedules) = calendar::configured(config) else {
            return false;
        };
        let lookback_ms = secs_ms(config.schedule_lookback_secs);
        let memo = self.memo();
        schedules.iter().any(|s| {
            let Some(since) = memo.first_seen.get(&first_seen_key(s)) else {
                return true;
            };
            runs(s, *since, now_ms, lookback_ms).into_iter().any(|run| {
                !memo.finished.contains(&run)
                    && !memo.running.contains(&run)
                    && memo.retry.get(&run).is_none_or(|(_, at)| *at <= now_ms)
            })
        })
    }

    /// When schedule `s` was first seen, Unix ms (less the grace), from this instance's
    /// memory or the shared record (written now when there is none).
    async fn first_seen(&self, d: &Dispatcher, s: &Schedule, now_ms: i64) -> Result<i64, StoreError> {
        let key = first_seen_key(s);
        if let Some(t) = self.memo().first_seen.get(&key) {
            return Ok(*t);
        }
        let claim = d
            .effects
            .claim(ClaimRequest {
                key: &key,
                now_ms,
                in_progress_ms: FIRST_SEEN_RETENTION_SECS.saturating_mul(1000),
                retention_secs: FIRST_SEEN_RETENTION_SECS,
                answer: None,
            })
            .await?;
        let seen = match claim {
            Claim::Claimed(_) | Claim::TookOver(_) => now_ms,
            Claim::Held(r) => r.claimed_at_ms,
        };
        let since = seen.saturating_sub(self.grace_ms);
        self.memo().first_seen.insert(key, since);
        Ok(since)
    }

    /// The runs of `s` to send now, marked running; the others are reported.
    fn due(&self, s: &Schedule, since: i64, now_ms: i64, lookback_ms: i64, report: &mut TickReport) -> Vec<Run> {
        let mut memo = self.memo();
        let mut out = Vec::new();
        for run in runs(s, since, now_ms, lookback_ms) {
            if memo.finished.contains(&run) {
                continue;
            }
            if memo.running.contains(&run) {
                report.in_progress.push(run.to_string());
            } else if memo.retry.get(&run).is_some_and(|(_, at)| *at > now_ms) {
                report.waiting.push(run.to_string());
            } else {
                memo.running.insert(run.clone());
                out.push(run);
            }
        }
        out
    }

    async fn run(&self, d: &Dispatcher, run: &Run, request_id: &str, deadline_ms: i64) -> Outcome {
        let scheduled_time = run.scheduled_time();
        let result = match d.config.notifications.get(&run.notification) {
            Some(n) => scheduler::run_notification(d, n, &scheduled_time, request_id, deadline_ms).await,
            None => Err(ScheduleError::BadInput(format!(
                "no notification `{}` in the configuration",
                run.notification
            ))),
        };
        let now_ms = d.clock.now_ms();
        let mut memo = self.memo();
        memo.running.remove(run);
        let outcome = match result {
            Ok(r) if !r.elsewhere.is_empty() => Outcome::InProgress,
            Ok(r) => {
                memo.finished.insert(run.clone());
                memo.retry.remove(run);
                if r.sent.is_empty() {
                    Outcome::AlreadySent
                } else {
                    Outcome::Sent
                }
            }
            Err(e) if e.is_permanent() => {
                memo.finished.insert(run.clone());
                memo.retry.remove(run);
                Outcome::Failed {
                    reason: e.to_string(),
                    permanent: true,
                }
            }
            Err(e) => {
                let tries = memo.retry.get(run).map_or(0, |(n, _)| *n) + 1;
                let pause = RETRY_PAUSE_MS << (tries - 1).min(3);
                memo.retry.insert(run.clone(), (tries, now_ms.saturating_add(pause)));
                Outcome::Failed {
                    reason: e.to_string(),
                    permanent: false,
                }
            }
        };
        drop(memo);
        match &outcome {
            Outcome::Failed {
                reason,
                permanent: true,
            } => tracing::error!(request_id, notification = %run.notification,
                scheduled_time, outcome = "failed", reason, "scheduled run failed; not tried again (fix the configuration or the target)"),
            Outcome::Failed {
                reason,
                permanent: false,
            } => tracing::warn!(request_id, notification = %run.notification,
                scheduled_time, outcome = "retry", reason, "scheduled run failed; tried again later within the look-back"),
            Outcome::Sent => {
                tracing::info!(request_id, notification = %run.notification, scheduled_time, outcome = "sent", "scheduled run")
            }
            Outcome::AlreadySent => tracing::info!(request_id, notification = %run.notification, scheduled_time,
                outcome = "already_sent", "scheduled run"),
            Outcome::InProgress => tracing::info!(request_id, notification = %run.notification, scheduled_time,
                outcome = "in_progress", "scheduled run"),
        }
        outcome
    }

    /// Forgets the runs older than `cutoff_ms` (the look-back no longer reaches them).
    fn forget_before(&self, cutoff_ms: i64) {
        let mut memo = self.memo();
        memo.finished.retain(|r| r.at_ms >= cutoff_ms);
        memo.retry.retain(|r, _| r.at_ms >= cutoff_ms);
    }
}

enum Outcome {
    Sent,
    AlreadySent,
    InProgress,
    Failed { reason: String, permanent: bool },
}

/// The record that says when a schedule was first seen: a changed expression or time zone
/// is a new schedule.
fn first_seen_key(s: &Schedule) -> String {
    format!("schedule#{}#{}#{}", s.notification, s.expression, s.timezone)
}

/// The runs of `s` due at `now_ms`: after it was first seen and within the look-back.
fn runs(s: &Schedule, since: i64, now_ms: i64, lookback_ms: i64) -> Vec<Run> {
    let from = since.max(now_ms.saturating_sub(lookback_ms));
    s.runs_between(utc(from), utc(now_ms), MAX_RUNS_PER_TICK)
        .into_iter()
        .map(|t| Run {
            notification: s.notification.clone(),
            at_ms: t.timestamp_millis(),
        })
        .collect()
}

fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
}
