//! Calls the Lambda handler with every `events/*.json`, the clock pinned to the time the
//! events were generated (`scripts/make-events.sh`), on the example configuration.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use botgate::callback::Deps;
use botgate::clock::FixedClock;
use botgate::config::EnvResolver;
use botgate::metrics::Recorded;
use botgate::queue::memory::MemoryQueue;
use botgate::store::memory::MemoryStore;

const EVENTS_TIME_MS: i64 = 1_795_440_463_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn deps() -> (Deps, Arc<MemoryQueue>, Arc<Recorded>) {
    let config = botgate::deps::load_file(&root().join("examples/botgate.yaml"), &EnvResolver)
        .await
        .unwrap();
    let clock = Arc::new(FixedClock::at_ms(EVENTS_TIME_MS));
    let queue = Arc::new(MemoryQueue::new(clock.clone(), config.max_message_bytes));
    let metrics = Arc::new(Recorded::default());
    let deps = Deps {
        config: Arc::new(config),
        store: Arc::new(MemoryStore::new()),
        queue: queue.clone(),
        clock,
        metrics: metrics.clone(),
        state: None,
        handlers: botgate::handler::Registry::default(),
    };
    (deps, queue, metrics)
}

#[tokio::test]
async fn every_sample_event_is_answered() {
    let (deps, queue, metrics) = deps().await;
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("callback-"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "events/ has only {} callback events", files.len());
    let mut expected_messages = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let req = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let resp = callback::handler(&deps, req).await.unwrap();
        assert_eq!(resp.status(), 200, "{name}: {:?}", resp.body());
        let verification = name.contains("url-verification") || name.contains("check-url");
        if !verification {
            expected_messages += 1;
        }
        let body = match resp.body() {
            lambda_http::Body::Text(t) => t.clone(),
            other => panic!("{name}: body {other:?}"),
        };
        if name.contains("feishu-url-verification") {
            assert!(body.starts_with("{\"challenge\":"), "{name}: {body}");
        }
        if name.contains("feishu-card-action") {
            assert!(body.contains("toast"), "{name}: the configured card answer, got {body}");
        }
        // DingTalk's event subscription (not its chat bot) is answered with an encrypted `success`.
        if name == "callback-dingtalk-event.json" || name == "callback-dingtalk-check-url.json" {
            assert!(body.contains("msg_signature"), "{name}: encrypted success, got {body}");
        }
    }
    assert_eq!(queue.len(), expected_messages);
    // the same events again: duplicates, acknowledged, nothing new queued
    for path in &files {
        let req = lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(callback::handler(&deps, req).await.unwrap().status(), 200);
    }
    assert_eq!(queue.len(), expected_messages);
    let lines = metrics.0.lock().unwrap();
    assert_eq!(lines.len(), files.len() * 2);
    assert!(lines.iter().any(|l| l["outcome"] == "duplicate"));
}

#[tokio::test]
async fn stale_sample_is_refused_with_401() {
    let (deps, queue, _) = deps().await;
    let text = std::fs::read_to_string(root().join("events/callback-feishu-message.json")).unwrap();
    let stale = Deps {
        clock: Arc::new(FixedClock::at_ms(EVENTS_TIME_MS + 7_200_000)),
        ..deps
    };
    let resp = callback::handler(&stale, lambda_http::request::from_str(&text).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(queue.is_empty());
}

#[tokio::test]
async fn the_handler_reloads_a_changed_configuration_and_traces_by_api_gateways_request_id() {
    let dir = std::env::temp_dir().join(format!("botgate-callback-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("botgate.yaml");
    let example = std::fs::read_to_string(root().join("examples/botgate.yaml")).unwrap();
    // At first the Feishu bot has an old Encrypt Key (rotated in the console since): refused.
    std::fs::write(
        &path,
        example.replace("rDji55Ze4EWn5Qx3IEtmx7P247HTuUAG", "0ldKey0ldKey0ldKey0ldKey0ldKey00"),
    )
    .unwrap();
    let clock = Arc::new(FixedClock::at_ms(EVENTS_TIME_MS));
    let (reloader, config) = botgate::reload::Reloader::start(
        botgate::reload::source::Source::new(botgate::reload::source::ConfigUri::File(path.clone())),
        Arc::new(EnvResolver),
        "callback",
        Arc::new(Recorded::default()),
        EVENTS_TIME_MS,
        None,
    )
    .await
    .unwrap();
    let queue = Arc::new(MemoryQueue::new(clock.clone(), config.max_message_bytes));
    let live = botgate::reload::Live::new(Deps {
        config: Arc::new(config),
        store: Arc::new(MemoryStore::new()),
        queue: queue.clone(),
        clock: clock.clone(),
        metrics: Arc::new(Recorded::default()),
        state: None,
        handlers: botgate::handler::Registry::default(),
    });
    let text = std::fs::read_to_string(root().join("events/callback-feishu-message.json")).unwrap();
    let call = || callback::handle_live(&live, Some(&reloader), lambda_http::request::from_str(&text).unwrap());
    assert_eq!(call().await.unwrap().status(), 401);
    std::fs::write(&path, &example).unwrap();
    assert_eq!(
        call().await.unwrap().status(),
        401,
        "not checked again before the refresh interval"
    );
    clock.advance_ms(60_000);
    assert_eq!(
        call().await.unwrap().status(),
        401,
        "answered on the configuration it started with, while the check runs beside it"
    );
    assert_eq!(call().await.unwrap().status(), 200, "reloaded without a restart");
    let queued = queue.drain();
    let event: serde_json::Value = serde_json::from_str(&text).unwrap();
    let request_id = event["requestContext"]["requestId"].as_str().unwrap();
    assert!(
        queued[0].body.contains(&format!(r#""trace_id":"{request_id}""#)),
        "{}",
        queued[0].body
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
