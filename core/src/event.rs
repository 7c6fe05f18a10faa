//! The normalized event: one shape for every platform's callback, with the raw decrypted
//! payload kept beside it.
//!
//! NB: when a variant is added to [`EventKind`] or [`MessageType`], update the platform
//! modules that produce it (`platform/*.rs`), `EventKind::as_str`, and the rule matcher.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The chat platforms botgate speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Feishu / Lark open platform.
    #[serde(alias = "lark")]
    Feishu,
    /// DingTalk open platform.
    #[serde(alias = "ding")]
    Dingtalk,
    /// WeChat Official Account (公众号).
    #[serde(alias = "weixin", alias = "mp")]
    Wechat,
    /// WeCom (企业微信) self-built application.
    #[serde(alias = "wework", alias = "qywx")]
    Wecom,
}

/// The names a configuration may use for a platform (the aliases included).
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Platform {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Platform".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "feishu (or lark), dingtalk, wechat (the Official Account) or wecom",
            "type": "string",
            "enum": ["feishu", "lark", "dingtalk", "ding", "wechat", "weixin", "mp", "wecom", "wework", "qywx"]
        })
    }
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 4] = [Self::Feishu, Self::Dingtalk, Self::Wechat, Self::Wecom];

    /// The lower-case name used in routes, configuration and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Feishu => "feishu",
            Self::Dingtalk => "dingtalk",
            Self::Wechat => "wechat",
            Self::Wecom => "wecom",
        }
    }

    /// What a card's action buttons and selects become on a platform whose app messages
    /// cannot carry them (the renderers in `platform/dingtalk.rs` and `platform/wechat.rs`);
    /// `None` where they are sent as they are.
    pub fn card_actions_degrade_to(self) -> Option<&'static str> {
        match self {
            Self::Feishu | Self::Wecom => None,
            Self::Dingtalk => Some("message links that send their label"),
            Self::Wechat => Some("nothing (the card's first link stays)"),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown platform name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?} (expected feishu, lark, dingtalk, wechat or wecom)")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "feishu" | "lark" => Ok(Self::Feishu),
            "dingtalk" | "ding" => Ok(Self::Dingtalk),
            "wechat" | "weixin" | "mp" => Ok(Self::Wechat),
            "wecom" | "wework" | "qywx" => Ok(Self::Wecom),
            _ => Err(UnknownPlatform(s.to_owned())),
        }
    }
}

/// What an event is, across platforms. Anything botgate does not model is `Unknown`; the
/// platform's own name for it stays in [`Event::event_type`] and the payload in [`Event::raw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A message from a user or a chat.
    Message,
    /// A click on an interactive card (Feishu `card.action.trigger`, WeCom
    /// `template_card_event`): see [`Event::action`].
    CardAction,
    /// A user followed the account or added the app (WeChat/WeCom `subscribe`).
    Subscribe,
    /// A user unfollowed (WeChat/WeCom `unsubscribe`).
    Unsubscribe,
    /// A click on a custom menu item (WeChat/WeCom `CLICK`, Feishu `application.bot.menu_v6`).
    MenuClick,
    /// A click on a menu item that opens a link (WeChat/WeCom `VIEW`; the URL is the key).
    MenuView,
    /// A user scanned a parameterised QR code while already following (WeChat `SCAN`).
    Scan,
    /// A user's reported location (WeChat/WeCom `LOCATION` event): see [`Event::location`].
    Location,
    /// Users joined a chat (Feishu `im.chat.member.user.added_v1`): see [`Event::members`].
    MemberAdded,
    /// Users left or were removed from a chat (Feishu `im.chat.member.user.deleted_v1`).
    MemberRemoved,
    /// The bot was added to a chat (Feishu `im.chat.member.bot.added_v1`).
    BotAdded,
    /// A reaction on a message (Feishu `im.message.reaction.created_v1`; the emoji is the key).
    Reaction,
    /// A user opened a one-to-one chat with the bot (Feishu `p2p_chat_create`).
    ChatCreated,
    /// A user entered the application (WeCom `enter_agent`).
    EnterChat,
    /// A member or department changed in the address book (WeCom `change_contact`; the
    /// change type is the key).
    ContactChange,
    /// Any other event: kept raw, routed by `event_type`.
    #[default]
    #[serde(other)]
    Unknown,
}

impl EventKind {
    /// Every kind, in a stable order (documentation, schemas, tests).
    pub const ALL: [EventKind; 16] = [
        Self::Message,
        Self::CardAction,
        Self::Subscribe,
        Self::Unsubscribe,
        Self::MenuClick,
        Self::MenuView,
        Self::Scan,
        Self::Location,
        Self::MemberAdded,
        Self::MemberRemoved,
        Self::BotAdded,
        Self::Reaction,
        Self::ChatCreated,
        Self::EnterChat,
        Self::ContactChange,
        Self::Unknown,
    ];

    /// The snake_case name used in rules and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::CardAction => "card_action",
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::MenuClick => "menu_click",
            Self::MenuView => "menu_view",
            Self::Scan => "scan",
            Self::Location => "location",
            Self::MemberAdded => "member_added",
            Self::MemberRemoved => "member_removed",
            Self::BotAdded => "bot_added",
            Self::Reaction => "reaction",
            Self::ChatCreated => "chat_created",
            Self::EnterChat => "enter_chat",
            Self::ContactChange => "contact_change",
            Self::Unknown => "unknown",
        }
    }
}

/// The kind of a message's content. Types botgate does not model are `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageType {
    /// Plain text.
    Text,
    /// Rich text (Feishu `post`, DingTalk `richText`).
    RichText,
    /// An image.
    Image,
    /// A voice message or audio file.
    Voice,
    /// A video (including WeChat `shortvideo`).
    Video,
    /// A file.
    File,
    /// A location.
    Location,
    /// A shared link.
    Link,
    /// A sticker or emoticon.
    Sticker,
    /// Any other content type: see the raw payload.
    #[default]
    #[serde(other)]
    Unknown,
}

impl MessageType {
    /// Maps a platform's message type name (`text`, `post`, `shortvideo`, ...) to a kind.
    pub fn from_platform(name: &str) -> Self {
        match name {
            "text" => Self::Text,
            "post" | "richText" | "rich_text" | "markdown" => Self::RichText,
            "image" | "picture" => Self::Image,
            "voice" | "audio" => Self::Voice,
            "video" | "shortvideo" | "media" => Self::Video,
            "file" => Self::File,
            "location" => Self::Location,
            "link" | "share_chat" => Self::Link,
            "sticker" | "emotion" => Self::Sticker,
            _ => Self::Unknown,
        }
    }
}

/// What the dispatcher needs to answer this event on the platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyContext {
    /// Feishu: the message id to reply to (`message_id` or the card's `open_message_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// WeChat/WeCom: the user's openid or userid (`FromUserName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_id: Option<String>,
    /// WeChat/WeCom: the account the message was sent to (`ToUserName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_user: Option<String>,
    /// WeCom: the application's `AgentID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// DingTalk chat bot: the conversation's `sessionWebhook`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_webhook: Option<String>,
    /// DingTalk chat bot: when `session_webhook` expires, in Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_webhook_expires_ms: Option<i64>,
    /// Feishu: the app id; DingTalk: the robot code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// Feishu: the tenant key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_key: Option<String>,
    /// WeCom card actions: the `ResponseCode` that lets the app update the card once (within
    /// 72 hours). A capability: kept out of forwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<String>,
}

/// What a card action sent back (Feishu `card.action.trigger`, WeCom `template_card_event`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardAction {
    /// The action's name: `name` in the value botgate puts on its buttons (`action:` in the
    /// configuration); for a card botgate did not build, WeCom's button key or Feishu's
    /// `value.name`/`value.action` when the value carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The value object the button or select carried (for botgate's cards: `name` and the
    /// button's `value:` fields).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub value: serde_json::Value,
    /// The option chosen in a select (Feishu `action.option`; WeCom: the first option id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option: Option<String>,
    /// Options chosen by question or form field (WeCom `SelectedItems`, Feishu `form_value`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub selected: std::collections::BTreeMap<String, Vec<String>>,
    /// WeCom: the card's task id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

impl CardAction {
    /// The action of a value object sent back by a button or select: its `name` (or
    /// `action`) field names it.
    pub fn from_value(value: serde_json::Value) -> Self {
        let name = ["name", "action"]
            .iter()
            .find_map(|k| value.get(*k).and_then(serde_json::Value::as_str))
            .map(str::to_owned);
        Self {
            name,
            value,
            ..Self::default()
        }
    }
}

/// A media attachment of a message: an id the platform's media API serves, or a URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// The platform's id for the content: WeChat/WeCom `MediaId`, Feishu `image_key` or
    /// `file_key`, DingTalk `downloadCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A URL of the content, when the platform gives one (WeChat `PicUrl`, a link's `Url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A file's name, or a link's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The format the platform names (WeChat voice `Format`, WeCom/Feishu file type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// A location, as the platform wrote it (degrees, decimal text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude.
    pub latitude: String,
    /// Longitude.
    pub longitude: String,
    /// Precision (a reported location) or map scale (a location message), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// The place's name (a location message's `Label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A verified, decrypted and normalized platform callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The platform it came from.
    pub platform: Platform,
    /// The platform's deduplication key: Feishu `header.event_id`/`uuid`; WeChat/WeCom `MsgId`,
    /// or `FromUserName:CreateTime:Event` for events; DingTalk `msgId`, the event id, or a
    /// digest of the decrypted payload when the event carries none.
    pub event_id: String,
    /// The platform's own name for the event (`im.message.receive_v1`, `text`, `subscribe`,
    /// `robot_message`, `chat_update_title`, ...).
    pub event_type: String,
    /// The normalized kind.
    pub kind: EventKind,
    /// When the platform created the event, in Unix milliseconds, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<i64>,
    /// The chat or conversation id (Feishu `chat_id`, DingTalk `conversationId`; WeChat and
    /// WeCom have one conversation per user, so it is the user's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// `p2p` or `group` when the platform says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_type: Option<String>,
    /// The sender's id (Feishu `open_id`, DingTalk `senderStaffId`, WeChat openid, WeCom userid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    /// For messages: the content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<MessageType>,
    /// For messages: the text (for rich text, its plain text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A key the event carries: WeChat/WeCom `EventKey` (a menu key, a link, a QR scene), a
    /// Feishu menu's `event_key` or a reaction's emoji, WeCom's change type; for a card
    /// action, its value as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// For card actions: what the button or select sent back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<CardAction>,
    /// For image, voice, video, file and link messages: the attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    /// For location messages and reported locations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// For membership events: the users who joined or left (open ids, user ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// What is needed to reply.
    #[serde(default)]
    pub reply: ReplyContext,
    /// The decrypted payload exactly as the platform sent it (JSON or XML text).
    pub raw: String,
}

impl Event {
    /// A new event with the required fields; everything else empty.
    pub fn new(platform: Platform, event_id: String, event_type: String, kind: EventKind, raw: String) -> Self {
        Self {
            platform,
            event_id,
            event_type,
            kind,
            time_ms: None,
            chat_id: None,
            chat_type: None,
            sender_id: None,
            message_type: None,
            text: None,
            key: None,
            action: None,
            media: None,
            location: None,
            members: Vec::new(),
            reply: ReplyContext::default(),
            raw,
        }
    }

    /// The conversation this event belongs to, for ordering: the chat, else the sender,
    /// else the event itself.
    pub fn conversation(&self) -> &str {
        self.chat_id
            .as_deref()
            .or(self.sender_id.as_deref())
            .unwrap_or(&self.event_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_deserialize_to_unknown() {
        let k: EventKind = serde_json::from_str("\"something_new\"").unwrap();
        assert_eq!(k, EventKind::Unknown);
        let m: MessageType = serde_json::from_str("\"hologram\"").unwrap();
        assert_eq!(m, MessageType::Unknown);
        assert_eq!(MessageType::from_platform("hologram"), MessageType::Unknown);
    }

    #[test]
    fn platform_names() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
        }
        assert_eq!("lark".parse::<Platform>(), Ok(Platform::Feishu));
        assert!("slack".parse::<Platform>().is_err());
    }
}
