//! `alerts:` checked and built: people with an id per platform, routers whose matchers
//! parse, whose targets and people exist, and whose names do not shadow a target.

use std::collections::BTreeMap;

use super::scope::Scope;
use crate::config::file;
use crate::notify::route::{AlertRouting, Matcher, Person, Rota, Route, Shift};
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
    for (name, r) in a.oncall.iter().flatten() {
        if let Some(rota) = rota(s, &format!("alerts.oncall.{name}"), r, &out) {
            out.oncall.insert(name.clone(), rota);
        }
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
            if let Some(o) = &r.mention_oncall {
                if out.oncall.contains_key(&o.value) {
                    route.mention_oncall = Some(o.value.clone());
                } else {
                    s.invalid(
                        &format!("{path}.mention_oncall"),
                        o.line,
                        format!("no rota `{}` in `alerts.oncall`", o.value),
                    );
                }
            }
            if let Some(t) = &r.template {
                route.template = alert_template(s, &format!("{path}.template"), t);
            }
            built.push(route);
        }
        out.routers.insert(name.clone(), built);
    }
    out
}

fn weekday(s: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday::*;
    Some(match s.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Mon,
        "tue" => Tue,
        "wed" => Wed,
        "thu" => Thu,
        "fri" => Fri,
        "sat" => Sat,
        "sun" => Sun,
        _ => return None,
    })
}

/// `HH:MM` as minutes of the day, `24:00` included.
fn minute_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let total = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && total <= 24 * 60).then_some(total)
}

fn rota(s: &mut Scope<'_>, path: &str, r: &file::Rota, routing: &AlertRouting) -> Option<Rota> {
    let timezone = match s.opt(r.timezone.as_ref()) {
        None => chrono_tz::Asia::Shanghai,
        Some(f) => match f.value.trim().parse::<chrono_tz::Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                s.invalid(
                    &format!("{path}.timezone"),
                    f.line,
                    "not an IANA time zone (like Asia/Shanghai)",
                );
                return None;
            }
        },
    };
    let mut shifts = Vec::new();
    for (i, sh) in r.shifts.iter().enumerate() {
        let p = format!("{path}.shifts[{i}]");
        let mut shift = Shift {
            days: Vec::new(),
            from_min: 0,
            to_min: 24 * 60,
            people: Vec::new(),
        };
        for (j, d) in sh.days.iter().flatten().enumerate() {
            match weekday(&d.value) {
                Some(w) => shift.days.push(w),
                None => s.invalid(&format!("{p}.days[{j}]"), d.line, "not a weekday (mon, tue, ... sun)"),
            }
        }
        for (field, value, slot) in [
            ("from", &sh.from, &mut shift.from_min),
            ("to", &sh.to, &mut shift.to_min),
        ] {
            if let Some(t) = value {
                match minute_of_day(&t.value) {
                    Some(m) => *slot = m,
                    None => s.invalid(
                        &format!("{p}.{field}"),
                        t.line,
                        "not a local time HH:MM (00:00 to 24:00)",
                    ),
                }
            }
        }
        if sh.people.is_empty() {
            s.invalid(
                &format!("{p}.people"),
                sh.from.as_ref().map_or(0, |t| t.line),
                "name at least one person",
            );
        }
        for (j, person) in sh.people.iter().enumerate() {
            if routing.people.contains_key(&person.value) {
                shift.people.push(person.value.clone());
            } else {
                s.invalid(
                    &format!("{p}.people[{j}]"),
                    person.line,
                    format!("no person `{}` in `alerts.people`", person.value),
                );
            }
        }
        shifts.push(shift);
    }
    Some(Rota { timezone, shifts })
}

/// An alert template (a route's `template`, a target's `alert_template`), its references
/// substituted and every text compiled; an error names `path`, the field and the line.
pub(crate) fn alert_template(
    s: &mut Scope<'_>,
    path: &str,
    t: &crate::config::leaf::Located<crate::template::MessageSpec>,
) -> Option<crate::template::MessageSpec> {
    let mut spec = t.value.clone();
    for text in spec.strings_mut() {
        *text = s.refs().substitute(text).0;
    }
    match crate::template::Templates::new().add_message(path, &spec) {
        Ok(_) => Some(spec),
        Err((field, why)) => {
            s.invalid(&format!("{path}.{field}"), t.line, why);
            None
        }
    }
}
