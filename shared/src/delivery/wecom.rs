//! WeCom: `gettoken` and application messages (`message/send`) to users. A resend of an
//! effect that may already have been delivered turns on WeCom's duplicate check, so an
//! identical message to the same users within 30 minutes is dropped by the platform.

use serde_json::{Value, json};

use super::call::{Call, SendError, Target, classify_errcode, json_body, required};
use super::transport::{HttpRequest, HttpResponse};
use crate::bot::Bot;
use botgate_core::Credentials;
use botgate_core::platform::wecom::{self, render_app};
use botgate_core::secret::Secret;

fn credentials(bot: &Bot) -> Result<&wecom::Credentials, SendError> {
    match &bot.credentials {
        Credentials::Wecom(c) => Ok(c),
        _ => Err(SendError::Permanent(format!("bot `{}` is not a wecom bot", bot.id))),
    }
}

/// Token invalid or expired.
pub const TOKEN_INVALID: [i64; 3] = [40001, 40014, 42001];
/// Worth retrying: system busy, frequency and concurrency limits.
pub const RETRYABLE: [i64; 3] = [-1, 45009, 45033];

/// `GET /cgi-bin/gettoken?corpid&corpsecret`.
pub fn token_request(base: &str, bot: &Bot) -> Result<HttpRequest, SendError> {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "corpid",
            required(bot, "corp_id", credentials(bot)?.corp_id.as_deref())?,
        )
        .append_pair(
            "corpsecret",
            required(
                bot,
                "corp_secret",
                credentials(bot)?.corp_secret.as_ref().map(Secret::expose),
            )?,
        )
        .finish();
    Ok(HttpRequest::get(format!("{base}/cgi-bin/gettoken?{query}")))
}

/// `{errcode: 0, access_token, expires_in}`.
pub fn token_response(resp: &HttpResponse) -> Result<(String, i64), SendError> {
    let v = json_body(resp)?;
    check(&v)?;
    super::wechat::access_token(&v)
}

fn check(v: &Value) -> Result<(), SendError> {
    classify_errcode(v, &TOKEN_INVALID, &RETRYABLE)
}

/// The agent id to send as: the event's `AgentID` (a reply) or the bot's `agent_id`, as the
/// number WeCom wants.
pub(crate) fn agent(bot: &Bot, from_event: Option<&str>) -> Result<Value, SendError> {
    let agent = match from_event {
        Some(a) => a,
        None => required(bot, "agent_id", credentials(bot)?.agent_id.as_deref())?,
    };
    agent
        .parse::<i64>()
        .map(Value::from)
        .map_err(|_| SendError::Permanent(format!("bot `{}`: agent_id must be a number", bot.id)))
}

/// `POST /cgi-bin/message/send?access_token=` with `touser` and `agentid`.
pub(crate) fn send_request(call: &Call<'_>, token: &str) -> Result<HttpRequest, SendError> {
    let (to, agent) = match call.target {
        Target::Reply(ev) => (
            ev.reply
                .open_id
                .as_deref()
                .or(ev.sender_id.as_deref())
                .ok_or_else(|| SendError::Permanent("the event has no user to reply to".into()))?,
            ev.reply.agent_id.as_deref(),
        ),
        Target::To(to) => (to, None),
    };
    let agent = self::agent(call.bot, agent)?;
    // An interactive card's task id: the effect's key, so a resend carries the same one.
    let task_id = format!("bg-{}", call.idem.key);
    let mut body = render_app(call.message, &task_id);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("touser".into(), json!(to));
        obj.insert("agentid".into(), agent);
        if call.idem.resend {
            obj.insert("enable_duplicate_check".into(), json!(1));
            obj.insert("duplicate_check_interval".into(), json!(1800));
        }
    }
    Ok(HttpRequest::post(
        format!("{}/cgi-bin/message/send?access_token={token}", call.base),
        body.to_string(),
    ))
}

/// `{errcode: 0}` is success.
pub(crate) fn send_response(resp: &HttpResponse) -> Result<(), SendError> {
    check(&json_body(resp)?)
}
