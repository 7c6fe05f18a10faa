//! `botgate serve`: the callback routes over HTTP on this machine, running the same handler
//! as the Lambda function, with in-memory backends by default; the dispatcher on the queue;
//! and the configured notifications' schedules on the local clock.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use botgate::callback::{self, Deps};
use botgate::config::{QueueKind, StoreKind};
use botgate::dispatcher::{Dispatcher, Record};
use botgate::inbound::Request;
use botgate::metrics::{Discard, MetricsSink, Stdout};
use botgate::queue::memory::MemoryQueue;
use botgate::reload::{Live, Reconfigure, Reloader};

use crate::Outcome;

/// Arguments of `botgate serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration (YAML).
    #[arg(long, default_value = "examples/botgate.yaml")]
    config: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Log as JSON lines (as on Lambda) instead of text.
    #[arg(long)]
    json: bool,
    /// Also print CloudWatch EMF metric lines.
    #[arg(long)]
    emf: bool,
    /// Only receive and queue events; do not run the dispatcher.
    #[arg(long)]
    no_dispatch: bool,
    /// Do not run the configured notifications' schedules.
    #[arg(long)]
    no_schedules: bool,
}

/// The HTTP adapter: turns an axum request into the platform layer's and back.
pub async fn handle(
    State(live): State<Arc<Live<Deps>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header_pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(hex_id, str::to_owned);
    let req = Request {
        method: method.as_str(),
        query: uri.query().unwrap_or(""),
        headers: header_pairs,
        body: &body,
    };
    let deps = live.get();
    let r = callback::handle(&deps, uri.path(), &req, &request_id).await;
    let status = axum::http::StatusCode::from_u16(r.status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(axum::http::header::CONTENT_TYPE, r.content_type)], r.body)
}

fn hex_id() -> String {
    botgate::crypto::random_nonce(16)
}

/// The router serving every callback route on the live configuration.
pub fn router(deps: Arc<Live<Deps>>, body_limit: usize) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .fallback(handle)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(deps)
}

/// Prints what the in-memory queue receives (`--no-dispatch`).
async fn print_queue(queue: Arc<MemoryQueue>) {
    loop {
        queue.wait().await;
        for msg in queue.drain() {
            match serde_json::from_str::<botgate::queue::Envelope>(&msg.body) {
                Ok(env) => tracing::info!(
                    bot = %env.bot, platform = %env.event.platform, event_id = %env.event.event_id,
                    event_type = %env.event.event_type, text = env.event.text.as_deref().unwrap_or(""),
                    "queued"
                ),
                Err(e) => tracing::warn!(error = %e, "queued message is not an envelope"),
            }
        }
    }
}

/// How many times `serve` retries a failed record before it "dead-letters" it (as the
/// SQS redrive policy in `template.yaml` does).
const MAX_RECEIVES: u32 = 5;

/// Runs the dispatcher on the in-memory queue, as Lambda runs it on SQS: batches of up to
/// ten, failed records retried with a growing pause (or when their target's rate limit
/// allows), then reported as dead letters.
async fn dispatch_memory(queue: Arc<MemoryQueue>, live: Arc<Live<Dispatcher>>) {
    let mut retries: Vec<(Record, tokio::time::Instant)> = Vec::new();
    loop {
        let next_retry = retries.iter().map(|(_, at)| *at).min();
        tokio::select! {
            () = queue.wait() => {}
            () = async {
                match next_retry {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
        let dispatcher = live.get();
        let now = tokio::time::Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = retries.drain(..).partition(|(_, at)| *at <= now);
        retries = later;
        let mut records: Vec<Record> = due.into_iter().map(|(r, _)| r).collect();
        records.extend(queue.drain().into_iter().map(|m| Record {
            message_id: botgate::crypto::random_nonce(16),
            body: m.body,
            group_id: Some(m.group_id),
            receive_count: 1,
        }));
        for batch in records.chunks(10) {
            // A FIFO group with a record held back stays blocked, as on SQS: its later records
            // wait behind it (and come back with it, where a digest can fold them).
            let mut ready = Vec::with_capacity(batch.len());
            for r in batch {
                match held_until(&retries, r) {
                    Some(at) => retries.push((r.clone(), at)),
                    None => ready.push(r.clone()),
                }
            }
            let batch = ready;
            if batch.is_empty() {
                continue;
            }
            let deadline = dispatcher.clock.now_ms() + 30_000;
            let failed = dispatcher
                .process_batch_detailed(&botgate::crypto::random_nonce(16), batch.clone(), deadline)
                .await;
            for (rec, f) in batch
                .iter()
                .filter_map(|r| Some((r, failed.iter().find(|f| f.message_id == r.message_id)?)))
            {
                if f.permanent {
                    tracing::error!(message_id = %rec.message_id,
                        "dead letter: the record can never succeed (on AWS it goes to the DLQ at once)");
                    continue;
                }
                if rec.receive_count >= MAX_RECEIVES {
                    tracing::error!(message_id = %rec.message_id, receives = rec.receive_count,
                        "dead letter: the record failed {MAX_RECEIVES} times (on AWS it would now sit in the DLQ)");
                    continue;
                }
                let mut again = rec.clone();
                again.receive_count += 1;
                // Held back until its target's rate limit allows it, or a growing pause.
                let pause = match f.retry_at_ms {
                    Some(at) => std::time::Duration::from_millis(
                        u64::try_from(at - dispatcher.clock.now_ms()).unwrap_or(0) + 100,
                    ),
                    None => std::time::Duration::from_secs(2u64.pow(rec.receive_count)),
                };
                retries.push((again, tokio::time::Instant::now() + pause));
            }
        }
    }
}

/// When the FIFO group of `rec` is held back (a record of it waits in `retries`), until when.
fn held_until(retries: &[(Record, tokio::time::Instant)], rec: &Record) -> Option<tokio::time::Instant> {
    rec.group_id.as_ref()?;
    retries
        .iter()
        .filter(|(r, _)| r.group_id == rec.group_id)
        .map(|(_, at)| *at)
        .max()
}

/// Polls an SQS queue and runs the dispatcher on it (a local stand-in for Lambda's event
/// source mapping, e.g. against moto).
#[cfg(feature = "aws")]
async fn dispatch_sqs(
    queue: botgate::queue::sqs::SqsQueue,
    dead_letters: Option<botgate::queue::sqs::SqsQueue>,
    live: Arc<Live<Dispatcher>>,
) {
    loop {
        let dispatcher = live.get();
        let deadline = dispatcher.clock.now_ms() + 30_000;
        if let Err(e) = queue.poll_once(&dispatcher, dead_letters.as_ref(), 10, deadline).await {
            tracing::warn!(error = %e, "polling the queue failed; retrying in 5 s");
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    }
}

/// The startup lines describing the schedules and their next runs.
fn schedule_lines(schedules: &[crate::schedule::Schedule], now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    schedules
        .iter()
        .map(|s| {
            let next = s.next_after(now).map_or_else(
                || "no run left".to_owned(),
                |t| format!("next {}", crate::schedule::describe(t, s.timezone)),
            );
            format!("  schedule: {} {s}, {next}", s.notification)
        })
        .collect()
}

/// How to call this executable from the current directory (`target/debug/botgate` when run
/// through cargo, `botgate` when installed on the PATH).
fn self_command() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "botgate".into();
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    match exe.strip_prefix(&cwd) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => exe.display().to_string(),
    }
}

/// Checks the configuration's source every second once its refresh interval has passed,
/// and swaps a new valid configuration into the gateway and the dispatcher (both or
/// neither). The listener's limits and the backends stay as they started.
pub(crate) async fn reload(reloader: Reloader, gateway: Arc<Live<Deps>>, dispatcher: Option<Arc<Live<Dispatcher>>>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let now_ms = gateway.get().clock.now_ms();
        let Some(settings) = reloader.check(now_ms).await else {
            continue;
        };
        let settings = Arc::new(settings);
        let next_dispatcher = match &dispatcher {
            Some(d) => match d.get().reconfigured(settings.clone()) {
                Ok(next) => Some(next),
                Err(e) => {
                    reloader.refused_apply(&e, now_ms);
                    continue;
                }
            },
            None => None,
        };
        if let Err(e) = gateway.apply(&settings) {
            reloader.refused_apply(&e, now_ms);
            continue;
        }
        if let (Some(d), Some(next)) = (&dispatcher, next_dispatcher) {
            d.set(next);
        }
        println!("botgate: configuration reloaded from {}", reloader.uri());
    }
}

/// Logs as JSON lines (as on Lambda) or as text, at `RUST_LOG` (default info).
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if json {
        botgate::logging::init_json(std::io::stdout);
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init();
    }
}

/// Runs the command until Ctrl-C.
pub fn run(args: Args) -> Result<Outcome> {
    init_logging(args.json);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(serve(args))
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop`, systemd and Kubernetes send).
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    println!("botgate: shutting down (requests in flight may finish)");
}

/// The notify API's routes, one line per kind, naming the configured targets and routers.
fn notify_lines(config: &botgate::Settings, addr: &str) -> Vec<String> {
    let targets: Vec<&str> = config.targets.keys().map(String::as_str).collect();
    let routers: Vec<&str> = config.alerts.routers.keys().map(String::as_str).collect();
    let mut lines = vec![format!(
        "  notify    http://{addr}/notify/<target>   targets: {}",
        targets.join(", ")
    )];
    lines.push(format!(
        "  alerts    http://{addr}/alertmanager/<target or router>, /grafana/<...>   routers: {}",
        if routers.is_empty() {
            "none".to_owned()
        } else {
            routers.join(", ")
        }
    ));
    lines
}

/// The largest body any route takes: each route checks its own limit (the bots' and the
/// notify API's) after this outer one.
pub fn body_limit(config: &botgate::Settings) -> usize {
    let bots = config
        .bots
        .values()
        .map(|b| b.options.max_body_bytes)
        .max()
        .unwrap_or(0);
    let notify = config.notify_api.as_ref().map_or(0, |n| n.max_body_bytes);
    bots.max(notify) + 1
}

async fn serve(args: Args) -> Result<Outcome> {
    let metrics: Arc<dyn MetricsSink> = if args.emf { Arc::new(Stdout) } else { Arc::new(Discard) };
    let source = botgate::reload::source::Source::new(botgate::reload::source::ConfigUri::parse(&args.config)?);
    let now_ms = botgate::clock::Clock::now_ms(&botgate::clock::SystemClock);
    let (reloader, config) = Reloader::start(source, crate::input::resolver(), "serve", metrics.clone(), now_ms, None)
        .await
        .map_err(anyhow::Error::msg)?;
    let body_limit = body_limit(&config);
    let bots: Vec<(String, String, bool)> = config
        .bots
        .values()
        .map(|b| (b.id.clone(), b.platform.to_string(), b.verifier.is_some()))
        .collect();
    let backends = (config.backends.store, config.backends.queue);
    let dry_run = config.delivery.dry_run;
    let rules = config.rules.len();
    let refresh_secs = config.config_refresh_secs;
    let schedules = if args.no_schedules {
        Vec::new()
    } else {
        crate::schedule::configured(&config)?
    };
    let (mut deps, memory) = botgate::deps::build(config, metrics.clone())
        .await
        .map_err(anyhow::Error::msg)?;
    let dispatcher = if args.no_dispatch && schedules.is_empty() {
        None
    } else {
        let mut d = botgate::deps::dispatcher(
            deps.config.clone(),
            metrics.clone(),
            botgate::handler::Registry::default(),
            None,
        )
        .await
        .map_err(anyhow::Error::msg)?;
        // Digests go on the queue the gateway fills.
        d.queue = Some(deps.queue.clone());
        // Rules that answer in the callback read the state this dispatcher keeps.
        deps.state = Some(d.state.clone());
        Some(Arc::new(Live::new(d)))
    };
    let gateway = Arc::new(Live::new(deps));
    drop(tokio::spawn(reload(reloader, gateway.clone(), dispatcher.clone())));
    // Bots with `mode: long_connection` (and any a reload switches to it) are connected.
    let connect_lines = crate::connect::banner(&gateway.get().config);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let connector = tokio::spawn(
        botgate::connect::Connector::new(
            gateway.clone(),
            crate::connect::endpoint_transport(&gateway.get().config)?,
            metrics.clone(),
        )
        .run(stop_rx),
    );
    let schedule_lines = schedule_lines(&schedules, chrono::Utc::now());
    // The tick runs whenever the dispatcher does, so a schedule added by a reload runs too.
    if let (Some(d), false) = (&dispatcher, args.no_schedules) {
        drop(tokio::spawn(crate::schedule::run(d.clone(), crate::schedule::TICK)));
    }
    if let (Some(dispatcher), false) = (dispatcher, args.no_dispatch) {
        match backends.1 {
            QueueKind::Memory => drop(tokio::spawn(dispatch_memory(memory.queue.clone(), dispatcher))),
            #[cfg(feature = "aws")]
            QueueKind::Sqs => {
                let sdk = aws_config::load_from_env().await;
                let config = gateway.get().config.clone();
                let url = config.backends.queue_url.clone().unwrap_or_default();
                let queue =
                    botgate::queue::sqs::SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url, config.max_message_bytes);
                let dead_letters = botgate::deps::dead_letter_queue(&config).await;
                drop(tokio::spawn(dispatch_sqs(queue, dead_letters, dispatcher)));
            }
            #[cfg(not(feature = "aws"))]
            QueueKind::Sqs => {}
        }
    } else if backends.1 == QueueKind::Memory {
        drop(tokio::spawn(print_queue(memory.queue.clone())));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("botgate gateway listening on http://{addr}");
    println!(
        "  store: {}, queue: {}",
        if backends.0 == StoreKind::Memory {
            "in-memory"
        } else {
            "DynamoDB"
        },
        if backends.1 == QueueKind::Memory {
            "in-memory"
        } else {
            "SQS"
        }
    );
    if args.no_dispatch {
        println!("  dispatcher: off (queued events are printed)");
    } else {
        println!(
            "  dispatcher: {rules} rules, {}",
            if dry_run {
                "dry run (each send is printed, nothing is sent)"
            } else {
                "sending for real"
            }
        );
    }
    for line in &schedule_lines {
        println!("{line}");
    }
    for (id, platform, webhook) in &bots {
        if *webhook {
            println!("  {platform:<9} http://{addr}/{platform}/{id}");
        }
    }
    for line in &connect_lines {
        println!("{line}");
    }
    let config = gateway.get().config.clone();
    println!("  config: {} (checked for changes every {refresh_secs} s)", args.config);
    if config.notify_api.is_some() {
        for line in notify_lines(&config, &addr.to_string()) {
            println!("{line}");
        }
    }
    if let Some((id, _, _)) = bots.iter().find(|b| b.2) {
        println!("Send it a signed sample event from another terminal:");
        println!(
            "  {} event --config {} --bot {id} --format curl --url http://{addr} | sh",
            self_command(),
            args.config
        );
    }
    let limits = config.serve.clone();
    let app = router(gateway, body_limit);
    let stop = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    crate::http::serve(listener, app, limits, stop).await?;
    // The long connections acknowledge what they are queueing, then close.
    let _ = connector.await;
    println!("botgate: stopped");
    Ok(Outcome::Ok)
}
