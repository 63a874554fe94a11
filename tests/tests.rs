//! The whole test suite in one binary (DataFusion is linked once): the reader, the scoring
//! rules, the CLI end to end, and agreement with an independent implementation.

mod util;

mod cli;
#[cfg(feature = "cluster")]
mod cluster;
mod deploy;
mod function;
mod kvs;
mod layout;
mod profiles;
mod reader;
mod reference;
mod report;
mod revocation;
mod robustness;
mod s3;
mod scoring;
mod state;
mod watch;
