//! `rules:` each rule's conditions, actions and state change, compiled: regexes built,
//! templates compiled, bots and forward URLs checked.

use std::collections::BTreeMap;

use regex::RegexBuilder;

use super::scope::Scope;
use crate::config::file::{self, ActionItem, AnswerAction, ForwardAction, NotifyAction, ToastSpec};
use crate::config::{Located, OneOrMany, Scalar};
use crate::rules::{ActionMatch, ActionSpec, Matcher, Rule, Rules, StateSpec, TextTest};
use crate::template::{MessageSpec, Templates};
use botgate_core::answer::ToastKind;
use botgate_core::event::Platform;
use botgate_core::secret::Secret;

/// The largest compiled regex (a rule's `when.regex`), in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn strings(v: &Option<OneOrMany<Scalar>>) -> Option<Vec<String>> {
    v.as_ref().map(|v| v.to_vec().into_iter().map(|s| s.0).collect())
}

/// Compiles every rule; `bots` are the configured bot ids (a `notify` names one).
pub(crate) fn all(s: &mut Scope<'_>, rules: &[file::Rule], bots: &BTreeMap<String, Platform>) -> Rules {
    let mut templates = Templates::new();
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let name = r.name.clone().unwrap_or_else(|| format!("rule-{i}"));
        s.rule = Some(name.clone());
        if let Some(rule) = one(s, i, name, r, bots, &mut templates) {
            out.push(rule);
        }
    }
    s.rule = None;
    Rules::new(out, templates)
}

fn when(s: &mut Scope<'_>, path: &str, w: &Located<file::When>, bots: &BTreeMap<String, Platform>) -> Option<Matcher> {
    let line = w.line;
    let w = &w.value;
    // A rule for a bot that is not configured would never match: a typo, or a removed bot.
    if let Some(missing) = strings(&w.bot)
        .unwrap_or_default()
        .into_iter()
        .find(|b| !bots.contains_key(b))
    {
        s.invalid(
            &format!("{path}.when.bot"),
            line,
            format!("no bot `{missing}` in `bots:` (the rule would never match)"),
        );
        return None;
    }
    let tests: Vec<&str> = [
        ("text", w.text.is_some()),
        ("command", w.command.is_some()),
        ("regex", w.regex.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| k)
    .collect();
    if tests.len() > 1 {
        s.invalid(
            &format!("{path}.when"),
            line,
            format!("use one of `when.text`, `when.command`, `when.regex`, not {tests:?}"),
        );
        return None;
    }
    let text = if let Some(t) = &w.text {
        Some(TextTest::Exact(s.text(t).value.trim().to_owned()))
    } else if let Some(c) = &w.command {
        let c = s.text(c);
        if c.value.trim().is_empty() || c.value.contains(char::is_whitespace) {
            s.invalid(
                &format!("{path}.when.command"),
                c.line,
                "`when.command` must be one word, such as /help",
            );
            return None;
        }
        Some(TextTest::Command(c.value))
    } else if let Some(r) = &w.regex {
        let r = s.text(r);
        match RegexBuilder::new(&r.value).size_limit(REGEX_SIZE_LIMIT).build() {
            Ok(re) => Some(TextTest::Regex(re)),
            Err(e) => {
                s.invalid(&format!("{path}.when.regex"), r.line, e.to_string());
                return None;
            }
        }
    } else {
        None
    };
    Some(Matcher {
        platform: w.platform.as_ref().map(OneOrMany::to_vec),
        bot: strings(&w.bot),
        event_type: strings(&w.event_type),
        kind: w.kind.as_ref().map(|k| k.to_vec().into_iter().map(|k| k.0).collect()),
        chat_type: strings(&w.chat_type),
        sender: strings(&w.sender),
        key: strings(&w.key),
        text,
        state: w.state.clone(),
        action: w.action.as_ref().map(|a| ActionMatch {
            name: strings(&a.name),
            option: strings(&a.option),
            value: a.value.clone(),
        }),
    })
}

/// A message template with its references resolved, compiled under `name`.
fn message(
    s: &mut Scope<'_>,
    templates: &mut Templates,
    name: &str,
    line: usize,
    spec: &MessageSpec,
) -> Option<crate::template::CompiledMessage> {
    let mut spec = spec.clone();
    for text in spec.strings_mut() {
        *text = s.refs().substitute(text).0;
    }
    match templates.add_message(name, &spec) {
        Ok(m) => Some(m),
        Err((field, why)) => {
            s.invalid(&format!("{name}.{field}"), line, why);
            None
        }
    }
}

fn notify_spec(n: &NotifyAction) -> MessageSpec {
    MessageSpec {
        kind: n.kind,
        title: n.title.clone(),
        text: n.text.clone(),
        buttons: n.buttons.clone(),
        color: n.color.clone(),
        mentions: n.mentions.clone(),
        ..MessageSpec::default()
    }
}

/// `answer:` compiled; a toast and a button label are templates, the card a message.
fn answer(s: &mut Scope<'_>, templates: &mut Templates, at: &str, line: usize, a: &AnswerAction) -> Option<ActionSpec> {
    if a.toast.is_none() && a.card.is_none() && a.button.is_none() {
        s.invalid(at, line, "an answer needs a `toast`, a `card` or a `button`");
        return None;
    }
    let mut slot = |s: &mut Scope<'_>, field: &str, source: &str| {
        let source = s.refs().substitute(source).0;
        match templates.slot(&format!("{at}.{field}"), &source) {
            Ok(t) => Some(t),
            Err(why) => {
                s.invalid(&format!("{at}.{field}"), line, why);
                None
            }
        }
    };
    let toast = match &a.toast {
        None => None,
        Some(ToastSpec::Text(text)) => Some((ToastKind::Info, slot(s, "toast", text)?)),
        Some(ToastSpec::Styled { kind, text }) => Some((*kind, slot(s, "toast.text", text)?)),
    };
    let button = match &a.button {
        Some(b) => Some(slot(s, "button", b)?),
        None => None,
    };
    let card = match &a.card {
        Some(c) => Some(message(s, templates, &format!("{at}.card"), line, c)?),
        None => None,
    };
    Some(ActionSpec::Answer { toast, card, button })
}

/// One action, compiled; `at` is its path (`rules[2].reply`, `rules[2].actions[1].forward`).
#[allow(clippy::too_many_arguments)]
fn action(
    s: &mut Scope<'_>,
    templates: &mut Templates,
    at: &str,
    line: usize,
    item: &ActionItem,
    bots: &BTreeMap<String, Platform>,
) -> Option<ActionSpec> {
    match item {
        ActionItem::Reply(m) => message(s, templates, at, line, m).map(ActionSpec::Reply),
        ActionItem::Notify(n) => {
            let bot = s.text(&n.bot).value;
            if !bots.contains_key(&bot) {
                let rule = s.rule.clone().unwrap_or_default();
                s.invalid(
                    &format!("{at}.bot"),
                    n.bot.line,
                    format!("rule `{rule}` notifies through bot `{bot}`, which is not configured"),
                );
                return None;
            }
            let to = s.text(&n.to);
            let to = match templates.add(&format!("{at}.to"), &to.value) {
                Ok(t) => t,
                Err(why) => {
                    s.invalid(&format!("{at}.to"), to.line, why);
                    return None;
                }
            };
            let message = message(s, templates, at, line, &notify_spec(n))?;
            Some(ActionSpec::Notify { bot, to, message })
        }
        ActionItem::Forward(ForwardAction {
            url,
            secret,
            include_session_webhook,
        }) => {
            let u = s.text(url);
            if !s.url(&format!("{at}.url"), &u) {
                return None;
            }
            let secret = s.text(secret);
            if secret.value.trim().is_empty() {
                s.invalid(
                    &format!("{at}.secret"),
                    secret.line,
                    "`forward.secret` is required (the receiver checks the signature with it)",
                );
                return None;
            }
            Some(ActionSpec::Forward {
                url: u.value,
                secret: Secret::new(secret.value),
                keep_session_webhook: *include_session_webhook,
            })
        }
        ActionItem::Answer(a) => answer(s, templates, at, line, a),
        ActionItem::UpdateCard(m) => message(s, templates, at, line, m).map(ActionSpec::UpdateCard),
        ActionItem::Ignore(true) => Some(ActionSpec::Ignore),
        ActionItem::Ignore(false) => None,
    }
}

fn one(
    s: &mut Scope<'_>,
    i: usize,
    name: String,
    r: &file::Rule,
    bots: &BTreeMap<String, Platform>,
    templates: &mut Templates,
) -> Option<Rule> {
    let path = format!("rules[{i}]");
    let default_when = Located::new(file::When::default());
    let w = r.when.as_ref().unwrap_or(&default_when);
    let matcher = when(s, &path, w, bots);
    let mut items: Vec<(String, usize, ActionItem)> = Vec::new();
    if let Some(m) = &r.reply {
        items.push((format!("{path}.reply"), m.line, ActionItem::Reply(m.value.clone())));
    }
    if let Some(n) = &r.notify {
        items.push((format!("{path}.notify"), n.line, ActionItem::Notify(n.value.clone())));
    }
    if let Some(f) = &r.forward {
        items.push((format!("{path}.forward"), f.line, ActionItem::Forward(f.value.clone())));
    }
    if let Some(a) = &r.answer {
        items.push((format!("{path}.answer"), a.line, ActionItem::Answer(a.value.clone())));
    }
    if let Some(u) = &r.update_card {
        items.push((
            format!("{path}.update_card"),
            u.line,
            ActionItem::UpdateCard(u.value.clone()),
        ));
    }
    if let Some(ignore) = r.ignore {
        items.push((format!("{path}.ignore"), w.line, ActionItem::Ignore(ignore)));
    }
    for (j, item) in r.actions.iter().flatten().enumerate() {
        let name = match &item.value {
            ActionItem::Reply(_) => "reply",
            ActionItem::Notify(_) => "notify",
            ActionItem::Forward(_) => "forward",
            ActionItem::Answer(_) => "answer",
            ActionItem::UpdateCard(_) => "update_card",
            ActionItem::Ignore(_) => "ignore",
        };
        items.push((format!("{path}.actions[{j}].{name}"), item.line, item.value.clone()));
    }
    let mut actions = Vec::new();
    let mut broken = matcher.is_none();
    for (at, line, item) in &items {
        let ignored_off = matches!(item, ActionItem::Ignore(false));
        match action(s, templates, at, *line, item, bots) {
            Some(a) => actions.push(a),
            None if ignored_off => {}
            None => broken = true,
        }
    }
    if items
        .iter()
        .all(|(_, _, item)| matches!(item, ActionItem::Ignore(false)))
    {
        s.invalid(
            &path,
            w.line,
            "no action: add reply, answer, update_card, forward, notify, ignore or actions",
        );
        return None;
    }
    let state = match (&r.set_state, r.clear_state) {
        (Some(set), Some(true)) => {
            s.invalid(
                &format!("{path}.set_state"),
                set.line,
                "use set_state or clear_state, not both",
            );
            return None;
        }
        (_, Some(true)) => StateSpec::Clear,
        (Some(set), _) => {
            let mut fields = Vec::new();
            for (k, v) in &set.value {
                let source = s.refs().substitute(&v.0).0;
                match templates.add(&format!("{path}.set_state.{k}"), &source) {
                    Ok(t) => fields.push((k.clone(), t)),
                    Err(why) => {
                        s.invalid(&format!("{path}.set_state.{k}"), set.line, why);
                        broken = true;
                    }
                }
            }
            StateSpec::Set(fields)
        }
        _ => StateSpec::Keep,
    };
    if broken {
        return None;
    }
    Some(Rule {
        name,
        when: matcher?,
        actions,
        state,
        keep_going: r.keep_going.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::config::Mode;
    use crate::rules::{Action, Plan, Rules, StateChange};
    use botgate_core::event::{Event, EventKind, Platform};
    use botgate_core::message::Message;

    /// Compiles a `rules:` list written as YAML (a configuration with no bots).
    fn compile(yaml: &str) -> Result<Rules, String> {
        let indented: String = yaml.lines().map(|l| format!("  {l}\n")).collect();
        let text = format!("bots: {{}}\nrules:\n{indented}");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(crate::deps::load(&text, Mode::SyntaxOnly))
            .map(|s| std::sync::Arc::try_unwrap(s.rules).unwrap_or_default())
            .map_err(|e| e.to_string())
    }

    fn rules(yaml: &str) -> Rules {
        compile(yaml).unwrap()
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
        let bad = |yaml: &str| compile(yaml).unwrap_err();
        assert!(bad("- name: x\n  when: {regex: '('}\n  ignore: true\n").contains("rules[0] (x): `when.regex`"));
        assert!(bad("- when: {}\n").contains("no action"));
        assert!(bad("- when: {colour: red}\n  ignore: true\n").contains("colour"));
        assert!(bad("- when: {}\n  reply: '{{ unclosed'\n").contains("template"));
        assert!(bad("- when: {}\n  forward: {url: 'http://example.com', secret: s}\n").contains("https"));
        assert!(bad("- when: {kind: mesage}\n  ignore: true\n").contains("mesage"));
        assert!(bad("- when: {kind: card_action}\n  answer: {}\n").contains("an answer needs"));
        assert!(bad("- when: {action: {nme: approve}}\n  ignore: true\n").contains("nme"));
        assert!(bad("- when: {}\n  answer: {toast: '{{ x'}\n").contains("answer.toast"));
        assert!(bad("- when: {}\n  reply: {type: card, text: t, buttons: [{text: b}]}\n").contains("buttons[0]"));
        assert!(bad("- when: {}\n  reply: {type: image}\n").contains("exactly one of"));
        assert!(bad("- when: {}\n  update_card: {type: card, text: '{{ x'}\n").contains("update_card.text"));
    }

    #[test]
    fn card_presses_match_by_name_option_and_value() {
        let r = rules(
            r#"
- name: approve
  when: {kind: card_action, action: {name: [approve, ok], value: {service: api, n: 2}}}
  answer: {toast: "{{ action.name }} {{ action.value.service }}", button: "done"}
- name: env
  when: {action: {name: env, option: prod}}
  update_card: {type: card, title: "Env", text: "{{ action.option }}"}
"#,
        );
        let press = |value: serde_json::Value, option: Option<&str>| {
            let mut e = Event::new(
                Platform::Feishu,
                "e1".into(),
                "card.action.trigger".into(),
                EventKind::CardAction,
                String::new(),
            );
            let mut a = botgate_core::event::CardAction::from_value(value);
            a.option = option.map(str::to_owned);
            e.action = Some(a);
            r.plan("b", &e, &Value::Null)
                .into_iter()
                .map(|p| p.unwrap())
                .collect::<Vec<_>>()
        };
        let plans = press(serde_json::json!({"name": "ok", "service": "api", "n": "2"}), None);
        let Action::Answer(a) = &plans[0].actions[0] else {
            panic!("{plans:?}")
        };
        assert_eq!(a.toast.as_ref().unwrap().text, "ok api");
        assert_eq!(a.button.as_deref(), Some("done"));
        assert!(press(serde_json::json!({"name": "approve", "service": "db", "n": 2}), None).is_empty());
        let plans = press(serde_json::json!({"name": "env"}), Some("prod"));
        assert_eq!(plans[0].source, "env");
        assert!(press(serde_json::json!({"name": "env"}), Some("dev")).is_empty());
    }

    #[test]
    fn rule_errors_give_the_line() {
        let e = compile("- name: a\n  when: {}\n  ignore: true\n- name: x\n  when: {regex: '('}\n  ignore: true\n")
            .unwrap_err();
        // Two lines (`bots: {}`, `rules:`) come before the list in the compiled file.
        assert!(e.starts_with("rules[1] (x): `when.regex` (line 7)"), "{e}");
        let e = compile("- name: a\n  when: {}\n  notify: {bot: ghost, to: c1, text: hi}\n").unwrap_err();
        assert!(e.contains("ghost") && e.contains("(line 5)"), "{e}");
        let e = compile("- name: a\n  when: {bot: [ghost]}\n  ignore: true\n").unwrap_err();
        assert!(
            e.starts_with("rules[0] (a): `when.bot` (line 4)") && e.contains("no bot `ghost`"),
            "a rule that could never match: {e}"
        );
    }
}
