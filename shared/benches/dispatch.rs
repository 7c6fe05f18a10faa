//! The dispatcher's own cost per record, without the platform call: decode the envelope,
//! match the rules, render the template, claim and complete the effect (in memory), build
//! the HTTP request and classify the answer, log and emit metrics. The transport answers
//! success at once, so nothing here waits on a network. Each iteration is a new event.
//!
//! Also: a notification to a DingTalk robot (an Alertmanager group of twenty alerts), and
//! the gateway-side Alertmanager rendering.
//!
//! Run: `cargo bench -p botgate --bench dispatch`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use botgate::clock::SystemClock;
use botgate::config::EnvResolver;
use botgate::delivery::transport::{HttpRequest, HttpResponse, Transport, TransportError};
use botgate::deps::DispatchStores;
use botgate::dispatcher::Record;
use botgate::handler::Registry;
use botgate::inbound::SampleKind;
use botgate::metrics::Discard;
use botgate::queue::OutgoingMessage;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

// The system allocator, as in the Lambda functions that ship (no mimalloc there).

/// Answers every request with the platforms' success shape, at once.
struct Instant;

#[async_trait::async_trait]
impl Transport for Instant {
    async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let body = if req.url.contains("tenant_access_token") {
            r#"{"code":0,"tenant_access_token":"t","expire":7200}"#
        } else if req.url.contains("token") {
            r#"{"errcode":0,"access_token":"t","expires_in":7200}"#
        } else {
            r#"{"code":0,"errcode":0}"#
        };
        Ok(HttpResponse {
            status: 200,
            body: body.into(),
            retry_after_secs: None,
        })
    }
}

/// The measured step: one record through the dispatcher.
async fn process(d: &botgate::dispatcher::Dispatcher, rec: Record) {
    let r = d.process_record("bench", &rec, i64::MAX).await;
    assert!(r.is_ok());
    black_box(r).ok();
}

fn bench(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return;
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/botgate.yaml");
    let Ok(mut config) = rt.block_on(botgate::deps::load_file(&path, &EnvResolver)) else {
        return;
    };
    config.delivery.dry_run = false;
    // The notify bench measures the send path, not the 20-per-minute wait.
    if let Some(t) = config.targets.get_mut("ops-dingtalk") {
        t.rate.clear();
    }
    let settings = botgate::deps::notify_api(&serde_json::json!({"bearer_token": "b"})).ok();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let d = botgate::deps::dispatcher_with(
        Arc::new(config),
        DispatchStores::in_memory(),
        Arc::new(Instant),
        Arc::new(SystemClock),
        Arc::new(Discard),
        Registry::default(),
    );
    let counter = AtomicU64::new(0);
    let mut group = c.benchmark_group("dispatch");
    for (bot, kind, text) in [
        ("feishu-demo", SampleKind::Message, "/help"),
        ("wechat-demo", SampleKind::Subscribe, ""),
        ("wecom-demo", SampleKind::Message, "disk full on db-1"),
    ] {
        let b = &d.config.bots[bot];
        let req = b.credentials.sample_request(kind, text, now).unwrap_or_default();
        let Some(verifier) = &b.verifier else {
            return;
        };
        let Ok(botgate::Accepted::Event { event, .. }) = verifier.verify(&req.as_request(), now, &b.options) else {
            return;
        };
        group.bench_function(format!("{} record", b.platform), |bench| {
            bench.to_async(&rt).iter_batched(
                || {
                    let mut ev = (*event).clone();
                    ev.event_id = format!("e{}", counter.fetch_add(1, Ordering::Relaxed));
                    let msg = OutgoingMessage::for_event(bot, &ev.event_id, &ev, 0).unwrap_or_else(|_| unreachable!());
                    Record {
                        message_id: ev.event_id.clone(),
                        body: msg.body,
                        group_id: Some(msg.group_id),
                        receive_count: 1,
                    }
                },
                |rec| process(&d, rec),
                BatchSize::SmallInput,
            );
        });
    }
    // A notification (the Alertmanager group of twenty alerts, rendered by the gateway) to
    // the DingTalk robot: effect claim, size fit, signed webhook request, answer.
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/alertmanager/group-of-twenty.json");
    let (Ok(alerts), Some(settings)) = (std::fs::read(&fixture), settings) else {
        return;
    };
    group.bench_function("alertmanager render (gateway)", |bench| {
        bench.iter(|| {
            black_box(botgate::notify::alert::parse_alertmanager(
                black_box(&alerts),
                &settings,
            ))
        });
    });
    let Ok(message) = botgate::notify::alert::parse_alertmanager(&alerts, &settings) else {
        return;
    };
    group.bench_function("notify job to a dingtalk robot", |bench| {
        bench.to_async(&rt).iter_batched(
            || {
                let job = botgate::notify::api::NotifyJob {
                    target: "ops-dingtalk".into(),
                    message: message.clone(),
                    id: format!("n{}", counter.fetch_add(1, Ordering::Relaxed)),
                    source: "alertmanager".into(),
                    fold: None,
                    alert: None,
                    digest: None,
                    trace_id: None,
                };
                let msg = job.outgoing(0).unwrap_or_else(|_| unreachable!());
                Record {
                    message_id: job.id.clone(),
                    body: msg.body,
                    group_id: Some(msg.group_id),
                    receive_count: 1,
                }
            },
            |rec| process(&d, rec),
            BatchSize::SmallInput,
        );
    });
    // A full batch held back by the rate limit: ten queued alert jobs (the group of twenty
    // each) folded into one digest job and its queue message (what the dispatcher does
    // before queueing it; the store and queue calls around it are not included).
    let summary = botgate::notify::alert::read(&alerts, "alertmanager")
        .ok()
        .map(|h| h.summary());
    let held: Vec<botgate::notify::api::NotifyJob> = (0..10)
        .map(|i| botgate::notify::api::NotifyJob {
            target: "ops-dingtalk".into(),
            message: message.clone(),
            id: format!("held{i}"),
            source: "alertmanager".into(),
            fold: None,
            alert: summary.clone().map(|mut a| {
                a.key = format!("{}#{i}", a.key);
                a
            }),
            digest: None,
            trace_id: None,
        })
        .collect();
    group.bench_function("digest of 10 held alert jobs", |bench| {
        bench.iter(|| {
            let job = botgate::notify::api::NotifyJob::digest_of(
                "ops-dingtalk",
                black_box(&held),
                botgate::notify::limits::Limit::DINGTALK,
            );
            black_box(job.outgoing(0))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
