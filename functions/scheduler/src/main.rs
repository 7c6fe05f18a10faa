//! The scheduler Lambda function: build configuration, stores and the HTTP client once,
//! then answer each tick (the configuration's schedules) or notification input.

use std::sync::Arc;

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Arc::new(botgate::deps::load_config_from_env().await?);
    let d = botgate::deps::dispatcher(
        config,
        Arc::new(botgate::metrics::Stdout),
        botgate::handler::Registry::default(),
        None,
    )
    .await?;
    let d = Arc::new(d);
    let ticker = Arc::new(botgate::schedules::Ticker::new(botgate::schedules::TICK_PERIOD_MS));
    lambda_runtime::run(service_fn(move |event| {
        let (d, ticker) = (d.clone(), ticker.clone());
        async move { scheduler::handler(&d, &ticker, event).await }
    }))
    .await
}
