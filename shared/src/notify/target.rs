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

use super::rate::RateRule;
use super::webhook::Webhook;
use botgate_core::event::Platform;
use botgate_core::limits::Limit;

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
