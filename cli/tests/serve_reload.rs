//! `botgate serve` (the real binary) on a configuration that changes while it runs, in a
//! file and in S3 (moto): a new target answers within the refresh interval with no
//! restart; an invalid change is refused (logged) and the last good configuration keeps
//! answering. `botgate config push` refuses an invalid file with exit 1 and uploads a valid
//! one; `config show` masks secrets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Serve, free_port, http};

const BEARER: &str = "serve-reload-bearer";

fn config(targets: &[&str]) -> String {
    let mut text = format!(
        "gateway:\n  config_refresh_secs: 1\nnotify_api:\n  bearer_token: {BEARER}\ndelivery:\n  dry_run: true\ntargets:\n"
    );
    for t in targets {
        text.push_str(&format!(
            "  {t}:\n    type: wecom_webhook\n    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=secret-{t}\n"
        ));
    }
    text.push_str("bots: {}\n");
    text
}

async fn notify(port: u16, target: &str) -> u16 {
    let auth = format!("Bearer {BEARER}");
    http(
        port,
        "POST",
        &format!("/notify/{target}"),
        &[("authorization", &auth), ("content-type", "application/json")],
        r#"{"text": "hello"}"#,
    )
    .await
    .0
}

async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !f().await {
        assert!(started.elapsed() < Duration::from_secs(30), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn botgate(args: &[&str]) -> (i32, String, String) {
    botgate_with(args, &[])
}

/// `botgate config push --config draft --uri uri`.
fn push(draft: &std::path::Path, uri: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    botgate_with(
        &["config", "push", "--config", draft.to_str().unwrap(), "--uri", uri],
        env,
    )
}

fn botgate_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_botgate"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reloads_a_changed_configuration_and_refuses_a_bad_one() {
    let dir = std::env::temp_dir().join(format!("botgate-serve-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let live = dir.join("live.yaml");
    let draft = dir.join("draft.yaml");
    std::fs::write(&live, config(&["ops"])).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_botgate"))
        .args(["serve", "--no-schedules", "--json", "--config"])
        .arg(&live)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let _serve = Serve(child);
    wait_for("serve to start", async || {
        http(port, "GET", "/healthz", &[], "").await.0 == 200
    })
    .await;
    assert_eq!(notify(port, "ops").await, 202);
    assert_eq!(notify(port, "oncall").await, 404);

    // `config push` refuses an invalid file (exit 1, nothing written) ...
    std::fs::write(
        &draft,
        config(&["ops", "oncall"]).replace(
            "type: wecom_webhook\n    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=secret-oncall",
            "type: pager",
        ),
    )
    .unwrap();
    let (code, _, err) = push(&draft, live.to_str().unwrap(), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("target `oncall`") && err.contains("not uploaded"), "{err}");
    // ... and uploads a valid one, which serve picks up within the refresh interval.
    std::fs::write(&draft, config(&["ops", "oncall"])).unwrap();
    let (code, version, err) = push(&draft, live.to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!version.trim().is_empty());
    let pushed = Instant::now();
    wait_for("the new target", async || notify(port, "oncall").await == 202).await;
    assert!(pushed.elapsed() < Duration::from_secs(5), "took {:?}", pushed.elapsed());

    // A bad file lands anyway (written by hand): refused, the last good one keeps answering.
    std::fs::write(&live, "bots: [not a map\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(notify(port, "oncall").await, 202);
    assert_eq!(notify(port, "ops").await, 202);

    // `config show` prints it with the webhook keys masked.
    std::fs::write(&live, config(&["ops", "oncall"])).unwrap();
    let (code, shown, _) = botgate(&["config", "show", "--uri", live.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        shown.contains("send?key=****") && !shown.contains("secret-ops"),
        "{shown}"
    );

    drop(_serve);
    let mut logs = String::new();
    stdout.read_to_string(&mut logs).unwrap();
    assert!(logs.contains("configuration reloaded from"), "{logs}");
    assert!(
        logs.contains("configuration refused; keeping the last good one"),
        "{logs}"
    );
    assert!(!logs.contains(BEARER), "no secret in the logs");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_s3_reloads_a_pushed_configuration_and_refuses_a_bad_one() {
    let moto = botgate_tests::Moto::start();
    let sdk = moto.sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket("botgate-config").send().await.unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let uri = "s3://botgate-config/botgate.yaml";
    let dir = std::env::temp_dir().join(format!("botgate-serve-s3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let draft = dir.join("draft.yaml");
    std::fs::write(&draft, config(&["ops"])).unwrap();
    let (code, _, err) = push(&draft, uri, &env);
    assert_eq!(code, 0, "{err}");

    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_botgate"))
        .args(["serve", "--no-schedules", "--json", "--config", uri])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let serve = Serve(child);
    wait_for("serve to start", async || {
        http(port, "GET", "/healthz", &[], "").await.0 == 200
    })
    .await;
    assert_eq!(notify(port, "ops").await, 202);
    assert_eq!(notify(port, "oncall").await, 404);

    std::fs::write(&draft, config(&["ops", "oncall"])).unwrap();
    let (code, _, err) = push(&draft, uri, &env);
    assert_eq!(code, 0, "{err}");
    let pushed = Instant::now();
    wait_for("the pushed target", async || notify(port, "oncall").await == 202).await;
    assert!(pushed.elapsed() < Duration::from_secs(5), "took {:?}", pushed.elapsed());

    // A bad object written around `config push`: refused, the last good one answers.
    s3.put_object()
        .bucket("botgate-config")
        .key("botgate.yaml")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"bots: [not a map\n"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(notify(port, "oncall").await, 202);

    let (code, shown, _) = botgate_with(&["config", "show", "--uri", uri], &env);
    assert_eq!(code, 0);
    assert!(shown.contains("bots: [not a map"), "show prints what is live: {shown}");

    drop(serve);
    let mut logs = String::new();
    stdout.read_to_string(&mut logs).unwrap();
    assert!(
        logs.contains("configuration reloaded from s3://botgate-config/botgate.yaml"),
        "{logs}"
    );
    assert!(
        logs.contains("configuration refused; keeping the last good one"),
        "{logs}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
