//! Access tokens shared by every instance. WeChat invalidates the previous token a few
//! minutes after a new one is fetched, so instances that each refresh on their own break
//! each other: here one instance refreshes at a time, under a lease taken with a
//! conditional write, and the others keep using the still-valid token or wait briefly for
//! the new one. Tokens are also kept in process memory, so a warm instance reads the table
//! only when its copy nears expiry.

#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod memory;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use thiserror::Error;

use crate::clock::Clock;
use crate::store::{StoreError, owner_token};

/// Refresh this long before expiry (the SDKs use 3-10 minutes).
pub const REFRESH_AHEAD_MS: i64 = 5 * 60 * 1000;
/// A refresher's lease: long enough for one token request.
pub const LEASE_MS: i64 = 10_000;
/// How long an instance waits for another's refresh when it has no valid token at all.
pub const WAIT_MS: i64 = 5_000;
/// How often it looks while waiting.
pub const POLL_MS: u64 = 100;
/// After a failed refresh while the token is still valid, how long it is used before the
/// next refresh attempt.
pub const REFRESH_BACKOFF_MS: i64 = 30_000;

/// A token as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenRecord {
    /// The token, if one was ever stored.
    pub token: Option<String>,
    /// When it expires, Unix ms (0 when invalidated).
    pub expires_at_ms: i64,
    /// Until when the current refresher holds the lease, Unix ms.
    pub lease_until_ms: i64,
}

/// Shared token storage with a refresh lease.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// The record under `key`.
    async fn get(&self, key: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Takes the refresh lease if nobody holds it at `now_ms`; true when taken.
    async fn try_lease(&self, key: &str, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool, StoreError>;
    /// Stores a fresh token and gives the lease up.
    async fn put(&self, key: &str, token: &str, expires_at_ms: i64) -> Result<(), StoreError>;
    /// Gives the lease up without a token (the fetch failed), if `owner` still holds it.
    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError>;
    /// Marks `token` expired, unless a different token was stored since.
    async fn invalidate(&self, key: &str, token: &str) -> Result<(), StoreError>;
}

/// Why no token could be had.
#[derive(Debug, Error)]
pub enum TokenError {
    /// The shared store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another instance holds the lease and no valid token appeared in time.
    #[error("another instance is refreshing the token and it did not arrive within {0} ms")]
    Busy(i64),
}

/// The token key of one bot's credentials.
pub fn token_key(platform: &str, bot: &str) -> String {
    format!("token#{platform}#{bot}")
}

/// The token cache: process memory in front of the shared store.
pub struct TokenCache {
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    local: Mutex<HashMap<String, (String, i64)>>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    refreshes: AtomicU64,
    owner: String,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("refreshes", &self.refreshes())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache over `store`.
    pub fn new(store: Arc<dyn TokenStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            local: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            refreshes: AtomicU64::new(0),
            owner: owner_token(),
        }
    }

    /// How many tokens this instance fetched from a platform.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    fn fresh(expires_at_ms: i64, now_ms: i64) -> bool {
        now_ms < expires_at_ms - REFRESH_AHEAD_MS
    }

    fn local_get(&self, key: &str, now_ms: i64) -> Option<String> {
        let local = self.local.lock().ok()?;
        let (token, exp) = local.get(key)?;
        Self::fresh(*exp, now_ms).then(|| token.clone())
    }

    fn local_put(&self, key: &str, token: &str, expires_at_ms: i64) {
        if let Ok(mut local) = self.local.lock() {
            local.insert(key.to_owned(), (token.to_owned(), expires_at_ms));
        }
    }

    fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.flights.lock() {
            Ok(mut f) => f.entry(key.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// A valid token for `key`. `fetch` asks the platform for a new one (token and lifetime
    /// in seconds); it runs only in the one instance holding the lease. Its error `E` is
    /// passed through; store failures and waits that time out become `E` through `From`.
    pub async fn get<F, Fut, E>(&self, key: &str, fetch: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, i64), E>>,
        E: From<TokenError>,
    {
        if let Some(t) = self.local_get(key, self.clock.now_ms()) {
            return Ok(t);
        }
        // One request per key at a time in this process; the others find the result.
        let flight = self.flight(key);
        let _guard = flight.lock().await;
        let started = self.clock.now_ms();
        let mut fetch = Some(fetch);
        loop {
            let now = self.clock.now_ms();
            if let Some(t) = self.local_get(key, now) {
                return Ok(t);
            }
            let rec = self.store.get(key).await.map_err(TokenError::from)?.unwrap_or_default();
            if let Some(t) = rec.token.as_deref().filter(|_| Self::fresh(rec.expires_at_ms, now)) {
                self.local_put(key, t, rec.expires_at_ms);
                return Ok(t.to_owned());
            }
            if let Some(f) = fetch.take_if(|_| rec.lease_until_ms < now) {
                if self
                    .store
                    .try_lease(key, &self.owner, now, LEASE_MS)
                    .await
                    .map_err(TokenError::from)?
                {
                    let refreshed = self.refresh(key, f).await;
                    let now = self.clock.now_ms();
                    return match (refreshed, rec.token.as_deref().filter(|_| now < rec.expires_at_ms)) {
                        (Ok(t), _) => Ok(t),
                        (Err(_), Some(old)) => {
                            // The refresh failed in the token's last minutes: the current one
                            // still works. Use it, and try again in a while, not on every send.
                            tracing::warn!(
                                key,
                                expires_in_ms = rec.expires_at_ms - now,
                                "token refresh failed; the current token is still valid and is used meanwhile"
                            );
                            let until = rec.expires_at_ms.min(now + REFRESH_BACKOFF_MS) + REFRESH_AHEAD_MS;
                            self.local_put(key, old, until);
                            Ok(old.to_owned())
                        }
                        (Err(e), None) => Err(e),
                    };
                }
                fetch = Some(f);
            }
            // Someone else is refreshing: a token that is near expiry but still valid will do.
            if let Some(t) = rec.token.as_deref().filter(|_| now < rec.expires_at_ms) {
                return Ok(t.to_owned());
            }
            if now - started > WAIT_MS {
                return Err(TokenError::Busy(WAIT_MS).into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(POLL_MS)).await;
        }
    }

    async fn refresh<F, Fut, E>(&self, key: &str, fetch: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, i64), E>>,
        E: From<TokenError>,
    {
        match fetch().await {
            Ok((token, lifetime_secs)) => {
                let expires = self
                    .clock
                    .now_ms()
                    .saturating_add(lifetime_secs.max(0).saturating_mul(1000));
                self.refreshes.fetch_add(1, Ordering::Relaxed);
                tracing::info!(key, lifetime_secs, "token refreshed");
                self.store.put(key, &token, expires).await.map_err(TokenError::from)?;
                self.local_put(key, &token, expires);
                Ok(token)
            }
            Err(e) => {
                if let Err(release) = self.store.release(key, &self.owner).await {
                    tracing::warn!(key, error = %release, "could not release the token lease; it lapses on its own");
                }
                Err(e)
            }
        }
    }

    /// Drops `token` (the platform said it is invalid) here and in the shared store, unless
    /// a newer one replaced it already; the next [`TokenCache::get`] fetches afresh.
    pub async fn invalidate(&self, key: &str, token: &str) -> Result<(), TokenError> {
        if let Ok(mut local) = self.local.lock()
            && local.get(key).is_some_and(|(t, _)| t == token)
        {
            local.remove(key);
        }
        self.store.invalidate(key, token).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::token::memory::MemoryTokens;

    #[derive(Debug)]
    struct Failed;

    impl From<TokenError> for Failed {
        fn from(_: TokenError) -> Self {
            Self
        }
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_still_valid_token() {
        let clock = Arc::new(FixedClock::at_ms(1_000_000));
        let store = Arc::new(MemoryTokens::new());
        // Two minutes left: inside the refresh window, still valid.
        store.put("k", "old", 1_000_000 + 120_000).await.unwrap();
        let cache = TokenCache::new(store, clock.clone());
        let calls = std::sync::atomic::AtomicU32::new(0);
        let failing = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(String, i64), Failed>(Failed)
        };
        assert_eq!(cache.get("k", failing).await.unwrap(), "old");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // The next sends use it without asking the platform again for a while.
        clock.advance_ms(10_000);
        assert_eq!(cache.get("k", failing).await.unwrap(), "old");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Then it tries again; once the token has expired, a failure is a failure.
        clock.advance_ms(REFRESH_BACKOFF_MS);
        assert_eq!(cache.get("k", failing).await.unwrap(), "old");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        clock.advance_ms(120_000);
        assert!(cache.get("k", failing).await.is_err());
    }
}
