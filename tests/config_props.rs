//! Property tests over generated configurations: loading one never panics, whatever it
//! holds (extreme numbers, broken URLs, bad templates, stray keys, YAML noise); and no
//! configuration that loads can make a send path panic (every target, every bot's reply,
//! every rule, in dry run).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use botgate::clock::{Clock, SystemClock};
use botgate::config::EnvResolver;
use botgate::delivery::transport::DryRun;
use botgate::deps::DispatchStores;
use botgate::handler::Registry;
use botgate::inbound::SampleKind;
use botgate::message::{Mentions, Message};
use botgate::metrics::Discard;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// Mostly `good`, sometimes anything.
fn number_or(good: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![12 => Just(good.to_owned()), 1 => number()]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("9223372036854775807".to_owned()),
        Just("-1".to_owned()),
        Just("'12'".to_owned()),
        Just("'${env:BOTGATE_NOT_SET}'".to_owned()),
        Just("banana".to_owned()),
        (0u64..100_000).prop_map(|n| n.to_string()),
    ]
}

fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("https://oapi.dingtalk.com/robot/send?access_token=x".to_owned()),
        6 => Just("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k".to_owned()),
        6 => Just("http://127.0.0.1:9/hook".to_owned()),
        1 => Just("http://localhost:9@127.0.0.1:1/x".to_owned()),
        1 => Just("ftp://example.com".to_owned()),
        1 => Just("not a url".to_owned()),
        1 => Just("".to_owned()),
        1 => Just("https://[::1".to_owned()),
    ]
}

fn template() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => Just("hello {{ text }}".to_owned()),
        1 => Just("{{ unclosed".to_owned()),
        1 => Just("{% for i in range(1000000) %}{{ i }}{% endfor %}".to_owned()),
        1 => Just("{{ 'x' * 100000000 }}".to_owned()),
        1 => Just("{{ data.nothing.deeper }}".to_owned()),
        1 => Just("{{ 1 / 0 }}".to_owned()),
        1 => Just("<at user_id=\"all\"></at> {{ sender }}".to_owned()),
        1 => "[a-z {}%]{0,40}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            3 => Just("feishu_webhook"),
            3 => Just("dingtalk_webhook"),
            3 => Just("wecom_webhook"),
            3 => Just("app"),
            1 => Just("slack")
        ],
        url(),
        proptest::option::of(Just("SEC0123456789")),
        proptest::collection::vec(
            (
                number_or("60"),
                prop_oneof![3 => Just("20".to_owned()), 1 => Just("0".to_owned()), 1 => number()],
            ),
            0..3,
        ),
        prop_oneof![3 => Just("feishu"), 3 => Just("wechat"), 1 => Just("ghost")],
    )
        .prop_map(|(kind, url, secret, rates, bot)| {
            let mut t = format!("{{type: {kind}");
            if kind == "app" {
                t.push_str(&format!(", bot: {bot}, to: oc_x"));
            } else {
                t.push_str(&format!(", url: '{url}'"));
            }
            if let Some(s) = secret {
                t.push_str(&format!(", secret: {s}"));
            }
            if !rates.is_empty() {
                let list: Vec<String> = rates
                    .iter()
                    .map(|(p, m)| format!("{{per_secs: {p}, max: {m}}}"))
                    .collect();
                t.push_str(&format!(", rate_limit: [{}]", list.join(", ")));
            }
            t.push('}');
            t
        })
}

fn rule() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            3 => Just("{}"),
            3 => Just("{command: /help}"),
            1 => Just("{regex: '(('}"),
            3 => Just("{regex: '^(?P<x>.+)$', platform: [feishu, dingtalk]}"),
            3 => Just("{kind: message}"),
            1 => Just("{text: hi, command: /x}")
        ],
        template(),
        prop_oneof![Just("reply"), Just("notify"), Just("forward"), Just("ignore")],
        url(),
    )
        .prop_map(|(when, text, action, url)| {
            let a = match action {
                "reply" => format!("reply: {}", serde_json::to_string(&text).unwrap()),
                "notify" => format!(
                    "notify: {{bot: feishu, to: '{{{{ chat }}}}', text: {}}}",
                    serde_json::to_string(&text).unwrap()
                ),
                "forward" => format!("forward: {{url: '{url}', secret: s}}"),
                _ => "ignore: true".to_owned(),
            };
            format!("  - when: {when}\n    {a}\n")
        })
}

fn config() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(target(), 1..4),
        proptest::collection::vec(rule(), 0..4),
        number_or("300"),
        number_or("262144"),
        number_or("86400"),
        number_or("3"),
        proptest::bool::ANY,
        proptest::option::of(template()),
    )
        .prop_map(|(targets, rules, window, body, retention, attempts, dry, note)| {
            let mut y = String::from("delivery:\n  dry_run: true\n");
            y.push_str(&format!("  retry: {{max_attempts: {attempts}}}\n"));
            y.push_str(&format!("gateway:\n  dedup_retention_secs: {retention}\n"));
            if !targets.is_empty() {
                y.push_str("targets:\n");
                for (i, t) in targets.iter().enumerate() {
                    y.push_str(&format!("  t{i}: {t}\n"));
                }
            }
            if let Some(n) = note {
                y.push_str(&format!(
                    "notifications:\n  n:\n    targets: [t0]\n    message: {}\n",
                    serde_json::to_string(&n).unwrap()
                ));
            }
            if !rules.is_empty() {
                y.push_str("rules:\n");
                for r in &rules {
                    y.push_str(r);
                }
            }
            y.push_str("bots:\n");
            y.push_str(&format!(
                "  feishu: {{platform: feishu, encrypt_key: k, verification_token: t, app_id: a, app_secret: s, timestamp_window_secs: {window}, max_body_bytes: {body}}}\n"
            ));
            y.push_str("  wechat: {platform: wechat, token: t, app_id: wx1, app_secret: s}\n");
            y.push_str("  wecom: {platform: wecom, token: t, encoding_aes_key: EFljIXvm9kT++RHoTgMYsmI1iAwk8fkKF1XDkEdS7kE, corp_id: ww1, corp_secret: s, agent_id: 1000002}\n");
            y.push_str("  ding: {platform: dingtalk, app_key: k, app_secret: s}\n");
            if dry {
                y.push_str("notify_api: {bearer_token: b, allow_templates: true}\n");
            }
            y
        })
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Every send path of a loaded configuration, in dry run.
async fn exercise(config: botgate::Settings) {
    let config = Arc::new(config);
    let d = botgate::deps::dispatcher_with(
        config.clone(),
        DispatchStores::in_memory(),
        Arc::new(DryRun::recording()),
        Arc::new(SystemClock),
        Arc::new(Discard),
        Registry::default(),
    );
    let deadline = SystemClock.now_ms() + 5_000;
    let long = "告警 ".repeat(3000);
    for name in config.targets.keys() {
        for m in [
            Message::text(long.clone()),
            Message::Markdown {
                title: "t".into(),
                text: long.clone(),
                mentions: Mentions {
                    all: true,
                    user_ids: vec!["u".into()],
                    mobiles: vec!["138".into()],
                },
            },
        ] {
            let _ = d.notifier.send(name, &m, "k", deadline).await;
        }
    }
    for name in config.notifications.keys() {
        let input = serde_json::json!({"notification": name, "scheduled_time": "2026-11-24T01:00:00Z"});
        let _ = botgate::scheduler::run(&d, input, "r", deadline).await;
    }
    let now = SystemClock.now_secs();
    let mut records = Vec::new();
    for (id, bot) in &config.bots {
        let Ok(req) = bot
            .credentials
            .sample_request(SampleKind::Message, "/help <at user_id=\"all\"></at>", now)
        else {
            continue;
        };
        if let Ok(botgate::Accepted::Event { event, .. }) =
            bot.verifier
                .as_ref()
                .unwrap()
                .verify(&req.as_request(), now, &bot.options)
        {
            records.push(botgate_tests::record(&format!("m-{id}"), id, &event));
        }
    }
    let _ = d.process_batch("t", records, deadline).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_configurations_load_or_are_refused_and_never_panic(text in config()) {
        if let Ok(config) = run(botgate::deps::load_yaml(&text, &EnvResolver)) {
            run(exercise(config));
        }
    }

    #[test]
    fn yaml_noise_is_refused_without_a_panic(text in "[a-z_:{}\\[\\]\\-'\" \n0-9$.]{0,200}") {
        let _ = run(botgate::deps::load_yaml(&text, &EnvResolver));
        let _ = run(botgate::deps::check(&text, botgate::config::Mode::SyntaxOnly));
    }
}

/// The generator reaches configurations that load, so the send paths are exercised.
#[test]
fn the_generator_produces_loadable_configurations() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut loaded = 0;
    for _ in 0..200 {
        let text = config().new_tree(&mut runner).unwrap().current();
        match run(botgate::deps::load_yaml(&text, &EnvResolver)) {
            Ok(_) => loaded += 1,
            Err(e) if loaded == 0 => eprintln!("{e}"),
            Err(_) => {}
        }
    }
    eprintln!("{loaded} of 200 generated configurations loaded");
    assert!(loaded >= 10, "only {loaded} of 200 generated configurations loaded");
}
