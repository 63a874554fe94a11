//! `distinct_keys(key)`: how many distinct non-NULL values a `UInt64` key column holds per
//! group. The same number as `count(DISTINCT key)`, for the reader's 64-bit keys (`pair_key`,
//! `ip_key`, ...), at a fraction of the cost: DataFusion's distinct count hashes every
//! (group, value) pair into one table shared by all groups, while here each group keeps its
//! own set. A session's addresses, agents and referers are a handful, found by a scan of a few
//! values held inline; its (address, path) pairs go into an open-addressing table indexed by
//! the key itself (already a hash), mixed with a per-process random seed so that no input can
//! pick which slots its keys collide in.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, UInt64Array};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, UInt64Type};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// The SQL name of the function.
pub const DISTINCT_KEYS: &str = "distinct_keys";

/// The aggregate function, for DataFusion and Ballista's registries.
pub fn distinct_keys_udaf() -> AggregateUDF {
    AggregateUDF::from(DistinctKeysUdaf::default())
}

/// The implementation behind [`distinct_keys_udaf`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DistinctKeysUdaf {
    signature: Signature,
}

impl Default for DistinctKeysUdaf {
    fn default() -> Self {
        DistinctKeysUdaf {
            signature: Signature::exact(vec![DataType::UInt64], Volatility::Immutable),
        }
    }
}

fn error(reason: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{DISTINCT_KEYS}: {reason}"))
}

impl AggregateUDFImpl for DistinctKeysUdaf {
    fn name(&self) -> &str {
        DISTINCT_KEYS
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(KeyGroups::default())))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new_list(
            format_state_name(args.name, "keys"),
            Field::new_list_field(DataType::UInt64, false),
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> DfResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(KeyGroups::default()))
    }

    fn default_value(&self, _data_type: &DataType) -> DfResult<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }
}

/// Keys a group holds inline, found by a scan, before it switches to a table.
const INLINE: usize = 8;
/// Slots of a group's first table (a power of two).
const FIRST_TABLE: usize = 32;

/// One group's distinct keys.
#[derive(Debug, Default)]
struct KeySet {
    /// Up to [`INLINE`] keys in arrival order; past that, a table of a power-of-two number of
    /// slots, at most half full, where 0 marks an empty slot.
    keys: Vec<u64>,
    /// Whether [`KeySet::keys`] is a table.
    table: bool,
    /// Distinct keys other than 0 (in a table; inline, `keys.len()` says).
    len: usize,
    /// Whether the key 0 was seen (0 cannot be stored in a table).
    zero: bool,
}

impl KeySet {
    fn count(&self) -> i64 {
        let stored = if self.table {
            self.len
        } else {
            self.keys.len()
        };
        i64::try_from(stored).unwrap_or(i64::MAX) + i64::from(self.zero)
    }

    fn bytes(&self) -> usize {
        self.keys.capacity() * 8
    }

    fn insert(&mut self, key: u64, seed: u64) {
        if key == 0 {
            self.zero = true;
        } else if !self.table {
            if !self.keys.contains(&key) {
                self.keys.push(key);
                if self.keys.len() > INLINE {
                    let keys = std::mem::take(&mut self.keys);
                    self.table = true;
                    self.len = 0;
                    self.keys = vec![0; FIRST_TABLE];
                    for k in keys {
                        self.insert_in_table(k, seed);
                    }
                }
            }
        } else {
            self.insert_in_table(key, seed);
        }
    }

    /// Inserts a non-zero key into the table, doubling it when it would be over half full.
    fn insert_in_table(&mut self, key: u64, seed: u64) {
        if (self.len + 1) * 2 > self.keys.len() {
            let doubled = vec![0; self.keys.len() * 2];
            let old = std::mem::replace(&mut self.keys, doubled);
            self.len = 0;
            for k in old.into_iter().filter(|k| *k != 0) {
                self.place(k, seed);
            }
        }
        self.place(key, seed);
    }

    /// Puts a non-zero key in its slot (linear probing) unless it is there already.
    fn place(&mut self, key: u64, seed: u64) {
        let mask = self.keys.len() - 1;
        let mut slot = slot_of(key, seed, self.keys.len().trailing_zeros()) & mask;
        loop {
            match self.keys[slot] {
                0 => {
                    self.keys[slot] = key;
                    self.len += 1;
                    return;
                }
                k if k == key => return,
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// The keys, for the partial state.
    fn values(&self) -> impl Iterator<Item = u64> + '_ {
        let zero = self.zero.then_some(0);
        self.keys.iter().copied().filter(|k| *k != 0).chain(zero)
    }
}

/// The slot of `key` in a table of `2^bits` slots: the top bits of the seeded key times an odd
/// constant (Fibonacci hashing).
fn slot_of(key: u64, seed: u64, bits: u32) -> usize {
    let mixed = (key ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // bits >= 5 (FIRST_TABLE): the shift is at most 59.
    (mixed >> (64 - bits.max(1))) as usize
}

/// The groups' sets, for DataFusion's hash aggregation.
#[derive(Debug)]
struct KeyGroups {
    sets: Vec<KeySet>,
    /// The bytes the sets hold, kept as they change (for the memory pool).
    bytes: usize,
    seed: u64,
}

impl Default for KeyGroups {
    fn default() -> Self {
        KeyGroups {
            sets: Vec::new(),
            bytes: 0,
            seed: std::collections::hash_map::RandomState::new().hash_one(DISTINCT_KEYS),
        }
    }
}

impl KeyGroups {
    fn resize(&mut self, total: usize) {
        if self.sets.len() < total {
            self.sets.resize_with(total, KeySet::default);
        }
    }

    fn insert(&mut self, group: usize, key: u64) {
        let set = &mut self.sets[group];
        let before = set.bytes();
        set.insert(key, self.seed);
        self.bytes = (self.bytes + set.bytes()).saturating_sub(before);
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<KeySet> {
        let taken = emit_to.take_needed(&mut self.sets);
        let gone: usize = taken.iter().map(KeySet::bytes).sum();
        self.bytes = self.bytes.saturating_sub(gone);
        taken
    }
}

fn keys_column(values: &[ArrayRef]) -> DfResult<&UInt64Array> {
    values
        .first()
        .and_then(|v| v.as_primitive_opt::<UInt64Type>())
        .ok_or_else(|| error("takes one UInt64 key column"))
}

fn kept(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

/// The partial state of `sets`: each group's keys as one list.
fn state_of(sets: &[KeySet]) -> DfResult<ArrayRef> {
    let mut offsets = Vec::with_capacity(sets.len() + 1);
    offsets.push(0i32);
    let mut keys = Vec::new();
    for set in sets {
        keys.extend(set.values());
        offsets.push(i32::try_from(keys.len()).map_err(|_| error("a state over 2^31 keys"))?);
    }
    let list = ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::UInt64, false)),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Arc::new(UInt64Array::from(keys)),
        None,
    )?;
    Ok(Arc::new(list))
}

impl GroupsAccumulator for KeyGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.resize(total_num_groups);
        let keys = keys_column(values)?;
        let raw = keys.values();
        for (i, &g) in group_indices.iter().enumerate().take(keys.len()) {
            if keys.is_valid(i) && kept(opt_filter, i) {
                self.insert(g, raw[i]);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let sets = self.take(emit_to);
        Ok(Arc::new(Int64Array::from_iter_values(
            sets.iter().map(KeySet::count),
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let sets = self.take(emit_to);
        Ok(vec![state_of(&sets)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.resize(total_num_groups);
        let lists = values
            .first()
            .and_then(|v| v.as_list_opt::<i32>())
            .ok_or_else(|| error("its state must be one list column"))?;
        let inner = lists
            .values()
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| error("its state must list UInt64 keys"))?;
        let offsets = lists.value_offsets();
        for (i, &g) in group_indices.iter().enumerate().take(lists.len()) {
            if lists.is_null(i) {
                continue;
            }
            let (from, to) = (offsets[i], offsets[i + 1]);
            let range = usize::try_from(from).unwrap_or(0)..usize::try_from(to).unwrap_or(0);
            for &key in inner.values().get(range).unwrap_or(&[]) {
                self.insert(g, key);
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> DfResult<Vec<ArrayRef>> {
        // Each row its own group: a list of its one key, or an empty one.
        let keys = keys_column(values)?;
        let mut sets: Vec<KeySet> = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            let mut set = KeySet::default();
            if keys.is_valid(i) && kept(opt_filter, i) {
                set.insert(keys.value(i), self.seed);
            }
            sets.push(set);
        }
        Ok(vec![state_of(&sets)?])
    }

    fn size(&self) -> usize {
        self.bytes + self.sets.capacity() * std::mem::size_of::<KeySet>()
    }
}

/// One group's set, for plans without grouping.
#[derive(Debug)]
struct OneGroup(KeyGroups);

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.0.merge_batch(states, &vec![0; rows], 1)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        self.0.resize(1);
        let list = state_of(&self.0.sets[..1])?;
        Ok(vec![ScalarValue::try_from_array(&list, 0)?])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        self.0.resize(1);
        Ok(ScalarValue::Int64(Some(self.0.sets[0].count())))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + GroupsAccumulator::size(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[test]
    fn a_set_counts_each_key_once_inline_and_in_its_table() {
        for seed in [0, 1, u64::MAX, 0x1234_5678_9abc_def0] {
            let mut set = KeySet::default();
            // 0 counts like any key; 1..=1000, each three times; spread and adjacent keys.
            for round in 0..3 {
                set.insert(0, seed);
                for k in 1..=1000u64 {
                    set.insert(k, seed);
                    set.insert(k << 40, seed);
                }
                assert_eq!(set.count(), 2001, "seed {seed}, round {round}");
            }
            assert!(set.table);
            // At most half full, a power of two.
            assert_eq!(set.keys.len(), 4096);
            let mut values: Vec<u64> = set.values().collect();
            values.sort_unstable();
            values.dedup();
            assert_eq!(values.len(), 2001);
        }
        let mut small = KeySet::default();
        for k in [7, 7, 9, 7] {
            small.insert(k, 3);
        }
        assert_eq!((small.count(), small.table), (2, false));
    }

    /// `distinct_keys(k)` and `count(DISTINCT k)` per group, as SQL computes them.
    async fn both(rows: Vec<(i64, Option<u64>)>) -> Vec<(i64, i64, i64)> {
        let ctx = SessionContext::new();
        ctx.register_udaf(distinct_keys_udaf());
        let batch = arrow::array::RecordBatch::try_from_iter(vec![
            (
                "g",
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            ),
            (
                "k",
                Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.1))) as ArrayRef,
            ),
        ])
        .expect("batch");
        // Several partitions, so that partial states are merged.
        let half = batch.num_rows() / 2;
        let parts = vec![
            vec![batch.slice(0, half)],
            vec![batch.slice(half, batch.num_rows() - half)],
        ];
        let table =
            datafusion::datasource::MemTable::try_new(batch.schema(), parts).expect("table");
        ctx.register_table("t", Arc::new(table)).expect("register");
        let df = ctx
            .sql("SELECT g, distinct_keys(k), count(DISTINCT k) FROM t GROUP BY g ORDER BY g")
            .await
            .expect("sql");
        let batches = df.collect().await.expect("run");
        let mut out = Vec::new();
        for b in &batches {
            let g = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
            let ours = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
            let theirs = b.column(2).as_primitive::<arrow::datatypes::Int64Type>();
            for i in 0..b.num_rows() {
                out.push((g.value(i), ours.value(i), theirs.value(i)));
            }
        }
        out
    }

    #[tokio::test]
    async fn it_agrees_with_count_distinct_across_partitions() {
        let mut rows = Vec::new();
        for i in 0..20_000u64 {
            // Group 1: 5,000 keys; group 2: 3 keys and NULLs; group 3: key 0 and 1 only.
            rows.push((1, Some(i % 5_000 * 0x9e37_79b9)));
            rows.push((2, if i % 4 == 0 { None } else { Some(i % 3) }));
            rows.push((3, Some(i % 2)));
        }
        assert_eq!(
            both(rows).await,
            vec![(1, 5_000, 5_000), (2, 3, 3), (3, 2, 2)]
        );
    }
}
