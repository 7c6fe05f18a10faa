//! One module per platform (inbound verification and normalization, outbound signing and
//! rendering, sample callbacks), and the dispatch over them: [`Credentials`] and
//! [`Verifier`]. The platform modules implement the contract of [`crate::inbound`] and
//! never look up here.

pub mod dingtalk;
pub mod feishu;
pub mod wechat;
pub mod wecom;

use crate::answer::Answer;
use crate::event::{Event, Platform};
use crate::inbound::{Accepted, CredentialsError, Options, OwnedRequest, Rejection, Request, Response, SampleKind};

/// The event without the credentials its payload carries, for handing to someone else (a
/// forward): Feishu's verification token and card token (`token` at the top, in `header`
/// and in `event`), and, unless `keep_session_webhook`, DingTalk's `sessionWebhook` (a URL
/// that lets whoever holds it post to the conversation until it expires), and WeCom's
/// `ResponseCode` (it updates the card of a card event once). WeChat payloads carry no
/// credential.
pub fn shareable(event: &Event, keep_session_webhook: bool) -> Event {
    let mut out = event.clone();
    let strip: &[&[&str]] = match event.platform {
        Platform::Feishu => &[&["token"], &["header", "token"], &["event", "token"]],
        Platform::Dingtalk if !keep_session_webhook => &[&["sessionWebhook"], &["sessionWebhookExpiredTime"]],
        _ => &[],
    };
    if !strip.is_empty()
        && let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&event.raw)
    {
        for path in strip {
            let Some((last, parents)) = path.split_last() else {
                continue;
            };
            let mut at = Some(&mut v);
            for p in parents {
                at = at.and_then(|x| x.get_mut(*p));
            }
            if let Some(serde_json::Value::Object(map)) = at {
                map.remove(*last);
            }
        }
        out.raw = v.to_string();
    }
    if event.platform == Platform::Dingtalk && !keep_session_webhook {
        out.reply.session_webhook = None;
        out.reply.session_webhook_expires_ms = None;
    }
    // WeCom's ResponseCode lets whoever holds it update the card once.
    if out.reply.response_code.take().is_some()
        && let Some(start) = out.raw.find("<ResponseCode>")
        && let Some(len) = out.raw[start..].find("</ResponseCode>")
    {
        out.raw.replace_range(start..start + len + "</ResponseCode>".len(), "");
    }
    out
}

/// A bot's credentials, by platform, under the platform consoles' names.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Feishu / Lark.
    Feishu(feishu::Credentials),
    /// DingTalk.
    Dingtalk(dingtalk::Credentials),
    /// WeChat Official Account.
    Wechat(wechat::Credentials),
    /// WeCom.
    Wecom(wecom::Credentials),
}

impl Credentials {
    /// Reads a credentials object with the vectors' field names (`encrypt_key`, `token`, ...)
    /// for `platform`. Names the field that is wrong, never its value.
    pub fn from_json(platform: Platform, credentials: &serde_json::Value) -> Result<Self, CredentialsError> {
        fn parse<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, CredentialsError> {
            T::deserialize(v).map_err(|e| CredentialsError::Shape(crate::secret::redact_serde_error(&e.to_string())))
        }
        Ok(match platform {
            Platform::Feishu => Self::Feishu(parse(credentials)?),
            Platform::Dingtalk => Self::Dingtalk(parse(credentials)?),
            Platform::Wechat => Self::Wechat(parse(credentials)?),
            Platform::Wecom => Self::Wecom(parse(credentials)?),
        })
    }

    /// The platform these credentials are for.
    pub fn platform(&self) -> Platform {
        match self {
            Self::Feishu(_) => Platform::Feishu,
            Self::Dingtalk(_) => Platform::Dingtalk,
            Self::Wechat(_) => Platform::Wechat,
            Self::Wecom(_) => Platform::Wecom,
        }
    }

    /// One field by its console name (`encrypt_key`, `corp_id`, ...), when set. Holds
    /// secrets: for the code that has to use them, never for logs.
    pub fn field(&self, name: &str) -> Option<&str> {
        fn s(v: &Option<crate::secret::Secret>) -> Option<&str> {
            v.as_ref().map(crate::secret::Secret::expose)
        }
        fn p(v: &Option<String>) -> Option<&str> {
            v.as_deref()
        }
        match (self, name) {
            (Self::Feishu(c), "app_id") => p(&c.app_id),
            (Self::Feishu(c), "app_secret") => s(&c.app_secret),
            (Self::Feishu(c), "encrypt_key") => s(&c.encrypt_key),
            (Self::Feishu(c), "verification_token") => s(&c.verification_token),
            (Self::Dingtalk(c), "token") => s(&c.token),
            (Self::Dingtalk(c), "aes_key") => s(&c.aes_key),
            (Self::Dingtalk(c), "app_key") => p(&c.app_key),
            (Self::Dingtalk(c), "app_secret") => s(&c.app_secret),
            (Self::Dingtalk(c), "receive_id") => p(&c.receive_id),
            (Self::Wechat(c), "token") => s(&c.token),
            (Self::Wechat(c), "encoding_aes_key") => s(&c.encoding_aes_key),
            (Self::Wechat(c), "app_id") => p(&c.app_id),
            (Self::Wechat(c), "app_secret") => s(&c.app_secret),
            (Self::Wecom(c), "token") => s(&c.token),
            (Self::Wecom(c), "encoding_aes_key") => s(&c.encoding_aes_key),
            (Self::Wecom(c), "corp_id") => p(&c.corp_id),
            (Self::Wecom(c), "corp_secret") => s(&c.corp_secret),
            (Self::Wecom(c), "agent_id") => p(&c.agent_id),
            _ => None,
        }
        .filter(|v| !v.is_empty())
    }

    /// A ready-to-send sample callback for these credentials (signed, and encrypted where
    /// the credentials turn encryption on). `now` is Unix seconds.
    pub fn sample_request(&self, kind: SampleKind, text: &str, now: i64) -> Result<OwnedRequest, String> {
        match self {
            Self::Feishu(c) => feishu::sample_request(c, kind, text, now),
            Self::Dingtalk(c) => dingtalk::sample_request(c, kind, text, now),
            Self::Wechat(c) => wechat::sample_request(c, kind, text, now),
            Self::Wecom(c) => wecom::sample_request(c, kind, text, now),
        }
    }
}

/// A bot's verifier: its credentials checked and its keys derived, ready for requests.
#[derive(Debug, Clone)]
pub enum Verifier {
    /// Feishu / Lark.
    Feishu(feishu::Verifier),
    /// DingTalk.
    Dingtalk(dingtalk::Verifier),
    /// WeChat Official Account.
    Wechat(wechat::Verifier),
    /// WeCom.
    Wecom(wecom::Verifier),
}

impl Verifier {
    /// Prepares a verifier from a bot's credentials.
    pub fn new(credentials: Credentials) -> Result<Self, CredentialsError> {
        Ok(match credentials {
            Credentials::Feishu(c) => Self::Feishu(feishu::Verifier::new(c)?),
            Credentials::Dingtalk(c) => Self::Dingtalk(dingtalk::Verifier::new(c)?),
            Credentials::Wechat(c) => Self::Wechat(wechat::Verifier::new(c)?),
            Credentials::Wecom(c) => Self::Wecom(wecom::Verifier::new(c)?),
        })
    }

    /// Builds a verifier from a credentials object with the vectors' field names.
    pub fn from_credentials(platform: Platform, credentials: &serde_json::Value) -> Result<Self, CredentialsError> {
        Self::new(Credentials::from_json(platform, credentials)?)
    }

    /// The platform this verifier speaks.
    pub fn platform(&self) -> Platform {
        match self {
            Self::Feishu(_) => Platform::Feishu,
            Self::Dingtalk(_) => Platform::Dingtalk,
            Self::Wechat(_) => Platform::Wechat,
            Self::Wecom(_) => Platform::Wecom,
        }
    }

    /// Verifies, decrypts, parses and normalizes one request. `now` is Unix seconds.
    pub fn verify(&self, req: &Request<'_>, now: i64, opts: &Options) -> Result<Accepted, Rejection> {
        match self {
            Self::Feishu(v) => v.verify(req, now, opts),
            Self::Dingtalk(v) => v.verify(req, now, opts),
            Self::Wechat(v) => v.verify(req, now, opts),
            Self::Wecom(v) => v.verify(req, now, opts),
        }
    }

    /// `answer` to `event` (accepted from `req` by this verifier) as the callback's HTTP
    /// response, when the platform takes it: a passive reply on WeChat and WeCom (sealed in
    /// safe mode, cut to the platform's size), a card action's answer on Feishu (toast and
    /// card) and WeCom (`update_button`). `None` when the platform has no such answer.
    /// `now`: Unix seconds.
    pub fn answer(&self, req: &Request<'_>, event: &Event, answer: &Answer, now: i64) -> Option<Response> {
        let reply_xml = || {
            let to = event.reply.open_id.as_deref().or(event.sender_id.as_deref())?;
            let from = event.reply.to_user.as_deref()?;
            Some(match answer {
                Answer::Reply(msg) => {
                    let limit = match self.platform() {
                        Platform::Wecom => crate::limits::Limit::WECOM,
                        _ => crate::limits::Limit::WECHAT,
                    };
                    wechat::passive_xml(&crate::limits::fit_one(limit, msg), to, from, now)
                }
                Answer::Card(card) => {
                    let label = card
                        .button
                        .clone()
                        .or_else(|| card.card.as_ref().map(wecom::replace_name))
                        .filter(|l| !l.is_empty())?;
                    wechat::update_button_xml(to, from, now, &label)
                }
            })
        };
        match (self, answer) {
            (Self::Feishu(_), Answer::Card(card)) if !card.is_empty() => {
                Some(Response::json(feishu::render::answer(card).to_string()))
            }
            (Self::Wechat(v), Answer::Reply(_)) => Some(v.seal_answer(req, &reply_xml()?, now)),
            (Self::Wecom(v), Answer::Reply(_)) if event.kind != crate::event::EventKind::CardAction => {
                Some(v.seal_answer(req, &reply_xml()?, now))
            }
            (Self::Wecom(v), Answer::Card(_)) if event.kind == crate::event::EventKind::CardAction => {
                Some(v.seal_answer(req, &reply_xml()?, now))
            }
            _ => None,
        }
    }

    /// The default timestamp window for this platform, in seconds.
    pub fn default_window_secs(&self) -> u64 {
        match self {
            Self::Feishu(_) => feishu::DEFAULT_WINDOW_SECS,
            Self::Dingtalk(_) => dingtalk::DEFAULT_WINDOW_SECS,
            Self::Wechat(_) => wechat::DEFAULT_WINDOW_SECS,
            Self::Wecom(_) => wecom::DEFAULT_WINDOW_SECS,
        }
    }
}
