//! `autorevoke watch`: scores CloudFront real-time logs from a Kinesis data stream
//! continuously, with the same query and the same writes as `run`.
//!
//! Data flow: [`shards`] (which shards to read, parents before children) -> [`stream`] (the
//! Kinesis calls, retried) -> [`window`] (the records' in-scope rows in event time, scored by
//! the profile's query) -> [`crate::run::act`] (breaker, revocation table, WAF and
//! KeyValueStore), with [`checkpoint`] (where each shard resumes, and the lease) and
//! [`metrics`]; [`consumer`] runs the loop.

pub mod checkpoint;
pub mod consumer;
pub mod metrics;
pub mod shards;
pub mod stream;
pub mod window;

use std::net::SocketAddr;
use std::time::Duration;

use crate::cloudfront::RealtimeFields;
use crate::run::RunOptions;
use crate::score::ScoreParams;

pub use consumer::{WatchSummary, watch};

/// The allowance for records still in flight, by default: the window ends this many seconds
/// before the newest record time seen (CloudFront delivers a request's record within seconds,
/// and edge locations do not all deliver at once).
pub const DEFAULT_ALLOWANCE_S: i64 = 5;

/// Records one `GetRecords` call asks for: the Kinesis maximum.
pub const MAX_RECORDS_PER_CALL: i32 = 10_000;

/// Time between ticks, by default.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(10);

/// How `watch` reads, scores and writes.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The stream's name or ARN.
    pub stream: String,
    /// Time between ticks.
    pub every: Duration,
    /// Window length, seconds.
    pub lookback_s: i64,
    /// The window ends this many seconds before the newest record time.
    pub allowance_s: i64,
    /// The scoring parameters (the `upstream` profile: the window keeps its columns).
    pub params: ScoreParams,
    /// What a tick writes, as `run` does (table, breaker, compile, publish).
    pub run: RunOptions,
    /// The real-time log configuration's fields.
    pub realtime_fields: RealtimeFields,
    /// Where checkpoints and the lease are kept (folder, `s3://`, or DynamoDB table).
    pub checkpoint: String,
    /// Most bytes of rows the window may hold (and its queries may track).
    pub memory_limit: Option<usize>,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<SocketAddr>,
    /// Records per `GetRecords` call (at most [`MAX_RECORDS_PER_CALL`]).
    pub records_per_call: i32,
    /// Stop after the first tick at which every shard is read to its tip (a replay).
    pub exit_when_caught_up: bool,
    /// Query partitions (default: cores + 1).
    pub threads: Option<usize>,
    /// Print one line per tick on stderr.
    pub tick_lines: bool,
}
