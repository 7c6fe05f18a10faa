//! Interactive bots end to end, in process: signed sample callbacks through the callback
//! flow (in-memory store and queue), the queued events through the dispatcher, sending to
//! the fake platform (`support/fake.rs`).
//!
//! - WeChat passive replies: decrypted here with WXBizMsgCrypt's algorithm (written out
//!   below, not botgate's), byte-identical on a retry, and no customer-service call.
//! - Feishu card actions: the answer (toast and card) in the callback's response; the
//!   forward and the state change once each, also when the callback is retried.
//! - `update_card` on Feishu (message patch) and WeCom (`update_template_card`, and the
//!   passive `update_button` answer).
//! - Every newly normalized event type: kind, chat and sender, and a rule's reply to it
//!   reaching the fake platform.
//! - Image replies uploaded once per distinct image; a 10 KB WeCom reply in parts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use aes::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::NoPadding};
use base64::Engine;
use botgate::callback::Deps;
use botgate::clock::{Clock, SystemClock};
use botgate::dispatcher::Dispatcher;
use botgate::inbound::{OwnedRequest, SampleKind};
use botgate::queue::memory::MemoryQueue;
use botgate::{Event, EventKind, Settings};
use botgate_tests::fake::FakePlatform;
use serde_json::{Value, json};
use sha1::Digest;

const WECHAT_TOKEN: &str = "O5QTEoyU8tkexJEx";
const WECHAT_AES_KEY: &str = "r+1O7blkcvjPEkajJ5S5OZax2iLZ14cCbACnCFJPLG0";
const WECHAT_APP_ID: &str = "wx1m3vrk1npimbdk01";
const WECOM_TOKEN: &str = "mVJDxezmi6Y8Hv3M";
const WECOM_AES_KEY: &str = "EFljIXvm9kT++RHoTgMYsmI1iAwk8fkKF1XDkEdS7kE";
const WECOM_CORP_ID: &str = "wwq069yjbtrm6edv7w";

/// The example's demo bots (the fake knows their secrets) with `rules`, sending to `fake`.
fn config_yaml(fake: &FakePlatform, wechat_reply_via: &str, rules: &str) -> String {
    format!(
        r#"
gateway: {{store: memory, queue: memory}}
delivery:
  dry_run: false
  timeout_ms: 2000
  retry: {{max_attempts: 2, base_delay_ms: 20, max_delay_ms: 100}}
  session_webhook_hosts: [127.0.0.1]
  base_urls: {{feishu: "{url}", dingtalk: "{url}", wechat: "{url}", wecom: "{url}"}}
rules:
{rules}
bots:
  feishu-demo:
    platform: feishu
    app_id: cli_0rleupfgfeytvez0
    encrypt_key: rDji55Ze4EWn5Qx3IEtmx7P247HTuUAG
    verification_token: 6ENTbiudpnZOI68F2oRySblch8SriNub
    app_secret: demo-app-secret-not-real
  wechat-demo:
    platform: wechat
    token: {WECHAT_TOKEN}
    encoding_aes_key: {WECHAT_AES_KEY}
    app_id: {WECHAT_APP_ID}
    app_secret: demo-app-secret-not-real
    reply_via: {wechat_reply_via}
  wecom-demo:
    platform: wecom
    token: {WECOM_TOKEN}
    encoding_aes_key: {WECOM_AES_KEY}
    corp_id: {WECOM_CORP_ID}
    corp_secret: demo-corp-secret-not-real
    agent_id: "1000002"
  dingtalk-demo:
    platform: dingtalk
    token: rkZNAgI4D1JDuaxT
    aes_key: GJYCvlIjg/yI7PJ9Y48g4fjqlAdcbJrPhNx0R4M83hY
    app_key: dingmfj88k27cmra8su0
    app_secret: uGZVplMZhBhMugETucJjc8Ekq33Pn1kFEmD0BMTUUBKMqnQVJGuQOqYpurYV3lBd
"#,
        url = fake.url
    )
}

/// A gateway and a dispatcher sharing the conversation state, on in-memory backends.
struct Rig {
    fake: FakePlatform,
    config: Settings,
    gateway: Deps,
    queue: Arc<MemoryQueue>,
    dispatcher: Dispatcher,
}

impl Rig {
    async fn new(wechat_reply_via: &str, rules: &str) -> Self {
        Self::on(FakePlatform::for_example().await, wechat_reply_via, rules).await
    }

    /// The same fake, with other rules (and WeChat's `reply_via`).
    async fn with_rules(old: Rig, reply_via: &str, rules: &str) -> Rig {
        Self::on(old.fake, reply_via, rules).await
    }

    async fn on(fake: FakePlatform, wechat_reply_via: &str, rules: &str) -> Self {
        let yaml = config_yaml(&fake, wechat_reply_via, rules);
        let config = botgate::deps::load_yaml(&yaml, &botgate::config::EnvResolver)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (dispatcher, _) = botgate_tests::dispatcher(
            config.clone(),
            botgate::deps::DispatchStores::in_memory(),
            clock.clone(),
            botgate::handler::Registry::default(),
        );
        let (mut gateway, queue) = botgate_tests::memory_gateway(config.clone(), clock);
        gateway.state = Some(dispatcher.state.clone());
        Self {
            fake,
            config,
            gateway,
            queue,
            dispatcher,
        }
    }

    fn sample(&self, bot: &str, kind: SampleKind, text: &str) -> OwnedRequest {
        self.config.bots[bot]
            .credentials
            .sample_request(kind, text, SystemClock.now_secs())
            .unwrap()
    }

    async fn post(&self, bot: &str, req: &OwnedRequest) -> botgate::Response {
        let platform = self.config.bots[bot].platform;
        botgate::callback::handle(&self.gateway, &format!("/{platform}/{bot}"), &req.as_request(), "t").await
    }

    /// Runs what the callback queued through the dispatcher; the queued events.
    async fn dispatch(&self) -> Vec<Event> {
        let queued = self.queue.drain();
        let events = queued
            .iter()
            .map(|m| {
                let env: botgate::queue::Envelope = serde_json::from_str(&m.body).unwrap();
                env.event
            })
            .collect();
        let failed = self
            .dispatcher
            .process_batch("t", botgate_tests::records_of(&queued), SystemClock.now_ms() + 25_000)
            .await;
        assert!(failed.is_empty(), "failed records: {failed:?}");
        events
    }
}

/// Opens a WXBizMsgCrypt envelope as the platforms' SDKs do: checks `MsgSignature` =
/// SHA-1 of the sorted token, timestamp, nonce and `Encrypt`; key = base64 of the
/// EncodingAESKey plus `=`, IV = its first 16 bytes, AES-256-CBC, PKCS#7 to 32; then 16
/// random bytes, the length (u32, big-endian), the message, the receive id.
fn open_envelope(body: &str, token: &str, aes_key: &str, receive_id: &str) -> String {
    let field = |name: &str| {
        let start = body.find(&format!("<{name}>")).unwrap() + name.len() + 2;
        let end = body.find(&format!("</{name}>")).unwrap();
        let v = &body[start..end];
        v.strip_prefix("<![CDATA[")
            .and_then(|v| v.strip_suffix("]]>"))
            .unwrap_or(v)
            .to_owned()
    };
    let (encrypt, signature, timestamp, nonce) = (
        field("Encrypt"),
        field("MsgSignature"),
        field("TimeStamp"),
        field("Nonce"),
    );
    let mut parts = [token, timestamp.as_str(), nonce.as_str(), encrypt.as_str()];
    parts.sort_unstable();
    let digest = sha1::Sha1::digest(parts.concat().as_bytes());
    assert_eq!(hex::encode(digest), signature, "MsgSignature");
    let key = base64::engine::general_purpose::STANDARD
        .decode(format!("{aes_key}="))
        .unwrap();
    let mut buf = base64::engine::general_purpose::STANDARD.decode(&encrypt).unwrap();
    let plain = cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &key[..16])
        .unwrap()
        .decrypt_padded::<NoPadding>(&mut buf)
        .unwrap()
        .to_vec();
    let pad = usize::from(*plain.last().unwrap());
    assert!((1..=32).contains(&pad), "PKCS#7 pad {pad}");
    let content = &plain[16..plain.len() - pad];
    let len = u32::from_be_bytes(content[..4].try_into().unwrap()) as usize;
    assert_eq!(std::str::from_utf8(&content[4 + len..]).unwrap(), receive_id);
    String::from_utf8(content[4..4 + len].to_vec()).unwrap()
}

fn xml_field(xml: &str, name: &str) -> String {
    let fields = botgate::xml::parse(xml.as_bytes()).unwrap();
    fields.get(name).unwrap_or_default().to_owned()
}

const WECHAT_RULES: &str = r#"
  - name: echo
    when: {platform: wechat, kind: message}
    actions:
      - reply: "You said: {{ text }}"
      - reply: "And a second reply"
"#;

#[tokio::test]
async fn wechat_answers_passively_byte_for_byte_on_retries_and_never_calls_the_api() {
    let rig = Rig::new("passive", WECHAT_RULES).await;
    let req = rig.sample("wechat-demo", SampleKind::Message, "你好 <b>&");
    let first = rig.post("wechat-demo", &req).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.content_type, "application/xml");
    let reply = open_envelope(&first.body, WECHAT_TOKEN, WECHAT_AES_KEY, WECHAT_APP_ID);
    assert_eq!(xml_field(&reply, "MsgType"), "text");
    assert_eq!(xml_field(&reply, "Content"), "You said: 你好 <b>&");
    assert_eq!(xml_field(&reply, "FromUserName"), WECHAT_APP_ID);
    assert!(xml_field(&reply, "ToUserName").starts_with('o'), "{reply}");
    // WeChat retries after 5 s: the same answer, byte for byte.
    let retry = rig.post("wechat-demo", &req).await;
    assert_eq!(retry.body, first.body);
    let events = rig.dispatch().await;
    assert_eq!(events.len(), 1, "the retry is deduplicated");
    assert_eq!(rig.fake.send_requests("wechat"), 0, "no customer-service call");
    assert_eq!(rig.fake.token_requests("wechat"), 0);
}

#[tokio::test]
async fn wechat_auto_sends_further_replies_and_api_answers_nothing_passively() {
    let auto = Rig::new("auto", WECHAT_RULES).await;
    let req = auto.sample("wechat-demo", SampleKind::Message, "hi");
    let answer = auto.post("wechat-demo", &req).await;
    let reply = open_envelope(&answer.body, WECHAT_TOKEN, WECHAT_AES_KEY, WECHAT_APP_ID);
    assert_eq!(xml_field(&reply, "Content"), "You said: hi");
    auto.dispatch().await;
    let sent = auto.fake.delivered_to("wechat");
    assert_eq!(sent.len(), 1, "only the second reply goes through the API");
    assert_eq!(sent[0].body["text"]["content"], "And a second reply");

    let api = Rig::new("api", WECHAT_RULES).await;
    let req = api.sample("wechat-demo", SampleKind::Message, "hi");
    let answer = api.post("wechat-demo", &req).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "success"),
        "no passive reply"
    );
    api.dispatch().await;
    let sent = api.fake.delivered_to("wechat");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body["text"]["content"], "You said: hi");
}

const APPROVAL_RULES: &str = r#"
  - name: approve
    when: {kind: card_action, action: {name: approve}}
    actions:
      - answer:
          toast: {type: success, text: "Approved {{ action.value.service }}"}
          card:
            type: card
            title: "Deploy {{ action.value.service }}"
            text: "Approved by {{ sender }}"
            color: green
          button: "Approved by {{ sender }}"
      - forward: {url: "FAKE/forward/approvals", secret: forward-secret-for-tests}
      - update_card: {type: card, title: "Deploy {{ action.value.service }}: done", text: "Approved by {{ sender }}, deployed"}
    set_state: {approved: "{{ action.value.service }}"}
"#;

#[tokio::test]
async fn a_feishu_card_action_is_answered_in_the_response_and_its_effects_happen_once() {
    let rig = Rig::new("passive", "").await;
    let rules = APPROVAL_RULES.replace("FAKE", &rig.fake.url);
    let rig = Rig::with_rules(rig, "passive", &rules).await;
    let req = rig.sample(
        "feishu-demo",
        SampleKind::CardAction,
        r#"{"name":"approve","service":"api"}"#,
    );
    let started = Instant::now();
    let first = rig.post("feishu-demo", &req).await;
    let took = started.elapsed();
    assert!(took.as_millis() < 3000, "within Feishu's 3 s: {took:?}");
    assert_eq!(first.status, 200);
    let answer: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(answer["toast"], json!({"type": "success", "content": "Approved api"}));
    assert_eq!(answer["card"]["type"], "raw");
    let card = &answer["card"]["data"];
    assert_eq!(card["header"]["title"]["content"], "Deploy api");
    assert_eq!(card["header"]["template"], "green");
    assert_eq!(card["config"]["update_multi"], true);
    assert!(
        card["elements"][0]["content"]
            .as_str()
            .unwrap()
            .contains("ou_sample_user")
    );
    // Feishu retries (15 s later): the same answer, nothing done twice.
    let retry = rig.post("feishu-demo", &req).await;
    assert_eq!(retry.body, first.body);
    let events = rig.dispatch().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action.as_ref().unwrap().name.as_deref(), Some("approve"));
    let forwards = rig.fake.delivered_to("forward");
    assert_eq!(forwards.len(), 1, "one forward");
    assert_eq!(forwards[0].body["event"]["action"]["value"]["service"], "api");
    // The card is patched afterwards, for everyone.
    let updates = rig.fake.delivered_to("feishu-update");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].body["message_id"], "om_sample_card");
    assert_eq!(
        updates[0].body["card"]["header"]["title"]["content"],
        "Deploy api: done"
    );
    // The state changed once; a redelivery of the event changes nothing more.
    let key = botgate::state::conversation_key("feishu-demo", "oc_sample_chat", "ou_sample_user");
    let state = rig
        .dispatcher
        .state
        .get(&key, SystemClock.now_secs())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state["data"], json!({"approved": "api"}));
    let event = &events[0];
    let again = botgate_tests::record("again", "feishu-demo", event);
    assert!(
        rig.dispatcher
            .process_batch("t", vec![again], SystemClock.now_ms() + 25_000)
            .await
            .is_empty()
    );
    assert_eq!(rig.fake.delivered_to("forward").len(), 1);
    assert_eq!(rig.fake.delivered_to("feishu-update").len(), 1);
}

#[tokio::test]
async fn a_wecom_card_action_relabels_its_buttons_passively_and_updates_the_card_once() {
    let rig = Rig::new("passive", "").await;
    let rules = APPROVAL_RULES.replace("FAKE", &rig.fake.url);
    let rig = Rig::with_rules(rig, "passive", &rules).await;
    let req = rig.sample(
        "wecom-demo",
        SampleKind::CardAction,
        r#"{"name":"approve","service":"db"}"#,
    );
    let answer = rig.post("wecom-demo", &req).await;
    let reply = open_envelope(&answer.body, WECOM_TOKEN, WECOM_AES_KEY, WECOM_CORP_ID);
    assert_eq!(xml_field(&reply, "MsgType"), "update_button");
    assert_eq!(xml_field(&reply, "Button.ReplaceName"), "Approved by zhangsan");
    let events = rig.dispatch().await;
    assert_eq!(events[0].kind, EventKind::CardAction);
    let updates = rig.fake.delivered_to("wecom-update");
    assert_eq!(updates.len(), 1);
    let body = &updates[0].body;
    assert_eq!(body["response_code"], "sample-response-code");
    assert_eq!(body["userids"], json!(["zhangsan"]));
    assert_eq!(body["agentid"], 1_000_002);
    assert_eq!(body["button"]["replace_name"], "Deploy db: done");
    // The effect is recorded: a redelivery does not try the spent ResponseCode again.
    let again = botgate_tests::record("again", "wecom-demo", &events[0]);
    assert!(
        rig.dispatcher
            .process_batch("t", vec![again], SystemClock.now_ms() + 25_000)
            .await
            .is_empty()
    );
    assert_eq!(rig.fake.delivered_to("wecom-update").len(), 1);
}

#[tokio::test]
async fn an_interactive_card_goes_out_with_action_buttons_per_platform() {
    let rules = r#"
  - name: deploy
    when: {command: /deploy}
    reply:
      type: card
      title: "Deploy {{ args[0] }}?"
      text: "Asked by {{ sender }}"
      buttons:
        - {text: Approve, action: approve, value: {service: "{{ args[0] }}"}, confirm: "Deploy {{ args[0] }} to production?", style: primary}
        - {text: Logs, url: "https://ci.example.com/{{ args[0] }}"}
"#;
    let rig = Rig::new("api", rules).await;
    for bot in ["feishu-demo", "wecom-demo", "dingtalk-demo"] {
        let req = rig.sample(bot, SampleKind::Message, "/deploy api");
        assert_eq!(rig.post(bot, &req).await.status, 200);
    }
    rig.dispatch().await;
    let feishu = &rig.fake.delivered_to("feishu")[0];
    assert_eq!(feishu.body["msg_type"], "interactive");
    let card: Value = serde_json::from_str(feishu.body["content"].as_str().unwrap()).unwrap();
    let approve = &card["elements"][1]["actions"][0];
    assert_eq!(
        approve["behaviors"],
        json!([{"type": "callback", "value": {"name": "approve", "service": "api"}}])
    );
    assert_eq!(approve["confirm"]["text"]["content"], "Deploy api to production?");
    assert_eq!(card["elements"][1]["actions"][1]["url"], "https://ci.example.com/api");
    let wecom = &rig.fake.delivered_to("wecom")[0].body;
    assert_eq!(wecom["msgtype"], "template_card");
    let tc = &wecom["template_card"];
    assert_eq!(tc["card_type"], "button_interaction");
    assert!(tc["task_id"].as_str().unwrap().starts_with("bg-"));
    let key: Value = serde_json::from_str(tc["button_list"][0]["key"].as_str().unwrap()).unwrap();
    assert_eq!(key, json!({"name": "approve", "service": "api"}));
    assert_eq!(tc["button_list"][1]["url"], "https://ci.example.com/api");
    // DingTalk has no action buttons: the press sends the label as a message.
    let ding = rig
        .fake
        .delivered()
        .into_iter()
        .find(|d| d.platform.starts_with("dingtalk"))
        .unwrap();
    let param: Value = match ding.body.get("msgParam") {
        Some(p) => serde_json::from_str(p.as_str().unwrap()).unwrap(),
        None => ding.body["actionCard"].clone(),
    };
    assert!(
        param
            .to_string()
            .contains("dtmd://dingtalkclient/sendMessage?content=Approve"),
        "{param}"
    );
}

/// What a rule sees of each newly normalized event type, and that its reply arrives.
#[tokio::test]
async fn every_new_event_type_is_normalized_and_can_be_replied_to() {
    let rules = r#"
  - name: everything
    when: {}
    reply: "{{ event.kind }} from {{ sender }}"
"#;
    let rig = Rig::new("api", rules).await;
    // (bot, sample, kind, chat, sender, where the reply goes)
    type Case<'a> = (&'a str, SampleKind, EventKind, Option<&'a str>, &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (
            "feishu-demo",
            SampleKind::MemberAdded,
            EventKind::MemberAdded,
            Some("oc_sample_chat"),
            "ou_sample_admin",
            "feishu",
        ),
        (
            "feishu-demo",
            SampleKind::MemberRemoved,
            EventKind::MemberRemoved,
            Some("oc_sample_chat"),
            "ou_sample_admin",
            "feishu",
        ),
        (
            "feishu-demo",
            SampleKind::BotAdded,
            EventKind::BotAdded,
            Some("oc_sample_chat"),
            "ou_sample_admin",
            "feishu",
        ),
        (
            "feishu-demo",
            SampleKind::Reaction,
            EventKind::Reaction,
            None,
            "ou_sample_user",
            "feishu",
        ),
        (
            "feishu-demo",
            SampleKind::ChatCreated,
            EventKind::ChatCreated,
            Some("oc_sample_p2p"),
            "ou_sample_user",
            "feishu",
        ),
        (
            "feishu-demo",
            SampleKind::Click,
            EventKind::MenuClick,
            None,
            "ou_sample_user",
            "feishu",
        ),
        (
            "feishu-demo",
            SampleKind::Image,
            EventKind::Message,
            Some("oc_sample_chat"),
            "ou_sample_user",
            "feishu",
        ),
        ("wechat-demo", SampleKind::View, EventKind::MenuView, None, "", "wechat"),
        ("wechat-demo", SampleKind::Scan, EventKind::Scan, None, "", "wechat"),
        (
            "wechat-demo",
            SampleKind::Location,
            EventKind::Location,
            None,
            "",
            "wechat",
        ),
        ("wechat-demo", SampleKind::Image, EventKind::Message, None, "", "wechat"),
        ("wechat-demo", SampleKind::Voice, EventKind::Message, None, "", "wechat"),
        ("wechat-demo", SampleKind::Video, EventKind::Message, None, "", "wechat"),
        (
            "wechat-demo",
            SampleKind::LocationMessage,
            EventKind::Message,
            None,
            "",
            "wechat",
        ),
        ("wechat-demo", SampleKind::Link, EventKind::Message, None, "", "wechat"),
        (
            "wecom-demo",
            SampleKind::EnterChat,
            EventKind::EnterChat,
            Some("zhangsan"),
            "zhangsan",
            "wecom",
        ),
        (
            "wecom-demo",
            SampleKind::CardAction,
            EventKind::CardAction,
            Some("zhangsan"),
            "zhangsan",
            "wecom",
        ),
        (
            "wecom-demo",
            SampleKind::ContactChange,
            EventKind::ContactChange,
            Some("lisi"),
            "lisi",
            "wecom",
        ),
        (
            "dingtalk-demo",
            SampleKind::RichText,
            EventKind::Message,
            Some("cidSampleConversation"),
            "sample_staff",
            "dingtalk",
        ),
        (
            "dingtalk-demo",
            SampleKind::Image,
            EventKind::Message,
            Some("cidSampleConversation"),
            "sample_staff",
            "dingtalk",
        ),
        (
            "dingtalk-demo",
            SampleKind::File,
            EventKind::Message,
            Some("cidSampleConversation"),
            "sample_staff",
            "dingtalk",
        ),
    ];
    for (bot, sample, kind, chat, sender, channel) in cases {
        let text = match sample {
            SampleKind::CardAction => "approve",
            SampleKind::Reaction => "THUMBSUP",
            _ => "report.pdf",
        };
        let req = rig.sample(bot, *sample, text);
        let answer = rig.post(bot, &req).await;
        assert_eq!(answer.status, 200, "{bot} {sample:?}: {}", answer.body);
        let before = rig.fake.delivered_to(channel).len();
        let events = rig.dispatch().await;
        let ev = &events[0];
        let what = format!("{bot} {}", sample.as_str());
        assert_eq!(ev.kind, *kind, "{what}");
        // WeChat users are their own chat, with a random openid per sample.
        let sender_id = ev.sender_id.clone().unwrap();
        if sender.is_empty() {
            assert!(
                sender_id.starts_with('o') && ev.chat_id.as_deref() == Some(sender_id.as_str()),
                "{what}"
            );
        } else {
            assert_eq!(sender_id, *sender, "{what}");
            assert_eq!(ev.chat_id.as_deref(), *chat, "{what}");
        }
        let sent = rig.fake.delivered_to(channel);
        assert_eq!(sent.len(), before + 1, "{what}: the reply reached the fake platform");
        let body = sent.last().unwrap().body.to_string();
        assert!(body.contains(&format!("{} from", kind.as_str())), "{what}: {body}");
    }
}

#[tokio::test]
async fn the_new_event_fields_reach_templates() {
    let rules = r#"
  - name: welcome
    when: {kind: member_added}
    reply: {text: "Welcome {{ event.members | join(', ') }} to {{ event.raw.event.name }}", mention: ["{{ event.members[0] }}"]}
  - name: where
    when: {kind: location}
    reply: "{{ event.location.latitude }},{{ event.location.longitude }} ({{ event.raw.Precision }})"
  - name: picture
    when: {platform: dingtalk, kind: message}
    reply: "media {{ event.media.id }}"
"#;
    let rig = Rig::new("api", rules).await;
    for (bot, kind) in [
        ("feishu-demo", SampleKind::MemberAdded),
        ("wechat-demo", SampleKind::Location),
        ("dingtalk-demo", SampleKind::Image),
    ] {
        let req = rig.sample(bot, kind, "Li Si");
        rig.post(bot, &req).await;
    }
    rig.dispatch().await;
    let feishu = rig.fake.delivered_to("feishu");
    let content: Value = serde_json::from_str(feishu[0].body["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        content["text"],
        "<at user_id=\"ou_sample_user\"></at> Welcome ou_sample_user to ops"
    );
    let wechat = rig.fake.delivered_to("wechat");
    assert_eq!(wechat[0].body["text"]["content"], "23.137466,113.352425 (119.385040)");
    let ding = rig
        .fake
        .delivered()
        .into_iter()
        .find(|d| d.platform.starts_with("dingtalk"))
        .unwrap();
    assert!(
        ding.body.to_string().contains("media sample-download-code"),
        "{}",
        ding.body
    );
}

#[tokio::test]
async fn an_image_is_uploaded_once_per_content_and_sent_by_its_key() {
    let rules = r#"
  - name: chart
    when: {command: /chart}
    reply: {type: image, url: "FAKE/media/{{ args[0] }}.png"}
"#;
    let rig = Rig::new("api", "").await;
    let rules = rules.replace("FAKE", &rig.fake.url);
    let rig = Rig::with_rules(rig, "auto", &rules).await;
    for (bot, platform) in [
        ("feishu-demo", "feishu"),
        ("wecom-demo", "wecom"),
        ("wechat-demo", "wechat"),
    ] {
        for chart in ["cpu", "cpu", "disk"] {
            let req = rig.sample(bot, SampleKind::Message, &format!("/chart {chart}"));
            rig.post(bot, &req).await;
            rig.dispatch().await;
        }
        assert_eq!(rig.fake.uploads(platform), 2, "{platform}: cpu once, disk once");
        let sent = rig.fake.delivered_to(platform);
        assert_eq!(sent.len(), 3, "{platform}");
        let keys: Vec<String> = sent
            .iter()
            .map(|d| match platform {
                "feishu" => serde_json::from_str::<Value>(d.body["content"].as_str().unwrap()).unwrap()["image_key"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                _ => d.body["image"]["media_id"].as_str().unwrap().to_owned(),
            })
            .collect();
        assert_eq!(keys[0], keys[1], "{platform}: the same image, the same key");
        assert_ne!(keys[0], keys[2], "{platform}");
        let uploads = rig.fake.delivered_to(&format!("{platform}-upload"));
        assert_eq!(uploads[0].body["key"], keys[0].as_str());
        assert_eq!(uploads[0].body["file_name"], "cpu.png");
    }
    assert_eq!(
        rig.fake.downloads(),
        9,
        "each send reads the URL; the upload is what is cached"
    );
}

#[tokio::test]
async fn a_10_kb_wecom_reply_arrives_in_parts_within_2048_bytes() {
    let rules = r#"
  - name: long
    when: {command: /report}
    reply: "{% for i in range(300) %}磁盘使用率 93%，请处理。\n{% endfor %}"
"#;
    let rig = Rig::new("api", rules).await;
    let req = rig.sample("wecom-demo", SampleKind::Message, "/report");
    rig.post("wecom-demo", &req).await;
    rig.dispatch().await;
    let parts = rig.fake.delivered_to("wecom");
    assert!(
        parts.len() > 1 && parts.len() <= botgate::limits::MAX_REPLY_PARTS,
        "{} parts",
        parts.len()
    );
    let mut joined = String::new();
    for (i, p) in parts.iter().enumerate() {
        let text = p.body["text"]["content"].as_str().unwrap();
        assert!(text.len() <= 2048, "part {i}: {} bytes", text.len());
        let prefix = format!("({}/{}) ", i + 1, parts.len());
        joined.push_str(text.strip_prefix(&prefix).unwrap());
    }
    let original = "磁盘使用率 93%，请处理。\n".repeat(300);
    assert!(original.len() > 10_000);
    assert_eq!(joined, original, "nothing lost, no character split");
}

/// A custom handler answering card presses in the callback, and doing the rest in the
/// dispatcher.
struct Approvals;

#[async_trait::async_trait]
impl botgate::handler::Handler for Approvals {
    fn name(&self) -> &str {
        "approvals"
    }

    fn answer(&self, cx: &botgate::handler::HandlerContext<'_>) -> Option<botgate::answer::Answer> {
        let action = cx.event.action.as_ref()?;
        let seen = cx.state["presses"].as_u64().unwrap_or(0);
        Some(botgate::answer::Answer::Card(botgate::answer::CardAnswer {
            toast: Some(botgate::answer::Toast {
                kind: botgate::answer::ToastKind::Info,
                text: format!("{} (press {})", action.name.as_deref().unwrap_or("?"), seen + 1),
            }),
            ..Default::default()
        }))
    }

    async fn handle(
        &self,
        cx: &botgate::handler::HandlerContext<'_>,
    ) -> Result<botgate::handler::Outcome, botgate::handler::HandlerError> {
        let seen = cx.state["presses"].as_u64().unwrap_or(0);
        Ok(botgate::handler::Outcome::Handled {
            actions: vec![botgate::rules::Action::UpdateCard(botgate::Message::Card {
                title: "Handled".into(),
                text: format!("press {}", seen + 1),
                buttons: Vec::new(),
                selects: Vec::new(),
                color: None,
                mentions: Default::default(),
            })],
            state: botgate::rules::StateChange::Set(json!({"presses": seen + 1})),
        })
    }
}

#[tokio::test]
async fn a_handler_answers_in_the_callback_and_acts_in_the_dispatcher() {
    let mut rig = Rig::new("passive", "").await;
    let mut handlers = botgate::handler::Registry::default();
    handlers.register("card_action", Arc::new(Approvals));
    rig.gateway.handlers = handlers.clone();
    rig.dispatcher.handlers = handlers;
    for press in 1..=2 {
        let req = rig.sample("feishu-demo", SampleKind::CardAction, "approve");
        let answer = rig.post("feishu-demo", &req).await;
        let v: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(
            v["toast"]["content"],
            format!("approve (press {press})"),
            "read from the state"
        );
        rig.dispatch().await;
    }
    let updates = rig.fake.delivered_to("feishu-update");
    assert_eq!(updates.len(), 2);
    assert!(
        updates[1].body["card"].to_string().contains("press 2"),
        "{}",
        updates[1].body
    );
}
