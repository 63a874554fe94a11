//! The option groups: each is a set of flags that some commands take together, and the
//! config file section of the same name holds the same keys (`--late-margin` is
//! `[logs] late_margin`). Defaults are the library's constants, applied in `resolve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use autorevoke::Cluster;
use autorevoke::cloudfront::InputFormat;
use autorevoke::score::Profile;
use autorevoke::session::SessionRule;
use autorevoke::source::Layout;

use super::options::option_group;
use super::values::{Every, FieldList, Minutes, Size, choice, parse_aws_profile, parse_positive};

option_group! {
    /// Where AWS is and who we are there (every AWS command takes these).
    pub struct AwsArgs in "aws" {
        /// AWS region (default: the standard AWS settings, else us-east-1).
        #[arg(long, value_name = "REGION")]
        pub region: Option<String>,
        /// Named profile from the shared AWS config and credentials files (as AWS_PROFILE
        /// and the AWS CLI's --profile).
        #[arg(long, visible_alias = "profile", value_name = "NAME", value_parser = parse_aws_profile)]
        pub aws_profile: Option<String>,
        /// Endpoint override, e.g. a local AWS-compatible server (default:
        /// AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL); S3 uses path-style addressing
        /// with it.
        #[arg(long, value_name = "URL")]
        pub endpoint_url: Option<String>,
        /// Seconds one S3 object request may take before it is retried [default: 30].
        #[arg(long, value_name = "SECONDS")]
        pub read_timeout: Option<u64>,
    }
}

option_group! {
    /// Where the logs are and how to read them.
    pub struct ReadArgs in "logs" {
        /// Log locations: files, folders (read recursively), s3://bucket/prefix, or `-` for
        /// standard input (default: the config file's [logs] locations).
        #[arg(value_name = "LOCATION")]
        pub locations: Vec<String>,
        /// How log objects are laid out, to list only the hours a window needs
        /// [default: auto].
        #[arg(long, value_parser = choice::<Layout>())]
        pub layout: Option<Layout>,
        /// Minutes listed on both sides of the window, for rows delivered into a
        /// neighbouring hour's file [default: 60].
        #[arg(long, value_name = "MINUTES")]
        pub late_margin: Option<u32>,
        /// Objects fetched at once [default: 8].
        #[arg(long, value_name = "N")]
        pub concurrency: Option<usize>,
        /// Fail on the first malformed line or unreadable object instead of counting and
        /// skipping.
        #[arg(long)]
        pub strict: bool,
        /// Partitions read in parallel (default: the number of cores plus one).
        #[arg(long, value_name = "N", value_parser = parse_positive)]
        pub threads: Option<usize>,
        /// Memory the query may track (e.g. 512MiB, 2GiB); aggregations and sorts spill to
        /// temporary files beyond it [default: unlimited].
        #[arg(long, value_name = "SIZE")]
        pub memory_limit: Option<Size>,
        /// The form of the log objects: W3C text, standard logging v2 JSON or Parquet, or
        /// real-time logs delivered by Firehose; `auto` detects it per object
        /// [default: auto].
        #[arg(long, value_name = "FORMAT", value_parser = choice::<InputFormat>())]
        pub format_in: Option<InputFormat>,
        /// The fields of the real-time log configuration, comma-separated in any order
        /// (records carry them in CloudFront's fixed order) [default: the 45 fields
        /// timestamp..asn without s-ip].
        #[arg(long, value_name = "LIST")]
        pub realtime_fields: Option<FieldList>,
        /// Where the queries run: `local` (this process, DataFusion), `standalone` (Apache
        /// DataFusion Ballista with its scheduler and an executor in this process; the plans
        /// are serialised as for a cluster) or `df://HOST:PORT` (the Ballista cluster of that
        /// `autorevoke scheduler`) [default: local].
        #[arg(long, value_name = "WHERE", help_heading = "Cluster")]
        pub cluster: Option<Cluster>,
        /// Keep a compact projection of each object read here (a folder, or
        /// s3://bucket/prefix) and take it instead of the object next time, while the object
        /// is unchanged: a scheduled run then reads only new or changed objects, with the
        /// same scores.
        #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
        pub state: Option<String>,
        /// Objects larger than this are streamed chunk by chunk (a broken transfer resumes
        /// where it stopped) instead of fetched whole [default: 64MiB].
        #[arg(long, value_name = "SIZE")]
        pub stream_above: Option<Size>,
    }
}

option_group! {
    /// How a request names its session (every command that reads logs or revocations takes
    /// it).
    pub struct SessionArgs in "session" {
        /// `prefix`: the first path segment `/<id>.<jwt>/`; `cta`: the `cti` claim of a
        /// Common Access Token in the `CAT` query parameter, a first path segment longer
        /// than 50 characters, or (real-time logs) the `CTA-Common-Access-Token` header
        /// [default: prefix].
        #[arg(long, value_name = "RULE", value_parser = choice::<SessionRule>())]
        pub session_from: Option<SessionRule>,
    }
}

option_group! {
    /// The scoring rules and their parameters (docs/scoring.md).
    pub struct ScoringArgs in "scoring" {
        /// Scoring rules: `upstream` is the reference solution's exactly; `concurrent`
        /// counts networks, agents and referers active at the same time; `viewers` counts
        /// viewers playing at once [default: upstream].
        #[arg(long, value_parser = choice::<Profile>())]
        pub rules: Option<Profile>,
        /// Length of the window: minutes, or a duration with its unit (90s, 10m, 2h, 1d)
        /// [default: 10].
        #[arg(long, value_name = "MINUTES|DURATION", help_heading = "Window")]
        pub lookback: Option<Minutes>,
        /// `concurrent`: seconds a network must overlap an earlier one to count as another
        /// viewer [default: 60].
        #[arg(long, value_name = "SECONDS")]
        pub min_overlap: Option<u64>,
        /// `viewers`: viewers a minute must show to count as evidence [default: 2].
        #[arg(long, value_name = "N")]
        pub min_viewers: Option<u64>,
        /// `viewers`: minutes of evidence that flag a session [default: 2].
        #[arg(long, value_name = "MINUTES")]
        pub min_evidence_minutes: Option<u64>,
        /// `viewers`: seconds within which two networks fetching one object count as two
        /// viewers [default: 30].
        #[arg(long, value_name = "SECONDS")]
        pub co_fetch_seconds: Option<u64>,
        /// `viewers`: objects fetched by two networks that a minute needs [default: 2].
        #[arg(long, value_name = "N")]
        pub min_cofetched_objects: Option<u64>,
        /// `viewers`: minutes with objects fetched at once from two or more countries
        /// (`c-country`) that flag a session on their own; 0: never [default: 1].
        #[arg(long, value_name = "MINUTES")]
        pub min_country_minutes: Option<u64>,
        /// `viewers`: segment numbers one playback position may skip [default: 3].
        #[arg(long, value_name = "SEGMENTS")]
        pub max_segment_skip: Option<u64>,
        /// Flag sessions whose score is strictly above this (`viewers` flags by its
        /// evidence instead) [default: 2.2].
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
        /// Exit 0 when the window holds nothing to score (no log objects, no rows in the
        /// window, no session tokens); without it such a run exits 9, naming the cause.
        #[arg(long)]
        pub allow_empty: bool,
    }
}

option_group! {
    /// The DynamoDB revocation table.
    pub struct TableArgs in "revocation" {
        /// The DynamoDB revocation table.
        #[arg(long, value_name = "NAME")]
        pub table: Option<String>,
    }
}

option_group! {
    /// How `run` writes: item lifetime, write concurrency, the circuit breaker, and what it
    /// publishes after writing.
    pub struct WriteArgs in "run" {
        /// Days until an AUTO item expires [default: 7].
        #[arg(long, value_name = "DAYS")]
        pub ttl_days: Option<u32>,
        /// Conditional writes in flight at once [default: 16].
        #[arg(long, value_name = "N")]
        pub write_concurrency: Option<usize>,
        /// Write at most N items per run, the highest scores; the rest are reported.
        #[arg(long, value_name = "N")]
        pub max_revocations: Option<usize>,
        /// Circuit breaker: when more than this share of the scored sessions is flagged,
        /// write nothing and exit 7 [default: 0.05].
        #[arg(long, value_name = "F")]
        pub max_flagged_fraction: Option<f64>,
        /// The circuit breaker applies from this many flagged sessions on [default: 10].
        #[arg(long, value_name = "N")]
        pub breaker_min_flagged: Option<u64>,
        /// Write even when some objects failed (exit 3 still). Without it, a run with a
        /// failed object writes nothing: the missing rows change the median and every score.
        #[arg(long)]
        pub allow_partial: bool,
        /// Compile the WAF rule group after writing (also after the breaker or a failed
        /// object stopped the writes: expired rules still go).
        #[arg(long)]
        pub compile_waf: bool,
        /// Publish to the KeyValueStore ([kvs] kvs_arn) after writing, as `--kvs-arn` does.
        #[arg(long)]
        pub publish_kvs: bool,
    }
}

option_group! {
    /// How long a MANUAL revocation lasts.
    pub struct RevokeTtlArgs in "revoke" {
        /// Seconds until the revocation expires: compiles block the session until then, and
        /// for at least --retention minutes after the last write [default: 86400].
        #[arg(long, value_name = "SECONDS")]
        pub ttl: Option<u64>,
    }
}

option_group! {
    /// The WAF rule group.
    pub struct RuleGroupArgs in "waf" {
        /// WAFv2 rule group name (scope CLOUDFRONT).
        #[arg(long, value_name = "NAME")]
        pub rule_group: Option<String>,
        /// Its id (default: looked up by name).
        #[arg(long, value_name = "ID")]
        pub rule_group_id: Option<String>,
        /// The rule group's capacity in WCU; each rule costs 2. `init` creates the group
        /// with it [default: 100]; a compile checks it against the group's [default: the
        /// group's].
        #[arg(long, value_name = "WCU")]
        pub capacity: Option<u32>,
        /// When flagged sessions did not fit the rule group's capacity, apply the rules that
        /// fit, then exit 8 naming the rest (also in a dry run).
        #[arg(long)]
        pub fail_on_overflow: bool,
    }
}

option_group! {
    /// What a compile or a publish selects, and its safety limit.
    pub struct PublishArgs in "publish" {
        /// AUTO items older than this many minutes are not published (MANUAL items last
        /// until their TTL) [default: 30; at least 1].
        #[arg(long, value_name = "MINUTES")]
        pub retention: Option<u32>,
        /// Apply a compile or publish that removes at least 10 rules or keys and more than
        /// half of them (refused otherwise, exit 7: an empty or wrong table must not unblock
        /// everyone). Never read from the config file: it is a decision for one run.
        #[arg(long)]
        #[serde(skip)]
        pub allow_mass_unblock: bool,
    }
}

option_group! {
    /// The CloudFront KeyValueStore.
    pub struct KvsArgs in "kvs" {
        /// The CloudFront KeyValueStore's ARN (arn:aws:cloudfront::ACCOUNT:key-value-store/ID).
        #[arg(long, value_name = "ARN")]
        pub kvs_arn: Option<String>,
        /// Keys are this prefix and the session id; keys without it are never read or
        /// changed [default: revoked:].
        #[arg(long, value_name = "PREFIX")]
        pub key_prefix: Option<String>,
        /// Most bytes (keys and values) the revoked sessions may take; lower-priority
        /// sessions beyond it are left out and counted [default: 5 MB less what other keys
        /// use].
        #[arg(long, value_name = "SIZE")]
        pub max_bytes: Option<Size>,
    }
}

option_group! {
    /// A Ballista scheduler (`autorevoke scheduler`).
    pub struct SchedulerArgs in "scheduler" {
        /// The address to listen on for clients and executors [default: 127.0.0.1:50050].
        #[arg(long, value_name = "HOST:PORT")]
        pub bind: Option<SocketAddr>,
        /// The host name others reach it by, when not the bind address.
        #[arg(long, value_name = "HOST")]
        pub external_host: Option<String>,
        /// A log location (local folder or file, s3://bucket/prefix) or --state location
        /// that the plans it is sent may name; repeat for each (at least one). Plans naming
        /// anything else are refused: whoever reaches the cluster's ports can send a plan.
        #[arg(long = "allow-location", value_name = "LOCATION")]
        pub allow_location: Vec<String>,
    }
}

option_group! {
    /// A Ballista executor (`autorevoke executor`).
    pub struct ExecutorArgs in "executor" {
        /// The scheduler.
        #[arg(long, value_name = "HOST:PORT")]
        pub scheduler: Option<String>,
        /// The address its Arrow Flight service listens on (results and shuffles)
        /// [default: 127.0.0.1:50051].
        #[arg(long, value_name = "HOST:PORT")]
        pub bind: Option<SocketAddr>,
        /// Its gRPC port, on the bind host [default: 50052].
        #[arg(long, value_name = "PORT")]
        pub grpc_port: Option<u16>,
        /// The host name the scheduler, other executors and clients reach it by, when not
        /// the bind address.
        #[arg(long, value_name = "HOST")]
        pub external_host: Option<String>,
        /// Tasks it runs at once [default: its cores].
        #[arg(long, value_name = "N")]
        pub slots: Option<usize>,
        /// Where it keeps shuffle files [default: a temporary directory].
        #[arg(long, value_name = "DIR")]
        pub work_dir: Option<PathBuf>,
        /// A log location (local folder or file, s3://bucket/prefix) or --state location
        /// that the plans it is sent may name; repeat for each (at least one). Plans naming
        /// anything else are refused: whoever reaches the cluster's ports can send a plan.
        #[arg(long = "allow-location", value_name = "LOCATION")]
        pub allow_location: Vec<String>,
    }
}

option_group! {
    /// The Kinesis stream `watch` consumes, and how.
    pub struct WatchGroup in "watch" {
        /// The Kinesis data stream the real-time log configuration writes to (name or ARN).
        #[arg(long, value_name = "NAME|ARN")]
        pub stream: Option<String>,
        /// Time between ticks (each scores the window and writes) [default: 10s].
        #[arg(long, value_name = "DURATION")]
        pub every: Option<Every>,
        /// The window ends this many seconds before the newest record time seen, for
        /// records still in flight [default: 5].
        #[arg(long, value_name = "SECONDS")]
        pub allowance: Option<u64>,
        /// Where each shard's checkpoint and the lease are kept: a DynamoDB table (created
        /// when missing), a folder (a path with a `/`), or s3://bucket/prefix.
        #[arg(long, value_name = "TABLE|DIR|s3://BUCKET/PREFIX")]
        pub checkpoint: Option<String>,
        /// Serve Prometheus text metrics on this address (port 0: any free port, named on
        /// stderr).
        #[arg(long, value_name = "ADDR:PORT")]
        pub metrics: Option<SocketAddr>,
        /// Records one GetRecords call asks for [default: 10000, the most Kinesis returns].
        #[arg(long, value_name = "N", hide = true)]
        pub records_per_call: Option<i32>,
    }
}
