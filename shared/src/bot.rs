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
        })
    }

    /// The resolved credentials (hold secrets: never log them).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }
}
