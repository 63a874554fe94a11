//! The query engine: a DataFusion session with the CloudFront logs registered as `logs`.
//!
//! Each query gets a fresh `logs` table, so the scan statistics it returns are that query's
//! alone.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::ParamValues;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::SessionConfig;

use crate::aws::AwsAccess;
use crate::cloudfront::{CloudFrontTable, ReadOptions, StatsSnapshot};
use crate::error::{Error, Result};
use crate::location::{ListOptions, LogLocation};

/// The name SQL uses for the logs.
pub const LOGS_TABLE: &str = "logs";

/// Runs SQL over CloudFront logs at a set of locations.
#[derive(Debug, Clone)]
pub struct LogEngine {
    locations: Vec<LogLocation>,
    aws: Arc<AwsAccess>,
    list_options: ListOptions,
    options: ReadOptions,
    config: SessionConfig,
}

/// The result of one query, with what its scan saw.
#[derive(Debug)]
pub struct QueryOutput {
    /// The result's schema (also when there are no rows).
    pub schema: SchemaRef,
    /// The result rows.
    pub batches: Vec<RecordBatch>,
    /// What reading the logs saw.
    pub stats: StatsSnapshot,
}

impl LogEngine {
    /// An engine over local `locations` with default listing; `threads` bounds parallelism
    /// (default: all cores).
    pub fn new(locations: Vec<LogLocation>, options: ReadOptions, threads: Option<usize>) -> Self {
        Self::with_access(
            locations,
            Arc::new(AwsAccess::default()),
            ListOptions::default(),
            options,
            threads,
        )
    }

    /// An engine over `locations`, reaching S3 through `aws` and listing with `list_options`.
    pub fn with_access(
        locations: Vec<LogLocation>,
        aws: Arc<AwsAccess>,
        list_options: ListOptions,
        options: ReadOptions,
        threads: Option<usize>,
    ) -> Self {
        let mut config = SessionConfig::new().with_information_schema(true);
        if let Some(n) = threads {
            config = config.with_target_partitions(n.max(1));
        }
        LogEngine {
            locations,
            aws,
            list_options,
            options,
            config,
        }
    }

    /// Runs `sql` with named parameters (`$name`) bound to `params`.
    pub async fn run(&self, sql: &str, params: Option<ParamValues>) -> Result<QueryOutput> {
        let ctx = SessionContext::new_with_config(self.config.clone());
        let table = Arc::new(CloudFrontTable::new(
            self.locations.clone(),
            Arc::clone(&self.aws),
            self.list_options,
            self.options,
        ));
        ctx.register_table(LOGS_TABLE, Arc::clone(&table) as _)
            .map_err(Error::query("registering the logs table"))?;
        let mut df = ctx
            .sql(sql)
            .await
            .map_err(Error::query("planning the query"))?;
        if let Some(params) = params {
            df = df
                .with_param_values(params)
                .map_err(Error::query("binding the query's parameters"))?;
        }
        let schema = Arc::clone(df.schema().inner());
        let batches = df
            .collect()
            .await
            .map_err(Error::query("running the query"))?;
        Ok(QueryOutput {
            schema,
            batches,
            stats: table.stats().snapshot(),
        })
    }
}
