//! The dispatcher Lambda function: build configuration, stores and the HTTP client once,
//! then consume SQS batches, reloading the configuration when its source changes.

use std::sync::Arc;

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    botgate::logging::init();
    let metrics = Arc::new(botgate::metrics::Stdout);
    let now_ms = botgate::clock::Clock::now_ms(&botgate::clock::SystemClock);
    let (config, reloader) = botgate::reload::from_env("dispatcher", metrics.clone(), now_ms).await?;
    let mut dispatcher = botgate::deps::dispatcher(Arc::new(config), metrics, dispatcher::handlers(), None).await?;
    let queue = Arc::new(botgate::deps::events_queue(&dispatcher.config).await);
    // Digests of what waits behind a target's rate limit go on the events queue.
    dispatcher.queue = (*queue).clone().map(|q| Arc::new(q) as Arc<dyn botgate::queue::Queue>);
    let dead_letters = Arc::new(botgate::deps::dead_letter_queue(&dispatcher.config).await);
    let live = Arc::new(botgate::reload::Live::new(dispatcher));
    let reloader = Arc::new(reloader);
    lambda_runtime::run(service_fn(move |event| {
        let (live, reloader, queue, dead_letters) =
            (live.clone(), reloader.clone(), queue.clone(), dead_letters.clone());
        async move {
            if let Some(r) = reloader.as_ref() {
                r.refresh(&live, live.get().clock.now_ms()).await;
            }
            dispatcher::handler(
                &live.get(),
                queue.as_ref().as_ref(),
                dead_letters.as_ref().as_ref(),
                event,
            )
            .await
        }
    }))
    .await
}
