//! Building the callback's dependencies from a configuration: in-memory backends, or
//! DynamoDB and SQS (endpoints from the standard `AWS_ENDPOINT_URL*` variables).

use std::sync::Arc;

use crate::callback::Deps;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, QueueKind, StoreKind};
use crate::delivery::Delivery;
use crate::delivery::transport::{DryRun, Transport};
use crate::dispatcher::Dispatcher;
use crate::handler::Registry;
use crate::metrics::MetricsSink;
use crate::queue::memory::MemoryQueue;
use crate::state::StateStore;
use crate::state::memory::MemoryState;
use crate::store::DedupStore;
use crate::store::memory::MemoryStore;
use crate::token::memory::MemoryTokens;
use crate::token::{TokenCache, TokenStore};

/// The in-memory backends, kept so a local consumer can read the queue.
#[derive(Debug, Clone)]
pub struct MemoryBackends {
    /// The store.
    pub store: Arc<MemoryStore>,
    /// The queue.
    pub queue: Arc<MemoryQueue>,
}

/// [`Deps`] over fresh in-memory backends, whatever the configuration says (local runs,
/// tests, benchmarks).
pub fn in_memory(config: Config, clock: Arc<dyn Clock>, metrics: Arc<dyn MetricsSink>) -> (Deps, MemoryBackends) {
    let memory = MemoryBackends {
        store: Arc::new(MemoryStore::new()),
        queue: Arc::new(MemoryQueue::new(clock.clone(), config.max_message_bytes)),
    };
    let deps = Deps {
        config: Arc::new(config),
        store: memory.store.clone(),
        queue: memory.queue.clone(),
        clock,
        metrics,
    };
    (deps, memory)
}

/// Builds [`Deps`] for `config`; returns the in-memory queue and store when they are used.
pub async fn build(config: Config, metrics: Arc<dyn MetricsSink>) -> Result<(Deps, MemoryBackends), String> {
    let (mut deps, memory) = in_memory(config, Arc::new(SystemClock), metrics);
    let config = deps.config.clone();
    if config.backends.store == StoreKind::Memory && config.backends.queue == QueueKind::Memory {
        return Ok((deps, memory));
    }
    #[cfg(feature = "aws")]
    {
        let sdk = aws_config::load_from_env().await;
        if let (StoreKind::Dynamodb, Some(table)) = (config.backends.store, &config.backends.table) {
            deps.store = Arc::new(crate::store::dynamodb::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                table,
            ));
        }
        if let (QueueKind::Sqs, Some(url)) = (config.backends.queue, &config.backends.queue_url) {
            deps.queue = Arc::new(crate::queue::sqs::SqsQueue::new(
                aws_sdk_sqs::Client::new(&sdk),
                url,
                config.max_message_bytes,
            ));
        }
        Ok((deps, memory))
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = &mut deps;
        Err("the DynamoDB/SQS backends need the `aws` feature".into())
    }
}

/// The dispatcher's stores.
#[derive(Clone)]
pub struct DispatchStores {
    /// Effects.
    pub effects: Arc<dyn DedupStore>,
    /// Conversation state and failure reasons.
    pub state: Arc<dyn StateStore>,
    /// Access tokens.
    pub tokens: Arc<dyn TokenStore>,
    /// Notification rate limits.
    pub limiter: Arc<dyn crate::notify::rate::RateLimiter>,
}

impl DispatchStores {
    /// Fresh in-memory stores.
    pub fn in_memory() -> Self {
        Self {
            effects: Arc::new(MemoryStore::new()),
            state: Arc::new(MemoryState::new()),
            tokens: Arc::new(MemoryTokens::new()),
            limiter: Arc::new(crate::notify::rate::MemoryLimiter::new()),
        }
    }

    /// The stores on a DynamoDB table.
    #[cfg(feature = "aws")]
    pub fn dynamodb(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self {
            effects: Arc::new(crate::store::dynamodb::DynamoStore::new(client.clone(), table)),
            state: Arc::new(crate::state::dynamodb::DynamoState::new(client.clone(), table)),
            tokens: Arc::new(crate::token::dynamodb::DynamoTokens::new(client.clone(), table)),
            limiter: Arc::new(crate::notify::rate::dynamodb::DynamoLimiter::new(client, table)),
        }
    }
}

/// A dispatcher over the given stores, transport and clock.
pub fn dispatcher_with(
    config: Arc<Config>,
    stores: DispatchStores,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    metrics: Arc<dyn MetricsSink>,
    handlers: Registry,
) -> Dispatcher {
    let limiter = stores.limiter.clone();
    let tokens = Arc::new(TokenCache::new(stores.tokens, clock.clone()));
    let mut delivery = Delivery::new(transport, tokens, clock.clone());
    delivery.urls = config.delivery.base_urls.clone();
    delivery.retry = config.delivery.retry;
    delivery.dry_run = config.delivery.dry_run;
    let delivery = Arc::new(delivery);
    Dispatcher {
        notifier: Arc::new(crate::notify::Notifier::new(
            config.clone(),
            delivery.clone(),
            limiter,
            clock.clone(),
        )),
        config,
        handlers,
        effects: stores.effects,
        state: stores.state,
        delivery,
        clock,
        metrics,
    }
}

/// The transport the configuration asks for: printing dry runs, or real HTTPS.
pub fn transport(config: &Config) -> Result<Arc<dyn Transport>, String> {
    if config.delivery.dry_run {
        return Ok(Arc::new(DryRun::printing()));
    }
    #[cfg(feature = "net")]
    {
        let t = crate::delivery::transport::Reqwest::new(std::time::Duration::from_millis(config.delivery.timeout_ms))?;
        Ok(Arc::new(t))
    }
    #[cfg(not(feature = "net"))]
    Err("sending needs the `net` feature (or set delivery.dry_run)".into())
}

/// Builds the dispatcher for `config`: DynamoDB stores when the gateway's store is
/// `dynamodb`, else in-memory ones.
pub async fn dispatcher(
    config: Arc<Config>,
    metrics: Arc<dyn MetricsSink>,
    handlers: Registry,
    stores: Option<DispatchStores>,
) -> Result<Dispatcher, String> {
    let transport = transport(&config)?;
    let stores = match stores {
        Some(s) => s,
        None => match (config.backends.store, &config.backends.table) {
            #[cfg(feature = "aws")]
            (StoreKind::Dynamodb, Some(table)) => {
                let sdk = aws_config::load_from_env().await;
                DispatchStores::dynamodb(aws_sdk_dynamodb::Client::new(&sdk), table)
            }
            _ => DispatchStores::in_memory(),
        },
    };
    Ok(dispatcher_with(
        config,
        stores,
        transport,
        Arc::new(SystemClock),
        metrics,
        handlers,
    ))
}

/// The events queue the dispatcher consumes, when the configuration names an SQS one (the
/// dispatcher function holds rate-limited records back on it).
#[cfg(feature = "aws")]
pub async fn events_queue(config: &Config) -> Option<crate::queue::sqs::SqsQueue> {
    if config.backends.queue != QueueKind::Sqs {
        return None;
    }
    let url = config.backends.queue_url.as_ref()?;
    let sdk = aws_config::load_from_env().await;
    Some(crate::queue::sqs::SqsQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        url,
        config.max_message_bytes,
    ))
}

/// Loads the configuration of a Lambda function: `BOTGATE_CONFIG` (the YAML itself) or
/// `BOTGATE_CONFIG_FILE` (a path), with `${env:..}`, `${ssm:..}` and
/// `${secretsmanager:..}` references resolved.
#[cfg(feature = "aws")]
pub async fn load_config_from_env() -> Result<Config, String> {
    let resolver = crate::aws::AwsResolver::new();
    if let Ok(text) = std::env::var("BOTGATE_CONFIG") {
        return Config::from_yaml(&text, &resolver).await.map_err(|e| e.to_string());
    }
    let path = std::env::var("BOTGATE_CONFIG_FILE").map_err(|_| "set BOTGATE_CONFIG (YAML) or BOTGATE_CONFIG_FILE")?;
    Config::from_file(std::path::Path::new(&path), &resolver)
        .await
        .map_err(|e| e.to_string())
}
