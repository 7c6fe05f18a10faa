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

/// `text` with the platforms' mention markup made inert: Feishu's `<at user_id="all">`
/// and WeCom markdown's `<@userid>` get a zero-width space after `<`, so they show as typed
/// and notify nobody. Applied to the values templates insert (what users wrote), never to
/// the mentions a configuration asks for (those are rendered from [`Mentions`]).
pub fn defuse_mentions(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let hot = |i: usize| {
        bytes[i] == b'<'
            && match bytes.get(i + 1) {
                Some(b'@') => true,
                Some(b'/') => bytes.get(i + 2..i + 4).is_some_and(|w| w.eq_ignore_ascii_case(b"at")),
                Some(_) => bytes.get(i + 1..i + 3).is_some_and(|w| w.eq_ignore_ascii_case(b"at")),
                None => false,
            }
    };
    if !(0..bytes.len()).any(hot) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (i, c) in text.char_indices() {
        out.push(c);
        if hot(i) {
            out.push('\u{200B}');
        }
    }
    std::borrow::Cow::Owned(out)
}

impl Message {
    /// Whom it mentions (text, markdown and cards; other kinds mention no one).
    pub fn mentions_mut(&mut self) -> Option<&mut Mentions> {
        match self {
            Self::Text { mentions, .. } | Self::Markdown { mentions, .. } | Self::Card { mentions, .. } => {
                Some(mentions)
            }
            _ => None,
        }
    }

    /// A plain text message without mentions.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            mentions: Mentions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mention_markup_in_user_text_is_made_inert() {
        assert_eq!(
            defuse_mentions(r#"hi <at user_id="all"></at> and <AT id=all></AT>"#),
            "hi <\u{200B}at user_id=\"all\"><\u{200B}/at> and <\u{200B}AT id=all><\u{200B}/AT>"
        );
        assert_eq!(defuse_mentions("<@zhangsan> 你好"), "<\u{200B}@zhangsan> 你好");
        assert!(matches!(defuse_mentions("a < b, x@y.z"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(defuse_mentions("<a href>"), "<a href>");
    }
}
