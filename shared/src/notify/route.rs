//! Alert routes: an ordered list of label matchers, as in Alertmanager's own routing tree
//! (flattened), choosing for each alert the targets it goes to and whom to mention. The
//! first matching route takes an alert unless it says `continue`; an alert no route takes
//! is not sent (and is logged). Each target then gets one card with the alerts routed to it.
//!
//! An on-call rota (`alerts.oncall`) names who is on call by weekday and time of day in a
//! time zone (daylight saving time included); a route's `mention_oncall` mentions whoever
//! is on call when the alerts arrive.
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

/// One shift of a rota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// The local weekdays it applies on (empty: every day).
    pub days: Vec<chrono::Weekday>,
    /// From this local minute of the day (0..=1440), inclusive.
    pub from_min: u32,
    /// To this local minute, exclusive; before `from_min`, the shift runs past midnight (and
    /// its second half counts on the days listed too).
    pub to_min: u32,
    /// Who is on call (names in `alerts.people`).
    pub people: Vec<String>,
}

/// An on-call rota: the first shift that holds at a time says who is on call.
#[derive(Debug, Clone)]
pub struct Rota {
    /// The time zone the shifts are read in.
    pub timezone: chrono_tz::Tz,
    /// The shifts, in order.
    pub shifts: Vec<Shift>,
}

impl Rota {
    /// Who is on call at `now_ms` (Unix ms): the first matching shift's people.
    pub fn on_call(&self, now_ms: i64) -> &[String] {
        use chrono::{Datelike, TimeZone, Timelike};
        let Some(local) = self.timezone.timestamp_millis_opt(now_ms).single() else {
            return &[];
        };
        let day = local.weekday();
        let minute = local.hour() * 60 + local.minute();
        self.shifts
            .iter()
            .find(|s| {
                (s.days.is_empty() || s.days.contains(&day))
                    && if s.from_min <= s.to_min {
                        (s.from_min..s.to_min).contains(&minute)
                    } else {
                        minute >= s.from_min || minute < s.to_min
                    }
            })
            .map_or(&[], |s| s.people.as_slice())
    }
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
    /// A rota in `alerts.oncall` whose current people to mention.
    pub mention_oncall: Option<String>,
    /// The message template its targets get (none: the built-in card).
    pub template: Option<crate::template::MessageSpec>,
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
    /// On-call rotas by name.
    pub oncall: BTreeMap<String, Rota>,
}

/// The alerts one target gets, and whom to mention there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routed {
    /// Indices into the webhook's alerts, in order.
    pub alerts: Vec<usize>,
    /// People to mention, by name, without repeats.
    pub people: Vec<String>,
    /// The template of the first route that sent an alert here, if it has one.
    pub template: Option<crate::template::MessageSpec>,
}

impl AlertRouting {
    /// Routes each alert (given by its labels) through `router` at `now_ms` (for on-call
    /// rotas): target name to what it gets.
    pub fn route(&self, router: &[Route], alerts: &[&Map<String, Value>], now_ms: i64) -> BTreeMap<String, Routed> {
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
                if let Some(rota) = r.mention_oncall.as_ref().and_then(|n| self.oncall.get(n)) {
                    people.extend(rota.on_call(now_ms).iter().cloned());
                }
                for t in &r.targets {
                    let fresh = !out.contains_key(t);
                    let got = out.entry(t.clone()).or_default();
                    if fresh {
                        got.template.clone_from(&r.template);
                    }
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
        let got = routing.route(&router, &[&a, &b, &c], 0);
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

    /// Europe/Berlin: weekdays 09:00-18:00 alice, weekends bob all day, nights carol.
    fn rota() -> Rota {
        use chrono::Weekday::*;
        Rota {
            timezone: chrono_tz::Europe::Berlin,
            shifts: vec![
                Shift {
                    days: vec![Mon, Tue, Wed, Thu, Fri],
                    from_min: 9 * 60,
                    to_min: 18 * 60,
                    people: vec!["alice".into()],
                },
                Shift {
                    days: vec![Sat, Sun],
                    from_min: 0,
                    to_min: 24 * 60,
                    people: vec!["bob".into()],
                },
                Shift {
                    days: vec![],
                    from_min: 18 * 60,
                    to_min: 9 * 60,
                    people: vec!["carol".into()],
                },
            ],
        }
    }

    fn utc_ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn the_rota_follows_local_time_across_weekends_nights_and_dst() {
        let r = rota();
        let who = |t: &str| r.on_call(utc_ms(t)).to_vec();
        // Friday 2026-03-27 17:59 CET (UTC+1) is a weekday; 18:00 is night.
        assert_eq!(who("2026-03-27T16:59:00Z"), ["alice"]);
        assert_eq!(who("2026-03-27T17:00:00Z"), ["carol"]);
        // Saturday 00:00 local is the weekend, however late Friday's night shift started.
        assert_eq!(who("2026-03-27T23:00:00Z"), ["bob"]);
        // Sunday 2026-03-29 clocks go forward (02:00 CET -> 03:00 CEST); Monday is UTC+2.
        assert_eq!(who("2026-03-29T12:00:00Z"), ["bob"]);
        // Monday 08:59 CEST = 06:59 UTC: still night; 09:00 CEST = 07:00 UTC: alice.
        assert_eq!(who("2026-03-30T06:59:00Z"), ["carol"]);
        assert_eq!(who("2026-03-30T07:00:00Z"), ["alice"]);
        // The same UTC hour a week earlier (still CET) was 08:00 local: night.
        assert_eq!(who("2026-03-23T07:00:00Z"), ["carol"]);
        // Autumn: Sunday 2026-10-25 back to CET; Monday 09:00 CET = 08:00 UTC.
        assert_eq!(who("2026-10-26T07:30:00Z"), ["carol"]);
        assert_eq!(who("2026-10-26T08:00:00Z"), ["alice"]);
    }

    #[test]
    fn a_route_mentions_whoever_is_on_call_when_the_alert_arrives() {
        let mut routing = AlertRouting::default();
        for name in ["alice", "bob", "carol"] {
            routing.people.insert(
                name.into(),
                Person {
                    ids: [(Platform::Feishu, format!("ou_{name}"))].into_iter().collect(),
                },
            );
        }
        routing.oncall.insert("primary".into(), rota());
        let router = vec![Route {
            targets: vec!["pager".into()],
            mention_oncall: Some("primary".into()),
            ..Route::default()
        }];
        let a = labels(json!({"alertname": "Down"}));
        let at = |t: &str| routing.route(&router, &[&a], utc_ms(t))["pager"].people.clone();
        assert_eq!(at("2026-11-25T10:00:00Z"), ["alice"], "Wednesday 11:00 CET");
        assert_eq!(at("2026-11-25T20:00:00Z"), ["carol"], "Wednesday 21:00 CET");
        assert_eq!(at("2026-11-28T20:00:00Z"), ["bob"], "Saturday");
    }
}
