//! Opens the logs a resolved [`ReadPlan`] names: locations are checked (a local path must
//! exist), standard input is spooled to a file, the `--state` store is opened, and the
//! library's [`LogEngine`] is built over them.

use std::path::PathBuf;
use std::sync::Arc;

use autorevoke::aws::{AwsAccess, AwsSettings};
use autorevoke::cloudfront::StateStore;
use autorevoke::{Error, LogEngine, LogLocation, Result, ScanObserver};

use super::groups::AwsArgs;
use super::resolve::{ReadPlan, Resolver};

/// The shared AWS access of a run: flags over `[aws]`.
pub fn aws_access(resolver: &mut Resolver<'_>, flags: &AwsArgs) -> Arc<AwsAccess> {
    let aws = resolver.merge(flags, |c| &c.aws);
    Arc::new(AwsAccess::new(AwsSettings {
        region: aws.region,
        profile: aws.aws_profile,
        endpoint_url: aws.endpoint_url,
        read_timeout: aws.read_timeout.map(std::time::Duration::from_secs),
    }))
}

/// The engine over `plan`'s locations, reaching AWS through `aws`, telling `progress` (when
/// given) about its scans.
pub fn open(
    plan: ReadPlan,
    aws: Arc<AwsAccess>,
    progress: Option<Arc<dyn ScanObserver>>,
) -> Result<LogEngine> {
    let locations = plan
        .locations
        .iter()
        .map(|l| match l.as_str() {
            "-" => LogLocation::parse(&stdin_spool()?.display().to_string()),
            l => LogLocation::parse(l),
        })
        .collect::<Result<Vec<_>>>()?;
    let options = plan.options;
    let state = match &plan.state {
        Some(text) => Some(Arc::new(StateStore::open(
            text,
            Arc::clone(&aws),
            options.format,
            options.realtime_fields,
            options.session_from,
            &locations,
        )?)),
        None => None,
    };
    let engine = LogEngine::with_access(locations, aws, plan.list, options, plan.threads);
    let engine = match state {
        Some(state) => engine.with_state(state),
        None => engine,
    }
    .with_cluster(plan.cluster);
    let engine = match plan.memory_limit {
        Some(bytes) => engine.with_memory_limit(bytes),
        None => engine,
    };
    Ok(match progress {
        Some(observer) => engine.with_observer(observer),
        None => engine,
    })
}

/// Where `-` (standard input) is kept for the run: a log object is read by name, and maybe
/// more than once (`--now latest`), so a pipe is copied to a file first (streamed, never held
/// in memory). [`remove_stdin_spool`] deletes it when the run ends.
static STDIN_SPOOL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Standard input, copied once to a file of its own (`<tmp>/autorevoke-stdin-<pid>/stdin`).
fn stdin_spool() -> Result<PathBuf> {
    if let Some(path) = STDIN_SPOOL.get() {
        return Ok(path.clone());
    }
    let dir = std::env::temp_dir().join(format!("autorevoke-stdin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let path = dir.join("stdin");
    let mut file =
        std::fs::File::create(&path).map_err(Error::io(format!("creating {}", path.display())))?;
    std::io::copy(&mut std::io::stdin().lock(), &mut file)
        .map_err(Error::io("reading the logs from standard input (-)"))?;
    Ok(STDIN_SPOOL.get_or_init(|| path).clone())
}

/// Deletes the copy of standard input, if a location was `-`.
pub fn remove_stdin_spool() {
    if let Some(dir) = STDIN_SPOOL.get().and_then(|p| p.parent()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}
