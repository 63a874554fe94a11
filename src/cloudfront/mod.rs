//! CloudFront access logs (standard, v2 JSON/Parquet, real-time) as a DataFusion table.
//!
//! Data flow: [`body`] (large objects streamed) -> [`decode`] (gzip or plain, lines; [`inflate`]
//! for whole single-member objects; [`parquet_input`] for v2 Parquet, its sizes checked first
//! by [`parquet_pages`]) -> [`parser`] (fields by
//! name, W3C lines, v2 JSON records or [`realtime`] records, validation,
//! pushed-down [`filter`]s, session ids as [`crate::session`] finds them) -> [`reader`] (objects in parallel partitions) ->
//! [`provider`] (the `logs` table), with [`stats`] counting what was read, failed and skipped.

pub mod body;
pub mod counters;
pub mod decode;
pub mod fields;
pub mod filter;
pub mod inflate;
pub mod parquet_input;
pub mod parquet_pages;
pub mod parser;
pub mod provider;
pub mod reader;
pub mod realtime;
pub mod scope;
pub mod source;
pub mod state;
pub mod stats;

pub use fields::logs_schema;
pub use filter::RowFilter;
pub use parser::InputFormat;
pub use provider::CloudFrontTable;
pub use reader::ReadOptions;
pub use realtime::RealtimeFields;
pub use source::LogsSource;
pub use state::StateStore;
pub use stats::{MalformedLine, ObjectFailure, ScanProgress, ScanStats, StatsSnapshot};
