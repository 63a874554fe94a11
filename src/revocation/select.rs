//! Which items of the table block their sessions now, in priority order (MANUAL newest
//! first, then AUTO by score): the one selection that both the WAF rule group and the
//! KeyValueStore publish.

use std::cmp::Ordering;
use std::collections::HashSet;

use super::{ItemType, RevocationItem, RevocationTable};
use crate::error::{Error, Result};
use crate::session::is_valid_session_id;

/// Minutes an AUTO item is published (as a WAF rule or a key) after its last write, by
/// default.
pub const DEFAULT_RETENTION_MINUTES: u32 = 30;

/// The items of `table` a compile at `now` selects from (its rule's `reason` only), or an error
/// naming the unreadable items, when there are any, so that `target` (what is left
/// unchanged) keeps blocking their sessions.
pub async fn read_active(
    table: &RevocationTable,
    now: i64,
    retention_minutes: u32,
    target: &str,
) -> Result<Vec<RevocationItem>> {
    let since = now - i64::from(retention_minutes) * 60;
    table.check_index().await?;
    let active = table.active_items(since, now).await?;
    if !active.unreadable.is_empty() {
        let shown: Vec<&str> = active
            .unreadable
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        return Err(Error::Other(format!(
            "table {}: {} item(s) cannot be read, so {target} was not changed (leaving them \
             out would unblock their sessions): {}{}",
            table.name(),
            active.unreadable.len(),
            shown.join("; "),
            if active.unreadable.len() > shown.len() {
                "; …"
            } else {
                ""
            }
        )));
    }
    Ok(active.items)
}

/// Removing at least this many rules, and more than half of the group's, is a mass unblock:
/// refused without `--allow-mass-unblock` (an empty or wrong table must not unblock everyone;
/// a small group's normal expiry stays below it).
pub const MASS_UNBLOCK_MIN_RULES: usize = 10;

/// Would removing `removed` of the group's `current` rules be a mass unblock?
pub fn is_mass_unblock(current: usize, removed: usize) -> bool {
    removed >= MASS_UNBLOCK_MIN_RULES && removed * 2 > current
}

/// The compiler's order: MANUAL before AUTO; MANUAL newest first; AUTO by score descending,
/// then newest, then session id.
pub fn rule_order(a: &RevocationItem, b: &RevocationItem) -> Ordering {
    let rank = |i: &RevocationItem| match i.item_type {
        ItemType::Manual => 0,
        ItemType::Auto => 1,
    };
    rank(a)
        .cmp(&rank(b))
        .then_with(|| match a.item_type {
            ItemType::Manual => Ordering::Equal,
            ItemType::Auto => b.score.total_cmp(&a.score),
        })
        .then_with(|| b.last_updated.cmp(&a.last_updated))
        .then_with(|| a.session_id.cmp(&b.session_id))
}

/// Is `item` still to be blocked at `now`? Written within the retention (from `since`), or a
/// MANUAL item before its `ttl`.
pub fn is_live(item: &RevocationItem, now: i64, since: i64) -> bool {
    item.last_updated >= since
        || (item.item_type == ItemType::Manual && item.ttl.is_some_and(|ttl| ttl > now))
}

/// The sessions a compile blocks, in its order: what every target (WAF rules, KeyValueStore
/// keys) is made of before its own capacity is applied.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    /// Live items with valid ids, one per session, in [`rule_order`].
    pub live: Vec<RevocationItem>,
    /// Items older than the retention (MANUAL ones past their `ttl` too).
    pub expired: usize,
    /// Ids of live items that are not `[A-Za-z0-9_-]{1,128}` (never published).
    pub rejected: Vec<String>,
}

/// Selects from `items` at `now` (epoch seconds) what a compile blocks: live within
/// `retention_minutes` ([`is_live`]), valid ids only, one item per session in its best place,
/// in [`rule_order`].
pub fn select(items: Vec<RevocationItem>, now: i64, retention_minutes: u32) -> Selection {
    let since = now - i64::from(retention_minutes) * 60;
    let mut out = Selection::default();
    for item in items {
        if !is_live(&item, now, since) {
            out.expired += 1;
        } else if !is_valid_session_id(item.session_id.as_bytes()) {
            out.rejected.push(item.session_id);
        } else {
            out.live.push(item);
        }
    }
    // One rule per session: a session read twice (pages of a changing index) keeps its
    // first place in the order, wherever its other copy would sort.
    out.live.sort_by(rule_order);
    let mut seen = HashSet::new();
    out.live.retain(|item| seen.insert(item.session_id.clone()));
    out
}
