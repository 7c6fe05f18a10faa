//! Alert routes end to end: an Alertmanager group whose alerts differ in severity and team
//! reaches the targets its routes choose, each with its own alerts and the right people
//! mentioned on that platform; bad routes are refused at load with the path and line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use botgate::callback;
use botgate::clock::{Clock, SystemClock};
use botgate::deps::DispatchStores;
use botgate::handler::Registry;
use botgate::inbound::Request;
use botgate_tests::fake::{FakePlatform, WEBHOOK_SECRET, WECOM_KEY};
use botgate_tests::{dispatcher, fake_config};
use serde_json::{Value, json};

const BEARER: &str = "routes-bearer";

fn routes_yaml(fake: &str) -> String {
    format!(
        r#"
notify_api:
  bearer_token: {BEARER}
targets:
  pager: {{type: dingtalk_webhook, url: "{fake}/robot/send?access_token=abc", secret: "{WEBHOOK_SECRET}"}}
  db-chat: {{type: feishu_webhook, url: "{fake}/open-apis/bot/v2/hook/hook-token", secret: "{WEBHOOK_SECRET}"}}
  ops: {{type: wecom_webhook, url: "{fake}/cgi-bin/webhook/send?key={WECOM_KEY}"}}
alerts:
  people:
    alice: {{dingtalk: "13800000001", feishu: ou_alice, wecom: alice}}
    bob: {{dingtalk: user-bob, feishu: ou_bob}}
  routers:
    prod:
      - match: ['severity="critical"']
        targets: [pager]
        mention_label: owner
        continue: true
      - match: ['team=~"db|storage"']
        targets: [db-chat]
        mention: [bob]
      - targets: [ops]
bots: {{}}
"#
    )
}

fn alert(name: &str, severity: &str, team: &str, owner: &str) -> Value {
    json!({"status": "firing",
           "labels": {"alertname": name, "severity": severity, "team": team, "owner": owner, "instance": "i-1"},
           "annotations": {"summary": format!("{name} on i-1")},
           "startsAt": "2026-11-23T01:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
           "generatorURL": "http://prometheus.example.com/graph"})
}

#[tokio::test]
async fn each_alert_reaches_the_targets_its_routes_choose_with_the_right_mentions() {
    let fake = FakePlatform::for_example().await;
    let mut config = botgate::deps::load_yaml(&routes_yaml(&fake.url), &botgate::config::EnvResolver)
        .await
        .unwrap();
    let base = fake_config(&fake).await;
    config.delivery = base.delivery.clone();
    let (deps, queue) = botgate_tests::memory_gateway(config.clone(), Arc::new(SystemClock));
    let body = json!({"version": "4", "status": "firing", "receiver": "botgate",
    "groupLabels": {"alertname": "Mixed"}, "commonLabels": {}, "externalURL": "http://am.example.com",
    "alerts": [
        alert("DiskFull", "critical", "db", "alice"),
        alert("SlowQueries", "warning", "db", "alice"),
        alert("HighLatency", "critical", "web", "carol"),
        alert("CertExpiry", "info", "web", "alice"),
    ]})
    .to_string();
    let bearer = format!("Bearer {BEARER}");
    let req = Request {
        method: "POST",
        query: "",
        headers: vec![("authorization", bearer.as_str())],
        body: body.as_bytes(),
    };
    let r = callback::handle(&deps, "/alertmanager/prod", &req, "t").await;
    assert_eq!(r.status, 202, "{}", r.body);
    // A router's name that is not one: 404, like an unknown target.
    let r = callback::handle(&deps, "/alertmanager/staging", &req, "t").await;
    assert_eq!(r.status, 404);
    let queued = queue.drain();
    assert_eq!(queued.len(), 3, "one card per target");
    let records = botgate_tests::records_of(&queued);
    let (d, _) = dispatcher(
        config,
        DispatchStores::in_memory(),
        Arc::new(SystemClock),
        Registry::default(),
    );
    let failed = d.process_batch("t", records, SystemClock.now_ms() + 20_000).await;
    assert!(failed.is_empty(), "{failed:?}");

    // The pager (DingTalk): both critical alerts, the owner alice by mobile; carol is nobody.
    let pager = fake.delivered_to("dingtalk-webhook");
    assert_eq!(pager.len(), 1);
    let text = pager[0].body.to_string();
    assert!(text.contains("DiskFull") && text.contains("HighLatency"), "{text}");
    assert!(!text.contains("SlowQueries") && !text.contains("CertExpiry"), "{text}");
    assert_eq!(pager[0].body["at"]["atMobiles"], json!(["13800000001"]));
    assert_eq!(
        pager[0].body["at"]["isAtAll"],
        json!(true),
        "critical still mentions everyone"
    );

    // db-chat (Feishu): the db alerts (the critical one continued past the pager), bob.
    let db = fake.delivered_to("feishu-webhook");
    assert_eq!(db.len(), 1);
    let text = db[0].body.to_string();
    assert!(text.contains("DiskFull") && text.contains("SlowQueries"), "{text}");
    assert!(!text.contains("HighLatency") && !text.contains("CertExpiry"), "{text}");
    assert!(text.contains("ou_bob") && !text.contains("ou_alice"), "{text}");

    // ops (WeCom): what no earlier route kept: the web critical (continued) and the info.
    let ops = fake.delivered_to("wecom-webhook");
    assert_eq!(ops.len(), 1);
    let text = ops[0].body.to_string();
    assert!(text.contains("HighLatency") && text.contains("CertExpiry"), "{text}");
    assert!(!text.contains("DiskFull") && !text.contains("SlowQueries"), "{text}");
}

/// `good` with an on-call rota after its routers.
fn with_rota(good: &str, tz: &str, day: &str, from: &str) -> String {
    good.replace(
        "bots: {}\n",
        &format!(
            "  oncall:\n    primary:\n      timezone: {tz}\n      shifts: [{{days: [{day}], from: \"{from}\", people: [alice]}}]\nbots: {{}}\n"
        ),
    )
}

#[tokio::test]
async fn bad_routes_are_refused_at_load_with_the_path_and_line() {
    let good = routes_yaml("https://example.invalid");
    let cases = [
        (
            good.replace(r#"'severity="critical"'"#, r#"'severity~"critical"'"#),
            "alerts.routers.prod[0].match[0]",
            14,
        ),
        (
            good.replace("targets: [db-chat]", "targets: [db-chats]"),
            "alerts.routers.prod[1].targets[0]",
            19,
        ),
        (
            good.replace("mention: [bob]", "mention: [bobby]"),
            "alerts.routers.prod[1].mention[0]",
            20,
        ),
        (good.replace("    prod:\n", "    ops:\n"), "alerts.routers.ops", 15),
        (
            good.replace(&format!("notify_api:\n  bearer_token: {BEARER}\n"), ""),
            "alerts.routers.prod",
            13,
        ),
        (
            good.replace("mention_label: owner", "mention_label: 'own er'"),
            "alerts.routers.prod[0].mention_label",
            16,
        ),
        (
            good.replace("mention: [bob]", "mention_oncall: secondary"),
            "alerts.routers.prod[1].mention_oncall",
            20,
        ),
        (
            good.replace(
                "      - targets: [ops]\n",
                "      - targets: [ops]\n        template: '{{ alerts | length '\n",
            ),
            "alerts.routers.prod[2].template.text",
            22,
        ),
        (
            good.replace(
                "  ops: {type: wecom_webhook,",
                "  ops: {alert_template: {type: card, title: '{% if %}', text: x}, type: wecom_webhook,",
            ),
            "targets.ops.alert_template.title",
            7,
        ),
        (
            with_rota(&good, "Mars/Olympus", "mon", "09:00"),
            "alerts.oncall.primary.timezone",
            24,
        ),
        (
            with_rota(&good, "Europe/Berlin", "funday", "09:00"),
            "alerts.oncall.primary.shifts[0].days[0]",
            25,
        ),
        (
            with_rota(&good, "Europe/Berlin", "mon", "25:00"),
            "alerts.oncall.primary.shifts[0].from",
            25,
        ),
    ];
    for (text, path, line) in cases {
        let problems = botgate::deps::check(&text, botgate::config::Mode::SyntaxOnly).await;
        let p = problems
            .iter()
            .find(|p| p.path == path)
            .unwrap_or_else(|| panic!("no problem at {path}: {problems:?}"));
        assert_eq!(p.line, line, "{path}: {p:?}");
    }
    assert!(
        botgate::deps::check(&good, botgate::config::Mode::SyntaxOnly)
            .await
            .is_empty()
    );
    let rota = with_rota(&good, "Europe/Berlin", "mon", "09:00").replace("mention: [bob]", "mention_oncall: primary");
    let problems = botgate::deps::check(&rota, botgate::config::Mode::SyntaxOnly).await;
    assert!(problems.is_empty(), "{problems:?}");
}

/// A route's template, rendered over a mixed group and then by each platform: compared with
/// `tests/snapshots/route-template-<platform>.json` (`UPDATE_SNAPSHOTS=1` rewrites them).
#[tokio::test]
async fn a_route_template_renders_per_platform_as_the_snapshots_show() {
    let yaml = routes_yaml("https://example.invalid").replace(
        "      - targets: [ops]\n",
        r#"      - targets: [ops]
        template:
          type: markdown
          title: "{{ firing }} firing, {{ resolved }} resolved"
          text: |
            {% for a in alerts %}- [{{ a.status }}] {{ a.labels.alertname }} on {{ a.labels.instance }} since {{ a.starts_at }}
            {% endfor %}[silence]({{ silence_url }})
"#,
    );
    let config = botgate::deps::load_yaml(&yaml, &botgate::config::EnvResolver)
        .await
        .unwrap();
    let body = json!({"version": "4", "status": "firing", "receiver": "botgate",
        "groupLabels": {"alertname": "Mixed"}, "commonLabels": {}, "externalURL": "http://am.example.com",
        "alerts": [alert("HighLatency", "warning", "web", "alice"), alert("CertExpiry", "info", "web", "bob")]})
    .to_string();
    let settings = config.notify_api.clone().unwrap();
    let router = &config.alerts.routers["prod"];
    let cards = botgate::notify::alert::read(body.as_bytes(), "alertmanager")
        .unwrap()
        .routed(&settings, &config.alerts, router, 0, &config.targets)
        .unwrap();
    assert_eq!(cards.len(), 1);
    let (target, message) = &cards[0];
    assert_eq!(target, "ops");
    for (platform, rendered) in [
        ("feishu", botgate::platform::feishu::render(message)),
        ("dingtalk", botgate::platform::dingtalk::render(message)),
        ("wecom", botgate::platform::wecom::render_bot(message)),
    ] {
        botgate_tests::check_snapshot(&format!("route-template-{platform}"), &rendered);
    }
    let botgate::message::Message::Markdown { title, text, .. } = message else {
        panic!("a markdown message: {message:?}")
    };
    assert_eq!(title, "2 firing, 0 resolved");
    assert!(
        text.contains("- [firing] HighLatency on i-1 since 2026-11-23 09:00:00 +08:00"),
        "{text}"
    );
    assert!(
        text.contains("[silence](http://am.example.com/#/silences/new?filter=%7Balertname%3D%22Mixed%22%7D)"),
        "{text}"
    );
}

/// A target's own `alert_template`: used for webhooks posted straight to it and for routes
/// without a template of their own; a route's template comes first.
#[tokio::test]
async fn a_target_template_applies_where_no_route_sets_one() {
    let yaml = routes_yaml("https://example.invalid").replace(
        "  ops: {type: wecom_webhook,",
        "  ops: {alert_template: {type: text, text: '{{ status }}: {% for a in alerts %}{{ a.labels.alertname }} {% endfor %}'}, type: wecom_webhook,",
    );
    assert!(
        botgate::deps::check(&yaml, botgate::config::Mode::SyntaxOnly)
            .await
            .is_empty()
    );
    let config = botgate::deps::load_yaml(&yaml, &botgate::config::EnvResolver)
        .await
        .unwrap();
    let settings = config.notify_api.clone().unwrap();
    let body = json!({"version": "4", "status": "firing", "receiver": "botgate",
        "groupLabels": {"alertname": "Mixed"}, "commonLabels": {}, "externalURL": "http://am.example.com",
        "alerts": [alert("HighLatency", "warning", "web", "alice"), alert("DiskFull", "critical", "db", "bob")]})
    .to_string();
    let text_of = |m: &botgate::message::Message| match m {
        botgate::message::Message::Text { text, .. } => text.clone(),
        other => panic!("not the target's text template: {other:?}"),
    };
    // Posted straight to the target.
    let direct = botgate::notify::alert::read(body.as_bytes(), "alertmanager")
        .unwrap()
        .for_target(&settings, "ops", config.targets.get("ops"))
        .unwrap();
    assert_eq!(text_of(&direct), "firing: HighLatency DiskFull ");
    // The message the `prod` router gives `to`.
    let routed_to = |config: &botgate::Settings, to: &str| {
        botgate::notify::alert::read(body.as_bytes(), "alertmanager")
            .unwrap()
            .routed(
                &settings,
                &config.alerts,
                &config.alerts.routers["prod"],
                0,
                &config.targets,
            )
            .unwrap()
            .into_iter()
            .find(|(t, _)| t == to)
            .unwrap()
            .1
    };
    // Through the router: `ops` (no route template) gets its own; `pager` the built-in card.
    assert_eq!(text_of(&routed_to(&config, "ops")), "firing: HighLatency ");
    let pager = routed_to(&config, "pager");
    assert!(matches!(pager, botgate::message::Message::Card { .. }), "{pager:?}");
    // A route's own template wins over the target's.
    let routed = yaml.replace(
        "      - targets: [ops]\n",
        "      - targets: [ops]\n        template: 'route says {{ firing }}'\n",
    );
    let config = botgate::deps::load_yaml(&routed, &botgate::config::EnvResolver)
        .await
        .unwrap();
    let ops = routed_to(&config, "ops");
    assert!(format!("{ops:?}").contains("route says 1"), "{ops:?}");
}

/// A routed group where one target's card would not fit in a queue message: refused whole
/// (413, nothing queued), not half sent, so Alertmanager's next attempt finds nothing done.
#[tokio::test]
async fn a_group_that_cannot_be_queued_whole_is_not_queued_at_all() {
    let fake = FakePlatform::for_example().await;
    let mut config = botgate::deps::load_yaml(&routes_yaml(&fake.url), &botgate::config::EnvResolver)
        .await
        .unwrap();
    config.max_message_bytes = 8 * 1024;
    let (deps, queue) = botgate_tests::memory_gateway(config, Arc::new(SystemClock));
    let mut big = alert("DiskFull", "warning", "web", "alice");
    big["annotations"]["summary"] = json!("x".repeat(12_000));
    let body = json!({"version": "4", "status": "firing", "receiver": "botgate",
        "groupLabels": {}, "commonLabels": {}, "externalURL": "http://am.example.com",
        "alerts": [alert("HighLatency", "critical", "db", "alice"), big]})
    .to_string();
    let bearer = format!("Bearer {BEARER}");
    let req = Request {
        method: "POST",
        query: "",
        headers: vec![("authorization", bearer.as_str())],
        body: body.as_bytes(),
    };
    let r = callback::handle(&deps, "/alertmanager/prod", &req, "t").await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(queue.is_empty(), "nothing queued");
}
