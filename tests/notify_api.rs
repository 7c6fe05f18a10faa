//! The notify API and the Alertmanager receiver: authentication (bearer, HMAC with a
//! timestamp), bad payloads refused with nothing queued, accepted requests delivered by the
//! dispatcher, and the rendered Alertmanager messages per platform as snapshots
//! (`UPDATE_SNAPSHOTS=1` rewrites them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use botgate::Settings;
use botgate::callback::{self, Deps};
use botgate::clock::{Clock, SystemClock};
use botgate::deps::DispatchStores;
use botgate::dispatcher::Record;
use botgate::handler::Registry;
use botgate::inbound::Request;
use botgate::notify::api::{ApiSettings, parse_alertmanager};
use botgate::platform::{dingtalk, feishu, wecom};
use botgate::queue::memory::MemoryQueue;
use botgate::store::memory::MemoryStore;
use botgate_tests::fake::{FakePlatform, WECOM_KEY};
use botgate_tests::{dispatcher, fake_config, root};
use serde_json::{Value, json};

const BEARER: &str = "notify-bearer-for-tests";
const HMAC: &str = "notify-hmac-for-tests";

fn settings() -> ApiSettings {
    botgate::deps::notify_api(
        &json!({"bearer_token": BEARER, "hmac_secret": HMAC, "utc_offset": "+08:00", "allow_templates": true}),
    )
    .unwrap()
}

async fn config(fake: &FakePlatform) -> Settings {
    let mut c = fake_config(fake).await;
    let t = json!({"type": "wecom_webhook", "url": format!("{}/cgi-bin/webhook/send?key={WECOM_KEY}", fake.url)});
    c.targets
        .insert("ops".into(), botgate::deps::target(&t, &c.bots).unwrap());
    c.notify_api = Some(settings());
    c
}

fn gateway(config: Settings) -> (Deps, Arc<MemoryQueue>) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let queue = Arc::new(MemoryQueue::new(clock.clone(), config.max_message_bytes));
    let deps = Deps {
        config: Arc::new(config),
        store: Arc::new(MemoryStore::new()),
        queue: queue.clone(),
        clock,
        metrics: Arc::new(botgate::metrics::Discard),
    };
    (deps, queue)
}

/// The queued messages as the dispatcher receives them (message ids m0, m1, ...).
fn records_of(queued: &[botgate::queue::OutgoingMessage]) -> Vec<Record> {
    queued
        .iter()
        .enumerate()
        .map(|(i, m)| Record {
            message_id: format!("m{i}"),
            body: m.body.clone(),
            group_id: Some(m.group_id.clone()),
            receive_count: 1,
        })
        .collect()
}

async fn post(deps: &Deps, path: &str, headers: Vec<(&str, &str)>, body: &str) -> (u16, String) {
    let req = Request {
        method: "POST",
        query: "",
        headers,
        body: body.as_bytes(),
    };
    let r = callback::handle(deps, path, &req, "t").await;
    (r.status, r.body)
}

#[tokio::test]
async fn accepted_requests_are_queued_and_delivered() {
    let fake = FakePlatform::for_example().await;
    let config = config(&fake).await;
    let (deps, queue) = gateway(config.clone());
    let bearer = format!("Bearer {BEARER}");
    let (status, body) = post(
        &deps,
        "/notify/ops",
        vec![("authorization", &bearer)],
        r#"{"message": {"type": "markdown", "title": "Deploy", "text": "{{ data.service }} is live"}, "data": {"service": "api"}}"#,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let now = SystemClock.now_secs();
    let alert = std::fs::read_to_string(root().join("tests/fixtures/alertmanager/firing.json")).unwrap();
    let sig = botgate::delivery::forward::signature(HMAC, now, &alert);
    let ts = now.to_string();
    let headers = vec![
        ("x-botgate-timestamp", ts.as_str()),
        ("x-botgate-signature", sig.as_str()),
    ];
    assert_eq!(post(&deps, "/alertmanager/ops", headers.clone(), &alert).await.0, 202);
    // Alertmanager retries the same payload: accepted, not queued again.
    assert_eq!(post(&deps, "/alertmanager/ops", headers, &alert).await.0, 202);
    let queued = queue.drain();
    assert_eq!(queued.len(), 2);
    let (d, _) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    let records = records_of(&queued);
    let deadline = SystemClock.now_ms() + 20_000;
    assert!(d.process_batch("t", records.clone(), deadline).await.is_empty());
    // Redelivered: not sent twice.
    assert!(d.process_batch("t", records, deadline).await.is_empty());
    let got = fake.delivered_to("wecom-webhook");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body["markdown"]["content"], "**Deploy**\napi is live");
    assert_eq!(got[1].body["msgtype"], "markdown");
    assert!(
        got[1].body["markdown"]["content"]
            .as_str()
            .unwrap()
            .starts_with("<font color=\"warning\">**[FIRING:1] HighDiskUsage**</font>")
    );
}

/// Path, headers, body, expected status, what is wrong.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, u16, &'a str);

#[tokio::test]
async fn bad_requests_get_the_right_4xx_and_nothing_is_queued() {
    let fake = FakePlatform::for_example().await;
    let (deps, queue) = gateway(config(&fake).await);
    let body = r#"{"text": "hello"}"#;
    let now = SystemClock.now_secs();
    let good_sig = botgate::delivery::forward::signature(HMAC, now, body);
    let ts = now.to_string();
    let stale_ts = (now - 3600).to_string();
    let stale_sig = botgate::delivery::forward::signature(HMAC, now - 3600, body);
    let wrong_bearer = "Bearer nope".to_owned();
    let bearer = format!("Bearer {BEARER}");
    let cases: Vec<Case> = vec![
        ("/notify/ops", vec![], body, 401, "no credentials"),
        (
            "/notify/ops",
            vec![("authorization", &wrong_bearer)],
            body,
            401,
            "wrong bearer",
        ),
        (
            "/notify/ops",
            vec![("x-botgate-timestamp", &ts), ("x-botgate-signature", "v1=00")],
            body,
            401,
            "bad signature",
        ),
        (
            "/notify/ops",
            vec![("x-botgate-timestamp", &ts), ("x-botgate-signature", &good_sig)],
            r#"{"text": "tampered"}"#,
            401,
            "signature over another body",
        ),
        (
            "/notify/ops",
            vec![("x-botgate-timestamp", &stale_ts), ("x-botgate-signature", &stale_sig)],
            body,
            401,
            "stale timestamp",
        ),
        (
            "/notify/ops",
            vec![("authorization", &bearer)],
            "{not json",
            400,
            "bad JSON",
        ),
        (
            "/notify/ops",
            vec![("authorization", &bearer)],
            r#"{"nothing": 1}"#,
            400,
            "no message",
        ),
        (
            "/alertmanager/ops",
            vec![("authorization", &bearer)],
            r#"{"version": "3", "status": "firing", "alerts": []}"#,
            400,
            "old version",
        ),
        (
            "/notify/nope",
            vec![("authorization", &bearer)],
            body,
            404,
            "unknown target",
        ),
    ];
    for (path, headers, body, want, why) in cases {
        let (status, text) = post(&deps, path, headers, body).await;
        assert_eq!(status, want, "{why}: {text}");
        assert!(!text.contains(BEARER) && !text.contains(HMAC));
    }
    assert!(queue.is_empty(), "nothing queued");
}

#[test]
fn alertmanager_messages_per_platform_match_the_snapshots() {
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok();
    let s = settings();
    for fixture in ["firing", "resolved", "group-of-twenty"] {
        let body = std::fs::read(root().join(format!("tests/fixtures/alertmanager/{fixture}.json"))).unwrap();
        let msg = parse_alertmanager(&body, &s).unwrap();
        for (platform, rendered) in [
            ("feishu", feishu::render(&msg)),
            ("dingtalk", dingtalk::render(&msg)),
            ("wecom", wecom::render_bot(&msg)),
        ] {
            let path = root().join(format!("tests/snapshots/alertmanager-{fixture}-{platform}.json"));
            let text = serde_json::to_string_pretty(&rendered).unwrap() + "\n";
            if update {
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_SNAPSHOTS=1", path.display()));
            assert_eq!(text, want, "{fixture} on {platform} differs from {}", path.display());
        }
    }
    // The facts the snapshots should show, checked independently of them.
    let firing = parse_alertmanager(
        &std::fs::read(root().join("tests/fixtures/alertmanager/firing.json")).unwrap(),
        &s,
    )
    .unwrap();
    let Value::Object(card) = feishu::render(&firing) else {
        panic!()
    };
    assert_eq!(card["card"]["header"]["template"], "red");
    let text = card["card"]["elements"][0]["content"].as_str().unwrap();
    assert!(
        text.contains("2026-11-23 09:02:03 +08:00"),
        "times in the configured offset: {text}"
    );
    assert!(
        text.contains("<at user_id=\"all\"></at>"),
        "critical mentions everyone: {text}"
    );
    let resolved = parse_alertmanager(
        &std::fs::read(root().join("tests/fixtures/alertmanager/resolved.json")).unwrap(),
        &s,
    )
    .unwrap();
    assert_eq!(feishu::render(&resolved)["card"]["header"]["template"], "green");
}

#[tokio::test]
async fn over_the_rate_limit_a_notification_is_put_back_until_the_limit_allows_and_counted() {
    let fake = FakePlatform::for_example().await;
    let mut config = config(&fake).await;
    let t = json!({"type": "wecom_webhook", "url": format!("{}/cgi-bin/webhook/send?key={WECOM_KEY}", fake.url),
                   "rate_limit": [{"per_secs": 60, "max": 2}]});
    config
        .targets
        .insert("ops".into(), botgate::deps::target(&t, &config.bots).unwrap());
    let (deps, queue) = gateway(config.clone());
    let bearer = format!("Bearer {BEARER}");
    for i in 0..3 {
        let body = format!(r#"{{"text": "deploy {i} done"}}"#);
        let (status, _) = post(&deps, "/notify/ops", vec![("authorization", &bearer)], &body).await;
        assert_eq!(status, 202);
    }
    let records = records_of(&queue.drain());
    let now = 1_795_440_463_000;
    let clock = Arc::new(botgate::clock::FixedClock::at_ms(now));
    let (d, metrics) = dispatcher(config, DispatchStores::in_memory(), clock.clone(), Registry::default());
    // Two fit the limit; the third would wait past the deadline: put back until the
    // window frees (a minute after the first send), not dropped and not sent early.
    let failed = d.process_batch_detailed("t", records.clone(), now + 10_000).await;
    assert_eq!(fake.delivered_to("wecom-webhook").len(), 2);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].message_id, "m2");
    let at = failed[0].retry_at_ms.expect("the time the limit allows it");
    assert!((now + 59_000..=now + 60_001).contains(&at), "retry at {}", at - now);
    clock.advance_ms(at - now);
    assert!(d.process_batch_detailed("t", records, at + 10_000).await.is_empty());
    let got = fake.delivered_to("wecom-webhook");
    assert_eq!(got.len(), 3, "each once");
    assert_eq!(got[2].body["text"]["content"], "deploy 2 done");
    // Metrics by target and outcome, with the limit's holds and put-backs.
    let lines: Vec<Value> = metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.get("notifications").is_some())
        .cloned()
        .collect();
    let outcomes: Vec<(&str, &str, u64, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["target"].as_str().unwrap(),
                l["outcome"].as_str().unwrap(),
                l["throttled"].as_u64().unwrap(),
                l["delayed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("ops", "sent", 0, 0),
            ("ops", "sent", 0, 0),
            ("ops", "delayed", 1, 1),
            ("ops", "already_sent", 0, 0),
            ("ops", "already_sent", 0, 0),
            ("ops", "sent", 0, 0),
        ]
    );
    assert_eq!(lines[0]["platform"], "wecom");
    assert_eq!(
        lines[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
        json!(["component", "target", "outcome"])
    );
}
