//! What rules and handlers decide for an event: actions to run and a state change.

use serde_json::Value;

use botgate_core::answer::CardAnswer;
use botgate_core::message::Message;
use botgate_core::secret::Secret;

/// An action ready to run (templates rendered).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Answer the event (its message, chat or user) on its own bot.
    Reply(Message),
    /// Send a message through another (or the same) bot to a chat or user id.
    Notify {
        /// The bot id.
        bot: String,
        /// The chat or user id on that bot's platform.
        to: String,
        /// The message.
        message: Message,
    },
    /// POST the event, signed, to an HTTPS endpoint.
    Forward {
        /// The URL.
        url: String,
        /// The HMAC key.
        secret: Secret,
        /// Include DingTalk's session webhook (a reply capability) in the forwarded event.
        keep_session_webhook: bool,
    },
    /// Answer a card action in the callback's response (a toast, a new card, new button
    /// labels): computed by the callback, never sent by the dispatcher.
    Answer(CardAnswer),
    /// Replace the card the event came from (Feishu: the message's card, for everyone;
    /// WeCom: the card of the event's `ResponseCode`), through the platform's API.
    UpdateCard(Message),
    /// Nothing (but the event counts as handled).
    Ignore,
}

impl Action {
    /// The action's name in logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Reply(_) => "reply",
            Self::Notify { .. } => "notify",
            Self::Forward { .. } => "forward",
            Self::Answer(_) => "answer",
            Self::UpdateCard(_) => "update_card",
            Self::Ignore => "ignore",
        }
    }
}

/// What to do with the conversation state after the actions ran.
#[derive(Debug, Clone, PartialEq)]
pub enum StateChange {
    /// Leave it.
    Keep,
    /// Replace it.
    Set(Value),
    /// Delete it.
    Clear,
}

/// The plan for one event: the source (rule or handler name), actions, state change.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The rule or handler that made it (part of each effect's key).
    pub source: String,
    /// The actions, in order.
    pub actions: Vec<Action>,
    /// The state change.
    pub state: StateChange,
}
