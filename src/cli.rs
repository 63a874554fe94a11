//! Command-line definitions: raw flags (clap) and their conversion into the library's checked
//! settings. No logic beyond wiring lives here.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use std::sync::Arc;

use autorevoke::aws::{AwsAccess, AwsSettings};
use autorevoke::cloudfront::ReadOptions;
use autorevoke::layout::Layout;
use autorevoke::location::ListOptions;
use autorevoke::report::{Format, QueryFormat};
use autorevoke::score::{Now, ScoreParams, Weights, WindowSpec};
use autorevoke::{LogEngine, LogLocation, Result};

/// Finds shared (compromised) video playback sessions in CloudFront access logs.
#[derive(Debug, Parser)]
#[command(name = "autorevoke", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score every session of a window and report the flagged ones (a dry run: writes only to
    /// stdout or --output).
    Score(ScoreArgs),
    /// Run any SQL over the logs, as the table `logs` (forensics).
    Query(QueryArgs),
    /// Write realistic CloudFront logs with planted shared sessions, and their truth file.
    Synth(SynthArgs),
}

/// Where AWS is and who we are there (every AWS command takes these).
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS region (default: the standard AWS settings, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Named profile from the shared AWS config and credentials files.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Endpoint override, e.g. a local S3-compatible server (default: AWS_ENDPOINT_URL_S3 or
    /// AWS_ENDPOINT_URL); path-style addressing is used with it.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

impl AwsArgs {
    /// The shared AWS access of a run.
    pub fn access(&self) -> Arc<AwsAccess> {
        Arc::new(AwsAccess::new(AwsSettings {
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }))
    }
}

/// Where the logs are and how to read them.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Log locations: files, folders (read recursively) or s3://bucket/prefix.
    #[arg(required = true, value_name = "LOCATION")]
    pub locations: Vec<String>,
    /// How log objects are laid out, to list only the hours a window needs.
    #[arg(long, value_enum, default_value_t = Layout::Auto)]
    pub layout: Layout,
    /// Minutes listed on both sides of the window, for rows delivered into a neighbouring
    /// hour's file.
    #[arg(long, value_name = "MINUTES", default_value_t = 60)]
    pub late_margin: u32,
    /// Objects fetched at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Fail on the first malformed line or unreadable object instead of counting and skipping.
    #[arg(long)]
    pub strict: bool,
    /// Partitions read in parallel (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl ReadArgs {
    /// The engine over these locations.
    pub fn engine(&self) -> Result<LogEngine> {
        let locations = self
            .locations
            .iter()
            .map(|l| LogLocation::parse(l))
            .collect::<Result<Vec<_>>>()?;
        let options = ReadOptions {
            strict: self.strict,
            concurrency: self.concurrency.max(1),
            ..ReadOptions::default()
        };
        let list_options = ListOptions {
            layout: self.layout,
            late_margin_s: i64::from(self.late_margin) * 60,
        };
        Ok(LogEngine::with_access(
            locations,
            self.aws.access(),
            list_options,
            options,
            self.threads,
        ))
    }
}

/// The time window.
#[derive(Debug, Args)]
pub struct WindowArgs {
    /// End of the window: an RFC 3339 time, or `latest` for the newest row in the logs
    /// (default: the current time).
    #[arg(long, value_name = "RFC3339|latest", value_parser = parse_now)]
    pub now: Option<Now>,
    /// Length of the window in minutes (default 10).
    #[arg(long, value_name = "MINUTES")]
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
    pub fn spec(&self) -> Result<WindowSpec> {
        WindowSpec::new(self.now, self.lookback, self.from, self.to)
    }
}

/// Scoring parameters (SCORING.md).
#[derive(Debug, Args)]
pub struct ScoringArgs {
    /// Flag sessions whose score is strictly above this.
    #[arg(long, default_value_t = 2.2)]
    pub threshold: f64,
    /// Score nothing when fewer sessions are in the window.
    #[arg(long, default_value_t = 3)]
    pub min_sessions: u64,
    /// Do not score sessions shorter than this many seconds.
    #[arg(long, default_value_t = 30)]
    pub min_duration: u64,
    /// Weight of the normalised rate.
    #[arg(long, default_value_t = 1.0)]
    pub weight_rate: f64,
    /// Penalty for more than one IP.
    #[arg(long, default_value_t = 1.0)]
    pub weight_ip: f64,
    /// Penalty for more than one referer.
    #[arg(long, default_value_t = 1.0)]
    pub weight_referer: f64,
    /// Penalty for more than one user agent.
    #[arg(long, default_value_t = 1.0)]
    pub weight_ua: f64,
}

impl ScoringArgs {
    /// The checked parameters.
    pub fn params(&self) -> Result<ScoreParams> {
        let params = ScoreParams {
            threshold: self.threshold,
            min_sessions: self.min_sessions,
            min_duration: self.min_duration,
            weights: Weights {
                rate: self.weight_rate,
                ip: self.weight_ip,
                referer: self.weight_referer,
                ua: self.weight_ua,
            },
        };
        params.validate()?;
        Ok(params)
    }
}

/// `autorevoke score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// List every scored session, not only the flagged ones.
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `autorevoke query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub read: ReadArgs,
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
    /// Output format.
    #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
    pub format: QueryFormat,
    /// Write the result to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
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
    /// Log files per hour (one per edge location, 1 to 4).
    #[arg(long, default_value_t = 3)]
    pub files_per_hour: usize,
    /// Share of rows delivered late, into the next hour's file.
    #[arg(long, default_value_t = 0.02)]
    pub late_fraction: f64,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}); example: 2026-01-15T20:00:00Z"))
}

fn parse_now(s: &str) -> Result<Now, String> {
    if s == "latest" {
        Ok(Now::Latest)
    } else {
        parse_time(s).map(Now::At)
    }
}
