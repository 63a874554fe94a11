//! The 64-bit keys of the key columns (`pair_key`, `ip_key`, ...): the reader hashes raw
//! field bytes once, so that distinct values are counted without building a string per row.

use std::hash::{BuildHasher, Hasher};

/// The hash of the key columns: fixed seeds, so equal raw values get equal keys in every
/// object and partition of a run. Keys are compared within one query only, never stored.
pub(crate) static KEY_HASH: ahash::RandomState = ahash::RandomState::with_seeds(
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
);

/// The key of a one-field key column for `raw` (as the parser hashes it).
pub(crate) fn key_of(raw: &[u8]) -> u64 {
    let mut hasher = KEY_HASH.build_hasher();
    hasher.write(raw);
    hasher.finish()
}
