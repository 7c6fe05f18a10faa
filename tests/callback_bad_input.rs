//! Bad input on every platform through the whole callback flow: the right 4xx, nothing
//! queued, nothing claimed, no panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use botgate::Platform;
use botgate::clock::FixedClock;
use botgate::inbound::{OwnedRequest, SampleKind};
use botgate::queue::memory::MemoryQueue;
use botgate::store::memory::MemoryStore;
use botgate_tests::{deps, example_config};

const NOW: i64 = 1_795_440_463;

const BOTS: [(Platform, &str); 4] = [
    (Platform::Feishu, "feishu-demo"),
    (Platform::Wechat, "wechat-demo"),
    (Platform::Wecom, "wecom-demo"),
    (Platform::Dingtalk, "dingtalk-demo"),
];

struct Case {
    name: &'static str,
    path: String,
    req: OwnedRequest,
    status: &'static [u16],
}

async fn cases() -> Vec<Case> {
    let config = example_config().await;
    let mut out = Vec::new();
    for (platform, bot) in BOTS {
        let creds = config.bots[bot].credentials.clone();
        let good = creds.sample_request(SampleKind::Message, "hi", NOW).unwrap();
        let path = format!("/{platform}/{bot}");
        // wrong signature: flip one character of every signature we can find
        let mut bad = good.clone();
        for k in ["x-lark-signature", "sign"] {
            if let Some(v) = bad.headers.get_mut(k) {
                *v = v.chars().rev().collect();
            }
        }
        bad.query = bad.query.replace("signature=", "signature=0");
        out.push(Case {
            name: "wrong signature",
            path: path.clone(),
            req: bad,
            status: &[401],
        });
        let stale = creds.sample_request(SampleKind::Message, "hi", NOW - 7200).unwrap();
        out.push(Case {
            name: "stale timestamp",
            path: path.clone(),
            req: stale,
            status: &[401],
        });
        let mut garbage = good.clone();
        garbage.body = "\u{0}\u{1}garbage<<<{{{".into();
        out.push(Case {
            name: "garbage body",
            path: path.clone(),
            req: garbage,
            status: &[400, 401],
        });
        let mut huge = good.clone();
        huge.body = "x".repeat(300 * 1024);
        out.push(Case {
            name: "oversized body",
            path: path.clone(),
            req: huge,
            status: &[413],
        });
        out.push(Case {
            name: "unknown bot",
            path: format!("/{platform}/no-such-bot"),
            req: good.clone(),
            status: &[404],
        });
        out.push(Case {
            name: "bot on the wrong platform",
            path: format!(
                "/{}/{bot}",
                if platform == Platform::Feishu {
                    "wecom"
                } else {
                    "feishu"
                }
            ),
            req: good.clone(),
            status: &[404],
        });
        let mut put = good.clone();
        put.method = "PUT".into();
        out.push(Case {
            name: "wrong method",
            path: path.clone(),
            req: put,
            status: &[405],
        });
    }
    out
}

#[tokio::test]
async fn bad_input_on_every_platform() {
    let clock = Arc::new(FixedClock::at_ms(NOW * 1000));
    let queue = Arc::new(MemoryQueue::new(clock.clone(), 262_144));
    let store = Arc::new(MemoryStore::new());
    let (d, metrics) = deps(example_config().await, store.clone(), queue.clone(), clock);
    let all = cases().await;
    assert_eq!(all.len(), 28);
    for c in &all {
        let r = botgate::callback::handle(&d, &c.path, &c.req.as_request(), "t").await;
        assert!(
            c.status.contains(&r.status),
            "{} on {}: got {} {}",
            c.name,
            c.path,
            r.status,
            r.body
        );
        assert!(r.body.len() < 40, "short body, no detail: {}", r.body);
    }
    assert!(queue.is_empty(), "nothing may be queued");
    let lines = metrics.0.lock().unwrap();
    assert!(lines.iter().all(|l| l["outcome"] == "rejected"));
}
