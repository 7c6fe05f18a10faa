//! `botgate doctor` against the fake platform (which checks credentials as the platforms
//! do): all good; a wrong app secret, an unresolvable reference, a malformed webhook URL and
//! a pasted signing secret each get their own message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use botgate::config::EnvResolver;
use botgate_cli::doctor::{Report, examine, real_delivery};
use botgate_tests::fake::FakePlatform;
use botgate_tests::root;

/// The example configuration, sending for real to the fake.
fn config(fake: &FakePlatform) -> String {
    let text = std::fs::read_to_string(root().join("examples/botgate.yaml")).unwrap();
    let url = &fake.url;
    text.replacen(
        "  dry_run: true\n",
        &format!(
            "  dry_run: false\n  base_urls: {{feishu: '{url}', dingtalk: '{url}', wechat: '{url}', wecom: '{url}'}}\n"
        ),
        1,
    )
}

async fn doctor(text: &str) -> Report {
    examine(text, &EnvResolver, real_delivery, Some("https://cb.example.com/")).await
}

fn failures(r: &Report) -> Vec<String> {
    r.findings.iter().filter(|f| !f.ok).map(ToString::to_string).collect()
}

#[tokio::test]
async fn a_good_configuration_is_all_good() {
    let fake = FakePlatform::for_example().await;
    let r = doctor(&config(&fake)).await;
    assert!(r.ok(), "{:#?}", failures(&r));
    let all: Vec<String> = r.findings.iter().map(ToString::to_string).collect();
    assert!(
        all.contains(&"ok   bot feishu-demo: callback URL https://cb.example.com/feishu/feishu-demo".to_owned()),
        "{all:#?}"
    );
    assert_eq!(
        all.iter().filter(|f| f.contains("access token fetched")).count(),
        4,
        "one per platform: {all:#?}"
    );
    for p in ["feishu", "dingtalk", "wechat", "wecom"] {
        assert_eq!(fake.token_requests(p), 1, "{p}");
    }
}

#[tokio::test]
async fn a_wrong_app_secret_is_named_with_where_to_fix_it() {
    let fake = FakePlatform::for_example().await;
    let text = config(&fake).replacen("demo-app-secret-not-real", "a-wrong-secret", 1);
    let r = doctor(&text).await;
    let f = failures(&r);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].starts_with("FAIL bot feishu-demo: cannot fetch an access token"),
        "{}",
        f[0]
    );
    assert!(
        f[0].contains("10014") && f[0].contains("app secret or app id is wrong"),
        "{}",
        f[0]
    );
    assert!(!f[0].contains("a-wrong-secret"), "never the secret itself");
}

#[tokio::test]
async fn an_unresolvable_reference_is_named() {
    let fake = FakePlatform::for_example().await;
    let text = config(&fake).replacen("demo-app-secret-not-real", "${env:BOTGATE_DOCTOR_TEST_UNSET}", 1);
    let f = failures(&doctor(&text).await);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].starts_with("FAIL configuration:")
            && f[0].contains("BOTGATE_DOCTOR_TEST_UNSET")
            && f[0].contains("cannot be resolved"),
        "{}",
        f[0]
    );
}

#[tokio::test]
async fn a_malformed_webhook_url_and_a_pasted_signing_secret_are_named() {
    let fake = FakePlatform::for_example().await;
    let text = config(&fake).replacen(
        "https://oapi.dingtalk.com/robot/send?access_token=demo-access-token",
        "oapi.dingtalk.com/robot/send",
        1,
    );
    let f = failures(&doctor(&text).await);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].starts_with("FAIL configuration:") && f[0].contains("target `ops-dingtalk`: `url`"),
        "{}",
        f[0]
    );

    let text = config(&fake).replacen("secret: SECn6pw27", "secret: n6pw27", 1);
    let f = failures(&doctor(&text).await);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].starts_with("FAIL target ops-dingtalk:") && f[0].contains("starts with SEC"),
        "{}",
        f[0]
    );
}
