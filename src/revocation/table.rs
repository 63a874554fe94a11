//! The revocation table's DynamoDB calls: conditional AUTO writes, MANUAL revocations, reading
//! the active items for the WAF compiler, and creating the table for standalone use.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use futures::StreamExt;

use super::item::{AutoItem, ManualItem, REASON, RevocationItem};
use crate::aws::sdk_error;
use crate::error::{Error, Result};
use crate::retry::{Backoff, classify_sdk, with_backoff};

/// The reference solution's GSI: partition `reason`, sort `last_updated`.
pub const GSI_NAME: &str = "last_updated_index";

/// An AUTO write never replaces an operator's MANUAL item.
const NOT_MANUAL: &str = "attribute_not_exists(session_id) OR #type <> :manual";

/// The revocation table.
#[derive(Debug, Clone)]
pub struct RevocationTable {
    client: Client,
    name: String,
    backoff: Backoff,
}

/// What writing AUTO items did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Items written (new or refreshed).
    pub written: Vec<String>,
    /// Sessions left alone because a MANUAL item is there.
    pub kept_manual: Vec<String>,
    /// Attempts beyond the first (throttling, 5xx, timeouts).
    pub retries: u64,
}

impl RevocationTable {
    /// The table `name` reached through `client`.
    pub fn new(client: Client, name: &str) -> Self {
        RevocationTable {
            client,
            name: name.to_string(),
            backoff: Backoff::default(),
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes AUTO items, `concurrency` at a time, each conditional on no MANUAL item being
    /// there. Throttling, 5xx and timeouts are retried with backoff; if an item still cannot
    /// be written the whole call fails, naming it.
    pub async fn write_auto(&self, items: &[AutoItem], concurrency: usize) -> Result<WriteSummary> {
        let results: Vec<(String, Result<bool>, u32)> = futures::stream::iter(items)
            .map(|item| async move {
                let (result, attempts) = with_backoff(self.backoff, classify_sdk, || {
                    self.client
                        .put_item()
                        .table_name(&self.name)
                        .set_item(Some(item.attributes()))
                        .condition_expression(NOT_MANUAL)
                        .expression_attribute_names("#type", "type")
                        .expression_attribute_values(":manual", AttributeValue::S("MANUAL".into()))
                        .send()
                })
                .await;
                let outcome = match result {
                    Ok(_) => Ok(true),
                    Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
                    Err(e) => Err(sdk_error(
                        &format!("writing session {} to table {}", item.session_id, self.name),
                        &e,
                    )),
                };
                (item.session_id.clone(), outcome, attempts)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut summary = WriteSummary::default();
        let mut first_error = None;
        for (id, outcome, attempts) in results {
            summary.retries += u64::from(attempts - 1);
            match outcome {
                Ok(true) => summary.written.push(id),
                Ok(false) => summary.kept_manual.push(id),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        summary.written.sort();
        summary.kept_manual.sort();
        Ok(summary)
    }

    /// Writes MANUAL items (an operator's word replaces whatever is there).
    pub async fn put_manual(&self, items: &[ManualItem]) -> Result<u64> {
        let mut retries = 0;
        for item in items {
            let (result, attempts) = with_backoff(self.backoff, classify_sdk, || {
                self.client
                    .put_item()
                    .table_name(&self.name)
                    .set_item(Some(item.attributes()))
                    .send()
            })
            .await;
            retries += u64::from(attempts - 1);
            result.map_err(|e| {
                sdk_error(
                    &format!(
                        "revoking session {} in table {}",
                        item.session_id, self.name
                    ),
                    &e,
                )
            })?;
        }
        Ok(retries)
    }

    /// Every `COMPROMISED` item written at or after `since` (epoch seconds), all pages, through
    /// the `last_updated_index` GSI.
    pub async fn active_items(&self, since: i64) -> Result<Vec<RevocationItem>> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let (result, _) = with_backoff(self.backoff, classify_sdk, || {
                self.client
                    .query()
                    .table_name(&self.name)
                    .index_name(GSI_NAME)
                    .key_condition_expression("#reason = :reason AND last_updated >= :since")
                    .expression_attribute_names("#reason", "reason")
                    .expression_attribute_values(":reason", AttributeValue::S(REASON.into()))
                    .expression_attribute_values(":since", AttributeValue::N(since.to_string()))
                    .set_exclusive_start_key(start.clone())
                    .send()
            })
            .await;
            let page =
                result.map_err(|e| sdk_error(&format!("reading table {}", self.name), &e))?;
            items.extend(
                page.items()
                    .iter()
                    .filter_map(RevocationItem::from_attributes),
            );
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }

    /// Checks that the table exists and is reachable (the healthcheck before a run writes).
    pub async fn check(&self) -> Result<()> {
        self.client
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(&format!("table {}", self.name), &e))
    }

    /// Creates the table as the reference solution has it (key `session_id`, TTL on `ttl`, the
    /// `last_updated_index` GSI), on demand billing. Returns false when it already exists.
    pub async fn create(&self) -> Result<bool> {
        if self.check().await.is_ok() {
            return Ok(false);
        }
        let attr = |name: &str, t: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
        };
        let key = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
        };
        let built = (|| -> std::result::Result<_, aws_sdk_dynamodb::error::BuildError> {
            let gsi = GlobalSecondaryIndex::builder()
                .index_name(GSI_NAME)
                .key_schema(key("reason", KeyType::Hash)?)
                .key_schema(key("last_updated", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("score")
                        .non_key_attributes("type")
                        .build(),
                )
                .build()?;
            Ok((
                gsi,
                [
                    attr("session_id", ScalarAttributeType::S)?,
                    attr("reason", ScalarAttributeType::S)?,
                    attr("last_updated", ScalarAttributeType::N)?,
                ],
                key("session_id", KeyType::Hash)?,
                TimeToLiveSpecification::builder()
                    .attribute_name("ttl")
                    .enabled(true)
                    .build()?,
            ))
        })();
        let (gsi, attrs, hash, ttl) =
            built.map_err(|e| Error::Other(format!("building the table definition: {e}")))?;
        self.client
            .create_table()
            .table_name(&self.name)
            .set_attribute_definitions(Some(attrs.to_vec()))
            .key_schema(hash)
            .global_secondary_indexes(gsi)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("creating table {}", self.name), &e))?;
        self.client
            .update_time_to_live()
            .table_name(&self.name)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("enabling TTL on table {}", self.name), &e))?;
        Ok(true)
    }
}
