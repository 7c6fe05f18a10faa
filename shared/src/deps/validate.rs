//! The configuration file's tree validated into [`Settings`]: every problem is found (not
//! just the first), each with its path and line.

mod alerts;
mod bots;
mod notify;
mod rules;
mod scope;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bot::Bot;
use crate::config::{ConfigError, ConfigFile, QueueKind, Resolved, StoreKind, file};
use crate::delivery::{BaseUrls, DeliverySettings};
use crate::notify::target::TargetSpec;
use crate::rules::Rules;
use crate::settings::{
    Backends, DEFAULT_CONFIG_REFRESH_SECS, DEFAULT_DEDUP_RETENTION_SECS, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_SCHEDULE_LOOKBACK_SECS, DEFAULT_STATE_TTL_SECS, Settings,
};
use botgate_core::Platform;
use scope::Scope;

pub(crate) use bots::fields_of;

/// Validates the whole file.
pub(crate) fn settings(f: &ConfigFile, refs: &Resolved) -> Result<Settings, ConfigError> {
    let mut s = Scope::new(refs);
    let Some(file_bots) = &f.bots else {
        s.invalid("bots", 0, "missing: add a `bots:` map (it may be empty: `bots: {}`)");
        return Err(ConfigError::many(s.into_problems()));
    };
    let platforms: BTreeMap<String, Platform> =
        file_bots.iter().map(|(id, b)| (id.clone(), b.platform.value)).collect();
    let gateway = gateway(&mut s, f.gateway.as_ref());
    let delivery = delivery(&mut s, f.delivery.as_ref());
    let bots = bots::all(&mut s, file_bots);
    let rules = rules::all(&mut s, f.rules.as_deref().unwrap_or_default(), &platforms);
    let empty = BTreeMap::new();
    let file_targets = f.targets.as_ref().unwrap_or(&empty);
    let targets = notify::targets(&mut s, file_targets, &platforms);
    for (id, b) in file_bots {
        if let Some(fb) = &b.fallback
            && !fb.notify.value.contains("${")
            && !file_targets.contains_key(fb.notify.value.as_str())
        {
            s.invalid(
                &format!("bots.{id}.fallback.notify"),
                fb.notify.line,
                format!("no target `{}` in `targets:`", fb.notify.value),
            );
        }
    }
    let notify_api = f.notify_api.as_ref().and_then(|a| notify::api(&mut s, a));
    let target_names = file_targets.keys().map(|k| (k.clone(), ())).collect();
    let notifications = notify::notifications(
        &mut s,
        f.notifications.as_ref().unwrap_or(&BTreeMap::new()),
        &target_names,
    );
    let alerts = f
        .alerts
        .as_ref()
        .map(|a| alerts::routing(&mut s, a, &target_names, notify_api.is_some()))
        .unwrap_or_default();
    let serve = serve(&mut s, f.serve.as_ref());
    let connector = connector(&mut s, f.connector.as_ref());
    retention(&mut s, f, &bots, gateway.retention);
    if !s.is_clean() {
        return Err(ConfigError::many(s.into_problems()));
    }
    Ok(Settings {
        bots,
        backends: gateway.backends,
        dedup_retention_secs: gateway.retention,
        max_message_bytes: gateway.max_message_bytes,
        state_ttl_secs: gateway.state_ttl,
        schedule_lookback_secs: gateway.schedule_lookback_secs,
        config_refresh_secs: gateway.config_refresh_secs,
        rules: Arc::new(rules),
        delivery,
        targets,
        notify_api,
        alerts,
        notifications,
        serve,
        connector,
    })
}

/// Feishu retries a delivery for about 7 h (after 15 s, 5 min, 1 h and 6 h).
const FEISHU_RETRY_SPAN_SECS: u64 = 7 * 3600 + 6 * 60;

/// An event id must be remembered for as long as a platform may deliver it again: past
/// Feishu's retries, and twice any bot's timestamp window (a request accepted at one end of
/// its window can be replayed at the other).
fn retention(s: &mut Scope<'_>, f: &ConfigFile, bots: &BTreeMap<String, Bot>, retention: u64) {
    let line = f
        .gateway
        .as_ref()
        .and_then(|g| g.dedup_retention_secs.as_ref())
        .map_or(0, |n| n.line);
    if bots.values().any(|b| b.platform == Platform::Feishu) && retention < FEISHU_RETRY_SPAN_SECS {
        s.invalid(
            "gateway.dedup_retention_secs",
            line,
            format!("must be at least {FEISHU_RETRY_SPAN_SECS}: Feishu retries a delivery for about 7 hours"),
        );
        return;
    }
    for b in bots.values() {
        let Some(verifier) = &b.verifier else {
            continue;
        };
        let window = b.options.window(verifier.default_window_secs());
        if retention < window.saturating_mul(2) {
            s.invalid(
                "gateway.dedup_retention_secs",
                line,
                format!(
                    "must be at least {} (twice bot `{}`'s timestamp window): a replay inside the window would be taken for a new event",
                    window * 2,
                    b.id
                ),
            );
            return;
        }
    }
}

fn serve(s: &mut Scope<'_>, v: Option<&file::Serve>) -> crate::settings::ServeSettings {
    let mut out = crate::settings::ServeSettings::default();
    let Some(v) = v else {
        return out;
    };
    let mut secs = |name: &str, n: &Option<crate::config::Located<crate::config::Num>>, slot: &mut u64| {
        if let Some(n) = n
            && let Some(v) = s.num_in(&format!("serve.{name}"), n, 1, 3600)
        {
            *slot = v;
        }
    };
    secs(
        "header_read_timeout_secs",
        &v.header_read_timeout_secs,
        &mut out.header_read_timeout_secs,
    );
    secs(
        "request_timeout_secs",
        &v.request_timeout_secs,
        &mut out.request_timeout_secs,
    );
    secs("idle_timeout_secs", &v.idle_timeout_secs, &mut out.idle_timeout_secs);
    secs(
        "shutdown_grace_secs",
        &v.shutdown_grace_secs,
        &mut out.shutdown_grace_secs,
    );
    if let Some(n) = &v.max_connections
        && let Some(m) = s.num_in("serve.max_connections", n, 1, 1_000_000)
    {
        out.max_connections = usize::try_from(m).unwrap_or(out.max_connections);
    }
    out
}

fn breaker(s: &mut Scope<'_>, b: &file::CircuitBreaker) -> crate::delivery::breaker::BreakerSettings {
    let mut out = crate::delivery::breaker::BreakerSettings::default();
    if let Some(f) = &b.enabled {
        out.enabled = s.flag("delivery.circuit_breaker.enabled", f).unwrap_or(true);
    }
    let mut num = |name: &str, n: &Option<crate::config::Located<crate::config::Num>>, min: u64, max: u64| {
        n.as_ref()
            .and_then(|n| s.num_in(&format!("delivery.circuit_breaker.{name}"), n, min, max))
    };
    if let Some(v) = num("failure_percent", &b.failure_percent, 1, 100) {
        out.failure_percent = u32::try_from(v).unwrap_or(out.failure_percent);
    }
    if let Some(v) = num("min_calls", &b.min_calls, 1, 10_000) {
        out.min_calls = u32::try_from(v).unwrap_or(out.min_calls);
    }
    if let Some(v) = num("window_secs", &b.window_secs, 1, 3600) {
        out.window_ms = i64::try_from(v * 1000).unwrap_or(out.window_ms);
    }
    if let Some(v) = num("open_secs", &b.open_secs, 1, 3600) {
        out.open_ms = i64::try_from(v * 1000).unwrap_or(out.open_ms);
    }
    if let Some(v) = num("half_open_probes", &b.half_open_probes, 1, 100) {
        out.half_open_probes = u32::try_from(v).unwrap_or(out.half_open_probes);
    }
    out
}

fn connector(s: &mut Scope<'_>, v: Option<&file::Connector>) -> crate::settings::ConnectorSettings {
    let mut out = crate::settings::ConnectorSettings::default();
    let Some(v) = v else {
        return out;
    };
    let mut ms = |name: &str, n: &Option<crate::config::Located<crate::config::Num>>, min: u64, slot: &mut u64| {
        if let Some(n) = n
            && let Some(v) = s.num_in(&format!("connector.{name}"), n, min, 3_600_000)
        {
            *slot = v;
        }
    };
    ms("ping_interval_ms", &v.ping_interval_ms, 50, &mut out.ping_interval_ms);
    ms(
        "silence_timeout_ms",
        &v.silence_timeout_ms,
        100,
        &mut out.silence_timeout_ms,
    );
    ms("reconnect_max_ms", &v.reconnect_max_ms, 100, &mut out.reconnect_max_ms);
    ms("shutdown_grace_ms", &v.shutdown_grace_ms, 0, &mut out.shutdown_grace_ms);
    if let Some(n) = &v.ingest_lanes
        && let Some(lanes) = s.num_in("connector.ingest_lanes", n, 1, 64)
    {
        out.ingest_lanes = lanes;
    }
    if out.silence_timeout_ms <= out.ping_interval_ms {
        let line = v
            .silence_timeout_ms
            .as_ref()
            .or(v.ping_interval_ms.as_ref())
            .map_or(0, |n| n.line);
        s.invalid(
            "connector.silence_timeout_ms",
            line,
            format!(
                "must be more than ping_interval_ms ({}): a connection is dead only when a ping went unanswered",
                out.ping_interval_ms
            ),
        );
    }
    out
}

/// Compiles a `rules:` list on its own (bots: the configured bot ids and platforms).
pub(crate) fn rules_only(
    list: &[file::Rule],
    bots: &BTreeMap<String, Bot>,
    refs: &Resolved,
) -> Result<Rules, ConfigError> {
    let mut s = Scope::new(refs);
    let platforms = bots.iter().map(|(id, b)| (id.clone(), b.platform)).collect();
    let rules = rules::all(&mut s, list, &platforms);
    if s.is_clean() {
        Ok(rules)
    } else {
        Err(ConfigError::many(s.into_problems()))
    }
}

/// Builds one target on its own (bots: the configured bots).
pub(crate) fn target_only(
    name: &str,
    t: &file::Target,
    bots: &BTreeMap<String, Bot>,
    refs: &Resolved,
) -> Result<TargetSpec, ConfigError> {
    let mut s = Scope::new(refs);
    let platforms = bots.iter().map(|(id, b)| (id.clone(), b.platform)).collect();
    match notify::target(&mut s, name, t, &platforms) {
        Some(t) if s.is_clean() => Ok(t),
        _ => Err(ConfigError::many(s.into_problems())),
    }
}

/// Builds one scheduled notification on its own.
pub(crate) fn notification_only(
    name: &str,
    n: &file::Notification,
    targets: &BTreeMap<String, TargetSpec>,
    refs: &Resolved,
) -> Result<crate::notify::scheduled::Notification, ConfigError> {
    let mut s = Scope::new(refs);
    let names = targets.keys().map(|k| (k.clone(), ())).collect();
    let mut built = notify::notifications(&mut s, &BTreeMap::from([(name.to_owned(), n.clone())]), &names);
    match built.remove(name) {
        Some(n) if s.is_clean() => Ok(n),
        _ => Err(ConfigError::many(s.into_problems())),
    }
}

/// Builds the notify API's settings on their own.
pub(crate) fn api_only(a: &file::NotifyApi, refs: &Resolved) -> Result<crate::notify::api::ApiSettings, ConfigError> {
    let mut s = Scope::new(refs);
    match notify::api(&mut s, a) {
        Some(a) if s.is_clean() => Ok(a),
        _ => Err(ConfigError::many(s.into_problems())),
    }
}

/// The `gateway:` section, checked.
struct GatewayParts {
    backends: Backends,
    retention: u64,
    max_message_bytes: usize,
    state_ttl: u64,
    schedule_lookback_secs: u64,
    config_refresh_secs: u64,
}

fn gateway(s: &mut Scope<'_>, g: Option<&file::Gateway>) -> GatewayParts {
    let default = file::Gateway::default();
    let g = g.unwrap_or(&default);
    let store = g.store.as_ref().map_or(StoreKind::Memory, |k| k.value);
    let queue = g.queue.as_ref().map_or(QueueKind::Memory, |k| k.value);
    let table = s.opt(g.table.as_ref());
    let queue_url = s.opt(g.queue_url.as_ref());
    let dead_letter_queue_url = s.opt(g.dead_letter_queue_url.as_ref());
    if let Some(u) = &dead_letter_queue_url
        && !u.deferred
        && !u.value.ends_with(".fifo")
    {
        s.invalid(
            "gateway.dead_letter_queue_url",
            u.line,
            "must be an SQS FIFO queue (the events queue's dead-letter queue; its name ends in .fifo)",
        );
    }
    if store == StoreKind::Dynamodb && table.is_none() {
        let line = g.store.as_ref().map_or(0, |k| k.line);
        s.invalid("gateway.table", line, "is required when store is dynamodb");
    }
    if queue == QueueKind::Sqs {
        let line = g.queue.as_ref().map_or(0, |k| k.line);
        match &queue_url {
            None => s.invalid("gateway.queue_url", line, "is required when queue is sqs"),
            Some(u) if !u.deferred && !u.value.ends_with(".fifo") => s.invalid(
                "gateway.queue_url",
                u.line,
                "must be an SQS FIFO queue (its name ends in .fifo)",
            ),
            _ => {}
        }
    }
    let retention = g
        .dedup_retention_secs
        .as_ref()
        .and_then(|n| s.num_in("gateway.dedup_retention_secs", n, 60, 14 * 86_400))
        .unwrap_or(DEFAULT_DEDUP_RETENTION_SECS);
    let max_message_bytes = g
        .max_message_bytes
        .as_ref()
        .and_then(|n| s.num_in("gateway.max_message_bytes", n, 1024, 1024 * 1024))
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
    let state_ttl = g
        .state_ttl_secs
        .as_ref()
        .and_then(|n| s.num_in("gateway.state_ttl_secs", n, 1, 366 * 86_400))
        .unwrap_or(DEFAULT_STATE_TTL_SECS);
    let schedule_lookback_secs = g
        .schedule_lookback_secs
        .as_ref()
        .and_then(|n| s.num_in("gateway.schedule_lookback_secs", n, 60, 86_400))
        .unwrap_or(DEFAULT_SCHEDULE_LOOKBACK_SECS);
    let config_refresh_secs = g
        .config_refresh_secs
        .as_ref()
        .and_then(|n| s.num_in("gateway.config_refresh_secs", n, 1, 86_400))
        .unwrap_or(DEFAULT_CONFIG_REFRESH_SECS);
    let backends = Backends {
        store,
        queue,
        table: table.map(|t| t.value),
        queue_url: queue_url.map(|u| u.value),
        dead_letter_queue_url: dead_letter_queue_url.map(|u| u.value),
    };
    GatewayParts {
        backends,
        retention,
        max_message_bytes,
        state_ttl,
        schedule_lookback_secs,
        config_refresh_secs,
    }
}

fn delivery(s: &mut Scope<'_>, d: Option<&file::Delivery>) -> DeliverySettings {
    let mut out = DeliverySettings::default();
    let Some(d) = d else {
        return out;
    };
    if let Some(f) = &d.dry_run {
        out.dry_run = s.flag("delivery.dry_run", f).unwrap_or(false);
    }
    if let Some(t) = &d.timeout_ms {
        out.timeout_ms = s.num_in("delivery.timeout_ms", t, 1, 60_000).unwrap_or(out.timeout_ms);
    }
    if let Some(urls) = &d.base_urls {
        let mut base = BaseUrls::default();
        for (name, value, slot) in [
            ("feishu", &urls.feishu, &mut base.feishu),
            ("dingtalk", &urls.dingtalk, &mut base.dingtalk),
            ("wechat", &urls.wechat, &mut base.wechat),
            ("wecom", &urls.wecom, &mut base.wecom),
        ] {
            if let Some(u) = s.opt(value.as_ref()) {
                s.url(&format!("delivery.base_urls.{name}"), &u);
                *slot = u.value.trim_end_matches('/').to_owned();
            }
        }
        out.base_urls = base;
    }
    if let Some(hosts) = &d.session_webhook_hosts {
        out.session_webhook_hosts = hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    }
    if let Some(b) = &d.circuit_breaker {
        out.circuit_breaker = breaker(s, b);
    }
    if let Some(r) = &d.retry {
        if let Some(n) = &r.max_attempts {
            out.retry.max_attempts = s
                .num_in("delivery.retry.max_attempts", n, 1, 20)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(out.retry.max_attempts);
        }
        if let Some(n) = &r.base_delay_ms {
            out.retry.base_delay_ms = s
                .num_in("delivery.retry.base_delay_ms", n, 1, 60_000)
                .unwrap_or(out.retry.base_delay_ms);
        }
        if let Some(n) = &r.max_delay_ms {
            out.retry.max_delay_ms = s
                .num_in("delivery.retry.max_delay_ms", n, 1, 600_000)
                .unwrap_or(out.retry.max_delay_ms);
        }
    }
    out
}
