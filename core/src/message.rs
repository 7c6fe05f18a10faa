//! The outbound message model: one description of a message, rendered to each platform's
//! JSON by that platform's module (`feishu::render`, `dingtalk::render`,
//! `wecom::render_bot`, `wechat::render`).

use serde::{Deserialize, Serialize};

/// Who to mention. Platforms that cannot mention in a given form ignore it: Feishu and
/// WeChat have no mobile mentions, WeChat has no mentions at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Mentions {
    /// @all / @everyone.
    #[serde(default)]
    pub all: bool,
    /// User ids (Feishu `open_id`, DingTalk `userId`, WeCom `userid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<String>,
    /// Mobile numbers (DingTalk, WeCom).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mobiles: Vec<String>,
}

impl Mentions {
    /// True when nobody is mentioned.
    pub fn is_empty(&self) -> bool {
        !self.all && self.user_ids.is_empty() && self.mobiles.is_empty()
    }
}

/// A button on a card: a label and the URL it opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Button {
    /// The label.
    pub text: String,
    /// The URL it opens.
    pub url: String,
}

/// One entry of a link/news message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Title.
    pub title: String,
    /// Short description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Link target.
    pub url: String,
    /// Picture URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picurl: Option<String>,
}

/// A message to send, independent of the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Plain text.
    Text {
        /// The text.
        text: String,
        /// Mentions.
        #[serde(default, skip_serializing_if = "Mentions::is_empty")]
        mentions: Mentions,
    },
    /// Markdown (Feishu: a rich `post` with an `md` element).
    Markdown {
        /// Title (shown in notifications and as the post title).
        title: String,
        /// Markdown text.
        text: String,
        /// Mentions.
        #[serde(default, skip_serializing_if = "Mentions::is_empty")]
        mentions: Mentions,
    },
    /// A card: title, markdown body, optional link buttons and header colour.
    Card {
        /// Title.
        title: String,
        /// Markdown body.
        text: String,
        /// Link buttons.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Button>,
        /// Header colour (Feishu template name such as `red`, `orange`, `green`, `blue`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        color: Option<String>,
        /// Mentions.
        #[serde(default, skip_serializing_if = "Mentions::is_empty")]
        mentions: Mentions,
    },
    /// An image: a platform media key (Feishu `image_key`, WeChat `media_id`) or a URL.
    Image {
        /// Platform media key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// Public URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Links with titles and pictures (DingTalk link/feedCard, WeCom/WeChat news).
    News {
        /// The entries.
        articles: Vec<Article>,
    },
}

impl Message {
    /// A plain text message without mentions.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            mentions: Mentions::default(),
        }
    }
}
