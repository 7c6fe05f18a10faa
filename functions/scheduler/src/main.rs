//! The scheduler Lambda function: build configuration, stores and the HTTP client once,
//! then answer each tick (the configuration's schedules) or notification input, reloading
//! the configuration when its source changes.

use std::sync::Arc;

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    botgate::logging::init();
    let metrics = Arc::new(botgate::metrics::Stdout);
    let now_ms = botgate::clock::Clock::now_ms(&botgate::clock::SystemClock);
    let (config, reloader) = botgate::reload::from_env("scheduler", metrics.clone(), now_ms).await?;
    let d = botgate::deps::dispatcher(Arc::new(config), metrics, botgate::handler::Registry::default(), None).await?;
    let live = Arc::new(botgate::reload::Live::new(d));
    let reloader = Arc::new(reloader);
    let ticker = Arc::new(botgate::schedules::Ticker::new(botgate::schedules::TICK_PERIOD_MS));
    let alarm_target = Arc::new(std::env::var("BOTGATE_ALARM_TARGET").ok());
    lambda_runtime::run(service_fn(move |event| {
        let (live, reloader, ticker, alarm_target) =
            (live.clone(), reloader.clone(), ticker.clone(), alarm_target.clone());
        async move {
            if let Some(r) = reloader.as_ref() {
                r.refresh(&live, live.get().clock.now_ms()).await;
            }
            scheduler::handler(&live.get(), &ticker, alarm_target.as_deref(), event).await
        }
    }))
    .await
}
