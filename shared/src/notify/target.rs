//! Named notification targets from the `targets:` map of the configuration.
//!
//! ```yaml
//! targets:
//!   ops-dingtalk: {type: dingtalk_webhook, url: "${ssm:/botgate/ops/dingtalk_url}", secret: "${ssm:/botgate/ops/dingtalk_secret}"}
//!   ops-feishu:   {type: feishu_webhook, url: "https://open.feishu.cn/open-apis/bot/v2/hook/...", secret: "..."}
//!   ops-wecom:    {type: wecom_webhook, url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."}
//!   oncall:       {type: app, bot: feishu-demo, to: oc_xxx}
//! ```
//!
//! Rate limits default to the platforms' published ones (Feishu bot 5/s and 100/min,
//! DingTalk robot 20/min, WeCom bot 20/min; app chats none) and can be set with
//! `rate_limit: [{per_secs: 60, max: 10}]`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::limits::Limit;
use super::rate::RateRule;
use super::webhook::Webhook;
use crate::config::Bot;
use crate::event::Platform;
use crate::secret::Secret;

/// How a target is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// A custom group bot.
    Webhook(Webhook),
    /// A chat or user through a configured app bot.
    App {
        /// The bot id.
        bot: String,
        /// The chat or user id.
        to: String,
    },
}

/// One target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// How it is reached.
    pub kind: TargetKind,
    /// Its platform.
    pub platform: Platform,
    /// Its rate limits.
    pub rate: Vec<RateRule>,
}

impl TargetSpec {
    /// The size limit of one message on this target.
    pub fn limit(&self) -> Limit {
        match self.platform {
            Platform::Feishu => Limit::FEISHU,
            Platform::Dingtalk => Limit::DINGTALK,
            Platform::Wecom => Limit::WECOM,
            Platform::Wechat => Limit::WECHAT,
        }
    }
}

/// The platform's published limits for a custom group bot.
pub fn default_rate(platform: Platform) -> Vec<RateRule> {
    match platform {
        Platform::Feishu => vec![
            RateRule {
                window_ms: 1000,
                max: 5,
            },
            RateRule {
                window_ms: 60_000,
                max: 100,
            },
        ],
        Platform::Dingtalk | Platform::Wecom => vec![RateRule {
            window_ms: 60_000,
            max: 20,
        }],
        Platform::Wechat => Vec::new(),
    }
}

fn parse_rate(v: &Value) -> Result<Option<Vec<RateRule>>, String> {
    let Some(list) = v.get("rate_limit").filter(|r| !r.is_null()) else {
        return Ok(None);
    };
    let list = list
        .as_array()
        .ok_or("`rate_limit` must be a list of {per_secs, max}")?;
    list.iter()
        .map(|r| {
            let per = r["per_secs"]
                .as_u64()
                .ok_or("`rate_limit[].per_secs` must be a whole number")?;
            let max = r["max"].as_u64().ok_or("`rate_limit[].max` must be a whole number")?;
            Ok(RateRule {
                window_ms: i64::try_from(per.saturating_mul(1000)).map_err(|_| "`per_secs` is too large")?,
                max: u32::try_from(max).map_err(|_| "`max` is too large")?,
            })
        })
        .collect::<Result<Vec<_>, &str>>()
        .map(Some)
        .map_err(str::to_owned)
}

/// Parses one target.
pub fn parse(v: &Value, bots: &BTreeMap<String, Bot>) -> Result<TargetSpec, String> {
    let kind = v["type"]
        .as_str()
        .ok_or("missing `type` (feishu_webhook, dingtalk_webhook, wecom_webhook or app)")?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (kind, platform) = match kind {
        "feishu_webhook" | "dingtalk_webhook" | "wecom_webhook" => {
            let platform: Platform = kind.trim_end_matches("_webhook").parse().map_err(|e| format!("{e}"))?;
            let url = text("url").ok_or("missing `url` (the webhook address)")?;
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err("`url` must be an http(s) URL".into());
            }
            let secret = text("secret").map(Secret::new);
            if secret.is_some() && platform == Platform::Wecom {
                return Err("WeCom group bots are not signed: leave out `secret` (the key is in the URL)".into());
            }
            (
                TargetKind::Webhook(Webhook {
                    platform,
                    url: Secret::new(url),
                    secret,
                }),
                platform,
            )
        }
        "app" => {
            let bot = text("bot").ok_or("missing `bot` (a configured bot id)")?;
            let to = text("to").ok_or("missing `to` (a chat or user id)")?;
            let b = bots.get(bot).ok_or_else(|| format!("no bot `{bot}`"))?;
            (
                TargetKind::App {
                    bot: bot.to_owned(),
                    to: to.to_owned(),
                },
                b.platform,
            )
        }
        other => {
            return Err(format!(
                "unknown type `{other}` (feishu_webhook, dingtalk_webhook, wecom_webhook, app)"
            ));
        }
    };
    let rate = match parse_rate(v)? {
        Some(r) => r,
        None if matches!(kind, TargetKind::Webhook(_)) => default_rate(platform),
        None => Vec::new(),
    };
    Ok(TargetSpec { kind, platform, rate })
}
