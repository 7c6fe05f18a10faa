//! The events rules can match, from payloads written out as the platforms document them
//! (not from botgate's samples): each yields its kind, chat, sender and fields. Shapes that
//! differ from the documented ones (a string where an object was expected, missing or
//! junk fields, a key that is not botgate's JSON) still normalize, or are refused cleanly
//! as malformed; nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use botgate_core::inbound::{Accepted, Options, OwnedRequest};
use botgate_core::platform::{feishu, wechat};
use botgate_core::secret::Secret;
use botgate_core::{Credentials, Event, EventKind, Verifier, crypto};
use serde_json::{Value, json};

const TOKEN: &str = "vt-events";

/// A plain (unencrypted) Feishu callback: authenticated by its verification token.
fn feishu(payload: Value) -> Result<Event, String> {
    let v = Verifier::new(Credentials::Feishu(feishu::Credentials {
        verification_token: Some(Secret::new(TOKEN)),
        ..feishu::Credentials::default()
    }))
    .unwrap();
    let req = OwnedRequest {
        method: "POST".into(),
        body: payload.to_string(),
        ..OwnedRequest::default()
    };
    match v.verify(&req.as_request(), 0, &Options::default()) {
        Ok(Accepted::Event { event, .. }) => Ok(*event),
        Ok(other) => Err(format!("not an event: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

fn v2(event_type: &str, event: Value) -> Value {
    json!({"schema": "2.0",
           "header": {"event_id": format!("ev-{event_type}"), "event_type": event_type, "create_time": "1795440463000",
                      "token": TOKEN, "app_id": "cli_x", "tenant_key": "t"},
           "event": event})
}

/// A plain-mode WeChat (or, with an AgentID, WeCom-shaped) message.
fn wechat(xml: &str) -> Event {
    let now = 1_795_440_463;
    let v = Verifier::new(Credentials::Wechat(wechat::Credentials {
        token: Some(Secret::new("tok")),
        ..wechat::Credentials::default()
    }))
    .unwrap();
    let (ts, nonce) = (now.to_string(), "n1".to_owned());
    let sig = crypto::sorted_sha1_hex(&mut ["tok", &ts, &nonce]);
    let req = OwnedRequest {
        method: "POST".into(),
        query: format!("signature={sig}&timestamp={ts}&nonce={nonce}&openid=o_user"),
        body: format!(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName><CreateTime>{now}</CreateTime>{xml}</xml>"
        ),
        ..OwnedRequest::default()
    };
    match v.verify(&req.as_request(), now, &Options::default()).unwrap() {
        Accepted::Event { event, .. } => *event,
        other => panic!("not an event: {other:?}"),
    }
}

#[test]
fn feishu_membership_reaction_menu_and_p2p_events() {
    let ids = |o: &str| json!({"open_id": format!("ou_{o}"), "union_id": format!("on_{o}"), "user_id": o});
    let added = feishu(v2(
        "im.chat.member.user.added_v1",
        json!({"chat_id": "oc_1", "operator_id": ids("admin"), "external": false, "operator_tenant_key": "t",
               "users": [{"name": "A", "tenant_key": "t", "user_id": ids("a")}, {"name": "B", "tenant_key": "t", "user_id": ids("b")}]}),
    ))
    .unwrap();
    assert_eq!(added.kind, EventKind::MemberAdded);
    assert_eq!(
        (added.chat_id.as_deref(), added.sender_id.as_deref()),
        (Some("oc_1"), Some("ou_admin"))
    );
    assert_eq!(added.members, ["ou_a", "ou_b"]);
    let removed = feishu(v2(
        "im.chat.member.user.deleted_v1",
        json!({"chat_id": "oc_1", "operator_id": ids("admin"), "users": [{"user_id": ids("a")}]}),
    ))
    .unwrap();
    assert_eq!((removed.kind, removed.members.len()), (EventKind::MemberRemoved, 1));
    let bot = feishu(v2(
        "im.chat.member.bot.added_v1",
        json!({"chat_id": "oc_2", "operator_id": ids("admin"), "external": false}),
    ))
    .unwrap();
    assert_eq!((bot.kind, bot.chat_id.as_deref()), (EventKind::BotAdded, Some("oc_2")));
    let reaction = feishu(v2(
        "im.message.reaction.created_v1",
        json!({"message_id": "om_1", "reaction_type": {"emoji_type": "SMILE"}, "operator_type": "user",
               "user_id": ids("u"), "action_time": "1795440463000"}),
    ))
    .unwrap();
    assert_eq!(reaction.kind, EventKind::Reaction);
    assert_eq!(
        (
            reaction.key.as_deref(),
            reaction.sender_id.as_deref(),
            reaction.reply.message_id.as_deref()
        ),
        (Some("SMILE"), Some("ou_u"), Some("om_1"))
    );
    let menu = feishu(v2(
        "application.bot.menu_v6",
        json!({"operator": {"operator_name": "U", "operator_id": ids("u")}, "event_key": "oncall", "timestamp": 1795440463}),
    ))
    .unwrap();
    assert_eq!(
        (menu.kind, menu.key.as_deref(), menu.sender_id.as_deref()),
        (EventKind::MenuClick, Some("oncall"), Some("ou_u"))
    );
    let p2p = feishu(json!({"uuid": "u-1", "token": TOKEN, "ts": "1795440463.5", "type": "event_callback",
        "event": {"app_id": "cli_x", "chat_id": "oc_p2p", "tenant_key": "t", "type": "p2p_chat_create",
                  "operator": {"open_id": "ou_u", "user_id": "u"}, "user": {"name": "U", "open_id": "ou_u", "user_id": "u"}}}))
    .unwrap();
    assert_eq!(
        (p2p.kind, p2p.chat_id.as_deref(), p2p.sender_id.as_deref()),
        (EventKind::ChatCreated, Some("oc_p2p"), Some("ou_u"))
    );
}

#[test]
fn feishu_card_actions_carry_name_value_option_and_form() {
    let press = feishu(v2(
        "card.action.trigger",
        json!({"operator": {"open_id": "ou_u", "user_id": "u", "tenant_key": "t"}, "token": "c-x",
               "action": {"tag": "select_static", "value": {"name": "env", "service": "api"}, "option": "prod",
                          "form_value": {"reason": "release", "tags": ["a", "b"]}},
               "host": "im_message", "context": {"open_message_id": "om_c", "open_chat_id": "oc_c"}}),
    ))
    .unwrap();
    let a = press.action.unwrap();
    assert_eq!((a.name.as_deref(), a.option.as_deref()), (Some("env"), Some("prod")));
    assert_eq!(a.value["service"], "api");
    assert_eq!(a.selected["tags"], ["a", "b"]);
    assert_eq!(
        (press.chat_id.as_deref(), press.reply.message_id.as_deref()),
        (Some("oc_c"), Some("om_c"))
    );
    // A card botgate did not build: its own value names the action with `action`, or not at all.
    let other = feishu(v2(
        "card.action.trigger",
        json!({"operator": {"open_id": "ou_u"}, "action": {"tag": "button", "value": {"action": "ok"}}}),
    ))
    .unwrap();
    assert_eq!(other.action.unwrap().name.as_deref(), Some("ok"));
    let bare = feishu(v2(
        "card.action.trigger",
        json!({"operator": "ou_u", "action": {"tag": "button", "value": "just a string"}}),
    ))
    .unwrap();
    let a = bare.action.unwrap();
    assert_eq!((a.name, a.value), (None, json!("just a string")));
    assert_eq!(bare.sender_id.as_deref(), Some("ou_u"), "an operator given as a string");
}

#[test]
fn unexpected_feishu_shapes_still_normalize() {
    // Each field of another type than documented: the event is taken, the field left out.
    for event in [
        json!({"chat_id": 42, "operator_id": "ou_admin", "users": "everyone"}),
        json!({"chat_id": "oc_1", "operator_id": {"operator_id": {"open_id": "ou_deep"}}, "users": [7, null, {"user_id": "u"}]}),
        json!({"users": [{"user_id": {"union_id": "on_only"}}]}),
    ] {
        match feishu(v2("im.chat.member.user.added_v1", event.clone())) {
            Ok(ev) => assert_eq!(ev.kind, EventKind::MemberAdded, "{event}"),
            Err(e) => assert!(e.contains("malformed"), "refused cleanly: {e}"),
        }
    }
    let deep = feishu(v2(
        "im.chat.member.user.added_v1",
        json!({"chat_id": "oc_1", "operator_id": {"operator_id": {"open_id": "ou_deep"}}, "users": [7, {"user_id": "u"}]}),
    ))
    .unwrap();
    assert_eq!(deep.sender_id.as_deref(), Some("ou_deep"));
    assert_eq!(deep.members, ["u"]);
    let reaction = feishu(v2(
        "im.message.reaction.created_v1",
        json!({"reaction_type": "SMILE", "user_id": "u"}),
    ))
    .unwrap();
    assert_eq!((reaction.key, reaction.sender_id.as_deref()), (None, Some("u")));
}

#[test]
fn wechat_events_and_media_messages() {
    let view = wechat(
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://example.com/m]]></EventKey><MenuId>1</MenuId>",
    );
    assert_eq!(
        (view.kind, view.key.as_deref()),
        (EventKind::MenuView, Some("https://example.com/m"))
    );
    assert_eq!(
        (view.chat_id.as_deref(), view.sender_id.as_deref()),
        (Some("o_user"), Some("o_user"))
    );
    let scan = wechat(
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>",
    );
    assert_eq!((scan.kind, scan.key.as_deref()), (EventKind::Scan, Some("123")));
    let subscribed = wechat(
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123]]></EventKey><Ticket><![CDATA[T]]></Ticket>",
    );
    assert_eq!(
        (subscribed.kind, subscribed.key.as_deref()),
        (EventKind::Subscribe, Some("qrscene_123"))
    );
    let located = wechat(
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[LOCATION]]></Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>",
    );
    let l = located.location.unwrap();
    assert_eq!(
        (l.latitude.as_str(), l.longitude.as_str(), l.precision.as_deref()),
        ("23.137466", "113.352425", Some("119.385040"))
    );
    let image = wechat(
        "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[https://mmbiz.qpic.cn/x]]></PicUrl><MediaId><![CDATA[m1]]></MediaId><MsgId>11</MsgId>",
    );
    let m = image.media.unwrap();
    assert_eq!(
        (m.id.as_deref(), m.url.as_deref()),
        (Some("m1"), Some("https://mmbiz.qpic.cn/x"))
    );
    assert_eq!(image.event_id, "11");
    let voice = wechat(
        "<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[v1]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[你好]]></Recognition><MsgId>12</MsgId>",
    );
    assert_eq!(
        (voice.text.as_deref(), voice.media.unwrap().format.as_deref()),
        (Some("你好"), Some("amr"))
    );
    let place = wechat(
        "<MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[Tower]]></Label><MsgId>13</MsgId>",
    );
    assert_eq!(place.text.as_deref(), Some("Tower"));
    assert_eq!(place.location.unwrap().label.as_deref(), Some("Tower"));
    let link = wechat(
        "<MsgType><![CDATA[link]]></MsgType><Title><![CDATA[T]]></Title><Description><![CDATA[D]]></Description><Url><![CDATA[https://example.com/a]]></Url><MsgId>14</MsgId>",
    );
    assert_eq!(link.media.unwrap().name.as_deref(), Some("T"));
    let video = wechat(
        "<MsgType><![CDATA[shortvideo]]></MsgType><MediaId><![CDATA[sv]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId><MsgId>15</MsgId>",
    );
    assert_eq!(video.media.unwrap().id.as_deref(), Some("sv"));
}

#[test]
fn wecom_card_events_enter_agent_and_contact_changes() {
    let press = wechat(
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{\"name\":\"approve\",\"id\":\"42\"}]]></EventKey><TaskId><![CDATA[task1]]></TaskId><CardType><![CDATA[button_interaction]]></CardType><ResponseCode><![CDATA[rc1]]></ResponseCode><AgentID>1</AgentID><SelectedItems><SelectedItem><QuestionKey><![CDATA[env]]></QuestionKey><OptionIds><OptionId><![CDATA[prod]]></OptionId><OptionId><![CDATA[dr]]></OptionId></OptionIds></SelectedItem></SelectedItems>",
    );
    assert_eq!(press.kind, EventKind::CardAction);
    let a = press.action.clone().unwrap();
    assert_eq!(
        (a.name.as_deref(), a.task_id.as_deref(), a.option.as_deref()),
        (Some("approve"), Some("task1"), Some("prod"))
    );
    assert_eq!(a.value["id"], "42");
    assert_eq!(a.selected["env"], ["prod", "dr"]);
    assert_eq!(press.reply.response_code.as_deref(), Some("rc1"));
    // The response code updates the card once: it never leaves botgate in a forward.
    let shared = botgate_core::platform::shareable(&press, false);
    assert!(
        shared.reply.response_code.is_none() && !shared.raw.contains("rc1"),
        "{}",
        shared.raw
    );
    // A card botgate did not build: the key is the action's name.
    let plain = wechat(
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{not json]]></EventKey>",
    );
    assert_eq!(plain.action.unwrap().name.as_deref(), Some("{not json"));
    let enter = wechat(
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]></Event><EventKey><![CDATA[]]></EventKey><AgentID>1</AgentID>",
    );
    assert_eq!((enter.kind, enter.key), (EventKind::EnterChat, None));
    let contact = wechat(
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event><ChangeType>create_user</ChangeType><UserID><![CDATA[lisi]]></UserID>",
    );
    assert_eq!(
        (contact.kind, contact.key.as_deref(), contact.sender_id.as_deref()),
        (EventKind::ContactChange, Some("create_user"), Some("lisi"))
    );
}
