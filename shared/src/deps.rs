//! Building the callback's dependencies from a configuration: in-memory backends, or
//! DynamoDB and SQS (endpoints from the standard `AWS_ENDPOINT_URL*` variables).

use std::sync::Arc;

use crate::callback::Deps;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, QueueKind, StoreKind};
use crate::metrics::MetricsSink;
use crate::queue::Queue;
use crate::queue::memory::MemoryQueue;
use crate::store::DedupStore;
use crate::store::memory::MemoryStore;

/// The in-memory backends, kept so a local consumer can read the queue.
#[derive(Debug, Clone)]
pub struct MemoryBackends {
    /// The store.
    pub store: Arc<MemoryStore>,
    /// The queue.
    pub queue: Arc<MemoryQueue>,
}

/// Builds [`Deps`] for `config`; returns the in-memory queue and store when they are used.
pub async fn build(config: Config, metrics: Arc<dyn MetricsSink>) -> Result<(Deps, MemoryBackends), String> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let memory = MemoryBackends {
        store: Arc::new(MemoryStore::new()),
        queue: Arc::new(MemoryQueue::new(clock.clone(), config.max_message_bytes)),
    };
    #[cfg(feature = "aws")]
    let sdk = if config.backends.store == StoreKind::Dynamodb || config.backends.queue == QueueKind::Sqs {
        Some(aws_config::load_from_env().await)
    } else {
        None
    };
    let store: Arc<dyn DedupStore> = match config.backends.store {
        StoreKind::Memory => memory.store.clone(),
        #[cfg(feature = "aws")]
        StoreKind::Dynamodb => {
            let sdk = sdk.as_ref().ok_or("AWS configuration not loaded")?;
            let table = config.backends.table.clone().unwrap_or_default();
            Arc::new(crate::store::dynamodb::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                table,
            ))
        }
        #[cfg(not(feature = "aws"))]
        StoreKind::Dynamodb => return Err("built without the `aws` feature".into()),
    };
    let queue: Arc<dyn Queue> = match config.backends.queue {
        QueueKind::Memory => memory.queue.clone(),
        #[cfg(feature = "aws")]
        QueueKind::Sqs => {
            let sdk = sdk.as_ref().ok_or("AWS configuration not loaded")?;
            let url = config.backends.queue_url.clone().unwrap_or_default();
            Arc::new(crate::queue::sqs::SqsQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                url,
                config.max_message_bytes,
            ))
        }
        #[cfg(not(feature = "aws"))]
        QueueKind::Sqs => return Err("built without the `aws` feature".into()),
    };
    Ok((
        Deps {
            config: Arc::new(config),
            store,
            queue,
            clock,
            metrics,
        },
        memory,
    ))
}
