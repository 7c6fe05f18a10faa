//! The dashboard and alarms in `template.yaml` watch metrics botgate emits: every metric
//! they read from the stack's namespace is one of the EMF lines' metrics, with exactly one
//! of that line's dimension sets (CloudWatch matches a metric only on its full set of
//! dimensions, so a wrong set is a widget that stays empty and an alarm that never fires).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use botgate::metrics::{ActionMetrics, BatchMetrics, BreakerMetrics, Count, Metric, NotifyMetrics, RequestMetrics};
use serde_json::Value;

/// Metric name -> its dimension sets, from the EMF lines themselves.
fn emitted() -> BTreeMap<String, BTreeSet<Vec<String>>> {
    let lines: Vec<Value> = vec![
        RequestMetrics {
            component: "callback",
            platform: "feishu",
            outcome: "accepted",
            reason: "none",
            latency_ms: 1.0,
            timestamp_ms: 0,
        }
        .emf(),
        ActionMetrics {
            platform: "feishu",
            action: "reply",
            outcome: "sent",
            latency_ms: 1.0,
            attempts: 1,
            timestamp_ms: 0,
        }
        .emf(),
        NotifyMetrics {
            component: "dispatcher",
            target: "ops",
            platform: "wecom",
            outcome: "sent",
            parts: 1,
            throttled: 0,
            rate_wait_ms: 0,
            latency_ms: 1.0,
            timestamp_ms: 0,
        }
        .emf(),
        BatchMetrics {
            records: 1,
            failed: 0,
            token_refreshes: 0,
            latency_ms: 1.0,
            timestamp_ms: 0,
        }
        .emf(),
        Count {
            name: "scheduled_runs",
            component: "scheduler",
            outcome: "sent",
            timestamp_ms: 0,
        }
        .emf(),
        BreakerMetrics {
            state: "open",
            timestamp_ms: 0,
        }
        .emf(),
        Count {
            name: "config_reloads",
            component: "callback",
            outcome: "reloaded",
            timestamp_ms: 0,
        }
        .emf(),
    ];
    let mut out: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
    for line in &lines {
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for m in directive["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap().to_owned();
                assert!(line.get(&name).is_some(), "{name} has no value in its line");
                for dims in directive["Dimensions"].as_array().unwrap() {
                    let mut d: Vec<String> = dims
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_str().unwrap().to_owned())
                        .collect();
                    d.sort();
                    out.entry(name.clone()).or_default().insert(d);
                }
            }
        }
    }
    out
}

fn template() -> String {
    std::fs::read_to_string(botgate_tests::root().join("template.yaml")).unwrap()
}

#[test]
fn the_dashboard_reads_emitted_metrics() {
    let emitted = emitted();
    let t = template();
    let body = t
        .lines()
        .find_map(|l| l.trim().strip_prefix("DashboardBody: !Sub '"))
        .and_then(|b| b.strip_suffix('\''))
        .expect("a DashboardBody");
    let body = body.replace("''", "'");
    let body = regex::Regex::new(r"\$\{[^}]+\}").unwrap().replace_all(&body, "X");
    let dashboard: Value = serde_json::from_str(&body).expect("the dashboard body is JSON");
    let search = regex::Regex::new(r#"SEARCH\('\{"X",([a-z_,]+)\} MetricName="([a-z_]+)""#).unwrap();
    let mut checked = 0;
    for w in dashboard["widgets"].as_array().unwrap() {
        for m in w["properties"]["metrics"].as_array().unwrap() {
            let Some(expr) = m[0]["expression"].as_str() else {
                continue;
            };
            let c = search
                .captures(expr)
                .unwrap_or_else(|| panic!("unexpected expression {expr}"));
            let mut dims: Vec<String> = c[1].split(',').map(str::to_owned).collect();
            dims.sort();
            let sets = emitted.get(&c[2]).unwrap_or_else(|| panic!("{} is not emitted", &c[2]));
            assert!(
                sets.contains(&dims),
                "{} has no dimension set {dims:?} ({sets:?})",
                &c[2]
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "{checked}");
}

#[test]
fn the_alarms_read_emitted_metrics() {
    let emitted = emitted();
    let t = template();
    let metric = regex::Regex::new(
        r"Namespace: !Ref MetricsNamespace\n\s+MetricName: ([a-z_]+)\n\s+Dimensions:\n((?:\s+- Name: [a-z_]+\n\s+Value: [a-z_]+\n)+)",
    )
    .unwrap();
    let name = regex::Regex::new(r"- Name: ([a-z_]+)").unwrap();
    let mut checked = 0;
    for c in metric.captures_iter(&t) {
        let mut dims: Vec<String> = name.captures_iter(&c[2]).map(|d| d[1].to_owned()).collect();
        dims.sort();
        let sets = emitted.get(&c[1]).unwrap_or_else(|| panic!("{} is not emitted", &c[1]));
        assert!(sets.contains(&dims), "{} has no dimension set {dims:?}", &c[1]);
        checked += 1;
    }
    assert!(checked >= 8, "{checked} metrics of the stack's namespace in alarms");
}
