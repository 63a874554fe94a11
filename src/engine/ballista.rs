//! Apache DataFusion Ballista (the `cluster` feature): the standalone cluster, `autorevoke
//! scheduler` and `autorevoke executor`, and a scan's counts read back from a job.
//!
//! One binary is client, scheduler and executor, so all three have the same codec
//! ([`LogsCodec`]) and the same functions (crate::functions). Executors reach S3 through the default
//! AWS credential chain of their machine ([`LogStores`]). A scan's counts come back from the
//! executors as the metrics of its partitions, read from the scheduler when the job is done
//! ([`scan_stats`]).

use std::sync::Arc;

use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{GetJobMetricsParams, OperatorMetricsSet};
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use datafusion::execution::SessionState;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::LogicalPlanNode;
use object_store::ObjectStore;
use url::Url;

use super::cluster::{ExecutorOptions, SchedulerOptions};
use crate::aws::AwsAccess;
use crate::cloudfront::StatsSnapshot;
use crate::engine::codec::LogsCodec;
use crate::error::{Error, Result};

fn ballista_error(context: &str) -> impl FnOnce(ballista_core::error::BallistaError) -> Error + '_ {
    move |e| Error::Cluster(format!("{context}: {e}"))
}

/// Starts a Ballista scheduler and one executor with `slots` task slots in this process, both
/// planning and running with `state` (its codecs, function and stores). Returns the
/// scheduler's URL.
pub(crate) async fn start_standalone(state: &SessionState, slots: usize) -> Result<String> {
    let address = ballista_scheduler::standalone::new_standalone_scheduler_from_state(state)
        .await
        .map_err(ballista_error("starting the standalone scheduler"))?;
    let url = format!("http://localhost:{}", address.port());
    let mut attempts = 0;
    let scheduler = loop {
        match SchedulerGrpcClient::connect(url.clone()).await {
            Ok(client) => break client,
            Err(e) if attempts >= 50 => {
                return Err(Error::Cluster(format!(
                    "connecting to the standalone scheduler at {url}: {e}"
                )));
            }
            Err(_) => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    ballista_executor::new_standalone_executor_from_state(scheduler, slots, state)
        .await
        .map_err(ballista_error("starting the standalone executor"))?;
    Ok(url)
}

/// What a scan of the logs saw, when its query ran on the cluster whose scheduler is at
/// `scheduler_url`: the counters its partitions published as metrics, wherever they ran.
pub(crate) async fn scan_stats(
    plan: &Arc<dyn ExecutionPlan>,
    scheduler_url: &str,
    config: &SessionConfig,
) -> Result<StatsSnapshot> {
    let job_id = distributed_job(plan)
        .ok_or_else(|| Error::Cluster("the query ran without a Ballista job".into()))?;
    let size = config.ballista_config().grpc_client_max_message_size();
    let mut scheduler = SchedulerGrpcClient::connect(scheduler_url.to_string())
        .await
        .map_err(|e| {
            Error::Cluster(format!(
                "connecting to the scheduler at {scheduler_url}: {e}"
            ))
        })?
        .max_decoding_message_size(size)
        .max_encoding_message_size(size);
    let metrics = scheduler
        .get_job_metrics(GetJobMetricsParams {
            job_id: job_id.clone(),
        })
        .await
        .map_err(|e| Error::Cluster(format!("reading the metrics of job {job_id}: {e}")))?
        .into_inner();
    let sets = metrics
        .stages
        .into_iter()
        .flat_map(|stage| stage.operators)
        .map(|operator| {
            let set: std::result::Result<MetricsSet, _> = OperatorMetricsSet {
                metrics: operator.metrics,
            }
            .try_into();
            set.map_err(|e| Error::Cluster(format!("decoding the metrics of job {job_id}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(StatsSnapshot::from_metrics(&sets))
}

/// The id of the Ballista job a finished plan ran as.
fn distributed_job(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    if let Some(exec) = (plan.as_ref() as &dyn std::any::Any)
        .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
    {
        return exec.job_id().map(|id| id.to_string());
    }
    plan.children().into_iter().find_map(distributed_job)
}

/// The object stores of an executor: `s3://bucket` stores made on first use from the AWS
/// settings and credential chain of the executor's machine; local files as DataFusion's.
#[derive(Debug)]
pub struct LogStores {
    aws: Arc<AwsAccess>,
    inner: DefaultObjectStoreRegistry,
}

impl LogStores {
    /// A registry making S3 stores through `aws` (whose configuration must be loaded).
    pub fn new(aws: Arc<AwsAccess>) -> Self {
        LogStores {
            aws,
            inner: DefaultObjectStoreRegistry::new(),
        }
    }
}

impl ObjectStoreRegistry for LogStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.inner.get_store(url) {
            return Ok(store);
        }
        match (url.scheme(), url.host_str()) {
            ("s3", Some(bucket)) => {
                let store = self
                    .aws
                    .s3_store_now(bucket)
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                self.inner.register_store(url, Arc::clone(&store));
                Ok(store)
            }
            _ => self.inner.get_store(url),
        }
    }
}

/// A session builder for a scheduler or executor: Ballista's, with autorevoke's functions.
fn session_with_udf(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let mut state = ballista_core::utils::default_session_builder(config)?;
    crate::functions::register_all(&mut state)?;
    Ok(state)
}

/// Runs a Ballista scheduler with autorevoke's codec and function until it is stopped.
pub async fn serve_scheduler(options: SchedulerOptions, aws: Arc<AwsAccess>) -> Result<()> {
    let codec = Arc::new(LogsCodec::restricted(aws, options.allowed));
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options
            .external_host
            .unwrap_or_else(|| options.bind.ip().to_string()),
        override_logical_codec: Some(Arc::clone(&codec) as _),
        override_physical_codec: Some(codec as _),
        ..SchedulerConfig::default()
    };
    let config = config.with_override_session_builder(Arc::new(session_with_udf));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista_error("setting up the scheduler"))?;
    ballista_scheduler::scheduler_process::start_server(cluster, options.bind, Arc::new(config))
        .await
        .map_err(ballista_error("running the scheduler"))
}

/// Runs a Ballista executor with autorevoke's codec, function and S3 access until it is
/// stopped.
pub async fn serve_executor(options: ExecutorOptions, aws: Arc<AwsAccess>) -> Result<()> {
    // The registry makes S3 stores without waiting, so the SDK configuration is loaded now.
    aws.config().await;
    let codec = Arc::new(LogsCodec::restricted(Arc::clone(&aws), options.allowed));
    let stores = Arc::new(LogStores::new(aws));
    let runtime: RuntimeProducer = Arc::new(move |_: &SessionConfig| {
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&stores) as _)
            .build_arc()
    });
    let config_producer: ConfigProducer =
        Arc::new(|| SessionConfig::new_with_ballista().with_information_schema(true));
    // Every function DataFusion has (nested ones too: `array_distinct`), and autorevoke's.
    let mut state = datafusion::execution::SessionStateBuilder::new()
        .with_default_features()
        .build();
    crate::functions::register_all(&mut state)
        .map_err(|e| Error::Cluster(format!("registering autorevoke's functions: {e}")))?;
    let functions = BallistaFunctionRegistry::from(&state);
    let config = ExecutorProcessConfig {
        scheduler_host: options.scheduler.0,
        scheduler_port: options.scheduler.1,
        bind_host: options.bind.ip().to_string(),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        external_host: options.external_host,
        vcores: options.slots.unwrap_or(0),
        work_dir: options.work_dir,
        override_logical_codec: Some(Arc::clone(&codec) as _),
        override_physical_codec: Some(codec as _),
        override_function_registry: Some(Arc::new(functions)),
        override_runtime_producer: Some(runtime),
        override_config_producer: Some(config_producer),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(ballista_error("running the executor"))
}
