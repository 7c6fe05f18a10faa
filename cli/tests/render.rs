//! `botgate render`: an Alertmanager or Grafana payload as each platform would receive it,
//! or as the requests one target would get, without sending; refused payloads exit 1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

fn render(args: &[&str]) -> Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Command::new(env!("CARGO_BIN_EXE_botgate"))
        .arg("render")
        .args(args)
        .current_dir(&root)
        .output()
        .unwrap()
}

#[test]
fn each_platform_body_or_one_targets_requests_are_printed_and_nothing_is_sent() {
    let out = render(&["--alertmanager", "tests/fixtures/alertmanager/firing.json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bodies: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for platform in ["feishu", "dingtalk", "wecom"] {
        assert!(bodies[platform].is_object(), "{platform}");
    }
    assert_eq!(bodies["feishu"]["card"]["header"]["template"], "red");

    let out = render(&[
        "--grafana",
        "tests/fixtures/alertmanager/grafana-firing.json",
        "--target",
        "ops-dingtalk",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("dry run") && stdout.contains("HighCPU"), "{stdout}");
    assert!(
        stdout.contains("access_token=***") && stdout.contains("sign=***"),
        "{stdout}"
    );
    assert!(!stdout.contains("demo-access-token"), "{stdout}");
}

#[test]
fn a_payload_the_gateway_would_refuse_exits_1_and_usage_errors_exit_2() {
    let out = render(&["--grafana", "tests/fixtures/alertmanager/firing.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("version"));
    assert_eq!(render(&[]).status.code(), Some(2));
    let out = render(&[
        "--alertmanager",
        "tests/fixtures/alertmanager/firing.json",
        "--target",
        "no-such-target",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no target or router `no-such-target`"));
}

#[test]
fn a_router_prints_the_requests_of_each_target_its_routes_choose() {
    let out = render(&[
        "--alertmanager",
        "tests/fixtures/alertmanager/mixed.json",
        "--target",
        "prod",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The example's `prod` router: critical to the on-call chat (continued), the rest of
    // what is not info to the WeCom group.
    assert!(
        stderr.contains("to oncall-feishu-chat") && stderr.contains("to ops-wecom"),
        "{stderr}"
    );
    assert!(!stderr.contains("to ops-dingtalk"), "{stderr}");
}
