//! A rule's actions and state change as compiled (templates by name), and their rendering
//! into a [`Plan`]'s actions for one event.

use serde_json::{Map, Value};

use super::plan::{Action, StateChange};
use crate::template::{CompiledMessage, RenderError, Slot, TemplateId, Templates};
use botgate_core::answer::{CardAnswer, Toast, ToastKind};
use botgate_core::secret::Secret;

/// One action of a rule, with its templates compiled.
#[derive(Debug, Clone)]
pub enum ActionSpec {
    /// Answer the event.
    Reply(CompiledMessage),
    /// Send a message through a bot to a chat or user.
    Notify {
        /// The bot id.
        bot: String,
        /// The chat or user id (a template).
        to: TemplateId,
        /// The message.
        message: CompiledMessage,
    },
    /// POST the event, signed, to an HTTPS endpoint.
    Forward {
        /// The URL.
        url: String,
        /// The HMAC key.
        secret: Secret,
        /// Include DingTalk's session webhook in the forwarded event.
        keep_session_webhook: bool,
    },
    /// Answer a card action in the callback's response.
    Answer {
        /// The toast's look and text.
        toast: Option<(ToastKind, Slot)>,
        /// The card that replaces the pressed one.
        card: Option<CompiledMessage>,
        /// WeCom: the pressed buttons' new label.
        button: Option<Slot>,
    },
    /// Replace the event's card through the platform's API.
    UpdateCard(CompiledMessage),
    /// Do nothing.
    Ignore,
}

/// What a rule does with the conversation state.
#[derive(Debug, Clone, Default)]
pub enum StateSpec {
    /// Leave it.
    #[default]
    Keep,
    /// Replace it with these keys (values are templates).
    Set(Vec<(String, TemplateId)>),
    /// Delete it.
    Clear,
}

impl ActionSpec {
    /// The action with its templates rendered.
    pub fn render(&self, t: &Templates, ctx: &minijinja::Value) -> Result<Action, RenderError> {
        Ok(match self {
            Self::Reply(m) => Action::Reply(t.render_message(m, ctx)?),
            Self::Notify { bot, to, message } => Action::Notify {
                bot: bot.clone(),
                to: t.render(to, ctx)?,
                message: t.render_message(message, ctx)?,
            },
            Self::Forward {
                url,
                secret,
                keep_session_webhook,
            } => Action::Forward {
                url: url.clone(),
                secret: secret.clone(),
                keep_session_webhook: *keep_session_webhook,
            },
            Self::Answer { toast, card, button } => Action::Answer(CardAnswer {
                toast: match toast {
                    Some((kind, text)) => Some(Toast {
                        kind: *kind,
                        text: t.render_slot(text, ctx)?,
                    }),
                    None => None,
                },
                card: card.as_ref().map(|c| t.render_message(c, ctx)).transpose()?,
                button: button.as_ref().map(|b| t.render_slot(b, ctx)).transpose()?,
            }),
            Self::UpdateCard(m) => Action::UpdateCard(t.render_message(m, ctx)?),
            Self::Ignore => Action::Ignore,
        })
    }
}

impl StateSpec {
    /// The state change with its templates rendered.
    pub fn render(&self, t: &Templates, ctx: &minijinja::Value) -> Result<StateChange, RenderError> {
        Ok(match self {
            Self::Keep => StateChange::Keep,
            Self::Clear => StateChange::Clear,
            Self::Set(fields) => {
                let mut m = Map::new();
                for (k, id) in fields {
                    m.insert(k.clone(), Value::String(t.render(id, ctx)?));
                }
                StateChange::Set(Value::Object(m))
            }
        })
    }
}
