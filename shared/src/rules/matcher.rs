//! `when`: the conditions of a rule, and what a match captured for the templates.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value};

use botgate_core::event::{Event, EventKind, Platform};

/// The one text test a rule may have.
#[derive(Debug, Clone)]
pub enum TextTest {
    /// The text, exactly (trimmed).
    Exact(String),
    /// A command word (`/help`) and its arguments.
    Command(String),
    /// A regular expression; named groups become captures.
    Regex(Regex),
}

/// A rule's conditions: every one given must hold (`None`: any value).
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// The platforms.
    pub platform: Option<Vec<Platform>>,
    /// The bot ids.
    pub bot: Option<Vec<String>>,
    /// The platform's names for the event.
    pub event_type: Option<Vec<String>>,
    /// The normalized kinds.
    pub kind: Option<Vec<EventKind>>,
    /// `p2p` or `group`.
    pub chat_type: Option<Vec<String>>,
    /// Sender ids.
    pub sender: Option<Vec<String>>,
    /// Menu or event keys.
    pub key: Option<Vec<String>>,
    /// The text test.
    pub text: Option<TextTest>,
    /// Keys whose stored state must equal these values.
    pub state: Option<Map<String, Value>>,
    /// A card action's name, option and values.
    pub action: Option<ActionMatch>,
}

/// `when.action`: what a card action must have sent back. Every field given must hold.
#[derive(Debug, Clone, Default)]
pub struct ActionMatch {
    /// The action's names (a button's or select's `action`).
    pub name: Option<Vec<String>>,
    /// The options chosen in a select.
    pub option: Option<Vec<String>>,
    /// Fields of the value sent back, each equal to this (compared as text).
    pub value: Option<Map<String, Value>>,
}

/// A JSON scalar as text (`"42"` and `42` compare equal).
fn as_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

impl ActionMatch {
    fn matches(&self, event: &Event) -> bool {
        let Some(a) = &event.action else {
            return false;
        };
        any_of::<str>(self.name.as_deref(), a.name.as_deref())
            && any_of::<str>(self.option.as_deref(), a.option.as_deref())
            && self.value.as_ref().is_none_or(|want| {
                want.iter()
                    .all(|(k, v)| a.value.get(k).is_some_and(|have| as_text(have) == as_text(v)))
            })
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

fn any_of<T: PartialEq + ?Sized>(list: Option<&[impl std::borrow::Borrow<T>]>, value: Option<&T>) -> bool {
    match list {
        None => true,
        Some(l) => value.is_some_and(|v| l.iter().any(|x| x.borrow() == v)),
    }
}

/// What a match captured for the templates.
#[derive(Debug, Default)]
pub struct Captures<'t> {
    /// A command's words after the command.
    pub args: Vec<&'t str>,
    /// The rest of the line after a command (the whole text for a regex).
    pub arg: &'t str,
    /// A regex's named groups.
    pub named: BTreeMap<String, String>,
}

impl Matcher {
    /// True when the matcher reads the conversation state.
    pub fn uses_state(&self) -> bool {
        self.state.is_some()
    }

    /// The captures when `event` (to `bot`, with normalized `text`, in `state`) matches.
    pub fn matches<'t>(&self, bot: &str, event: &Event, text: &'t str, state: &Value) -> Option<Captures<'t>> {
        let ok = any_of::<Platform>(self.platform.as_deref(), Some(&event.platform))
            && any_of::<EventKind>(self.kind.as_deref(), Some(&event.kind))
            && any_of::<str>(self.bot.as_deref(), Some(bot))
            && any_of::<str>(self.event_type.as_deref(), Some(&event.event_type))
            && any_of::<str>(self.chat_type.as_deref(), event.chat_type.as_deref())
            && any_of::<str>(self.sender.as_deref(), event.sender_id.as_deref())
            && any_of::<str>(self.key.as_deref(), event.key.as_deref())
            && self.action.as_ref().is_none_or(|a| a.matches(event));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_mentions() {
        assert_eq!(normalized_text("@_user_1 @_user_22  /help x "), "/help x");
        assert_eq!(normalized_text(" hi"), "hi");
    }
}
