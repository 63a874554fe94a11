//! `distinct_keys(key)`: how many distinct non-NULL values a `UInt64` key column holds in each
//! group; the number `count(DISTINCT key)` gives, for the reader's 64-bit keys (`pair_key`,
//! `ip_key`, `user_agent_key`, `referrer_key`).
//!
//! Why not `count(DISTINCT)`: DataFusion's grouped distinct count keeps every (group, value)
//! in one hash table and empties it with `clear()`, which keeps the allocation, so an
//! aggregation that must spill under `--memory-limit` cannot give memory back and fails. Here
//! each group appends its keys to a vector of its own (an append touches the end of one
//! vector, where a hash table probes a random slot of a large one) and, whenever the vector has
//! doubled since it was last sorted, sorts it and drops the duplicates. A group's memory so
//! follows its distinct keys (at most twice as many, plus the vector's spare capacity), and a
//! group handed on (a partial state, an early emit, a spill) takes its memory with it.

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

use super::one_group::{Groups, OneGroup};

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

/// The length below which a group's keys are appended without sorting.
const FIRST_RUN: usize = 16;

/// One group's keys: the first `sorted` are distinct and in order, the rest as they came.
#[derive(Debug, Default)]
struct KeyRun {
    keys: Vec<u64>,
    sorted: usize,
    /// The last key pushed (when `keys` is not empty), kept beside the vector: most rows
    /// repeat their session's last address, agent and referer, and are dropped without
    /// reading the vector.
    last: u64,
}

impl KeyRun {
    /// Adds `key`, sorting and dropping duplicates first when the keys have doubled since the
    /// last sort. Returns the bytes of capacity the keys gained.
    #[inline]
    fn push(&mut self, key: u64) -> usize {
        if self.last == key && !self.keys.is_empty() {
            return 0;
        }
        self.last = key;
        let before = self.keys.capacity();
        if self.keys.len() >= (self.sorted * 2).max(FIRST_RUN) {
            self.collapse();
        }
        self.keys.push(key);
        (self.keys.capacity() - before) * size_of::<u64>()
    }

    /// Sorts the keys and drops the duplicates.
    fn collapse(&mut self) {
        if self.sorted < self.keys.len() {
            self.keys.sort_unstable();
            self.keys.dedup();
            self.sorted = self.keys.len();
        }
    }

    /// The distinct keys, in order.
    fn distinct(mut self) -> Vec<u64> {
        self.collapse();
        self.keys
    }

    fn bytes(&self) -> usize {
        self.keys.capacity() * size_of::<u64>()
    }
}

/// The groups' keys, for DataFusion's hash aggregation.
#[derive(Debug, Default)]
struct KeyGroups {
    groups: Vec<KeyRun>,
    /// The bytes of the groups' keys, kept as they change (for the memory pool).
    bytes: usize,
}

impl Groups for KeyGroups {
    fn resize(&mut self, total: usize) {
        if self.groups.len() < total {
            self.groups.resize_with(total, KeyRun::default);
        }
    }
}

impl KeyGroups {
    /// Adds `key` to group `g`.
    #[inline]
    fn push(&mut self, g: usize, key: u64) {
        if let Some(group) = self.groups.get_mut(g) {
            self.bytes += group.push(key);
        }
    }

    /// Hands on the groups `emit_to` names, with their memory.
    fn take(&mut self, emit_to: EmitTo) -> Vec<KeyRun> {
        let taken = emit_to.take_needed(&mut self.groups);
        let gone: usize = taken.iter().map(KeyRun::bytes).sum();
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

/// One list of keys per group, each list distinct and in order: the partial state.
fn state_of(groups: Vec<KeyRun>) -> DfResult<ArrayRef> {
    let mut offsets = Vec::with_capacity(groups.len() + 1);
    offsets.push(0i32);
    let total: usize = groups.iter().map(|g| g.keys.len()).sum();
    let mut keys = Vec::with_capacity(total);
    for group in groups {
        keys.extend_from_slice(&group.distinct());
        offsets.push(i32::try_from(keys.len()).map_err(|_| error("a state of 2^31 keys"))?);
    }
    key_lists(offsets, keys)
}

/// The list column of `keys` cut at `offsets`: the state's shape.
fn key_lists(offsets: Vec<i32>, keys: Vec<u64>) -> DfResult<ArrayRef> {
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
        if keys.null_count() == 0 && opt_filter.is_none() {
            for (&g, &key) in group_indices.iter().zip(raw.iter()) {
                self.push(g, key);
            }
        } else {
            for (i, (&g, &key)) in group_indices.iter().zip(raw.iter()).enumerate() {
                let kept = opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i));
                if kept && keys.is_valid(i) {
                    self.push(g, key);
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let groups = self.take(emit_to);
        let counts = groups.into_iter().map(|g| {
            let n = g.distinct().len();
            i64::try_from(n).unwrap_or(i64::MAX)
        });
        Ok(Arc::new(Int64Array::from_iter_values(counts)))
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        Ok(vec![state_of(groups)?])
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
            let from = usize::try_from(offsets[i]).map_err(|_| error("a negative offset"))?;
            let to = usize::try_from(offsets[i + 1]).map_err(|_| error("a negative offset"))?;
            let keys = inner
                .values()
                .get(from..to)
                .ok_or_else(|| error("a state's offsets point past its keys"))?;
            for &key in keys {
                self.push(g, key);
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> DfResult<Vec<ArrayRef>> {
        // Each row its own group: a list of its key, or an empty list.
        let keys = keys_column(values)?;
        let mut offsets = Vec::with_capacity(keys.len() + 1);
        offsets.push(0i32);
        let mut kept = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            if keys.is_valid(i) && opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i)) {
                kept.push(keys.value(i));
            }
            offsets.push(i32::try_from(kept.len()).map_err(|_| error("a batch of 2^31 rows"))?);
        }
        Ok(vec![key_lists(offsets, kept)?])
    }

    fn size(&self) -> usize {
        self.bytes + self.groups.capacity() * size_of::<KeyRun>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn keys(values: &[Option<u64>]) -> Vec<ArrayRef> {
        vec![Arc::new(UInt64Array::from(values.to_vec()))]
    }

    fn counts(column: &ArrayRef) -> Vec<i64> {
        column
            .as_primitive_opt::<arrow::datatypes::Int64Type>()
            .expect("Int64 counts")
            .values()
            .to_vec()
    }

    #[test]
    fn counts_distinct_keys_per_group_ignoring_nulls() {
        let mut acc = KeyGroups::default();
        let values = [
            Some(7),
            Some(7),
            None,
            Some(3),
            Some(7),
            Some(9),
            Some(3),
            None,
        ];
        let groups = [0, 0, 0, 0, 0, 1, 1, 2];
        acc.update_batch(&keys(&values), &groups, None, 3)
            .expect("update");
        let result = acc.evaluate(EmitTo::All).expect("evaluate");
        // Group 0: 7, 3; group 1: 9, 3; group 2: only a NULL.
        assert_eq!(counts(&result), vec![2, 2, 0]);
    }

    #[test]
    fn a_filter_drops_its_rows() {
        let mut acc = KeyGroups::default();
        let filter = BooleanArray::from(vec![Some(true), Some(false), None, Some(true)]);
        acc.update_batch(
            &keys(&[Some(1), Some(2), Some(3), Some(1)]),
            &[0, 0, 0, 0],
            Some(&filter),
            1,
        )
        .expect("update");
        assert_eq!(
            counts(&acc.evaluate(EmitTo::All).expect("evaluate")),
            vec![1]
        );
    }

    #[test]
    fn handing_groups_on_gives_their_memory_back() {
        let mut acc = KeyGroups::default();
        let n = 100_000u64;
        let values: Vec<Option<u64>> = (0..n).map(Some).collect();
        let groups: Vec<usize> = (0..n).map(|k| (k % 4) as usize).collect();
        acc.update_batch(&keys(&values), &groups, None, 4)
            .expect("update");
        // 25,000 distinct keys per group, 8 bytes each, in vectors of power-of-two capacity.
        assert!(acc.size() >= 4 * 25_000 * 8, "{}", acc.size());
        let first = acc.state(EmitTo::First(2)).expect("state");
        assert_eq!(first[0].len(), 2);
        assert!(acc.size() < 2 * 32_768 * 8 + 1024, "{}", acc.size());
        let rest = acc.evaluate(EmitTo::All).expect("evaluate");
        assert_eq!(counts(&rest), vec![25_000, 25_000]);
        assert_eq!(acc.size(), 0);
    }

    #[test]
    fn duplicates_are_dropped_as_they_come_so_memory_follows_distinct_keys() {
        let mut acc = KeyGroups::default();
        // Two keys alternating a million times: never more than the first run's length.
        let values: Vec<Option<u64>> = (0..1_000_000u64).map(|i| Some(i % 2)).collect();
        acc.update_batch(&keys(&values), &vec![0; values.len()], None, 1)
            .expect("update");
        assert!(acc.bytes <= FIRST_RUN * 2 * 8, "{}", acc.bytes);
        assert_eq!(
            counts(&acc.evaluate(EmitTo::All).expect("evaluate")),
            vec![2]
        );
    }

    #[test]
    fn a_state_that_is_not_a_list_of_keys_is_an_error_not_a_panic() {
        let mut acc = KeyGroups::default();
        let wrong: ArrayRef = Arc::new(UInt64Array::from(vec![1u64]));
        let e = acc.merge_batch(&[wrong], &[0], 1).expect_err("not a list");
        assert!(
            e.to_string()
                .contains("distinct_keys: its state must be one list column"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn in_sql_it_counts_what_count_distinct_counts_with_and_without_groups() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_udaf(distinct_keys_udaf());
        let batch = arrow::array::RecordBatch::try_from_iter(vec![
            (
                "g",
                Arc::new(arrow::array::StringArray::from(vec![
                    "a", "a", "b", "a", "b", "b",
                ])) as ArrayRef,
            ),
            (
                "k",
                Arc::new(UInt64Array::from(vec![
                    Some(1),
                    Some(2),
                    Some(1),
                    Some(1),
                    None,
                    Some(1),
                ])),
            ),
        ])
        .expect("batch");
        ctx.register_batch("t", batch).expect("table");
        let text = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx
                    .sql(sql)
                    .await
                    .expect("sql")
                    .collect()
                    .await
                    .expect("run");
                arrow::util::pretty::pretty_format_batches(&batches)
                    .expect("text")
                    .to_string()
            }
        };
        // One group (no GROUP BY): 1 and 2.
        let all = text("SELECT distinct_keys(k) AS n, count(DISTINCT k) AS c FROM t").await;
        assert!(all.contains("| 2 | 2 |"), "{all}");
        // a: 1, 2; b: 1 (the NULL is not a key).
        let grouped = text(
            "SELECT g, distinct_keys(k) AS n, count(DISTINCT k) AS c FROM t GROUP BY g ORDER BY g",
        )
        .await;
        assert!(
            grouped.contains("| a | 2 | 2 |") && grouped.contains("| b | 1 | 1 |"),
            "{grouped}"
        );
    }

    proptest! {
        /// Split into two partial aggregations, handed on as states (some groups early), merged:
        /// the same counts as a set per group.
        #[test]
        fn partial_states_merged_count_what_a_set_counts(
            rows in proptest::collection::vec((0usize..5, proptest::option::of(0u64..40)), 0..400),
            split in 0usize..400,
            early in 0usize..5,
        ) {
            let mut expected: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
            for &(g, k) in &rows {
                let set = expected.entry(g).or_default();
                if let Some(k) = k {
                    set.insert(k);
                }
            }
            let split = split.min(rows.len());
            let mut states = Vec::new();
            for part in [&rows[..split], &rows[split..]] {
                let mut acc = KeyGroups::default();
                let values: Vec<Option<u64>> = part.iter().map(|r| r.1).collect();
                let groups: Vec<usize> = part.iter().map(|r| r.0).collect();
                acc.update_batch(&keys(&values), &groups, None, 5).expect("update");
                // Groups 0..early leave first, the rest after (renumbered from 0).
                let first = acc.state(EmitTo::First(early)).expect("state");
                let rest = acc.state(EmitTo::All).expect("state");
                let rest_groups: Vec<usize> = (0..rest[0].len()).collect();
                states.push((first, (0..early).collect::<Vec<_>>()));
                states.push((rest, rest_groups.iter().map(|g| g + early).collect()));
            }
            let mut merged = KeyGroups::default();
            for (state, groups) in &states {
                merged.merge_batch(state, groups, 5).expect("merge");
            }
            let result = counts(&merged.evaluate(EmitTo::All).expect("evaluate"));
            for (g, &n) in result.iter().enumerate() {
                let want = expected.get(&g).map_or(0, |s| s.len() as i64);
                prop_assert_eq!(n, want, "group {}", g);
            }
        }
    }
}
