//! The callback Lambda function: build configuration and clients once, then serve,
//! reloading the configuration when its source changes.

use std::sync::Arc;

use lambda_http::{Error, service_fn};

// No mimalloc here (unlike the `botgate` CLI): it saves ~20 µs of CPU per request but its
// start-up costs ~2 ms of cold start, and one Lambda invocation spends milliseconds on the
// network anyway.
#[tokio::main]
async fn main() -> Result<(), Error> {
    botgate::logging::init();
    let metrics = Arc::new(botgate::metrics::Stdout);
    let now_ms = botgate::clock::Clock::now_ms(&botgate::clock::SystemClock);
    let (config, reloader) = botgate::reload::from_env("callback", metrics.clone(), now_ms).await?;
    let (mut deps, _) = botgate::deps::build(config, metrics).await?;
    // The same handlers the dispatcher runs, asked for their answers in the callback.
    deps.handlers = dispatcher::handlers();
    let live = Arc::new(botgate::reload::Live::new(deps));
    let reloader = Arc::new(reloader);
    lambda_http::run(service_fn(move |req| {
        let (live, reloader) = (live.clone(), reloader.clone());
        async move { callback::handle_live(&live, reloader.as_ref().as_ref(), req).await }
    }))
    .await
}
