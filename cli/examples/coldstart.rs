//! Cold start: from process start to the first answer under a minimal Lambda runtime API
//! (this program serves `/2018-06-01/runtime/invocation/next` once and times the response),
//! for the `callback` function with a fresh signed Feishu event and the `scheduler`
//! function with a minute tick (the schedules' evaluator over the example configuration),
//! next to a hello-world `lambda_runtime` binary. Reports the median and 90th percentile of
//! RUNS starts each.
//!
//! Run: `scripts/coldstart.sh` (builds both release binaries, then runs this).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::convert::Infallible;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use botgate::Platform;
use botgate::inbound::SampleKind;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Serves one invocation of `event` per `next` call and reports each response's arrival.
async fn runtime_api(event: String, done: mpsc::UnboundedSender<(Instant, String)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let event = Arc::new(event);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (event, done) = (event.clone(), done.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (event, done) = (event.clone(), done.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        if path.ends_with("/invocation/next") {
                            let deadline = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_millis()
                                + 30_000;
                            let resp = Response::builder()
                                .header("lambda-runtime-aws-request-id", "req-1")
                                .header("lambda-runtime-deadline-ms", deadline.to_string())
                                .header(
                                    "lambda-runtime-invoked-function-arn",
                                    "arn:aws:lambda:us-east-1:123456789012:function:bench",
                                )
                                .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
                                .body(Full::new(Bytes::from(event.as_str().to_owned())))
                                .unwrap();
                            return Ok::<_, Infallible>(resp);
                        }
                        let at = Instant::now();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let _ = done.send((at, format!("{path} {}", String::from_utf8_lossy(&body))));
                        Ok(Response::builder().status(202).body(Full::new(Bytes::new())).unwrap())
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    port
}

async fn measure(binary: &str, event: String, runs: usize) -> Vec<Duration> {
    let mut out = Vec::new();
    for _ in 0..runs {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let port = runtime_api(event.clone(), tx).await;
        let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/botgate.yaml");
        let started = Instant::now();
        let mut child = Command::new(binary)
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("BOTGATE_CONFIG_FILE", config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let (at, what) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("no answer in 20 s")
            .unwrap();
        assert!(what.contains("/response"), "{binary} answered {what}");
        assert!(
            !what.contains("\"statusCode\":4") && !what.contains("\"statusCode\":5"),
            "{binary} answered {what}"
        );
        out.push(at - started);
        let _ = child.kill();
        let _ = child.wait();
    }
    out.sort();
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let callback = args.get(1).cloned().unwrap_or_else(|| "target/release/callback".into());
    let hello = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "target/release/examples/hello".into());
    let runs: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let scheduler = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| "target/release/scheduler".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let creds = serde_json::json!({"app_id": "cli_0rleupfgfeytvez0", "encrypt_key": "rDji55Ze4EWn5Qx3IEtmx7P247HTuUAG",
            "verification_token": "6ENTbiudpnZOI68F2oRySblch8SriNub"});
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let req = botgate::sample::request(Platform::Feishu, &creds, SampleKind::Message, "cold start", now).unwrap();
        let event = botgate_cli::event::apigw(&req, Platform::Feishu, "feishu-demo", now).to_string();
        let cb = measure(&callback, event, runs).await;
        let sc = measure(&scheduler, r#"{"tick": "2026-11-25T01:00:20Z"}"#.into(), runs).await;
        let hw = measure(&hello, "{}".into(), runs).await;
        let (cm, cp) = (ms(cb[runs / 2]), ms(cb[runs * 9 / 10]));
        let (sm, sp) = (ms(sc[runs / 2]), ms(sc[runs * 9 / 10]));
        let (hm, hp) = (ms(hw[runs / 2]), ms(hw[runs * 9 / 10]));
        println!("callback:    median {cm:.1} ms, p90 {cp:.1} ms ({runs} starts, first answer to a signed Feishu event)");
        println!("scheduler:   median {sm:.1} ms, p90 {sp:.1} ms (first answer to a minute tick)");
        println!("hello world: median {hm:.1} ms, p90 {hp:.1} ms");
        println!("ratio (median): callback {:.2}x, scheduler {:.2}x", cm / hm, sm / hm);
        for (name, path) in [("callback", &callback), ("scheduler", &scheduler), ("hello", &hello)] {
            if let Ok(m) = std::fs::metadata(path) {
                println!("{name} binary: {:.2} MB", m.len() as f64 / 1_048_576.0);
            }
        }
    });
}
