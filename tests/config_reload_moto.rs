//! The configuration in S3 (moto), reloaded live: a pushed change takes effect at the next
//! check after the refresh interval, with no restart; an invalid push is refused and the
//! last good configuration keeps answering (logged and counted once); a rotated
//! `${ssm:..}` value is picked up when the references are resolved again; the dispatcher
//! takes the same configuration.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use aws_sdk_ssm::types::ParameterType;
use botgate::aws::AwsResolver;
use botgate::clock::FixedClock;
use botgate::deps::DispatchStores;
use botgate::metrics::Recorded;
use botgate::reload::source::{ConfigUri, Fetch, Source};
use botgate::reload::{Live, REFERENCES_REFRESH_MS, Reloader};
use botgate_tests::{Moto, memory_gateway, post};

const BUCKET: &str = "botgate-config";
const NOW_MS: i64 = 1_795_400_000_000;

fn config(extra_target: bool) -> String {
    let mut text = String::from(
        "gateway:\n  config_refresh_secs: 5\nnotify_api:\n  bearer_token: ${ssm:/botgate/notify_token}\n\
         targets:\n  ops:\n    type: wecom_webhook\n    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1\n",
    );
    if extra_target {
        text.push_str(
            "  oncall:\n    type: wecom_webhook\n    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k2\n",
        );
    }
    text.push_str("bots: {}\n");
    text
}

async fn put_token(sdk: &aws_config::SdkConfig, value: &str) {
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name("/botgate/notify_token")
        .value(value)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

async fn notify(live: &Live<botgate::callback::Deps>, target: &str, token: &str) -> u16 {
    let bearer = format!("Bearer {token}");
    post(
        &live.get(),
        &format!("/notify/{target}"),
        vec![("authorization", &bearer)],
        r#"{"text": "disk 91%"}"#,
    )
    .await
    .0
}

fn reloads(metrics: &Recorded, outcome: &str) -> usize {
    metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m["config_reloads"] == 1 && m["outcome"] == outcome)
        .count()
}

#[tokio::test]
async fn a_pushed_configuration_is_reloaded_and_a_bad_one_refused() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    put_token(&sdk, "token-1").await;
    let uri = ConfigUri::parse(&format!("s3://{BUCKET}/botgate.yaml")).unwrap();
    let pusher = Source::with_client(uri.clone(), s3.clone());
    let v1 = pusher.put(&config(false)).await.unwrap();
    assert!(!v1.is_empty(), "a versioned bucket gives a version id");

    // A conditional read of the unchanged object is a 304, no body.
    let Fetch::Changed(first) = pusher.fetch(None).await.unwrap() else {
        panic!("first read")
    };
    assert_eq!(first.version.as_deref(), Some(v1.as_str()));
    assert_eq!(pusher.fetch(Some(&first.etag)).await.unwrap(), Fetch::Unchanged);

    let clock = Arc::new(FixedClock::at_ms(NOW_MS));
    let metrics = Arc::new(Recorded::default());
    let (reloader, settings) = Reloader::start(
        Source::with_client(uri, s3),
        Arc::new(AwsResolver::from_sdk(sdk.clone())),
        "callback",
        metrics.clone(),
        NOW_MS,
        None,
    )
    .await
    .unwrap();
    let (deps, _queue) = memory_gateway(settings.clone(), clock.clone());
    let gateway = Live::new(deps);
    let (d, _) = botgate_tests::dispatcher(settings, DispatchStores::in_memory(), clock.clone(), Default::default());
    let dispatcher = Live::new(d);
    assert_eq!(notify(&gateway, "ops", "token-1").await, 202);
    assert_eq!(notify(&gateway, "oncall", "token-1").await, 404);

    // A new target is pushed: not seen before the refresh interval, seen after it.
    pusher.put(&config(true)).await.unwrap();
    clock.advance_ms(1_000);
    assert!(
        !reloader
            .refresh(&gateway, botgate::clock::Clock::now_ms(clock.as_ref()))
            .await,
        "checked only every 5 s"
    );
    assert_eq!(notify(&gateway, "oncall", "token-1").await, 404);
    clock.advance_ms(4_000);
    let settings = reloader
        .check(botgate::clock::Clock::now_ms(clock.as_ref()))
        .await
        .expect("the new configuration");
    let settings = Arc::new(settings);
    gateway.apply(&settings).unwrap();
    dispatcher.apply(&settings).unwrap();
    assert_eq!(notify(&gateway, "oncall", "token-1").await, 202);
    assert!(dispatcher.get().config.targets.contains_key("oncall"));
    assert_eq!(reloads(&metrics, "reloaded"), 1);

    // An invalid push is refused: the last good configuration keeps answering, the refusal
    // is counted once (the refused version is not read again), and nothing else changes.
    pusher
        .put(&config(true).replace(
            "type: wecom_webhook\n    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k2",
            "type: pager",
        ))
        .await
        .unwrap();
    clock.advance_ms(5_000);
    assert!(
        !reloader
            .refresh(&gateway, botgate::clock::Clock::now_ms(clock.as_ref()))
            .await
    );
    assert_eq!(reloads(&metrics, "refused"), 1);
    assert_eq!(notify(&gateway, "oncall", "token-1").await, 202);
    clock.advance_ms(5_000);
    assert!(
        !reloader
            .refresh(&gateway, botgate::clock::Clock::now_ms(clock.as_ref()))
            .await
    );
    assert_eq!(reloads(&metrics, "refused"), 1, "refused once, not every check");

    // The secret is rotated in SSM: picked up when the references are resolved again.
    put_token(&sdk, "token-2").await;
    clock.advance_ms(5_000);
    assert!(
        !reloader
            .refresh(&gateway, botgate::clock::Clock::now_ms(clock.as_ref()))
            .await,
        "not yet: references are resolved every 15 minutes"
    );
    clock.advance_ms(REFERENCES_REFRESH_MS);
    assert!(
        reloader
            .refresh(&gateway, botgate::clock::Clock::now_ms(clock.as_ref()))
            .await
    );
    assert_eq!(notify(&gateway, "ops", "token-1").await, 401);
    assert_eq!(notify(&gateway, "ops", "token-2").await, 202);
    assert_eq!(
        notify(&gateway, "oncall", "token-2").await,
        202,
        "still the last good text"
    );
}

#[tokio::test]
async fn a_stack_deployed_before_its_first_push_starts_with_no_bots_and_picks_it_up() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    put_token(&sdk, "token-1").await;
    let uri = ConfigUri::parse(&format!("s3://{BUCKET}/botgate.yaml")).unwrap();
    let metrics = Arc::new(Recorded::default());
    let source = || Source::with_client(uri.clone(), s3.clone());
    let resolver = Arc::new(AwsResolver::from_sdk(sdk.clone()));
    // No bootstrap: a missing configuration fails the start, loudly.
    let err = Reloader::start(source(), resolver.clone(), "dispatcher", metrics.clone(), NOW_MS, None)
        .await
        .unwrap_err();
    assert!(
        err.contains("no configuration at s3://botgate-config/botgate.yaml"),
        "{err}"
    );
    let (reloader, settings) = Reloader::start(source(), resolver, "dispatcher", metrics, NOW_MS, Some("bots: {}\n"))
        .await
        .unwrap();
    assert!(settings.bots.is_empty() && settings.targets.is_empty());
    assert!(reloader.check(NOW_MS + 60_000).await.is_none(), "still nothing pushed");
    source().put(&config(true)).await.unwrap();
    let pushed = reloader.check(NOW_MS + 120_000).await.expect("the first push");
    assert!(pushed.targets.contains_key("oncall"));
}
