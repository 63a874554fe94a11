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

use super::item::{ALLOWED, AllowItem, AutoItem, ManualItem, REASON, RevocationItem, reason_for};
use crate::aws::sdk_error;
use crate::error::{Error, Result};
use crate::retry::{Backoff, classify_sdk, with_backoff};
use crate::session::SessionId;

/// The reference solution's GSI: partition `reason`, sort `last_updated`.
pub const GSI_NAME: &str = "last_updated_index";

/// An AUTO write never replaces an operator's MANUAL item.
const NOT_MANUAL: &str = "attribute_not_exists(session_id) OR #type <> :manual";
/// The item is an operator's MANUAL revocation (not an `unrevoke` marker).
const IS_MANUAL: &str = "#type = :manual AND #reason = :reason";
/// The item is a MANUAL revocation and its `ttl` is below the AUTO item's (false when it has
/// none: a comparison with a missing attribute fails).
const MANUAL_TTL_BELOW: &str = "#type = :manual AND #reason = :reason AND #ttl < :ttl";
/// The error code of a failed condition.
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// The revocation table.
#[derive(Debug, Clone)]
pub struct RevocationTable {
    client: Client,
    name: String,
    backoff: Backoff,
    /// The `reason` its writes carry and its reads select: the session rule's partition.
    reason: &'static str,
}

/// What the compiler reads from the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActiveItems {
    /// Items in the retention, and older MANUAL items before their `ttl`.
    pub items: Vec<RevocationItem>,
    /// Older MANUAL items past their `ttl` (not compiled; DynamoDB deletes them in time).
    pub expired_manual: usize,
    /// Items that could not be read, each with its id and why.
    pub unreadable: Vec<String>,
}

/// What writing AUTO items did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Items written (new or refreshed).
    pub written: Vec<String>,
    /// Sessions whose MANUAL item is there: kept MANUAL, `last_updated` refreshed, and a
    /// `ttl` below the AUTO item's raised to it (a later `ttl`, or none, is kept).
    pub kept_manual: Vec<String>,
    /// Sessions an operator allowed (`unrevoke`): their marker is left as it is, so they
    /// stay unblocked until it expires.
    pub allowed: Vec<String>,
    /// Attempts beyond the first (throttling, 5xx, timeouts).
    pub retries: u64,
}

/// What one AUTO write did.
enum Written {
    /// The AUTO item was written.
    Auto,
    /// A MANUAL item is there: refreshed, kept.
    KeptManual,
    /// An `unrevoke` marker is there: left alone.
    Allowed,
}

/// True for an `unrevoke` marker: a MANUAL item whose reason is not a revocation's.
fn is_allow_marker(item: &HashMap<String, AttributeValue>) -> bool {
    matches!(item.get("type"), Some(AttributeValue::S(t)) if t == "MANUAL")
        && matches!(item.get("reason"), Some(AttributeValue::S(r)) if r == ALLOWED)
}

impl RevocationTable {
    /// The table `name` reached through `client`.
    pub fn new(client: Client, name: &str) -> Self {
        RevocationTable {
            client,
            name: name.to_string(),
            backoff: Backoff::default(),
            reason: REASON,
        }
    }

    /// The same table, writing and reading the items of sessions named by `rule` (their own
    /// `reason`, [`reason_for`]).
    pub fn for_rule(mut self, rule: crate::session::SessionRule) -> Self {
        self.reason = reason_for(rule);
        self
    }

    /// The `reason` of the items it writes and reads.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// An item's attributes with this table's `reason`.
    fn with_reason(
        &self,
        mut attributes: HashMap<String, AttributeValue>,
    ) -> HashMap<String, AttributeValue> {
        attributes.insert("reason".into(), AttributeValue::S(self.reason.into()));
        attributes
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes AUTO items, `concurrency` at a time, each conditional on no MANUAL item being
    /// there. Where a MANUAL item is there, it is refreshed instead (it stays MANUAL): its
    /// `last_updated` is set to the AUTO item's, so the compiler keeps the flagged session
    /// blocked whatever the item's age, and a `ttl` below the AUTO item's is raised to it, so
    /// DynamoDB does not delete it while the AUTO peers stay blocked (a later `ttl` is never
    /// lowered; an item without one never gets one).
    /// Throttling, 5xx and timeouts are retried with backoff; if an item still cannot be
    /// written the whole call fails, naming it.
    pub async fn write_auto(&self, items: &[AutoItem], concurrency: usize) -> Result<WriteSummary> {
        let results: Vec<(String, Result<Written>, u32)> = futures::stream::iter(items)
            .map(|item| async move {
                let (outcome, retries) = self.write_one(item).await;
                (item.session_id.to_string(), outcome, retries)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut summary = WriteSummary::default();
        let mut first_error = None;
        for (id, outcome, retries) in results {
            summary.retries += u64::from(retries);
            match outcome {
                Ok(Written::Auto) => summary.written.push(id),
                Ok(Written::KeptManual) => summary.kept_manual.push(id),
                Ok(Written::Allowed) => summary.allowed.push(id),
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
        summary.allowed.sort();
        Ok(summary)
    }

    /// One AUTO write: Ok(true) when the AUTO item was written, Ok(false) when a MANUAL item
    /// is there and was refreshed instead ([`Self::refresh_manual`]); with the retries it took.
    async fn write_one(&self, item: &AutoItem) -> (Result<Written>, u32) {
        let context = || format!("writing session {} to table {}", item.session_id, self.name);
        let mut retries = 0;
        // The item can change between the conditional calls (an operator deletes the MANUAL
        // item); each race sends us back to the other call, a bounded number of times.
        for _ in 0..3 {
            let (result, attempts) = with_backoff(self.backoff, classify_sdk, || {
                self.client
                    .put_item()
                    .table_name(&self.name)
                    .set_item(Some(self.with_reason(item.attributes())))
                    .condition_expression(NOT_MANUAL)
                    .expression_attribute_names("#type", "type")
                    .expression_attribute_values(":manual", AttributeValue::S("MANUAL".into()))
                    .send()
            })
            .await;
            retries += attempts - 1;
            match result {
                Ok(_) => return (Ok(Written::Auto), retries),
                Err(e) if e.code() == Some(CONDITION_FAILED) => {}
                Err(e) => return (Err(sdk_error(&context(), &e)), retries),
            }
            // A MANUAL item is there: first raise a `ttl` below the AUTO item's, else (a later
            // `ttl`, or none) refresh `last_updated` alone.
            for raise_ttl in [true, false] {
                let (result, attempts) = self.refresh_manual(item, raise_ttl, &context).await;
                retries += attempts - 1;
                match result {
                    Ok(true) => return (Ok(Written::KeptManual), retries),
                    Ok(false) => {}
                    Err(e) => return (Err(e), retries),
                }
            }
            // Neither: an operator's `unrevoke` marker (left alone), or the item changed.
            match self.get(item.session_id.as_str()).await {
                Ok(Some(found)) if is_allow_marker(&found) => {
                    return (Ok(Written::Allowed), retries);
                }
                Ok(_) => {}
                Err(e) => return (Err(e), retries),
            }
        }
        (
            Err(Error::Other(format!(
                "{}: the item kept changing between AUTO and MANUAL",
                context()
            ))),
            retries,
        )
    }

    /// Refreshes the MANUAL item of `item`'s session in place (it stays MANUAL): sets its
    /// `last_updated` to the AUTO item's, so the compiler keeps the session blocked. With
    /// `raise_ttl`, only when its `ttl` is below the AUTO item's, and raises it to that (so
    /// DynamoDB's TTL sweep does not delete it while its AUTO peers stay blocked); a later
    /// `ttl` is never lowered and an item without one (never expires) never gets one. Without,
    /// only when it is MANUAL, and `last_updated` alone. Ok(true) when it was updated,
    /// Ok(false) when the condition failed; with the attempts it took. Errors name `context`.
    async fn refresh_manual(
        &self,
        item: &AutoItem,
        raise_ttl: bool,
        context: &dyn Fn() -> String,
    ) -> (Result<bool>, u32) {
        let (result, attempts) = with_backoff(self.backoff, classify_sdk, || {
            let update = self
                .client
                .update_item()
                .table_name(&self.name)
                .key("session_id", AttributeValue::S(item.session_id.to_string()))
                .expression_attribute_names("#type", "type")
                .expression_attribute_names("#reason", "reason")
                .expression_attribute_values(":manual", AttributeValue::S("MANUAL".into()))
                .expression_attribute_values(":reason", AttributeValue::S(self.reason.into()))
                .expression_attribute_values(
                    ":now",
                    AttributeValue::N(item.last_updated.to_string()),
                );
            let update = if raise_ttl {
                update
                    .update_expression("SET last_updated = :now, #ttl = :ttl")
                    .condition_expression(MANUAL_TTL_BELOW)
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":ttl", AttributeValue::N(item.ttl.to_string()))
            } else {
                update
                    .update_expression("SET last_updated = :now")
                    .condition_expression(IS_MANUAL)
            };
            update.send()
        })
        .await;
        let outcome = match result {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(CONDITION_FAILED) => Ok(false),
            Err(e) => Err(sdk_error(&context(), &e)),
        };
        (outcome, attempts)
    }

    /// Writes `unrevoke` markers (replacing whatever is there): the sessions' rules go at the
    /// next compile and `run` leaves them unblocked until the markers expire.
    pub async fn put_allowed(&self, items: &[AllowItem]) -> Result<u64> {
        let items = items
            .iter()
            .map(|i| (i.session_id.as_str(), i.attributes()));
        self.put_all(items, "allowing").await
    }

    /// Puts each `(session id, attributes)` unconditionally, retrying as every call; errors
    /// say what was being `done` to which session. Returns the attempts beyond the first.
    async fn put_all<'a>(
        &self,
        items: impl Iterator<Item = (&'a str, HashMap<String, AttributeValue>)>,
        done: &str,
    ) -> Result<u64> {
        let mut retries = 0;
        for (id, attributes) in items {
            let (result, attempts) = with_backoff(self.backoff, classify_sdk, || {
                self.client
                    .put_item()
                    .table_name(&self.name)
                    .set_item(Some(attributes.clone()))
                    .send()
            })
            .await;
            retries += u64::from(attempts - 1);
            result.map_err(|e| {
                sdk_error(&format!("{done} session {id} in table {}", self.name), &e)
            })?;
        }
        Ok(retries)
    }

    /// Deletes the items of `ids` (`unrevoke --forget`): a later run may revoke them again.
    pub async fn delete(&self, ids: &[SessionId]) -> Result<u64> {
        let mut retries = 0;
        for id in ids {
            let (result, attempts) = with_backoff(self.backoff, classify_sdk, || {
                self.client
                    .delete_item()
                    .table_name(&self.name)
                    .key("session_id", AttributeValue::S(id.to_string()))
                    .send()
            })
            .await;
            retries += u64::from(attempts - 1);
            result.map_err(|e| {
                sdk_error(
                    &format!("deleting session {id} from table {}", self.name),
                    &e,
                )
            })?;
        }
        Ok(retries)
    }

    /// Every item of the table, all pages (`revocations list`), as stored.
    pub async fn scan_all(&self) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let (result, _) = with_backoff(self.backoff, classify_sdk, || {
                self.client
                    .scan()
                    .table_name(&self.name)
                    .set_exclusive_start_key(start.clone())
                    .send()
            })
            .await;
            let page =
                result.map_err(|e| sdk_error(&format!("listing table {}", self.name), &e))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }

    /// Writes MANUAL items (an operator's word replaces whatever is there).
    pub async fn put_manual(&self, items: &[ManualItem]) -> Result<u64> {
        let items = items
            .iter()
            .map(|i| (i.session_id.as_str(), self.with_reason(i.attributes())));
        self.put_all(items, "revoking").await
    }

    /// The items the compiler needs at `now`: every `COMPROMISED` item written at or after
    /// `since` (epoch seconds), and every older MANUAL item whose `ttl` is still ahead (an
    /// operator's revocation lasts its TTL, not just the retention). All pages, through the
    /// `last_updated_index` GSI; the older MANUAL items' `ttl` (which the GSI does not project)
    /// is read from the table. Items that cannot be read are returned apart, never dropped.
    pub async fn active_items(&self, since: i64, now: i64) -> Result<ActiveItems> {
        let mut active = ActiveItems::default();
        let recent = self.query_index(">=", since, None).await?;
        let older_manual = self.query_index("<", since, Some("MANUAL")).await?;
        for map in &recent {
            match RevocationItem::from_attributes(map) {
                Ok(item) => active.items.push(item),
                Err(reason) => active.unreadable.push(reason),
            }
        }
        for map in &older_manual {
            let Some(AttributeValue::S(id)) = map.get("session_id") else {
                active.unreadable.push(format!("no session_id in {map:?}"));
                continue;
            };
            let Some(full) = self.get(id).await? else {
                continue; // deleted since the query
            };
            match RevocationItem::from_attributes(&full) {
                Ok(item) if item.ttl.is_some_and(|ttl| ttl > now) => active.items.push(item),
                Ok(_) => active.expired_manual += 1,
                Err(reason) => active.unreadable.push(reason),
            }
        }
        Ok(active)
    }

    /// The GSI's `COMPROMISED` items with `last_updated <op> bound`, of one type if given.
    async fn query_index(
        &self,
        op: &str,
        bound: i64,
        only_type: Option<&str>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let (result, _) = with_backoff(self.backoff, classify_sdk, || {
                let mut q = self
                    .client
                    .query()
                    .table_name(&self.name)
                    .index_name(GSI_NAME)
                    .key_condition_expression(format!(
                        "#reason = :reason AND last_updated {op} :bound"
                    ))
                    .expression_attribute_names("#reason", "reason")
                    .expression_attribute_values(":reason", AttributeValue::S(self.reason.into()))
                    .expression_attribute_values(":bound", AttributeValue::N(bound.to_string()))
                    .set_exclusive_start_key(start.clone());
                if let Some(t) = only_type {
                    q = q
                        .filter_expression("#type = :type")
                        .expression_attribute_names("#type", "type")
                        .expression_attribute_values(":type", AttributeValue::S(t.into()));
                }
                q.send()
            })
            .await;
            let page =
                result.map_err(|e| sdk_error(&format!("reading table {}", self.name), &e))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }

    /// One item by its session id, read consistently.
    async fn get(&self, session_id: &str) -> Result<Option<HashMap<String, AttributeValue>>> {
        let (result, _) = with_backoff(self.backoff, classify_sdk, || {
            self.client
                .get_item()
                .table_name(&self.name)
                .key("session_id", AttributeValue::S(session_id.to_string()))
                .consistent_read(true)
                .send()
        })
        .await;
        let out = result.map_err(|e| {
            sdk_error(
                &format!("reading session {session_id} from table {}", self.name),
                &e,
            )
        })?;
        Ok(out.item().cloned())
    }

    /// Checks that the `last_updated_index` GSI exists and projects what the compiler reads
    /// (`type` and `score`): with a KEYS_ONLY index every item would be unreadable.
    pub async fn check_index(&self) -> Result<()> {
        let out = self.describe().await?;
        let bad = |reason: String| Error::Setting {
            setting: "table".into(),
            reason: format!("table {}: {reason}", self.name),
        };
        let index = out
            .table()
            .map(|t| t.global_secondary_indexes())
            .unwrap_or_default()
            .iter()
            .find(|g| g.index_name() == Some(GSI_NAME))
            .ok_or_else(|| bad(format!("has no global secondary index {GSI_NAME}")))?;
        let projection = index.projection();
        match projection.and_then(|p| p.projection_type()) {
            Some(ProjectionType::All) => Ok(()),
            Some(ProjectionType::Include) => {
                let included = projection
                    .map(|p| p.non_key_attributes())
                    .unwrap_or_default();
                let missing: Vec<&str> = ["type", "score"]
                    .into_iter()
                    .filter(|a| !included.iter().any(|i| i == a))
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(bad(format!(
                        "index {GSI_NAME} does not project {}; it must project type and score \
                         (INCLUDE or ALL)",
                        missing.join(" and ")
                    )))
                }
            }
            other => Err(bad(format!(
                "index {GSI_NAME} projects {}; it must project type and score (INCLUDE or ALL)",
                other.map_or("nothing", |p| p.as_str())
            ))),
        }
    }

    /// Checks that the table exists and is reachable (the healthcheck before a run writes).
    pub async fn check(&self) -> Result<()> {
        self.describe().await.map(|_| ())
    }

    async fn describe(
        &self,
    ) -> Result<aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput> {
        let (result, _) = with_backoff(self.backoff, classify_sdk, || {
            self.client.describe_table().table_name(&self.name).send()
        })
        .await;
        result.map_err(|e| sdk_error(&format!("table {}", self.name), &e))
    }

    /// Creates the table as the reference solution has it (key `session_id`, TTL on `ttl`, the
    /// `last_updated_index` GSI), on demand billing. Returns false when it already exists.
    pub async fn create(&self) -> Result<bool> {
        match self.describe().await {
            Ok(_) => return Ok(false),
            Err(Error::Aws {
                kind: crate::error::AwsErrorKind::NotFound,
                ..
            }) => {}
            Err(e) => return Err(e),
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
        let (created, _) = with_backoff(self.backoff, classify_sdk, || {
            self.client
                .create_table()
                .table_name(&self.name)
                .set_attribute_definitions(Some(attrs.to_vec()))
                .key_schema(hash.clone())
                .global_secondary_indexes(gsi.clone())
                .billing_mode(BillingMode::PayPerRequest)
                .send()
        })
        .await;
        match created {
            Ok(_) => {}
            // A retried CreateTable whose first attempt did get through.
            Err(e) if e.code() == Some("ResourceInUseException") => {}
            Err(e) => return Err(sdk_error(&format!("creating table {}", self.name), &e)),
        }
        let (result, _) = with_backoff(self.backoff, classify_sdk, || {
            self.client
                .update_time_to_live()
                .table_name(&self.name)
                .time_to_live_specification(ttl.clone())
                .send()
        })
        .await;
        result.map_err(|e| sdk_error(&format!("enabling TTL on table {}", self.name), &e))?;
        Ok(true)
    }
}
