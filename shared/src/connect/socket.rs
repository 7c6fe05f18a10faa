//! What every long connection shares: dialing the WebSocket, the loop that reads it (with
//! the ping probe and the watchdog that tells a live connection from a zombie), taking a
//! pushed event in through the same claim and queue as a webhook, and acknowledging it
//! only once it is queued.
//!
//! One loop owns the socket: it reads frames, answers what needs no I/O at once (pings,
//! control frames), and hands each event to one of `connector.ingest_lanes` ingest lanes,
//! chosen by the event's conversation: a lane takes its events in one after another (so a
//! chat's events reach the queue in the order they arrived) while the lanes run side by
//! side, and each passes its acknowledgements back to the loop to write. So pings keep
//! flowing while events are being queued, and an event is acknowledged only after its
//! enqueue succeeded; a failed one gets the protocol's failure answer and the platform
//! delivers it again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::callback::{self, Deps, Outcome};
use crate::metrics::{ConnectionMetrics, MetricsSink, PushedEventMetrics};
use crate::reload::Live;
use crate::settings::ConnectorSettings;
use botgate_core::event::{Event, Platform};

/// The WebSocket of one long connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The largest message read from a socket.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// A WebSocket handshake must be done within this.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a dial failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The server answered the upgrade with an HTTP error (its status and headers).
    #[error("the server refused the WebSocket upgrade: HTTP {status}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its headers (lower-case names), for the platform's reason.
        headers: Vec<(String, String)>,
    },
    /// Network, TLS or protocol failure.
    #[error("could not connect: {0}")]
    Failed(String),
}

/// The TLS settings of every dial: rustls with the Mozilla roots built in (a container
/// without a CA bundle works too).
fn tls() -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Opens the WebSocket at `url` (`wss://`, or `ws://` for a loopback test server).
pub async fn dial(url: &str) -> Result<Ws, DialError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let connector = tokio_tungstenite::Connector::Rustls(tls().map_err(DialError::Failed)?);
    let dialing = tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, Some(connector));
    match tokio::time::timeout(DIAL_TIMEOUT, dialing).await {
        Err(_) => Err(DialError::Failed(format!(
            "no WebSocket handshake within {} s",
            DIAL_TIMEOUT.as_secs()
        ))),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => Err(DialError::Refused {
            status: resp.status().as_u16(),
            headers: resp
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
                .collect(),
        }),
        Ok(Err(e)) => Err(DialError::Failed(e.to_string())),
    }
}

/// The host of a URL, for logs (connection URLs carry tickets and keys: never log them whole).
pub fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Shut down on request (SIGTERM, or the bot left the configuration).
    Shutdown,
    /// The connection dropped or failed (network error, EOF, a write that failed).
    Lost(String),
    /// Nothing arrived for the silence timeout, pings unanswered: a zombie, replaced.
    Silent(u64),
    /// The server asked to reconnect (a close frame, DingTalk's `disconnect`).
    ServerClosed(String),
    /// The platform refused the app (bad credentials, the mode not enabled): retried
    /// slowly, since it answers the same until someone fixes it.
    Refused(String),
    /// The connection could not be opened (endpoint or handshake failed; worth retrying).
    Failed(String),
}

impl End {
    /// Its name in logs and metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Shutdown => "shutdown",
            Self::Lost(_) => "lost",
            Self::Silent(_) => "silent",
            Self::ServerClosed(_) => "server_closed",
            Self::Refused(_) => "refused",
            Self::Failed(_) => "failed",
        }
    }

    /// What happened, in words.
    pub fn detail(&self) -> String {
        match self {
            Self::Shutdown => "shutting down".into(),
            Self::Lost(why) | Self::ServerClosed(why) | Self::Refused(why) | Self::Failed(why) => why.clone(),
            Self::Silent(ms) => format!("nothing received for {ms} ms, pings unanswered: a zombie connection"),
        }
    }
}

/// How a session went: how it ended, whether it got connected, and how many frames it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// How it ended.
    pub end: End,
    /// The WebSocket was open (a reconnect after this starts the backoff afresh).
    pub connected: bool,
    /// Frames read.
    pub frames: u64,
}

impl Ended {
    /// A session that never got a socket.
    pub fn before_connect(end: End) -> Self {
        Self {
            end,
            connected: false,
            frames: 0,
        }
    }
}

/// The acknowledgement of an event, written once its fate is known: `true` when it is
/// queued, the answer computed for it (a Feishu card action's JSON), and the milliseconds
/// spent.
pub type Ack = Box<dyn FnOnce(bool, Option<&str>, u64) -> Message + Send>;

/// What a protocol wants done with a message it read.
pub enum Step {
    /// Write this to the socket now.
    Reply(Message),
    /// Take this event in, then write its acknowledgement.
    Ingest {
        /// The normalized event.
        event: Box<Event>,
        /// The trace id of its log lines.
        trace_id: String,
        /// Its acknowledgement.
        ack: Ack,
    },
    /// The server asked for a reconnect (after the replies before it).
    Reconnect(String),
}

/// One platform's side of a long connection.
pub trait Protocol: Send {
    /// What to do with one message from the server (pings and pongs are answered already).
    fn on_message(&mut self, msg: Message, now_ms: i64) -> Vec<Step>;
    /// The protocol's own keep-alive, if it has one: how often, and the frame to send.
    fn keepalive(&self) -> Option<(Duration, Message)>;
}

/// Where pushed events go and how a session is timed.
#[derive(Clone)]
pub struct Context {
    /// The gateway's dependencies (the live configuration, the dedup store, the queue).
    pub gateway: Arc<Live<Deps>>,
    /// The bot's id.
    pub bot: String,
    /// Its platform.
    pub platform: Platform,
    /// Metrics.
    pub metrics: Arc<dyn MetricsSink>,
    /// Timings.
    pub timing: ConnectorSettings,
    /// Set to true to shut down.
    pub shutdown: watch::Receiver<bool>,
    /// This session replaces an earlier connection of the bot.
    pub reconnect: bool,
}

impl Context {
    fn now_ms(&self) -> i64 {
        self.gateway.get().clock.now_ms()
    }

    /// Counts and logs a connection's state change.
    pub fn connection(&self, outcome: &'static str, frames: u64, detail: &str) {
        let reconnect = self.reconnect && outcome == "opened";
        let platform = self.platform.as_str();
        self.metrics.emit(&ConnectionMetrics {
            platform,
            outcome,
            frames,
            reconnect,
            timestamp_ms: self.now_ms(),
        });
        match outcome {
            "opened" => tracing::info!(bot = %self.bot, platform, outcome, reconnect, detail, "long connection"),
            "shutdown" => tracing::info!(bot = %self.bot, platform, outcome, frames, detail, "long connection"),
            "refused" => tracing::error!(bot = %self.bot, platform, outcome, frames, detail, "long connection"),
            _ => tracing::warn!(bot = %self.bot, platform, outcome, frames, detail, "long connection"),
        }
    }
}

/// Takes one pushed event in (claim, enqueue): true when it is safely queued (new or a
/// duplicate), false when it is not (the platform must deliver it again).
async fn take_in(cx: &Context, event: &Event, trace_id: &str) -> (bool, Option<String>, &'static str, &'static str) {
    let deps = cx.gateway.get();
    let Some(bot) = deps.config.bots.get(&cx.bot) else {
        return (false, None, "failed", "unknown_bot");
    };
    let now_ms = deps.clock.now_ms();
    let span = tracing::info_span!("trace", trace_id = %trace_id);
    let started = Instant::now();
    let result = tracing::Instrument::instrument(
        callback::ingest_pushed(&deps, bot, event, now_ms, trace_id),
        span.clone(),
    )
    .await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let platform = cx.platform.as_str();
    span.in_scope(|| match result {
        Ok((outcome, answer)) => {
            let outcome = match outcome {
                Outcome::Duplicate => "duplicate",
                Outcome::Accepted | Outcome::Verification => "accepted",
            };
            tracing::info!(bot = %cx.bot, platform, event_id = %event.event_id,
                event_type = %event.event_type, outcome, answered = answer.is_some(), duration_ms, "pushed event");
            (true, answer, outcome, "none")
        }
        Err(e) => {
            tracing::warn!(bot = %cx.bot, platform, event_id = %event.event_id,
                event_type = %event.event_type, outcome = "failed", reason = e.reason(), detail = %e, duration_ms,
                "pushed event: not queued, not acknowledged (the platform delivers it again)");
            (false, None, "failed", e.reason())
        }
    })
}

/// The lane of `event`: by its conversation, so one chat's events keep their order.
fn lane_of(event: &Event, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    event.conversation().hash(&mut h);
    usize::try_from(h.finish() % lanes.max(1) as u64).unwrap_or(0)
}

struct Job {
    event: Box<Event>,
    trace_id: String,
    ack: Ack,
    received: Instant,
}

/// One lane: takes its events in, one after another, sending each acknowledgement back
/// to the loop.
async fn ingest_worker(cx: Context, mut jobs: mpsc::Receiver<Job>, acks: mpsc::Sender<Message>) {
    while let Some(job) = jobs.recv().await {
        let (queued, answer, outcome, reason) = take_in(&cx, &job.event, &job.trace_id).await;
        let elapsed = job.received.elapsed();
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        cx.metrics.emit(&PushedEventMetrics {
            platform: cx.platform.as_str(),
            outcome,
            reason,
            ack_latency_ms: elapsed.as_secs_f64() * 1000.0,
            timestamp_ms: cx.now_ms(),
        });
        if acks.send((job.ack)(queued, answer.as_deref(), ms)).await.is_err() {
            return;
        }
    }
}

/// Runs one open connection until it ends: reads and answers frames, probes with pings,
/// replaces a silent connection, and on shutdown stops reading, lets the events being
/// queued finish (within the grace period), writes their acknowledgements and closes.
pub async fn run(mut ws: Ws, mut protocol: impl Protocol, cx: Context) -> Ended {
    let mut shutdown = cx.shutdown.clone();
    let timing = cx.timing;
    let ping_every = Duration::from_millis(timing.ping_interval_ms);
    let silence = Duration::from_millis(timing.silence_timeout_ms);
    let (ack_tx, mut ack_rx) = mpsc::channel::<Message>(256);
    let lanes = usize::try_from(timing.ingest_lanes.clamp(1, 64)).unwrap_or(1);
    let mut job_tx = Vec::with_capacity(lanes);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..lanes {
        let (tx, rx) = mpsc::channel::<Job>(64);
        job_tx.push(tx);
        workers.spawn(ingest_worker(cx.clone(), rx, ack_tx.clone()));
    }
    drop(ack_tx);
    let mut frames = 0u64;
    let mut last_rx = tokio::time::Instant::now();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut keepalive_at = protocol
        .keepalive()
        .map(|(every, _)| tokio::time::Instant::now() + every);
    let end = loop {
        let keepalive_sleep = async {
            match keepalive_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break End::Shutdown;
                }
            }
            Some(ack) = ack_rx.recv() => {
                if let Err(e) = ws.send(ack).await {
                    break End::Lost(format!("writing an acknowledgement failed: {e}"));
                }
            }
            msg = ws.next() => {
                let msg = match msg {
                    None => break End::Lost("the server closed the connection without a close frame".into()),
                    Some(Err(e)) => break End::Lost(format!("reading failed: {e}")),
                    Some(Ok(m)) => m,
                };
                last_rx = tokio::time::Instant::now();
                frames += 1;
                match msg {
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                    Message::Close(frame) => {
                        let why = frame.map_or_else(|| "no reason given".to_owned(), |f| format!("{} {}", f.code, f.reason));
                        break End::ServerClosed(format!("the server closed the connection: {why}"));
                    }
                    m => {
                        let mut reconnect = None;
                        for step in protocol.on_message(m, cx.now_ms()) {
                            match step {
                                Step::Reply(r) => {
                                    if let Err(e) = ws.send(r).await {
                                        reconnect = Some(End::Lost(format!("writing failed: {e}")));
                                        break;
                                    }
                                }
                                Step::Ingest { event, trace_id, ack } => {
                                    let lane = &job_tx[lane_of(&event, lanes)];
                                    let job = Job { event, trace_id, ack, received: std::time::Instant::now() };
                                    if lane.send(job).await.is_err() {
                                        reconnect = Some(End::Lost("the ingest worker stopped".into()));
                                        break;
                                    }
                                }
                                Step::Reconnect(why) => reconnect = Some(End::ServerClosed(why)),
                            }
                        }
                        if let Some(end) = reconnect {
                            break end;
                        }
                    }
                }
            }
            _ = ping.tick() => {
                if let Err(e) = ws.send(Message::Ping(Vec::new().into())).await {
                    break End::Lost(format!("sending a ping failed: {e}"));
                }
            }
            () = keepalive_sleep => {
                if let Some((every, frame)) = protocol.keepalive() {
                    keepalive_at = Some(tokio::time::Instant::now() + every);
                    if let Err(e) = ws.send(frame).await {
                        break End::Lost(format!("sending a keep-alive failed: {e}"));
                    }
                }
            }
            () = tokio::time::sleep_until(last_rx + silence) => {
                break End::Silent(timing.silence_timeout_ms);
            }
        }
    };
    // No more events are read. On shutdown, the ones handed over finish and are answered;
    // otherwise the socket is gone and the platform delivers them again.
    drop(job_tx);
    if end == End::Shutdown {
        let grace = Duration::from_millis(timing.shutdown_grace_ms);
        let drained = tokio::time::timeout(grace, async {
            while let Some(ack) = ack_rx.recv().await {
                if ws.send(ack).await.is_err() {
                    break;
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(bot = %cx.bot, grace_ms = timing.shutdown_grace_ms,
                "shutdown: events still being queued after the grace period are left unacknowledged (the platform delivers them again)");
        }
        let _ = ws.close(None).await;
    }
    workers.abort_all();
    Ended {
        end,
        connected: true,
        frames,
    }
}

/// The pause before reconnect attempt `attempt` (0 for the first after a connection was
/// lost): exponential from `base_ms`, capped at `max_ms`, uniformly random in its upper
/// half (so instances that lost their connections together do not reconnect together).
pub fn backoff_ms(attempt: u32, base_ms: u64, max_ms: u64) -> u64 {
    let cap = base_ms.saturating_mul(1u64 << attempt.min(20)).min(max_ms).max(1);
    let half = cap / 2;
    let jitter = u64::from_le_bytes(botgate_core::crypto::random_bytes::<8>()) % (cap - half + 1);
    half + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for _ in 0..200 {
            let first = backoff_ms(0, 1000, 60_000);
            assert!((500..=1000).contains(&first), "{first}");
            let third = backoff_ms(2, 1000, 60_000);
            assert!((2000..=4000).contains(&third), "{third}");
            let late = backoff_ms(30, 1000, 60_000);
            assert!((30_000..=60_000).contains(&late), "{late}");
            assert!(backoff_ms(5, 1000, 200) <= 200);
        }
    }

    #[test]
    fn hosts_not_urls_are_logged() {
        assert_eq!(
            host_of("wss://msg-frontier.feishu.cn/ws/v2?device_id=1&ticket=secret"),
            "msg-frontier.feishu.cn"
        );
        assert_eq!(host_of("not a url"), "?");
    }
}
