//! Long-connection ingress (`botgate connect`, and `botgate serve` for such bots): one
//! connection per bot with `mode: long_connection`, opened by botgate to the platform
//! (Feishu/Lark 长连接, DingTalk Stream mode), so the bot needs no public URL, no TLS
//! certificate and no signature check: the connection is authenticated with the app's
//! credentials. Every pushed event goes through the same dedup claim and queue as a webhook
//! callback ([`crate::callback::ingest`]) and is acknowledged only after it is queued.
//!
//! Each bot's connection is kept by a supervisor: it reconnects with jittered exponential
//! backoff (from 1 s up to `connector.reconnect_max_ms`, and the server's own reconnect
//! interval when it sends one), asking for a fresh endpoint each time; a watchdog replaces
//! a connection that has sent nothing, pings unanswered, for `connector.silence_timeout_ms`
//! (a zombie: the official clients notice one after about 50 s, botgate after 20 s by
//! default); a refused app (wrong secret) is retried at the longest backoff. The set of
//! connections follows the live configuration: a bot added, removed or given new
//! credentials by a reload gets its connection opened, closed or replaced. On shutdown
//! each connection stops reading, lets the events being queued finish, acknowledges them
//! and closes. Several connectors may run at once: the platforms deliver each event on one
//! connection, and the dedup claim absorbs any overlap.
//!
//! Lambda cannot hold a long connection (an invocation ends, a frozen instance answers no
//! ping), so the connector runs wherever a process can stay up: a VM, a container, a pod.

pub mod dingtalk;
pub mod feishu;
pub mod socket;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bot::{Bot, BotMode};
use crate::callback::Deps;
use crate::delivery::transport::Transport;
use crate::metrics::MetricsSink;
use crate::reload::Live;
use botgate_core::Platform;
use socket::{Context, End};

/// The first reconnect waits about this long (then twice as long each time).
pub const BACKOFF_BASE_MS: u64 = 1_000;
/// How often the supervisor compares the running connections with the configuration.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// The bots that take their events over a long connection, by id.
pub fn bots(config: &crate::Settings) -> Vec<&Bot> {
    config
        .bots
        .values()
        .filter(|b| b.mode == BotMode::LongConnection)
        .collect()
}

/// What a connection depends on: a change means a new connection.
fn fingerprint(bot: &Bot, base: &str) -> [u8; 32] {
    let c = &bot.credentials;
    let field = |n: &str| c.field(n).unwrap_or_default();
    botgate_core::crypto::sha256(&[
        bot.platform.as_str().as_bytes(),
        b"\0",
        base.as_bytes(),
        b"\0",
        field("app_id").as_bytes(),
        b"\0",
        field("app_key").as_bytes(),
        b"\0",
        field("app_secret").as_bytes(),
    ])
}

struct Running {
    fingerprint: [u8; 32],
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Keeps one connection per long-connection bot of the live configuration.
pub struct Connector {
    gateway: Arc<Live<Deps>>,
    transport: Arc<dyn Transport>,
    metrics: Arc<dyn MetricsSink>,
}

impl Connector {
    /// A connector taking events into `gateway`'s store and queue; `transport` makes the
    /// endpoint calls (real HTTPS even when sends are a dry run).
    pub fn new(gateway: Arc<Live<Deps>>, transport: Arc<dyn Transport>, metrics: Arc<dyn MetricsSink>) -> Self {
        Self {
            gateway,
            transport,
            metrics,
        }
    }

    /// Runs until `shutdown` turns true, then closes every connection gracefully.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut running: BTreeMap<String, Running> = BTreeMap::new();
        loop {
            self.reconcile(&mut running).await;
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        break;
                    }
                }
                () = tokio::time::sleep(RECONCILE_EVERY) => {}
            }
        }
        for r in running.values() {
            let _ = r.stop.send(true);
        }
        for (_, r) in running {
            let _ = r.task.await;
        }
    }

    async fn reconcile(&self, running: &mut BTreeMap<String, Running>) {
        let deps = self.gateway.get();
        let wanted: BTreeMap<String, [u8; 32]> = bots(&deps.config)
            .into_iter()
            .map(|b| {
                let base = deps.config.delivery.base_urls.for_bot(b);
                (b.id.clone(), fingerprint(b, &base))
            })
            .collect();
        let stale: Vec<String> = running
            .iter()
            .filter(|(id, r)| wanted.get(*id) != Some(&r.fingerprint) || r.task.is_finished())
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(r) = running.remove(&id) {
                let _ = r.stop.send(true);
                let _ = r.task.await;
            }
        }
        for (id, fingerprint) in wanted {
            if running.contains_key(&id) {
                continue;
            }
            let Some(bot) = deps.config.bots.get(&id) else {
                continue;
            };
            let (stop, stop_rx) = watch::channel(false);
            let task = tokio::spawn(keep(
                self.gateway.clone(),
                self.transport.clone(),
                self.metrics.clone(),
                id.clone(),
                bot.platform,
                stop_rx,
            ));
            running.insert(
                id,
                Running {
                    fingerprint,
                    stop,
                    task,
                },
            );
        }
    }
}

/// Keeps one bot's connection open until `stop` turns true (or the bot leaves the
/// configuration).
async fn keep(
    gateway: Arc<Live<Deps>>,
    transport: Arc<dyn Transport>,
    metrics: Arc<dyn MetricsSink>,
    bot: String,
    platform: Platform,
    mut stop: watch::Receiver<bool>,
) {
    let mut attempt: u32 = 0;
    let mut ever_connected = false;
    loop {
        if *stop.borrow() {
            return;
        }
        let deps = gateway.get();
        let Some(b) = deps.config.bots.get(&bot) else {
            return;
        };
        let base = deps.config.delivery.base_urls.for_bot(b);
        let timing = deps.config.connector;
        drop(deps);
        let cx = Context {
            gateway: gateway.clone(),
            bot: bot.clone(),
            platform,
            metrics: metrics.clone(),
            timing,
            shutdown: stop.clone(),
            reconnect: ever_connected,
        };
        let mut max_backoff_ms = timing.reconnect_max_ms;
        let ended = match platform {
            Platform::Feishu => feishu::session(cx.clone(), &base, transport.clone(), &mut max_backoff_ms).await,
            Platform::Dingtalk => dingtalk::session(cx.clone(), &base, transport.clone()).await,
            Platform::Wechat | Platform::Wecom => return,
        };
        cx.connection(ended.end.outcome(), ended.frames, &ended.end.detail());
        if ended.end == End::Shutdown {
            return;
        }
        if ended.connected {
            ever_connected = true;
            attempt = 0;
        }
        let pause = match ended.end {
            // Asking again soon would be refused the same way.
            End::Refused(_) => timing.reconnect_max_ms,
            _ => socket::backoff_ms(attempt, BACKOFF_BASE_MS.min(max_backoff_ms), max_backoff_ms),
        };
        attempt = attempt.saturating_add(1);
        tracing::info!(bot = %bot, platform = platform.as_str(), pause_ms = pause, attempt, "long connection: reconnecting");
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(pause)) => {}
        }
    }
}
