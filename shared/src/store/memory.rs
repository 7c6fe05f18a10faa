//! An in-memory dedup store with the same semantics as the DynamoDB one.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Claim, ClaimRequest, DedupStore, Record, Status, StoreError, claimable, owner_token, was_in_progress};

/// In-memory records, for local runs and tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, Record>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The record under `key`, if any.
    pub fn get(&self, key: &str) -> Option<Record> {
        self.lock().ok()?.get(key).cloned()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Record>>, StoreError> {
        self.records
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))
    }
}

#[async_trait::async_trait]
impl DedupStore for MemoryStore {
    async fn claim(&self, req: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let mut records = self.lock()?;
        if let Some(existing) = records.get(req.key)
            && !claimable(existing, req.now_ms)
        {
            return Ok(Claim::Held(existing.clone()));
        }
        let owner = owner_token();
        let took_over = records.get(req.key).is_some_and(|old| was_in_progress(old, req.now_ms));
        records.insert(req.key.to_owned(), req.record(owner.clone()));
        Ok(if took_over {
            Claim::TookOver(owner)
        } else {
            Claim::Claimed(owner)
        })
    }

    async fn complete(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut records = self.lock()?;
        if let Some(r) = records.get_mut(key)
            && r.owner == owner
        {
            r.status = Status::Done;
        }
        Ok(())
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut records = self.lock()?;
        if records.get(key).is_some_and(|r| r.owner == owner) {
            records.remove(key);
        }
        Ok(())
    }
}
