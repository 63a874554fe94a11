//! `LogsSource`: CloudFront logs as a DataFusion file source, so that a scan is a
//! `DataSourceExec` over a `FileScanConfig`, like a Parquet or CSV scan.
//!
//! A scan's file groups are its partitions. Each holds one `PartitionedFile` that stands for the
//! log objects the partition reads (they travel in the file's extensions; its path names the
//! partition, its size is theirs): the partition reads them one after another with fetches
//! running ahead (`exec::PartitionReader`), which a file-by-file `FileStream` could not do.
//! The store comes from the `RuntimeEnv` by the config's `ObjectStoreUrl` (one config per store
//! the objects are in). Being a `FileScanConfig` is what lets a Ballista scheduler give each
//! task only its own file groups. Each partition publishes what it saw as metrics of the
//! source ([`StatsSnapshot::publish`]), which is how the counts come back from executors.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileGroup, FileOpenFuture, FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan};
use futures::StreamExt;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};

use super::filter::RowFilter;
use super::reader::{PartitionReader, ReadOptions, spread};
use super::state::StateStore;
use super::stats::{MetricsPublisher, ScanStats, StatsSnapshot};
use crate::source::LogObject;

/// What the file type of a logs scan is called (in plans and `EXPLAIN`).
pub const FILE_TYPE: &str = "cloudfront";

/// The log objects one partition reads, carried in the extensions of its `PartitionedFile`.
#[derive(Debug, Clone, Default)]
pub struct PartitionObjects {
    /// The objects, in the order they are read.
    pub objects: Vec<LogObject>,
    /// What listing found, carried by one partition of a scan so that it is counted once
    /// however the partitions are spread over tasks and machines.
    pub listing: Option<ListingCounts>,
}

/// What listing found for a scan (made where the scan is planned).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingCounts {
    /// Keys found under the locations.
    pub keys: u64,
    /// List requests made.
    pub requests: u64,
    /// Notes for the report (keys in more than one layout).
    pub notes: Vec<String>,
}

/// How a scan reads its objects: everything but which objects.
#[derive(Debug, Clone)]
pub struct LogsSource {
    /// The columns read (positions in the full logs schema).
    projection: Arc<[usize]>,
    /// The projected schema (what the scan returns).
    table_schema: TableSchema,
    filter: Arc<RowFilter>,
    /// Where the scan's counters are, in the process that planned it (or a fresh one).
    stats: Arc<ScanStats>,
    /// The id of `stats` ([`ScanStats::find`]), for codecs.
    stats_id: u64,
    options: ReadOptions,
    /// With `--state`, when it serves this scan: where projections of objects are kept.
    state: Option<Arc<StateStore>>,
    batch_size: usize,
    metrics: ExecutionPlanMetricsSet,
}

impl LogsSource {
    /// A source reading the `projection` columns of rows that may pass `filter`, counting into
    /// `stats` (found again by `stats_id` in this process).
    pub fn new(
        projection: Arc<[usize]>,
        filter: RowFilter,
        options: ReadOptions,
        state: Option<Arc<StateStore>>,
        stats: Arc<ScanStats>,
        stats_id: u64,
    ) -> DfResult<Self> {
        let schema = Arc::new(super::fields::logs_schema().project(&projection)?);
        Ok(LogsSource {
            projection,
            table_schema: TableSchema::from(schema),
            filter: Arc::new(filter),
            stats,
            stats_id,
            options,
            state,
            batch_size: 8192,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The columns read, by position in the full logs schema.
    pub fn projection(&self) -> &[usize] {
        &self.projection
    }

    /// The pushed-down row filter.
    pub fn row_filter(&self) -> &RowFilter {
        &self.filter
    }

    /// How objects are read.
    pub fn options(&self) -> ReadOptions {
        self.options
    }

    /// Where projections are kept, when the state serves this scan.
    pub fn state(&self) -> Option<&Arc<StateStore>> {
        self.state.as_ref()
    }

    /// The id of the scan's counters.
    pub fn stats_id(&self) -> u64 {
        self.stats_id
    }

    /// The plan reading `objects` in up to `target_partitions` partitions per store; `listing`
    /// travels with the first partition. One `DataSourceExec` per store (a union of them when
    /// the objects are in several).
    pub fn plan(
        self,
        objects: Vec<LogObject>,
        listing: ListingCounts,
        target_partitions: usize,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut by_store: BTreeMap<String, (ObjectStoreUrl, Vec<LogObject>)> = BTreeMap::new();
        for object in objects {
            by_store
                .entry(object.store_url.as_str().to_string())
                .or_insert_with(|| (object.store_url.clone(), Vec::new()))
                .1
                .push(object);
        }
        let mut listing = Some(listing);
        let mut stores: Vec<(ObjectStoreUrl, Vec<Vec<LogObject>>)> = by_store
            .into_values()
            .map(|(url, objects)| (url, spread(objects, target_partitions)))
            .collect();
        if stores.is_empty() {
            // Nothing to read: one empty partition still carries the listing's counts.
            stores.push((ObjectStoreUrl::local_filesystem(), vec![Vec::new()]));
        }
        let mut plans = Vec::with_capacity(stores.len());
        for (url, partitions) in stores {
            let groups = partitions
                .into_iter()
                .map(|objects| {
                    PartitionObjects {
                        objects,
                        listing: listing.take(),
                    }
                    .group()
                })
                .collect();
            plans.push(self.clone().fresh().exec(url, groups));
        }
        if plans.len() == 1 {
            Ok(plans.remove(0))
        } else {
            UnionExec::try_new(plans)
        }
    }

    /// The scan of `groups` (each a partition's file) in the store at `url`.
    pub fn exec(self, url: ObjectStoreUrl, groups: Vec<FileGroup>) -> Arc<dyn ExecutionPlan> {
        let config = FileScanConfigBuilder::new(url, Arc::new(self))
            .with_file_groups(groups)
            .build();
        DataSourceExec::from_data_source(config)
    }

    /// The same source with metrics of its own (each scan reports its own partitions').
    fn fresh(mut self) -> Self {
        self.metrics = ExecutionPlanMetricsSet::new();
        self
    }
}

impl PartitionObjects {
    /// The `PartitionedFile` standing for these objects.
    pub fn file(self) -> PartitionedFile {
        let size = self.objects.iter().map(|o| o.size).sum();
        let name = match self.objects.first() {
            Some(first) => format!("{} log objects from {}", self.objects.len(), first.path),
            None => "no log objects".to_string(),
        };
        let mut file = PartitionedFile::new(name, size);
        file.extensions.insert(self);
        file
    }

    /// The file group (a partition) of these objects.
    pub fn group(self) -> FileGroup {
        FileGroup::new(vec![self.file()])
    }

    /// The objects a partition's file stands for.
    pub fn of(file: &PartitionedFile) -> DfResult<Arc<PartitionObjects>> {
        file.extensions
            .get_arc::<PartitionObjects>()
            .ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "{} is not a partition of a CloudFront logs scan",
                    file.object_meta.location
                ))
            })
    }
}

impl FileSource for LogsSource {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> DfResult<Arc<dyn FileOpener>> {
        Ok(Arc::new(LogsOpener {
            source: self.clone(),
            store: object_store,
            partition,
            partitions: base_config.file_groups.len(),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(LogsSource {
            batch_size,
            ..self.clone()
        })
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        FILE_TYPE
    }

    fn fmt_extra(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, ", filter={:?}", self.filter)?;
        if self.state.is_some() {
            write!(f, ", state=kept")?;
        }
        Ok(())
    }

    /// The source holds no physical expressions (its filter is its own).
    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    /// Objects are not split: a gzip object is read from its start.
    fn supports_repartitioning(&self) -> bool {
        false
    }
}

/// Reads the objects of one partition of a scan.
struct LogsOpener {
    source: LogsSource,
    store: Arc<dyn ObjectStore>,
    partition: usize,
    /// The partitions of this scan (they share its fetch concurrency).
    partitions: usize,
}

impl FileOpener for LogsOpener {
    fn open(&self, file: PartitionedFile) -> DfResult<FileOpenFuture> {
        let part = PartitionObjects::of(&file)?;
        let source = &self.source;
        let mut builder = RecordBatchReceiverStreamBuilder::new(
            Arc::clone(source.table_schema.table_schema()),
            2,
        );
        // The partition counts into its own counters (and through them into the scan's), and
        // publishes them as the source's metrics when done.
        let stats = Arc::new(ScanStats::part_of(Arc::clone(&source.stats)));
        let reader = PartitionReader::new(
            builder.tx(),
            Arc::clone(&self.store),
            Arc::clone(&source.projection),
            Arc::clone(source.table_schema.table_schema()),
            Arc::clone(&source.filter),
            source.state.clone(),
            Arc::clone(&stats),
            source.options,
            source.batch_size,
            (source.options.concurrency / self.partitions.max(1)).max(1),
        );
        let publisher = Arc::new(MetricsPublisher::new(
            stats,
            source.metrics.clone(),
            self.partition,
        ));
        let reader = reader.with_publisher(Arc::clone(&publisher));
        if let Some(listing) = &part.listing {
            StatsSnapshot {
                objects_listed: listing.keys,
                list_requests: listing.requests,
                notes: listing.notes.clone(),
                ..StatsSnapshot::default()
            }
            .publish(&source.metrics, self.partition);
        }
        builder.spawn(async move {
            let result = reader.run(part.objects.clone()).await;
            // What the last object added when the partition stopped on it (strict mode).
            publisher.publish();
            result
        });
        let stream = builder.build();
        Ok(Box::pin(async move { Ok(stream.boxed()) }))
    }
}
