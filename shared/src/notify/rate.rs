//! Per-target rate limits, shared by every instance: a sliding log of the last sends per
//! target (never more than `max` in any `window`, whatever the window's alignment, unlike
//! fixed counters that let twice the limit through across a boundary). In memory, or one
//! DynamoDB item per target updated with optimistic concurrency (a version attribute).

#[cfg(feature = "aws")]
pub mod dynamodb;

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// At most `max` sends in any `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRule {
    /// The window, ms.
    pub window_ms: i64,
    /// Sends allowed in it.
    pub max: u32,
}

/// The answer of [`RateLimiter::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Go ahead (the send is counted).
    Yes,
    /// Not before this time, Unix ms (nothing counted).
    RetryAt(i64),
}

/// Given the log of past sends, either the new log with `now_ms` added, or when to retry.
pub fn decide(log: &[i64], now_ms: i64, rules: &[RateRule]) -> Result<Vec<i64>, i64> {
    let longest = rules.iter().map(|r| r.window_ms).max().unwrap_or(0);
    let mut kept: Vec<i64> = log.iter().copied().filter(|t| *t > now_ms - longest).collect();
    kept.sort_unstable();
    let mut retry_at = None;
    for r in rules {
        if r.max == 0 {
            // Nothing is ever allowed (the configuration refuses such a rule; never panic on one).
            let at = now_ms.saturating_add(r.window_ms.max(1));
            retry_at = Some(retry_at.map_or(at, |a: i64| a.max(at)));
            continue;
        }
        let in_window: Vec<i64> = kept.iter().copied().filter(|t| *t > now_ms - r.window_ms).collect();
        let max = usize::try_from(r.max).unwrap_or(usize::MAX);
        if in_window.len() >= max {
            // The send that must leave the window before there is room again.
            let leaving = in_window[in_window.len() - max];
            let at = leaving + r.window_ms + 1;
            retry_at = Some(retry_at.map_or(at, |a: i64| a.max(at)));
        }
    }
    match retry_at {
        Some(at) => Err(at),
        None => {
            kept.push(now_ms);
            Ok(kept)
        }
    }
}

/// Shared rate limits.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one send for `key` at `now_ms` if every rule allows it.
    async fn acquire(&self, key: &str, now_ms: i64, rules: &[RateRule]) -> Result<Acquired, StoreError>;
}

/// Rate limits in process memory.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    logs: Mutex<HashMap<String, Vec<i64>>>,
}

impl MemoryLimiter {
    /// No sends yet.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryLimiter {
    async fn acquire(&self, key: &str, now_ms: i64, rules: &[RateRule]) -> Result<Acquired, StoreError> {
        let mut logs = self
            .logs
            .lock()
            .map_err(|_| StoreError::Unavailable("memory limiter lock poisoned".into()))?;
        let log = logs.entry(key.to_owned()).or_default();
        Ok(match decide(log, now_ms, rules) {
            Ok(new) => {
                *log = new;
                Acquired::Yes
            }
            Err(at) => Acquired::RetryAt(at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_never_lets_more_than_max_through() {
        let rules = [RateRule {
            window_ms: 60_000,
            max: 20,
        }];
        let mut log = Vec::new();
        let mut sent = Vec::new();
        let mut now = 0;
        while sent.len() < 100 {
            match decide(&log, now, &rules) {
                Ok(l) => {
                    log = l;
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

    #[test]
    fn a_rule_of_zero_never_admits_and_never_panics() {
        let rules = [RateRule {
            window_ms: 60_000,
            max: 0,
        }];
        assert_eq!(decide(&[], 1000, &rules), Err(61_000));
        assert!(decide(&[1, 2, 3], 1000, &rules).is_err());
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
        let log: Vec<i64> = (0..5).collect();
        assert_eq!(decide(&log, 10, &rules), Err(1001));
        assert!(decide(&log, 1001, &rules).is_ok());
    }
}
