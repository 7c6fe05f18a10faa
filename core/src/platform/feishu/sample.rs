//! Sample Feishu callbacks, signed and encrypted like the real ones.

use serde_json::json;

use super::cipher::{derive_key, encrypt, signature};
use crate::crypto;
use crate::inbound::{OwnedRequest, SampleKind};

/// A sample callback: encrypted and signed with `encrypt_key` when there is one, carrying
/// `token` as the verification token. `now` is Unix seconds.
pub(super) fn request(
    encrypt_key: Option<&str>,
    token: &str,
    app_id: &str,
    kind: SampleKind,
    text: &str,
    now: i64,
) -> Result<OwnedRequest, String> {
    let event_id = hex::encode(crypto::random_bytes::<16>());
    let v2 = |event_type: &str, event: serde_json::Value| {
        json!({
            "schema": "2.0",
            "header": {"event_id": event_id, "event_type": event_type,
                       "create_time": (now * 1000).to_string(), "token": token, "app_id": app_id,
                       "tenant_key": "sample_tenant"},
            "event": event
        })
    };
    let user = json!({"open_id": "ou_sample_user", "union_id": "on_sample_user", "user_id": "sample"});
    let admin = json!({"open_id": "ou_sample_admin", "union_id": "on_sample_admin", "user_id": "admin"});
    let payload = match kind {
        SampleKind::UrlVerification => json!({
            "challenge": crypto::random_nonce(36), "token": token, "type": "url_verification"
        }),
        SampleKind::Message => json!({
            "schema": "2.0",
            "header": {"event_id": event_id, "event_type": "im.message.receive_v1",
                       "create_time": (now * 1000).to_string(), "token": token, "app_id": app_id,
                       "tenant_key": "sample_tenant"},
            "event": {"sender": {"sender_id": {"open_id": "ou_sample_user", "user_id": "sample"},
                                 "sender_type": "user", "tenant_key": "sample_tenant"},
                      "message": {"message_id": format!("om_{event_id}"), "chat_id": "oc_sample_chat",
                                  "chat_type": "group", "message_type": "text",
                                  "content": json!({"text": text}).to_string(),
                                  "create_time": (now * 1000).to_string()}}
        }),
        SampleKind::CardAction => v2(
            "card.action.trigger",
            json!({"operator": {"open_id": "ou_sample_user", "user_id": "sample", "union_id": "on_sample_user",
                                "tenant_key": "sample_tenant"},
                   "token": format!("c-{event_id}"),
                   "action": {"tag": "button", "value": SampleKind::action_value(text)},
                   "host": "im_message",
                   "context": {"open_message_id": "om_sample_card", "open_chat_id": "oc_sample_chat"}}),
        ),
        SampleKind::Image | SampleKind::File => {
            let (message_type, content) = if kind == SampleKind::Image {
                ("image", json!({"image_key": "img_v3_sample"}))
            } else {
                ("file", json!({"file_key": "file_v3_sample", "file_name": text}))
            };
            v2(
                "im.message.receive_v1",
                json!({"sender": {"sender_id": {"open_id": "ou_sample_user", "user_id": "sample"},
                                  "sender_type": "user", "tenant_key": "sample_tenant"},
                       "message": {"message_id": format!("om_{event_id}"), "chat_id": "oc_sample_chat",
                                   "chat_type": "p2p", "message_type": message_type,
                                   "content": content.to_string(), "create_time": (now * 1000).to_string()}}),
            )
        }
        SampleKind::MemberAdded | SampleKind::MemberRemoved => v2(
            if kind == SampleKind::MemberAdded {
                "im.chat.member.user.added_v1"
            } else {
                "im.chat.member.user.deleted_v1"
            },
            json!({"chat_id": "oc_sample_chat", "operator_id": admin, "external": false,
                   "operator_tenant_key": "sample_tenant", "name": "ops",
                   "users": [{"name": text, "tenant_key": "sample_tenant", "user_id": user}]}),
        ),
        SampleKind::BotAdded => v2(
            "im.chat.member.bot.added_v1",
            json!({"chat_id": "oc_sample_chat", "operator_id": admin, "external": false,
                   "operator_tenant_key": "sample_tenant", "name": "ops"}),
        ),
        SampleKind::Reaction => v2(
            "im.message.reaction.created_v1",
            json!({"message_id": "om_sample_message", "reaction_type": {"emoji_type": text},
                   "operator_type": "user", "user_id": user, "action_time": (now * 1000).to_string()}),
        ),
        SampleKind::Click => v2(
            "application.bot.menu_v6",
            json!({"operator": {"operator_name": "Sample User", "operator_id": user},
                   "event_key": text, "timestamp": now}),
        ),
        SampleKind::ChatCreated => json!({
            "uuid": event_id, "token": token, "ts": format!("{now}.000000"), "type": "event_callback",
            "event": {"app_id": app_id, "chat_id": "oc_sample_p2p", "tenant_key": "sample_tenant",
                      "type": "p2p_chat_create",
                      "operator": {"open_id": "ou_sample_user", "user_id": "sample"},
                      "user": {"name": text, "open_id": "ou_sample_user", "user_id": "sample"}}
        }),
        other => return Err(format!("feishu has no {} callback", other.as_str())),
    };
    let plain = payload.to_string();
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("content-type".to_owned(), "application/json".to_owned());
    let body = match encrypt_key {
        Some(key) => {
            let body = json!({ "encrypt": encrypt(&derive_key(key), plain.as_bytes()) }).to_string();
            if kind != SampleKind::UrlVerification {
                let ts = now.to_string();
                let nonce = crypto::random_nonce(10);
                let sig = signature(&ts, &nonce, key, body.as_bytes());
                headers.insert("x-lark-request-timestamp".into(), ts);
                headers.insert("x-lark-request-nonce".into(), nonce);
                headers.insert("x-lark-signature".into(), sig);
            }
            body
        }
        None => plain,
    };
    Ok(OwnedRequest {
        method: "POST".into(),
        query: String::new(),
        headers,
        body,
    })
}
