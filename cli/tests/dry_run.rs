//! Dry runs print the request botgate would send, with every credential replaced by `***`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn a_dry_run_send_prints_no_credential() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (target, secrets) in [
        (
            "ops-dingtalk",
            vec![
                "demo-access-token",
                "SECn6pw27EfwQRO4M8qBxFlU9kwleYKXMwkmJqzmQK6vnKkHrVt5WwM694ddHRiT",
            ],
        ),
        ("ops-feishu", vec!["00000000-0000-0000-0000-000000000000"]),
        ("ops-wecom", vec!["key=00000000"]),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_botgate"))
            .args([
                "send",
                "--config",
                "examples/botgate.yaml",
                "--target",
                target,
                "--text",
                "hi",
                "--dry-run",
            ])
            .current_dir(&root)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("dry run") && stdout.contains("***"), "{stdout}");
        for s in secrets {
            assert!(!stdout.contains(s), "{target} printed {s}: {stdout}");
        }
        // No signature either (DingTalk's in the query, Feishu's in the body).
        assert!(!stdout.contains("sign=") || stdout.contains("sign=***"), "{stdout}");
        assert!(
            !stdout.contains("\"sign\":\"") || stdout.contains("\"sign\":\"***\""),
            "{stdout}"
        );
    }
}
