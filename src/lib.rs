//! autorevoke: finds shared (compromised) video playback sessions in CloudFront access logs.
//!
//! The modules follow the data flow: [`location`] (where the logs are, local or S3 through
//! [`aws`]) -> [`layout`] (which objects a window needs) -> [`cloudfront`] (the
//! log format as the DataFusion table `logs`) -> [`engine`] (SQL over it) -> [`score`]
//! (`queries/score.sql`) -> [`report`] (what people and programs read) and [`revocation`]
//! (the DynamoDB table) -> [`waf`] (the rule group compiled from it) and [`kvs`] (the
//! CloudFront KeyValueStore revocation list compiled from it). [`job`] strings them
//! together for the scheduled run; [`config`] is its file; [`retry`] classifies and retries
//! AWS failures. [`synth`] writes realistic logs with planted shared sessions for tests,
//! demos and benchmarks.
#![deny(missing_docs)]

pub mod aws;
pub mod cloudfront;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod job;
pub mod kvs;
pub mod layout;
pub mod location;
pub mod report;
pub mod retry;
pub mod revocation;
pub mod score;
pub mod synth;
pub mod waf;
pub mod watch;

pub use cluster::Cluster;
pub use engine::{LogEngine, QueryOutput, ScanObserver};
pub use error::{Error, Result};
pub use location::{LogLocation, LogObject};
pub use score::{ScoreParams, ScoreReport, ScoredSession, Window, WindowSpec, score};
