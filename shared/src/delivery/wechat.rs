//! WeChat Official Account: `stable_token`, customer-service messages to a user (openid).
//! The stable token endpoint does not invalidate the previous token on an ordinary fetch,
//! which, with the shared cache, keeps instances from breaking each other's tokens.

use serde_json::{Value, json};

use super::call::{Call, SendError, Target, classify_errcode, json_body, required};
use super::transport::{HttpRequest, HttpResponse};
use crate::bot::Bot;
use botgate_core::Credentials;
use botgate_core::platform::wechat::render;
use botgate_core::secret::Secret;

/// Token invalid or expired.
pub const TOKEN_INVALID: [i64; 3] = [40001, 40014, 42001];

/// `POST /cgi-bin/stable_token`.
pub fn token_request(base: &str, bot: &Bot) -> Result<HttpRequest, SendError> {
    let Credentials::Wechat(c) = &bot.credentials else {
        return Err(SendError::Permanent(format!("bot `{}` is not a wechat bot", bot.id)));
    };
    let app_id = required(bot, "app_id", c.app_id.as_deref())?;
    let app_secret = required(bot, "app_secret", c.app_secret.as_ref().map(Secret::expose))?;
    let body = json!({"grant_type": "client_credential", "appid": app_id,
                      "secret": app_secret, "force_refresh": false});
    Ok(HttpRequest::post(
        format!("{base}/cgi-bin/stable_token"),
        body.to_string(),
    ))
}

/// `{access_token, expires_in}` or `{errcode, errmsg}`.
pub fn token_response(resp: &HttpResponse) -> Result<(String, i64), SendError> {
    let v = json_body(resp)?;
    check(&v)?;
    access_token(&v)
}

/// `access_token` and `expires_in` of a token answer (WeChat and WeCom agree on these).
pub(crate) fn access_token(v: &Value) -> Result<(String, i64), SendError> {
    let token = v["access_token"]
        .as_str()
        .ok_or_else(|| SendError::Permanent("token answer without access_token".into()))?;
    Ok((token.to_owned(), v["expires_in"].as_i64().unwrap_or(7200)))
}

/// Classifies `errcode`.
fn check(v: &Value) -> Result<(), SendError> {
    // -1 (system busy) is retried. 45009 (the daily API quota), 45015 (the user has not
    // spoken for 48 h) and 45047 (too many customer-service messages without an answer)
    // are permanent: none clears within minutes.
    classify_errcode(v, &TOKEN_INVALID, &[-1])
}

/// `POST /cgi-bin/message/custom/send?access_token=`.
pub(crate) fn send_request(call: &Call<'_>, token: &str) -> Result<HttpRequest, SendError> {
    let to = match call.target {
        Target::Reply(ev) => ev
            .reply
            .open_id
            .as_deref()
            .or(ev.sender_id.as_deref())
            .ok_or_else(|| SendError::Permanent("the event has no user to reply to".into()))?,
        Target::To(to) => to,
    };
    let mut body = render(call.message);
    body["touser"] = json!(to);
    Ok(HttpRequest::post(
        format!("{}/cgi-bin/message/custom/send?access_token={token}", call.base),
        body.to_string(),
    ))
}

/// `{errcode: 0}` is success.
pub(crate) fn send_response(resp: &HttpResponse) -> Result<(), SendError> {
    check(&json_body(resp)?)
}
