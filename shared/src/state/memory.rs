//! In-memory documents, for local runs and tests.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use super::{Document, StateStore};
use crate::store::StoreError;

/// The size from which `put` sweeps expired documents (then at every doubling).
const SWEEP_AT: usize = 1024;

/// Documents in process memory.
#[derive(Debug, Default)]
pub struct MemoryState {
    docs: Mutex<HashMap<String, Document>>,
}

impl MemoryState {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Document>>, StoreError> {
        self.docs
            .lock()
            .map_err(|_| StoreError::Unavailable("memory state lock poisoned".into()))
    }
}

#[async_trait::async_trait]
impl StateStore for MemoryState {
    async fn get(&self, key: &str, now_secs: i64) -> Result<Option<Value>, StoreError> {
        Ok(self
            .lock()?
            .get(key)
            .filter(|d| d.expires_at_secs >= now_secs)
            .map(|d| d.data.clone()))
    }

    async fn put(&self, key: &str, data: &Value, expires_at_secs: i64) -> Result<(), StoreError> {
        let mut docs = self.lock()?;
        if docs.len() >= SWEEP_AT && docs.len().is_power_of_two() {
            // Documents expire with a TTL; sweep the expired ones as the map grows.
            let now = crate::clock::Clock::now_secs(&crate::clock::SystemClock);
            docs.retain(|_, d| d.expires_at_secs >= now);
        }
        docs.insert(
            key.to_owned(),
            Document {
                data: data.clone(),
                expires_at_secs,
            },
        );
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock()?.remove(key);
        Ok(())
    }
}
