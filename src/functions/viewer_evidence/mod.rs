//! `viewer_evidence(ts, request_ip, uri, pair_key, user_agent_key, referrer_key, country,
//! window_from, co_fetch_seconds, max_segment_skip, min_cofetched_objects, min_viewers)`: the `viewers`
//! profile's evidence of a group of rows (one session), as an aggregate function, so that the
//! scoring query reads the logs once and aggregates each session in one pass instead of
//! sorting every fetch several times with window functions (queries/score_viewers.sql).
//!
//! Each row of a media segment becomes a [`Fetch`] of 56 bytes (text is hashed with fixed
//! seeds, so partial states from different partitions or executors agree); other rows are
//! skipped. A group keeps its fetches and collapses duplicates (byte ranges, retries) whenever
//! they double, so its memory follows its distinct fetches. The result is a struct:
//! `evidence_minutes`, `most_viewers`, `most_networks`, `most_positions`, `country_minutes`
//! (see [`evidence::Summary`]) and `asset` (the least asset name of the session's media).

pub mod evidence;
mod state;

use std::any::Any;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Builder, LargeBinaryArray, StringArray,
    StringBuilder, StructArray, TimestampSecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, TimestampSecondType, UInt64Type};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

use crate::functions::ip_network::network_key;
use crate::functions::media_path::media_path;
use crate::functions::one_group::{Groups, OneGroup};
use evidence::{EvidenceParams, Fetch, NO_COUNTRY, NO_SEGMENT, fetch_key};
use state::SessionFetches;

/// The SQL name of the function.
pub const VIEWER_EVIDENCE: &str = "viewer_evidence";

/// The arguments, in order (the last five are constants).
const ARGUMENTS: [&str; 12] = [
    "ts",
    "request_ip",
    "uri",
    "pair_key",
    "user_agent_key",
    "referrer_key",
    "country",
    "window_from",
    "co_fetch_seconds",
    "max_segment_skip",
    "min_cofetched_objects",
    "min_viewers",
];
/// Where the constant arguments start.
const FIRST_CONSTANT: usize = 7;

/// The fields of the result.
fn result_fields() -> Fields {
    let int = |name: &str| Field::new(name, DataType::Int64, false);
    Fields::from(vec![
        int("evidence_minutes"),
        int("most_viewers"),
        int("most_networks"),
        int("most_positions"),
        int("country_minutes"),
        Field::new("asset", DataType::Utf8, true),
    ])
}

/// The hash of the object and folder texts: fixed seeds, as the reader's keys.
static TEXT_HASH: ahash::RandomState = ahash::RandomState::with_seeds(
    0xd6e8_feb8_6659_fd93,
    0xa076_1d64_78bd_642f,
    0xe703_7ed1_a0b4_28db,
    0x8ebc_6af0_9c88_c6e3,
);

/// The 64-bit key of a text (an object or folder path).
pub fn text_key(text: &str) -> u64 {
    let mut h = TEXT_HASH.build_hasher();
    h.write(text.as_bytes());
    h.finish()
}

/// The aggregate function, for DataFusion and Ballista's registries.
pub fn viewer_evidence_udaf() -> AggregateUDF {
    AggregateUDF::from(ViewerEvidenceUdaf::default())
}

/// The implementation behind [`viewer_evidence_udaf`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ViewerEvidenceUdaf {
    signature: Signature,
}

impl Default for ViewerEvidenceUdaf {
    fn default() -> Self {
        ViewerEvidenceUdaf {
            signature: Signature::any(ARGUMENTS.len(), Volatility::Immutable),
        }
    }
}

fn error(reason: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{VIEWER_EVIDENCE}: {reason}"))
}

/// The constant arguments, read from the call's literals.
fn params(exprs: &[Arc<dyn PhysicalExpr>]) -> DfResult<EvidenceParams> {
    if exprs.len() != ARGUMENTS.len() {
        return Err(error(format!(
            "takes {} arguments ({}), not {}",
            ARGUMENTS.len(),
            ARGUMENTS.join(", "),
            exprs.len()
        )));
    }
    let constant = |i: usize| -> DfResult<i64> {
        let name = ARGUMENTS[i];
        let literal = (exprs[i].as_ref() as &dyn Any)
            .downcast_ref::<Literal>()
            .ok_or_else(|| error(format!("{name} must be a constant")))?;
        let value = match literal.value() {
            ScalarValue::Int64(Some(v)) | ScalarValue::TimestampSecond(Some(v), _) => Some(*v),
            ScalarValue::Int32(Some(v)) => Some(i64::from(*v)),
            ScalarValue::UInt64(Some(v)) => i64::try_from(*v).ok(),
            ScalarValue::TimestampMillisecond(Some(v), _) => Some(v.div_euclid(1_000)),
            ScalarValue::TimestampMicrosecond(Some(v), _) => Some(v.div_euclid(1_000_000)),
            ScalarValue::TimestampNanosecond(Some(v), _) => Some(v.div_euclid(1_000_000_000)),
            _ => None,
        };
        value.ok_or_else(|| {
            error(format!(
                "{name} must be a whole number or a timestamp, not {}",
                literal.value()
            ))
        })
    };
    Ok(EvidenceParams {
        window_from: constant(FIRST_CONSTANT)?,
        co_fetch_seconds: constant(FIRST_CONSTANT + 1)?,
        max_segment_skip: constant(FIRST_CONSTANT + 2)?,
        min_cofetched_objects: constant(FIRST_CONSTANT + 3)?,
        min_viewers: constant(FIRST_CONSTANT + 4)?,
    })
}

impl AggregateUDFImpl for ViewerEvidenceUdaf {
    fn name(&self) -> &str {
        VIEWER_EVIDENCE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(EvidenceGroups::new(params(args.exprs)?))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "fetches"),
            DataType::LargeBinary,
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> DfResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(EvidenceGroups::new(params(args.exprs)?)))
    }
}

/// The input columns of one batch, typed.
struct Rows {
    ts: TimestampSecondArray,
    ip: StringArray,
    uri: StringArray,
    pair: UInt64Array,
    user_agent: UInt64Array,
    referer: UInt64Array,
    country: StringArray,
}

impl Rows {
    fn new(values: &[ArrayRef]) -> DfResult<Rows> {
        if values.len() < FIRST_CONSTANT {
            return Err(error(format!("{} input columns", values.len())));
        }
        let text = |i: usize| -> DfResult<StringArray> {
            let cast = arrow::compute::cast(&values[i], &DataType::Utf8)
                .map_err(|e| error(format!("{} is not text: {e}", ARGUMENTS[i])))?;
            Ok(cast.as_string::<i32>().clone())
        };
        let key = |i: usize| -> DfResult<UInt64Array> {
            values[i]
                .as_primitive_opt::<UInt64Type>()
                .cloned()
                .ok_or_else(|| error(format!("{} must be a UInt64 key", ARGUMENTS[i])))
        };
        let ts = match values[0].data_type() {
            DataType::Timestamp(_, _) => arrow::compute::cast(
                &values[0],
                &DataType::Timestamp(arrow::datatypes::TimeUnit::Second, None),
            )
            .map_err(|e| error(format!("ts: {e}")))?
            .as_primitive::<TimestampSecondType>()
            .clone(),
            other => return Err(error(format!("ts must be a timestamp, not {other}"))),
        };
        Ok(Rows {
            ts,
            ip: text(1)?,
            uri: text(2)?,
            pair: key(3)?,
            user_agent: key(4)?,
            referer: key(5)?,
            country: text(6)?,
        })
    }

    fn len(&self) -> usize {
        self.ts.len()
    }

    /// Row `i` as a fetch with its asset, when it is a media segment.
    fn fetch(&self, i: usize) -> Option<(Fetch, &str)> {
        if self.ts.is_null(i) || self.uri.is_null(i) {
            return None;
        }
        let media = media_path(self.uri.value(i))?;
        let key = |a: &UInt64Array| if a.is_null(i) { 0 } else { a.value(i) };
        let network = if self.ip.is_null(i) {
            0
        } else {
            network_key(self.ip.value(i))
        };
        let fetch = Fetch {
            key: fetch_key(key(&self.pair), key(&self.user_agent), key(&self.referer)),
            ts: self.ts.value(i),
            network,
            object: text_key(media.object),
            folder: text_key(media.folder),
            segment: media.segment.unwrap_or(NO_SEGMENT),
            country: country_key(&self.country, i),
        };
        Some((fetch, media.asset))
    }
}

/// The key of row `i`'s country: [`NO_COUNTRY`] when NULL, empty or `-`.
fn country_key(countries: &StringArray, i: usize) -> u64 {
    if countries.is_null(i) {
        return NO_COUNTRY;
    }
    match countries.value(i) {
        "" | "-" => NO_COUNTRY,
        c => text_key(c).max(1),
    }
}

/// The groups' states, for DataFusion's hash aggregation.
struct EvidenceGroups {
    params: EvidenceParams,
    groups: Vec<SessionFetches>,
    /// The bytes the groups hold, kept as they change (for the memory pool).
    bytes: usize,
}

impl EvidenceGroups {
    fn new(params: EvidenceParams) -> Self {
        EvidenceGroups {
            params,
            groups: Vec::new(),
            bytes: 0,
        }
    }

    /// Runs `f` on group `g`, keeping [`Self::bytes`] up to date.
    fn with_group(&mut self, g: usize, f: impl FnOnce(&mut SessionFetches)) {
        let group = &mut self.groups[g];
        let before = group.bytes();
        f(group);
        self.bytes = (self.bytes + group.bytes()).saturating_sub(before);
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<SessionFetches> {
        let taken = emit_to.take_needed(&mut self.groups);
        let gone: usize = taken.iter().map(SessionFetches::bytes).sum();
        self.bytes = self.bytes.saturating_sub(gone);
        taken
    }
}

impl Groups for EvidenceGroups {
    fn resize(&mut self, total: usize) {
        if self.groups.len() < total {
            self.groups.resize_with(total, SessionFetches::default);
        }
    }
}

impl GroupsAccumulator for EvidenceGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.resize(total_num_groups);
        let rows = Rows::new(values)?;
        for (i, &g) in group_indices.iter().enumerate().take(rows.len()) {
            if opt_filter.is_some_and(|f| !f.is_valid(i) || !f.value(i)) {
                continue;
            }
            if let Some((fetch, asset)) = rows.fetch(i) {
                self.with_group(g, |s| s.push(fetch, asset));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let groups = self.take(emit_to);
        summaries(groups, &self.params)
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        Ok(vec![state::encode(groups)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.resize(total_num_groups);
        let states = state_column(values)?;
        for (i, &g) in group_indices.iter().enumerate().take(states.len()) {
            if states.is_valid(i) {
                let blob = states.value(i);
                let mut outcome = Ok(());
                self.with_group(g, |s| outcome = s.merge(blob));
                outcome?;
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> DfResult<Vec<ArrayRef>> {
        // Each row its own group: a state of its one fetch, or of none.
        let rows = Rows::new(values)?;
        let states = (0..rows.len()).map(|i| {
            let mut s = SessionFetches::default();
            let kept = opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i));
            if let Some((fetch, asset)) = rows.fetch(i).filter(|_| kept) {
                s.push(fetch, asset);
            }
            s
        });
        Ok(vec![state::encode(states.collect())?])
    }

    fn size(&self) -> usize {
        self.bytes + self.groups.capacity() * std::mem::size_of::<SessionFetches>()
    }
}

fn state_column(values: &[ArrayRef]) -> DfResult<&LargeBinaryArray> {
    values
        .first()
        .and_then(|v| v.as_binary_opt::<i64>())
        .ok_or_else(|| error("its state must be one LargeBinary column"))
}

/// The result column of `groups`.
fn summaries(groups: Vec<SessionFetches>, p: &EvidenceParams) -> DfResult<ArrayRef> {
    let n = groups.len();
    let mut ints: [Int64Builder; 5] = std::array::from_fn(|_| Int64Builder::with_capacity(n));
    let mut assets = StringBuilder::with_capacity(n, n * 16);
    for group in groups {
        let (mut fetches, asset) = group.into_parts();
        let s = evidence::analyse(&mut fetches, p).summary(p);
        for (b, v) in ints.iter_mut().zip([
            s.evidence_minutes,
            s.most_viewers,
            s.most_networks,
            s.most_positions,
            s.country_minutes,
        ]) {
            b.append_value(v);
        }
        assets.append_option(asset);
    }
    let columns: Vec<ArrayRef> = ints
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef)
        .chain([Arc::new(assets.finish()) as ArrayRef])
        .collect();
    let array = StructArray::try_new(result_fields(), columns, None)?;
    Ok(Arc::new(array))
}

impl std::fmt::Debug for EvidenceGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceGroups")
            .field("groups", &self.groups.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringArray, TimestampSecondArray, UInt64Array};
    use datafusion::prelude::SessionContext;

    /// The evidence of rows (ts, ip, uri) as SQL computes it, one session.
    async fn via_sql(rows: &[(i64, &str, &str)]) -> String {
        let ctx = SessionContext::new();
        ctx.register_udaf(viewer_evidence_udaf());
        let batch = arrow::array::RecordBatch::try_from_iter(vec![
            (
                "ts",
                Arc::new(
                    TimestampSecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
                        .with_timezone("UTC"),
                ) as ArrayRef,
            ),
            (
                "request_ip",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            ),
            (
                "uri",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            ),
            (
                "k",
                Arc::new(UInt64Array::from_iter_values(
                    rows.iter().map(|r| text_key(&format!("{}\t{}", r.1, r.2))),
                )),
            ),
        ])
        .expect("batch");
        ctx.register_batch("t", batch).expect("table");
        let sql = "SELECT viewer_evidence(ts, request_ip, uri, k, 0::BIGINT UNSIGNED, \
                   0::BIGINT UNSIGNED, NULL, TIMESTAMP '1970-01-01T00:00:00', 30, 3, 2, 2) AS e \
                   FROM t";
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

    #[tokio::test]
    async fn two_addresses_fetching_the_same_segments_show_two_viewers_in_sql() {
        let uris: Vec<String> = (0..30)
            .map(|i| format!("/tok/vod/a/720p/s{i}.ts"))
            .collect();
        let mut rows = Vec::new();
        for (i, uri) in uris.iter().enumerate() {
            let t = i as i64 * 4;
            rows.push((t, "192.0.2.1", uri.as_str()));
            rows.push((t + 10, "198.51.100.9", uri.as_str()));
            // A playlist and a second byte range change nothing.
            rows.push((t, "192.0.2.1", "/tok/vod/a/720p/index.m3u8"));
            rows.push((t + 1, "192.0.2.1", uri.as_str()));
        }
        let text = via_sql(&rows).await;
        assert!(
            text.contains("{evidence_minutes: 2, most_viewers: 2, most_networks: 2, most_positions: 1, country_minutes: 0, asset: vod/a}"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_constant_that_is_not_one_is_refused_by_name() {
        let ctx = SessionContext::new();
        ctx.register_udaf(viewer_evidence_udaf());
        let sql = "SELECT viewer_evidence(now(), 'a', 'b', 1::BIGINT UNSIGNED, \
                   1::BIGINT UNSIGNED, 1::BIGINT UNSIGNED, 'US', 0, 30, 3, 2, 'x')";
        let e = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.expect_err("a text parameter"),
            Err(e) => e,
        };
        assert!(e.to_string().contains("min_viewers"), "{e}");
    }
}
