//! Custom group bots: Feishu (signed in the body), DingTalk (signed in the query), WeCom
//! (the key in the URL is the credential).

use serde_json::{Value, json};

use crate::delivery::transport::{HttpRequest, HttpResponse};
use crate::delivery::{SendError, classify_code, json_body};
use botgate_core::event::Platform;
use botgate_core::message::Message;
use botgate_core::platform::{dingtalk, feishu, wecom};
use botgate_core::secret::Secret;

/// One custom group bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its platform.
    pub platform: Platform,
    /// The webhook URL (`.../bot/v2/hook/<token>`, `.../robot/send?access_token=`,
    /// `.../webhook/send?key=`).
    pub url: Secret,
    /// The signing secret (Feishu, DingTalk), if the bot has signing on.
    pub secret: Option<Secret>,
}

impl Webhook {
    /// The request that sends `message` at `now_ms`, signed where the platform signs.
    pub fn request(&self, message: &Message, now_ms: i64) -> Result<HttpRequest, SendError> {
        let url = self.url.expose();
        Ok(match self.platform {
            Platform::Feishu => {
                let mut body = feishu::render(message);
                if let Some(s) = &self.secret {
                    let ts = now_ms.div_euclid(1000);
                    body["timestamp"] = json!(ts.to_string());
                    body["sign"] = json!(feishu::webhook_sign(s.expose(), ts));
                }
                HttpRequest::post(url, body.to_string())
            }
            Platform::Dingtalk => {
                let url = match &self.secret {
                    Some(s) => dingtalk::webhook_url(url, s.expose(), now_ms),
                    None => url.to_owned(),
                };
                HttpRequest::post(url, dingtalk::render(message).to_string())
            }
            Platform::Wecom => HttpRequest::post(url, wecom::render_bot(message).to_string()),
            Platform::Wechat => {
                return Err(SendError::Permanent(
                    "WeChat Official Accounts have no group bots".into(),
                ));
            }
        })
    }

    /// How this platform's answers are classified.
    pub fn classifier(&self) -> fn(&HttpResponse) -> Result<(), SendError> {
        match self.platform {
            Platform::Feishu => feishu_answer,
            Platform::Dingtalk => dingtalk_answer,
            _ => wecom_answer,
        }
    }
}

fn code(v: &Value, names: &[&str]) -> i64 {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(Value::as_i64))
        .unwrap_or(0)
}

fn message(v: &Value) -> &str {
    ["msg", "errmsg", "StatusMessage"]
        .iter()
        .find_map(|n| v.get(*n).and_then(Value::as_str))
        .unwrap_or_default()
}

/// Feishu bot: `code` (or the legacy `StatusCode`) 0; 11232 frequency limited (retry);
/// 9499 bad request, 19021 sign mismatch or stale timestamp, 19022 IP, 19024 keyword.
pub fn feishu_answer(resp: &HttpResponse) -> Result<(), SendError> {
    let v = json_body(resp)?;
    classify_code("code", code(&v, &["code", "StatusCode"]), message(&v), &[], &[11232])
}

/// `errcode` 0 is success; the codes in `retry` are worth retrying; any other is permanent.
fn errcode_answer(resp: &HttpResponse, retry: &[i64]) -> Result<(), SendError> {
    let v = json_body(resp)?;
    classify_code("errcode", code(&v, &["errcode"]), message(&v), &[], retry)
}

/// DingTalk robot: `errcode` 0; 130101 sending too fast and -1 busy (retry); 310000
/// keyword, timestamp, sign or IP; 460101 too long.
pub fn dingtalk_answer(resp: &HttpResponse) -> Result<(), SendError> {
    errcode_answer(resp, &[130_101, -1])
}

/// WeCom bot: `errcode` 0; 45009 over the 20/min limit and -1 busy (retry).
pub fn wecom_answer(resp: &HttpResponse) -> Result<(), SendError> {
    errcode_answer(resp, &[45009, -1])
}
