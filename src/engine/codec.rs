//! `LogsCodec`: how plans over CloudFront logs travel as protobuf (datafusion-proto), for
//! a Ballista scheduler (which plans the `logs` table it receives in a logical plan) and its
//! executors (which run the scans they receive in a physical plan: a `DataSourceExec` over a
//! [`LogsSource`]).
//!
//! The `logs` table and its scans are encoded as JSON (locations, listing and reading options,
//! the `--state` location, the store URL, the objects each partition reads by path, size and
//! version, the projection and pushed-down filter); autorevoke's functions (crate::functions) by their names.
//! Every other node is left to Ballista's own codec, so one codec serves client, scheduler and
//! executors. A decoded plan reports into the scan it came from when that scan is in the same
//! process (a standalone cluster); elsewhere into a fresh one.

use std::any::Any;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;

use crate::aws::AwsAccess;
use crate::cloudfront::filter::RowFilter;
use crate::cloudfront::provider::CloudFrontTable;
use crate::cloudfront::reader::ReadOptions;
use crate::cloudfront::source::{ListingCounts, LogsSource, PartitionObjects};
use crate::cloudfront::state::StateStore;
use crate::source::{AllowedLocations, ListOptions, LogLocation, LogObject};

/// Marks autorevoke's nodes among the extension bytes Ballista's codec also writes.
const TABLE_MAGIC: &[u8] = b"autorevoke-logs-table/1\n";
const EXEC_MAGIC: &[u8] = b"autorevoke-logs-exec/1\n";

/// The codec of autorevoke's plan nodes, delegating every other node to Ballista's.
#[derive(Debug)]
pub struct LogsCodec {
    /// How decoded tables and plans reach S3 (the decoding process's AWS settings).
    aws: Arc<AwsAccess>,
    /// In a scheduler or executor process: the only locations a decoded plan may name.
    allowed: Option<Arc<AllowedLocations>>,
    logical: BallistaLogicalExtensionCodec,
    physical: BallistaPhysicalExtensionCodec,
}

impl LogsCodec {
    /// A codec whose decoded tables and plans reach S3 through `aws`.
    pub fn new(aws: Arc<AwsAccess>) -> Self {
        LogsCodec {
            aws,
            allowed: None,
            logical: BallistaLogicalExtensionCodec::default(),
            physical: BallistaPhysicalExtensionCodec::default(),
        }
    }

    /// A codec for a cluster process: plans naming log objects, log locations or a state
    /// outside `allowed` are refused (anyone who reaches the cluster's ports can send one).
    pub fn restricted(aws: Arc<AwsAccess>, allowed: AllowedLocations) -> Self {
        LogsCodec {
            allowed: Some(Arc::new(allowed)),
            ..LogsCodec::new(aws)
        }
    }

    /// Refuses `what` unless `permitted` (always permitted outside a cluster process).
    fn check(&self, permitted: impl FnOnce(&AllowedLocations) -> bool, what: &str) -> DfResult<()> {
        match &self.allowed {
            Some(allowed) if !permitted(allowed) => Err(DataFusionError::Plan(format!(
                "refused: the plan names {what}, outside the locations this process may read \
                 (--allow-location)"
            ))),
            _ => Ok(()),
        }
    }

    fn state(&self, text: Option<&str>, options: ReadOptions) -> DfResult<Option<Arc<StateStore>>> {
        if let Some(text) = text {
            let location = LogLocation::parse_maybe_missing(text)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            self.check(|a| a.permits(&location), &format!("the state {text}"))?;
        }
        text.map(|text| {
            StateStore::open(
                text,
                Arc::clone(&self.aws),
                options.format,
                options.realtime_fields,
                options.session_from,
                &[],
            )
            .map(Arc::new)
            .map_err(|e| DataFusionError::External(Box::new(e)))
        })
        .transpose()
    }
}

/// The `logs` table as encoded.
#[derive(Serialize, Deserialize)]
struct TableSpec {
    locations: Vec<String>,
    list_options: ListOptions,
    options: ReadOptions,
    state: Option<String>,
    stats_id: u64,
}

/// A scan of logs (a `DataSourceExec` over a `LogsSource`) as encoded.
#[derive(Serialize, Deserialize)]
struct ExecSpec {
    store_url: String,
    partitions: Vec<PartitionSpec>,
    projection: Vec<usize>,
    filter: RowFilter,
    options: ReadOptions,
    state: Option<String>,
    stats_id: u64,
}

/// A partition of a scan as encoded.
#[derive(Serialize, Deserialize)]
struct PartitionSpec {
    objects: Vec<ObjectSpec>,
    listing: Option<ListingCounts>,
}

/// A log object as encoded: its store by URL, never the store.
#[derive(Serialize, Deserialize)]
struct ObjectSpec {
    store_url: String,
    path: String,
    size: u64,
    display: String,
    unreadable: Option<String>,
    hour: Option<i64>,
    version: String,
}

impl ObjectSpec {
    fn of(o: &LogObject) -> Self {
        ObjectSpec {
            store_url: o.store_url.as_str().to_string(),
            path: o.path.to_string(),
            size: o.size,
            display: o.display.clone(),
            unreadable: o.unreadable.clone(),
            hour: o.hour,
            version: o.version.clone(),
        }
    }

    fn object(self) -> DfResult<LogObject> {
        Ok(LogObject {
            store_url: ObjectStoreUrl::parse(&self.store_url)?,
            // The path as it was planned (parsed, never re-encoded).
            path: ObjectPath::parse(&self.path).map_err(|e| {
                DataFusionError::Internal(format!("decoding the path of {}: {e}", self.display))
            })?,
            size: self.size,
            display: self.display,
            unreadable: self.unreadable,
            hour: self.hour,
            version: self.version,
        })
    }
}

/// The file scan config and logs source of `plan`, when it is a scan of logs.
fn logs_scan(plan: &dyn ExecutionPlan) -> Option<(&FileScanConfig, &LogsSource)> {
    let exec = (plan as &dyn Any).downcast_ref::<DataSourceExec>()?;
    let config = (exec.data_source().as_ref() as &dyn Any).downcast_ref::<FileScanConfig>()?;
    let source = (config.file_source().as_ref() as &dyn Any).downcast_ref::<LogsSource>()?;
    Some((config, source))
}

fn encode_json<T: Serialize>(magic: &[u8], value: &T, buf: &mut Vec<u8>) -> DfResult<()> {
    buf.extend_from_slice(magic);
    serde_json::to_writer(buf, value).map_err(|e| DataFusionError::External(Box::new(e)))
}

fn decode_json<'a, T: Deserialize<'a>>(json: &'a [u8], what: &str) -> DfResult<T> {
    serde_json::from_slice(json)
        .map_err(|e| DataFusionError::Internal(format!("decoding autorevoke's {what}: {e}")))
}

impl LogicalExtensionCodec for LogsCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> DfResult<Extension> {
        self.logical.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.logical.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let Some(json) = buf.strip_prefix(TABLE_MAGIC) else {
            return self
                .logical
                .try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        let spec: TableSpec = decode_json(json, "logs table")?;
        let locations = spec
            .locations
            .iter()
            .map(|l| LogLocation::parse(l))
            .collect::<crate::Result<Vec<_>>>()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        for location in &locations {
            self.check(|a| a.permits(location), &location.to_string())?;
        }
        let state = self.state(spec.state.as_deref(), spec.options)?;
        Ok(Arc::new(CloudFrontTable::decoded(
            locations,
            Arc::clone(&self.aws),
            spec.list_options,
            spec.options,
            state,
            spec.stats_id,
        )))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        let Some(table) = (node.as_ref() as &dyn Any).downcast_ref::<CloudFrontTable>() else {
            return self.logical.try_encode_table_provider(table_ref, node, buf);
        };
        let (locations, list_options, options, state, stats_id) = table.parts();
        let spec = TableSpec {
            locations: locations.iter().map(ToString::to_string).collect(),
            list_options,
            options,
            state: state.map(|s| s.display().to_string()),
            stats_id,
        };
        encode_json(TABLE_MAGIC, &spec, buf)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        match crate::functions::scalar_function(name) {
            Some(udf) => Ok(udf),
            None => self.logical.try_decode_udf(name, buf),
        }
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
        match crate::functions::aggregate_function(name) {
            Some(udaf) => Ok(udaf),
            None => self.logical.try_decode_udaf(name, buf),
        }
    }
}

impl PhysicalExtensionCodec for LogsCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(json) = buf.strip_prefix(EXEC_MAGIC) else {
            return self.physical.try_decode(buf, inputs, ctx, converter);
        };
        let spec: ExecSpec = decode_json(json, "logs scan")?;
        let groups = spec
            .partitions
            .into_iter()
            .map(|p| {
                Ok(PartitionObjects {
                    objects: p
                        .objects
                        .into_iter()
                        .map(|o| {
                            let object = o.object()?;
                            self.check(
                                |a| a.permits_object(object.store_url.as_str(), &object.path),
                                &object.display,
                            )?;
                            Ok(object)
                        })
                        .collect::<DfResult<_>>()?,
                    listing: p.listing,
                }
                .group())
            })
            .collect::<DfResult<Vec<_>>>()?;
        let state = self.state(spec.state.as_deref(), spec.options)?;
        let source = LogsSource::new(
            spec.projection.into(),
            spec.filter,
            spec.options,
            state,
            crate::cloudfront::stats::ScanStats::find(spec.stats_id),
            spec.stats_id,
        )?;
        Ok(source.exec(ObjectStoreUrl::parse(&spec.store_url)?, groups))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some((config, source)) = logs_scan(node.as_ref()) else {
            return self.physical.try_encode(node, buf, converter);
        };
        let partitions = config
            .file_groups
            .iter()
            .map(|group| {
                let mut spec = PartitionSpec {
                    objects: Vec::new(),
                    listing: None,
                };
                for file in group.files() {
                    let part = PartitionObjects::of(file)?;
                    spec.objects.extend(part.objects.iter().map(ObjectSpec::of));
                    if spec.listing.is_none() {
                        spec.listing.clone_from(&part.listing);
                    }
                }
                Ok(spec)
            })
            .collect::<DfResult<Vec<_>>>()?;
        let spec = ExecSpec {
            store_url: config.object_store_url.as_str().to_string(),
            partitions,
            projection: source.projection().to_vec(),
            filter: source.row_filter().clone(),
            options: source.options(),
            state: source.state().map(|s| s.display().to_string()),
            stats_id: source.stats_id(),
        };
        encode_json(EXEC_MAGIC, &spec, buf)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        match crate::functions::scalar_function(name) {
            Some(udf) => Ok(udf),
            None => self.physical.try_decode_udf(name, buf),
        }
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
        match crate::functions::aggregate_function(name) {
            Some(udaf) => Ok(udaf),
            None => self.physical.try_decode_udaf(name, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::physical_plan::collect;
    use datafusion::prelude::{DataFrame, SessionContext};
    use datafusion_proto::bytes::{
        logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };

    use super::*;

    /// The scan with every pushed-down filter and autorevoke's functions.
    const SQL: &str = "SELECT session_id, ip_network(request_ip) AS network, \
        count(DISTINCT pair_key) AS pairs, min(ts) AS first_seen, \
        viewer_evidence(ts, request_ip, uri, pair_key, user_agent_key, referrer_key, country, \
            TIMESTAMP '2026-01-15T19:50:00Z', 30, 3, 2, 2) AS evidence FROM logs \
        WHERE status IN (200, 206) AND bytes > 1024 \
        AND ts >= TIMESTAMP '2026-01-15T19:50:00Z' AND session_id IS NOT NULL \
        GROUP BY 1, 2 ORDER BY 1, 2";

    fn text(batches: &[arrow::array::RecordBatch]) -> String {
        arrow::util::pretty::pretty_format_batches(batches)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_logs_plan_survives_protobuf_with_the_same_rows_and_counts_into_its_scan() {
        let (codec, table) = sample_table();
        let table = Arc::new(table);
        let ctx = SessionContext::new();
        crate::functions::register_in(&ctx);
        ctx.register_table("logs", Arc::clone(&table) as _)
            .expect("table");
        let df = ctx.sql(SQL).await.expect("sql");
        let logical = df.logical_plan().clone();
        let plan = df.create_physical_plan().await.expect("plan");
        let direct = text(
            &collect(Arc::clone(&plan), ctx.task_ctx())
                .await
                .expect("run"),
        );
        assert!(direct.lines().count() > 50, "{direct}");
        assert_eq!(table.stats().snapshot().objects_read, 6);

        // The physical plan, as an executor gets it.
        let bytes = physical_plan_to_bytes_with_extension_codec(plan, &codec).expect("encode");
        let decoded =
            physical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec)
                .expect("decode");
        let again = text(&collect(decoded, ctx.task_ctx()).await.expect("run decoded"));
        assert_eq!(again, direct);
        // In the same process the decoded scan counts into the original one.
        assert_eq!(table.stats().snapshot().objects_read, 12);

        // The logical plan, as a scheduler gets it (it lists and plans the scan itself).
        let bytes = logical_plan_to_bytes_with_extension_codec(&logical, &codec).expect("encode");
        let decoded = logical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec)
            .expect("decode");
        let df = DataFrame::new(ctx.state(), decoded);
        let planned = text(&df.collect().await.expect("run decoded"));
        assert_eq!(planned, direct);
        assert_eq!(table.stats().snapshot().objects_read, 18);
    }

    /// A codec and the `logs` table of `sample-logs/`.
    fn sample_table() -> (LogsCodec, CloudFrontTable) {
        let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
        let location = LogLocation::parse(&sample.display().to_string()).expect("location");
        let aws = Arc::new(AwsAccess::default());
        let table = CloudFrontTable::new(
            vec![location],
            Arc::clone(&aws),
            ListOptions::default(),
            ReadOptions::default(),
        );
        (LogsCodec::new(aws), table)
    }

    /// Rows of every partition of `plan`.
    async fn rows(plan: Arc<dyn ExecutionPlan>, ctx: &SessionContext) -> usize {
        collect(plan, ctx.task_ctx())
            .await
            .expect("run")
            .iter()
            .map(arrow::array::RecordBatch::num_rows)
            .sum()
    }

    #[tokio::test]
    async fn a_task_given_some_partitions_by_the_scheduler_reads_only_their_objects() {
        let (codec, table) = sample_table();
        let ctx = SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_target_partitions(3),
        );
        let scan = table
            .scan(&ctx.state(), Some(&vec![3]), &[], None)
            .await
            .expect("scan");
        assert_eq!(scan.properties().output_partitioning().partition_count(), 3);
        assert_eq!(rows(Arc::clone(&scan), &ctx).await, 21_689);
        // What Ballista's scheduler does before sending a task: keep the task's file groups.
        let mut total = 0;
        for partition in 0..3 {
            let task = ballista_scheduler::state::task_builder::restrict_plan_to_partitions(
                Arc::clone(&scan),
                &[partition],
            )
            .expect("restricted");
            assert_eq!(task.properties().output_partitioning().partition_count(), 1);
            let bytes = physical_plan_to_bytes_with_extension_codec(task, &codec).expect("encode");
            let decoded =
                physical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec)
                    .expect("decode");
            let n = rows(decoded, &ctx).await;
            assert!(n > 0, "partition {partition}");
            total += n;
        }
        assert_eq!(total, 21_689);
    }

    /// A hand-made scan of one local file, as anyone reaching a cluster's ports could send,
    /// with a state folder.
    fn hand_made_scan(file: &std::path::Path, state: Option<String>) -> Vec<u8> {
        let spec = ExecSpec {
            store_url: "file:///".to_string(),
            partitions: vec![PartitionSpec {
                objects: vec![ObjectSpec {
                    store_url: "file:///".to_string(),
                    path: ObjectPath::from_absolute_path(file)
                        .expect("path")
                        .to_string(),
                    size: 10,
                    display: file.display().to_string(),
                    unreadable: None,
                    hour: None,
                    version: String::new(),
                }],
                listing: None,
            }],
            projection: vec![0],
            filter: RowFilter::default(),
            options: ReadOptions::default(),
            state,
            stats_id: 0,
        };
        let mut buf = Vec::new();
        encode_json(EXEC_MAGIC, &spec, &mut buf).expect("encode");
        buf
    }

    #[test]
    fn a_cluster_process_refuses_plans_naming_anything_outside_its_allowed_locations() {
        let aws = Arc::new(AwsAccess::default());
        let dir = tempfile::tempdir().expect("tempdir");
        let allowed_dir = dir.path().join("logs");
        std::fs::create_dir_all(&allowed_dir).expect("mkdir");
        let inside = allowed_dir.join("a.gz");
        std::fs::write(&inside, b"x").expect("write");
        let outside = dir.path().join("secret");
        std::fs::write(&outside, b"x").expect("write");
        let escape = allowed_dir.join("escape.gz");
        std::os::unix::fs::symlink(&outside, &escape).expect("symlink");
        let allowed =
            AllowedLocations::parse(&[allowed_dir.display().to_string()]).expect("allowed");
        let codec = LogsCodec::restricted(Arc::clone(&aws), allowed);
        let ctx = TaskContext::default();
        let converter = datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {};
        let decode = |buf: &[u8]| {
            PhysicalExtensionCodec::try_decode(&codec, buf, &[], &ctx, &converter)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(decode(&hand_made_scan(&inside, None)), Ok(()));
        let refused = |what: &str| {
            Err(format!(
                "Error during planning: refused: the plan names {what}, outside the locations \
                 this process may read (--allow-location)"
            ))
        };
        for file in [
            &outside,
            &escape,
            &std::path::PathBuf::from("/etc/hostname"),
        ] {
            assert_eq!(
                decode(&hand_made_scan(file, None)),
                refused(&file.display().to_string())
            );
        }
        // A state outside them is refused too (it would be written to), and nothing is made.
        let state = dir.path().join("state").display().to_string();
        assert_eq!(
            decode(&hand_made_scan(&inside, Some(state.clone()))),
            refused(&format!("the state {state}"))
        );
        assert!(!dir.path().join("state").exists());
        // The logical plan's table: its locations are checked the same way.
        let spec = TableSpec {
            locations: vec![dir.path().display().to_string()],
            list_options: ListOptions::default(),
            options: ReadOptions::default(),
            state: None,
            stats_id: 0,
        };
        let mut buf = Vec::new();
        encode_json(TABLE_MAGIC, &spec, &mut buf).expect("encode");
        let canonical = std::fs::canonicalize(dir.path()).expect("canonical");
        let err = codec
            .try_decode_table_provider(
                &buf,
                &TableReference::bare("logs"),
                crate::cloudfront::logs_schema(),
                &ctx,
            )
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(err, refused(&canonical.display().to_string()));
        // The client's own codec (and standalone's) plans what it lists: no restriction.
        let open = LogsCodec::new(aws);
        assert!(
            PhysicalExtensionCodec::try_decode(
                &open,
                &hand_made_scan(&outside, None),
                &[],
                &ctx,
                &converter
            )
            .is_ok()
        );
    }

    #[test]
    fn other_nodes_are_left_to_ballista_and_bad_bytes_are_errors() {
        let codec = LogsCodec::new(Arc::new(AwsAccess::default()));
        let ctx = TaskContext::default();
        let schema = crate::cloudfront::logs_schema();
        let table = TableReference::bare("logs");
        let bad = [TABLE_MAGIC, b"{not json"].concat();
        let err = codec
            .try_decode_table_provider(&bad, &table, schema, &ctx)
            .expect_err("bad JSON");
        assert!(
            err.to_string().contains("decoding autorevoke's logs table"),
            "{err}"
        );
        assert_eq!(
            LogicalExtensionCodec::try_decode_udf(&codec, "ip_network", &[])
                .expect("udf")
                .name(),
            "ip_network"
        );
    }
}
