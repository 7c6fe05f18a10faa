//! The outbound message model: one description of a message, rendered to each platform's
//! JSON by that platform's module (`feishu::render`, `dingtalk::render`,
//! `wecom::render_bot`, `wechat::render`).

use std::collections::BTreeMap;

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

/// A button on a card: a link it opens (`url`), or an action it sends back to the bot
/// (`action`), which rules match with `when: {action: {name: ...}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Button {
    /// The label.
    pub text: String,
    /// The URL it opens (a link button).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An action button: the name sent back when it is pressed (Feishu, WeCom; DingTalk
    /// and WeChat have no action buttons: see the README's card table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What an action button sends back besides its name (`event.action.value`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub value: BTreeMap<String, String>,
    /// A question the platform asks before the action is sent (Feishu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// `primary`, `danger` or `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
}

impl Button {
    /// A link button.
    pub fn link(text: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// The value an action button sends back: its `value` fields and `name`.
    pub fn action_value(&self) -> Option<serde_json::Value> {
        let name = self.action.as_deref()?;
        Some(action_value(name, &self.value))
    }
}

/// The value object botgate puts on an action button or select: `name` and the fields.
pub fn action_value(name: &str, fields: &BTreeMap<String, String>) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in fields {
        m.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    m.insert("name".into(), serde_json::Value::String(name.to_owned()));
    serde_json::Value::Object(m)
}

/// A drop-down on a card: choosing an option sends `action` back with the option's value
/// (`event.action.option`). Feishu sends it at once; WeCom with the next button press.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Select {
    /// The action name sent back.
    pub action: String,
    /// Shown before anything is chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// The options.
    pub options: Vec<SelectOption>,
    /// What it sends back besides its name and the option.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub value: BTreeMap<String, String>,
}

/// One option of a [`Select`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SelectOption {
    /// The label.
    pub text: String,
    /// The value sent back.
    pub value: String,
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
        /// Buttons: links, or actions sent back to the bot.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Button>,
        /// Drop-downs.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        selects: Vec<Select>,
        /// Header colour (Feishu template name such as `red`, `orange`, `green`, `blue`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        color: Option<String>,
        /// Mentions.
        #[serde(default, skip_serializing_if = "Mentions::is_empty")]
        mentions: Mentions,
    },
    /// An image: a platform media key (Feishu `image_key`, WeChat `media_id`), or a URL or a
    /// local file that the dispatcher uploads through the platform's media API first.
    Image {
        /// Platform media key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// Public URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// A file on the machine that sends (`botgate serve`, `botgate connect`, a container).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// A file: a platform media key, or a URL or local file uploaded first (Feishu, WeCom;
    /// elsewhere its URL is sent as a link).
    File {
        /// Platform media key (Feishu `file_key`, WeCom `media_id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// Public URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// A file on the machine that sends.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// The name shown (default: the last part of the URL or path).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
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

    /// Whether it is a card with action buttons or drop-downs (an interactive card).
    pub fn is_interactive(&self) -> bool {
        match self {
            Self::Card { buttons, selects, .. } => !selects.is_empty() || buttons.iter().any(|b| b.action.is_some()),
            _ => false,
        }
    }

    /// A file's name: its own, else the last part of its URL or path.
    pub fn file_name(&self) -> Option<String> {
        let (name, url, path) = match self {
            Self::File { name, url, path, .. } => (name.as_deref(), url.as_deref(), path.as_deref()),
            Self::Image { url, path, .. } => (None, url.as_deref(), path.as_deref()),
            _ => return None,
        };
        name.map(str::to_owned).or_else(|| {
            let from = path.or(url)?;
            let from = from.split(['?', '#']).next().unwrap_or(from);
            from.rsplit(['/', '\\'])
                .next()
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        })
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
