//! Alert webhooks: Alertmanager's (version 4) and Grafana Alerting's (version 1) payloads
//! as one card per group (firing first, colour by severity, times at the notify API's
//! `utc_offset`, `@all` for `mention_all` severities, Source / Dashboard / Runbook /
//! Silence / Alertmanager buttons), or routed through `alerts.routers` into one message
//! per target (a route's template or the card) with the route's mentions.

use serde::Deserialize;
use serde_json::{Value, json};

use super::api::ApiSettings;
use botgate_core::inbound::Rejection;
use botgate_core::message::{Button, Mentions, Message};

fn malformed(why: impl Into<String>) -> Rejection {
    Rejection::Malformed(why.into())
}

/// One alert of an Alertmanager webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    status: String,
    #[serde(default)]
    labels: serde_json::Map<String, Value>,
    #[serde(default)]
    annotations: serde_json::Map<String, Value>,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    /// Grafana only: its own new-silence link for this alert.
    #[serde(default, rename = "silenceURL")]
    silence_url: String,
    /// Grafana only: the alert rule's dashboard.
    #[serde(default, rename = "dashboardURL")]
    dashboard_url: String,
}

/// Alertmanager's webhook payload, version 4 (Grafana's is the same shape, version 1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Webhook {
    version: String,
    status: String,
    #[serde(default)]
    common_labels: serde_json::Map<String, Value>,
    #[serde(default)]
    group_labels: serde_json::Map<String, Value>,
    #[serde(default)]
    common_annotations: serde_json::Map<String, Value>,
    #[serde(default, rename = "externalURL")]
    external_url: String,
    #[serde(default)]
    group_key: String,
    alerts: Vec<Alert>,
}

fn label<'a>(m: &'a serde_json::Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// An RFC 3339 time shown at `offset` (`2026-11-23 09:00:00 +08:00`); Alertmanager's zero
/// time (`0001-01-01T00:00:00Z`, for alerts still firing) is empty.
pub fn local_time(rfc3339: &str, offset: time::UtcOffset) -> String {
    let Ok(t) = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339) else {
        return rfc3339.to_owned();
    };
    if t.year() <= 1 {
        return String::new();
    }
    t.to_offset(offset)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
        ))
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// The colour of a group: green when resolved, else by the highest severity.
fn colour(status: &str, severities: &[&str]) -> &'static str {
    if status == "resolved" {
        return "green";
    }
    if severities.iter().any(|s| *s == "critical" || *s == "page") {
        "red"
    } else if severities.contains(&"warning") {
        "orange"
    } else {
        "blue"
    }
}

/// `POST /alertmanager/{target}`: one card for the whole group, firing alerts first, with
/// buttons for the source graph, the runbook, a silence and Alertmanager itself.
pub fn parse_alertmanager(body: &[u8], settings: &ApiSettings) -> Result<Message, Rejection> {
    card(&webhook(body, Origin::Alertmanager)?, settings, Origin::Alertmanager)
}

/// `POST /grafana/{target}`: Grafana Alerting's webhook contact point (its payload is
/// Alertmanager's, version 1, with a silence and a dashboard link per alert), rendered like
/// Alertmanager's.
pub fn parse_grafana(body: &[u8], settings: &ApiSettings) -> Result<Message, Rejection> {
    card(&webhook(body, Origin::Grafana)?, settings, Origin::Grafana)
}

/// An alert webhook (Alertmanager's or Grafana's), parsed once: the gateway renders it for
/// its target or routes it, and takes the summary a digest lists of it, from one parse.
#[derive(Debug, Clone)]
pub struct AlertWebhook {
    hook: Webhook,
    origin: Origin,
}

/// Reads an alert webhook (`source` `alertmanager` or `grafana`), refusing a body that is
/// not one (or not its version).
pub fn read(body: &[u8], source: &str) -> Result<AlertWebhook, Rejection> {
    let origin = Origin::of(source);
    Ok(AlertWebhook {
        hook: webhook(body, origin)?,
        origin,
    })
}

impl AlertWebhook {
    /// For `target` when posted straight to it: the target's own `alert_template` when it
    /// has one, else the built-in card.
    pub fn for_target(
        &self,
        settings: &ApiSettings,
        target: &str,
        spec: Option<&crate::notify::target::TargetSpec>,
    ) -> Result<Message, Rejection> {
        templated(
            &self.hook,
            settings,
            self.origin,
            spec.and_then(|t| t.alert_template.as_ref()),
            target,
        )
    }

    /// Routed through `router`: for each target some alert was routed to, one message with
    /// those alerts (the route's template, else the target's `alert_template`, else the
    /// built-in card), mentioning the people the routes name, or who is on call at `now_ms`
    /// (on the target's platform, from `targets`). Empty when no route took any alert.
    pub fn routed(
        &self,
        settings: &ApiSettings,
        routing: &crate::notify::route::AlertRouting,
        router: &[crate::notify::route::Route],
        now_ms: i64,
        targets: &std::collections::BTreeMap<String, crate::notify::target::TargetSpec>,
    ) -> Result<Vec<(String, Message)>, Rejection> {
        let (hook, origin) = (&self.hook, self.origin);
        if hook.alerts.is_empty() {
            return Err(malformed("no alerts"));
        }
        let labels: Vec<&serde_json::Map<String, Value>> = hook.alerts.iter().map(|a| &a.labels).collect();
        let mut out = Vec::new();
        for (target, got) in routing.route(router, &labels, now_ms) {
            let mut sub = hook.clone();
            sub.alerts = got.alerts.iter().filter_map(|i| hook.alerts.get(*i).cloned()).collect();
            sub.status = if sub.alerts.iter().any(|a| a.status == "firing") {
                "firing".into()
            } else {
                "resolved".into()
            };
            let spec = targets.get(&target);
            // The route's template, else the target's own, else the built-in card.
            let template = got
                .template
                .as_ref()
                .or_else(|| spec.and_then(|t| t.alert_template.as_ref()));
            let mut message = templated(&sub, settings, origin, template, &target)?;
            if let (Some(mentions), Some(platform)) = (message.mentions_mut(), spec.and_then(|t| t.platform)) {
                let people = routing.mentions(&got.people, platform);
                mentions.user_ids.extend(people.user_ids);
                mentions.mobiles.extend(people.mobiles);
            }
            out.push((target, message));
        }
        Ok(out)
    }

    /// What a digest lists of it: its group, name, status and a link.
    pub fn summary(&self) -> super::digest::AlertSummary {
        let hook = &self.hook;
        let key = if hook.group_key.is_empty() {
            let labels = serde_json::to_string(&hook.group_labels).unwrap_or_default();
            hex::encode(&botgate_core::crypto::sha256(&[labels.as_bytes()])[..16])
        } else {
            hook.group_key.clone()
        };
        let name = [&hook.group_labels, &hook.common_labels]
            .into_iter()
            .map(|m| label(m, "alertname"))
            .chain(hook.alerts.iter().map(|a| label(&a.labels, "alertname")))
            .find(|n| !n.is_empty())
            .unwrap_or("alert");
        let link = hook
            .alerts
            .iter()
            .map(|a| a.generator_url.as_str())
            .chain([hook.external_url.as_str()])
            .find(|u| u.starts_with("https://") || u.starts_with("http://"));
        super::digest::AlertSummary {
            key,
            name: name.to_owned(),
            status: hook.status.clone(),
            link: link.map(str::to_owned),
        }
    }
}

/// The message `target` gets for `hook`: `template` rendered over it, or the built-in card
/// (also when the template fails at run time: an alert is never lost to a template).
fn templated(
    hook: &Webhook,
    settings: &ApiSettings,
    origin: Origin,
    template: Option<&crate::template::MessageSpec>,
    target: &str,
) -> Result<Message, Rejection> {
    let built_in = card(hook, settings, origin)?;
    let Some(spec) = template else {
        return Ok(built_in);
    };
    Ok(
        match crate::template::Templates::render_once(spec, target, &alert_context(hook, settings, origin)) {
            Ok(mut m) => {
                // The built-in card's @all (for `mention_all` severities) carries over.
                let all = matches!(&built_in, Message::Card { mentions, .. } if mentions.all);
                if let Some(mentions) = m.mentions_mut() {
                    mentions.all |= all;
                }
                m
            }
            Err(e) => {
                tracing::warn!(target = %target, error = %e, "alert template failed: sending the built-in card");
                built_in
            }
        },
    )
}

fn webhook(body: &[u8], origin: Origin) -> Result<Webhook, Rejection> {
    let (what, version) = match origin {
        Origin::Alertmanager => ("an Alertmanager webhook", "4"),
        Origin::Grafana => ("a Grafana alerting webhook", "1"),
    };
    let hook: Webhook = serde_json::from_slice(body).map_err(|e| malformed(format!("not {what}: {e}")))?;
    if hook.version != version {
        return Err(malformed(format!(
            "{what} has version {:?}; expected \"{version}\"",
            hook.version
        )));
    }
    Ok(hook)
}

/// What a route's template sees (see `alerts.routers` in the configuration reference).
fn alert_context(hook: &Webhook, settings: &ApiSettings, origin: Origin) -> minijinja::Value {
    let alerts: Vec<Value> = hook
        .alerts
        .iter()
        .map(|a| {
            json!({
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "starts_at": local_time(&a.starts_at, settings.utc_offset),
                "ends_at": local_time(&a.ends_at, settings.utc_offset),
                "generator_url": a.generator_url,
            })
        })
        .collect();
    let firing = hook.alerts.iter().filter(|a| a.status == "firing").count();
    let silence_url = match origin {
        Origin::Grafana => hook
            .alerts
            .iter()
            .map(|a| a.silence_url.clone())
            .find(|u| !u.is_empty()),
        Origin::Alertmanager => silence_link(
            &hook.external_url,
            if hook.group_labels.is_empty() {
                &hook.common_labels
            } else {
                &hook.group_labels
            },
        ),
    };
    crate::template::context(json!({
        "status": hook.status,
        "alerts": alerts,
        "firing": firing,
        "resolved": hook.alerts.len() - firing,
        "group_labels": hook.group_labels,
        "common_labels": hook.common_labels,
        "common_annotations": hook.common_annotations,
        "external_url": hook.external_url,
        "silence_url": silence_url.unwrap_or_default(),
    }))
}

/// Which alerting system sent a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Alertmanager,
    Grafana,
}

impl Origin {
    /// The origin a route's source names (`grafana`, else Alertmanager).
    fn of(source: &str) -> Self {
        if source == "grafana" {
            Self::Grafana
        } else {
            Self::Alertmanager
        }
    }
}

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Alertmanager's new-silence form with the group's matchers filled in:
/// `<externalURL>/#/silences/new?filter={alertname="X",job="y"}` (URL-encoded).
pub fn silence_link(external_url: &str, matchers: &serde_json::Map<String, Value>) -> Option<String> {
    let base = external_url.trim_end_matches('/');
    if matchers.is_empty() || !(base.starts_with("https://") || base.starts_with("http://")) {
        return None;
    }
    let filter = matchers
        .iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_default()
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(",");
    Some(format!(
        "{base}/#/silences/new?filter={}",
        percent_encoding::utf8_percent_encode(&format!("{{{filter}}}"), UNRESERVED)
    ))
}

fn card(hook: &Webhook, settings: &ApiSettings, origin: Origin) -> Result<Message, Rejection> {
    if hook.alerts.is_empty() {
        return Err(malformed("no alerts"));
    }
    let firing: Vec<&Alert> = hook.alerts.iter().filter(|a| a.status == "firing").collect();
    let resolved: Vec<&Alert> = hook.alerts.iter().filter(|a| a.status != "firing").collect();
    let severities: Vec<&str> = firing.iter().map(|a| label(&a.labels, "severity")).collect();
    // The common alert name, else the labels the group is grouped by.
    let name = match label(&hook.common_labels, "alertname") {
        "" if !hook.group_labels.is_empty() => hook
            .group_labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", "),
        "" => hook
            .alerts
            .first()
            .map_or("", |a| label(&a.labels, "alertname"))
            .to_owned(),
        n => n.to_owned(),
    };
    let title = if firing.is_empty() {
        format!("[RESOLVED] {name}")
    } else {
        format!("[FIRING:{}] {name}", firing.len())
    };
    let mut text = String::new();
    for (heading, list) in [("Firing", &firing), ("Resolved", &resolved)] {
        if list.is_empty() {
            continue;
        }
        if !firing.is_empty() && !resolved.is_empty() {
            text.push_str(&format!("**{heading}**\n"));
        }
        for a in list.iter() {
            let sev = label(&a.labels, "severity");
            let what = [label(&a.annotations, "summary"), label(&a.annotations, "description")]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or(label(&a.labels, "alertname"));
            let whom = ["instance", "pod", "service", "job"]
                .iter()
                .map(|k| label(&a.labels, k))
                .find(|s| !s.is_empty())
                .unwrap_or_default();
            text.push_str(&format!("- **{}**", label(&a.labels, "alertname")));
            if !sev.is_empty() {
                text.push_str(&format!(" [{sev}]"));
            }
            if !whom.is_empty() {
                text.push_str(&format!(" {whom}"));
            }
            text.push_str(&format!(": {what}\n"));
            let start = local_time(&a.starts_at, settings.utc_offset);
            let end = local_time(&a.ends_at, settings.utc_offset);
            if a.status == "firing" {
                text.push_str(&format!("  since {start}\n"));
            } else {
                text.push_str(&format!("  {start} to {end}\n"));
            }
        }
    }
    let mut buttons = Vec::new();
    let link = |text: &str, url: &str| Button::link(text, url);
    let first_firing = firing.first().copied().or(hook.alerts.first());
    if let Some(a) = first_firing.filter(|a| !a.generator_url.is_empty()) {
        buttons.push(link("Source", &a.generator_url));
    }
    if let Some(a) = first_firing.filter(|a| !a.dashboard_url.is_empty()) {
        buttons.push(link("Dashboard", &a.dashboard_url));
    }
    // The runbook: the Prometheus convention `runbook_url` (or `runbook`), common or per alert.
    let runbook = ["runbook_url", "runbook"].iter().find_map(|k| {
        Some(label(&hook.common_annotations, k))
            .filter(|u| !u.is_empty())
            .or_else(|| firing.iter().map(|a| label(&a.annotations, k)).find(|u| !u.is_empty()))
    });
    if let Some(url) = runbook {
        buttons.push(link("Runbook", url));
    }
    if !firing.is_empty() {
        let silence = match origin {
            Origin::Grafana => firing.iter().map(|a| a.silence_url.clone()).find(|u| !u.is_empty()),
            Origin::Alertmanager => {
                let matchers = if hook.group_labels.is_empty() {
                    &hook.common_labels
                } else {
                    &hook.group_labels
                };
                silence_link(&hook.external_url, matchers)
            }
        };
        if let Some(url) = silence {
            buttons.push(link("Silence", &url));
        }
    }
    if !hook.external_url.is_empty() {
        let name = match origin {
            Origin::Alertmanager => "Alertmanager",
            Origin::Grafana => "Grafana",
        };
        buttons.push(link(name, &hook.external_url));
    }
    let mentions = Mentions {
        all: hook.status == "firing" && severities.iter().any(|s| settings.mention_all.iter().any(|m| m == s)),
        ..Mentions::default()
    };
    Ok(Message::Card {
        title,
        text: text.trim_end().to_owned(),
        buttons,
        selects: Vec::new(),
        color: Some(colour(&hook.status, &severities).to_owned()),
        mentions,
    })
}
