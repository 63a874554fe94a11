//! Which shards of a stream to read, in which order: every shard is read, and a shard made by
//! a reshard (split or merge) only once its parents are drained, so the records of one
//! partition key are read in the order they were written.

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// One shard of the stream, as `ListShards` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard's id.
    pub id: String,
    /// The shard it was split from or merged out of.
    pub parent: Option<String>,
    /// The other shard of a merge.
    pub adjacent_parent: Option<String>,
    /// Set once the shard is closed (after a reshard): its last sequence number.
    pub ending_sequence: Option<String>,
}

impl ShardInfo {
    /// The parents that are still listed (a parent past the stream's retention is gone and
    /// holds nothing left to read).
    fn listed_parents<'a>(&'a self, listed: &'a BTreeSet<&str>) -> impl Iterator<Item = &'a str> {
        [self.parent.as_deref(), self.adjacent_parent.as_deref()]
            .into_iter()
            .flatten()
            .filter(|p| listed.contains(p))
    }
}

/// The shards to read now, by id: those not drained whose listed parents are all drained.
pub fn readable<'a>(shards: &'a [ShardInfo], drained: &BTreeSet<String>) -> Vec<&'a ShardInfo> {
    let listed: BTreeSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
    let mut ready: Vec<&ShardInfo> = shards
        .iter()
        .filter(|s| !drained.contains(&s.id))
        .filter(|s| s.listed_parents(&listed).all(|p| drained.contains(p)))
        .collect();
    ready.sort_by(|a, b| a.id.cmp(&b.id));
    ready
}

/// Compares two Kinesis sequence numbers (decimal strings of up to 128 bits): by value.
pub fn compare_sequence(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// True when a closed shard has nothing left after `last_read` (its ending sequence number
/// was read, or the shard holds no record at all).
pub fn read_to_end(shard: &ShardInfo, last_read: Option<&str>) -> bool {
    match (&shard.ending_sequence, last_read) {
        (None, _) => false,
        (Some(end), Some(last)) => compare_sequence(last, end) != Ordering::Less,
        (Some(end), None) => end.trim_start_matches('0').is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(
        id: &str,
        parent: Option<&str>,
        adjacent: Option<&str>,
        end: Option<&str>,
    ) -> ShardInfo {
        ShardInfo {
            id: id.into(),
            parent: parent.map(Into::into),
            adjacent_parent: adjacent.map(Into::into),
            ending_sequence: end.map(Into::into),
        }
    }

    fn ids(shards: &[&ShardInfo]) -> Vec<String> {
        shards.iter().map(|s| s.id.clone()).collect()
    }

    #[test]
    fn children_of_a_split_wait_for_their_parent_and_a_merge_for_both() {
        let shards = [
            shard("s0", None, None, Some("10")),
            shard("s1", Some("s0"), None, Some("20")),
            shard("s2", Some("s0"), None, None),
            shard("s3", None, None, Some("7")),
            shard("s4", Some("s1"), Some("s3"), None),
        ];
        let mut drained = BTreeSet::new();
        assert_eq!(ids(&readable(&shards, &drained)), ["s0", "s3"]);
        drained.insert("s0".to_string());
        assert_eq!(ids(&readable(&shards, &drained)), ["s1", "s2", "s3"]);
        drained.insert("s1".to_string());
        assert_eq!(ids(&readable(&shards, &drained)), ["s2", "s3"]);
        drained.insert("s3".to_string());
        assert_eq!(ids(&readable(&shards, &drained)), ["s2", "s4"]);
        // A parent past the retention period is no longer listed: its children are read.
        let orphans = [shard("s5", Some("gone"), None, None)];
        assert_eq!(ids(&readable(&orphans, &BTreeSet::new())), ["s5"]);
    }

    #[test]
    fn sequence_numbers_compare_by_value_and_closed_shards_end_at_their_last_number() {
        assert_eq!(compare_sequence("9", "10"), Ordering::Less);
        assert_eq!(compare_sequence("010", "10"), Ordering::Equal);
        assert_eq!(
            compare_sequence(
                "49590338271490256608559692540925702759324208523137515618",
                "49590338271490256608559692538361571095921575989136588898"
            ),
            Ordering::Greater
        );
        let closed = shard("s0", None, None, Some("10"));
        assert!(!read_to_end(&closed, Some("9")));
        assert!(read_to_end(&closed, Some("10")));
        assert!(!read_to_end(&closed, None));
        assert!(read_to_end(&shard("s1", None, None, Some("0")), None));
        assert!(!read_to_end(&shard("s2", None, None, None), Some("99")));
    }
}
