//! `targets:`, `notify_api:` and `notifications:` checked and built.

use std::collections::BTreeMap;

use serde_json::json;

use super::scope::Scope;
use crate::config::file::{self, TargetType};
use crate::notify::api::ApiSettings;
use crate::notify::calendar;
use crate::notify::escalation;
use crate::notify::rate::RateRule;
use crate::notify::scheduled::Notification;
use crate::notify::target::{TargetKind, TargetSpec, default_rate};
use crate::notify::webhook::Webhook;
use crate::template::Templates;
use botgate_core::Platform;
use botgate_core::secret::Secret;

/// Builds every target; `bots` are the configured bots' platforms.
pub(crate) fn targets(
    s: &mut Scope<'_>,
    targets: &BTreeMap<String, file::Target>,
    bots: &BTreeMap<String, Platform>,
) -> BTreeMap<String, TargetSpec> {
    targets
        .iter()
        .filter_map(|(name, t)| Some((name.clone(), target(s, name, t, bots)?)))
        .collect()
}

/// Builds one target.
pub(crate) fn target(
    s: &mut Scope<'_>,
    name: &str,
    t: &file::Target,
    bots: &BTreeMap<String, Platform>,
) -> Option<TargetSpec> {
    let path = format!("targets.{name}");
    let line = t.kind.line;
    // Each type's own fields; any other is a mistake worth naming.
    let fields: [(&str, Option<usize>, &[TargetType]); 6] = [
        ("url", t.url.as_ref().map(|v| v.line), &WEBHOOKS),
        (
            "secret",
            t.secret.as_ref().map(|v| v.line),
            &[TargetType::FeishuWebhook, TargetType::DingtalkWebhook],
        ),
        ("bot", t.bot.as_ref().map(|v| v.line), &[TargetType::App]),
        (
            "to",
            t.to.as_ref().map(|v| v.line),
            &[TargetType::App, TargetType::Email],
        ),
        ("topic_arn", t.topic_arn.as_ref().map(|v| v.line), &[TargetType::Sns]),
        ("from", t.from.as_ref().map(|v| v.line), &[TargetType::Email]),
    ];
    for (field, at, types) in fields {
        if let Some(at) = at.filter(|_| !types.contains(&t.kind.value)) {
            let why = match (field, t.kind.value) {
                ("secret", TargetType::WecomWebhook) => {
                    "WeCom group bots are not signed: leave out `secret` (the key is in the URL)".to_owned()
                }
                _ => format!(
                    "`{field}` is not a field of `type: {}` targets (it is for {})",
                    type_name(t.kind.value),
                    types
                        .iter()
                        .map(|t| format!("`{}`", type_name(*t)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            s.invalid(&format!("{path}.{field}"), at, why);
            return None;
        }
    }
    let (kind, platform) = match t.kind.value {
        TargetType::FeishuWebhook | TargetType::DingtalkWebhook | TargetType::WecomWebhook => {
            let platform = match t.kind.value {
                TargetType::FeishuWebhook => Platform::Feishu,
                TargetType::DingtalkWebhook => Platform::Dingtalk,
                _ => Platform::Wecom,
            };
            let Some(url) = s.opt(t.url.as_ref()) else {
                s.invalid(&path, line, "missing `url` (the webhook address)");
                return None;
            };
            if !s.url(&format!("{path}.url"), &url) {
                return None;
            }
            let secret = s.opt(t.secret.as_ref());
            (
                TargetKind::Webhook(Webhook {
                    platform,
                    url: Secret::new(url.value),
                    secret: secret.map(|s| Secret::new(s.value)),
                }),
                Some(platform),
            )
        }
        TargetType::App => {
            let Some(bot) = s.opt(t.bot.as_ref()) else {
                s.invalid(&path, line, "missing `bot` (a configured bot id)");
                return None;
            };
            let Some(to) = s.opt(t.to.as_ref()) else {
                s.invalid(&path, line, "missing `to` (a chat or user id)");
                return None;
            };
            let Some(platform) = bots.get(&bot.value).copied() else {
                s.invalid(&format!("{path}.bot"), bot.line, format!("no bot `{}`", bot.value));
                return None;
            };
            (
                TargetKind::App {
                    bot: bot.value,
                    to: to.value,
                },
                Some(platform),
            )
        }
        TargetType::Sns => {
            let Some(arn) = s.opt(t.topic_arn.as_ref()) else {
                s.invalid(&path, line, "missing `topic_arn` (arn:aws:sns:REGION:ACCOUNT:NAME)");
                return None;
            };
            if let Err(e) = escalation::check_topic_arn(&arn.value) {
                s.invalid(&format!("{path}.topic_arn"), arn.line, e);
                return None;
            }
            (TargetKind::Sns { topic_arn: arn.value }, None)
        }
        TargetType::Email => {
            let Some(from) = s.opt(t.from.as_ref()) else {
                s.invalid(&path, line, "missing `from` (an address SES has verified)");
                return None;
            };
            if let Err(e) = escalation::check_address(from.value.trim(), true) {
                s.invalid(&format!("{path}.from"), from.line, e);
                return None;
            }
            let Some(to) = s.opt(t.to.as_ref()) else {
                s.invalid(
                    &path,
                    line,
                    "missing `to` (the recipients' addresses, separated by commas)",
                );
                return None;
            };
            let to_list = match escalation::recipients(&to.value) {
                Ok(list) => list,
                Err(e) => {
                    s.invalid(&format!("{path}.to"), to.line, e);
                    return None;
                }
            };
            (
                TargetKind::Email {
                    from: from.value.trim().to_owned(),
                    to: to_list,
                },
                None,
            )
        }
    };
    let rate = match &t.rate_limit {
        Some(list) => {
            let mut rules = Vec::new();
            for (i, r) in list.iter().enumerate() {
                let at = format!("{path}.rate_limit[{i}]");
                let per = s.num_in(&format!("{at}.per_secs"), &r.per_secs, 1, 86_400);
                let max = s.num_in(&format!("{at}.max"), &r.max, 1, 1_000_000);
                let (Some(per), Some(max)) = (per, max) else {
                    return None;
                };
                rules.push(RateRule {
                    window_ms: i64::try_from(per * 1000).unwrap_or(i64::MAX),
                    max: u32::try_from(max).unwrap_or(u32::MAX),
                });
            }
            rules
        }
        None => match (&kind, platform) {
            (TargetKind::Webhook(_), Some(p)) => default_rate(p),
            (TargetKind::Email { .. }, _) => escalation::DEFAULT_EMAIL_RATE.to_vec(),
            _ => Vec::new(),
        },
    };
    let digest_after_ms = match (t.digest, &t.digest_after_secs) {
        (Some(false), Some(n)) => {
            s.invalid(
                &format!("{path}.digest_after_secs"),
                n.line,
                "`digest: false` turns digests off: leave out `digest_after_secs`",
            );
            return None;
        }
        (Some(false), None) => None,
        (_, Some(n)) => {
            Some(i64::try_from(s.num_in(&format!("{path}.digest_after_secs"), n, 1, 3_600)? * 1000).unwrap_or(i64::MAX))
        }
        (_, None) => Some(crate::notify::digest::DEFAULT_AFTER_MS),
    };
    let alert_template = match &t.alert_template {
        Some(tpl) => Some(super::alerts::alert_template(
            s,
            &format!("{path}.alert_template"),
            tpl,
        )?),
        None => None,
    };
    Some(TargetSpec {
        kind,
        platform,
        rate,
        digest_after_ms,
        alert_template,
    })
}

const WEBHOOKS: [TargetType; 3] = [
    TargetType::FeishuWebhook,
    TargetType::DingtalkWebhook,
    TargetType::WecomWebhook,
];

/// A target type as the configuration writes it.
fn type_name(t: TargetType) -> &'static str {
    match t {
        TargetType::FeishuWebhook => "feishu_webhook",
        TargetType::DingtalkWebhook => "dingtalk_webhook",
        TargetType::WecomWebhook => "wecom_webhook",
        TargetType::App => "app",
        TargetType::Sns => "sns",
        TargetType::Email => "email",
    }
}

/// Builds the notify API's settings.
pub(crate) fn api(s: &mut Scope<'_>, a: &file::NotifyApi) -> Option<ApiSettings> {
    let bearer_token = s.opt(a.bearer_token.as_ref()).map(|t| Secret::new(t.value));
    let hmac_secret = s.opt(a.hmac_secret.as_ref()).map(|t| Secret::new(t.value));
    if bearer_token.is_none() && hmac_secret.is_none() {
        s.invalid(
            "notify_api",
            0,
            "set `bearer_token` or `hmac_secret` (or leave `notify_api` out to turn the API off)",
        );
        return None;
    }
    let offset = s.opt(a.utc_offset.as_ref());
    let utc_offset = match &offset {
        None => time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC),
        Some(o) => match time::UtcOffset::parse(
            o.value.trim(),
            time::macros::format_description!("[offset_hour]:[offset_minute]"),
        ) {
            Ok(v) => v,
            Err(_) => {
                s.invalid("notify_api.utc_offset", o.line, "must be like +08:00");
                return None;
            }
        },
    };
    let window = match &a.timestamp_window_secs {
        Some(w) => s.num_in("notify_api.timestamp_window_secs", w, 1, 3600)?,
        None => 300,
    };
    let allow_templates = match &a.allow_templates {
        Some(f) => s.flag("notify_api.allow_templates", f)?,
        None => false,
    };
    let max_body_bytes = match &a.max_body_bytes {
        Some(n) => usize::try_from(s.num_in("notify_api.max_body_bytes", n, 1024, 6 * 1024 * 1024)?).ok()?,
        None => crate::notify::api::DEFAULT_MAX_BODY_BYTES,
    };
    let retry_window = match &a.alertmanager_retry_window_secs {
        Some(n) => s.num_in("notify_api.alertmanager_retry_window_secs", n, 10, 86_400)?,
        None => u64::try_from(crate::notify::api::DEFAULT_ALERTMANAGER_RETRY_WINDOW_SECS).unwrap_or(600),
    };
    Some(ApiSettings {
        alertmanager_retry_window_secs: i64::try_from(retry_window).unwrap_or(600),
        bearer_token,
        hmac_secret,
        timestamp_window_secs: i64::try_from(window).unwrap_or(300),
        utc_offset,
        mention_all: a.mention_all.clone().unwrap_or_else(|| vec!["critical".into()]),
        allow_templates,
        max_body_bytes,
    })
}

/// Builds the scheduled notifications; `targets` are the configured target names.
pub(crate) fn notifications(
    s: &mut Scope<'_>,
    list: &BTreeMap<String, file::Notification>,
    targets: &BTreeMap<String, ()>,
) -> BTreeMap<String, Notification> {
    let mut out = BTreeMap::new();
    for (name, n) in list {
        let path = format!("notifications.{name}");
        let names = n.targets.value.to_vec();
        if names.is_empty() {
            s.invalid(&format!("{path}.targets"), n.targets.line, "`targets` is empty");
            continue;
        }
        if let Some(t) = names.iter().find(|t| !targets.contains_key(*t)) {
            s.invalid(
                &format!("{path}.targets"),
                n.targets.line,
                format!("no target `{t}` in `targets:`"),
            );
            continue;
        }
        let mut message = n.message.value.clone();
        for text in message.strings_mut() {
            *text = s.refs().substitute(text).0;
        }
        if let Err((field, why)) = Templates::new().add_message(&format!("{path}.message"), &message) {
            s.invalid(&format!("{path}.message.{field}"), n.message.line, why);
            continue;
        }
        let schedule = s.opt(n.schedule.as_ref());
        let timezone = s.opt(n.timezone.as_ref());
        let zone = timezone
            .as_ref()
            .map_or(calendar::DEFAULT_TIMEZONE, |t| t.value.as_str());
        if let Some(e) = &schedule
            && let Err(err) = calendar::Schedule::parse(name, &e.value, zone)
        {
            let (field, line) = match err {
                calendar::ScheduleError::TimeZone { .. } => ("timezone", timezone.as_ref().map_or(e.line, |t| t.line)),
                calendar::ScheduleError::Expression { .. } => ("schedule", e.line),
            };
            s.invalid(&format!("{path}.{field}"), line, err.why());
            continue;
        }
        if schedule.is_none()
            && let Some(t) = &timezone
            && let Err(err) = calendar::Schedule::parse(name, "rate(1 day)", &t.value)
        {
            s.invalid(&format!("{path}.timezone"), t.line, err.why());
            continue;
        }
        let mut data = n.data.clone().unwrap_or_else(|| json!({}));
        s.refs().substitute_value(&mut data);
        out.insert(
            name.clone(),
            Notification {
                name: name.clone(),
                targets: names,
                message,
                data,
                schedule: schedule.map(|f| f.value),
                timezone: timezone.map(|f| f.value),
            },
        );
    }
    out
}
