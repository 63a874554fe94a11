//! One session's fetches while `viewer_evidence` aggregates, and their encoding as a partial
//! state (one `LargeBinary` value per group) between the partial and final aggregation, which
//! may run in different partitions or on different Ballista executors.

use std::sync::Arc;

use arrow::array::{ArrayRef, LargeBinaryArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use datafusion::common::{DataFusionError, Result as DfResult};

use super::evidence::{self, Fetch};

/// Bytes of one encoded fetch: seven 64-bit fields.
const FETCH_BYTES: usize = 56;
/// The asset length that stands for none.
const NO_ASSET: u32 = u32::MAX;

/// One group's fetches and least asset.
#[derive(Debug, Default)]
pub struct SessionFetches {
    fetches: Vec<Fetch>,
    asset: Option<String>,
    /// Fetches after the last collapse: the next one comes when they have doubled.
    distinct: usize,
    /// The folders whose asset has been compared with [`Self::asset`] (a folder has one
    /// asset), so that a row costs a string compare only in a new folder.
    folders: Vec<u64>,
    /// The folder of the last fetch (most rows follow one of the same folder).
    last_folder: Option<u64>,
}

/// Folders remembered per group; past these every row compares its asset.
const FOLDERS_REMEMBERED: usize = 16;

impl SessionFetches {
    /// Adds one fetch of `asset`.
    pub fn push(&mut self, fetch: Fetch, asset: &str) {
        if self.last_folder != Some(fetch.folder) && !self.folders.contains(&fetch.folder) {
            if self.folders.len() < FOLDERS_REMEMBERED {
                self.folders.push(fetch.folder);
            }
            if self.asset.as_deref().is_none_or(|least| asset < least) {
                self.asset = Some(asset.to_string());
            }
        }
        self.last_folder = Some(fetch.folder);
        self.fetches.push(fetch);
        self.collapse_when_doubled();
    }

    /// Adds a partial state (from [`encode`]).
    pub fn merge(&mut self, blob: &[u8]) -> DfResult<()> {
        let corrupt = |what: &str| {
            DataFusionError::Internal(format!("viewer_evidence: a partial state {what}"))
        };
        let (len, rest) = blob
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("has no header"))?;
        let len = u32::from_le_bytes(*len);
        let rest = if len == NO_ASSET {
            rest
        } else {
            let len = len as usize;
            if rest.len() < len {
                return Err(corrupt("is shorter than its asset"));
            }
            let asset = std::str::from_utf8(&rest[..len])
                .map_err(|_| corrupt("has an asset that is not UTF-8"))?;
            if self.asset.as_deref().is_none_or(|least| asset < least) {
                self.asset = Some(asset.to_string());
            }
            &rest[len..]
        };
        if rest.len() % FETCH_BYTES != 0 {
            return Err(corrupt("does not hold whole fetches"));
        }
        self.fetches.reserve(rest.len() / FETCH_BYTES);
        for chunk in rest.chunks_exact(FETCH_BYTES) {
            let field = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&chunk[i * 8..i * 8 + 8]);
                b
            };
            self.fetches.push(Fetch {
                key: u64::from_le_bytes(field(0)),
                ts: i64::from_le_bytes(field(1)),
                network: u64::from_le_bytes(field(2)),
                object: u64::from_le_bytes(field(3)),
                folder: u64::from_le_bytes(field(4)),
                segment: i64::from_le_bytes(field(5)),
                country: u64::from_le_bytes(field(6)),
            });
        }
        self.collapse_when_doubled();
        Ok(())
    }

    /// Collapses duplicate fetches once they have doubled since the last time, so memory
    /// follows distinct fetches at amortised O(log n) per fetch.
    fn collapse_when_doubled(&mut self) {
        if self.fetches.len() >= 2 * self.distinct.max(512) {
            evidence::dedup(&mut self.fetches);
            self.distinct = self.fetches.len();
            if self.fetches.capacity() > 4 * self.fetches.len() {
                self.fetches.shrink_to(2 * self.fetches.len());
            }
        }
    }

    /// Bytes held on the heap.
    pub fn bytes(&self) -> usize {
        self.fetches.capacity() * std::mem::size_of::<Fetch>()
            + self.asset.as_ref().map_or(0, String::capacity)
            + self.folders.capacity() * 8
    }

    /// The fetches and the least asset.
    pub fn into_parts(self) -> (Vec<Fetch>, Option<String>) {
        (self.fetches, self.asset)
    }
}

/// The partial states of `groups`, one value each, written once into a buffer of their exact
/// size.
pub fn encode(mut groups: Vec<SessionFetches>) -> DfResult<ArrayRef> {
    let mut total = 0usize;
    for group in &mut groups {
        evidence::dedup(&mut group.fetches);
        total +=
            4 + group.asset.as_ref().map_or(0, String::len) + group.fetches.len() * FETCH_BYTES;
    }
    let mut values: Vec<u8> = Vec::with_capacity(total);
    let mut offsets: Vec<i64> = Vec::with_capacity(groups.len() + 1);
    offsets.push(0);
    for group in &groups {
        match &group.asset {
            Some(asset) => {
                let len = u32::try_from(asset.len())
                    .ok()
                    .filter(|l| *l != NO_ASSET)
                    .ok_or_else(|| {
                        DataFusionError::Execution(
                            "viewer_evidence: an asset name over 4 GiB".into(),
                        )
                    })?;
                values.extend_from_slice(&len.to_le_bytes());
                values.extend_from_slice(asset.as_bytes());
            }
            None => values.extend_from_slice(&NO_ASSET.to_le_bytes()),
        }
        for f in &group.fetches {
            for field in [
                f.key.to_le_bytes(),
                f.ts.to_le_bytes(),
                f.network.to_le_bytes(),
                f.object.to_le_bytes(),
                f.folder.to_le_bytes(),
                f.segment.to_le_bytes(),
                f.country.to_le_bytes(),
            ] {
                values.extend_from_slice(&field);
            }
        }
        let end = i64::try_from(values.len())
            .map_err(|_| DataFusionError::Execution("viewer_evidence: a state over 2^63".into()))?;
        offsets.push(end);
    }
    let array = LargeBinaryArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(values),
        None,
    )?;
    Ok(Arc::new(array))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    fn fetch(key: u64, ts: i64) -> Fetch {
        Fetch {
            key,
            ts,
            network: 3,
            object: 4,
            folder: 5,
            segment: -6,
            country: 7,
        }
    }

    #[test]
    fn a_state_survives_encoding_with_its_least_asset_and_first_requests() {
        let mut a = SessionFetches::default();
        a.push(fetch(1, 20), "vod/b");
        a.push(fetch(1, 10), "vod/c");
        a.push(fetch(2, 30), "vod/b");
        let mut b = SessionFetches::default();
        b.push(fetch(1, 5), "vod/a");
        let column = encode(vec![a, b, SessionFetches::default()]).expect("encode");
        let column = column.as_binary::<i64>();
        assert_eq!(column.len(), 3);
        let mut merged = SessionFetches::default();
        for i in 0..3 {
            merged.merge(column.value(i)).expect("merge");
        }
        let (mut fetches, asset) = merged.into_parts();
        evidence::dedup(&mut fetches);
        assert_eq!(asset.as_deref(), Some("vod/a"));
        assert_eq!(fetches, vec![fetch(1, 5), fetch(2, 30)]);
    }

    #[test]
    fn a_corrupt_state_is_an_error_not_a_panic() {
        let mut s = SessionFetches::default();
        for blob in [
            &[][..],
            &[1, 0],
            &[9, 0, 0, 0, b'a'],
            &[255, 255, 255, 255, 1],
        ] {
            assert!(s.merge(blob).is_err(), "{blob:?}");
        }
    }

    #[test]
    fn duplicates_collapse_as_they_come_so_memory_follows_distinct_fetches() {
        let mut s = SessionFetches::default();
        for i in 0..100_000 {
            s.push(fetch(i % 10, i as i64), "a");
        }
        assert!(s.fetches.len() <= 1024, "{}", s.fetches.len());
        assert!(s.bytes() < 4096 * 56, "{}", s.bytes());
    }
}
