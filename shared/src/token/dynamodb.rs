//! Tokens in the DynamoDB table: `pk` = `token#<platform>#<bot>`, `token` (S),
//! `expires_at` (N, ms), `lease_until` (N, ms), `lease_owner` (S), `expiration` (N, s: TTL,
//! a day past the token's expiry). Access tokens are short-lived; the table is encrypted at
//! rest, and only the functions' roles can read it.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{TokenRecord, TokenStore};
use crate::store::StoreError;
use crate::store::dynamodb::{condition_failed, get_consistent, number_or_zero, unavailable, unless_condition_failed};

/// Tokens in a DynamoDB table keyed by `pk`.
#[derive(Debug, Clone)]
pub struct DynamoTokens {
    client: Client,
    table: String,
}

impl DynamoTokens {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

#[async_trait::async_trait]
impl TokenStore for DynamoTokens {
    async fn get(&self, key: &str) -> Result<Option<TokenRecord>, StoreError> {
        let Some(item) = get_consistent(&self.client, &self.table, key).await? else {
            return Ok(None);
        };
        let num = |k: &str| number_or_zero(&item, k);
        Ok(Some(TokenRecord {
            token: item.get("token").and_then(|v| v.as_s().ok()).cloned(),
            expires_at_ms: num("expires_at"),
            lease_until_ms: num("lease_until"),
        }))
    }

    async fn try_lease(&self, key: &str, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool, StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression(
                "SET lease_until = :until, lease_owner = :owner, expiration = if_not_exists(expiration, :ttl)",
            )
            .condition_expression("attribute_not_exists(pk) OR attribute_not_exists(lease_until) OR lease_until < :now")
            .expression_attribute_values(":until", n(now_ms + lease_ms))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":ttl", n(now_ms / 1000 + 86_400))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put(&self, key: &str, token: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET #t = :t, expires_at = :e, lease_until = :zero, expiration = :ttl")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":t", s(token))
            .expression_attribute_values(":e", n(expires_at_ms))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":ttl", n(expires_at_ms / 1000 + 86_400))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET lease_until = :zero")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        unless_condition_failed(r)
    }

    async fn invalidate(&self, key: &str, token: &str) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET expires_at = :zero")
            .condition_expression("#t = :t")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":t", s(token))
            .send()
            .await;
        unless_condition_failed(r)
    }
}
