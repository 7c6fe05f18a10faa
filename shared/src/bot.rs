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
    /// The prepared verifier.
    pub verifier: Verifier,
    /// Inbound options.
    pub options: Options,
    /// The credentials (hold secrets: never log them).
    pub credentials: Credentials,
    /// The API base URL for this bot's sends (Lark: `https://open.larksuite.com`), when it
    /// differs from the platform's.
    pub api_base: Option<String>,
    /// DingTalk: the robot code for the robot API (default: the app key).
    pub robot_code: Option<String>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("id", &self.id)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl Bot {
    /// A bot from its credentials with default options (tests, tools).
    pub fn new(id: &str, credentials: Credentials) -> Result<Self, botgate_core::inbound::CredentialsError> {
        Ok(Self {
            id: id.to_owned(),
            platform: credentials.platform(),
            verifier: Verifier::new(credentials.clone())?,
            options: Options::default(),
            credentials,
            api_base: None,
            robot_code: None,
        })
    }

    /// The resolved credentials (hold secrets: never log them).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }
}
