//! The dispatcher Lambda function's handler: an SQS batch in, the failed records out
//! (`ReportBatchItemFailures`). The flow itself is [`botgate::dispatcher::Dispatcher`],
//! shared with `botgate serve` and the tests.
//!
//! Custom handlers: register them in [`handlers`] (see [`botgate::handler`] for the trait
//! and an example), rebuild and deploy. The callback function registers the same ones, to
//! ask them for their synchronous answers ([`botgate::handler::Handler::answer`]).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use botgate::dispatcher::{Dispatcher, Record};
use botgate::handler::Registry;
use botgate::queue::sqs::SqsQueue;
use lambda_runtime::{Error, LambdaEvent};

/// Time kept back from the invocation's deadline for reporting and the last log lines.
pub const DEADLINE_MARGIN_MS: i64 = 2_000;

/// The custom handlers this build registers (none by default: rules do the work).
pub fn handlers() -> Registry {
    Registry::default()
}

/// Converts the SQS records; a record without a message id cannot be reported and is
/// skipped with a log line (SQS always sends one).
pub fn records(event: SqsEvent) -> Vec<Record> {
    event
        .records
        .into_iter()
        .filter_map(|m| {
            let Some(message_id) = m.message_id else {
                tracing::error!("SQS record without a message id");
                return None;
            };
            Some(Record {
                message_id,
                body: m.body.unwrap_or_default(),
                group_id: m.attributes.get("MessageGroupId").cloned(),
                receive_count: m
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
            })
        })
        .collect()
}

/// Handles one batch. Failed records that know when to try again (a notification target
/// at its rate limit) are held back on `queue` until then (ChangeMessageVisibility), so
/// they return when the limit allows instead of at the queue's visibility timeout. Records
/// that can never succeed go to `dead_letters` at once (when configured) instead of being
/// retried until the redrive policy moves them.
pub async fn handler(
    dispatcher: &Dispatcher,
    queue: Option<&SqsQueue>,
    dead_letters: Option<&SqsQueue>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let request_id = event.context.request_id.clone();
    let deadline_ms =
        botgate::clock::invocation_deadline_ms(event.context.deadline, dispatcher.clock.now_ms(), DEADLINE_MARGIN_MS);
    let handles: Vec<(String, String)> = event
        .payload
        .records
        .iter()
        .filter_map(|m| Some((m.message_id.clone()?, m.receipt_handle.clone()?)))
        .collect();
    let records = records(event.payload);
    let mut failed = dispatcher
        .process_batch_detailed(&request_id, records.clone(), deadline_ms)
        .await;
    if let Some(dlq) = dead_letters {
        let moved = dlq.take_dead_letters(&failed, &records).await;
        failed.retain(|f| !moved.contains(&f.message_id));
    }
    if let Some(queue) = queue {
        let handles: Vec<(&str, &str)> = handles.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        queue.hold_failures(&failed, &handles, dispatcher.clock.now_ms()).await;
    }
    let mut response = SqsBatchResponse::default();
    for f in failed {
        response.add_failure(f.message_id);
    }
    Ok(response)
}
