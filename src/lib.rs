//! autorevoke: finds shared (compromised) video playback sessions in CloudFront access logs.
//!
//! The modules follow the data flow: [`location`] (where the logs are, local or S3 through
//! [`aws`]) -> [`layout`] (which objects a window needs) -> [`cloudfront`] (the
//! log format as the DataFusion table `logs`) -> [`engine`] (SQL over it) -> [`score`]
//! (`queries/score.sql`) -> [`report`] (what people and programs read). [`synth`] writes
//! realistic logs with planted shared sessions for tests, demos and benchmarks.
#![deny(missing_docs)]

pub mod aws;
pub mod cloudfront;
pub mod engine;
pub mod error;
pub mod layout;
pub mod location;
pub mod report;
pub mod score;
pub mod synth;

pub use engine::{LogEngine, QueryOutput};
pub use error::{Error, Result};
pub use location::{LogLocation, LogObject};
pub use score::{ScoreParams, ScoreReport, ScoredSession, Window, WindowSpec, score};
