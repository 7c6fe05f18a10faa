//! Escalation channels against moto: a critical alert routed to a chat, an SNS topic and
//! an SES e-mail at once reaches each exactly once (a redelivered job sends nothing more),
//! with the rendered subject and body; SNS's and SES's refusals are permanent failures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use botgate::clock::{Clock, SystemClock};
use botgate::delivery::transport::{HttpRequest, Reqwest, Transport};
use botgate::deps::DispatchStores;
use botgate::handler::Registry;
use botgate::notify::escalation::aws::AwsEscalator;
use botgate_tests::fake::{FakePlatform, WEBHOOK_SECRET};
use botgate_tests::{Moto, dispatcher, fake_config, post};
use serde_json::{Value, json};

const BEARER: &str = "escalation-bearer";

fn yaml(fake: &str, topic_arn: &str) -> String {
    format!(
        r#"
notify_api:
  bearer_token: {BEARER}
targets:
  ops-chat: {{type: dingtalk_webhook, url: "{fake}/robot/send?access_token=abc", secret: "{WEBHOOK_SECRET}"}}
  pager: {{type: sns, topic_arn: "{topic_arn}"}}
  oncall-mail: {{type: email, from: "botgate <alerts@example.com>", to: "oncall@example.com, lead@example.com"}}
  stranger-mail: {{type: email, from: stranger@example.com, to: oncall@example.com}}
  gone: {{type: sns, topic_arn: "arn:aws:sns:us-east-1:123456789012:no-such-topic"}}
alerts:
  routers:
    prod:
      - match: ['severity="critical"']
        targets: [ops-chat, pager, oncall-mail]
      - targets: [ops-chat]
bots: {{}}
"#
    )
}

fn payload() -> String {
    json!({"version": "4", "status": "firing", "receiver": "botgate", "groupKey": "{}:{alertname=\"DiskFull\"}",
      "groupLabels": {"alertname": "DiskFull"}, "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
      "commonAnnotations": {"runbook_url": "https://runbooks.example.com/disk"},
      "externalURL": "http://am.example.com",
      "alerts": [{"status": "firing",
        "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db-1"},
        "annotations": {"summary": "disk 97% full on db-1"},
        "startsAt": "2026-11-23T01:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.com/graph"}]})
    .to_string()
}

/// SES messages moto kept (from its state endpoint).
async fn ses_messages(moto: &Moto) -> Vec<Value> {
    let http = Reqwest::new(std::time::Duration::from_secs(10)).unwrap();
    let r = http
        .send(&HttpRequest::get(format!("{}/moto-api/data.json", moto.url)))
        .await
        .unwrap();
    let data: Value = serde_json::from_str(&r.body).unwrap();
    data["ses"]["Message"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_alert_reaches_chat_sns_and_email_once_each() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    let topic_arn = sns
        .create_topic()
        .name("pager")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name("pager-inbox")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attrs.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    ses.create_email_identity()
        .email_identity("alerts@example.com")
        .send()
        .await
        .unwrap();

    let fake = FakePlatform::for_example().await;
    let mut config = botgate::deps::load_yaml(&yaml(&fake.url, &topic_arn), &botgate::config::EnvResolver)
        .await
        .unwrap();
    config.delivery = fake_config(&fake).await.delivery.clone();
    let (deps, queue) = botgate_tests::memory_gateway(config.clone(), Arc::new(SystemClock));
    let (status, body) = post(
        &deps,
        "/alertmanager/prod",
        vec![("authorization", &format!("Bearer {BEARER}"))],
        &payload(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let records = botgate_tests::records_of(&queue.drain());
    assert_eq!(records.len(), 3, "one job per target");
    let (mut d, _) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    d.notifier = Arc::new(
        d.notifier
            .with_escalator(Arc::new(AwsEscalator::with_config(sdk.clone()))),
    );
    // Delivered twice (an SQS redelivery): the second pass sends nothing.
    for _ in 0..2 {
        let failed = d
            .process_batch("t", records.clone(), SystemClock.now_ms() + 20_000)
            .await;
        assert!(failed.is_empty(), "{failed:?}");
    }

    assert_eq!(fake.delivered_to("dingtalk-webhook").len(), 1);

    let got = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(got.len(), 1, "published once");
    let note: Value = serde_json::from_str(got[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(note["Subject"], "[FIRING:1] DiskFull");
    let text = note["Message"].as_str().unwrap();
    assert!(text.starts_with("[FIRING:1] DiskFull\n\n"), "{text}");
    assert!(text.contains("disk 97% full on db-1"), "{text}");
    assert!(text.contains("Runbook: https://runbooks.example.com/disk"), "{text}");
    assert!(
        text.contains("Silence: http://am.example.com/#/silences/new?filter="),
        "{text}"
    );

    let mails = ses_messages(&moto).await;
    assert_eq!(mails.len(), 1, "sent once: {mails:?}");
    assert_eq!(mails[0]["subject"], "[FIRING:1] DiskFull");
    assert_eq!(mails[0]["source"], "botgate <alerts@example.com>");
    assert_eq!(
        mails[0]["destinations"]["ToAddresses"],
        json!(["oncall@example.com", "lead@example.com"])
    );
    assert_eq!(mails[0]["body"].as_str(), Some(text), "the same body as SNS's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_permanent_and_name_the_reason() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let fake = FakePlatform::for_example().await;
    let config = botgate::deps::load_yaml(
        &yaml(&fake.url, "arn:aws:sns:us-east-1:123456789012:pager"),
        &botgate::config::EnvResolver,
    )
    .await
    .unwrap();
    let (d, _) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    let notifier = d.notifier.with_escalator(Arc::new(AwsEscalator::with_config(sdk)));
    let message = botgate::message::Message::Text {
        text: "backup failed".into(),
        mentions: Default::default(),
    };
    let deadline = SystemClock.now_ms() + 20_000;
    let e = notifier.send("gone", &message, "k1", deadline).await.unwrap_err();
    assert_eq!(e.class(), "permanent", "{e}");
    assert!(e.to_string().contains("SNS Publish"), "{e}");
    let e = notifier
        .send("stranger-mail", &message, "k2", deadline)
        .await
        .unwrap_err();
    assert_eq!(e.class(), "permanent", "{e}");
    assert!(e.to_string().contains("MessageRejected"), "{e}");
    assert!(ses_messages(&moto).await.is_empty());
}
