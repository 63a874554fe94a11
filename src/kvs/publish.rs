//! `kvs publish`: reads the revocation table and makes the KeyValueStore's keys hold its
//! selection (what `run --kvs-arn` does after writing).

use chrono::Utc;

use super::{KeyValueStore, PublishOutcome, PublishSettings};
use crate::aws::AwsAccess;
use crate::error::{Error, Result};
use crate::revocation::{RevocationTable, read_active, select};
use crate::session::SessionRule;

/// The KeyValueStore and how to publish into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvsTarget {
    /// The store's ARN.
    pub kvs_arn: String,
    /// Keys are `<key_prefix><session_id>` (checked by [`crate::kvs::check_prefix`]).
    pub key_prefix: String,
    /// Items older than this many minutes are left out (MANUAL items last until their `ttl`).
    pub retention_minutes: u32,
    /// Most bytes of autorevoke's keys; `None`: what the store holds beside other keys.
    pub max_bytes: Option<u64>,
    /// Apply a publish that deletes most of the keys under the prefix.
    pub allow_mass_unblock: bool,
}

/// What a publish did.
#[derive(Debug, Clone)]
pub struct KvsReport {
    /// The store.
    pub kvs_arn: String,
    /// Keys, difference and calls.
    pub outcome: PublishOutcome,
    /// Was this a dry run?
    pub dry_run: bool,
}

/// Reads the table's items of sessions named by `rule` and makes the KeyValueStore's keys
/// under the prefix hold exactly the selection (as `waf compile` selects), within its size
/// budget.
pub async fn publish_kvs(
    aws: &AwsAccess,
    table: &str,
    target: &KvsTarget,
    rule: SessionRule,
    dry_run: bool,
) -> Result<KvsReport> {
    crate::kvs::check_prefix(&target.key_prefix).map_err(|reason| Error::Setting {
        setting: "key_prefix".into(),
        reason,
    })?;
    let now = Utc::now().timestamp();
    let revocations = RevocationTable::new(aws.dynamodb_client().await, table).for_rule(rule);
    let store = KeyValueStore::new(aws.kvs_client().await, &target.kvs_arn);
    let what = format!("KeyValueStore {}", target.kvs_arn);
    let items = read_active(&revocations, now, target.retention_minutes, &what).await?;
    let selection = select(items, now, target.retention_minutes);
    let settings = PublishSettings {
        key_prefix: target.key_prefix.clone(),
        reason: revocations.reason(),
        retention_minutes: target.retention_minutes,
        max_bytes: target.max_bytes,
    };
    let outcome = store
        .publish(&selection, &settings, dry_run, target.allow_mass_unblock)
        .await?;
    tracing::info!(
        kvs = %target.kvs_arn,
        keys = outcome.compiled.entries.len(),
        left_out = outcome.compiled.left_out.len(),
        updates = outcome.updates,
        dry_run,
        "published to the KeyValueStore"
    );
    Ok(KvsReport {
        kvs_arn: target.kvs_arn.clone(),
        outcome,
        dry_run,
    })
}
