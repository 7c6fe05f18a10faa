//! DingTalk: a chat bot's reply goes through the event's `sessionWebhook` while it is
//! valid (no token needed); otherwise, and for notifications, through the robot API with
//! the app access token: group chats by `openConversationId`, users by id.

use serde_json::{Value, json};

use super::call::{Call, SendError, Target, classify_errcode, json_body, required, snippet};
use super::transport::{HttpRequest, HttpResponse};
use crate::bot::Bot;
use botgate_core::Credentials;
use botgate_core::message::Message;
use botgate_core::platform::dingtalk::{self, render};
use botgate_core::secret::Secret;

fn credentials(bot: &Bot) -> Result<&dingtalk::Credentials, SendError> {
    match &bot.credentials {
        Credentials::Dingtalk(c) => Ok(c),
        _ => Err(SendError::Permanent(format!("bot `{}` is not a dingtalk bot", bot.id))),
    }
}

/// Session webhooks closer than this to expiry are not used.
pub const SESSION_MARGIN_MS: i64 = 10_000;
/// Robot webhook codes worth retrying: 130101 sending too fast, -1 busy.
pub const RETRYABLE: [i64; 2] = [130_101, -1];

/// `POST /v1.0/oauth2/accessToken {appKey, appSecret}`.
pub fn token_request(base: &str, bot: &Bot) -> Result<HttpRequest, SendError> {
    let c = credentials(bot)?;
    let app_key = required(bot, "app_key", c.app_key.as_deref())?;
    let app_secret = required(bot, "app_secret", c.app_secret.as_ref().map(Secret::expose))?;
    let body = json!({"appKey": app_key, "appSecret": app_secret});
    Ok(HttpRequest::post(
        format!("{base}/v1.0/oauth2/accessToken"),
        body.to_string(),
    ))
}

/// `{accessToken, expireIn}`.
pub fn token_response(resp: &HttpResponse) -> Result<(String, i64), SendError> {
    let v = api_answer(resp)?;
    let token = v["accessToken"]
        .as_str()
        .ok_or_else(|| SendError::Permanent("token answer without accessToken".into()))?;
    Ok((token.to_owned(), v["expireIn"].as_i64().unwrap_or(7200)))
}

/// The new API answers errors with an HTTP status and `{code, message}`.
fn api_answer(resp: &HttpResponse) -> Result<Value, SendError> {
    let v = json_body(resp)?;
    match resp.status {
        200..=299 => Ok(v),
        401 => Err(SendError::TokenInvalid(format!("HTTP 401: {}", snippet(&resp.body)))),
        403 if v["code"]
            .as_str()
            .is_some_and(|c| c.contains("QpsLimit") || c.contains("Throttl")) =>
        {
            Err(SendError::retryable(format!("HTTP 403: {}", snippet(&resp.body))))
        }
        s => Err(SendError::Permanent(format!("HTTP {s}: {}", snippet(&resp.body)))),
    }
}

/// True when `url` is a DingTalk session webhook botgate may send to: `https://` (or
/// `http://` to this machine), a host in `hosts`, the path `/robot/sendBySession`. The URL
/// comes from the event's body, which DingTalk's signature does not cover.
pub fn session_webhook_allowed(url: &str, hosts: &[String]) -> bool {
    let Ok(u) = super::endpoint::check(url) else {
        return false;
    };
    u.path() == "/robot/sendBySession"
        && u.host_str()
            .is_some_and(|h| hosts.iter().any(|a| a.eq_ignore_ascii_case(h)))
}

/// The event's session webhook, when it is still valid and points where session webhooks
/// live (else the reply goes through the robot API).
pub(crate) fn session_webhook<'a>(call: &Call<'a>) -> Option<&'a str> {
    let Target::Reply(ev) = call.target else {
        return None;
    };
    let url = ev.reply.session_webhook.as_deref()?;
    if ev.reply.session_webhook_expires_ms.unwrap_or(0) <= call.now_ms.saturating_add(SESSION_MARGIN_MS) {
        return None;
    }
    if !session_webhook_allowed(url, call.session_hosts) {
        tracing::warn!(bot = %call.bot.id, event_id = %ev.event_id,
            "the event's sessionWebhook is not a DingTalk session webhook URL; replying through the robot API instead");
        return None;
    }
    Some(url)
}

/// The robot API's `msgKey` and `msgParam`.
fn robot_param(msg: &Message) -> (&'static str, Value) {
    match msg {
        Message::Markdown { title, text, .. } => ("sampleMarkdown", json!({"title": title, "text": text})),
        Message::Card { title, text, .. } => {
            // The buttons as the webhook's actionCard has them (action buttons as message
            // links): one is `sampleActionCard`; two to four, `sampleActionCard2..4`.
            let card = render(msg)["actionCard"].clone();
            let links: Vec<(Value, Value)> = match card.get("btns").and_then(Value::as_array) {
                Some(btns) => btns
                    .iter()
                    .map(|b| (b["title"].clone(), b["actionURL"].clone()))
                    .collect(),
                None if card.get("singleURL").is_some() => {
                    vec![(card["singleTitle"].clone(), card["singleURL"].clone())]
                }
                None => Vec::new(),
            };
            match links.as_slice() {
                [] => (
                    "sampleMarkdown",
                    json!({"title": title, "text": format!("### {title}\n{text}")}),
                ),
                [(t, u)] => (
                    "sampleActionCard",
                    json!({"title": title, "text": text, "singleTitle": t, "singleURL": u}),
                ),
                many => {
                    let many = &many[..many.len().min(4)];
                    let mut param = json!({"title": title, "text": text});
                    for (i, (t, u)) in many.iter().enumerate() {
                        param[format!("actionTitle{}", i + 1)] = t.clone();
                        param[format!("actionURL{}", i + 1)] = u.clone();
                    }
                    let key = match many.len() {
                        2 => "sampleActionCard2",
                        3 => "sampleActionCard3",
                        _ => "sampleActionCard4",
                    };
                    (key, param)
                }
            }
        }
        Message::Image { url: Some(u), .. } => ("sampleImageMsg", json!({"photoURL": u})),
        Message::News { articles } if !articles.is_empty() => {
            let a = &articles[0];
            (
                "sampleLink",
                json!({"title": a.title, "text": a.description.clone().unwrap_or_default(),
                       "messageUrl": a.url, "picUrl": a.picurl.clone().unwrap_or_default()}),
            )
        }
        Message::Text { text, .. } => ("sampleText", json!({"content": text})),
        other => (
            "sampleText",
            json!({"content": render(other)["text"]["content"].as_str().unwrap_or("")}),
        ),
    }
}

/// The session webhook, or the robot API to a group or a user.
pub(crate) fn send_request(call: &Call<'_>, token: &str) -> Result<HttpRequest, SendError> {
    if let Some(url) = session_webhook(call) {
        return Ok(HttpRequest::post(url, render(call.message).to_string()));
    }
    let c = credentials(call.bot)?;
    let robot = required(
        call.bot,
        "robot_code",
        call.bot.robot_code.as_deref().or(c.app_key.as_deref()),
    )?;
    let (key, param) = robot_param(call.message);
    let (group, to) = match call.target {
        Target::Reply(ev) => match (ev.chat_type.as_deref(), ev.chat_id.as_deref(), ev.sender_id.as_deref()) {
            (Some("group"), Some(cid), _) => (true, cid),
            (_, _, Some(user)) => (false, user),
            _ => return Err(SendError::Permanent("the event has no conversation or sender".into())),
        },
        Target::To(to) => (to.starts_with("cid"), to),
    };
    let (path, body) = if group {
        (
            "groupMessages/send",
            json!({"robotCode": robot, "openConversationId": to, "msgKey": key, "msgParam": param.to_string()}),
        )
    } else {
        (
            "oToMessages/batchSend",
            json!({"robotCode": robot, "userIds": [to], "msgKey": key, "msgParam": param.to_string()}),
        )
    };
    Ok(
        HttpRequest::post(format!("{}/v1.0/robot/{path}", call.base), body.to_string())
            .header("x-acs-dingtalk-access-token", token),
    )
}

/// Robot API: 2xx; session webhook: `{errcode: 0}`.
pub(crate) fn send_response(resp: &HttpResponse) -> Result<(), SendError> {
    classify_errcode(&api_answer(resp)?, &[], &RETRYABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dingtalk_session_webhooks_are_used() {
        let hosts = vec!["oapi.dingtalk.com".to_owned()];
        assert!(session_webhook_allowed(
            "https://oapi.dingtalk.com/robot/sendBySession?session=abc",
            &hosts
        ));
        for bad in [
            "https://evil.example.com/robot/sendBySession?session=abc",
            "http://oapi.dingtalk.com/robot/sendBySession?session=abc",
            "https://oapi.dingtalk.com/robot/send?access_token=x",
            "http://127.0.0.1:9000/admin/delete",
            "https://x@oapi.dingtalk.com/robot/sendBySession",
        ] {
            assert!(!session_webhook_allowed(bad, &hosts), "{bad}");
        }
        let local = vec!["127.0.0.1".to_owned()];
        assert!(session_webhook_allowed(
            "http://127.0.0.1:9000/robot/sendBySession?session=s",
            &local
        ));
        assert!(!session_webhook_allowed("http://127.0.0.1:9000/admin", &local));
    }
}
