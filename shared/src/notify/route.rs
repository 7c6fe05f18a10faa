//! Alert routes: an ordered list of label matchers, as in Alertmanager's own routing tree
//! (flattened), choosing for each alert the targets it goes to and whom to mention. The
//! first matching route takes an alert unless it says `continue`; an alert no route takes
//! is not sent (and is logged). Each target then gets one card with the alerts routed to it.
//!
//! Matchers use Alertmanager's syntax: `label="value"`, `label!="value"`, `label=~"regex"`,
//! `label!~"regex"` (regexes anchored at both ends, as Alertmanager anchors them); a label
//! that is absent is the empty string.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value};

use botgate_core::event::Platform;
use botgate_core::message::Mentions;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~`
    Re,
    /// `!~`
    NotRe,
}

/// One label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label's name.
    pub label: String,
    /// The comparison.
    pub op: Op,
    /// The value, or the regex as written.
    pub value: String,
    /// The anchored regex (`=~`, `!~`).
    re: Option<Regex>,
}

/// The largest compiled matcher regex, in bytes.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Matcher {
    /// Parses `label="value"` (the quotes optional; `\"` and `\\` escapes inside them).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let name_end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| "no operator (=, !=, =~ or !~)".to_owned())?;
        let label = &s[..name_end];
        if label.is_empty() || label.starts_with(|c: char| c.is_ascii_digit()) {
            return Err("does not start with a label name".into());
        }
        let rest = s[name_end..].trim_start();
        let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
            (Op::Re, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (Op::NotRe, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (Op::Ne, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (Op::Eq, r)
        } else {
            return Err("expected =, !=, =~ or !~ after the label name".into());
        };
        let value = unquote(rest.trim())?;
        let re = match op {
            Op::Re | Op::NotRe => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| format!("not a regex: {e}"))?,
            ),
            Op::Eq | Op::Ne => None,
        };
        Ok(Self {
            label: label.to_owned(),
            op,
            value,
            re,
        })
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let v = labels.get(&self.label).and_then(Value::as_str).unwrap_or_default();
        match (self.op, &self.re) {
            (Op::Eq, _) => v == self.value,
            (Op::Ne, _) => v != self.value,
            (Op::Re, Some(re)) => re.is_match(v),
            (Op::NotRe, Some(re)) => !re.is_match(v),
            (Op::Re | Op::NotRe, None) => false,
        }
    }
}

fn unquote(v: &str) -> Result<String, String> {
    let Some(inner) = v.strip_prefix('"') else {
        return Ok(v.to_owned());
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' if chars.as_str().trim().is_empty() => return Ok(out),
            '"' => return Err("text after the closing quote".into()),
            '\\' => match chars.next() {
                Some(e @ ('"' | '\\')) => out.push(e),
                Some('n') => out.push('\n'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err("no closing quote".into())
}

/// Someone who can be mentioned, by their id on each platform (a Feishu open_id or user_id,
/// a DingTalk or WeCom user id, or a mobile number).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    /// Ids by platform.
    pub ids: BTreeMap<Platform, String>,
}

/// One route.
#[derive(Debug, Clone, Default)]
pub struct Route {
    /// All must match (none: every alert).
    pub matchers: Vec<Matcher>,
    /// Where the alerts it takes go.
    pub targets: Vec<String>,
    /// People always mentioned (names in `alerts.people`).
    pub mention: Vec<String>,
    /// A label whose value names a person to mention (`owner`, `oncall`).
    pub mention_label: Option<String>,
    /// Go on to the next routes after this one matched.
    pub cont: bool,
}

/// `alerts:` the routers and the people they mention.
#[derive(Debug, Clone, Default)]
pub struct AlertRouting {
    /// People by name.
    pub people: BTreeMap<String, Person>,
    /// Routers by name: `POST /alertmanager/{name}` and `POST /grafana/{name}`.
    pub routers: BTreeMap<String, Vec<Route>>,
}

/// The alerts one target gets, and whom to mention there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routed {
    /// Indices into the webhook's alerts, in order.
    pub alerts: Vec<usize>,
    /// People to mention, by name, without repeats.
    pub people: Vec<String>,
}

impl AlertRouting {
    /// Routes each alert (given by its labels) through `router`: target name to what it gets.
    pub fn route(&self, router: &[Route], alerts: &[&Map<String, Value>]) -> BTreeMap<String, Routed> {
        let mut out: BTreeMap<String, Routed> = BTreeMap::new();
        for (i, labels) in alerts.iter().enumerate() {
            for r in router {
                if !r.matchers.iter().all(|m| m.matches(labels)) {
                    continue;
                }
                let mut people: Vec<String> = r.mention.clone();
                if let Some(label) = &r.mention_label
                    && let Some(name) = labels.get(label).and_then(Value::as_str)
                    && self.people.contains_key(name)
                {
                    people.push(name.to_owned());
                }
                for t in &r.targets {
                    let got = out.entry(t.clone()).or_default();
                    if got.alerts.last() != Some(&i) {
                        got.alerts.push(i);
                    }
                    for p in &people {
                        if !got.people.contains(p) {
                            got.people.push(p.clone());
                        }
                    }
                }
                if !r.cont {
                    break;
                }
            }
        }
        out
    }

    /// The mentions of `people` on `platform`: digits are mobiles, anything else a user id;
    /// people without an id there are left out.
    pub fn mentions(&self, people: &[String], platform: Platform) -> Mentions {
        let mut m = Mentions::default();
        for id in people.iter().filter_map(|p| self.people.get(p)?.ids.get(&platform)) {
            if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit() || c == '+') {
                m.mobiles.push(id.clone());
            } else {
                m.user_ids.push(id.clone());
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn matchers_parse_as_alertmanager_writes_them() {
        let m = Matcher::parse(r#"team=~"db|storage""#).unwrap();
        assert_eq!((m.label.as_str(), m.op), ("team", Op::Re));
        assert!(m.matches(&labels(json!({"team": "db"}))));
        assert!(!m.matches(&labels(json!({"team": "dbx"}))), "anchored");
        let m = Matcher::parse("severity != critical").unwrap();
        assert!(m.matches(&labels(json!({}))), "an absent label is empty");
        let m = Matcher::parse(r#"summary="say \"hi\"""#).unwrap();
        assert_eq!(m.value, r#"say "hi""#);
        for bad in ["severity", "=x", "9a=x", r#"a="x"y"#, r#"a="x"#, "a=~\"(\""] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_match_takes_an_alert_unless_it_continues() {
        let mut routing = AlertRouting::default();
        routing.people.insert(
            "alice".into(),
            Person {
                ids: [
                    (Platform::Feishu, "ou_alice".into()),
                    (Platform::Dingtalk, "13800000001".into()),
                ]
                .into_iter()
                .collect(),
            },
        );
        let router = vec![
            Route {
                matchers: vec![Matcher::parse(r#"severity="critical""#).unwrap()],
                targets: vec!["pager".into()],
                mention_label: Some("owner".into()),
                cont: true,
                ..Route::default()
            },
            Route {
                matchers: vec![Matcher::parse(r#"team="db""#).unwrap()],
                targets: vec!["db-chat".into()],
                ..Route::default()
            },
            Route {
                targets: vec!["ops".into()],
                ..Route::default()
            },
        ];
        let a = labels(json!({"severity": "critical", "team": "db", "owner": "alice"}));
        let b = labels(json!({"severity": "warning", "team": "web", "owner": "nobody"}));
        let c = labels(json!({"severity": "critical", "team": "web"}));
        let got = routing.route(&router, &[&a, &b, &c]);
        assert_eq!(got["pager"].alerts, [0, 2]);
        assert_eq!(got["pager"].people, ["alice"]);
        assert_eq!(got["db-chat"].alerts, [0]);
        assert_eq!(got["ops"].alerts, [1, 2]);
        let m = routing.mentions(&got["pager"].people, Platform::Dingtalk);
        assert_eq!(m.mobiles, ["13800000001"]);
        let m = routing.mentions(&got["pager"].people, Platform::Feishu);
        assert_eq!(m.user_ids, ["ou_alice"]);
        assert!(
            routing
                .mentions(&got["pager"].people, Platform::Wecom)
                .user_ids
                .is_empty()
        );
    }
}
