//! autorevoke: finds shared (compromised) video playback sessions in CloudFront access logs.
//!
//! The modules follow the data flow (docs/architecture.md):
//!
//! - leaves every stage uses: [`error`], [`session`] (how a request names its session, and
//!   the checked [`session::SessionId`]), [`functions`] (SQL functions), [`choice`] (settings
//!   spelled by name), [`retry`] and [`aws`] (the one retry policy and the SDK clients),
//!   [`lock`];
//! - [`source`]: where the logs are and which objects a window needs;
//! - [`cloudfront`]: the log formats, read as the DataFusion table `logs`;
//! - [`engine`]: SQL over it, in this process or on Ballista;
//! - [`score`]: the scoring profiles (`queries/`), `explain` and `evaluate`;
//! - [`revocation`]: the DynamoDB table, and what of it blocks now;
//! - [`waf`] and [`kvs`]: the WAF rule group and the KeyValueStore published from it;
//! - [`run`] (the scheduled job) and [`init`]; [`report`] renders what any of them returns;
//! - [`synth`] writes realistic logs with planted shared sessions for tests and benchmarks.
#![deny(missing_docs)]

pub mod aws;
pub mod choice;
pub mod cloudfront;
pub mod engine;
pub mod error;
pub mod functions;
pub mod init;
pub mod kvs;
pub mod lock;
pub mod report;
pub mod retry;
pub mod revocation;
pub mod run;
pub mod score;
pub mod session;
pub mod source;
pub mod synth;
pub mod waf;
pub mod watch;

pub use engine::cluster::Cluster;
pub use engine::{LogEngine, QueryOutput, ScanObserver};
pub use error::{Error, Result};
pub use score::{ScoreParams, ScoreReport, ScoredSession, Window, WindowSpec, score};
pub use source::{LogLocation, LogObject};
