//! The scheduler Lambda function's handler: the schedule's input in, a report out. A
//! failure is returned as an error, so EventBridge Scheduler retries the invocation (its
//! `RetryPolicy`) and finally puts it in the schedule's dead-letter queue with the error;
//! targets already sent are not sent again on a retry. The flow is
//! [`botgate::scheduler::run`].

use botgate::dispatcher::Dispatcher;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

/// Time kept back from the invocation's deadline.
pub const DEADLINE_MARGIN_MS: i64 = 2_000;

/// Handles one invocation.
pub async fn handler(d: &Dispatcher, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let request_id = event.context.request_id.clone();
    let deadline_ms =
        botgate::clock::invocation_deadline_ms(event.context.deadline, d.clock.now_ms(), DEADLINE_MARGIN_MS);
    let report = botgate::scheduler::run(d, event.payload, &request_id, deadline_ms).await?;
    Ok(json!({"sent": report.sent, "already_sent": report.already_sent}))
}
