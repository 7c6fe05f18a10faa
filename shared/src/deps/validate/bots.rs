//! `bots:` each bot's fields for its platform, its credentials checked by building its
//! verifier, its options and API settings.

use std::collections::BTreeMap;

use botgate_core::inbound::{CredentialsError, DEFAULT_MAX_BODY_BYTES, Options};
use botgate_core::platform::{dingtalk, feishu, wechat, wecom};
use botgate_core::secret::Secret;
use botgate_core::{Credentials, Platform, Verifier};

use super::scope::{Field, Scope};
use crate::bot::{Bot, BotMode};
use crate::config::file;

/// The credential fields each platform takes (besides the options every bot has).
pub(crate) fn fields_of(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Feishu => &[
            "app_id",
            "app_secret",
            "encrypt_key",
            "verification_token",
            "api_base",
            "card_answer",
        ],
        Platform::Wechat => &[
            "token",
            "encoding_aes_key",
            "app_id",
            "app_secret",
            "allow_plain",
            "api_base",
        ],
        Platform::Wecom => &[
            "token",
            "encoding_aes_key",
            "corp_id",
            "corp_secret",
            "agent_id",
            "api_base",
        ],
        Platform::Dingtalk => &[
            "token",
            "aes_key",
            "app_key",
            "app_secret",
            "receive_id",
            "robot_code",
            "api_base",
        ],
    }
}

/// The credential fields that are set, with their lines.
fn present(b: &file::Bot) -> Vec<(&'static str, usize)> {
    let text = |name: &'static str, t: &Option<crate::config::Text>| t.as_ref().map(|t| (name, t.line));
    [
        text("app_id", &b.app_id),
        text("app_secret", &b.app_secret),
        text("encrypt_key", &b.encrypt_key),
        text("verification_token", &b.verification_token),
        text("token", &b.token),
        text("encoding_aes_key", &b.encoding_aes_key),
        b.allow_plain.as_ref().map(|a| ("allow_plain", a.line)),
        text("corp_id", &b.corp_id),
        text("corp_secret", &b.corp_secret),
        b.agent_id.as_ref().map(|a| ("agent_id", a.line)),
        text("aes_key", &b.aes_key),
        text("app_key", &b.app_key),
        text("receive_id", &b.receive_id),
        text("robot_code", &b.robot_code),
        text("api_base", &b.api_base),
        b.card_answer.as_ref().map(|c| ("card_answer", c.line)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn secret(f: Option<&Field>) -> Option<Secret> {
    f.map(|f| Secret::new(f.value.clone()))
}

fn plain(f: Option<&Field>) -> Option<String> {
    f.map(|f| f.value.clone())
}

/// Validates every bot; the valid ones are returned.
pub(crate) fn all(s: &mut Scope<'_>, bots: &BTreeMap<String, file::Bot>) -> BTreeMap<String, Bot> {
    let mut out = BTreeMap::new();
    for (id, b) in bots {
        if let Some(bot) = one(s, id, b) {
            out.insert(id.clone(), bot);
        }
    }
    out
}

fn one(s: &mut Scope<'_>, id: &str, b: &file::Bot) -> Option<Bot> {
    let path = format!("bots.{id}");
    let line = b.platform.line;
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        s.invalid(
            &path,
            line,
            "ids may use letters, digits, `-` and `_` only (they are URL path segments)",
        );
        return None;
    }
    let platform = b.platform.value;
    let allowed = fields_of(platform);
    let mut clean = true;
    for (name, at) in present(b) {
        if !allowed.contains(&name) {
            s.invalid(
                &format!("{path}.{name}"),
                at,
                format!(
                    "`{name}` is not a {platform} field ({platform} bots take {})",
                    allowed.join(", ")
                ),
            );
            clean = false;
        }
    }
    let field = |t: &Option<crate::config::Text>| s.opt(t.as_ref());
    let fields: BTreeMap<&str, Field> = [
        ("app_id", field(&b.app_id)),
        ("app_secret", field(&b.app_secret)),
        ("encrypt_key", field(&b.encrypt_key)),
        ("verification_token", field(&b.verification_token)),
        ("token", field(&b.token)),
        ("encoding_aes_key", field(&b.encoding_aes_key)),
        ("corp_id", field(&b.corp_id)),
        ("corp_secret", field(&b.corp_secret)),
        ("aes_key", field(&b.aes_key)),
        ("app_key", field(&b.app_key)),
        ("receive_id", field(&b.receive_id)),
        ("robot_code", field(&b.robot_code)),
        ("api_base", field(&b.api_base)),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .collect();
    let agent_id = b.agent_id.as_ref().and_then(|a| s.num(&format!("{path}.agent_id"), a));
    let allow_plain = b
        .allow_plain
        .as_ref()
        .and_then(|a| s.flag(&format!("{path}.allow_plain"), a))
        .unwrap_or(false);
    let f = |name: &str| fields.get(name);
    let credentials = match platform {
        Platform::Feishu => Credentials::Feishu(feishu::Credentials {
            app_id: plain(f("app_id")),
            app_secret: secret(f("app_secret")),
            encrypt_key: secret(f("encrypt_key")),
            verification_token: secret(f("verification_token")),
        }),
        Platform::Wechat => Credentials::Wechat(wechat::Credentials {
            token: secret(f("token")),
            encoding_aes_key: secret(f("encoding_aes_key")),
            app_id: plain(f("app_id")),
            app_secret: secret(f("app_secret")),
            allow_plain,
        }),
        Platform::Wecom => Credentials::Wecom(wecom::Credentials {
            token: secret(f("token")),
            encoding_aes_key: secret(f("encoding_aes_key")),
            corp_id: plain(f("corp_id")),
            corp_secret: secret(f("corp_secret")),
            agent_id: agent_id.map(|a| a.to_string()),
        }),
        Platform::Dingtalk => Credentials::Dingtalk(dingtalk::Credentials {
            token: secret(f("token")),
            aes_key: secret(f("aes_key")),
            app_key: plain(f("app_key")),
            app_secret: secret(f("app_secret")),
            receive_id: plain(f("receive_id")),
        }),
    };
    let mode = match b.mode.as_ref().map(|m| (m.value, m.line)) {
        None | Some((file::ReceiveMode::Webhook, _)) => BotMode::Webhook,
        Some((file::ReceiveMode::LongConnection, at)) => {
            match platform {
                Platform::Feishu | Platform::Dingtalk => BotMode::LongConnection,
                Platform::Wechat | Platform::Wecom => {
                    s.invalid(
                    &format!("{path}.mode"),
                    at,
                    format!("{platform} delivers events by webhook only: long_connection is for feishu (lark) and dingtalk"),
                );
                    clean = false;
                    BotMode::Webhook
                }
            }
        }
    };
    if mode == BotMode::LongConnection {
        let needed: &[&str] = match platform {
            Platform::Dingtalk => &["app_key", "app_secret"],
            _ => &["app_id", "app_secret"],
        };
        for name in needed {
            if f(name).is_none() {
                s.invalid(
                    &format!("{path}.{name}"),
                    line,
                    format!(
                        "bot `{id}`: missing field `{name}` (a long connection is opened with {})",
                        needed.join(" and ")
                    ),
                );
                clean = false;
            }
        }
    }
    let verifier = match Verifier::new(credentials.clone()) {
        Ok(v) => Some(v),
        Err(CredentialsError::Invalid { field, .. }) if f(field).is_some_and(|f| f.deferred) => None,
        // Without webhook credentials a long-connection bot has no callback URL.
        Err(CredentialsError::Missing { .. }) if mode == BotMode::LongConnection => None,
        Err(e) => {
            let (at, field_line) = match &e {
                CredentialsError::Invalid { field, .. } => {
                    (format!("{path}.{field}"), f(field).map_or(line, |f| f.line))
                }
                _ => (path.clone(), line),
            };
            s.invalid(&at, field_line, format!("bot `{id}`: {e}"));
            clean = false;
            None
        }
    };
    let mut options = Options::default();
    if let Some(w) = &b.timestamp_window_secs {
        options.timestamp_window_secs = s.num(&format!("{path}.timestamp_window_secs"), w);
    }
    if let Some(m) = &b.max_body_bytes {
        match s.num(&format!("{path}.max_body_bytes"), m).map(usize::try_from) {
            Some(Ok(n)) => options.max_body_bytes = n,
            Some(Err(_)) => s.invalid(&format!("{path}.max_body_bytes"), m.line, "is too large"),
            None => options.max_body_bytes = DEFAULT_MAX_BODY_BYTES,
        }
    }
    if let Some(answer) = &b.card_answer {
        let mut v = serde_json::Value::Object(answer.value.clone());
        s.refs().substitute_value(&mut v);
        options.card_answer = Some(v);
    }
    let fallback = b.fallback.as_ref().and_then(|fb| {
        let target = s.opt(Some(&fb.notify))?.value;
        let after_secs = fb
            .after_secs
            .as_ref()
            .and_then(|n| s.num_in(&format!("{path}.fallback.after_secs"), n, 0, 86_400))
            .unwrap_or(300);
        Some(crate::bot::Fallback {
            target,
            after_ms: i64::try_from(after_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        })
    });
    let reply_via = match b.reply_via.as_ref().map(|r| (r.value, r.line)) {
        None => crate::bot::ReplyVia::default_for(platform),
        Some((via, at)) => match (platform, via) {
            (_, file::ReplyVia::Api) => crate::bot::ReplyVia::Api,
            (Platform::Wechat | Platform::Wecom, file::ReplyVia::Passive) => crate::bot::ReplyVia::Passive,
            (Platform::Wechat | Platform::Wecom, file::ReplyVia::Auto) => crate::bot::ReplyVia::Auto,
            (_, _) => {
                s.invalid(
                    &format!("{path}.reply_via"),
                    at,
                    format!("{platform} has no passive replies: reply_via passive and auto are for wechat and wecom"),
                );
                clean = false;
                crate::bot::ReplyVia::Api
            }
        },
    };
    let api_base = f("api_base").map(|u| u.value.trim_end_matches('/').to_owned());
    if let Some(u) = f("api_base")
        && !s.url(&format!("{path}.api_base"), u)
    {
        clean = false;
    }
    if !clean {
        return None;
    }
    // A deferred credential (checked once its reference resolves) leaves no verifier yet.
    if verifier.is_none() && mode == BotMode::Webhook {
        return None;
    }
    Some(Bot {
        id: id.to_owned(),
        platform,
        verifier,
        mode,
        options,
        credentials,
        api_base,
        robot_code: plain(f("robot_code")),
        fallback,
        reply_via,
    })
}
