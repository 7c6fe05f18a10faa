//! CloudWatch Embedded Metric Format: one JSON line per request on standard output, which
//! Lambda ships to CloudWatch Logs and CloudWatch turns into metrics without any API call.

use serde_json::{Value, json};

/// The metrics namespace.
pub const NAMESPACE: &str = "botgate";

/// One request's metrics: a count by platform and outcome (and reason) plus latency.
#[derive(Debug, Clone)]
pub struct RequestMetrics<'a> {
    /// The function or component (`callback`).
    pub component: &'a str,
    /// `feishu`, `dingtalk`, `wechat`, `wecom` or `unknown`.
    pub platform: &'a str,
    /// `accepted`, `verification`, `duplicate`, `rejected` or `failed`.
    pub outcome: &'a str,
    /// The rejection or failure reason, or `none`.
    pub reason: &'a str,
    /// Time spent, in milliseconds.
    pub latency_ms: f64,
    /// Unix ms.
    pub timestamp_ms: i64,
}

impl RequestMetrics<'_> {
    /// The EMF JSON line.
    pub fn emf(&self) -> Value {
        json!({
            "_aws": {
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "platform", "outcome"], ["component", "outcome", "reason"]],
                    "Metrics": [
                        {"Name": "requests", "Unit": "Count"},
                        {"Name": "latency_ms", "Unit": "Milliseconds"}
                    ]
                }]
            },
            "component": self.component,
            "platform": self.platform,
            "outcome": self.outcome,
            "reason": self.reason,
            "requests": 1,
            "latency_ms": self.latency_ms,
        })
    }
}

/// One EMF line's worth of metrics.
pub trait Metric {
    /// The EMF JSON line.
    fn emf(&self) -> Value;
}

impl Metric for RequestMetrics<'_> {
    fn emf(&self) -> Value {
        RequestMetrics::emf(self)
    }
}

/// One action of the dispatcher: a count by platform, action and outcome, plus latency
/// and HTTP attempts.
#[derive(Debug, Clone)]
pub struct ActionMetrics<'a> {
    /// The platform of the sending bot (`none` for forwards and ignores).
    pub platform: &'a str,
    /// `reply`, `notify`, `forward` or `ignore`.
    pub action: &'a str,
    /// `sent`, `already_sent`, `skipped`, `permanent`, `ambiguous`, `retry`.
    pub outcome: &'a str,
    /// Time spent, in milliseconds.
    pub latency_ms: f64,
    /// HTTP attempts.
    pub attempts: u32,
    /// Unix ms.
    pub timestamp_ms: i64,
}

impl Metric for ActionMetrics<'_> {
    fn emf(&self) -> Value {
        json!({
            "_aws": {
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "platform", "action", "outcome"], ["component", "outcome"]],
                    "Metrics": [
                        {"Name": "actions", "Unit": "Count"},
                        {"Name": "send_latency_ms", "Unit": "Milliseconds"},
                        {"Name": "send_attempts", "Unit": "Count"}
                    ]
                }]
            },
            "component": "dispatcher",
            "platform": self.platform,
            "action": self.action,
            "outcome": self.outcome,
            "actions": 1,
            "send_latency_ms": self.latency_ms,
            "send_attempts": self.attempts,
        })
    }
}

/// One notification to one target (from the notify API, Alertmanager or a schedule): a
/// count by target and outcome, with the rate limit's holds and put-backs.
#[derive(Debug, Clone)]
pub struct NotifyMetrics<'a> {
    /// `dispatcher` (notify API, Alertmanager) or `scheduler`.
    pub component: &'a str,
    /// The target's name.
    pub target: &'a str,
    /// The target's platform.
    pub platform: &'a str,
    /// `sent`, `already_sent`, `delayed` (put back until the rate limit allows it),
    /// `retry`, `permanent`, `ambiguous` or `token_invalid`.
    pub outcome: &'a str,
    /// Message parts sent (a long text is split).
    pub parts: usize,
    /// Times a part found the target at its rate limit.
    pub throttled: u32,
    /// Time spent waiting for the rate limit, in milliseconds.
    pub rate_wait_ms: i64,
    /// Time spent, in milliseconds.
    pub latency_ms: f64,
    /// Unix ms.
    pub timestamp_ms: i64,
}

impl Metric for NotifyMetrics<'_> {
    fn emf(&self) -> Value {
        json!({
            "_aws": {
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "target", "outcome"], ["component", "platform", "outcome"], ["component", "target"]],
                    "Metrics": [
                        {"Name": "notifications", "Unit": "Count"},
                        {"Name": "parts", "Unit": "Count"},
                        {"Name": "throttled", "Unit": "Count"},
                        {"Name": "delayed", "Unit": "Count"},
                        {"Name": "rate_wait_ms", "Unit": "Milliseconds"},
                        {"Name": "notify_latency_ms", "Unit": "Milliseconds"}
                    ]
                }]
            },
            "component": self.component,
            "target": self.target,
            "platform": self.platform,
            "outcome": self.outcome,
            "notifications": 1,
            "parts": self.parts,
            "throttled": self.throttled,
            "delayed": u8::from(self.outcome == "delayed"),
            "rate_wait_ms": self.rate_wait_ms,
            "notify_latency_ms": self.latency_ms,
        })
    }
}

/// One SQS batch: records, failures, token refreshes, duration.
#[derive(Debug, Clone)]
pub struct BatchMetrics {
    /// Records in the batch.
    pub records: usize,
    /// Records reported as failed.
    pub failed: usize,
    /// Tokens fetched from a platform during the batch.
    pub token_refreshes: u64,
    /// Time spent, in milliseconds.
    pub latency_ms: f64,
    /// Unix ms.
    pub timestamp_ms: i64,
}

impl Metric for BatchMetrics {
    fn emf(&self) -> Value {
        json!({
            "_aws": {
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component"]],
                    "Metrics": [
                        {"Name": "records", "Unit": "Count"},
                        {"Name": "failed_records", "Unit": "Count"},
                        {"Name": "token_refreshes", "Unit": "Count"},
                        {"Name": "batch_latency_ms", "Unit": "Milliseconds"}
                    ]
                }]
            },
            "component": "dispatcher",
            "records": self.records,
            "failed_records": self.failed,
            "token_refreshes": self.token_refreshes,
            "batch_latency_ms": self.latency_ms,
        })
    }
}

/// One scheduled run found by the scheduler's tick: a count by outcome.
#[derive(Debug, Clone)]
pub struct RunMetrics<'a> {
    /// `sent`, `already_sent`, `in_progress`, `retry` or `failed`.
    pub outcome: &'a str,
    /// Unix ms.
    pub timestamp_ms: i64,
}

impl Metric for RunMetrics<'_> {
    fn emf(&self) -> Value {
        json!({
            "_aws": {
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "outcome"]],
                    "Metrics": [{"Name": "scheduled_runs", "Unit": "Count"}]
                }]
            },
            "component": "scheduler",
            "outcome": self.outcome,
            "scheduled_runs": 1,
        })
    }
}

/// Where metrics go.
pub trait MetricsSink: Send + Sync {
    /// Records one metric line.
    fn emit(&self, m: &dyn Metric);
}

/// EMF lines on standard output (Lambda's log stream).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl MetricsSink for Stdout {
    fn emit(&self, m: &dyn Metric) {
        println!("{}", m.emf());
    }
}

/// Discards metrics (local runs that do not want them, benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl MetricsSink for Discard {
    fn emit(&self, _: &dyn Metric) {}
}

/// Keeps the EMF lines in memory (tests).
#[derive(Debug, Default)]
pub struct Recorded(pub std::sync::Mutex<Vec<Value>>);

impl MetricsSink for Recorded {
    fn emit(&self, m: &dyn Metric) {
        if let Ok(mut v) = self.0.lock() {
            v.push(m.emf());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_shape() {
        let m = RequestMetrics {
            component: "callback",
            platform: "feishu",
            outcome: "rejected",
            reason: "bad_signature",
            latency_ms: 0.5,
            timestamp_ms: 1,
        }
        .emf();
        assert_eq!(m["_aws"]["CloudWatchMetrics"][0]["Namespace"], "botgate");
        assert_eq!(m["requests"], 1);
        assert_eq!(m["reason"], "bad_signature");
    }
}
