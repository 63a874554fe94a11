//! The operator's changes to the table: `revoke` (MANUAL items), `unrevoke` (ALLOWED
//! markers) and `revocations list`.

use chrono::Utc;

use super::{AllowItem, ListedItem, ManualItem, RevocationTable};
use crate::aws::AwsAccess;
use crate::error::Result;
use crate::session::{SessionId, SessionRule};

/// Seconds until a MANUAL item expires, by default (a day).
pub const DEFAULT_MANUAL_TTL_SECONDS: u64 = 86_400;
/// Minutes `unrevoke` keeps a session allowed, by default (a day).
pub const DEFAULT_ALLOW_MINUTES: f64 = 24.0 * 60.0;

/// Lifts the revocations of `ids` (all checked before any is written): each item is replaced
/// by an `unrevoke` marker lasting `seconds`, so the next compile drops the session's rule
/// and `run` does not revoke it again meanwhile; with `forget`, the items are only deleted (a
/// later run may revoke the sessions again).
pub async fn unrevoke(
    aws: &AwsAccess,
    table: &str,
    ids: &[SessionId],
    seconds: u64,
    forget: bool,
) -> Result<Vec<AllowItem>> {
    let now = Utc::now().timestamp();
    let items = ids
        .iter()
        .map(|id| AllowItem::new(id, now, seconds))
        .collect::<Vec<_>>();
    let table = RevocationTable::new(aws.dynamodb_client().await, table);
    if forget {
        table.delete(ids).await?;
        return Ok(Vec::new());
    }
    table.put_allowed(&items).await?;
    Ok(items)
}

/// Every item of the revocation table, as stored, by session id.
pub async fn list_revocations(aws: &AwsAccess, table: &str) -> Result<Vec<ListedItem>> {
    let table = RevocationTable::new(aws.dynamodb_client().await, table);
    let mut items: Vec<ListedItem> = table
        .scan_all()
        .await?
        .iter()
        .map(ListedItem::from_attributes)
        .collect();
    items.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    Ok(items)
}

/// Writes MANUAL items for `ids`, sessions named by `rule` (all checked before any is
/// written).
pub async fn revoke(
    aws: &AwsAccess,
    table: &str,
    ids: &[SessionId],
    ttl_seconds: u64,
    rule: SessionRule,
) -> Result<Vec<ManualItem>> {
    let now = Utc::now().timestamp();
    let items = ids
        .iter()
        .map(|id| ManualItem::new(id, now, ttl_seconds))
        .collect::<Vec<_>>();
    RevocationTable::new(aws.dynamodb_client().await, table)
        .for_rule(rule)
        .put_manual(&items)
        .await?;
    Ok(items)
}
