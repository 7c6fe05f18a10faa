//! In-memory token storage (one process: local runs and tests).

use std::collections::HashMap;
use std::sync::Mutex;

use super::{TokenRecord, TokenStore};
use crate::store::StoreError;

#[derive(Debug, Default, Clone)]
struct Entry {
    record: TokenRecord,
    lease_owner: String,
}

/// Tokens in process memory, with the same lease semantics as the DynamoDB store.
#[derive(Debug, Default)]
pub struct MemoryTokens {
    entries: Mutex<HashMap<String, Entry>>,
}

impl MemoryTokens {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Entry>>, StoreError> {
        self.entries
            .lock()
            .map_err(|_| StoreError::Unavailable("memory token lock poisoned".into()))
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokens {
    async fn get(&self, key: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.lock()?.get(key).map(|e| e.record.clone()))
    }

    async fn try_lease(&self, key: &str, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool, StoreError> {
        let mut entries = self.lock()?;
        let e = entries.entry(key.to_owned()).or_default();
        if e.record.lease_until_ms >= now_ms {
            return Ok(false);
        }
        e.record.lease_until_ms = now_ms + lease_ms;
        e.lease_owner = owner.to_owned();
        Ok(true)
    }

    async fn put(&self, key: &str, token: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        let mut entries = self.lock()?;
        let e = entries.entry(key.to_owned()).or_default();
        e.record = TokenRecord {
            token: Some(token.to_owned()),
            expires_at_ms,
            lease_until_ms: 0,
        };
        Ok(())
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        if let Some(e) = self.lock()?.get_mut(key).filter(|e| e.lease_owner == owner) {
            e.record.lease_until_ms = 0;
        }
        Ok(())
    }

    async fn invalidate(&self, key: &str, token: &str) -> Result<(), StoreError> {
        if let Some(e) = self
            .lock()?
            .get_mut(key)
            .filter(|e| e.record.token.as_deref() == Some(token))
        {
            e.record.expires_at_ms = 0;
        }
        Ok(())
    }
}
