//! `botgate config check` and `botgate config schema` as a user runs them: exit 0 for a
//! valid file, 1 with every problem (path and line) for an invalid one, 2 for a usage error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn botgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_botgate"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("botgate-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_example_is_valid() {
    let out = botgate(&["config", "check", "--config", "examples/botgate.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_aws_starter_is_valid() {
    let out = botgate(&["config", "check", "--config", "examples/botgate-aws.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_problem_is_listed_with_its_path_and_line() {
    let p = write(
        "bad.yaml",
        "gateway:\n  store: dynamodb\nbots:\n  ops:\n    platform: wecom\n    token: t\n    corp_id: c\n    encoding_aes_key: short\n  fs:\n    platform: feishu\n    app_secret: s3cret-value-9\n",
    );
    let out = botgate(&["config", "check", "--config", p.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("`gateway.table` (line 2)"), "{stdout}");
    assert!(stdout.contains("bot `ops`: `encoding_aes_key` (line 8)"), "{stdout}");
    assert!(stdout.contains("bot `fs` (line 10)"), "{stdout}");
    assert!(!stdout.contains("s3cret") && !stdout.contains("short"), "{stdout}");

    let typo = write(
        "typo.yaml",
        "bots:\n  ops:\n    platform: feishu\n    verification_tokn: t\n",
    );
    let out = botgate(&["config", "check", "--config", typo.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (line["path"].as_str(), line["line"].as_u64()),
        (Some("bots.ops.verification_tokn"), Some(4))
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        botgate(&["config", "check", "--config", "/nonexistent/botgate.yaml"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(botgate(&["config", "frobnicate"]).status.code(), Some(2));
}

#[test]
fn the_schema_command_prints_the_committed_schema() {
    let out = botgate(&["config", "schema"]);
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("botgate.schema.json")).unwrap()).unwrap();
    assert!(
        printed == committed,
        "botgate.schema.json is stale: run `botgate config schema > botgate.schema.json`"
    );
}
