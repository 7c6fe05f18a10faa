//! Rate logs in the DynamoDB table: `pk` = `rate#<target>`, `log` (S: comma-separated ms
//! timestamps), `ver` (N), `expiration` (N, s). Each acquire reads the item, decides, and
//! writes it back only if `ver` is unchanged; on a conflict it tries again.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Acquired, RateLimiter, RateRule, decide};
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
}

#[async_trait::async_trait]
impl RateLimiter for DynamoLimiter {
    async fn acquire(&self, key: &str, now_ms: i64, rules: &[RateRule]) -> Result<Acquired, StoreError> {
        for attempt in 0..MAX_CONFLICTS {
            if attempt > 0 {
                let jitter = u64::from(botgate_core::crypto::random_bytes::<1>()[0]) % (5 + attempt.min(20) * 2);
                tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
            }
            let item = get_consistent(&self.client, &self.table, key).await?;
            let ver = item.as_ref().map_or(0, |i| number_or_zero(i, "ver"));
            let log: Vec<i64> = item
                .as_ref()
                .and_then(|i| i.get("log"))
                .and_then(|v| v.as_s().ok())
                .map(|s| s.split(',').filter_map(|t| t.parse().ok()).collect())
                .unwrap_or_default();
            let new = match decide(&log, now_ms, rules) {
                Ok(new) => new,
                Err(at) => return Ok(Acquired::RetryAt(at)),
            };
            let text = new.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let longest = rules.iter().map(|r| r.window_ms).max().unwrap_or(0);
            let r = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(key.to_owned()))
                .item("log", AttributeValue::S(text))
                .item("ver", AttributeValue::N((ver + 1).to_string()))
                .item(
                    "expiration",
                    AttributeValue::N(((now_ms + longest) / 1000 + 3600).to_string()),
                )
                .condition_expression("attribute_not_exists(pk) OR ver = :v")
                .expression_attribute_values(":v", AttributeValue::N(ver.to_string()))
                .send()
                .await;
            match r {
                Ok(_) => return Ok(Acquired::Yes),
                Err(e) if condition_failed(&e) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "{key}: {MAX_CONFLICTS} conflicting writers in a row"
        )))
    }
}
