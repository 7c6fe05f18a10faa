//! Synchronous answers: what a bot says in the callback's own HTTP response, within the
//! platform's deadline, instead of (or before) calling the platform's API.
//!
//! - WeChat and WeCom take a *passive reply* to a message or event: one message in the
//!   response's XML (sealed in safe mode). It costs no API call, and it is the only way an
//!   unverified Official Account can answer at all.
//! - A card action (Feishu `card.action.trigger`, WeCom `template_card_event`) takes an
//!   [`CardAnswer`]: Feishu shows a toast and/or replaces the card for everyone; WeCom
//!   relabels the pressed card's buttons (`update_button`).
//!
//! [`crate::Verifier::answer`] renders an answer for the request it accepted.

use serde::{Deserialize, Serialize};

use crate::message::Message;

/// A toast's look (Feishu).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ToastKind {
    /// Neutral.
    #[default]
    Info,
    /// Green.
    Success,
    /// Orange.
    Warning,
    /// Red.
    Error,
}

impl ToastKind {
    /// Feishu's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Success => "success",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// A short message shown to the person who pressed (Feishu).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toast {
    /// Its look.
    #[serde(default, rename = "type")]
    pub kind: ToastKind,
    /// Its text.
    pub text: String,
}

/// The answer to a card action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardAnswer {
    /// Feishu: a toast for the person who pressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toast: Option<Toast>,
    /// Feishu: the card that replaces the pressed one, for everyone in the chat. WeCom:
    /// a card without buttons relabels the pressed buttons with its title (see
    /// [`crate::platform::wecom::replace_name`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Message>,
    /// WeCom: the new label of the pressed card's buttons, which can no longer be pressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
}

impl CardAnswer {
    /// True when it says nothing.
    pub fn is_empty(&self) -> bool {
        self.toast.is_none() && self.card.is_none() && self.button.is_none()
    }
}

/// What goes back in the callback's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// WeChat, WeCom: a passive reply to a message or event.
    Reply(Message),
    /// A card action's answer.
    Card(CardAnswer),
}

impl Answer {
    /// Its name in logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Reply(_) => "passive_reply",
            Self::Card(_) => "card_answer",
        }
    }
}
