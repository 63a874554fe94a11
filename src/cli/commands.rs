//! Each subcommand's arguments: the option groups it takes (flattened) and the arguments of
//! one invocation (what to act on, the output), which have no config key.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use autorevoke::report::{Format, QueryFormat, RunFormat};
use autorevoke::session::{SessionId, SessionRule};

use super::groups::{
    AwsArgs, KvsArgs, PublishArgs, ReadArgs, RevokeTtlArgs, RuleGroupArgs, ScoringArgs,
    SessionArgs, TableArgs, WatchGroup, WriteArgs,
};
use super::resolve::WindowArgs;
use super::values::{
    FieldList, Size, choice, parse_group_sizes, parse_minutes, parse_positive, parse_time,
};

/// What every command that scores a window takes: the logs, the window, the scoring
/// parameters and the AWS access.
#[derive(Debug, Args)]
pub struct ScoringSource {
    #[command(flatten, next_help_heading = "Input")]
    pub read: ReadArgs,
    #[command(flatten, next_help_heading = "Input")]
    pub session: SessionArgs,
    #[command(flatten, next_help_heading = "Window")]
    pub window: WindowArgs,
    #[command(flatten, next_help_heading = "Scoring")]
    pub scoring: ScoringArgs,
    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
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
    #[arg(long, value_parser = choice::<Format>(), help_heading = "Output")]
    pub format: Option<Format>,
    /// Write the report to this file instead of stdout (`-o json`, a format's name as the AWS
    /// CLI's `--output`, is that format on stdout).
    #[arg(long, short = 'o', value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
}

/// What a job writes (`run`, and each tick of `watch`): the table, how, and where it
/// publishes.
#[derive(Debug, Args)]
pub struct JobArgs {
    #[command(flatten, next_help_heading = "Revocation")]
    pub table: TableArgs,
    #[command(flatten, next_help_heading = "Revocation")]
    pub write: WriteArgs,
    /// Print what would be written (and compiled); write nothing.
    #[arg(long, help_heading = "Revocation")]
    pub dry_run: bool,
    #[command(flatten, next_help_heading = "WAF")]
    pub rule_group: RuleGroupArgs,
    #[command(flatten, next_help_heading = "Publishing")]
    pub publish: PublishArgs,
    // Publish to this KeyValueStore after writing (also after the breaker or a failed object
    // stopped the writes).
    #[command(flatten, next_help_heading = "KeyValueStore")]
    pub kvs: KvsArgs,
}

/// `autorevoke run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: ScoringSource,
    #[command(flatten)]
    pub job: JobArgs,
    /// Output format of the report.
    #[arg(long, value_parser = choice::<RunFormat>(), default_value = "table", help_heading = "Output")]
    pub format: RunFormat,
}

/// `autorevoke revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Session ids to revoke ([A-Za-z0-9_-], 1 to 128 characters).
    #[arg(required = true, value_name = "SESSION_ID")]
    pub session_ids: Vec<SessionId>,
    #[command(flatten)]
    pub table: TableArgs,
    #[command(flatten)]
    pub ttl: RevokeTtlArgs,
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
    pub session_ids: Vec<SessionId>,
    #[command(flatten)]
    pub table: TableArgs,
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
    #[command(flatten)]
    pub table: TableArgs,
    /// Output format.
    #[arg(long, value_parser = choice::<RunFormat>(), default_value = "table")]
    pub format: RunFormat,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `autorevoke waf ...`
#[derive(Debug, Subcommand)]
pub enum WafCommand {
    /// Compile the revocation table into the rule group: MANUAL newest first, then AUTO by
    /// score, within capacity; an unchanged list is not written.
    Compile(WafCompileArgs),
}

/// `autorevoke waf compile`.
#[derive(Debug, Args)]
pub struct WafCompileArgs {
    #[command(flatten)]
    pub table: TableArgs,
    #[command(flatten)]
    pub rule_group: RuleGroupArgs,
    #[command(flatten)]
    pub publish: PublishArgs,
    /// Print the rules and the diff against the group; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    // `cta` is refused: a URI-path rule cannot match a Common Access Token's session.
    #[command(flatten)]
    pub session: SessionArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `autorevoke kvs ...`
#[derive(Debug, Subcommand)]
pub enum KvsCommand {
    /// Publish the revocation table to a CloudFront KeyValueStore as keys `<prefix><id>`,
    /// selected as `waf compile` selects, within the store's size; only the difference is
    /// written, and keys of other prefixes are never touched.
    Publish(KvsPublishArgs),
}

/// `autorevoke kvs publish`.
#[derive(Debug, Args)]
pub struct KvsPublishArgs {
    #[command(flatten)]
    pub table: TableArgs,
    #[command(flatten)]
    pub kvs: KvsArgs,
    #[command(flatten)]
    pub publish: PublishArgs,
    /// Print the keys and the difference with the store; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    // Which sessions' revocations to publish: those named by this rule (the edge function
    // must read the same one).
    #[command(flatten)]
    pub session: SessionArgs,
    /// Output format (table or json).
    #[arg(long, value_parser = choice::<RunFormat>(), default_value = "table")]
    pub format: RunFormat,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `autorevoke init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub table: TableArgs,
    /// The WAFv2 rule group to create (scope CLOUDFRONT); `[waf] rule_group`.
    #[arg(long, value_name = "NAME")]
    pub rule_group: Option<String>,
    /// The rule group's capacity in WCU; each rule costs 2 [default: 100]; `[waf] capacity`.
    #[arg(long, value_name = "WCU")]
    pub capacity: Option<u32>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl InitArgs {
    /// The two `[waf]` options `init` uses, as their group (the rest of it is for compiles).
    pub fn rule_group(&self) -> RuleGroupArgs {
        RuleGroupArgs {
            rule_group: self.rule_group.clone(),
            capacity: self.capacity,
            ..RuleGroupArgs::default()
        }
    }
}

/// `autorevoke explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The session id to explain.
    #[arg(value_name = "SESSION_ID")]
    pub session_id: SessionId,
    #[command(flatten)]
    pub source: ScoringSource,
    /// Output format.
    #[arg(long, value_parser = choice::<RunFormat>(), default_value = "table", help_heading = "Output")]
    pub format: RunFormat,
}

/// `autorevoke evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The truth file (`session_id,shared,viewers[,traits]`, as `synth` writes it).
    #[arg(long, value_name = "FILE")]
    pub truth: PathBuf,
    /// Output format.
    #[arg(long, value_parser = choice::<RunFormat>(), default_value = "table")]
    pub format: RunFormat,
    /// As `--format json` (the flag's name before).
    #[arg(long, hide = true)]
    pub json: bool,
    #[command(flatten)]
    pub source: ScoringSource,
}

/// `autorevoke query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub session: SessionArgs,
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
    #[arg(long, value_parser = choice::<QueryFormat>())]
    pub format: Option<QueryFormat>,
    /// Write the result to this file instead of stdout (`-o json` is JSON on stdout).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `autorevoke synth`: a generator's knobs, given per run (no config keys).
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
    /// Shared sessions (--group-sizes viewers each).
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
    /// Share of viewers using IPv4 and IPv6 in parallel (video over one, the rest over the
    /// other).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub dual_stack: f64,
    /// Share of viewers spreading one playback over two addresses (every other segment
    /// fetched over the second).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub multipath: f64,
    /// Share of viewers seeking back once, 3 to 40 segments.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub seek_back: f64,
    /// Share of viewers re-fetching 10% of their video segments from the same address.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub refetch: f64,
    /// Share of viewers fetching every video segment in 3 to 6 byte ranges (206).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub byte_ranges: f64,
    /// Share of viewers playing LL-HLS one-second parts, each after a playlist reload.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub ll_hls: f64,
    /// Share of viewers switching rendition on 30% of their segments (re-fetching the
    /// current one).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub abr_flap: f64,
    /// Share of viewers playing in an app (ExoPlayer for media, with its embed page as
    /// referer).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub app_player: f64,
    /// Share of sessions playing a live stream (every viewer at the live edge).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub live: f64,
    /// Share of a shared session's extra viewers joining 3 to 9 minutes after the first.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub late_join: f64,
    /// Viewers of a shared session, MIN-MAX (or one number for both).
    #[arg(long, default_value = "2-4", value_name = "MIN-MAX", value_parser = parse_group_sizes)]
    pub group_sizes: (usize, usize),
    /// Write `c-country` and `asn` (as standard logging v2 can): each viewer in a country
    /// by the platform's market shares, a shared session's viewers often in several.
    #[arg(long)]
    pub countries: bool,
    /// Share of viewers behind a VPN whose exit hops country every 1 to 3 minutes,
    /// fetching the segment in flight again from the new exit.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub vpn_hop: f64,
    /// The tokens: `prefix` writes `/<id>.<jwt>/` paths; `cta` writes Common Access Tokens
    /// whose `cti` is the session id, half of the sessions in the first path segment, half
    /// in the `CAT` query parameter (the same seed gives the same sessions and traffic).
    #[arg(long, value_parser = choice::<SessionRule>(), default_value = "prefix", value_name = "RULE")]
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
            dual_stack: self.dual_stack,
            multipath: self.multipath,
            seek_back: self.seek_back,
            refetch: self.refetch,
            byte_ranges: self.byte_ranges,
            ll_hls: self.ll_hls,
            abr_flap: self.abr_flap,
            app_player: self.app_player,
            live: self.live,
            late_join: self.late_join,
            group_sizes: self.group_sizes,
            countries: self.countries,
            vpn_hop: self.vpn_hop,
        }
    }
}

/// `autorevoke watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten, next_help_heading = "Stream")]
    pub watch: WatchGroup,
    /// Stop after the first tick at which every shard is read to its tip (a replay of a
    /// stream, scored as it would have been live).
    #[arg(long, help_heading = "Stream")]
    pub exit_when_caught_up: bool,
    /// The real-time log configuration's fields, comma-separated in any order; `[logs]
    /// realtime_fields` [default: the 45 fields timestamp..asn without s-ip].
    #[arg(long, value_name = "LIST", help_heading = "Stream")]
    pub realtime_fields: Option<FieldList>,
    /// Most memory the window's rows may take (and its queries track), e.g. 512MiB; beyond
    /// it watch stops with an error; `[logs] memory_limit` [default: unlimited].
    #[arg(long, value_name = "SIZE", help_heading = "Stream")]
    pub memory_limit: Option<Size>,
    /// Query partitions; `[logs] threads` (default: the number of cores plus one).
    #[arg(long, value_name = "N", value_parser = parse_positive, help_heading = "Stream")]
    pub threads: Option<usize>,
    #[command(flatten, next_help_heading = "Stream")]
    pub session: SessionArgs,
    #[command(flatten, next_help_heading = "Scoring")]
    pub scoring: ScoringArgs,
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

impl WatchArgs {
    /// The three `[logs]` options `watch` reads, as their group (the rest is about objects).
    pub fn read(&self) -> ReadArgs {
        ReadArgs {
            realtime_fields: self.realtime_fields,
            memory_limit: self.memory_limit,
            threads: self.threads,
            ..ReadArgs::default()
        }
    }
}
