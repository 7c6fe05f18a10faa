//! Rules: what the dispatcher does with an event. Each rule has conditions ([`Matcher`]),
//! actions ([`ActionSpec`]: reply, notify, forward, ignore) and a state change; the first
//! matching rule wins, unless it says `continue: true`. Rules come from the configuration's
//! `rules:` list, compiled by the composition root ([`crate::deps`]):
//!
//! ```yaml
//! rules:
//!   - name: help
//!     when: {platform: feishu, command: /help}
//!     reply: {type: markdown, title: Help, text: "Commands: /help, /deploy <service>"}
//!   - name: deploy
//!     when: {regex: '^/deploy (?P<service>[a-z0-9-]+)$'}
//!     actions:
//!       - reply: "Deploying {{ captures.service }} for {{ sender }}"
//!       - forward: {url: https://ci.example.com/botgate, secret: "${env:FORWARD_SECRET}"}
//! ```
//!
//! `when` fields: `platform`, `bot`, `event_type` (the platform's name), `kind`
//! (`message`, `subscribe`, `unsubscribe`, `menu_click`, `card_action`, `unknown`),
//! `chat_type` (`p2p`/`group`), `sender`, `key` (menu or event key), and one text test:
//! `text` (exact, trimmed), `command` (`/help` and its arguments) or `regex`; `state`
//! (every key given equals the stored value). Each field takes one value or a list.
//!
//! Templates are minijinja with: `text`, `args` (a command's words), `arg` (the rest of
//! the line), `captures` (named regex groups), `state`, `sender`, `chat`, `bot`,
//! `platform`, and `event` (every normalized field).

pub mod action;
pub mod matcher;
pub mod plan;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

pub use action::{ActionSpec, StateSpec};
pub use matcher::{ActionMatch, Matcher, TextTest, normalized_text};
pub use plan::{Action, Plan, StateChange};

use crate::template::{RenderError, Templates};
use botgate_core::event::{CardAction, Event};

/// One rule, compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name (part of each effect's key).
    pub name: String,
    /// Its conditions.
    pub when: Matcher,
    /// Its actions, in order.
    pub actions: Vec<ActionSpec>,
    /// Its state change.
    pub state: StateSpec,
    /// `continue: true`: later matching rules run too.
    pub keep_going: bool,
}

/// The rule list with its compiled templates.
#[derive(Default)]
pub struct Rules {
    rules: Vec<Rule>,
    templates: Templates,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules").field("count", &self.rules.len()).finish()
    }
}

#[derive(Serialize)]
struct TemplateContext<'a> {
    bot: &'a str,
    platform: &'a str,
    event: EventView<'a>,
    action: Option<&'a CardAction>,
    text: &'a str,
    args: &'a [&'a str],
    arg: &'a str,
    captures: &'a BTreeMap<String, String>,
    state: &'a Value,
    sender: &'a str,
    chat: &'a str,
}

/// The event as templates see it: as queued, or, when a template reads `event.raw`, with
/// its raw payload parsed (JSON as JSON, WeChat/WeCom XML as a map of its fields).
#[derive(Serialize)]
#[serde(untagged)]
enum EventView<'a> {
    Plain(&'a Event),
    Parsed(&'a Value),
}

/// `event` with its raw payload parsed ([`raw_value`]), for templates that read it.
fn parsed_event(event: &Event) -> Option<Value> {
    let mut v = serde_json::to_value(event).ok()?;
    v["raw"] = raw_value(&event.raw);
    Some(v)
}

/// A raw payload as a value: JSON parsed; XML as `{field: text}` (nested fields by their
/// dotted path, a repeated one as a list); anything else as the text.
pub fn raw_value(raw: &str) -> Value {
    if raw.trim_start().starts_with('<')
        && let Ok(fields) = botgate_core::xml::parse(raw.as_bytes())
    {
        let mut m = serde_json::Map::new();
        for (k, v) in fields.iter() {
            match m.get_mut(k) {
                Some(Value::Array(items)) => items.push(Value::String(v.to_owned())),
                Some(first) => *first = Value::Array(vec![first.take(), Value::String(v.to_owned())]),
                None => {
                    m.insert(k.to_owned(), Value::String(v.to_owned()));
                }
            }
        }
        return Value::Object(m);
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

impl Rules {
    /// Rules over the templates they were compiled into.
    pub fn new(rules: Vec<Rule>, templates: Templates) -> Self {
        Self { rules, templates }
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The bots that rules send through with `notify`: (rule, bot).
    pub fn notify_bots(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rules.iter().flat_map(|r| {
            r.actions.iter().filter_map(move |a| match a {
                ActionSpec::Notify { bot, .. } => Some((r.name.as_str(), bot.as_str())),
                _ => None,
            })
        })
    }

    /// True when some rule reads or writes the conversation state.
    pub fn use_state(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.when.uses_state() || !matches!(r.state, StateSpec::Keep))
    }

    /// The plans of the matching rules (the first match, plus any before it that said
    /// `continue: true`), with templates rendered. Empty when nothing matches.
    pub fn plan(&self, bot: &str, event: &Event, state: &Value) -> Vec<Result<Plan, (String, RenderError)>> {
        let text = normalized_text(event.text.as_deref().unwrap_or_default());
        let parsed = if self.templates.reads_raw() {
            parsed_event(event)
        } else {
            None
        };
        let view = || parsed.as_ref().map_or(EventView::Plain(event), EventView::Parsed);
        let mut plans = Vec::new();
        for rule in &self.rules {
            let Some(caps) = rule.when.matches(bot, event, text, state) else {
                continue;
            };
            let ctx = crate::template::context(TemplateContext {
                bot,
                platform: event.platform.as_str(),
                event: view(),
                action: event.action.as_ref(),
                text,
                args: &caps.args,
                arg: caps.arg,
                captures: &caps.named,
                state,
                sender: event.sender_id.as_deref().unwrap_or_default(),
                chat: event.chat_id.as_deref().unwrap_or_default(),
            });
            plans.push(self.plan_rule(rule, &ctx).map_err(|e| (rule.name.clone(), e)));
            if !rule.keep_going {
                break;
            }
        }
        plans
    }

    fn plan_rule(&self, rule: &Rule, ctx: &minijinja::Value) -> Result<Plan, RenderError> {
        let actions = rule
            .actions
            .iter()
            .map(|a| a.render(&self.templates, ctx))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Plan {
            source: rule.name.clone(),
            actions,
            state: rule.state.render(&self.templates, ctx)?,
        })
    }
}
