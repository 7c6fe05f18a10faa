//! `alerts:` checked and built: people with an id per platform, routers whose matchers
//! parse, whose targets and people exist, and whose names do not shadow a target.

use std::collections::BTreeMap;

use super::scope::Scope;
use crate::config::file;
use crate::notify::route::{AlertRouting, Matcher, Person, Route};
use botgate_core::Platform;

fn label_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Builds the routing; `targets` are the configured target names, `api` whether the
/// notify API (whose routes the routers answer on) is on.
pub(crate) fn routing(s: &mut Scope<'_>, a: &file::Alerts, targets: &BTreeMap<String, ()>, api: bool) -> AlertRouting {
    let mut out = AlertRouting::default();
    for (name, p) in a.people.iter().flatten() {
        let mut person = Person::default();
        for (platform, id) in [
            (Platform::Feishu, &p.feishu),
            (Platform::Dingtalk, &p.dingtalk),
            (Platform::Wecom, &p.wecom),
        ] {
            if let Some(f) = s.opt(id.as_ref()) {
                person.ids.insert(platform, f.value.trim().to_owned());
            }
        }
        out.people.insert(name.clone(), person);
    }
    for (name, routes) in a.routers.iter().flatten() {
        let line = routes.first().and_then(|r| r.targets.first()).map_or(0, |t| t.line);
        if !api {
            s.invalid(
                &format!("alerts.routers.{name}"),
                line,
                "routers answer on the notify API: add a `notify_api:` section",
            );
        }
        if targets.contains_key(name) {
            s.invalid(
                &format!("alerts.routers.{name}"),
                line,
                "a router may not share a target's name (`/alertmanager/{name}` would be ambiguous)",
            );
        }
        let mut built = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            let path = format!("alerts.routers.{name}[{i}]");
            let mut route = Route {
                cont: match &r.cont {
                    Some(f) => s.flag(&format!("{path}.continue"), f).unwrap_or(false),
                    None => false,
                },
                ..Route::default()
            };
            for (j, m) in r.matchers.iter().flatten().enumerate() {
                match Matcher::parse(&m.value) {
                    Ok(m) => route.matchers.push(m),
                    Err(why) => s.invalid(&format!("{path}.match[{j}]"), m.line, why),
                }
            }
            if r.targets.is_empty() {
                s.invalid(&format!("{path}.targets"), line, "name at least one target");
            }
            for (j, t) in r.targets.iter().enumerate() {
                if targets.contains_key(&t.value) {
                    route.targets.push(t.value.clone());
                } else {
                    s.invalid(
                        &format!("{path}.targets[{j}]"),
                        t.line,
                        format!("no target `{}` in `targets:`", t.value),
                    );
                }
            }
            for (j, p) in r.mention.iter().flatten().enumerate() {
                if out.people.contains_key(&p.value) {
                    route.mention.push(p.value.clone());
                } else {
                    s.invalid(
                        &format!("{path}.mention[{j}]"),
                        p.line,
                        format!("no person `{}` in `alerts.people`", p.value),
                    );
                }
            }
            if let Some(l) = &r.mention_label {
                if label_name(&l.value) {
                    route.mention_label = Some(l.value.clone());
                } else {
                    s.invalid(&format!("{path}.mention_label"), l.line, "not a label name");
                }
            }
            built.push(route);
        }
        out.routers.insert(name.clone(), built);
    }
    out
}
