//! `botgate connect`: the long-connection connector on its own, for a VM, a container or a
//! pod beside the Lambda functions: one connection per bot with `mode: long_connection`,
//! every pushed event claimed in the dedup store and put on the queue (DynamoDB and SQS,
//! as the callback function does), each acknowledged only once queued. The configuration
//! reloads as in `serve`; SIGTERM closes every connection after the events being queued
//! are acknowledged.

use std::sync::Arc;

use anyhow::{Result, bail};
use botgate::config::QueueKind;
use botgate::connect::Connector;
use botgate::metrics::{Discard, MetricsSink, Stdout};
use botgate::reload::{Live, Reloader};

use crate::Outcome;

/// Arguments of `botgate connect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration (a file or s3://bucket/key; the stack output ConfigUri).
    #[arg(long, env = "BOTGATE_CONFIG_URI", default_value = "botgate.yaml")]
    config: String,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Also print CloudWatch EMF metric lines (connections, reconnects, events, ack latency).
    #[arg(long)]
    emf: bool,
}

/// Runs the connector until SIGTERM or Ctrl-C.
pub fn run(args: Args) -> Result<Outcome> {
    crate::serve::init_logging(args.json);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(connect(args))
}

/// The transport of the endpoint and open-connection calls: real HTTPS, also when the
/// configuration's sends are a dry run (taking events in is not a send).
pub fn endpoint_transport(config: &botgate::Settings) -> Result<Arc<dyn botgate::delivery::transport::Transport>> {
    let t = botgate::delivery::transport::Reqwest::new(std::time::Duration::from_millis(config.delivery.timeout_ms))
        .map_err(anyhow::Error::msg)?;
    Ok(Arc::new(t))
}

/// The startup lines naming each long-connection bot and where it connects.
pub fn banner(config: &botgate::Settings) -> Vec<String> {
    botgate::connect::bots(config)
        .into_iter()
        .map(|b| {
            let base = config.delivery.base_urls.for_bot(b);
            let webhook = if b.verifier.is_some() {
                format!(", and its callback URL /{}/{}", b.platform, b.id)
            } else {
                String::new()
            };
            format!(
                "  {:<9} {}: long connection to {base}{webhook}",
                b.platform.as_str(),
                b.id
            )
        })
        .collect()
}

async fn connect(args: Args) -> Result<Outcome> {
    let metrics: Arc<dyn MetricsSink> = if args.emf { Arc::new(Stdout) } else { Arc::new(Discard) };
    let source = botgate::reload::source::Source::new(botgate::reload::source::ConfigUri::parse(&args.config)?);
    let now_ms = botgate::clock::Clock::now_ms(&botgate::clock::SystemClock);
    let (reloader, config) = Reloader::start(
        source,
        crate::input::resolver(),
        "connector",
        metrics.clone(),
        now_ms,
        None,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    if botgate::connect::bots(&config).is_empty() {
        bail!(
            "{}: no bot has `mode: long_connection`, so there is nothing to connect (webhook bots need `botgate serve` or the callback function)",
            args.config
        );
    }
    if config.backends.queue == QueueKind::Memory {
        eprintln!(
            "botgate connect: gateway.queue is `memory`: events are queued in this process and nothing dispatches them. \
             Use `botgate serve` on one machine (it runs the dispatcher too), or gateway.queue: sqs with the stack's queue."
        );
    }
    let transport = endpoint_transport(&config)?;
    let lines = banner(&config);
    let (deps, _memory) = botgate::deps::build(config, metrics.clone())
        .await
        .map_err(anyhow::Error::msg)?;
    let gateway = Arc::new(Live::new(deps));
    drop(tokio::spawn(crate::serve::reload(reloader, gateway.clone(), None)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let connector = tokio::spawn(Connector::new(gateway, transport, metrics).run(stop_rx));
    println!("botgate connect: {} long connection(s)", lines.len());
    for l in &lines {
        println!("{l}");
    }
    println!(
        "  config: {} (checked for changes; a bot added or changed is connected)",
        args.config
    );
    crate::serve::shutdown_signal().await;
    let _ = stop_tx.send(true);
    let _ = connector.await;
    println!("botgate connect: stopped");
    Ok(Outcome::Ok)
}
