//! The in-process callback path (no HTTP): route, verify, decrypt, normalize, claim in the
//! in-memory store, enqueue in the in-memory queue, log, metrics. Every iteration is a new,
//! freshly signed event (generated outside the timed part), so no iteration is a duplicate.
//! DingTalk's signature covers only its millisecond timestamp and botgate accepts each
//! (timestamp, sign) pair once, so every DingTalk iteration gets its own millisecond, as
//! real callbacks do.
//!
//! Run: `cargo bench -p botgate --bench handler`.

use std::hint::black_box;
use std::sync::Arc;

use botgate::Platform;
use botgate::callback;
use botgate::clock::SystemClock;
use botgate::config::EnvResolver;
use botgate::inbound::SampleKind;
use botgate::metrics::Discard;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

// The system allocator, as in the Lambda functions that ship (no mimalloc there).

const BOTS: [(Platform, &str); 4] = [
    (Platform::Feishu, "feishu-demo"),
    (Platform::Wechat, "wechat-demo"),
    (Platform::Wecom, "wecom-demo"),
    (Platform::Dingtalk, "dingtalk-demo"),
];

fn bench(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return;
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/botgate.yaml");
    let Ok(config) = rt.block_on(botgate::deps::load_file(&path, &EnvResolver)) else {
        return;
    };
    let (deps, memory) = botgate::deps::in_memory(config, Arc::new(SystemClock), Arc::new(Discard));
    let queue = memory.queue;
    let mut group = c.benchmark_group("handler");
    let next_ms = std::sync::atomic::AtomicI64::new(0);
    for (platform, bot) in BOTS {
        let creds = deps.config.bots[bot].credentials.clone();
        let route = format!("/{platform}/{bot}");
        let secret = creds.field("app_secret").unwrap_or_default().to_owned();
        group.bench_function(format!("{platform} new event"), |b| {
            b.to_async(&rt).iter_batched(
                || {
                    queue.drain();
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0);
                    let mut req = creds
                        .sample_request(SampleKind::Message, "hello world", now)
                        .unwrap_or_default();
                    if platform == Platform::Dingtalk {
                        // Unique milliseconds within the signature window, moving forward.
                        let base = (now - 290) * 1000;
                        let ms = base.max(next_ms.load(std::sync::atomic::Ordering::Relaxed) + 1);
                        next_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
                        let ts = ms.to_string();
                        req.headers
                            .insert("sign".into(), botgate::platform::dingtalk::hmac_sign(&secret, &ts));
                        req.headers.insert("timestamp".into(), ts);
                    }
                    req
                },
                |req| {
                    let (deps, route) = (&deps, &route);
                    async move {
                        let r = callback::handle(deps, route, &req.as_request(), "bench").await;
                        assert_eq!(r.status, 200);
                        black_box(r)
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
