//! Rate logs in the DynamoDB table: `pk` = `rate#<target>`, `log` (S: comma-separated
//! marks, see [`Mark::encode`]), `ver` (N), `expiration` (N, s). Each acquire or settle
//! reads the item, changes the log, and writes it back only if `ver` is unchanged; on a
//! conflict it tries again.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Acquired, IN_FLIGHT_MAX_MS, Mark, RateLimiter, RateRule, decide, decode_log, encode_log, settled};
use crate::store::StoreError;
use crate::store::dynamodb::{condition_failed, get_consistent, number_or_zero, unavailable};

/// Conflicting writers retried at most this many times, with a short random pause.
const MAX_CONFLICTS: u64 = 64;

/// Rate logs in a DynamoDB table keyed by `pk`.
#[derive(Debug, Clone)]
pub struct DynamoLimiter {
    client: Client,
    table: String,
}

impl DynamoLimiter {
    /// A limiter on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Reads the log of `key`, lets `change` decide (`Err` ends with that value and no
    /// write), and writes the new log back if nobody else wrote in between.
    async fn update<T>(
        &self,
        key: &str,
        keep_ms: i64,
        now_ms: i64,
        change: impl Fn(&[Mark]) -> Result<Vec<Mark>, T>,
    ) -> Result<Result<(), T>, StoreError> {
        for attempt in 0..MAX_CONFLICTS {
            if attempt > 0 {
                let jitter = u64::from(botgate_core::crypto::random_bytes::<1>()[0]) % (5 + attempt.min(20) * 2);
                tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
            }
            let item = get_consistent(&self.client, &self.table, key).await?;
            let ver = item.as_ref().map_or(0, |i| number_or_zero(i, "ver"));
            // Never shortens the time to live an earlier write gave (a longer window's).
            let expiration = item
                .as_ref()
                .map_or(0, |i| number_or_zero(i, "expiration"))
                .max(now_ms.saturating_add(keep_ms) / 1000 + 3600);
            let log = item
                .as_ref()
                .and_then(|i| i.get("log"))
                .and_then(|v| v.as_s().ok())
                .map(|s| decode_log(s))
                .unwrap_or_default();
            let new = match change(&log) {
                Ok(new) => new,
                Err(v) => return Ok(Err(v)),
            };
            let r = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(key.to_owned()))
                .item("log", AttributeValue::S(encode_log(&new)))
                .item("ver", AttributeValue::N((ver + 1).to_string()))
                .item("expiration", AttributeValue::N(expiration.to_string()))
                .condition_expression("attribute_not_exists(pk) OR ver = :v")
                .expression_attribute_values(":v", AttributeValue::N(ver.to_string()))
                .send()
                .await;
            match r {
                Ok(_) => return Ok(Ok(())),
                Err(e) if condition_failed(&e) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "{key}: {MAX_CONFLICTS} conflicting writers in a row"
        )))
    }
}

#[async_trait::async_trait]
impl RateLimiter for DynamoLimiter {
    async fn acquire(&self, key: &str, now_ms: i64, rules: &[RateRule]) -> Result<Acquired, StoreError> {
        let longest = rules.iter().map(|r| r.window_ms).max().unwrap_or(0);
        Ok(
            match self
                .update(key, longest.max(IN_FLIGHT_MAX_MS), now_ms, |log| {
                    decide(log, now_ms, rules)
                })
                .await?
            {
                Ok(()) => Acquired::Yes,
                Err(at) => Acquired::RetryAt(at),
            },
        )
    }

    async fn settle(&self, key: &str, started_ms: i64, answered_ms: i64) -> Result<(), StoreError> {
        self.update(key, IN_FLIGHT_MAX_MS, answered_ms, |log| {
            if log.contains(&Mark::InFlight(started_ms)) {
                Ok(settled(log, started_ms, answered_ms))
            } else {
                Err(())
            }
        })
        .await
        .map(|_| ())
    }
}
