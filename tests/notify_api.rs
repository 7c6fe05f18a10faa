//! The notify API and the Alertmanager receiver: authentication (bearer, HMAC with a
//! timestamp), bad payloads refused with nothing queued, accepted requests delivered by the
//! dispatcher, and the rendered Alertmanager messages per platform as snapshots
//! (`UPDATE_SNAPSHOTS=1` rewrites them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use botgate::Settings;
use botgate::callback::Deps;
use botgate::clock::{Clock, SystemClock};
use botgate::deps::DispatchStores;
use botgate::handler::Registry;
use botgate::inbound::Request;
use botgate::notify::alert::{parse_alertmanager, parse_grafana};
use botgate::notify::api::ApiSettings;
use botgate::platform::{dingtalk, feishu, wecom};
use botgate::queue::memory::MemoryQueue;
use botgate_tests::fake::{FakePlatform, WECOM_KEY};
use botgate_tests::{dispatcher, fake_config, post, records_of, root};
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
    gateway_at(config, Arc::new(SystemClock))
}

fn gateway_at(config: Settings, clock: Arc<dyn Clock>) -> (Deps, Arc<MemoryQueue>) {
    botgate_tests::memory_gateway(config, clock)
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
    let first = post(&deps, "/alertmanager/ops", headers.clone(), &alert).await;
    assert_eq!(first.0, 202);
    // Alertmanager retries the same payload: answered as the first time, not queued again.
    assert_eq!(post(&deps, "/alertmanager/ops", headers, &alert).await, first);
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
    let s = settings();
    for fixture in ["firing", "resolved", "group-of-twenty", "mixed", "grafana-firing"] {
        let body = std::fs::read(root().join(format!("tests/fixtures/alertmanager/{fixture}.json"))).unwrap();
        let msg = if fixture.starts_with("grafana") {
            parse_grafana(&body, &s).unwrap()
        } else {
            parse_alertmanager(&body, &s).unwrap()
        };
        for (platform, rendered) in [
            ("feishu", feishu::render(&msg)),
            ("dingtalk", dingtalk::render(&msg)),
            ("wecom", wecom::render_bot(&msg)),
        ] {
            botgate_tests::check_snapshot(&format!("alertmanager-{fixture}-{platform}"), &rendered);
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
    let links = |m: &botgate::message::Message| match m {
        botgate::message::Message::Card { buttons, .. } => buttons
            .iter()
            .map(|b| (b.text.clone(), b.url.clone().unwrap_or_default()))
            .collect::<Vec<_>>(),
        _ => panic!("a card"),
    };
    // A firing group: its graph, a silence with the group's matchers, Alertmanager.
    assert_eq!(
        links(&firing),
        [
            (
                "Source".into(),
                "http://prometheus.example.com/graph?g0.expr=disk0".into()
            ),
            (
                "Silence".into(),
                "http://alertmanager.example.com/#/silences/new?filter=%7Balertname%3D%22HighDiskUsage%22%7D".into()
            ),
            ("Alertmanager".into(), "http://alertmanager.example.com".into()),
        ]
    );
    // Resolved: nothing to silence.
    assert!(links(&resolved).iter().all(|(t, _)| t != "Silence"));
    // Grafana: its dashboard, the runbook annotation, Grafana's own silence link.
    let grafana = parse_grafana(
        &std::fs::read(root().join("tests/fixtures/alertmanager/grafana-firing.json")).unwrap(),
        &s,
    )
    .unwrap();
    let names: Vec<String> = links(&grafana).into_iter().map(|(t, _)| t).collect();
    assert_eq!(names, ["Source", "Dashboard", "Runbook", "Silence", "Grafana"]);
    assert!(
        links(&grafana)[3]
            .1
            .starts_with("https://grafana.example.com/alerting/silence/new?")
    );
    // Each parser takes only its own version.
    let am = std::fs::read(root().join("tests/fixtures/alertmanager/firing.json")).unwrap();
    assert!(parse_grafana(&am, &s).is_err());
    let gf = std::fs::read(root().join("tests/fixtures/alertmanager/grafana-firing.json")).unwrap();
    assert!(parse_alertmanager(&gf, &s).is_err());
}

#[test]
fn a_silence_link_quotes_label_values() {
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), json!("Disk \"full\""));
    labels.insert("path".into(), json!("C:\\data"));
    let url = botgate::notify::alert::silence_link("https://am.example.com/", &labels).unwrap();
    let filter = url
        .strip_prefix("https://am.example.com/#/silences/new?filter=")
        .unwrap();
    let decoded: String = form_urlencoded::parse(format!("f={filter}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    assert_eq!(decoded, r#"{alertname="Disk \"full\"",path="C:\\data"}"#);
    assert!(botgate::notify::alert::silence_link("javascript:alert(1)", &labels).is_none());
    assert!(botgate::notify::alert::silence_link("https://am.example.com", &serde_json::Map::new()).is_none());
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
    // The window counts from the first send's answer (the fixed clock's now) plus the guard.
    let last = now + 60_001 + botgate::notify::rate::ARRIVAL_GUARD_MS;
    assert!((now + 59_000..=last).contains(&at), "retry at {}", at - now);
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
        lines[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][1],
        json!(["component", "target", "outcome"])
    );
}

fn accepted_id(answer: &(u16, String)) -> String {
    assert_eq!(answer.0, 202, "{}", answer.1);
    let v: Value = serde_json::from_str(&answer.1).unwrap();
    v["accepted"].as_str().unwrap().to_owned()
}

/// Sends `queued` through a fresh dispatcher; none may fail.
async fn dispatch_all(config: Settings, queued: &[botgate::queue::OutgoingMessage]) {
    let (d, _) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    let failed = d
        .process_batch("t", records_of(queued), SystemClock.now_ms() + 20_000)
        .await;
    assert!(failed.is_empty(), "{failed:?}");
}

/// Sends what was queued through the dispatcher; returns the texts the group bot received.
async fn deliver(config: Settings, queue: &MemoryQueue, fake: &FakePlatform) -> Vec<String> {
    dispatch_all(config, &queue.drain()).await;
    fake.delivered_to("wecom-webhook")
        .iter()
        .map(|m| m.body["text"]["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_repeat_is_a_new_message_unless_it_carries_the_same_idempotency_key() {
    let fake = FakePlatform::for_example().await;
    let config = config(&fake).await;
    let (deps, queue) = gateway(config.clone());
    let bearer = format!("Bearer {BEARER}");
    let auth = || vec![("authorization", bearer.as_str())];
    // The same body twice, no key: two messages, two ids.
    let a = post(&deps, "/notify/ops", auth(), r#"{"text": "backup ok"}"#).await;
    let b = post(&deps, "/notify/ops", auth(), r#"{"text": "backup ok"}"#).await;
    assert_ne!(accepted_id(&a), accepted_id(&b));
    // The same Idempotency-Key twice: one message, the same answer both times.
    let mut keyed = auth();
    keyed.push(("idempotency-key", "deploy-4711"));
    let c = post(&deps, "/notify/ops", keyed.clone(), r#"{"text": "deploy 4711 done"}"#).await;
    let d = post(&deps, "/notify/ops", keyed.clone(), r#"{"text": "deploy 4711 done"}"#).await;
    assert_eq!(c, d);
    accepted_id(&c);
    // The key in the body does the same; the header's key on another target is another message.
    let e = post(
        &deps,
        "/notify/ops",
        auth(),
        r#"{"id": "nightly-1", "text": "nightly ok"}"#,
    )
    .await;
    let f = post(
        &deps,
        "/notify/ops",
        auth(),
        r#"{"id": "nightly-1", "text": "nightly ok"}"#,
    )
    .await;
    assert_eq!(e, f);
    // Keys that cannot be one: refused, nothing queued.
    let long = "k".repeat(256);
    for (headers, body) in [
        (vec![("idempotency-key", long.as_str())], r#"{"text": "x"}"#),
        (vec![("idempotency-key", "a")], r#"{"id": "b", "text": "x"}"#),
        (vec![], r#"{"id": "", "text": "x"}"#),
    ] {
        let mut h = auth();
        h.extend(headers);
        assert_eq!(post(&deps, "/notify/ops", h, body).await.0, 400, "{body}");
    }
    assert_eq!(queue.len(), 4);
    let texts = deliver(config, &queue, &fake).await;
    assert_eq!(texts, ["backup ok", "backup ok", "deploy 4711 done", "nightly ok"]);
}

#[tokio::test]
async fn a_key_being_accepted_right_now_gets_409_and_nothing_is_queued() {
    let fake = FakePlatform::for_example().await;
    let (deps, queue) = gateway(config(&fake).await);
    let bearer = format!("Bearer {BEARER}");
    let headers = vec![("authorization", bearer.as_str()), ("idempotency-key", "k-409")];
    let body = r#"{"text": "x"}"#;
    let req = Request {
        method: "POST",
        query: "",
        headers: headers.clone(),
        body: body.as_bytes(),
    };
    let api = deps.config.notify_api.clone().unwrap();
    let fold = botgate::notify::api::fold("notify", "ops", &req, None, botgate::notify::api::Auth::Bearer, &api)
        .unwrap()
        .unwrap();
    // Another instance holds the key, still queueing.
    let held = deps
        .store
        .claim(botgate::store::ClaimRequest {
            key: &fold.key,
            now_ms: SystemClock.now_ms(),
            in_progress_ms: 10_000,
            retention_secs: 60,
            answer: None,
        })
        .await
        .unwrap();
    assert!(matches!(held, botgate::store::Claim::Claimed(_)));
    assert_eq!(
        post(&deps, "/notify/ops", headers, body).await,
        (409, "in_progress".into())
    );
    assert!(queue.is_empty());
}

#[tokio::test]
async fn a_signed_request_delivered_again_is_one_message() {
    let fake = FakePlatform::for_example().await;
    let config = config(&fake).await;
    let (deps, queue) = gateway(config.clone());
    let now = SystemClock.now_secs();
    let body = r#"{"text": "cert renewed"}"#;
    let signed = |ts: i64| {
        let sig = botgate::delivery::forward::signature(HMAC, ts, body);
        (ts.to_string(), sig)
    };
    let (ts, sig) = signed(now);
    let headers = vec![
        ("x-botgate-timestamp", ts.as_str()),
        ("x-botgate-signature", sig.as_str()),
    ];
    let first = post(&deps, "/notify/ops", headers.clone(), body).await;
    // The same signed request again (a client's or a proxy's retry): one message.
    assert_eq!(post(&deps, "/notify/ops", headers, body).await, first);
    // Signed anew (another timestamp): another message.
    let (ts2, sig2) = signed(now - 1);
    let again = post(
        &deps,
        "/notify/ops",
        vec![
            ("x-botgate-timestamp", ts2.as_str()),
            ("x-botgate-signature", sig2.as_str()),
        ],
        body,
    )
    .await;
    assert_ne!(accepted_id(&again), accepted_id(&first));
    let texts = deliver(config, &queue, &fake).await;
    assert_eq!(texts, ["cert renewed", "cert renewed"]);
}

#[tokio::test]
async fn alertmanager_retries_fold_and_repeat_interval_reminders_are_sent_again() {
    let fake = FakePlatform::for_example().await;
    let config = config(&fake).await;
    let window_ms = config.notify_api.as_ref().unwrap().alertmanager_retry_window_secs * 1000;
    let start = 1_795_440_463_000;
    let clock = Arc::new(botgate::clock::FixedClock::at_ms(start));
    let (deps, queue) = gateway_at(config.clone(), clock.clone());
    let bearer = format!("Bearer {BEARER}");
    for fixture in ["firing", "resolved", "group-of-twenty", "mixed"] {
        let alert =
            std::fs::read_to_string(root().join(format!("tests/fixtures/alertmanager/{fixture}.json"))).unwrap();
        let post_it = || {
            post(
                &deps,
                "/alertmanager/ops",
                vec![("authorization", bearer.as_str())],
                &alert,
            )
        };
        let first = post_it().await;
        accepted_id(&first);
        // Alertmanager retries after a timeout or a 5xx, within the window: one message.
        clock.advance_ms(90_000);
        assert_eq!(post_it().await, first, "{fixture}: a retry is answered as the first");
        // Its next flush retries a group_interval (5 min) later: still one message.
        clock.advance_ms(210_000);
        assert_eq!(post_it().await, first, "{fixture}: the next flush's retry");
        // The repeat_interval reminder comes later: sent again.
        clock.advance_ms(window_ms);
        let reminder = post_it().await;
        assert_ne!(
            accepted_id(&reminder),
            accepted_id(&first),
            "{fixture}: a reminder is a new message"
        );
        clock.advance_ms(4 * 3_600_000);
    }
    let queued = queue.drain();
    assert_eq!(queued.len(), 8, "two messages per fixture");
    dispatch_all(config, &queued).await;
    assert_eq!(fake.delivered_to("wecom-webhook").len(), 8);
}

#[tokio::test]
async fn grafana_alerts_are_taken_on_their_own_route_and_delivered_as_cards() {
    let fake = FakePlatform::for_example().await;
    let config = config(&fake).await;
    let (deps, queue) = gateway(config.clone());
    let bearer = format!("Bearer {BEARER}");
    let grafana = std::fs::read_to_string(root().join("tests/fixtures/alertmanager/grafana-firing.json")).unwrap();
    let first = post(&deps, "/grafana/ops", vec![("authorization", &bearer)], &grafana).await;
    accepted_id(&first);
    // Grafana's retry of the same payload: one message.
    assert_eq!(
        post(&deps, "/grafana/ops", vec![("authorization", &bearer)], &grafana).await,
        first
    );
    // An Alertmanager payload on Grafana's route (and the other way round) is refused.
    let am = std::fs::read_to_string(root().join("tests/fixtures/alertmanager/firing.json")).unwrap();
    assert_eq!(
        post(&deps, "/grafana/ops", vec![("authorization", &bearer)], &am)
            .await
            .0,
        400
    );
    assert_eq!(
        post(&deps, "/alertmanager/ops", vec![("authorization", &bearer)], &grafana)
            .await
            .0,
        400
    );
    // Without credentials: 401, as on every notify route.
    assert_eq!(post(&deps, "/grafana/ops", vec![], &grafana).await.0, 401);
    assert_eq!(queue.len(), 1);
    dispatch_all(config, &queue.drain()).await;
    let got = fake.delivered_to("wecom-webhook");
    assert_eq!(got.len(), 1);
    let content = got[0].body["markdown"]["content"].as_str().unwrap();
    assert!(content.contains("[FIRING:1] HighCPU"), "{content}");
    assert!(
        content.contains("[Runbook](https://wiki.example.com/runbooks/cpu)"),
        "{content}"
    );
}
