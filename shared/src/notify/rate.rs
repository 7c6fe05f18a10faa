//! Per-target rate limits, shared by every instance: a sliding log of the last sends per
//! target (never more than `max` in any `window`, whatever the window's alignment, unlike
//! fixed counters that let twice the limit through across a boundary). In memory, or one
//! DynamoDB item per target updated with optimistic concurrency (a version attribute).
//!
//! The platforms count *arrivals*, and a request arrives some time between its start and
//! its answer. So a send is logged twice: [`RateLimiter::acquire`] logs it in flight when
//! it starts (an in-flight send occupies every window until it is answered), and
//! [`RateLimiter::settle`] moves it to the time its answer came back plus
//! [`ARRIVAL_GUARD_MS`]. A later send is admitted only when its start is a full window after
//! that: its arrival (no earlier than its start) is then a full window after the earlier
//! arrival (no later than its answer), however the network delayed either. An in-flight
//! mark never settled (its instance died) counts as answered [`IN_FLIGHT_MAX_MS`] after it
//! started.

#[cfg(feature = "aws")]
pub mod dynamodb;

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// Added to a send's answer time: covers the clock differences between instances.
pub const ARRIVAL_GUARD_MS: i64 = 100;
/// An in-flight send older than this is taken as answered this long after it started
/// (longer than any request: the delivery's timeout and retries end well before).
pub const IN_FLIGHT_MAX_MS: i64 = 60_000;
/// When only sends still in flight fill a window, try again after this long.
pub const IN_FLIGHT_POLL_MS: i64 = 100;

/// At most `max` sends in any `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRule {
    /// The window, ms.
    pub window_ms: i64,
    /// Sends allowed in it.
    pub max: u32,
}

/// One send in a target's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Started at this time (Unix ms), not answered yet.
    InFlight(i64),
    /// Arrived no later than this (its answer time plus the guard), Unix ms.
    Arrived(i64),
}

impl Mark {
    /// The stored form: `123` for an arrival, `~123` for a send in flight.
    pub fn encode(self) -> String {
        match self {
            Self::InFlight(t) => format!("~{t}"),
            Self::Arrived(t) => t.to_string(),
        }
    }

    /// Parses the stored form (`None` for anything else).
    pub fn decode(s: &str) -> Option<Self> {
        match s.strip_prefix('~') {
            Some(t) => t.parse().ok().map(Self::InFlight),
            None => s.parse().ok().map(Self::Arrived),
        }
    }

    /// The time this send may have arrived by, at `now_ms`: `None` while it is in flight
    /// (it may still arrive at any moment).
    fn arrived_by(self, now_ms: i64) -> Option<i64> {
        match self {
            Self::Arrived(t) => Some(t),
            Self::InFlight(t) if t.saturating_add(IN_FLIGHT_MAX_MS) < now_ms => {
                Some(t.saturating_add(IN_FLIGHT_MAX_MS))
            }
            Self::InFlight(_) => None,
        }
    }
}

/// Encodes a log for storage (comma-separated marks).
pub fn encode_log(log: &[Mark]) -> String {
    log.iter().map(|m| m.encode()).collect::<Vec<_>>().join(",")
}

/// Decodes a stored log, skipping anything unreadable.
pub fn decode_log(s: &str) -> Vec<Mark> {
    s.split(',').filter_map(Mark::decode).collect()
}

/// The answer of [`RateLimiter::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Go ahead: the send is logged in flight at the time given to `acquire`; call
    /// [`RateLimiter::settle`] with that time once it is answered.
    Yes,
    /// Not before this time, Unix ms (nothing logged).
    RetryAt(i64),
}

/// Given the log of past sends, either the new log with a send in flight at `now_ms`
/// added, or when to retry.
pub fn decide(log: &[Mark], now_ms: i64, rules: &[RateRule]) -> Result<Vec<Mark>, i64> {
    let longest = rules.iter().map(|r| r.window_ms).max().unwrap_or(0);
    // Keep what may still be in some window: sends in flight, and arrivals in the longest.
    let mut kept: Vec<Mark> = log
        .iter()
        .filter(|m| m.arrived_by(now_ms).is_none_or(|t| t > now_ms.saturating_sub(longest)))
        .copied()
        .collect();
    let mut retry_at = None;
    for r in rules {
        if r.max == 0 {
            // Nothing is ever allowed (the configuration refuses such a rule; never panic on one).
            let at = now_ms.saturating_add(r.window_ms.max(1));
            retry_at = Some(retry_at.map_or(at, |a: i64| a.max(at)));
            continue;
        }
        // In flight counts as "not yet arrived": later than anything, in every window.
        let mut in_window: Vec<i64> = kept
            .iter()
            .map(|m| m.arrived_by(now_ms).unwrap_or(i64::MAX))
            .filter(|t| *t > now_ms.saturating_sub(r.window_ms))
            .collect();
        in_window.sort_unstable();
        let max = usize::try_from(r.max).unwrap_or(usize::MAX);
        if in_window.len() >= max {
            // The send that must leave the window before there is room again.
            let leaving = in_window[in_window.len() - max];
            let at = if leaving == i64::MAX {
                now_ms.saturating_add(IN_FLIGHT_POLL_MS)
            } else {
                leaving.saturating_add(r.window_ms).saturating_add(1)
            };
            retry_at = Some(retry_at.map_or(at, |a: i64| a.max(at)));
        }
    }
    match retry_at {
        Some(at) => Err(at),
        None => {
            kept.push(Mark::InFlight(now_ms));
            Ok(kept)
        }
    }
}

/// The log with the send started at `started_ms` answered at `answered_ms`.
pub fn settled(log: &[Mark], started_ms: i64, answered_ms: i64) -> Vec<Mark> {
    let mut out = log.to_vec();
    if let Some(m) = out.iter_mut().find(|m| **m == Mark::InFlight(started_ms)) {
        *m = Mark::Arrived(answered_ms.max(started_ms).saturating_add(ARRIVAL_GUARD_MS));
    }
    out
}

/// Shared rate limits.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync {
    /// Logs one send for `key` in flight at `now_ms` if every rule allows it.
    async fn acquire(&self, key: &str, now_ms: i64, rules: &[RateRule]) -> Result<Acquired, StoreError>;
    /// Records that the send started at `started_ms` was answered (or failed) at
    /// `answered_ms`.
    async fn settle(&self, key: &str, started_ms: i64, answered_ms: i64) -> Result<(), StoreError>;
}

/// Rate limits in process memory.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    logs: Mutex<HashMap<String, Vec<Mark>>>,
}

impl MemoryLimiter {
    /// No sends yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn logs(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Vec<Mark>>>, StoreError> {
        self.logs
            .lock()
            .map_err(|_| StoreError::Unavailable("memory limiter lock poisoned".into()))
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryLimiter {
    async fn acquire(&self, key: &str, now_ms: i64, rules: &[RateRule]) -> Result<Acquired, StoreError> {
        let mut logs = self.logs()?;
        let log = logs.entry(key.to_owned()).or_default();
        Ok(match decide(log, now_ms, rules) {
            Ok(new) => {
                *log = new;
                Acquired::Yes
            }
            Err(at) => Acquired::RetryAt(at),
        })
    }

    async fn settle(&self, key: &str, started_ms: i64, answered_ms: i64) -> Result<(), StoreError> {
        let mut logs = self.logs()?;
        if let Some(log) = logs.get_mut(key) {
            *log = settled(log, started_ms, answered_ms);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(window_ms: i64, max: u32) -> [RateRule; 1] {
        [RateRule { window_ms, max }]
    }

    #[test]
    fn sliding_window_never_lets_more_than_max_through() {
        let rules = rule(60_000, 20);
        let mut log = Vec::new();
        let mut sent = Vec::new();
        let mut now = 0;
        while sent.len() < 100 {
            match decide(&log, now, &rules) {
                Ok(l) => {
                    log = settled(&l, now, now);
                    sent.push(now);
                }
                Err(at) => {
                    assert!(at > now);
                    now = at;
                    continue;
                }
            }
            now += 250;
        }
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|u| **u < t + 60_000).count();
            assert!(in_window <= 20, "{in_window} sends in the minute from {t}");
        }
    }

    /// Each send takes `latency[i]` to arrive and is answered on arrival; arrivals (what the
    /// platform counts) never put more than `max` in a window, however the latencies vary.
    #[test]
    fn arrivals_hold_the_limit_whatever_the_latency() {
        let rules = rule(10_000, 4);
        let latencies = [900, 0, 0, 0, 0, 700, 30, 0, 0, 1200, 0, 5];
        let mut log = Vec::new();
        let mut arrivals = Vec::new();
        let mut now = 0;
        for latency in latencies {
            loop {
                match decide(&log, now, &rules) {
                    Ok(l) => {
                        let arrived = now + latency;
                        log = settled(&l, now, arrived);
                        arrivals.push(arrived);
                        now = arrived;
                        break;
                    }
                    Err(at) => now = at,
                }
            }
        }
        for (i, t) in arrivals.iter().enumerate() {
            let in_window = arrivals[i..].iter().take_while(|u| **u < t + 10_000).count();
            assert!(
                in_window <= 4,
                "{in_window} arrivals in the 10 s from {t}: {arrivals:?}"
            );
        }
    }

    #[test]
    fn a_send_in_flight_fills_every_window_until_it_settles_or_lapses() {
        let rules = rule(1_000, 1);
        let log = decide(&[], 0, &rules).unwrap();
        // Still in flight 5 s later: nothing else goes, try again shortly.
        assert_eq!(decide(&log, 5_000, &rules), Err(5_000 + IN_FLIGHT_POLL_MS));
        // Answered at 5 s: the next may start a window after the answer and the guard.
        let done = settled(&log, 0, 5_000);
        assert_eq!(decide(&done, 5_500, &rules), Err(5_000 + ARRIVAL_GUARD_MS + 1_001));
        assert!(decide(&done, 6_200, &rules).is_ok());
        // Never settled (its instance died): counted as answered IN_FLIGHT_MAX_MS after it began.
        assert!(decide(&log, IN_FLIGHT_MAX_MS + 1_002, &rules).is_ok());
    }

    #[test]
    fn the_stored_form_round_trips() {
        let log = vec![Mark::Arrived(12), Mark::InFlight(34)];
        assert_eq!(encode_log(&log), "12,~34");
        assert_eq!(decode_log("12,~34,junk,~"), log);
    }

    #[test]
    fn a_rule_of_zero_never_admits_and_never_panics() {
        let rules = rule(60_000, 0);
        assert_eq!(decide(&[], 1000, &rules), Err(61_000));
        assert!(decide(&[Mark::Arrived(1), Mark::InFlight(2)], 1000, &rules).is_err());
    }

    #[test]
    fn two_rules_both_hold() {
        let rules = [
            RateRule {
                window_ms: 1000,
                max: 5,
            },
            RateRule {
                window_ms: 60_000,
                max: 100,
            },
        ];
        let log: Vec<Mark> = (0..5).map(Mark::Arrived).collect();
        assert_eq!(decide(&log, 10, &rules), Err(1001));
        assert!(decide(&log, 1001, &rules).is_ok());
    }
}
