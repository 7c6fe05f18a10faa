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
        SampleKind::CardAction => json!({
            "schema": "2.0",
            "header": {"event_id": event_id, "event_type": "card.action.trigger",
                       "create_time": (now * 1000).to_string(), "token": token, "app_id": app_id,
                       "tenant_key": "sample_tenant"},
            "event": {"operator": {"open_id": "ou_sample_user", "user_id": "sample"},
                      "token": format!("c-{event_id}"),
                      "action": {"tag": "button", "value": {"action": text}},
                      "host": "im_message",
                      "context": {"open_message_id": "om_sample_card", "open_chat_id": "oc_sample_chat"}}
        }),
        other => return Err(format!("feishu has no {other:?} callback")),
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
