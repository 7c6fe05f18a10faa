//! Requests per second through the local gateway (`botgate serve`'s router, in-memory store
//! and queue) for new, signed ~1 KB Feishu events, next to a bare hyper hello-world measured
//! in the same run with the same client. Both servers and the client share this process.
//!
//! Run: `cargo run --release -p botgate-cli --example gateway_rps -- [SECONDS] [CONNECTIONS]`

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use botgate::callback::Deps;
use botgate::clock::SystemClock;
use botgate::config::EnvResolver;
use botgate::inbound::{OwnedRequest, SampleKind};
use botgate::metrics::Discard;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1 as server_http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// mimalloc: fewer and cheaper allocations per request than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn hello_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = service_fn(|_req: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
                });
                let _ = server_http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

async fn botgate_server(deps: Deps) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = botgate_cli::serve::router(Arc::new(botgate::reload::Live::new(deps)), 300 * 1024);
    tokio::spawn(async move {
        let _ = axum::serve(listener.tap_io(|tcp| drop(tcp.set_nodelay(true))), app).await;
    });
    addr
}

/// Keeps `connections` keep-alive connections busy for `secs`; returns (responses, errors).
async fn load(addr: SocketAddr, secs: u64, connections: usize, reqs: Arc<Vec<OwnedRequest>>) -> (u64, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (ok, bad, next, reqs) = (ok.clone(), bad.clone(), next.clone(), reqs.clone());
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).ok();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            while Instant::now() < deadline {
                let req = if reqs.is_empty() {
                    Request::get("/")
                        .header("host", "localhost")
                        .body(Full::new(Bytes::new()))
                } else {
                    let r = &reqs[next.fetch_add(1, Ordering::Relaxed) % reqs.len()];
                    let mut b = Request::post(format!("/feishu/feishu-demo?{}", r.query)).header("host", "localhost");
                    for (k, v) in &r.headers {
                        b = b.header(k, v);
                    }
                    b.body(Full::new(Bytes::from(r.body.clone())))
                }
                .expect("request");
                match sender.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let _ = resp.into_body().collect().await;
                        if status.is_success() { &ok } else { &bad }.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        bad.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let connections: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/botgate.yaml");
        let config = botgate::deps::load_file(&path, &EnvResolver).await.expect("config");
        let creds = config.bots["feishu-demo"].credentials.clone();
        let (deps, memory) = botgate::deps::in_memory(config, Arc::new(SystemClock), Arc::new(Discard));
        let queue = memory.queue;
        // A consumer that empties the in-memory queue, as `botgate serve` does.
        let q = queue.clone();
        tokio::spawn(async move {
            loop {
                q.wait().await;
                q.drain();
            }
        });
        // Enough distinct events that none is a duplicate during the run.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let n = 600_000usize;
        let text = "deploy prod service api-gateway to version 2026.11.23-1 and notify the on-call channel when done";
        let reqs: Vec<OwnedRequest> = (0..n)
            .map(|_| creds.sample_request(SampleKind::Message, text, now).expect("sample"))
            .collect();
        let body_len = reqs[0].body.len();
        let hello = hello_server().await;
        let gate = botgate_server(deps).await;
        // Alternate the two servers for ROUNDS rounds and report medians: this machine's
        // throughput drifts, and alternating spreads the drift over both.
        let rounds = 3;
        let reqs = Arc::new(reqs);
        let (mut hs, mut gs, mut errors, mut g_total) = (Vec::new(), Vec::new(), 0, 0u64);
        for _ in 0..rounds {
            let (h_ok, h_bad) = load(hello, secs, connections, Arc::new(Vec::new())).await;
            let (g_ok, g_bad) = load(gate, secs, connections, reqs.clone()).await;
            hs.push(h_ok as f64 / secs as f64);
            gs.push(g_ok as f64 / secs as f64);
            errors += h_bad + g_bad;
            g_total += g_ok;
        }
        hs.sort_by(f64::total_cmp);
        gs.sort_by(f64::total_cmp);
        let (h_rps, g_rps) = (hs[rounds / 2], gs[rounds / 2]);
        println!("hyper hello-world: {h_rps:.0} req/s (median of {rounds}; all: {hs:.0?})");
        println!(
            "botgate feishu {body_len} B events: {g_rps:.0} req/s (median of {rounds}; all: {gs:.0?}), {:.0}% of hello-world",
            100.0 * g_rps / h_rps
        );
        println!(
            "{connections} connections, {secs} s per round, {errors} errors, client and servers in one process on {} cores",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );
        let g_ok = g_total;
        if g_ok as usize >= n {
            println!("warning: more requests than distinct events; later ones were duplicates");
        }
    });
}
