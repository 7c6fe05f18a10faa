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

/// Where request metrics go.
pub trait MetricsSink: Send + Sync {
    /// Records one request.
    fn emit(&self, m: &RequestMetrics<'_>);
}

/// EMF lines on standard output (Lambda's log stream).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl MetricsSink for Stdout {
    fn emit(&self, m: &RequestMetrics<'_>) {
        println!("{}", m.emf());
    }
}

/// Discards metrics (local runs that do not want them, benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl MetricsSink for Discard {
    fn emit(&self, _: &RequestMetrics<'_>) {}
}

/// Keeps the EMF lines in memory (tests).
#[derive(Debug, Default)]
pub struct Recorded(pub std::sync::Mutex<Vec<Value>>);

impl MetricsSink for Recorded {
    fn emit(&self, m: &RequestMetrics<'_>) {
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
