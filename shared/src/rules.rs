//! Rules: what the dispatcher does with an event, from the `rules:` list of the
//! configuration. Each rule has `when` (every field given must match) and one action
//! (`reply`, `forward`, `notify`, `ignore`) or a list of them under `actions`; it can also
//! read and write the conversation's state. The first matching rule wins, unless it says
//! `continue: true`.
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

use std::collections::BTreeMap;

use minijinja::Environment;
use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::event::{Event, Platform};
use crate::message::{Button, Mentions, Message};
use crate::secret::Secret;

/// A rule that cannot be used.
#[derive(Debug, Error)]
#[error("rules[{index}] ({name}): {why}")]
pub struct RuleError {
    /// Position in the list.
    pub index: usize,
    /// The rule's name.
    pub name: String,
    /// What is wrong.
    pub why: String,
}

/// A failure while rendering a template (a permanent error for that action).
#[derive(Debug, Error)]
#[error("template {name}: {why}")]
pub struct RenderError {
    name: String,
    why: String,
}

#[derive(Debug, Clone)]
enum TextTest {
    Exact(String),
    Command(String),
    Regex(Regex),
}

#[derive(Debug, Clone, Default)]
struct Matcher {
    platform: Option<Vec<Platform>>,
    bot: Option<Vec<String>>,
    event_type: Option<Vec<String>>,
    kind: Option<Vec<String>>,
    chat_type: Option<Vec<String>>,
    sender: Option<Vec<String>>,
    key: Option<Vec<String>>,
    text: Option<TextTest>,
    state: Option<Map<String, Value>>,
}

/// A message whose text fields are templates (names in the environment).
#[derive(Debug, Clone)]
struct MessageSpec {
    kind: String,
    title: Option<String>,
    text: String,
    buttons: Vec<Button>,
    color: Option<String>,
    mentions: Mentions,
}

#[derive(Debug, Clone)]
enum ActionSpec {
    Reply(MessageSpec),
    Notify {
        bot: String,
        to: String,
        message: MessageSpec,
    },
    Forward {
        url: String,
        secret: Secret,
    },
    Ignore,
}

#[derive(Debug, Clone)]
enum StateSpec {
    Keep,
    Set(Vec<(String, String)>),
    Clear,
}

/// One rule.
#[derive(Debug, Clone)]
struct Rule {
    name: String,
    when: Matcher,
    actions: Vec<ActionSpec>,
    state: StateSpec,
    keep_going: bool,
}

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
    },
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

/// The rule list with its compiled templates.
pub struct Rules {
    rules: Vec<Rule>,
    env: Environment<'static>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules").field("count", &self.rules.len()).finish()
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            env: Environment::new(),
        }
    }
}

/// The text with leading mention placeholders removed (Feishu `@_user_1`, DingTalk's
/// leading space) and trimmed.
pub fn normalized_text(text: &str) -> &str {
    let mut t = text.trim_start();
    while let Some(rest) = t.strip_prefix("@_user_") {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        t = rest[digits..].trim_start();
    }
    t.trim()
}

fn one_or_many(v: &Value, field: &str) -> Result<Option<Vec<String>>, String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Number(n)) => Ok(Some(vec![n.to_string()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(format!("`when.{field}` must be a string or a list of strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("`when.{field}` must be a string or a list of strings")),
    }
}

const WHEN_KEYS: [&str; 11] = [
    "platform",
    "bot",
    "event_type",
    "kind",
    "chat_type",
    "sender",
    "key",
    "text",
    "command",
    "regex",
    "state",
];
const KINDS: [&str; 6] = [
    "message",
    "card_action",
    "subscribe",
    "unsubscribe",
    "menu_click",
    "unknown",
];

fn parse_when(v: &Value) -> Result<Matcher, String> {
    let Some(map) = v.as_object() else {
        return Err("`when` must be a map (an empty map matches every event)".into());
    };
    if let Some(k) = map.keys().find(|k| !WHEN_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "`when.{k}` is not a known field (known: {})",
            WHEN_KEYS.join(", ")
        ));
    }
    let platform = one_or_many(v, "platform")?
        .map(|ps| ps.iter().map(|p| p.parse::<Platform>()).collect::<Result<Vec<_>, _>>())
        .transpose()
        .map_err(|e| format!("`when.platform`: {e}"))?;
    let kind = one_or_many(v, "kind")?;
    if let Some(k) = kind.iter().flatten().find(|k| !KINDS.contains(&k.as_str())) {
        return Err(format!("`when.kind` {k:?} is not one of {}", KINDS.join(", ")));
    }
    let tests: Vec<&str> = ["text", "command", "regex"]
        .into_iter()
        .filter(|k| map.contains_key(*k))
        .collect();
    if tests.len() > 1 {
        return Err(format!(
            "use one of `when.text`, `when.command`, `when.regex`, not {tests:?}"
        ));
    }
    let str_of = |k: &str| {
        map.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("`when.{k}` must be a string"))
    };
    let text = match tests.first() {
        None => None,
        Some(&"text") => Some(TextTest::Exact(str_of("text")?.trim().to_owned())),
        Some(&"command") => {
            let c = str_of("command")?;
            if c.trim().is_empty() || c.contains(char::is_whitespace) {
                return Err("`when.command` must be one word, such as /help".into());
            }
            Some(TextTest::Command(c))
        }
        Some(_) => Some(TextTest::Regex(
            Regex::new(&str_of("regex")?).map_err(|e| format!("`when.regex`: {e}"))?,
        )),
    };
    let state = match map.get("state") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err("`when.state` must be a map of key: value".into()),
    };
    Ok(Matcher {
        platform,
        bot: one_or_many(v, "bot")?,
        event_type: one_or_many(v, "event_type")?,
        kind,
        chat_type: one_or_many(v, "chat_type")?,
        sender: one_or_many(v, "sender")?,
        key: one_or_many(v, "key")?,
        text,
        state,
    })
}

struct Builder<'e> {
    env: &'e mut Environment<'static>,
    prefix: String,
    count: usize,
}

impl Builder<'_> {
    /// Compiles `source` as a template and returns its name.
    fn template(&mut self, field: &str, source: &str) -> Result<String, String> {
        self.count += 1;
        let name = format!("{}.{field}#{}", self.prefix, self.count);
        self.env
            .add_template_owned(name.clone(), source.to_owned())
            .map_err(|e| format!("`{field}` is not a valid template: {e}"))?;
        Ok(name)
    }

    fn message(&mut self, field: &str, v: &Value) -> Result<MessageSpec, String> {
        if let Some(s) = v.as_str() {
            return Ok(MessageSpec {
                kind: "text".into(),
                title: None,
                text: self.template(field, s)?,
                buttons: Vec::new(),
                color: None,
                mentions: Mentions::default(),
            });
        }
        if !v.is_object() {
            return Err(format!("`{field}` must be a text or a map with `text`"));
        }
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("text").to_owned();
        if !["text", "markdown", "card"].contains(&kind.as_str()) {
            return Err(format!("`{field}.type` must be text, markdown or card"));
        }
        let text = v
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("`{field}.text` is required"))?;
        let title = v.get("title").and_then(Value::as_str);
        let buttons = match v.get("buttons") {
            None | Some(Value::Null) => Vec::new(),
            Some(b) => serde_json::from_value(b.clone())
                .map_err(|e| format!("`{field}.buttons` must be a list of {{text, url}}: {e}"))?,
        };
        let mentions = match v.get("mentions") {
            None | Some(Value::Null) => Mentions::default(),
            Some(m) => serde_json::from_value(m.clone())
                .map_err(|e| format!("`{field}.mentions` must be {{all, user_ids, mobiles}}: {e}"))?,
        };
        Ok(MessageSpec {
            title: title.map(|t| self.template(&format!("{field}.title"), t)).transpose()?,
            text: self.template(&format!("{field}.text"), text)?,
            kind,
            buttons,
            color: v.get("color").and_then(Value::as_str).map(str::to_owned),
            mentions,
        })
    }

    fn action(&mut self, name: &str, v: &Value) -> Result<ActionSpec, String> {
        match name {
            "reply" => Ok(ActionSpec::Reply(self.message("reply", v)?)),
            "notify" => {
                let bot = v
                    .get("bot")
                    .and_then(Value::as_str)
                    .ok_or("`notify.bot` is required (the bot that sends)")?
                    .to_owned();
                let to = v
                    .get("to")
                    .and_then(Value::as_str)
                    .ok_or("`notify.to` is required (a chat or user id)")?;
                Ok(ActionSpec::Notify {
                    to: self.template("notify.to", to)?,
                    bot,
                    message: self.message("notify", v)?,
                })
            }
            "forward" => {
                let url = v
                    .get("url")
                    .and_then(Value::as_str)
                    .ok_or("`forward.url` is required")?
                    .to_owned();
                if !crate::delivery::forward::allowed_url(&url) {
                    return Err("`forward.url` must be https:// (http:// only to localhost)".into());
                }
                let secret = v
                    .get("secret")
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .ok_or("`forward.secret` is required (the receiver checks the signature with it)")?;
                Ok(ActionSpec::Forward {
                    url,
                    secret: Secret::new(secret),
                })
            }
            "ignore" => Ok(ActionSpec::Ignore),
            other => Err(format!("unknown action `{other}` (reply, forward, notify, ignore)")),
        }
    }
}

const ACTIONS: [&str; 4] = ["reply", "notify", "forward", "ignore"];
const RULE_KEYS: [&str; 9] = [
    "name",
    "when",
    "actions",
    "set_state",
    "clear_state",
    "continue",
    "reply",
    "notify",
    "forward",
];

fn parse_rule(index: usize, v: &Value, env: &mut Environment<'static>) -> Result<Rule, RuleError> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .map_or_else(|| format!("rule-{index}"), str::to_owned);
    let err = |why: String| RuleError {
        index,
        name: name.clone(),
        why,
    };
    let Some(map) = v.as_object() else {
        return Err(err("a rule must be a map with `when` and an action".into()));
    };
    if let Some(k) = map
        .keys()
        .find(|k| !RULE_KEYS.contains(&k.as_str()) && k.as_str() != "ignore")
    {
        return Err(err(format!("`{k}` is not a rule field")));
    }
    let when = parse_when(v.get("when").unwrap_or(&Value::Object(Map::new()))).map_err(&err)?;
    let mut b = Builder {
        env,
        prefix: format!("rules[{index}]"),
        count: 0,
    };
    let mut actions = Vec::new();
    for a in ACTIONS {
        match map.get(a) {
            None | Some(Value::Bool(false)) => {}
            Some(spec) => actions.push(b.action(a, spec).map_err(&err)?),
        }
    }
    if let Some(list) = map.get("actions") {
        let Some(list) = list.as_array() else {
            return Err(err("`actions` must be a list".into()));
        };
        for item in list {
            let Some((a, spec)) = item.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) else {
                return Err(err(
                    "each item of `actions` is a map with one action, such as `- reply: hi`".into(),
                ));
            };
            actions.push(b.action(a, spec).map_err(&err)?);
        }
    }
    if actions.is_empty() {
        return Err(err("no action: add reply, forward, notify, ignore or actions".into()));
    }
    let state = match (map.get("set_state"), map.get("clear_state")) {
        (Some(_), Some(Value::Bool(true))) => return Err(err("use set_state or clear_state, not both".into())),
        (_, Some(Value::Bool(true))) => StateSpec::Clear,
        (Some(Value::Object(m)), _) => StateSpec::Set(
            m.iter()
                .map(|(k, v)| {
                    let src = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    Ok((k.clone(), b.template(&format!("set_state.{k}"), &src)?))
                })
                .collect::<Result<Vec<_>, String>>()
                .map_err(&err)?,
        ),
        (Some(_), _) => return Err(err("`set_state` must be a map of key: template".into())),
        _ => StateSpec::Keep,
    };
    Ok(Rule {
        name: name.clone(),
        when,
        actions,
        state,
        keep_going: map.get("continue").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn any_of(list: &Option<Vec<String>>, value: Option<&str>) -> bool {
    match list {
        None => true,
        Some(l) => value.is_some_and(|v| l.iter().any(|x| x == v)),
    }
}

/// What a match captured for the templates.
#[derive(Debug, Default)]
struct Captures<'t> {
    args: Vec<&'t str>,
    arg: &'t str,
    named: BTreeMap<String, String>,
}

impl Matcher {
    fn matches<'t>(&self, bot: &str, event: &Event, text: &'t str, state: &Value) -> Option<Captures<'t>> {
        if let Some(ps) = &self.platform
            && !ps.contains(&event.platform)
        {
            return None;
        }
        let ok = any_of(&self.bot, Some(bot))
            && any_of(&self.event_type, Some(&event.event_type))
            && any_of(&self.kind, Some(event.kind.as_str()))
            && any_of(&self.chat_type, event.chat_type.as_deref())
            && any_of(&self.sender, event.sender_id.as_deref())
            && any_of(&self.key, event.key.as_deref());
        if !ok {
            return None;
        }
        if let Some(want) = &self.state {
            let have = state.as_object();
            if !want.iter().all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v)) {
                return None;
            }
        }
        let mut caps = Captures::default();
        match &self.text {
            None => {}
            Some(TextTest::Exact(t)) if text != t => return None,
            Some(TextTest::Exact(_)) => {}
            Some(TextTest::Command(c)) => {
                let rest = text.strip_prefix(c.as_str())?;
                if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
                    return None;
                }
                caps.arg = rest.trim();
                caps.args = caps.arg.split_whitespace().collect();
            }
            Some(TextTest::Regex(re)) => {
                let m = re.captures(text)?;
                for name in re.capture_names().flatten() {
                    if let Some(v) = m.name(name) {
                        caps.named.insert(name.to_owned(), v.as_str().to_owned());
                    }
                }
                caps.arg = text;
            }
        }
        Some(caps)
    }
}

#[derive(Serialize)]
struct TemplateContext<'a> {
    bot: &'a str,
    platform: &'a str,
    event: &'a Event,
    text: &'a str,
    args: &'a [&'a str],
    arg: &'a str,
    captures: &'a BTreeMap<String, String>,
    state: &'a Value,
    sender: &'a str,
    chat: &'a str,
}

impl Rules {
    /// Parses the `rules:` list (missing: no rules).
    pub fn from_config(v: Option<&Value>) -> Result<Self, RuleError> {
        let mut env = Environment::new();
        env.set_recursion_limit(32);
        let list = match v {
            None | Some(Value::Null) => return Ok(Self { rules: Vec::new(), env }),
            Some(Value::Array(l)) => l,
            Some(_) => {
                return Err(RuleError {
                    index: 0,
                    name: "rules".into(),
                    why: "`rules` must be a list".into(),
                });
            }
        };
        let rules = list
            .iter()
            .enumerate()
            .map(|(i, r)| parse_rule(i, r, &mut env))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules, env })
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The bots that rules send through with `notify` (checked against the configuration).
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
            .any(|r| r.when.state.is_some() || !matches!(r.state, StateSpec::Keep))
    }

    fn render(&self, name: &str, ctx: &minijinja::Value) -> Result<String, RenderError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| RenderError {
                name: name.to_owned(),
                why: e.to_string(),
            })
    }

    fn message(&self, spec: &MessageSpec, ctx: &minijinja::Value) -> Result<Message, RenderError> {
        let text = self.render(&spec.text, ctx)?;
        let title = spec
            .title
            .as_deref()
            .map(|t| self.render(t, ctx))
            .transpose()?
            .unwrap_or_default();
        Ok(match spec.kind.as_str() {
            "markdown" => Message::Markdown {
                title,
                text,
                mentions: spec.mentions.clone(),
            },
            "card" => Message::Card {
                title,
                text,
                buttons: spec.buttons.clone(),
                color: spec.color.clone(),
                mentions: spec.mentions.clone(),
            },
            _ => Message::Text {
                text,
                mentions: spec.mentions.clone(),
            },
        })
    }

    /// The plans of the matching rules (the first match, plus any before it that said
    /// `continue: true`), with templates rendered. Empty when nothing matches.
    pub fn plan(&self, bot: &str, event: &Event, state: &Value) -> Vec<Result<Plan, (String, RenderError)>> {
        let text = normalized_text(event.text.as_deref().unwrap_or_default());
        let mut plans = Vec::new();
        for rule in &self.rules {
            let Some(caps) = rule.when.matches(bot, event, text, state) else {
                continue;
            };
            let ctx = minijinja::Value::from(minijinja::value::Serde(TemplateContext {
                bot,
                platform: event.platform.as_str(),
                event,
                text,
                args: &caps.args,
                arg: caps.arg,
                captures: &caps.named,
                state,
                sender: event.sender_id.as_deref().unwrap_or_default(),
                chat: event.chat_id.as_deref().unwrap_or_default(),
            }));
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
            .map(|a| {
                Ok(match a {
                    ActionSpec::Reply(m) => Action::Reply(self.message(m, ctx)?),
                    ActionSpec::Notify { bot, to, message } => Action::Notify {
                        bot: bot.clone(),
                        to: self.render(to, ctx)?,
                        message: self.message(message, ctx)?,
                    },
                    ActionSpec::Forward { url, secret } => Action::Forward {
                        url: url.clone(),
                        secret: secret.clone(),
                    },
                    ActionSpec::Ignore => Action::Ignore,
                })
            })
            .collect::<Result<Vec<_>, RenderError>>()?;
        let state = match &rule.state {
            StateSpec::Keep => StateChange::Keep,
            StateSpec::Clear => StateChange::Clear,
            StateSpec::Set(fields) => {
                let mut m = Map::new();
                for (k, t) in fields {
                    m.insert(k.clone(), Value::String(self.render(t, ctx)?));
                }
                StateChange::Set(Value::Object(m))
            }
        };
        Ok(Plan {
            source: rule.name.clone(),
            actions,
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn rules(yaml: &str) -> Rules {
        let v: Value = serde_saphyr::from_str(yaml).unwrap();
        Rules::from_config(Some(&v)).unwrap()
    }

    fn message(platform: Platform, text: &str) -> Event {
        let mut e = Event::new(platform, "e1".into(), "text".into(), EventKind::Message, String::new());
        e.text = Some(text.into());
        e.sender_id = Some("u1".into());
        e.chat_id = Some("c1".into());
        e
    }

    fn texts(p: &Plan) -> Vec<String> {
        p.actions
            .iter()
            .map(|a| match a {
                Action::Reply(Message::Text { text, .. }) | Action::Reply(Message::Markdown { text, .. }) => {
                    text.clone()
                }
                other => other.name().to_owned(),
            })
            .collect()
    }

    #[test]
    fn command_regex_exact_and_first_match_wins() {
        let r = rules(
            r#"
- name: help
  when: {command: /help}
  reply: "help for {{ sender }}: {{ args | join(',') }}"
- name: deploy
  when: {regex: '^deploy (?P<svc>[a-z]+)$', platform: [feishu, dingtalk]}
  reply: {type: markdown, title: "Deploy", text: "deploying {{ captures.svc }}"}
- name: hi
  when: {text: hi}
  reply: hello
- name: fallback
  when: {kind: message}
  ignore: true
"#,
        );
        let p = |e: &Event| {
            r.plan("b", e, &Value::Null)
                .into_iter()
                .map(|x| x.unwrap())
                .collect::<Vec<_>>()
        };
        let got = p(&message(Platform::Feishu, "@_user_1 /help a b"));
        assert_eq!(got.len(), 1);
        assert_eq!(texts(&got[0]), ["help for u1: a,b"]);
        // /helpme is not /help
        assert_eq!(p(&message(Platform::Feishu, "/helpme"))[0].source, "fallback");
        assert_eq!(
            texts(&p(&message(Platform::Dingtalk, "deploy api"))[0]),
            ["deploying api"]
        );
        assert_eq!(p(&message(Platform::Wechat, "deploy api"))[0].source, "fallback");
        assert_eq!(texts(&p(&message(Platform::Wechat, "  hi "))[0]), ["hello"]);
        let mut click = message(Platform::Wechat, "");
        click.kind = EventKind::MenuClick;
        assert!(p(&click).is_empty());
    }

    #[test]
    fn state_and_continue() {
        let r = rules(
            r#"
- name: log
  when: {}
  forward: {url: "https://example.com/x", secret: s}
  continue: true
- name: ask
  when: {command: /survey, state: {}}
  reply: "your name?"
  set_state: {step: name}
- name: answer
  when: {state: {step: name}}
  reply: "thanks {{ text }}"
  clear_state: true
"#,
        );
        let plans: Vec<Plan> = r
            .plan("b", &message(Platform::Feishu, "/survey"), &Value::Null)
            .into_iter()
            .map(|x| x.unwrap())
            .collect();
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].actions[0].name(), "forward");
        assert_eq!(plans[1].state, StateChange::Set(serde_json::json!({"step": "name"})));
        let state = serde_json::json!({"step": "name"});
        let plans: Vec<Plan> = r
            .plan("b", &message(Platform::Feishu, "Ann"), &state)
            .into_iter()
            .map(|x| x.unwrap())
            .collect();
        assert_eq!(texts(&plans[1]), ["thanks Ann"]);
        assert_eq!(plans[1].state, StateChange::Clear);
    }

    #[test]
    fn bad_rules_are_named() {
        let bad = |yaml: &str| {
            let v: Value = serde_saphyr::from_str(yaml).unwrap();
            Rules::from_config(Some(&v)).unwrap_err().to_string()
        };
        assert!(bad("- name: x\n  when: {regex: '('}\n  ignore: true\n").contains("rules[0] (x): `when.regex`"));
        assert!(bad("- when: {}\n").contains("no action"));
        assert!(bad("- when: {colour: red}\n  ignore: true\n").contains("colour"));
        assert!(bad("- when: {}\n  reply: '{{ unclosed'\n").contains("template"));
        assert!(bad("- when: {}\n  forward: {url: 'http://example.com', secret: s}\n").contains("https"));
        assert!(bad("- when: {kind: mesage}\n  ignore: true\n").contains("mesage"));
    }

    #[test]
    fn normalizes_mentions() {
        assert_eq!(normalized_text("@_user_1 @_user_22  /help x "), "/help x");
        assert_eq!(normalized_text(" hi"), "hi");
    }
}
