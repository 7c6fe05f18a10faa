//! Synchronous answers, computed in the callback before it answers the platform: a
//! passive reply on WeChat and WeCom (bots with `reply_via` passive or auto), a card
//! action's answer on Feishu and WeCom. Only the answer is computed here: the first
//! handler whose [`crate::handler::Handler::answer`] gives one, else the first matching
//! rule's `answer` (card actions) or first `reply` (passive replies), rendered from its
//! templates. Nothing is sent; reading the conversation state, when the rules or a handler
//! need it, is the one store read. Everything else the rule does goes through the queue,
//! marked with what was answered ([`Answered`]), so the dispatcher never sends it again.

use serde_json::Value;

use crate::bot::{Bot, ReplyVia};
use crate::handler::{HandlerContext, Registry};
use crate::queue::Answered;
use crate::rules::{Action, Rules};
use crate::state::StateStore;
use crate::store::StoreError;
use botgate_core::answer::Answer;
use botgate_core::event::{Event, EventKind, Platform};

/// The longest the state read for an answer may take: with the claim and the enqueue
/// (800 ms each at worst, `deps::CALLBACK_OPERATION_TIMEOUT`), the callback still answers
/// within Feishu's 3 s. Past it the callback fails with 503 and the platform retries.
pub const STATE_READ_BUDGET: std::time::Duration = std::time::Duration::from_millis(400);

/// The index an [`Answered`] from a handler's [`crate::handler::Handler::answer`] carries:
/// it names no action of the handler's plan (the handler's replies are its own).
pub const HANDLER_ANSWER: usize = usize::MAX;

/// Whether `event` to `bot` may be answered in the callback's response at all: a card
/// action, or a message or event to a WeChat or WeCom bot that replies passively.
pub fn answerable(bot: &Bot, event: &Event) -> bool {
    event.kind == EventKind::CardAction
        || (matches!(bot.platform, Platform::Wechat | Platform::Wecom) && bot.reply_via != ReplyVia::Api)
}

/// Where answers come from: the rules, the custom handlers, and the conversation state
/// they may read.
pub struct Sources<'a> {
    /// The rules.
    pub rules: &'a Rules,
    /// The custom handlers.
    pub handlers: &'a Registry,
    /// The conversation state (`None`: none is kept).
    pub state: Option<&'a dyn StateStore>,
}

/// The answer to `event`, and which rule action (or handler) it is; `None` when nothing
/// answers it. See the module documentation.
pub async fn compute(
    from: &Sources<'_>,
    bot: &Bot,
    event: &Event,
    now_ms: i64,
) -> Result<Option<(Answered, Answer)>, StoreError> {
    if !answerable(bot, event) {
        return Ok(None);
    }
    let rules = from.rules;
    let handlers: Vec<_> = from.handlers.for_event(event).collect();
    if rules.is_empty() && handlers.is_empty() {
        return Ok(None);
    }
    let state = match from.state {
        Some(store) if !handlers.is_empty() || rules.use_state() => {
            let key = crate::state::conversation_key(
                &bot.id,
                event.conversation(),
                event.sender_id.as_deref().unwrap_or("-"),
            );
            let read = tokio::time::timeout(STATE_READ_BUDGET, store.get(&key, now_ms.div_euclid(1000)))
                .await
                .map_err(|_| {
                    StoreError::Unavailable(format!(
                        "reading the conversation state for an answer took over {} ms",
                        STATE_READ_BUDGET.as_millis()
                    ))
                })??;
            crate::dispatcher::state_for(read, &event.event_id)
        }
        _ => Value::Null,
    };
    let cx = HandlerContext {
        bot,
        event,
        state: &state,
    };
    for h in handlers {
        if let Some(answer) = h.answer(&cx) {
            let marker = Answered {
                source: format!("handler:{}", h.name()),
                index: HANDLER_ANSWER,
            };
            return Ok(Some((marker, answer)));
        }
    }
    let card = event.kind == EventKind::CardAction;
    for plan in rules.plan(&bot.id, event, &state) {
        // A template that fails here fails in the dispatcher too, which logs it.
        let Ok(plan) = plan else { continue };
        for (index, action) in plan.actions.iter().enumerate() {
            let answer = match action {
                Action::Answer(a) if card => Answer::Card(a.clone()),
                // An image or file by URL or path needs an upload first: not here (the
                // dispatcher sends it with reply_via auto; passive cannot).
                Action::Reply(m) if !card && !needs_upload(m) => Answer::Reply(m.clone()),
                _ => continue,
            };
            let marker = Answered {
                source: plan.source.clone(),
                index,
            };
            return Ok(Some((marker, answer)));
        }
    }
    Ok(None)
}

/// Whether `message` is an image or file the platform must be sent by a media key it does
/// not have yet.
fn needs_upload(message: &botgate_core::Message) -> bool {
    matches!(
        message,
        botgate_core::Message::Image { key: None, .. } | botgate_core::Message::File { key: None, .. }
    )
}

/// The `Content-Type` of a stored answer replayed to a retry: Feishu answers in JSON,
/// WeChat and WeCom in XML.
pub fn content_type(platform: Platform) -> &'static str {
    match platform {
        Platform::Feishu | Platform::Dingtalk => "application/json",
        Platform::Wechat | Platform::Wecom => "application/xml",
    }
}
