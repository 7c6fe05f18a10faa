//! The DynamoDB dedup store: one conditional `PutItem` per claim with
//! `ReturnValuesOnConditionCheckFailure = ALL_OLD`, as Powertools does.
//!
//! Item: `pk` (S), `status` (S), `claimed_at` (N, ms), `in_progress_expiry` (N, ms),
//! `expiration` (N, s; the table's TTL attribute), `owner` (S), and `answer` (S) when the
//! request was answered with a passive reply.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{Claim, ClaimRequest, DedupStore, Record, Status, StoreError, owner_token, was_in_progress};

/// The claim condition: new, expired, or in progress past its in-progress expiry.
const CLAIM_CONDITION: &str = "attribute_not_exists(pk) OR #exp < :now_s OR (#st = :inprogress AND #ipe < :now_ms)";

/// Dedup records in a DynamoDB table keyed by `pk`.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> Result<i64, StoreError> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {k} missing or not a number")))
}

fn record_from(item: &HashMap<String, AttributeValue>) -> Result<Record, StoreError> {
    let status = item
        .get("status")
        .and_then(|v| v.as_s().ok())
        .and_then(|s| Status::parse(s))
        .ok_or_else(|| StoreError::Corrupt("attribute status missing or unknown".into()))?;
    Ok(Record {
        status,
        claimed_at_ms: get_n(item, "claimed_at")?,
        in_progress_expiry_ms: get_n(item, "in_progress_expiry")?,
        expiration_secs: get_n(item, "expiration")?,
        owner: item
            .get("owner")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default(),
        answer: item.get("answer").and_then(|v| v.as_s().ok()).cloned(),
    })
}

/// One item's attributes.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// A strongly consistent read of the item keyed `pk = key` (tokens, state, rate logs).
pub(crate) async fn get_consistent(client: &Client, table: &str, key: &str) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(unavailable)?;
    Ok(out.item)
}

/// A number attribute, 0 when absent or not a number.
pub(crate) fn number_or_zero(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn unavailable<E: std::fmt::Debug>(e: SdkError<E>) -> StoreError {
    let detail = match &e {
        SdkError::ServiceError(s) => format!("{:?}", s.err()),
        other => other.to_string(),
    };
    StoreError::Unavailable(detail)
}

/// True when a write failed only because its condition did not hold.
pub(crate) fn condition_failed<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.err().code() == Some("ConditionalCheckFailedException"))
}

/// Ok when the write succeeded or failed only because its condition (the owner, the token)
/// no longer holds: someone else's newer write stands.
pub(crate) fn unless_condition_failed<T, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, SdkError<E>>,
) -> Result<(), StoreError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if condition_failed(&e) => Ok(()),
        Err(e) => Err(unavailable(e)),
    }
}

impl DynamoStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait::async_trait]
impl DedupStore for DynamoStore {
    async fn claim(&self, req: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let owner = owner_token();
        let rec = req.record(owner.clone());
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(req.key.to_owned()))
            .item("status", AttributeValue::S(rec.status.as_str().to_owned()))
            .item("claimed_at", n(rec.claimed_at_ms))
            .item("in_progress_expiry", n(rec.in_progress_expiry_ms))
            .item("expiration", n(rec.expiration_secs))
            .item("owner", AttributeValue::S(owner.clone()));
        if let Some(answer) = req.answer {
            put = put.item("answer", AttributeValue::S(answer.to_owned()));
        }
        let result = put
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_names("#exp", "expiration")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#ipe", "in_progress_expiry")
            .expression_attribute_values(":now_s", n(req.now_ms.div_euclid(1000)))
            .expression_attribute_values(":now_ms", n(req.now_ms))
            .expression_attribute_values(":inprogress", AttributeValue::S(Status::InProgress.as_str().to_owned()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes().filter(|a| !a.is_empty()).map(record_from) {
                Some(Ok(old)) if was_in_progress(&old, req.now_ms) => Ok(Claim::TookOver(owner)),
                _ => Ok(Claim::Claimed(owner)),
            },
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                PutItemError::ConditionalCheckFailedException(c) => match c.item() {
                    Some(item) => Ok(Claim::Held(record_from(item)?)),
                    None => Err(StoreError::Corrupt(
                        "conditional check failed without the old item".into(),
                    )),
                },
                other => Err(StoreError::Unavailable(format!("{other:?}"))),
            },
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn complete(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression("SET #st = :done")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":done", AttributeValue::S(Status::Done.as_str().to_owned()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .send()
            .await;
        // Taken over since: the new owner completes it.
        unless_condition_failed(r)
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .send()
            .await;
        // Taken over since: not ours to delete.
        unless_condition_failed(r)
    }
}
