//! CloudFront access logs (standard, v2 JSON/Parquet, real-time) as a DataFusion table.
//!
//! Data flow: [`body`] (large objects streamed) -> [`decode`] (gzip or plain, lines; [`inflate`]
//! for whole single-member objects) -> [`format`] (the forms: v2 JSON records, real-time
//! records, v2 Parquet) -> [`parser`] (fields by name, validation with [`values`], key
//! columns by [`keys`], the pushed-down [`filter`] and the [`scope`] rule, session ids as
//! [`crate::session`] finds them) -> [`reader`] (objects in parallel partitions) ->
//! [`provider`] (the `logs` table), with [`stats`] and [`counters`] counting what was read,
//! failed and skipped, and [`state`] keeping projections between runs.

pub mod body;
pub mod counters;
pub mod decode;
pub mod fields;
pub mod filter;
pub mod format;
pub mod inflate;
pub mod keys;
pub mod parser;
pub mod provider;
pub mod reader;
pub mod scope;
pub mod source;
pub mod state;
pub mod stats;
pub mod values;

pub use fields::logs_schema;
pub use filter::RowFilter;
pub use format::InputFormat;
pub use format::realtime::RealtimeFields;
pub use provider::CloudFrontTable;
pub use reader::ReadOptions;
pub use source::LogsSource;
pub use state::StateStore;
pub use stats::{MalformedLine, ObjectFailure, ScanProgress, ScanStats, StatsSnapshot};
