//! Circuit breakers, one per API host (and per group-bot webhook or forward host), in each
//! instance. When a platform's API is down, sending to it again and again only burns the
//! invocation's time, the account's concurrency and each record's receive count; a breaker
//! stops that.
//!
//! - **Closed**: every call goes through; each answer is counted in a rolling window
//!   (`window_secs`, default 30). Failures of the kind a retry is for count against the
//!   host: connect errors, timeouts, 5xx, and the platforms' "system busy" codes (`-1`,
//!   Feishu's internal errors). Answers are healthy, permanent errors included (4xx, a bad
//!   secret, a quota: the host is up and saying no), and rate limits are neither (429,
//!   "too fast": a bot's limit, not the host's health). When the window holds at least
//!   `min_calls` (20) and `failure_percent` (50) % of them failed, the breaker **opens**.
//! - **Open** for `open_secs` (30): calls fail at once with [`super::SendError::Held`]
//!   carrying the end of the open period, so the dispatcher holds the record back on the
//!   queue until then (ChangeMessageVisibility, as for a rate limit) instead of spending
//!   attempts on it.
//! - **Half-open** after that: `half_open_probes` (2) calls go through; the first success
//!   closes the breaker, a failure opens it again for another `open_secs`.
//!
//! Every change of state is logged and counted (`breaker_transitions` by state).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use crate::metrics::{BreakerMetrics, Discard, MetricsSink};

/// `delivery.circuit_breaker:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Off: every call goes through.
    pub enabled: bool,
    /// Open when at least this share of the window's calls failed, in percent.
    pub failure_percent: u32,
    /// ... and the window holds at least this many calls.
    pub min_calls: u32,
    /// The rolling window, ms.
    pub window_ms: i64,
    /// How long an open breaker refuses calls, ms.
    pub open_ms: i64,
    /// Calls let through while half-open.
    pub half_open_probes: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_percent: 50,
            min_calls: 20,
            window_ms: 30_000,
            open_ms: 30_000,
            half_open_probes: 2,
        }
    }
}

/// What an answer says about its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The host answered (success, or a refusal that is the caller's fault).
    Up,
    /// The host failed: no connection, no answer, 5xx, "system busy".
    Down,
    /// Says nothing about the host (a rate limit, a request never sent).
    Neither,
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Closed: go ahead.
    Go,
    /// Half-open: go ahead as one of the probes.
    Probe,
    /// Open: do not call before this time (Unix ms).
    Until(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until_ms: i64 },
    HalfOpen { probes_out: u32 },
}

impl State {
    fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen { .. } => "half_open",
        }
    }
}

#[derive(Debug)]
struct Host {
    state: State,
    /// (time, failed) of the calls in the window, while closed.
    calls: VecDeque<(i64, bool)>,
    /// When the breaker first opened in this outage (until it closes again).
    open_since_ms: Option<i64>,
    /// The bots whose fallback was told of this outage.
    told: HashSet<String>,
}

impl Default for Host {
    fn default() -> Self {
        Self {
            state: State::Closed,
            calls: VecDeque::new(),
            open_since_ms: None,
            told: HashSet::new(),
        }
    }
}

/// The breakers of one instance, by host.
pub struct Breakers {
    settings: BreakerSettings,
    hosts: Mutex<HashMap<String, Host>>,
    metrics: Arc<dyn MetricsSink>,
}

impl std::fmt::Debug for Breakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breakers")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Default for Breakers {
    fn default() -> Self {
        Self::new(BreakerSettings::default(), Arc::new(Discard))
    }
}

/// The host (and port, when it has one) of a URL: what a breaker is kept for.
pub fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        },
        Err(_) => String::new(),
    }
}

impl Breakers {
    /// Breakers with these settings, counting their transitions in `metrics`.
    pub fn new(settings: BreakerSettings, metrics: Arc<dyn MetricsSink>) -> Self {
        Self {
            settings,
            hosts: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// Their settings.
    pub fn settings(&self) -> BreakerSettings {
        self.settings
    }

    /// Whether a call to `host` may go ahead now.
    pub fn admit(&self, host: &str, now_ms: i64) -> Admit {
        if !self.settings.enabled || host.is_empty() {
            return Admit::Go;
        }
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let h = hosts.entry(host.to_owned()).or_default();
        match h.state {
            State::Closed => Admit::Go,
            State::Open { until_ms } if now_ms < until_ms => Admit::Until(until_ms),
            State::Open { .. } => {
                self.change(
                    host,
                    h,
                    State::HalfOpen { probes_out: 1 },
                    now_ms,
                    "the open period is over: probing",
                );
                Admit::Probe
            }
            State::HalfOpen { probes_out } if probes_out < self.settings.half_open_probes => {
                h.state = State::HalfOpen {
                    probes_out: probes_out + 1,
                };
                Admit::Probe
            }
            // Every probe is out: wait for one of them to come back.
            State::HalfOpen { .. } => Admit::Until(now_ms.saturating_add(self.settings.open_ms.min(1_000))),
        }
    }

    /// Counts the answer of a call that [`Breakers::admit`] let through.
    pub fn record(&self, host: &str, health: Health, now_ms: i64) {
        if !self.settings.enabled || host.is_empty() || health == Health::Neither {
            return;
        }
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let h = hosts.entry(host.to_owned()).or_default();
        match (h.state, health) {
            (State::HalfOpen { .. }, Health::Up) => {
                h.calls.clear();
                h.open_since_ms = None;
                h.told.clear();
                self.change(host, h, State::Closed, now_ms, "a probe succeeded");
            }
            (State::HalfOpen { .. }, _) => {
                let until_ms = now_ms.saturating_add(self.settings.open_ms);
                self.change(host, h, State::Open { until_ms }, now_ms, "a probe failed");
            }
            (State::Open { .. }, _) => {} // a call admitted before the breaker opened
            (State::Closed, health) => {
                h.calls.push_back((now_ms, health == Health::Down));
                let since = now_ms.saturating_sub(self.settings.window_ms);
                while h.calls.front().is_some_and(|(t, _)| *t < since) {
                    h.calls.pop_front();
                }
                let calls = u32::try_from(h.calls.len()).unwrap_or(u32::MAX);
                let failed = u32::try_from(h.calls.iter().filter(|(_, f)| *f).count()).unwrap_or(u32::MAX);
                if calls >= self.settings.min_calls
                    && u64::from(failed) * 100 >= u64::from(self.settings.failure_percent) * u64::from(calls)
                {
                    let until_ms = now_ms.saturating_add(self.settings.open_ms);
                    h.open_since_ms.get_or_insert(now_ms);
                    let why = format!(
                        "{failed} of the last {calls} calls failed within {} s",
                        self.settings.window_ms / 1000
                    );
                    h.calls.clear();
                    self.change(host, h, State::Open { until_ms }, now_ms, &why);
                }
            }
        }
    }

    /// Since when `host`'s breaker has been open or half-open in the current outage (Unix
    /// ms), if it is.
    pub fn open_since(&self, host: &str) -> Option<i64> {
        let hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        hosts.get(host).and_then(|h| h.open_since_ms)
    }

    /// True the first time it is asked for `bot` during the current outage of `host` (its
    /// fallback is told once per outage, not once per held message).
    pub fn first_fallback(&self, host: &str, bot: &str) -> bool {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        hosts
            .get_mut(host)
            .is_some_and(|h| h.open_since_ms.is_some() && h.told.insert(bot.to_owned()))
    }

    /// The current state's name (`closed`, `open`, `half_open`) of `host`'s breaker.
    pub fn state(&self, host: &str) -> &'static str {
        let hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        hosts.get(host).map_or("closed", |h| h.state.name())
    }

    fn change(&self, host: &str, h: &mut Host, to: State, now_ms: i64, why: &str) {
        let from = h.state.name();
        h.state = to;
        let state = to.name();
        match to {
            State::Open { until_ms } => tracing::warn!(host, from, state, until_ms, why, "circuit breaker"),
            _ => tracing::info!(host, from, state, why, "circuit breaker"),
        }
        self.metrics.emit(&BreakerMetrics {
            state,
            timestamp_ms: now_ms,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers() -> Breakers {
        Breakers::new(
            BreakerSettings {
                min_calls: 4,
                ..BreakerSettings::default()
            },
            Arc::new(Discard),
        )
    }

    #[test]
    fn opens_past_the_threshold_fails_fast_then_probes_and_closes() {
        let b = breakers();
        let h = "open.feishu.cn";
        for t in 0..3 {
            assert_eq!(b.admit(h, t), Admit::Go);
            b.record(h, Health::Down, t);
        }
        assert_eq!(b.state(h), "closed", "3 calls are below min_calls");
        b.record(h, Health::Down, 3);
        assert_eq!(b.state(h), "open");
        assert_eq!(b.admit(h, 10), Admit::Until(30_003));
        assert_eq!(b.open_since(h), Some(3));
        assert!(b.first_fallback(h, "ops"));
        assert!(!b.first_fallback(h, "ops"), "once per outage");
        assert!(b.first_fallback(h, "other-bot"));
        // The open period ends: two probes, the third waits.
        assert_eq!(b.admit(h, 30_003), Admit::Probe);
        assert_eq!(b.admit(h, 30_004), Admit::Probe);
        assert!(matches!(b.admit(h, 30_005), Admit::Until(_)));
        b.record(h, Health::Up, 30_010);
        assert_eq!(b.state(h), "closed");
        assert_eq!(b.open_since(h), None);
        assert!(!b.first_fallback(h, "ops"), "no outage, nothing to tell");
        assert_eq!(b.admit(h, 30_011), Admit::Go);
    }

    #[test]
    fn a_failed_probe_opens_again_and_the_outage_keeps_its_start() {
        let b = breakers();
        let h = "api.dingtalk.com";
        for t in 0..4 {
            b.record(h, Health::Down, t);
        }
        assert_eq!(b.admit(h, 40_000), Admit::Probe);
        b.record(h, Health::Down, 40_001);
        assert_eq!(b.admit(h, 40_002), Admit::Until(70_001));
        assert_eq!(b.open_since(h), Some(3));
    }

    #[test]
    fn healthy_answers_old_failures_and_rate_limits_keep_it_closed() {
        let b = breakers();
        let h = "qyapi.weixin.qq.com";
        for t in 0..100 {
            b.record(h, if t % 3 == 2 { Health::Down } else { Health::Up }, t);
            b.record(h, Health::Neither, t);
        }
        assert_eq!(b.state(h), "closed", "a third failing is below 50 %");
        // Failures spread wider than the window never add up.
        for t in 0..10 {
            b.record("slow.example", Health::Down, t * 40_000);
            b.record("slow.example", Health::Up, t * 40_000 + 1);
        }
        assert_eq!(b.state("slow.example"), "closed");
    }

    #[test]
    fn off_means_every_call_goes() {
        let b = Breakers::new(
            BreakerSettings {
                enabled: false,
                min_calls: 1,
                ..BreakerSettings::default()
            },
            Arc::new(Discard),
        );
        b.record("h", Health::Down, 0);
        assert_eq!(b.admit("h", 1), Admit::Go);
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("https://open.feishu.cn/open-apis/x"), "open.feishu.cn");
        assert_eq!(host_of("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(host_of("nonsense"), "");
    }
}
