//! An in-memory dedup store with the same semantics as the DynamoDB one.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Claim, ClaimRequest, DedupStore, Record, Status, StoreError, claimable, owner_token, was_in_progress};

/// Expired records are swept out every this many claims (a long-running `botgate serve`
/// stays bounded by what its retention keeps).
const SWEEP_EVERY: u64 = 1024;

/// In-memory records, for local runs and tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, Record>>,
    claims: std::sync::atomic::AtomicU64,
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

    /// Records held (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        if self.claims.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let now_secs = req.now_ms.div_euclid(1000);
            records.retain(|_, r| r.expiration_secs >= now_secs);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expired_records_are_swept_out() {
        let store = MemoryStore::new();
        for i in 0..10_000i64 {
            let key = format!("k{i}");
            let claim = store
                .claim(ClaimRequest {
                    key: &key,
                    now_ms: i * 1000,
                    in_progress_ms: 10,
                    retention_secs: 60,
                    answer: None,
                })
                .await
                .unwrap();
            assert!(matches!(claim, Claim::Claimed(_)));
        }
        // 10 000 claims over 10 000 s with a 60 s retention: at most a sweep's worth plus
        // the retention's worth remain.
        assert!(store.len() <= 60 + SWEEP_EVERY as usize + 1, "{}", store.len());
    }
}
