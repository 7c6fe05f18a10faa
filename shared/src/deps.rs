//! Building the callback's dependencies from a configuration: in-memory backends, or
//! DynamoDB and SQS (endpoints from the standard `AWS_ENDPOINT_URL*` variables).

use std::sync::Arc;

use crate::callback::Deps;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, QueueKind, StoreKind};
use crate::metrics::MetricsSink;
use crate::queue::memory::MemoryQueue;
use crate::store::memory::MemoryStore;

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
