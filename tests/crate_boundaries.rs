//! The crates' boundaries, read from `cargo tree`: `botgate-core` (what a third party
//! embeds) pulls in no AWS SDK, no async runtime and no HTTP client, and its tests build
//! without any `aws-*` crate; the runtime's logic builds without the AWS SDK when its
//! `aws` feature is off.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use botgate_tests::root;

/// The crates in `cargo tree` for these arguments, without versions.
fn tree(args: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .arg("tree")
        .args(args)
        .args(["--prefix", "none", "--offline", "--quiet"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn offending<'a>(names: &'a [String], forbidden: &[&str]) -> Vec<&'a String> {
    names
        .iter()
        .filter(|n| forbidden.iter().any(|f| n.starts_with(f)))
        .collect()
}

#[test]
fn the_core_crate_depends_on_no_aws_sdk_runtime_or_http_client() {
    let normal = tree(&["-p", "botgate-core", "-e", "normal"]);
    assert!(normal.iter().any(|n| n == "aes"), "the tree was read: {normal:?}");
    let bad = offending(&normal, &["aws-", "tokio", "reqwest", "hyper", "minijinja", "regex"]);
    assert!(bad.is_empty(), "botgate-core depends on {bad:?}");
}

#[test]
fn the_core_crate_tests_build_without_any_aws_crate() {
    let all = tree(&["-p", "botgate-core", "-e", "normal,build,dev"]);
    let bad = offending(&all, &["aws-"]);
    assert!(bad.is_empty(), "`cargo test -p botgate-core` would build {bad:?}");
}

#[test]
fn the_runtime_logic_builds_without_the_aws_sdk() {
    let logic = tree(&["-p", "botgate", "--no-default-features", "-e", "normal"]);
    assert!(logic.iter().any(|n| n == "minijinja"));
    let bad = offending(&logic, &["aws-", "reqwest"]);
    assert!(bad.is_empty(), "botgate without its features depends on {bad:?}");
    let deployed = tree(&["-p", "botgate", "-e", "normal"]);
    assert!(
        deployed.iter().any(|n| n == "aws-sdk-dynamodb"),
        "the aws feature is on by default"
    );
}
