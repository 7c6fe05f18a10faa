//! Documents in the DynamoDB table: `pk` (S), `data` (S, JSON), `expiration` (N, seconds;
//! the table's TTL attribute).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::StateStore;
use crate::store::StoreError;
use crate::store::dynamodb::{get_consistent, number_or_zero, unavailable};

/// Documents in a DynamoDB table keyed by `pk`.
#[derive(Debug, Clone)]
pub struct DynamoState {
    client: Client,
    table: String,
}

impl DynamoState {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait::async_trait]
impl StateStore for DynamoState {
    async fn get(&self, key: &str, now_secs: i64) -> Result<Option<Value>, StoreError> {
        let Some(item) = get_consistent(&self.client, &self.table, key).await? else {
            return Ok(None);
        };
        let expires = number_or_zero(&item, "expiration");
        if expires < now_secs {
            return Ok(None);
        }
        let text = item
            .get("data")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("{key}: attribute data missing")))?;
        serde_json::from_str(text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{key}: {e}")))
    }

    async fn put(&self, key: &str, data: &Value, expires_at_secs: i64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_owned()))
            .item("data", AttributeValue::S(data.to_string()))
            .item("expiration", AttributeValue::N(expires_at_secs.to_string()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
