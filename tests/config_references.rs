//! `${ssm:..}` and `${secretsmanager:..}` references resolved against moto, once per start.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_ssm::types::ParameterType;
use botgate::aws::AwsResolver;
use botgate_tests::Moto;

#[tokio::test]
async fn ssm_and_secrets_manager_references() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name("/botgate/ops/encrypt_key")
        .value("rDji55Ze4EWn5Qx3IEtmx7P247HTuUAG")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("botgate/ops")
        .secret_string(r#"{"verification_token": "6ENTbiudpnZOI68F2oRySblch8SriNub"}"#)
        .send()
        .await
        .unwrap();
    let yaml = r#"
bots:
  ops:
    platform: feishu
    app_id: cli_0rleupfgfeytvez0
    encrypt_key: ${ssm:/botgate/ops/encrypt_key}
    verification_token: ${secretsmanager:botgate/ops#verification_token}
"#;
    let config = botgate::deps::load_yaml(yaml, &AwsResolver::from_sdk(sdk.clone()))
        .await
        .unwrap();
    let creds = config.bots["ops"].credentials();
    assert_eq!(creds.field("encrypt_key"), Some("rDji55Ze4EWn5Qx3IEtmx7P247HTuUAG"));
    assert_eq!(
        creds.field("verification_token"),
        Some("6ENTbiudpnZOI68F2oRySblch8SriNub")
    );

    // a missing parameter names the bot field and the reference, not any value
    let yaml = "bots:\n  ops:\n    platform: wechat\n    token: ${ssm:/botgate/missing}\n";
    let err = botgate::deps::load_yaml(yaml, &AwsResolver::from_sdk(sdk))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bots.ops.token") && err.contains("/botgate/missing"),
        "{err}"
    );
}
