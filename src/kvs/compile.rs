//! Compiling the revocation table into CloudFront KeyValueStore keys: pure functions of plain
//! data. The selection is the WAF compiler's ([`crate::waf::select`]: MANUAL newest first and
//! until their `ttl`, then AUTO by score within the retention, one entry per valid id); each
//! session becomes the key `<prefix><session_id>` with a small JSON value, taken in that order
//! while the store's size budget holds; the rest are left out and counted.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::revocation::{ItemType, RevocationItem};
use crate::revocation::{Selection, is_mass_unblock};

/// The key prefix of the AWS CTA-5007-B sample's edge function, and the default.
pub const DEFAULT_KEY_PREFIX: &str = "revoked:";
/// The longest key a KeyValueStore holds, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// The longest value a KeyValueStore holds, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;
/// What one KeyValueStore holds: 5 MB of keys and values (decimal, the safer reading).
pub const STORE_BYTES: u64 = 5_000_000;
/// Keys (puts and deletes together) sent in one UpdateKeys call.
pub const KEYS_PER_UPDATE: usize = 50;

/// Fails unless keys `<prefix><id>` fit a KeyValueStore for every id (at most 128 bytes).
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let longest = prefix.len() + crate::session::MAX_SESSION_ID_LEN;
    if prefix.is_empty() {
        return Err("an empty prefix would claim every key of the store".into());
    }
    if longest > MAX_KEY_BYTES {
        return Err(format!(
            "{} bytes: a key of it and a 128-byte session id would be {longest} bytes, over \
             the store's {MAX_KEY_BYTES}",
            prefix.len()
        ));
    }
    Ok(())
}

/// The value stored for one session (compact JSON, well under 1 KB).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryValue {
    /// `AUTO` or `MANUAL`.
    #[serde(rename = "type")]
    pub item_type: &'static str,
    /// The item's `reason`.
    pub reason: &'static str,
    /// The score (0 for MANUAL).
    pub score: f64,
    /// The item's `last_updated`, epoch seconds.
    pub revoked_at: i64,
    /// When the selection stops holding the session unless it is written again, epoch
    /// seconds: the end of the retention after its last write, or a MANUAL item's `ttl` when
    /// later and known (it is read for MANUAL items older than the retention only).
    pub expires_at: i64,
}

/// One key the store should hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The session.
    pub session_id: String,
    /// `<prefix><session_id>`.
    pub key: String,
    /// The JSON value.
    pub value: String,
}

impl Entry {
    /// Bytes it takes in the store (key and value).
    pub fn size(&self) -> u64 {
        (self.key.len() + self.value.len()) as u64
    }
}

/// What a compile produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompiledKeys {
    /// The entries, in the selection's order.
    pub entries: Vec<Entry>,
    /// Sessions in the selection that did not fit the size budget, in order.
    pub left_out: Vec<String>,
    /// Items older than the retention.
    pub expired: usize,
    /// Items whose session id is not valid (never published).
    pub rejected: Vec<String>,
}

/// The value of `item` with retention `retention_minutes` under `reason`.
pub fn value_of(item: &RevocationItem, reason: &'static str, retention_minutes: u32) -> String {
    let retained = item.last_updated + i64::from(retention_minutes) * 60;
    let expires_at = match (item.item_type, item.ttl) {
        (ItemType::Manual, Some(ttl)) => retained.max(ttl),
        _ => retained,
    };
    let value = EntryValue {
        item_type: item.item_type.as_str(),
        reason,
        score: item.score,
        revoked_at: item.last_updated,
        expires_at,
    };
    // Serialising plain fields with a finite score cannot fail.
    serde_json::to_string(&value).unwrap_or_default()
}

/// The entries of `selection` (its items under `reason`) as keys of `prefix`, in order while
/// their bytes stay within `budget`; the rest are left out.
pub fn compile(
    selection: Selection,
    prefix: &str,
    reason: &'static str,
    retention_minutes: u32,
    budget: u64,
) -> CompiledKeys {
    let mut out = CompiledKeys {
        expired: selection.expired,
        rejected: selection.rejected,
        ..CompiledKeys::default()
    };
    let mut used = 0u64;
    for item in selection.live {
        let entry = Entry {
            key: format!("{prefix}{}", item.session_id),
            value: value_of(&item, reason, retention_minutes),
            session_id: item.session_id,
        };
        // Once one session is left out, every later (lower-priority) one is too, so the
        // published set is always a prefix of the order.
        if out.left_out.is_empty() && used + entry.size() <= budget {
            used += entry.size();
            out.entries.push(entry);
        } else {
            out.left_out.push(entry.session_id);
        }
    }
    out
}

/// How the store's keys under the prefix differ from the entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyDiff {
    /// Keys to write: new ones (`added`) and ones whose value changes (`changed`), in the
    /// selection's order.
    pub puts: Vec<(String, String)>,
    /// Of the puts, the keys the store does not hold yet.
    pub added: Vec<String>,
    /// Of the puts, the keys whose value changes.
    pub changed: Vec<String>,
    /// Keys under the prefix the entries do not have, sorted.
    pub deletes: Vec<String>,
    /// Keys already holding their value.
    pub kept: usize,
}

impl KeyDiff {
    /// True when the store already holds exactly the entries.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }

    /// The calls that apply it: deletes first (room for the puts), then puts, at most
    /// [`KEYS_PER_UPDATE`] keys a call.
    pub fn batches(&self) -> Vec<Batch> {
        let ops = self
            .deletes
            .iter()
            .map(|k| Op::Delete(k.clone()))
            .chain(self.puts.iter().map(|(k, v)| Op::Put(k.clone(), v.clone())));
        let mut batches: Vec<Batch> = Vec::new();
        for op in ops {
            match batches.last_mut() {
                Some(b) if b.len() < KEYS_PER_UPDATE => b.push(op),
                _ => batches.push(Batch::default().with(op)),
            }
        }
        batches
    }

    /// Would applying it be a mass unblock of the `current` keys under the prefix?
    pub fn is_mass_unblock(&self, current: usize) -> bool {
        is_mass_unblock(current, self.deletes.len())
    }
}

/// One change to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Put(String, String),
    Delete(String),
}

/// The keys of one UpdateKeys call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// Keys and values to put.
    pub puts: Vec<(String, String)>,
    /// Keys to delete.
    pub deletes: Vec<String>,
}

impl Batch {
    fn len(&self) -> usize {
        self.puts.len() + self.deletes.len()
    }

    fn push(&mut self, op: Op) {
        match op {
            Op::Put(k, v) => self.puts.push((k, v)),
            Op::Delete(k) => self.deletes.push(k),
        }
    }

    fn with(mut self, op: Op) -> Self {
        self.push(op);
        self
    }
}

/// Compares the store's keys under the prefix (`current`: key to value) with the entries.
pub fn diff(current: &BTreeMap<String, String>, entries: &[Entry]) -> KeyDiff {
    let mut d = KeyDiff::default();
    for e in entries {
        match current.get(&e.key) {
            Some(v) if *v == e.value => d.kept += 1,
            Some(_) => {
                d.changed.push(e.key.clone());
                d.puts.push((e.key.clone(), e.value.clone()));
            }
            None => {
                d.added.push(e.key.clone());
                d.puts.push((e.key.clone(), e.value.clone()));
            }
        }
    }
    d.deletes = current
        .keys()
        .filter(|k| !entries.iter().any(|e| &e.key == *k))
        .cloned()
        .collect();
    d
}

/// The budget of autorevoke's keys: `max_bytes` (when given), never more than what the store
/// holds beside `other_bytes` of other keys.
pub fn budget(max_bytes: Option<u64>, other_bytes: u64) -> u64 {
    let room = STORE_BYTES.saturating_sub(other_bytes);
    max_bytes.map_or(room, |m| m.min(room))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation::select;

    const NOW: i64 = 1_000_000;

    fn item(
        id: &str,
        t: ItemType,
        score: f64,
        last_updated: i64,
        ttl: Option<i64>,
    ) -> RevocationItem {
        RevocationItem {
            session_id: id.into(),
            item_type: t,
            score,
            last_updated,
            ttl,
        }
    }

    fn sample() -> Vec<RevocationItem> {
        vec![
            item("autoLow", ItemType::Auto, 2.5, NOW - 60, None),
            item(
                "manualOld",
                ItemType::Manual,
                0.0,
                NOW - 7200,
                Some(NOW + 600),
            ),
            item(
                "autoHigh",
                ItemType::Auto,
                7.25,
                NOW - 300,
                Some(NOW + 86_400),
            ),
            item("expired", ItemType::Auto, 9.0, NOW - 1801, None),
            item("bad.id", ItemType::Manual, 0.0, NOW, None),
        ]
    }

    #[test]
    fn keys_follow_the_selection_with_exact_values() {
        let c = compile(
            select(sample(), NOW, 30),
            "revoked:",
            "COMPROMISED",
            30,
            STORE_BYTES,
        );
        let keys: Vec<&str> = c.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["revoked:manualOld", "revoked:autoHigh", "revoked:autoLow"]
        );
        assert_eq!(
            c.entries[0].value,
            r#"{"type":"MANUAL","reason":"COMPROMISED","score":0.0,"revoked_at":992800,"expires_at":1000600}"#
        );
        assert_eq!(
            c.entries[1].value,
            r#"{"type":"AUTO","reason":"COMPROMISED","score":7.25,"revoked_at":999700,"expires_at":1001500}"#
        );
        assert_eq!((c.expired, c.rejected), (1, vec!["bad.id".to_string()]));
        assert!(c.left_out.is_empty());
    }

    #[test]
    fn the_budget_keeps_the_highest_priority_sessions_and_counts_the_rest() {
        let all = compile(
            select(sample(), NOW, 30),
            "r:",
            "COMPROMISED",
            30,
            STORE_BYTES,
        );
        let first_two = all.entries[0].size() + all.entries[1].size();
        // One byte short of the third entry: the two first are kept, the third left out.
        let c = compile(
            select(sample(), NOW, 30),
            "r:",
            "COMPROMISED",
            30,
            first_two + 5,
        );
        let ids: Vec<&str> = c.entries.iter().map(|e| e.session_id.as_str()).collect();
        assert_eq!(ids, ["manualOld", "autoHigh"]);
        assert_eq!(c.left_out, ["autoLow"]);
        assert_eq!(budget(None, 1_000), STORE_BYTES - 1_000);
        assert_eq!(budget(Some(10_000), 1_000), 10_000);
        assert_eq!(budget(Some(STORE_BYTES), 1_000), STORE_BYTES - 1_000);
        assert_eq!(budget(None, STORE_BYTES + 1), 0);
    }

    #[test]
    fn the_diff_puts_new_and_changed_keys_and_deletes_only_its_own_stale_ones() {
        let c = compile(
            select(sample(), NOW, 30),
            "revoked:",
            "COMPROMISED",
            30,
            STORE_BYTES,
        );
        let mut current = BTreeMap::new();
        current.insert("revoked:autoHigh".to_string(), c.entries[1].value.clone());
        current.insert("revoked:autoLow".to_string(), "{}".to_string());
        current.insert("revoked:gone".to_string(), "{}".to_string());
        let d = diff(&current, &c.entries);
        assert_eq!(d.added, ["revoked:manualOld"]);
        assert_eq!(d.changed, ["revoked:autoLow"]);
        assert_eq!(d.deletes, ["revoked:gone"]);
        assert_eq!(d.kept, 1);
        let unchanged: BTreeMap<String, String> = c
            .entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        assert!(diff(&unchanged, &c.entries).is_empty());
    }

    #[test]
    fn batches_put_deletes_first_and_hold_at_most_fifty_keys() {
        let d = KeyDiff {
            puts: (0..70)
                .map(|i| (format!("p{i}"), "v".to_string()))
                .collect(),
            deletes: (0..40).map(|i| format!("d{i}")).collect(),
            ..KeyDiff::default()
        };
        let b = d.batches();
        let sizes: Vec<(usize, usize)> =
            b.iter().map(|b| (b.deletes.len(), b.puts.len())).collect();
        assert_eq!(sizes, [(40, 10), (0, 50), (0, 10)]);
        assert_eq!(b[0].puts[0].0, "p0");
        assert_eq!(b[2].puts[9].0, "p69");
        assert!(KeyDiff::default().batches().is_empty());
    }

    #[test]
    fn removing_most_keys_is_a_mass_unblock() {
        let d = KeyDiff {
            deletes: (0..12).map(|i| format!("k{i}")).collect(),
            ..KeyDiff::default()
        };
        assert!(d.is_mass_unblock(12));
        assert!(!d.is_mass_unblock(30));
    }

    #[test]
    fn a_prefix_must_leave_room_for_the_longest_id() {
        assert!(check_prefix("revoked:").is_ok());
        assert!(check_prefix(&"p".repeat(384)).is_ok());
        assert_eq!(
            check_prefix(&"p".repeat(385)),
            Err(
                "385 bytes: a key of it and a 128-byte session id would be 513 bytes, over the \
                 store's 512"
                    .to_string()
            )
        );
        assert!(check_prefix("").is_err());
    }
}
