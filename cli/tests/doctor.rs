//! `botgate doctor`'s exit status: 0 only when all is well, 1 with each problem printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn doctor(yaml: &str, name: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("botgate-doctor-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("botgate.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_botgate"))
        .args(["doctor", "--base-url", "http://127.0.0.1:8080", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn all_good_exits_0_and_a_problem_exits_1() {
    let good = "targets:\n  ops:\n    type: wecom_webhook\n    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k\n\
                bots:\n  ops:\n    platform: wecom\n    token: t0k3n\n    encoding_aes_key: jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C\n    corp_id: wwq069yjbtrm6edv7w\n";
    let (code, out) = doctor(good, "good");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("callback URL http://127.0.0.1:8080/wecom/ops"), "{out}");
    assert!(out.contains("no corp_secret"), "{out}");
    assert!(out.contains("all good"), "{out}");

    let (code, out) = doctor(&good.replace("t0k3n", "${env:BOTGATE_DOCTOR_CLI_UNSET}"), "unset");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL configuration") && out.contains("BOTGATE_DOCTOR_CLI_UNSET"),
        "{out}"
    );
}
