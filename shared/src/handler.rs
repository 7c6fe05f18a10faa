//! Custom handlers in Rust, for what rules cannot say. A handler is registered for an
//! event type (the platform's name, such as `im.message.receive_v1`) or a kind (`message`,
//! `subscribe`, ...); when one is registered for an event, it decides instead of the
//! rules, unless it answers [`Outcome::Pass`]. Its actions run exactly like a rule's: each
//! effect recorded, retried and never repeated.
//!
//! ```
//! use botgate::handler::{Handler, HandlerContext, HandlerError, Outcome, Registry};
//! use botgate::rules::{Action, StateChange};
//! use botgate::Message;
//!
//! /// Counts the messages each user sent, in the conversation state.
//! struct Counter;
//!
//! #[async_trait::async_trait]
//! impl Handler for Counter {
//!     fn name(&self) -> &str {
//!         "counter"
//!     }
//!
//!     async fn handle(&self, cx: &HandlerContext<'_>) -> Result<Outcome, HandlerError> {
//!         let seen = cx.state.get("seen").and_then(|v| v.as_u64()).unwrap_or(0) + 1;
//!         Ok(Outcome::Handled {
//!             actions: vec![Action::Reply(Message::text(format!("message number {seen}")))],
//!             state: StateChange::Set(serde_json::json!({ "seen": seen })),
//!         })
//!     }
//! }
//!
//! let mut handlers = Registry::default();
//! handlers.register("message", std::sync::Arc::new(Counter));
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use thiserror::Error;

use crate::bot::Bot;
use crate::rules::{Action, StateChange};
use botgate_core::answer::Answer;
use botgate_core::event::Event;

/// What a handler sees.
#[derive(Debug)]
pub struct HandlerContext<'a> {
    /// The bot the event came to.
    pub bot: &'a Bot,
    /// The event.
    pub event: &'a Event,
    /// The conversation state (`null` when there is none).
    pub state: &'a Value,
}

/// What a handler decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// These actions, then this state change.
    Handled {
        /// The actions, in order.
        actions: Vec<Action>,
        /// The state change.
        state: StateChange,
    },
    /// Not for this handler: let the rules decide.
    Pass,
}

/// A handler's failure.
#[derive(Debug, Error)]
pub enum HandlerError {
    /// Try the event again later (the record is retried by SQS).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Never going to work for this event: logged, counted, the record is dropped.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// A custom handler.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    /// A stable name (part of each effect's key: renaming it re-sends in-flight events).
    fn name(&self) -> &str;
    /// Decides what to do with one event.
    async fn handle(&self, cx: &HandlerContext<'_>) -> Result<Outcome, HandlerError>;

    /// The answer to give in the callback's own response, within the platform's deadline:
    /// a card action's toast and new card ([`Answer::Card`]), or a WeChat/WeCom passive
    /// reply ([`Answer::Reply`], for bots with `reply_via` passive or auto). Called by the
    /// callback before the event is queued, for the handlers registered for the event: it
    /// must be quick and must not do I/O (the state is read for it). `None` (the default):
    /// the rules' answer, if any. The dispatcher then runs [`Handler::handle`] as usual;
    /// with `reply_via: passive` its replies are not sent (the answer was the reply).
    fn answer(&self, cx: &HandlerContext<'_>) -> Option<Answer> {
        let _ = cx;
        None
    }
}

/// Handlers by event type or kind.
#[derive(Default, Clone)]
pub struct Registry {
    by_type: HashMap<String, Vec<Arc<dyn Handler>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.by_type
                    .iter()
                    .map(|(k, v)| (k, v.iter().map(|h| h.name().to_owned()).collect::<Vec<_>>())),
            )
            .finish()
    }
}

impl Registry {
    /// Registers `handler` for an event type or kind.
    pub fn register(&mut self, event_type_or_kind: &str, handler: Arc<dyn Handler>) {
        self.by_type
            .entry(event_type_or_kind.to_owned())
            .or_default()
            .push(handler);
    }

    /// The handlers for `event`: those for its type, then those for its kind.
    pub fn for_event(&self, event: &Event) -> impl Iterator<Item = &Arc<dyn Handler>> {
        let by_type = self.by_type.get(&event.event_type).into_iter().flatten();
        let by_kind = (event.kind.as_str() != event.event_type)
            .then(|| self.by_type.get(event.kind.as_str()))
            .flatten()
            .into_iter()
            .flatten();
        by_type.chain(by_kind)
    }

    /// True when no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }
}
