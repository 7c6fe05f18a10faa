//! Named notification targets from the `targets:` map of the configuration.
//!
//! ```yaml
//! targets:
//!   ops-dingtalk: {type: dingtalk_webhook, url: "${ssm:/botgate/ops/dingtalk_url}", secret: "${ssm:/botgate/ops/dingtalk_secret}"}
//!   ops-feishu:   {type: feishu_webhook, url: "https://open.feishu.cn/open-apis/bot/v2/hook/...", secret: "..."}
//!   ops-wecom:    {type: wecom_webhook, url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."}
//!   oncall:       {type: app, bot: feishu-demo, to: oc_xxx}
//!   pager:        {type: sns, topic_arn: "arn:aws:sns:eu-west-1:123456789012:botgate-pager"}
//!   oncall-mail:  {type: email, from: "botgate <alerts@example.com>", to: "oncall@example.com, lead@example.com"}
//! ```
//!
//! Rate limits default to the platforms' published ones (Feishu bot 5/s and 100/min,
//! DingTalk robot 20/min, WeCom bot 20/min; SES 1/s, its sandbox rate; app chats and SNS
//! none) and can be set with `rate_limit: [{per_secs: 60, max: 10}]`. When the limit would
//! hold a notification longer than `digest_after_secs` (default 30) while others wait
//! behind it, they are folded into one digest (see [`super::digest`]); `digest: false`
//! sends them one by one instead.

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
    /// An Amazon SNS topic.
    Sns {
        /// The topic's ARN.
        topic_arn: String,
    },
    /// E-mail through Amazon SES.
    Email {
        /// The sender (`address` or `Name <address>`).
        from: String,
        /// The recipients' addresses.
        to: Vec<String>,
    },
}

/// One target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// How it is reached.
    pub kind: TargetKind,
    /// Its chat platform (none for SNS and e-mail).
    pub platform: Option<Platform>,
    /// Its rate limits.
    pub rate: Vec<RateRule>,
    /// Fold what waits behind the rate limit into a digest when the limit would hold the
    /// next notification longer than this (ms); `None`: never.
    pub digest_after_ms: Option<i64>,
    /// The message alert webhooks become on this target (unless a route sets its own).
    pub alert_template: Option<crate::template::MessageSpec>,
}

impl TargetSpec {
    /// The size limit of one message on this target.
    pub fn limit(&self) -> Limit {
        match self.platform {
            Some(Platform::Feishu) => Limit::FEISHU,
            Some(Platform::Dingtalk) => Limit::DINGTALK,
            Some(Platform::Wecom) => Limit::WECOM,
            Some(Platform::Wechat) => Limit::WECHAT,
            None => super::escalation::LIMIT,
        }
    }

    /// The platform's name, or `sns` / `email` (logs, metrics).
    pub fn channel(&self) -> &'static str {
        match (&self.kind, self.platform) {
            (TargetKind::Sns { .. }, _) => "sns",
            (TargetKind::Email { .. }, _) => "email",
            (_, Some(p)) => p.as_str(),
            (_, None) => "none",
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
