//! The callback Lambda function: build configuration and clients once, then serve.

use std::sync::Arc;

use lambda_http::{Error, service_fn};

// No mimalloc here (unlike the `botgate` CLI): it saves ~20 µs of CPU per request but its
// start-up costs ~2 ms of cold start, and one Lambda invocation spends milliseconds on the
// network anyway.
#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = callback::load_config().await?;
    let (deps, _) = botgate::deps::build(config, Arc::new(botgate::metrics::Stdout)).await?;
    let deps = Arc::new(deps);
    lambda_http::run(service_fn(move |req| {
        let deps = deps.clone();
        async move { callback::handler(&deps, req).await }
    }))
    .await
}
