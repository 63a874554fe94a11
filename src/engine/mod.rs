//! The query engine: a DataFusion session with the CloudFront logs registered as `logs`.
//!
//! A run's queries share one `SessionContext` (one `RuntimeEnv`: memory pool and object
//! stores); each query gets a fresh `logs` table, so the scan statistics it returns are that
//! query's alone.

#[cfg(feature = "cluster")]
pub mod ballista;
pub mod cluster;
#[cfg(feature = "cluster")]
pub mod codec;
pub mod columns;

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::{DateTime, Utc};
use datafusion::common::{ParamValues, ScalarValue};
#[cfg(feature = "cluster")]
use datafusion::execution::context::SessionContext;
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::prelude::SessionConfig;

use crate::aws::AwsAccess;
use crate::cloudfront::{CloudFrontTable, ReadOptions, ScanStats, StateStore, StatsSnapshot};
use crate::engine::cluster::Cluster;
use crate::error::{Error, Result};
use crate::source::{ListOptions, LogLocation};

/// A time as the `logs` table's `ts` type, for a query parameter.
pub fn ts_param(t: &DateTime<Utc>) -> ScalarValue {
    ScalarValue::TimestampSecond(Some(t.timestamp()), Some("UTC".into()))
}

/// Named parameters (`$name`) for a query under `queries/`.
pub fn named_params<const N: usize>(values: [(&str, ScalarValue); N]) -> ParamValues {
    ParamValues::Map(
        values
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect(),
    )
}

/// The name SQL uses for the logs.
pub const LOGS_TABLE: &str = "logs";

/// Watches the scans a query makes, e.g. to draw a progress bar while they run.
pub trait ScanObserver: Send + Sync + std::fmt::Debug {
    /// A query is about to read the logs for `what` (`reading logs`, `finding the newest
    /// row`); `stats` fills in as it does.
    fn scan_started(&self, what: &str, stats: Arc<ScanStats>);
    /// The query has finished (or failed).
    fn scan_finished(&self);
}

/// Runs SQL over CloudFront logs at a set of locations.
#[derive(Debug, Clone)]
pub struct LogEngine {
    locations: Vec<LogLocation>,
    aws: Arc<AwsAccess>,
    list_options: ListOptions,
    options: ReadOptions,
    config: SessionConfig,
    observer: Option<Arc<dyn ScanObserver>>,
    /// `query --from/--to`: the time range `logs` is restricted to.
    bounds: Option<TimeBounds>,
    memory_limit: Option<usize>,
    state: Option<Arc<StateStore>>,
    /// Where queries run.
    cluster: Cluster,
    /// The run's session, made by its first query (see [`LogEngine::run`]).
    session: Arc<RunSession>,
    /// Held while a query makes `logs` its table and plans over it.
    planning: Arc<tokio::sync::Mutex<()>>,
}

/// A lower and an upper time bound, either open.
type TimeBounds = (
    Option<chrono::DateTime<chrono::Utc>>,
    Option<chrono::DateTime<chrono::Utc>>,
);

/// A run's `SessionContext`, made on first use.
#[derive(Default)]
struct RunSession(tokio::sync::OnceCell<Session>);

/// A run's `SessionContext`, and the scheduler its queries go to (on a cluster).
struct Session {
    ctx: SessionContext,
    scheduler: Option<String>,
}

impl std::fmt::Debug for RunSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.0.get().map(|s| s.ctx.session_id());
        f.debug_tuple("RunSession").field(&id).finish()
    }
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
    /// (default: the number of cores plus one).
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
        // One partition more than cores by default: a partition's parser thread waits on its
        // fetches and on the channel to the aggregation, and the extra one keeps both busy
        // (measured: benches/throughput, docs/performance.md).
        let partitions = threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get) + 1
        });
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(partitions.max(1));
        LogEngine {
            locations,
            aws,
            list_options,
            options,
            config,
            observer: None,
            memory_limit: None,
            state: None,
            cluster: Cluster::Local,
            bounds: None,
            session: Arc::default(),
            planning: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The same engine with `logs` holding only the rows from `from` to `to` (both
    /// inclusive; either may be open): `query --from/--to`.
    pub fn with_bounds(
        mut self,
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Self {
        self.bounds = (from.is_some() || to.is_some()).then_some((from, to));
        self
    }

    /// The same engine with queries held to `bytes` of tracked memory: aggregations and sorts
    /// spill to temporary files beyond it (a forensic run over an archive larger than memory).
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = Some(bytes);
        self.session = Arc::default();
        self
    }

    /// The same engine, running its queries on `cluster`.
    pub fn with_cluster(mut self, cluster: Cluster) -> Self {
        self.cluster = cluster;
        self.session = Arc::default();
        self
    }

    /// The same engine, taking objects' rows from the projections kept in `state` (and
    /// keeping new ones) wherever a scan reads only what they hold (`run --state`).
    pub fn with_state(mut self, state: Arc<StateStore>) -> Self {
        self.state = Some(state);
        self
    }

    /// Where projections are kept (`--state`), if anywhere.
    pub fn state(&self) -> Option<&Arc<StateStore>> {
        self.state.as_ref()
    }

    /// Deletes the kept projections no later window will read: those of hours before the
    /// listing of a window starting at `window_from` (its late margin), less a day of slack
    /// for re-runs. Returns how many were deleted (0 without a state).
    pub async fn prune_state(&self, window_from: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let Some(state) = &self.state else {
            return Ok(0);
        };
        let first_listed =
            (window_from.timestamp() - self.list_options.late_margin_s).div_euclid(3600);
        state
            .prune(first_listed - crate::cloudfront::state::SLACK_HOURS)
            .await
    }

    /// The same engine, telling `observer` about every scan.
    pub fn with_observer(mut self, observer: Arc<dyn ScanObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Makes `logs` this query's table and plans `sql` over it (the scan lists the objects
    /// while it is planned), under a lock so that queries sharing the session never plan over
    /// one another's table.
    async fn plan(
        &self,
        ctx: &SessionContext,
        table: &Arc<CloudFrontTable>,
        sql: &str,
        params: Option<ParamValues>,
    ) -> Result<(SchemaRef, Arc<dyn ExecutionPlan>)> {
        let _planning = self.planning.lock().await;
        ctx.deregister_table(LOGS_TABLE)
            .map_err(Error::query("replacing the logs table"))?;
        let logs: Arc<dyn datafusion::catalog::TableProvider> = match self.bounds {
            None => Arc::clone(table) as _,
            // `logs` is the objects' rows within the bounds: a view whose filter the planner
            // pushes into the scan (so the listing is pruned) and applies exactly.
            Some((from, to)) => {
                use datafusion::prelude::{col, lit};
                let mut rows = ctx
                    .read_table(Arc::clone(table) as _)
                    .map_err(Error::query("bounding the logs table"))?;
                if let Some(from) = from {
                    rows = rows
                        .filter(col("ts").gt_eq(lit(ts_param(&from))))
                        .map_err(Error::query("bounding the logs table"))?;
                }
                if let Some(to) = to {
                    rows = rows
                        .filter(col("ts").lt_eq(lit(ts_param(&to))))
                        .map_err(Error::query("bounding the logs table"))?;
                }
                rows.into_view()
            }
        };
        ctx.register_table(LOGS_TABLE, logs)
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
        let plan = df
            .create_physical_plan()
            .await
            .map_err(Error::query("planning the query"))?;
        Ok((schema, plan))
    }

    /// The run's session, made by its first query and shared by the rest: one `RuntimeEnv`
    /// (memory pool, object stores) for the run.
    async fn session(&self) -> Result<&Session> {
        self.session.0.get_or_try_init(|| self.new_session()).await
    }

    async fn new_session(&self) -> Result<Session> {
        let mut config = self.config.clone();
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(bytes) = self.memory_limit {
            // A greedy pool: operators take what they need until the limit, sorts spill
            // beyond it. (A fair pool split the limit between the many spillable
            // consumers, and the partial aggregations, which cannot spill the distinct
            // counts, failed far below it.) The tracking wrapper names the biggest
            // consumers when a query still runs out.
            let pool = TrackConsumersPool::new(
                GreedyMemoryPool::new(bytes),
                std::num::NonZeroUsize::MIN.saturating_add(4),
            );
            runtime = runtime.with_memory_pool(Arc::new(pool));
            // What a sort keeps back for merging its spill files (10 MB by default):
            // an eighth of the limit at most, so small limits leave room to work.
            let reserve = &mut config.options_mut().execution.sort_spill_reservation_bytes;
            *reserve = (*reserve).min(bytes / 8);
        }
        let runtime = runtime
            .build_arc()
            .map_err(Error::query("setting up the memory pool"))?;
        if self.cluster == Cluster::Local {
            let ctx = SessionContext::new_with_config_rt(config, runtime);
            crate::functions::register_in(&ctx);
            return Ok(Session {
                ctx,
                scheduler: None,
            });
        }
        let (ctx, scheduler) = ballista_session(&self.cluster, &self.aws, config, runtime).await?;
        Ok(Session {
            ctx,
            scheduler: Some(scheduler),
        })
    }

    /// Runs `sql` with named parameters (`$name`) bound to `params`.
    pub async fn run(&self, sql: &str, params: Option<ParamValues>) -> Result<QueryOutput> {
        self.run_as("reading logs", sql, params).await
    }

    /// As [`LogEngine::run`], telling the observer that the scan is for `what` (a run may
    /// read the logs more than once: `--now latest` first finds the newest row).
    pub async fn run_as(
        &self,
        what: &str,
        sql: &str,
        params: Option<ParamValues>,
    ) -> Result<QueryOutput> {
        let session = self.session().await?;
        let ctx = &session.ctx;
        let table = Arc::new(
            CloudFrontTable::new(
                self.locations.clone(),
                Arc::clone(&self.aws),
                self.list_options,
                self.options,
            )
            .with_state(self.state.clone()),
        );
        let started = std::time::Instant::now();
        if let Some(observer) = &self.observer {
            observer.scan_started(what, table.stats());
        }
        let result = async {
            let (schema, plan) = self.plan(ctx, &table, sql, params).await?;
            let running = match &self.cluster {
                Cluster::Local => "running the query".to_string(),
                cluster => format!("running the query on the cluster ({cluster})"),
            };
            let batches = datafusion::physical_plan::collect(Arc::clone(&plan), ctx.task_ctx())
                .await
                .map_err(Error::query(running))?;
            // What the scan saw is what its partitions published as metrics: read from the
            // plan here, from the scheduler when the plan ran on a cluster.
            let stats = match &session.scheduler {
                #[cfg(feature = "cluster")]
                Some(url) => ballista::scan_stats(&plan, url, ctx.state().config()).await?,
                #[cfg(not(feature = "cluster"))]
                Some(_) => StatsSnapshot::from_metrics(&plan_metrics(&plan)),
                None => StatsSnapshot::from_metrics(&plan_metrics(&plan)),
            };
            Ok::<_, Error>((schema, batches, stats))
        }
        .await;
        if let Some(observer) = &self.observer {
            observer.scan_finished();
        }
        let (schema, batches, stats) = result?;
        tracing::info!(
            rows = batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "query finished"
        );
        Ok(QueryOutput {
            schema,
            batches,
            stats,
        })
    }

    /// The newest hour any object's key names (hours since the epoch), from a listing alone
    /// (nothing is read); `None` when no key names an hour.
    pub async fn newest_hour(&self) -> Result<Option<i64>> {
        let listing =
            crate::source::select_all(&self.locations, &self.aws, self.list_options, None).await?;
        Ok(listing.objects.iter().filter_map(|o| o.hour).max())
    }

    /// How rows name their sessions (`--session-from`).
    pub fn session_rule(&self) -> crate::session::SessionRule {
        self.options.session_from
    }

    /// The log locations, as messages name them.
    pub fn locations_text(&self) -> String {
        self.locations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Seconds listed on both sides of a window for rows delivered into a neighbouring hour.
    pub fn late_margin_s(&self) -> i64 {
        self.list_options.late_margin_s
    }
}

/// The metrics of every operator of a plan that ran.
fn plan_metrics(plan: &Arc<dyn ExecutionPlan>) -> Vec<MetricsSet> {
    let mut sets = Vec::new();
    let mut stack = vec![Arc::clone(plan)];
    while let Some(node) = stack.pop() {
        sets.extend(node.metrics());
        stack.extend(node.children().into_iter().cloned());
    }
    sets
}

/// A session whose queries Ballista plans and runs (`--cluster standalone` or `df://`), and
/// the scheduler's URL; plans travel through `LogsCodec`.
#[cfg(feature = "cluster")]
async fn ballista_session(
    cluster: &Cluster,
    aws: &Arc<AwsAccess>,
    config: SessionConfig,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> Result<(SessionContext, String)> {
    use ::ballista::prelude::{SessionConfigExt, SessionContextExt};
    use datafusion::execution::SessionStateBuilder;
    let codec = Arc::new(codec::LogsCodec::new(Arc::clone(aws)));
    let config = config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::clone(&codec) as _)
        .with_ballista_physical_extension_codec(codec as _);
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    crate::functions::register_all(&mut state)
        .map_err(Error::query("registering autorevoke's functions"))?;
    let scheduler = match cluster {
        Cluster::Remote { host, port } => format!("http://{host}:{port}"),
        _ => {
            let slots = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
            ballista::start_standalone(&state, slots).await?
        }
    };
    let ctx = SessionContext::remote_with_state(&scheduler, state)
        .await
        .map_err(Error::query(format!(
            "connecting to the scheduler at {scheduler}"
        )))?;
    // The client plans SQL too (the scheduler and executors have it in their sessions).
    crate::functions::register_in(&ctx);
    Ok((ctx, scheduler))
}

/// Without the `cluster` feature there is no Ballista: only `--cluster local`.
#[cfg(not(feature = "cluster"))]
async fn ballista_session(
    cluster: &Cluster,
    _aws: &Arc<AwsAccess>,
    _config: SessionConfig,
    _runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> Result<(SessionContext, String)> {
    Err(Error::Setting {
        setting: "cluster".into(),
        reason: format!(
            "{cluster}: this autorevoke was built without the `cluster` feature (Ballista); \
             only `local` runs here"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_queries_of_a_run_share_one_session_and_each_has_its_own_scan_statistics() {
        let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
        let location = LogLocation::parse(&sample.display().to_string()).expect("location");
        let engine = LogEngine::new(vec![location], ReadOptions::default(), Some(2));
        let sql = "SELECT count(*) AS n FROM logs WHERE status IN (200, 206)";
        let first = engine.run(sql, None).await.expect("first query");
        let session = engine.session.0.get().map(|s| s.ctx.session_id());
        let second = engine.run(sql, None).await.expect("second query");
        assert!(session.is_some());
        assert_eq!(engine.session.0.get().map(|s| s.ctx.session_id()), session);
        assert_eq!(
            (first.stats.objects_read, second.stats.objects_read),
            (6, 6)
        );
        assert_eq!(first.stats.rows_read, 21_689);
        assert_eq!(second.stats.rows_read, 21_689);
        // A clone of the engine is the same run.
        let clone = engine.clone();
        clone.run(sql, None).await.expect("third query");
        assert_eq!(clone.session.0.get().map(|s| s.ctx.session_id()), session);
    }
}
