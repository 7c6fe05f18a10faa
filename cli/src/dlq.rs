//! `botgate dlq`: what sits in the dead-letter queue and why, and re-driving it to the
//! events queue once the cause is fixed.

use anyhow::{Context, Result};
use botgate::queue::Envelope;
use botgate::queue::sqs::SqsQueue;
use botgate::state::StateStore;
use botgate::state::dynamodb::DynamoState;
use botgate::state::failure_key;

use crate::Outcome;

/// Arguments of `botgate dlq`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The dead-letter queue URL (stack output `EventsDeadLetterQueueUrl`).
    #[arg(long)]
    dlq_url: String,
    /// The table holding the failure reasons (stack output `DedupTableName`).
    #[arg(long)]
    table: Option<String>,
    /// Move the messages back to this queue (stack output `EventsQueueUrl`).
    #[arg(long, requires = "queue_url")]
    redrive: bool,
    /// The events queue URL, for `--redrive`.
    #[arg(long)]
    queue_url: Option<String>,
    /// At most this many messages.
    #[arg(long, default_value_t = 100)]
    max: usize,
}

/// Runs the command (AWS credentials and region from the environment; `AWS_ENDPOINT_URL`
/// is honoured, so it works against moto too).
pub fn run(args: Args) -> Result<Outcome> {
    crate::input::block_on(go(args))
}

async fn go(args: Args) -> Result<Outcome> {
    let sdk = aws_config::load_from_env().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq = SqsQueue::new(sqs.clone(), &args.dlq_url, 1 << 20);
    if args.redrive {
        let url = args.queue_url.context("--redrive needs --queue-url")?;
        let to = SqsQueue::new(sqs, url, 1 << 20);
        let moved = dlq.redrive_to(&to, args.max).await?;
        println!("re-drove {moved} message(s) to the events queue");
        return Ok(Outcome::Ok);
    }
    let reasons = args
        .table
        .as_ref()
        .map(|t| DynamoState::new(aws_sdk_dynamodb::Client::new(&sdk), t));
    let mut seen = 0;
    let mut handles = Vec::new();
    // Each message shows once: received messages stay invisible until released at the end.
    while seen < args.max {
        let batch = dlq.receive(10, 0).await?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            seen += 1;
            handles.push(m.receipt_handle.clone());
            let env: Option<Envelope> = serde_json::from_str(&m.record.body).ok();
            let (bot, event_id, event_type) = env.as_ref().map_or(("?", "?", "?"), |e| {
                (e.bot.as_str(), e.event.event_id.as_str(), e.event.event_type.as_str())
            });
            let key = match &env {
                Some(_) => failure_key(bot, event_id),
                None => failure_key("-", &m.record.message_id),
            };
            let why = match &reasons {
                Some(store) => store
                    .get(&key, i64::MIN / 2)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|d| d["detail"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "no reason on record".into()),
                None => "pass --table to see the reason".into(),
            };
            println!(
                "{}  bot={bot} event={event_id} type={event_type} receives={}\n    reason: {why}",
                m.record.message_id, m.record.receive_count
            );
        }
    }
    for h in &handles {
        dlq.release(h).await?;
    }
    println!(
        "{seen} message(s) in the dead-letter queue{}",
        if seen > 0 {
            "; fix the cause, then run again with --redrive --queue-url <EventsQueueUrl>"
        } else {
            ""
        }
    );
    Ok(Outcome::Ok)
}
