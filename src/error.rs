//! The library's error type: every variant says which location, setting or query it concerns.

use std::io;

/// What can go wrong in autorevoke's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A log location that cannot be used.
    #[error("{location}: {reason}")]
    Location {
        /// The location as given.
        location: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A setting with an invalid value.
    #[error("invalid setting {setting}: {reason}")]
    Setting {
        /// The setting's name (as a flag).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A query failed to plan or run.
    #[error("{context}: {source}")]
    Query {
        /// What was being run.
        context: String,
        /// DataFusion's error.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (with the path).
        context: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Anything else, with its context.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Wraps a DataFusion error with what was being run.
    pub fn query(
        context: impl Into<String>,
    ) -> impl FnOnce(datafusion::error::DataFusionError) -> Self {
        let context = context.into();
        move |source| Error::Query { context, source }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
