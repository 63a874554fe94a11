//! Command-line definitions: raw flags (clap), merged with the config file (flags win) into the
//! library's checked settings. No logic beyond wiring lives here.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use autorevoke::aws::{AwsAccess, AwsSettings};
use autorevoke::cloudfront::{ReadOptions, RealtimeFields, SessionRule, StateStore};
use autorevoke::config::Config;
use autorevoke::job::{RunOptions, WafTarget};
use autorevoke::layout::Layout;
use autorevoke::location::ListOptions;
use autorevoke::report::{Format, QueryFormat, RunFormat};
use autorevoke::score::{Now, Profile, ScoreParams, Weights, WindowSpec};
use autorevoke::{Error, LogEngine, LogLocation, Result, ScanObserver};

/// Finds shared (compromised) video playback sessions in CloudFront access logs and revokes them.
#[derive(Debug, Parser)]
#[command(name = "autorevoke", version, about, max_term_width = 100)]
pub struct Cli {
    /// A TOML file holding any option of any command (see autorevoke.example.toml); flags
    /// override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print nothing on stderr but a fatal error: no progress bar, no warnings (the exit
    /// code still tells partial input).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Structured logs on stderr: -v what the run does (listing, queries, writes), -vv every
    /// object and request, -vvv other crates too. Replaces the progress bar.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// How chatty stderr is.
    pub fn verbosity(&self) -> crate::progress::Verbosity {
        crate::progress::Verbosity {
            quiet: self.quiet,
            verbose: self.verbose,
        }
    }

    /// The config file's contents (empty without `--config`).
    pub fn load_config(&self) -> Result<Config> {
        match &self.config {
            Some(path) => Config::load(path),
            None => Ok(Config::default()),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score every session of a window and report the flagged ones (a dry run: writes only to
    /// stdout or --output).
    Score(ScoreArgs),
    /// The scheduled job: score the window and write one AUTO item per flagged session to the
    /// revocation table (never replacing a MANUAL item); optionally compile the WAF rule group.
    Run(Box<RunArgs>),
    /// Revoke sessions by hand: write MANUAL items.
    Revoke(RevokeArgs),
    /// Lift revocations (a false positive): the sessions' rules go at the next compile, and
    /// `run` leaves them alone for a while (--for) even when it flags them again.
    Unrevoke(UnrevokeArgs),
    /// The revocation table's items.
    #[command(subcommand)]
    Revocations(RevocationsCommand),
    /// The WAF rule group.
    #[command(subcommand)]
    Waf(WafCommand),
    /// The CloudFront KeyValueStore revocation list.
    #[command(subcommand)]
    Kvs(KvsCommand),
    /// Create the revocation table and the WAF rule group when they do not exist.
    Init(InitArgs),
    /// Explain one session's score: p50, each component with its inputs, its IPs, user agents
    /// and referers, and the rows each rule dropped. Works under the threshold too.
    Explain(ExplainArgs),
    /// Score a window and compare with a truth file (as `synth` writes): precision, recall,
    /// and the false positives grouped by cause.
    Evaluate(EvaluateArgs),
    /// Run any SQL over the logs, as the table `logs` (forensics).
    Query(QueryArgs),
    /// Write realistic CloudFront logs with planted shared sessions, and their truth file.
    Synth(SynthArgs),
    /// Run a Ballista scheduler for `--cluster df://HOST:PORT` (it plans the queries and
    /// hands their tasks to the executors).
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor of a scheduler (it reads the logs and runs the tasks).
    Executor(ExecutorArgs),
    /// Score CloudFront real-time logs from a Kinesis data stream continuously: every
    /// --every, the window of the last --lookback minutes of event time is scored and written
    /// as `run` does (docs/realtime.md).
    Watch(Box<crate::cli_watch::WatchArgs>),
}

/// `autorevoke scheduler`
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// The address to listen on for clients and executors.
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    pub bind: std::net::SocketAddr,
    /// The host name others reach it by, when not the bind address.
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// A log location (local folder or file, s3://bucket/prefix) or --state location that
    /// the plans it is sent may name; repeat for each. Plans naming anything else are
    /// refused: whoever reaches the cluster's ports can send a plan.
    #[arg(long = "allow-location", value_name = "LOCATION", required = true)]
    pub allow_location: Vec<String>,
    /// AWS access (the scheduler lists the logs).
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `autorevoke executor`
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler.
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,
    /// The address its Arrow Flight service listens on (results and shuffles).
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    pub bind: std::net::SocketAddr,
    /// Its gRPC port, on the bind host.
    #[arg(long, default_value_t = 50052, value_name = "PORT")]
    pub grpc_port: u16,
    /// The host name the scheduler, other executors and clients reach it by, when not the
    /// bind address.
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Tasks it runs at once [default: its cores].
    #[arg(long, value_name = "N")]
    pub slots: Option<usize>,
    /// Where it keeps shuffle files [default: a temporary directory].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// A log location (local folder or file, s3://bucket/prefix) or --state location that
    /// the plans it is sent may name; repeat for each. Plans naming anything else are
    /// refused: whoever reaches the cluster's ports can send a plan.
    #[arg(long = "allow-location", value_name = "LOCATION", required = true)]
    pub allow_location: Vec<String>,
    /// AWS access (the executor reads the logs).
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl SchedulerArgs {
    /// The scheduler's settings.
    pub fn options(&self) -> Result<autorevoke::cluster::SchedulerOptions> {
        Ok(autorevoke::cluster::SchedulerOptions {
            bind: self.bind,
            external_host: self.external_host.clone(),
            allowed: allowed_locations(&self.allow_location)?,
        })
    }
}

impl ExecutorArgs {
    /// The executor's settings.
    pub fn options(&self) -> Result<autorevoke::cluster::ExecutorOptions> {
        let scheduler =
            autorevoke::cluster::host_port(&self.scheduler).ok_or_else(|| Error::Setting {
                setting: "--scheduler",
                reason: format!("{:?}: expected HOST:PORT", self.scheduler),
            })?;
        Ok(autorevoke::cluster::ExecutorOptions {
            scheduler,
            bind: self.bind,
            grpc_port: self.grpc_port,
            external_host: self.external_host.clone(),
            slots: self.slots,
            work_dir: self.work_dir.as_ref().map(|d| d.display().to_string()),
            allowed: allowed_locations(&self.allow_location)?,
        })
    }
}

/// The `--allow-location` values of a cluster process, resolved.
fn allowed_locations(texts: &[String]) -> Result<autorevoke::location::AllowedLocations> {
    autorevoke::location::AllowedLocations::parse(texts).map_err(|e| Error::Setting {
        setting: "--allow-location",
        reason: e.to_string(),
    })
}

/// `autorevoke waf ...`
#[derive(Debug, Subcommand)]
pub enum WafCommand {
    /// Compile the revocation table into the rule group: MANUAL newest first, then AUTO by
    /// score, within capacity; an unchanged list is not written.
    Compile(WafCompileArgs),
}

/// `autorevoke kvs ...`
#[derive(Debug, Subcommand)]
pub enum KvsCommand {
    /// Publish the revocation table to a CloudFront KeyValueStore as keys `<prefix><id>`,
    /// selected as `waf compile` selects, within the store's size; only the difference is
    /// written, and keys of other prefixes are never touched.
    Publish(KvsPublishArgs),
}

/// The KeyValueStore options shared by `kvs publish` and `run --kvs-arn`.
#[derive(Debug, Args)]
pub struct KvsArgs {
    /// The CloudFront KeyValueStore's ARN (arn:aws:cloudfront::ACCOUNT:key-value-store/ID).
    #[arg(long, value_name = "ARN")]
    pub kvs_arn: Option<String>,
    /// Keys are this prefix and the session id; keys without it are never read or changed
    /// [default: revoked:].
    #[arg(long, value_name = "PREFIX")]
    pub key_prefix: Option<String>,
    /// Most bytes (keys and values) the revoked sessions may take; lower-priority sessions
    /// beyond it are left out and counted [default: 5 MB less what other keys use].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bytes: Option<usize>,
}

impl KvsArgs {
    /// The store to publish into, when one is named (or `[kvs] publish_after_run` asks for
    /// the configured one with `after_run`), with `retention` and `allow_mass_unblock`.
    pub fn target(
        &self,
        cfg: &Config,
        retention: Option<u32>,
        allow_mass_unblock: bool,
        after_run: bool,
    ) -> Result<Option<autorevoke::job::KvsTarget>> {
        let k = &cfg.kvs;
        let wanted = self.kvs_arn.is_some() || !after_run || k.publish_after_run.unwrap_or(false);
        if !wanted {
            return Ok(None);
        }
        let kvs_arn = self
            .kvs_arn
            .clone()
            .or_else(|| k.arn.clone())
            .ok_or(Error::Setting {
                setting: "--kvs-arn",
                reason: "give the KeyValueStore's ARN (or [kvs] arn in --config)".into(),
            })?;
        let key_prefix = self
            .key_prefix
            .clone()
            .or_else(|| k.key_prefix.clone())
            .unwrap_or_else(|| autorevoke::kvs::DEFAULT_KEY_PREFIX.to_string());
        autorevoke::kvs::check_prefix(&key_prefix).map_err(|reason| Error::Setting {
            setting: "--key-prefix",
            reason,
        })?;
        let max_bytes = match (self.max_bytes, &k.max_bytes) {
            (Some(bytes), _) => Some(bytes as u64),
            (None, Some(text)) => Some(parse_size(text).map_err(|reason| Error::Setting {
                setting: "[kvs] max_bytes",
                reason,
            })? as u64),
            (None, None) => None,
        };
        let retention_minutes = match retention.or(k.retention_minutes).unwrap_or(30) {
            0 => {
                return Err(Error::Setting {
                    setting: "--retention",
                    reason: "0 minutes would publish no AUTO item: at least 1".into(),
                });
            }
            r => r,
        };
        Ok(Some(autorevoke::job::KvsTarget {
            kvs_arn,
            key_prefix,
            retention_minutes,
            max_bytes,
            allow_mass_unblock,
        }))
    }
}

/// `autorevoke kvs publish`.
#[derive(Debug, Args)]
pub struct KvsPublishArgs {
    /// The DynamoDB revocation table.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    #[command(flatten)]
    pub kvs: KvsArgs,
    /// AUTO items older than this many minutes are not published (MANUAL items last until
    /// their TTL) [default: 30; at least 1].
    #[arg(long, value_name = "MINUTES")]
    pub retention: Option<u32>,
    /// Apply a publish that deletes at least 10 keys and more than half of those under the
    /// prefix (refused otherwise, exit 7).
    #[arg(long)]
    pub allow_mass_unblock: bool,
    /// Print the keys and the difference with the store; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    // Which sessions' revocations to publish: those named by this rule (the edge function
    // must read the same one).
    #[command(flatten)]
    pub session: SessionArgs,
    /// Output format (table or json).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl KvsPublishArgs {
    /// The table and the store.
    pub fn options(&self, cfg: &Config) -> Result<(String, autorevoke::job::KvsTarget)> {
        if !matches!(self.format, Format::Table | Format::Json) {
            return Err(Error::Setting {
                setting: "--format",
                reason: "kvs publish reports as table or json".into(),
            });
        }
        let target = self
            .kvs
            .target(cfg, self.retention, self.allow_mass_unblock, false)?
            .ok_or(Error::Setting {
                setting: "--kvs-arn",
                reason: "give the KeyValueStore's ARN".into(),
            })?;
        Ok((table_name(&self.table, cfg)?, target))
    }
}

/// A WAF rule matches a URI path: it cannot match a session named by a Common Access Token
/// (and such an id in a path rule could match another session's path).
pub(crate) fn refuse_waf_for(rule: SessionRule, setting: &'static str) -> Result<()> {
    match rule {
        SessionRule::Prefix => Ok(()),
        SessionRule::Cta => Err(Error::Setting {
            setting,
            reason: "sessions are named by Common Access Tokens (--session-from cta): a WAF \
                     URI-path rule cannot match them; publish them with `kvs publish` (or \
                     run --kvs-arn) instead"
                .into(),
        }),
    }
}

/// Where AWS is and who we are there (every AWS command takes these).
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS region (default: the standard AWS settings, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Named profile from the shared AWS config and credentials files (as AWS_PROFILE and
    /// the AWS CLI's --profile).
    #[arg(long, visible_alias = "profile", value_name = "NAME", value_parser = parse_aws_profile)]
    pub aws_profile: Option<String>,
    /// Endpoint override, e.g. a local AWS-compatible server (default: AWS_ENDPOINT_URL_<SERVICE>
    /// or AWS_ENDPOINT_URL); S3 uses path-style addressing with it.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Seconds one S3 object request may take before it is retried [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub read_timeout: Option<u64>,
}

impl AwsArgs {
    /// The shared AWS access of a run.
    pub fn access(&self, cfg: &Config) -> Arc<AwsAccess> {
        Arc::new(AwsAccess::new(AwsSettings {
            region: self.region.clone().or_else(|| cfg.aws.region.clone()),
            profile: self.aws_profile.clone().or_else(|| cfg.aws.profile.clone()),
            endpoint_url: self
                .endpoint_url
                .clone()
                .or_else(|| cfg.aws.endpoint_url.clone()),
            read_timeout: self
                .read_timeout
                .or(cfg.aws.read_timeout_seconds)
                .map(std::time::Duration::from_secs),
        }))
    }
}

/// Where the logs are and how to read them.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Log locations: files, folders (read recursively), s3://bucket/prefix, or `-` for
    /// standard input (default: the config file's [logs] locations).
    #[arg(value_name = "LOCATION")]
    pub locations: Vec<String>,
    /// How log objects are laid out, to list only the hours a window needs [default: auto].
    #[arg(long, value_enum)]
    pub layout: Option<Layout>,
    /// Minutes listed on both sides of the window, for rows delivered into a neighbouring
    /// hour's file [default: 60].
    #[arg(long, value_name = "MINUTES")]
    pub late_margin: Option<u32>,
    /// Objects fetched at once [default: 8].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Fail on the first malformed line or unreadable object instead of counting and skipping.
    #[arg(long)]
    pub strict: bool,
    /// Partitions read in parallel (default: the number of cores plus one).
    #[arg(long, value_name = "N")]
    #[arg(value_parser = parse_positive)]
    pub threads: Option<usize>,
    /// Memory the query may track (e.g. 512MiB, 2GiB); aggregations and sorts spill to
    /// temporary files beyond it [default: unlimited].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// The form of the log objects: W3C text, standard logging v2 JSON or Parquet, or
    /// real-time logs delivered by Firehose; `auto` detects it per object [default: auto].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format_in: Option<autorevoke::cloudfront::InputFormat>,
    /// The fields of the real-time log configuration, comma-separated in any order (records
    /// carry them in CloudFront's fixed order) [default: the 45 fields timestamp..asn
    /// without s-ip].
    #[arg(long, value_name = "LIST")]
    pub realtime_fields: Option<RealtimeFields>,
    /// Where the queries run: `local` (this process, DataFusion), `standalone` (Apache
    /// DataFusion Ballista with its scheduler and an executor in this process; the plans are
    /// serialised as for a cluster) or `df://HOST:PORT` (the Ballista cluster of that
    /// `autorevoke scheduler`) [default: local].
    #[arg(long, value_name = "WHERE", help_heading = "Cluster")]
    pub cluster: Option<autorevoke::Cluster>,
    /// Keep a compact projection of each object read here (a folder, or s3://bucket/prefix)
    /// and take it instead of the object next time, while the object is unchanged: a
    /// scheduled run then reads only new or changed objects, with the same scores.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub state: Option<String>,
    /// Objects larger than this are streamed chunk by chunk (a broken transfer resumes where
    /// it stopped) instead of fetched whole [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub stream_above: Option<usize>,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// How a request names its session (every command that reads logs or revocations takes it).
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// `prefix`: the first path segment `/<id>.<jwt>/` (SCORING.md); `cta`: the `cti` claim of
    /// a Common Access Token in the `CAT` query parameter, a first path segment longer than
    /// 50 characters, or (real-time logs) the `CTA-Common-Access-Token` header
    /// [default: prefix].
    #[arg(long, value_enum, value_name = "RULE")]
    pub session_from: Option<SessionRule>,
}

impl SessionArgs {
    /// The rule: the flag, else `[logs] session_from`, else `prefix`.
    pub fn rule(&self, cfg: &Config) -> SessionRule {
        self.session_from
            .or(cfg.logs.session_from)
            .unwrap_or_default()
    }
}

impl ReadArgs {
    /// The engine over these locations, reaching AWS through `aws`, telling `progress` (when
    /// given) about its scans.
    pub fn engine(
        &self,
        cfg: &Config,
        aws: Arc<AwsAccess>,
        progress: Option<Arc<dyn ScanObserver>>,
    ) -> Result<LogEngine> {
        let texts = if self.locations.is_empty() {
            &cfg.logs.locations
        } else {
            &self.locations
        };
        if texts.is_empty() {
            return Err(Error::Setting {
                setting: "LOCATION",
                reason: "give at least one log location (or [logs] locations in --config)".into(),
            });
        }
        let locations = texts
            .iter()
            .map(|l| match l.as_str() {
                "-" => LogLocation::parse(&stdin_spool()?.display().to_string()),
                l => LogLocation::parse(l),
            })
            .collect::<Result<Vec<_>>>()?;
        let options = ReadOptions {
            strict: self.strict || cfg.logs.strict.unwrap_or(false),
            concurrency: self
                .concurrency
                .or(cfg.logs.concurrency)
                .unwrap_or(8)
                .max(1),
            format: self.format_in.or(cfg.logs.format_in).unwrap_or_default(),
            realtime_fields: realtime_fields(self.realtime_fields, cfg)?,
            stream_above_bytes: self
                .stream_above
                .map(|s| s as u64)
                .unwrap_or(autorevoke::cloudfront::exec::DEFAULT_STREAM_ABOVE_BYTES),
            session_from: self.session.rule(cfg),
            ..ReadOptions::default()
        };
        let list_options = ListOptions {
            layout: self.layout.or(cfg.logs.layout).unwrap_or_default(),
            late_margin_s: i64::from(
                self.late_margin
                    .or(cfg.logs.late_margin_minutes)
                    .unwrap_or(60),
            ) * 60,
        };
        let state = match self.state.as_ref().or(cfg.logs.state.as_ref()) {
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
        let engine = LogEngine::with_access(
            locations,
            aws,
            list_options,
            options,
            self.threads.or(cfg.logs.threads),
        );
        let engine = match state {
            Some(state) => engine.with_state(state),
            None => engine,
        }
        .with_cluster(
            self.cluster
                .clone()
                .or_else(|| cfg.logs.cluster.clone())
                .unwrap_or_default(),
        );
        let engine = match memory_limit(self.memory_limit, cfg)? {
            Some(bytes) => engine.with_memory_limit(bytes),
            None => engine,
        };
        Ok(match progress {
            Some(observer) => engine.with_observer(observer),
            None => engine,
        })
    }
}

/// `--realtime-fields`, else `[logs] realtime_fields`, else the default 45 fields.
pub(crate) fn realtime_fields(
    flag: Option<RealtimeFields>,
    cfg: &Config,
) -> Result<RealtimeFields> {
    match (flag, &cfg.logs.realtime_fields) {
        (Some(fields), _) => Ok(fields),
        (None, Some(names)) => RealtimeFields::from_names(names).map_err(|reason| Error::Setting {
            setting: "[logs] realtime_fields",
            reason,
        }),
        (None, None) => Ok(RealtimeFields::default()),
    }
}

/// `--memory-limit`, else `[logs] memory_limit`, else none.
pub(crate) fn memory_limit(flag: Option<usize>, cfg: &Config) -> Result<Option<usize>> {
    match (flag, &cfg.logs.memory_limit) {
        (Some(bytes), _) => Ok(Some(bytes)),
        (None, Some(text)) => parse_size(text).map(Some).map_err(|reason| Error::Setting {
            setting: "[logs] memory_limit",
            reason,
        }),
        (None, None) => Ok(None),
    }
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

/// The time window.
#[derive(Debug, Args)]
pub struct WindowArgs {
    /// End of the window: an RFC 3339 time, or `latest` for the newest row in the logs
    /// (default: the current time).
    #[arg(long, value_name = "RFC3339|latest", value_parser = parse_now)]
    pub now: Option<Now>,
    /// Length of the window: minutes, or a duration with its unit (90s, 10m, 2h, 1d)
    /// [default: 10].
    #[arg(long, value_name = "MINUTES|DURATION", value_parser = parse_minutes)]
    pub lookback: Option<f64>,
    /// Start of an explicit window (with --to; replaces --now and --lookback).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// End of an explicit window (with --from).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
}

impl WindowArgs {
    /// The checked window spec.
    pub fn spec(&self, cfg: &Config) -> Result<WindowSpec> {
        let lookback = match (self.from, self.to) {
            (None, None) => self.lookback.or(cfg.scoring.lookback_minutes),
            _ => self.lookback,
        };
        WindowSpec::new(self.now, lookback, self.from, self.to)
    }
}

/// Scoring parameters (SCORING.md).
#[derive(Debug, Args)]
pub struct ScoringArgs {
    /// Scoring rules: `upstream` is the reference solution's exactly; `concurrent` counts
    /// viewers active at the same time [default: upstream].
    #[arg(long, value_enum)]
    pub rules: Option<Profile>,
    /// `concurrent`: seconds a network must overlap an earlier one to count as another
    /// viewer [default: 60].
    #[arg(long, value_name = "SECONDS")]
    pub min_overlap: Option<u64>,
    /// Flag sessions whose score is strictly above this [default: 2.2].
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Score nothing when fewer sessions are in the window [default: 3].
    #[arg(long)]
    pub min_sessions: Option<u64>,
    /// Do not score sessions shorter than this many seconds [default: 30].
    #[arg(long)]
    pub min_duration: Option<u64>,
    /// Weight of the normalised rate [default: 1].
    #[arg(long)]
    pub weight_rate: Option<f64>,
    /// Penalty for more than one IP [default: 1].
    #[arg(long)]
    pub weight_ip: Option<f64>,
    /// Penalty for more than one referer [default: 1].
    #[arg(long)]
    pub weight_referer: Option<f64>,
    /// Penalty for more than one user agent [default: 1].
    #[arg(long)]
    pub weight_ua: Option<f64>,
}

impl ScoringArgs {
    /// The checked parameters: flags, else the config file, else SCORING.md's defaults.
    pub fn params(&self, cfg: &Config) -> Result<ScoreParams> {
        let c = &cfg.scoring;
        let d = ScoreParams::default();
        let params = ScoreParams {
            profile: self.rules.or(c.rules).unwrap_or(d.profile),
            min_overlap: self
                .min_overlap
                .or(c.min_overlap_seconds)
                .unwrap_or(d.min_overlap),
            threshold: self.threshold.or(c.threshold).unwrap_or(d.threshold),
            min_sessions: self
                .min_sessions
                .or(c.min_sessions)
                .unwrap_or(d.min_sessions),
            min_duration: self
                .min_duration
                .or(c.min_duration)
                .unwrap_or(d.min_duration),
            weights: Weights {
                rate: self.weight_rate.or(c.weight_rate).unwrap_or(d.weights.rate),
                ip: self.weight_ip.or(c.weight_ip).unwrap_or(d.weights.ip),
                referer: self
                    .weight_referer
                    .or(c.weight_referer)
                    .unwrap_or(d.weights.referer),
                ua: self.weight_ua.or(c.weight_ua).unwrap_or(d.weights.ua),
            },
        };
        params.validate()?;
        Ok(params)
    }
}

/// What every command that scores a window takes: the logs, the window, the scoring
/// parameters and the AWS access.
#[derive(Debug, Args)]
pub struct ScoringSource {
    #[command(flatten, next_help_heading = "Input")]
    pub read: ReadArgs,
    #[command(flatten, next_help_heading = "Window")]
    pub window: WindowArgs,
    #[command(flatten, next_help_heading = "Scoring")]
    pub scoring: ScoringArgs,
    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
    /// Exit 0 when the window holds nothing to score (no log objects, no rows in the window,
    /// no session tokens); without it such a run exits 9, naming the cause.
    #[arg(long, help_heading = "Scoring")]
    pub allow_empty: bool,
}

/// A scoring command's checked settings and the engine over its logs.
pub struct ScoringRun {
    /// The window.
    pub spec: WindowSpec,
    /// The scoring parameters.
    pub params: ScoreParams,
    /// The AWS access shared by the reads and any writes.
    pub aws: Arc<AwsAccess>,
    /// The engine over the logs.
    pub engine: LogEngine,
    /// A window with nothing to score is a success (`--allow-empty`).
    pub allow_empty: bool,
}

impl ScoringSource {
    /// Checks the window and parameters (before any I/O) and builds the engine, telling
    /// `progress` (when given) about its scans.
    pub fn prepare(
        &self,
        cfg: &Config,
        progress: Option<Arc<dyn ScanObserver>>,
    ) -> Result<ScoringRun> {
        let spec = self.window.spec(cfg)?;
        let params = self.scoring.params(cfg)?;
        let aws = self.aws.access(cfg);
        let engine = self.read.engine(cfg, Arc::clone(&aws), progress)?;
        Ok(ScoringRun {
            spec,
            params,
            aws,
            engine,
            allow_empty: self.allow_empty || cfg.scoring.allow_empty.unwrap_or(false),
        })
    }
}

/// `autorevoke score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub source: ScoringSource,
    /// List every scored session, not only the flagged ones.
    #[arg(long, help_heading = "Output")]
    pub all: bool,
    /// Output format [default: from --output's extension (.txt .csv .json .parquet .html),
    /// else table].
    #[arg(long, value_enum, help_heading = "Output")]
    pub format: Option<Format>,
    /// Write the report to this file instead of stdout (`-o json`, a format's name as the AWS
    /// CLI's `--output`, is that format on stdout).
    #[arg(long, short = 'o', value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
}

impl ScoreArgs {
    /// The report's format and file.
    pub fn target(&self) -> (Format, Option<PathBuf>) {
        output_target(self.format, self.output.as_deref(), Format::Table)
    }
}

/// The rule group options shared by `run --compile-waf`, `waf compile` and `init`.
#[derive(Debug, Args)]
pub struct RuleGroupArgs {
    /// WAFv2 rule group name (scope CLOUDFRONT).
    #[arg(long, value_name = "NAME")]
    pub rule_group: Option<String>,
    /// Its id (default: looked up by name).
    #[arg(long, value_name = "ID")]
    pub rule_group_id: Option<String>,
    /// The rule group's capacity in WCU; each rule costs 2. `init` creates the group with it
    /// [default: 100]; a compile checks it against the group's [default: the group's].
    #[arg(long, value_name = "WCU")]
    pub capacity: Option<u32>,
    /// AUTO items older than this many minutes are not compiled (MANUAL items last until
    /// their TTL) [default: 30; at least 1].
    #[arg(long, value_name = "MINUTES")]
    pub retention: Option<u32>,
    /// Apply a compile that removes at least 10 rules and more than half of the group's
    /// (refused otherwise, exit 7: an empty or wrong table must not unblock everyone).
    #[arg(long)]
    pub allow_mass_unblock: bool,
}

impl RuleGroupArgs {
    /// The rule group to compile into.
    pub fn target(&self, cfg: &Config) -> Result<WafTarget> {
        let w = &cfg.waf;
        Ok(WafTarget {
            rule_group: self
                .rule_group
                .clone()
                .or_else(|| w.rule_group.clone())
                .ok_or(Error::Setting {
                    setting: "--rule-group",
                    reason: "give the WAF rule group's name (or [waf] rule_group in --config)"
                        .into(),
                })?,
            rule_group_id: self
                .rule_group_id
                .clone()
                .or_else(|| w.rule_group_id.clone()),
            capacity: match self.capacity.or(w.capacity) {
                Some(c) if c < autorevoke::waf::WCU_PER_RULE => {
                    return Err(Error::Setting {
                        setting: "--capacity",
                        reason: format!("{c} WCU holds no rule (each costs 2)"),
                    });
                }
                other => other,
            },
            retention_minutes: match self.retention.or(w.retention_minutes).unwrap_or(30) {
                0 => {
                    return Err(Error::Setting {
                        setting: "--retention",
                        reason: "0 minutes would compile no AUTO item: at least 1".into(),
                    });
                }
                r => r,
            },
            allow_mass_unblock: self.allow_mass_unblock,
        })
    }
}

/// `--fail-on-overflow`, else `[waf] fail_on_overflow`, else off.
fn fail_on_overflow(flag: bool, cfg: &Config) -> bool {
    flag || cfg.waf.fail_on_overflow.unwrap_or(false)
}

/// The revocation table's name: the flag, else the config file.
fn table_name(flag: &Option<String>, cfg: &Config) -> Result<String> {
    flag.clone()
        .or_else(|| cfg.revocation.table.clone())
        .ok_or(Error::Setting {
            setting: "--table",
            reason: "give the revocation table's name (or [revocation] table in --config)".into(),
        })
}

/// `autorevoke run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: ScoringSource,
    /// The DynamoDB revocation table.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Days until an AUTO item expires [default: 7].
    #[arg(long, value_name = "DAYS")]
    pub ttl_days: Option<u32>,
    /// Conditional writes in flight at once [default: 16].
    #[arg(long, value_name = "N")]
    pub write_concurrency: Option<usize>,
    /// Print what would be written (and compiled); write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write at most N items per run, the highest scores; the rest are reported.
    #[arg(long, value_name = "N")]
    pub max_revocations: Option<usize>,
    /// Circuit breaker: when more than this share of the scored sessions is flagged, write
    /// nothing and exit 7 [default: 0.05].
    #[arg(long, value_name = "F")]
    pub max_flagged_fraction: Option<f64>,
    /// The circuit breaker applies from this many flagged sessions on [default: 10].
    #[arg(long, value_name = "N")]
    pub breaker_min_flagged: Option<u64>,
    /// Write even when some objects failed (exit 3 still). Without it, a run with a failed
    /// object writes nothing: the missing rows change the median and every score.
    #[arg(long)]
    pub allow_partial: bool,
    /// Compile the WAF rule group after writing (also after the breaker or a failed object
    /// stopped the writes: expired rules still go).
    #[arg(long)]
    pub compile_waf: bool,
    /// With --compile-waf: when flagged sessions did not fit the rule group's capacity, apply
    /// the rules that fit, then exit 8 naming the rest (also in a dry run).
    #[arg(long)]
    pub fail_on_overflow: bool,
    #[command(flatten)]
    pub rule_group: RuleGroupArgs,
    // Publish to this KeyValueStore after writing (also after the breaker or a failed object
    // stopped the writes); `--retention` and `--allow-mass-unblock` apply to it too.
    #[command(flatten)]
    pub kvs: KvsArgs,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = RunFormat::Table)]
    pub format: RunFormat,
}

impl RunArgs {
    /// Must sessions its compile left out for lack of capacity fail the run (exit 8)?
    pub fn fail_on_overflow(&self, cfg: &Config) -> bool {
        fail_on_overflow(self.fail_on_overflow, cfg)
    }

    /// The checked run options.
    pub fn options(&self, cfg: &Config) -> Result<RunOptions> {
        let compile = self.compile_waf || cfg.waf.compile_after_run.unwrap_or(false);
        let session_from = self.source.read.session.rule(cfg);
        if compile {
            refuse_waf_for(session_from, "--compile-waf")?;
        }
        write_options(
            WriteFlags {
                table: &self.table,
                ttl_days: self.ttl_days,
                write_concurrency: self.write_concurrency,
                dry_run: self.dry_run,
                max_revocations: self.max_revocations,
                max_flagged_fraction: self.max_flagged_fraction,
                breaker_min_flagged: self.breaker_min_flagged,
                allow_partial: self.allow_partial,
            },
            cfg,
            (&self.rule_group, compile),
            &self.kvs,
            session_from,
        )
    }
}

/// The flags of what a job writes, as `run` and `watch` take them.
pub(crate) struct WriteFlags<'a> {
    pub table: &'a Option<String>,
    pub ttl_days: Option<u32>,
    pub write_concurrency: Option<usize>,
    pub dry_run: bool,
    pub max_revocations: Option<usize>,
    pub max_flagged_fraction: Option<f64>,
    pub breaker_min_flagged: Option<u64>,
    pub allow_partial: bool,
}

/// The checked options of a job's writes: `flags`, else the config file, else the defaults;
/// compiling into the rule group when `compile`, publishing as `kvs` (or the config file)
/// asks (with the rule group's retention and mass-unblock setting).
pub(crate) fn write_options(
    flags: WriteFlags<'_>,
    cfg: &Config,
    (rule_group, compile): (&RuleGroupArgs, bool),
    kvs: &KvsArgs,
    session_from: SessionRule,
) -> Result<RunOptions> {
    let max_flagged_fraction = flags
        .max_flagged_fraction
        .or(cfg.revocation.max_flagged_fraction)
        .unwrap_or(autorevoke::job::DEFAULT_MAX_FLAGGED_FRACTION);
    if !(0.0..=1.0).contains(&max_flagged_fraction) {
        return Err(Error::Setting {
            setting: "--max-flagged-fraction",
            reason: format!("{max_flagged_fraction} is not between 0 and 1"),
        });
    }
    Ok(RunOptions {
        max_revocations: flags.max_revocations.or(cfg.revocation.max_revocations),
        max_flagged_fraction,
        breaker_min_flagged: flags
            .breaker_min_flagged
            .or(cfg.revocation.breaker_min_flagged)
            .unwrap_or(autorevoke::job::DEFAULT_BREAKER_MIN_FLAGGED),
        allow_partial: flags.allow_partial || cfg.revocation.allow_partial.unwrap_or(false),
        table: table_name(flags.table, cfg)?,
        ttl_days: flags.ttl_days.or(cfg.revocation.ttl_days).unwrap_or(7),
        write_concurrency: flags
            .write_concurrency
            .or(cfg.revocation.write_concurrency)
            .unwrap_or(16)
            .max(1),
        dry_run: flags.dry_run,
        compile: if compile {
            Some(rule_group.target(cfg)?)
        } else {
            None
        },
        kvs: kvs.target(
            cfg,
            rule_group.retention,
            rule_group.allow_mass_unblock,
            true,
        )?,
        session_from,
    })
}

/// `autorevoke revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Session ids to revoke ([A-Za-z0-9_-], 1 to 128 characters).
    #[arg(required = true, value_name = "SESSION_ID")]
    pub session_ids: Vec<String>,
    /// The DynamoDB revocation table.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Seconds until the revocation expires: compiles block the session until then, and for
    /// at least --retention minutes after the last write [default: 86400].
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
    // How the ids name sessions: `cta` ids are `cti` claims, revoked at the edge through
    // `kvs publish` only.
    #[command(flatten)]
    pub session: SessionArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `autorevoke unrevoke`
#[derive(Debug, Args)]
pub struct UnrevokeArgs {
    /// Session ids whose revocation to lift.
    #[arg(required = true, value_name = "SESSION_ID")]
    pub session_ids: Vec<String>,
    /// The DynamoDB revocation table.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// How long `run` leaves the sessions alone, even when it flags them again: a duration
    /// (12h, 7d) or minutes [default: 24h].
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_minutes)]
    pub allow_for: Option<f64>,
    /// Only delete the items: a later run may revoke the sessions again.
    #[arg(long, conflicts_with = "allow_for")]
    pub forget: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl UnrevokeArgs {
    /// The table and how many seconds the sessions stay allowed.
    pub fn options(&self, cfg: &Config) -> Result<(String, u64)> {
        let minutes = self.allow_for.unwrap_or(24.0 * 60.0);
        if !(minutes.is_finite() && minutes > 0.0) {
            return Err(Error::Setting {
                setting: "--for",
                reason: "must be a positive duration".into(),
            });
        }
        Ok((
            table_name(&self.table, cfg)?,
            (minutes * 60.0).round() as u64,
        ))
    }
}

/// `autorevoke revocations ...`
#[derive(Debug, Subcommand)]
pub enum RevocationsCommand {
    /// List the revocation table's items: each session, revoked, allowed (unrevoke) or
    /// expired, with its type, score and times.
    List(RevocationsListArgs),
}

/// `autorevoke revocations list`
#[derive(Debug, Args)]
pub struct RevocationsListArgs {
    /// The DynamoDB revocation table.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RunFormat::Table)]
    pub format: RunFormat,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl RevocationsListArgs {
    /// The table.
    pub fn table(&self, cfg: &Config) -> Result<String> {
        table_name(&self.table, cfg)
    }
}

impl RevokeArgs {
    /// The table, the TTL and the session rule.
    pub fn options(&self, cfg: &Config) -> Result<(String, u64, SessionRule)> {
        Ok((
            table_name(&self.table, cfg)?,
            self.ttl
                .or(cfg.revocation.manual_ttl_seconds)
                .unwrap_or(86_400),
            self.session.rule(cfg),
        ))
    }
}

/// `autorevoke waf compile`.
#[derive(Debug, Args)]
pub struct WafCompileArgs {
    /// The DynamoDB revocation table.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    #[command(flatten)]
    pub rule_group: RuleGroupArgs,
    /// Print the rules and the diff against the group; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// When flagged sessions did not fit the rule group's capacity, apply the rules that fit,
    /// then exit 8 naming the rest (also with --dry-run).
    #[arg(long)]
    pub fail_on_overflow: bool,
    // `cta` is refused: a URI-path rule cannot match a Common Access Token's session.
    #[command(flatten)]
    pub session: SessionArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl WafCompileArgs {
    /// The table name (refused for sessions a WAF rule cannot match).
    pub fn table(&self, cfg: &Config) -> Result<String> {
        refuse_waf_for(self.session.rule(cfg), "--session-from")?;
        table_name(&self.table, cfg)
    }

    /// Must sessions left out for lack of capacity fail the command (exit 8)?
    pub fn fail_on_overflow(&self, cfg: &Config) -> bool {
        fail_on_overflow(self.fail_on_overflow, cfg)
    }
}

/// `autorevoke init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The DynamoDB revocation table to create.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// The WAFv2 rule group to create (scope CLOUDFRONT).
    #[arg(long, value_name = "NAME")]
    pub rule_group: Option<String>,
    /// The rule group's capacity in WCU; each rule costs 2 [default: 100].
    #[arg(long, value_name = "WCU")]
    pub capacity: Option<u32>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl InitArgs {
    /// The table name.
    pub fn table(&self, cfg: &Config) -> Result<String> {
        table_name(&self.table, cfg)
    }

    /// The rule group to create and its capacity (as a compile's options read them).
    pub fn rule_group(&self, cfg: &Config) -> Result<(String, u32)> {
        let target = RuleGroupArgs {
            rule_group: self.rule_group.clone(),
            rule_group_id: None,
            capacity: self.capacity,
            retention: None,
            allow_mass_unblock: false,
        }
        .target(cfg)?;
        Ok((target.rule_group, target.capacity.unwrap_or(100)))
    }
}

/// `autorevoke explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The session id to explain.
    #[arg(value_name = "SESSION_ID")]
    pub session_id: String,
    #[command(flatten)]
    pub source: ScoringSource,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RunFormat::Table, help_heading = "Output")]
    pub format: RunFormat,
}

/// `autorevoke evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The truth file (`session_id,shared,viewers[,traits]`, as `synth` writes it).
    #[arg(long, value_name = "FILE")]
    pub truth: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EvaluateFormat::Table)]
    pub format: EvaluateFormat,
    /// As `--format json` (the flag's name before).
    #[arg(long, hide = true)]
    pub json: bool,
    #[command(flatten)]
    pub source: ScoringSource,
}

/// Output formats of `evaluate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvaluateFormat {
    /// Precision, recall and the false positives by cause, for people.
    Table,
    /// The same as one JSON object.
    Json,
}

/// `autorevoke query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The SQL to run; the logs are the table `logs`.
    #[arg(
        long,
        required_unless_present = "sql_file",
        conflicts_with = "sql_file"
    )]
    pub sql: Option<String>,
    /// A file holding the SQL to run (see queries/examples/).
    #[arg(long, value_name = "FILE")]
    pub sql_file: Option<PathBuf>,
    /// Only rows at or after this time are in `logs` (and only the hours it needs are listed).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Only rows at or before this time are in `logs`.
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// Output format [default: from --output's extension (.txt .csv .json .parquet), else
    /// table].
    #[arg(long, value_enum)]
    pub format: Option<QueryFormat>,
    /// Write the result to this file instead of stdout (`-o json` is JSON on stdout).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl QueryArgs {
    /// The result's format and file.
    pub fn target(&self) -> (QueryFormat, Option<PathBuf>) {
        output_target(self.format, self.output.as_deref(), QueryFormat::Table)
    }
}

/// The format and file of a command's output: `--format`, else what `--output`'s extension
/// says (`.txt` is a table), else `default`. An `--output` that is only a format's name
/// (`json`), as AWS CLI users type it, is that format on stdout.
pub fn output_target<F: clap::ValueEnum + Copy>(
    format: Option<F>,
    output: Option<&std::path::Path>,
    default: F,
) -> (F, Option<PathBuf>) {
    let named = |name: &str| {
        let name = if name.eq_ignore_ascii_case("txt") {
            "table"
        } else {
            name
        };
        F::from_str(name, true).ok()
    };
    let Some(path) = output else {
        return (format.unwrap_or(default), None);
    };
    let bare = path.components().count() == 1 && path.extension().is_none();
    if let (true, Some(as_format)) = (bare, path.to_str().and_then(named)) {
        return (format.unwrap_or(as_format), None);
    }
    let from_extension = path.extension().and_then(|e| e.to_str()).and_then(named);
    (
        format.or(from_extension).unwrap_or(default),
        Some(path.to_path_buf()),
    )
}

/// `--profile`/`--aws-profile`: an AWS profile's name; the scoring rules' names are refused
/// with a pointer to `--rules` (where `--profile` chose them before).
fn parse_aws_profile(text: &str) -> std::result::Result<String, String> {
    match text {
        "upstream" | "concurrent" => Err(format!(
            "--profile names an AWS profile, as in the AWS CLI; to choose the scoring rules \
             use --rules {text}"
        )),
        _ => Ok(text.to_string()),
    }
}

/// `autorevoke synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Folder for the log files (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Truth file (default: `<DIR>.truth.csv` beside the folder).
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// Legitimate sessions (one viewer each).
    #[arg(long, default_value_t = 60)]
    pub viewers: usize,
    /// Shared sessions (2 to 4 viewers each).
    #[arg(long, default_value_t = 5)]
    pub shared: usize,
    /// Minutes of traffic.
    #[arg(long, default_value_t = 15)]
    pub minutes: u32,
    /// The last instant of traffic (default 2026-01-15T20:00:00Z, so that a seed alone fixes
    /// the output).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time,
          default_value = "2026-01-15T20:00:00Z")]
    pub end: DateTime<Utc>,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Log files per hour (one per edge location, 1 to 256).
    #[arg(long, default_value_t = 3)]
    pub files_per_hour: usize,
    /// Share of rows delivered late, into the next hour's file.
    #[arg(long, default_value_t = 0.02)]
    pub late_fraction: f64,
    /// Share of viewers playing natively on iOS (Safari for the master manifest,
    /// AppleCoreMedia without a referer for the rest).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub ios_native: f64,
    /// Share of viewers moving from Wi-Fi to cellular once during playback.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub network_switch: f64,
    /// Share of viewers on IPv6 privacy addresses rotating inside one /64 every 2-5 minutes.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub ipv6_rotate: f64,
    /// Segment durations in seconds, assigned to the assets in turn (e.g. 4,2).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "4",
        value_name = "SECONDS,..."
    )]
    pub segment_durations: Vec<i64>,
    /// The tokens: `prefix` writes `/<id>.<jwt>/` paths; `cta` writes Common Access Tokens
    /// whose `cti` is the session id, half of the sessions in the first path segment, half
    /// in the `CAT` query parameter (the same seed gives the same sessions and traffic).
    #[arg(long, value_enum, default_value_t = SessionRule::Prefix, value_name = "RULE")]
    pub session_from: SessionRule,
}

impl SynthArgs {
    /// The confounders asked for.
    pub fn confounders(&self) -> autorevoke::synth::Confounders {
        autorevoke::synth::Confounders {
            ios_native: self.ios_native,
            network_switch: self.network_switch,
            ipv6_rotate: self.ipv6_rotate,
            segment_durations: self.segment_durations.clone(),
        }
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}); example: 2026-01-15T20:00:00Z"))
}

/// A size: bytes, or a number with KiB/MiB/GiB (1024-based) or KB/MB/GB (1000-based).
/// Minutes, from a number (`10`, `7.5`) or a duration with its unit (`90s`, `10m`, `2h`,
/// `1d`).
pub(crate) fn parse_minutes(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => t.split_at(at),
        None => (t, "m"),
    };
    let per_minute = match unit {
        "s" => 1.0 / 60.0,
        "m" | "min" => 1.0,
        "h" => 60.0,
        "d" => 1440.0,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?}; use s, m, h or d (10m, 2h)"
            ));
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: expected minutes or a duration such as 10m, 2h, 90s"))?;
    Ok(value * per_minute)
}

/// A count that must be at least 1.
fn parse_positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size (examples: 512MiB, 2GiB, 1000000)"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use KiB, MiB, GiB)"
            ));
        }
    };
    let bytes = number * scale;
    if !(1.0..=usize::MAX as f64).contains(&bytes) {
        return Err(format!("{s:?} is not a size of at least one byte"));
    }
    Ok(bytes as usize)
}

fn parse_now(s: &str) -> Result<Now, String> {
    if s == "latest" {
        Ok(Now::Latest)
    } else {
        parse_time(s).map(Now::At)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5 KiB"), Ok(1536));
        assert_eq!(parse_size("3MB"), Ok(3_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("2 TiB").is_err());
        assert!(parse_size("0").is_err());
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("autorevoke").chain(args.iter().copied()))
            .expect("parses")
    }

    #[test]
    fn flags_override_the_config_file_which_overrides_defaults() {
        let cfg = Config::parse(
            "[scoring]\nthreshold = 3.5\nmin_sessions = 10\nlookback_minutes = 20\n\
             [revocation]\ntable = \"T\"\nttl_days = 2\n[waf]\nrule_group = \"G\"\ncompile_after_run = true\n\
             [logs]\nlocations = [\"sample-logs\"]\nlate_margin_minutes = 5\n",
        )
        .expect("config");
        let Command::Run(run) = parse(&["run", "--threshold", "4", "--table", "Other"]).command
        else {
            panic!("run");
        };
        let p = run.source.scoring.params(&cfg).expect("params");
        assert_eq!((p.threshold, p.min_sessions, p.min_duration), (4.0, 10, 30));
        let o = run.options(&cfg).expect("options");
        assert_eq!(
            (o.table.as_str(), o.ttl_days, o.dry_run),
            ("Other", 2, false)
        );
        let target = o.compile.expect("compile_after_run");
        assert_eq!(
            (
                target.rule_group.as_str(),
                target.capacity,
                target.retention_minutes
            ),
            ("G", None, 30)
        );
        assert_eq!(
            (o.breaker_min_flagged, o.allow_partial),
            (autorevoke::job::DEFAULT_BREAKER_MIN_FLAGGED, false)
        );
        let WindowSpec::Lookback { lookback, .. } = run.source.window.spec(&cfg).expect("window")
        else {
            panic!("lookback");
        };
        assert_eq!(lookback.num_minutes(), 20);
        assert!(
            run.source
                .read
                .engine(&cfg, Arc::new(AwsAccess::default()), None)
                .is_ok()
        );
    }

    #[test]
    fn fail_on_overflow_comes_from_the_flag_or_the_config_file() {
        let configs = [
            Config::parse("[waf]\nfail_on_overflow = true\n").expect("config"),
            Config::parse("[waf]\nfail_on_overflow = false\n").expect("config"),
            Config::default(),
        ];
        assert_eq!(configs[0].waf.fail_on_overflow, Some(true));
        for (args, expected) in [
            (&["waf", "compile"][..], [true, false, false]),
            (
                &["waf", "compile", "--fail-on-overflow"][..],
                [true, true, true],
            ),
        ] {
            let Command::Waf(WafCommand::Compile(c)) = parse(args).command else {
                panic!("waf compile")
            };
            assert_eq!(
                configs.each_ref().map(|cfg| c.fail_on_overflow(cfg)),
                expected
            );
        }
        for (args, expected) in [
            (&["run", "--compile-waf"][..], [true, false, false]),
            (
                &["run", "--compile-waf", "--fail-on-overflow"][..],
                [true, true, true],
            ),
        ] {
            let Command::Run(run) = parse(args).command else {
                panic!("run")
            };
            assert_eq!(
                configs.each_ref().map(|cfg| run.fail_on_overflow(cfg)),
                expected
            );
        }
    }

    #[test]
    fn capacity_below_one_rule_and_zero_retention_are_refused() {
        let cfg = Config::default();
        for (flag, value, message) in [
            (
                "--capacity",
                "0",
                "invalid setting --capacity: 0 WCU holds no rule",
            ),
            (
                "--capacity",
                "1",
                "invalid setting --capacity: 1 WCU holds no rule",
            ),
            ("--retention", "0", "invalid setting --retention: 0 minutes"),
        ] {
            let Command::Waf(WafCommand::Compile(c)) =
                parse(&["waf", "compile", "--rule-group", "G", flag, value]).command
            else {
                panic!("waf compile")
            };
            let e = c.rule_group.target(&cfg).expect_err(flag).to_string();
            assert!(e.starts_with(message), "{e}");
        }
        let cfg = Config::parse("[waf]\nrule_group = \"G\"\ncapacity = 1\n").expect("config");
        let Command::Waf(WafCommand::Compile(c)) = parse(&["waf", "compile"]).command else {
            panic!("waf compile")
        };
        assert!(c.rule_group.target(&cfg).is_err());
    }

    #[test]
    fn kvs_settings_come_from_flags_then_the_config_file_and_cta_refuses_waf() {
        let cfg = Config::parse(
            "[revocation]\ntable = \"T\"\n[logs]\nsession_from = \"cta\"\n\
             [kvs]\narn = \"arn:aws:cloudfront::1:key-value-store/k\"\nmax_bytes = \"1MB\"\n\
             retention_minutes = 45\n",
        )
        .expect("config");
        let Command::Kvs(KvsCommand::Publish(p)) =
            parse(&["kvs", "publish", "--key-prefix", "blocked/"]).command
        else {
            panic!("kvs publish")
        };
        let (table, target) = p.options(&cfg).expect("options");
        assert_eq!(
            (
                table.as_str(),
                target.kvs_arn.as_str(),
                target.key_prefix.as_str(),
                target.max_bytes,
                target.retention_minutes,
                p.session.rule(&cfg)
            ),
            (
                "T",
                "arn:aws:cloudfront::1:key-value-store/k",
                "blocked/",
                Some(1_000_000),
                45,
                SessionRule::Cta
            )
        );
        let Command::Kvs(KvsCommand::Publish(p)) = parse(&["kvs", "publish"]).command else {
            panic!("kvs publish")
        };
        let e = p.options(&Config::default()).expect_err("no arn");
        assert!(e.to_string().contains("--kvs-arn"), "{e}");
        let Command::Kvs(KvsCommand::Publish(p)) =
            parse(&["kvs", "publish", "--format", "csv"]).command
        else {
            panic!("kvs publish")
        };
        assert!(p.options(&cfg).is_err());
        let Command::Kvs(KvsCommand::Publish(p)) =
            parse(&["kvs", "publish", "--kvs-arn", "a", "--key-prefix", ""]).command
        else {
            panic!("kvs publish")
        };
        let e = p.options(&cfg).expect_err("empty prefix").to_string();
        assert!(
            e.starts_with("invalid setting --key-prefix: an empty prefix"),
            "{e}"
        );
        // `run` publishes only when asked, with the rule group's --retention.
        let Command::Run(run) = parse(&["run", "--retention", "20"]).command else {
            panic!("run")
        };
        let o = run.options(&cfg).expect("options");
        assert_eq!((o.kvs, o.session_from), (None, SessionRule::Cta));
        let Command::Run(run) = parse(&["run", "--retention", "20", "--kvs-arn", "arn:x"]).command
        else {
            panic!("run")
        };
        let k = run.options(&cfg).expect("options").kvs.expect("kvs");
        assert_eq!((k.kvs_arn.as_str(), k.retention_minutes), ("arn:x", 20));
        // A WAF rule cannot match a CTA session.
        let Command::Run(run) = parse(&["run", "--compile-waf", "--rule-group", "G"]).command
        else {
            panic!("run")
        };
        let e = run.options(&cfg).expect_err("cta and waf").to_string();
        assert!(
            e.starts_with(
                "invalid setting --compile-waf: sessions are named by Common Access Tokens"
            ),
            "{e}"
        );
        let Command::Waf(WafCommand::Compile(c)) =
            parse(&["waf", "compile", "--session-from", "cta"]).command
        else {
            panic!("waf compile")
        };
        assert!(c.table(&Config::default()).is_err());
        let Command::Waf(WafCommand::Compile(c)) =
            parse(&["waf", "compile", "--session-from", "prefix"]).command
        else {
            panic!("waf compile")
        };
        assert_eq!(c.table(&cfg).expect("prefix is fine"), "T");
    }

    #[test]
    fn missing_settings_name_their_flag() {
        let cfg = Config::default();
        let Command::Run(run) = parse(&["run", "sample-logs"]).command else {
            panic!("run")
        };
        let e = run.options(&cfg).expect_err("no table");
        assert!(e.to_string().contains("--table"), "{e}");
        let Command::Run(run) = parse(&["run", "--table", "T", "--compile-waf"]).command else {
            panic!("run")
        };
        assert!(
            run.options(&cfg)
                .expect_err("no group")
                .to_string()
                .contains("--rule-group")
        );
        let e = run
            .source
            .read
            .engine(&cfg, Arc::new(AwsAccess::default()), None)
            .expect_err("no location");
        assert!(e.to_string().contains("LOCATION"), "{e}");
    }
}
