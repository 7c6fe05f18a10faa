//! The dispatcher Lambda function: build configuration, stores and the HTTP client once,
//! then consume SQS batches.

use std::sync::Arc;

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Arc::new(botgate::deps::load_config_from_env().await?);
    let mut dispatcher =
        botgate::deps::dispatcher(config, Arc::new(botgate::metrics::Stdout), dispatcher::handlers(), None).await?;
    let queue = Arc::new(botgate::deps::events_queue(&dispatcher.config).await);
    // Digests of what waits behind a target's rate limit go on the events queue.
    dispatcher.queue = (*queue).clone().map(|q| Arc::new(q) as Arc<dyn botgate::queue::Queue>);
    let dispatcher = Arc::new(dispatcher);
    let dead_letters = Arc::new(botgate::deps::dead_letter_queue(&dispatcher.config).await);
    lambda_runtime::run(service_fn(move |event| {
        let (dispatcher, queue, dead_letters) = (dispatcher.clone(), queue.clone(), dead_letters.clone());
        async move {
            dispatcher::handler(
                &dispatcher,
                queue.as_ref().as_ref(),
                dead_letters.as_ref().as_ref(),
                event,
            )
            .await
        }
    }))
    .await
}
