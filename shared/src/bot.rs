//! A configured bot, validated: its platform, its prepared verifier, its inbound options,
//! and the credentials and API settings the dispatcher sends with.

use botgate_core::inbound::Options;
use botgate_core::{Credentials, Platform, Verifier};

/// One configured bot.
#[derive(Clone)]
pub struct Bot {
    /// The id used in the route `/{platform}/{id}`.
    pub id: String,
    /// Its platform.
    pub platform: Platform,
    /// The prepared verifier of its webhook callbacks; `None` for a bot that takes its
    /// events over a long connection only (no webhook credentials).
    pub verifier: Option<Verifier>,
    /// How it receives events.
    pub mode: BotMode,
    /// Inbound options.
    pub options: Options,
    /// The credentials (hold secrets: never log them).
    pub credentials: Credentials,
    /// The API base URL for this bot's sends (Lark: `https://open.larksuite.com`), when it
    /// differs from the platform's.
    pub api_base: Option<String>,
    /// DingTalk: the robot code for the robot API (default: the app key).
    pub robot_code: Option<String>,
    /// Whom to tell when its replies cannot be delivered for a while.
    pub fallback: Option<Fallback>,
    /// How its rules' replies are sent (WeChat and WeCom: in the callback's answer or
    /// through the API).
    pub reply_via: ReplyVia,
}

/// How a bot's rule replies go out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplyVia {
    /// Through the platform's API, from the dispatcher.
    #[default]
    Api,
    /// WeChat, WeCom: the first reply is the callback's answer (a passive reply), computed in
    /// the callback; no API call, and further replies to the message are not sent.
    Passive,
    /// WeChat, WeCom: the first reply passive, further ones through the API.
    Auto,
}

impl ReplyVia {
    /// The default on `platform`: passive on WeChat Official Accounts (every account type
    /// can answer passively; unverified ones cannot call the customer-service API), the API
    /// elsewhere.
    pub fn default_for(platform: Platform) -> Self {
        match platform {
            Platform::Wechat => Self::Passive,
            _ => Self::Api,
        }
    }
}

/// A bot's fallback: a target told once per outage that the bot's replies are held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The notification target.
    pub target: String,
    /// How long the breaker must have been open first, ms.
    pub after_ms: i64,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("id", &self.id)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// How a bot receives its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BotMode {
    /// The platform calls botgate's callback URL.
    #[default]
    Webhook,
    /// botgate opens a long connection to the platform (Feishu/Lark 长连接, DingTalk Stream)
    /// and takes the events off it (`botgate connect`, `botgate serve`); its callback URL
    /// still works when it has webhook credentials too.
    LongConnection,
}

impl Bot {
    /// A bot from its credentials with default options (tests, tools).
    pub fn new(id: &str, credentials: Credentials) -> Result<Self, botgate_core::inbound::CredentialsError> {
        let credentials_platform = credentials.platform();
        Ok(Self {
            id: id.to_owned(),
            platform: credentials.platform(),
            verifier: Some(Verifier::new(credentials.clone())?),
            mode: BotMode::Webhook,
            options: Options::default(),
            credentials,
            api_base: None,
            robot_code: None,
            fallback: None,
            reply_via: ReplyVia::default_for(credentials_platform),
        })
    }

    /// The resolved credentials (hold secrets: never log them).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }
}
