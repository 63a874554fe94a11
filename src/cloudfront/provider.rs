//! `CloudFrontTable`: CloudFront logs at some locations as a DataFusion table (`logs`).
//!
//! A plain `TableProvider` rather than a `ListingTable`: CloudFront's dated and flat layouts
//! are not hive partitions, and the scan must count failed objects and malformed lines.
//! `scan` lists the objects a time filter needs (the only I/O of planning; see
//! [`crate::layout`]) and plans a `DataSourceExec` reading them (see [`LogsSource`]);
//! filters on `ts`, `status`, `bytes` and `session_id` are pushed into the parser (`Inexact`).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::fields::logs_schema;
use super::filter::RowFilter;
use super::reader::ReadOptions;
use super::source::{ListingCounts, LogsSource};
use super::state::StateStore;
use super::stats::ScanStats;
use crate::aws::AwsAccess;
use crate::source::layout::HourRange;
use crate::source::{ListOptions, LogLocation, select_all};

/// CloudFront standard logs at a set of locations, queryable with SQL.
#[derive(Debug)]
pub struct CloudFrontTable {
    locations: Vec<LogLocation>,
    aws: Arc<AwsAccess>,
    list_options: ListOptions,
    options: ReadOptions,
    stats: Arc<ScanStats>,
    /// The id of `stats`, by which a decoded plan finds them again ([`ScanStats::find`]).
    stats_id: u64,
    state: Option<Arc<StateStore>>,
}

impl CloudFrontTable {
    /// A table over the logs at `locations`.
    pub fn new(
        locations: Vec<LogLocation>,
        aws: Arc<AwsAccess>,
        list_options: ListOptions,
        options: ReadOptions,
    ) -> Self {
        let (stats_id, stats) = ScanStats::registered();
        CloudFrontTable {
            locations,
            aws,
            list_options,
            options,
            stats,
            stats_id,
            state: None,
        }
    }

    /// The same table, taking objects' rows from the projections kept in `state` when a scan
    /// can be answered from them (and keeping projections of the objects it reads).
    pub fn with_state(mut self, state: Option<Arc<StateStore>>) -> Self {
        self.state = state;
        self
    }

    /// What a codec needs to make this table again elsewhere.
    #[cfg(feature = "cluster")]
    pub(crate) fn parts(
        &self,
    ) -> (
        &[LogLocation],
        ListOptions,
        ReadOptions,
        Option<&Arc<StateStore>>,
        u64,
    ) {
        (
            &self.locations,
            self.list_options,
            self.options,
            self.state.as_ref(),
            self.stats_id,
        )
    }

    /// The table a codec decoded: its scans count into the scan `stats_id` when it is in
    /// this process.
    #[cfg(feature = "cluster")]
    pub(crate) fn decoded(
        locations: Vec<LogLocation>,
        aws: Arc<AwsAccess>,
        list_options: ListOptions,
        options: ReadOptions,
        state: Option<Arc<StateStore>>,
        stats_id: u64,
    ) -> Self {
        CloudFrontTable {
            locations,
            aws,
            list_options,
            options,
            stats: ScanStats::find(stats_id),
            stats_id,
            state,
        }
    }

    /// The counters of every scan of this table so far.
    pub fn stats(&self) -> Arc<ScanStats> {
        Arc::clone(&self.stats)
    }
}

#[async_trait]
impl TableProvider for CloudFrontTable {
    fn schema(&self) -> SchemaRef {
        logs_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if RowFilter::understands(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let indices: Arc<[usize]> = match projection {
            Some(p) => p.as_slice().into(),
            None => (0..logs_schema().fields().len()).collect(),
        };
        let filter = RowFilter::from_exprs(filters);
        // Only the hours a time filter with a lower bound can need are listed (layout
        // pruning); without an upper bound, every hour from there on.
        let hours = (filter.ts.lo != i64::MIN).then(|| {
            HourRange::around(filter.ts.lo, filter.ts.hi, self.list_options.late_margin_s)
        });
        let listing = select_all(&self.locations, &self.aws, self.list_options, hours)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        // The plan names objects by store URL; the stores are the query's.
        for (url, store) in &listing.stores {
            state
                .runtime_env()
                .register_object_store(url.as_ref(), Arc::clone(store));
        }
        let selected_bytes = listing.objects.iter().map(|o| o.size).sum();
        for note in &listing.notes {
            self.stats.add_note(note.clone());
        }
        self.stats.add_listing(
            listing.keys_listed,
            listing.list_requests,
            listing.objects.len() as u64,
            selected_bytes,
        );
        tracing::info!(
            objects = listing.objects.len(),
            bytes = selected_bytes,
            keys_listed = listing.keys_listed,
            list_requests = listing.list_requests,
            "listed the log objects to read"
        );
        let kept = self
            .state
            .clone()
            .filter(|_| StateStore::serves(&indices, &filter));
        let counts = ListingCounts {
            keys: listing.keys_listed,
            requests: listing.list_requests,
            notes: listing.notes,
        };
        LogsSource::new(
            indices,
            filter,
            self.options,
            kept,
            Arc::clone(&self.stats),
            self.stats_id,
        )?
        .plan(listing.objects, counts, state.config().target_partitions())
    }
}
