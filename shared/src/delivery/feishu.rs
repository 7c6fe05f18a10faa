//! Feishu / Lark: `tenant_access_token`, send to a chat or user, reply to a message.
//! Every send carries `uuid` (the effect's key), which Feishu deduplicates for an hour,
//! so a repeat after a crash or a lost answer is safe.

use serde_json::{Value, json};

use super::call::{Call, SendError, Target, classify_code, json_body, required, snippet};
use super::transport::{HttpRequest, HttpResponse};
use crate::bot::Bot;
use botgate_core::Credentials;
use botgate_core::platform::feishu::render;
use botgate_core::secret::Secret;

/// Codes meaning the token is invalid or expired.
pub const TOKEN_INVALID: [i64; 3] = [99991663, 99991664, 99991671];
/// Codes worth retrying: frequency limit, internal errors.
pub const RETRYABLE: [i64; 4] = [99991400, 99991401, 1_000_004, 1_000_005];

/// `POST /open-apis/auth/v3/tenant_access_token/internal`.
pub fn token_request(base: &str, bot: &Bot) -> Result<HttpRequest, SendError> {
    let Credentials::Feishu(c) = &bot.credentials else {
        return Err(SendError::Permanent(format!("bot `{}` is not a feishu bot", bot.id)));
    };
    let app_id = required(bot, "app_id", c.app_id.as_deref())?;
    let app_secret = required(bot, "app_secret", c.app_secret.as_ref().map(Secret::expose))?;
    let body = json!({"app_id": app_id, "app_secret": app_secret});
    Ok(HttpRequest::post(
        format!("{base}/open-apis/auth/v3/tenant_access_token/internal"),
        body.to_string(),
    ))
}

/// `{code: 0, tenant_access_token, expire}`.
pub fn token_response(resp: &HttpResponse) -> Result<(String, i64), SendError> {
    let v = json_body(resp)?;
    check_code(&v)?;
    let token = v["tenant_access_token"]
        .as_str()
        .ok_or_else(|| SendError::Permanent("token answer without tenant_access_token".into()))?;
    Ok((token.to_owned(), v["expire"].as_i64().unwrap_or(7200)))
}

fn check_code(v: &Value) -> Result<(), SendError> {
    let code = v["code"].as_i64().unwrap_or(-1);
    classify_code(
        "code",
        code,
        v["msg"].as_str().unwrap_or_default(),
        &TOKEN_INVALID,
        &RETRYABLE,
    )
}

/// The receive id type Feishu expects for `id`.
pub fn receive_id_type(id: &str) -> &'static str {
    if id.starts_with("oc_") {
        "chat_id"
    } else if id.starts_with("ou_") {
        "open_id"
    } else if id.starts_with("on_") {
        "union_id"
    } else if id.contains('@') {
        "email"
    } else {
        "user_id"
    }
}

/// `msg_type` and `content` (a JSON string) for the message API.
fn content(call: &Call<'_>) -> (Value, String) {
    let r = render(call.message);
    let msg_type = r["msg_type"].clone();
    let content = if msg_type == "interactive" {
        r["card"].to_string()
    } else {
        r["content"].to_string()
    };
    (msg_type, content)
}

/// A reply to the event's message, or a send to a chat/user.
pub(crate) fn send_request(call: &Call<'_>, token: &str) -> Result<HttpRequest, SendError> {
    let (msg_type, content) = content(call);
    let uuid = &call.idem.key[..call.idem.key.len().min(50)];
    let (url, body) = match call.target {
        Target::Reply(ev) => match (&ev.reply.message_id, ev.chat_id.as_deref(), ev.sender_id.as_deref()) {
            (Some(mid), _, _) => (
                format!("{}/open-apis/im/v1/messages/{mid}/reply", call.base),
                json!({"msg_type": msg_type, "content": content, "uuid": uuid}),
            ),
            (None, Some(to), _) | (None, None, Some(to)) => to_request(call, to, msg_type, content, uuid),
            (None, None, None) => {
                return Err(SendError::Permanent(
                    "the event has no message, chat or sender to reply to".into(),
                ));
            }
        },
        Target::To(to) => to_request(call, to, msg_type, content, uuid),
    };
    Ok(HttpRequest::post(url, body.to_string()).header("Authorization", format!("Bearer {token}")))
}

fn to_request(call: &Call<'_>, to: &str, msg_type: Value, content: String, uuid: &str) -> (String, Value) {
    (
        format!(
            "{}/open-apis/im/v1/messages?receive_id_type={}",
            call.base,
            receive_id_type(to)
        ),
        json!({"receive_id": to, "msg_type": msg_type, "content": content, "uuid": uuid}),
    )
}

/// `{code: 0}` is success; see [`TOKEN_INVALID`] and [`RETRYABLE`].
pub(crate) fn send_response(resp: &HttpResponse) -> Result<(), SendError> {
    // Feishu answers errors with 4xx and a JSON body: the code decides.
    let v = json_body(resp)?;
    if v.get("code").is_none() {
        return Err(SendError::Permanent(format!(
            "HTTP {}: {}",
            resp.status,
            snippet(&resp.body)
        )));
    }
    check_code(&v)
}
