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
        /// The setting: its key (`lookback`, as the config file and `--lookback` spell it)
        /// where the library raises it; the CLI renders it as the flag or the `[section] key`
        /// the value came from.
        setting: String,
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
    /// An AWS call failed, classified so the binary can give each kind its exit code.
    #[error("{context}: {message}")]
    Aws {
        /// What kind of failure.
        kind: AwsErrorKind,
        /// Which resource (`s3://bucket/prefix`, table, rule group).
        context: String,
        /// The service's or SDK's message.
        message: String,
    },
    /// A safety limit stopped a change that would unblock or block many sessions at once.
    #[error("{context}: refused: {reason}")]
    Refused {
        /// What was refused (the rule group, the run).
        context: String,
        /// Which limit, and how to go past it when the change is meant.
        reason: String,
    },
    /// A Ballista cluster could not be started, reached or read (with what was being done).
    #[error("cluster: {0}")]
    Cluster(String),
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

/// The kinds of AWS failure a user fixes differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The bucket (or table, rule group) does not exist.
    NotFound,
    /// The credentials are not allowed to do this.
    AccessDenied,
    /// No credentials could be found, or they are invalid or expired.
    NoCredentials,
    /// Anything else (network, throttling after retries, server errors).
    Other,
}

impl AwsErrorKind {
    /// Classifies an AWS error code (`NoSuchBucket`, `AccessDenied`, ...) or, without one,
    /// the SDK's message.
    pub fn classify(code: Option<&str>, message: &str) -> Self {
        match code {
            Some("NoSuchBucket" | "ResourceNotFoundException" | "WAFNonexistentItemException") => {
                AwsErrorKind::NotFound
            }
            Some("AccessDenied" | "AllAccessDisabled" | "AccessDeniedException") => {
                AwsErrorKind::AccessDenied
            }
            Some(
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken"
                | "UnrecognizedClientException",
            ) => AwsErrorKind::NoCredentials,
            _ if message.contains("credentials") || message.contains("Credentials") => {
                AwsErrorKind::NoCredentials
            }
            _ => AwsErrorKind::Other,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
