//! A burst through `botgate serve` (the real binary) to a DingTalk group bot limited to 4
//! messages per 10 s, measured where the platform measures: a fake robot over real HTTP
//! that checks each signature, times each request when it *arrives* (after its transit
//! time: the first request on a cold connection is slow, as a TLS handshake makes it),
//! and refuses a fifth arrival inside any 10 s window with DingTalk's 130101, as DingTalk
//! does. All twelve must arrive, none refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};
use support::{Serve, free_port, http};

const SECRET: &str = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const TOKEN: &str = "serve-rate-test-token";
const WINDOW_MS: i64 = 10_000;
const MAX: usize = 4;
/// Transit time of a request on a cold connection (the first after a quiet spell).
const COLD_MS: u64 = 600;

#[derive(Default)]
struct Robot {
    /// Wall-clock arrival (ms) and text of each accepted message.
    arrivals: Vec<(i64, String)>,
    refused: u32,
    last_seen: Option<Instant>,
}

fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

type Answer = ([(axum::http::HeaderName, &'static str); 1], String);

fn answer(v: Value) -> Answer {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], v.to_string())
}

async fn robot(State(r): State<Arc<Mutex<Robot>>>, RawQuery(q): RawQuery, body: String) -> Answer {
    let cold = {
        let mut g = r.lock().unwrap();
        let cold = g.last_seen.is_none_or(|t| t.elapsed() > Duration::from_secs(30));
        g.last_seen = Some(Instant::now());
        cold
    };
    if cold {
        tokio::time::sleep(Duration::from_millis(COLD_MS)).await;
    }
    let arrived = now_ms();
    let q: Vec<(String, String)> = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let ts = get("timestamp");
    if get("access_token") != TOKEN || get("sign") != botgate::platform::dingtalk::hmac_sign(SECRET, &ts) {
        return answer(json!({"errcode": 310000, "errmsg": "sign not match"}));
    }
    let signed: i64 = ts.parse().unwrap_or(0);
    if arrived.abs_diff(signed) > 3_600_000 {
        return answer(json!({"errcode": 310000, "errmsg": "timestamp expired"}));
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let text = v["text"]["content"].as_str().unwrap_or_default().to_owned();
    let mut g = r.lock().unwrap();
    let recent = g.arrivals.iter().filter(|(t, _)| *t > arrived - WINDOW_MS).count();
    if recent >= MAX {
        g.refused += 1;
        return answer(json!({"errcode": 130101, "errmsg": "send too fast"}));
    }
    g.arrivals.push((arrived, text));
    answer(json!({"errcode": 0, "errmsg": "ok"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_serve_never_puts_more_than_the_limit_in_any_window_of_arrivals() {
    let state = Arc::new(Mutex::new(Robot::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let robot_url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/robot/send", axum::routing::post(robot))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = std::env::temp_dir().join(format!("botgate-serve-rate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("botgate.yaml");
    std::fs::write(
        &config,
        format!(
            r#"notify_api:
  bearer_token: serve-rate-bearer
targets:
  robot:
    type: dingtalk_webhook
    url: {robot_url}/robot/send?access_token={TOKEN}
    secret: {SECRET}
    rate_limit: [{{per_secs: 10, max: {MAX}}}]
bots: {{}}
"#
        ),
    )
    .unwrap();
    let port = free_port();
    let _serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_botgate"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--no-schedules"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while http(port, "GET", "/healthz", &[], "").await.0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "botgate serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..12 {
        let (status, body) = http(
            port,
            "POST",
            "/notify/robot",
            &[
                ("authorization", "Bearer serve-rate-bearer"),
                ("content-type", "application/json"),
            ],
            &format!(r#"{{"text": "alert {i:02}"}}"#),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let waited = Instant::now();
    while state.lock().unwrap().arrivals.len() < 12 {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "only {} of 12 arrived ({} refused)",
            state.lock().unwrap().arrivals.len(),
            state.lock().unwrap().refused
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let r = state.lock().unwrap();
    assert_eq!(r.refused, 0, "the robot refused sends as too fast");
    let mut texts: Vec<&str> = r.arrivals.iter().map(|(_, t)| t.as_str()).collect();
    texts.sort_unstable();
    let want: Vec<String> = (0..12).map(|i| format!("alert {i:02}")).collect();
    assert_eq!(texts, want, "each of the twelve exactly once");
    let times: Vec<i64> = r.arrivals.iter().map(|(t, _)| *t).collect();
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|u| **u < t + WINDOW_MS).count();
        assert!(in_window <= MAX, "{in_window} arrivals in the 10 s from {t}: {times:?}");
    }
}
