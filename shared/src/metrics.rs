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
                    "Dimensions": [["component", "outcome"], ["component", "platform", "outcome"], ["component", "outcome", "reason"]],
                    "Metrics": [{"Name": "requests", "Unit": "Count"}]
                }, {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "platform"]],
                    "Metrics": [{"Name": "latency_ms", "Unit": "Milliseconds"}]
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
                    "Metrics": [{"Name": "actions", "Unit": "Count"}]
                }, {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "platform"]],
                    "Metrics": [
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
                    "Dimensions": [["component", "outcome"], ["component", "target", "outcome"]],
                    "Metrics": [{"Name": "notifications", "Unit": "Count"}]
                }, {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "target"]],
                    "Metrics": [
                        {"Name": "throttled", "Unit": "Count"},
                        {"Name": "delayed", "Unit": "Count"}
                    ]
                }, {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component"]],
                    "Metrics": [
                        {"Name": "parts", "Unit": "Count"},
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

/// A long connection's state change (`botgate connect`): `connections` by platform and
/// outcome (`opened`, `lost`, `silent`, `server_closed`, `refused`, `failed`, `shutdown`),
/// `reconnects` (an `opened` after an earlier connection of the same bot) and the
/// `frames` the connection read when it ends.
#[derive(Debug, Clone)]
pub struct ConnectionMetrics<'a> {
    /// `feishu` or `dingtalk`.
    pub platform: &'a str,
    /// What happened.
    pub outcome: &'a str,
    /// Frames read (when it ends).
    pub frames: u64,
    /// An `opened` that replaces an earlier connection.
    pub reconnect: bool,
    /// Unix ms.
    pub timestamp_ms: i64,
}

impl Metric for ConnectionMetrics<'_> {
    fn emf(&self) -> Value {
        json!({
            "_aws": {
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "platform", "outcome"]],
                    "Metrics": [{"Name": "connections", "Unit": "Count"}]
                }, {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "platform"]],
                    "Metrics": [{"Name": "reconnects", "Unit": "Count"}, {"Name": "frames", "Unit": "Count"}]
                }]
            },
            "component": "connector",
            "platform": self.platform,
            "outcome": self.outcome,
            "connections": 1,
            "reconnects": u8::from(self.reconnect),
            "frames": self.frames,
        })
    }
}

/// One event pushed over a long connection: `events` by platform and outcome (`accepted`,
/// `duplicate`, `rejected`, `failed`) and `ack_latency_ms` (from the frame's arrival to
/// its acknowledgement, the enqueue included).
#[derive(Debug, Clone)]
pub struct PushedEventMetrics<'a> {
    /// `feishu` or `dingtalk`.
    pub platform: &'a str,
    /// What happened.
    pub outcome: &'a str,
    /// Why it failed, or `none`.
    pub reason: &'a str,
    /// Arrival to acknowledgement, ms.
    pub ack_latency_ms: f64,
    /// Unix ms.
    pub timestamp_ms: i64,
}

impl Metric for PushedEventMetrics<'_> {
    fn emf(&self) -> Value {
        json!({
            "_aws": {
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "platform", "outcome"]],
                    "Metrics": [{"Name": "events", "Unit": "Count"}]
                }, {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "platform"]],
                    "Metrics": [{"Name": "ack_latency_ms", "Unit": "Milliseconds"}]
                }]
            },
            "component": "connector",
            "platform": self.platform,
            "outcome": self.outcome,
            "reason": self.reason,
            "events": 1,
            "ack_latency_ms": self.ack_latency_ms,
        })
    }
}

/// A circuit breaker's change of state: `breaker_transitions` by the state it entered
/// (`open`, `half_open`, `closed`). Not by host: forward receivers' hosts are many, and
/// each would be a billed metric; the log line names the host.
#[derive(Debug, Clone)]
pub struct BreakerMetrics<'a> {
    /// The state entered.
    pub state: &'a str,
    /// Unix ms.
    pub timestamp_ms: i64,
}

impl Metric for BreakerMetrics<'_> {
    fn emf(&self) -> Value {
        json!({
            "_aws": {
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["state"]],
                    "Metrics": [{"Name": "breaker_transitions", "Unit": "Count"}]
                }]
            },
            "state": self.state,
            "breaker_transitions": 1,
        })
    }
}

/// A count by component and outcome: `scheduled_runs` (the scheduler's tick: `sent`,
/// `already_sent`, `in_progress`, `retry`, `failed`) and `config_reloads` (`reloaded`,
/// `refused`, `unreadable`).
#[derive(Debug, Clone)]
pub struct Count<'a> {
    /// The metric's name.
    pub name: &'static str,
    /// `callback`, `dispatcher`, `scheduler` or `serve`.
    pub component: &'a str,
    /// What happened.
    pub outcome: &'a str,
    /// Unix ms.
    pub timestamp_ms: i64,
}

impl Metric for Count<'_> {
    fn emf(&self) -> Value {
        let mut line = json!({
            "_aws": {
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["component", "outcome"]],
                    "Metrics": [{"Name": self.name, "Unit": "Count"}]
                }]
            },
            "component": self.component,
            "outcome": self.outcome,
        });
        line[self.name] = json!(1);
        line
    }
}

/// Where metrics go.
pub trait MetricsSink: Send + Sync {
    /// Records one metric line.
    fn emit(&self, m: &dyn Metric);
}

/// EMF lines on standard output (Lambda's log stream), in the namespace
/// `BOTGATE_METRICS_NAMESPACE` (default `botgate`; a stack parameter, so dev and prod in one
/// account do not merge) and at the function's log level `AWS_LAMBDA_LOG_LEVEL`: Lambda's
/// JSON logging gives a line without a `level` the level INFO and drops it when the level
/// is WARN or ERROR, and with it the metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl MetricsSink for Stdout {
    fn emit(&self, m: &dyn Metric) {
        static ENV: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
        let (namespace, level) = ENV.get_or_init(|| {
            let var = |k: &str, default: &str| {
                std::env::var(k)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .unwrap_or_else(|| default.to_owned())
            };
            (
                var("BOTGATE_METRICS_NAMESPACE", NAMESPACE),
                var("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            )
        });
        println!("{}", line(m, namespace, level));
    }
}

/// The EMF line of `m` in `namespace`, carrying the log `level`.
pub fn line(m: &dyn Metric, namespace: &str, level: &str) -> Value {
    let mut v = m.emf();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("level".into(), Value::String(level.to_ascii_uppercase()));
    }
    if let Some(metrics) = v.pointer_mut("/_aws/CloudWatchMetrics").and_then(Value::as_array_mut) {
        for d in metrics {
            d["Namespace"] = Value::String(namespace.to_owned());
        }
    }
    v
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

    #[test]
    fn a_line_carries_the_namespace_and_the_log_level() {
        let m = Count {
            name: "scheduled_runs",
            component: "scheduler",
            outcome: "sent",
            timestamp_ms: 1,
        };
        let v = line(&m, "botgate-prod", "warn");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "botgate-prod");
        assert_eq!(v["scheduled_runs"], 1);
    }
}
