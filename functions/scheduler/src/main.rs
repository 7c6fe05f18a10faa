//! The scheduler Lambda function: build configuration, stores and the HTTP client once,
//! then send the notification each schedule names.

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
    lambda_runtime::run(service_fn(move |event| {
        let d = d.clone();
        async move { scheduler::handler(&d, event).await }
    }))
    .await
}
