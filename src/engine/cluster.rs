//! Where queries run: in this process (DataFusion), or on Apache DataFusion Ballista, either a
//! scheduler and an executor started in this process (`standalone`) or a cluster of
//! `autorevoke scheduler` and `autorevoke executor` processes (`df://HOST:PORT`).
//!
//! This module is the choice and the processes' settings; the Ballista side is
//! `engine::ballista`, built with the `cluster` feature (on by default).

use std::net::SocketAddr;

use crate::source::AllowedLocations;

/// Where a run's queries are planned and executed (`--cluster`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Cluster {
    /// In this process, by DataFusion.
    #[default]
    Local,
    /// By Ballista, with its scheduler and one executor in this process: the plans are
    /// serialised and run as on a cluster.
    Standalone,
    /// By the Ballista cluster whose scheduler (`autorevoke scheduler`) listens at this
    /// host and port.
    Remote {
        /// The scheduler's host.
        host: String,
        /// Its gRPC port.
        port: u16,
    },
}

impl std::str::FromStr for Cluster {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "local" => return Ok(Cluster::Local),
            "standalone" => return Ok(Cluster::Standalone),
            _ => {}
        }
        let address = text.strip_prefix("df://").ok_or_else(|| {
            format!("{text:?}: expected local, standalone or df://HOST:PORT (a scheduler)")
        })?;
        let (host, port) = host_port(address.trim_end_matches('/'))
            .ok_or_else(|| format!("{text:?}: expected df://HOST:PORT"))?;
        Ok(Cluster::Remote { host, port })
    }
}

/// `HOST:PORT` as its parts (a scheduler's address).
pub fn host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    (!host.is_empty()).then_some((host.to_string(), port.parse().ok()?))
}

impl TryFrom<String> for Cluster {
    type Error = String;

    fn try_from(text: String) -> std::result::Result<Self, String> {
        text.parse()
    }
}

impl std::fmt::Display for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cluster::Local => f.write_str("local"),
            Cluster::Standalone => f.write_str("standalone"),
            Cluster::Remote { host, port } => write!(f, "df://{host}:{port}"),
        }
    }
}

/// Where a scheduler listens by default.
pub const DEFAULT_SCHEDULER_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 50050);
/// Where an executor's Arrow Flight service listens by default.
pub const DEFAULT_EXECUTOR_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 50051);
/// An executor's gRPC port by default.
pub const DEFAULT_EXECUTOR_GRPC_PORT: u16 = 50052;

/// Settings of `autorevoke scheduler`.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens for clients and executors.
    pub bind: SocketAddr,
    /// The host name executors and clients use for it (default: the bind address).
    pub external_host: Option<String>,
    /// The only log locations (and states) the plans it is sent may name.
    pub allowed: AllowedLocations,
}

/// Settings of `autorevoke executor`.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host and port.
    pub scheduler: (String, u16),
    /// The address it binds (its Arrow Flight service, which serves results and shuffles).
    pub bind: SocketAddr,
    /// Its gRPC port (same host as `bind`).
    pub grpc_port: u16,
    /// The host name the scheduler, other executors and clients use for it.
    pub external_host: Option<String>,
    /// Tasks it runs at once (default: its cores).
    pub slots: Option<usize>,
    /// Where it keeps shuffle files (default: a temporary directory).
    pub work_dir: Option<String>,
    /// The only log objects (and states) the tasks it is sent may read.
    pub allowed: AllowedLocations,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_parse_from_their_names_and_scheduler_urls() {
        assert_eq!("local".parse(), Ok(Cluster::Local));
        assert_eq!("standalone".parse(), Ok(Cluster::Standalone));
        assert_eq!(
            "df://10.0.0.5:50050".parse(),
            Ok(Cluster::Remote {
                host: "10.0.0.5".into(),
                port: 50050
            })
        );
        let remote: Cluster = "df://scheduler.internal:50050/".parse().expect("url");
        assert_eq!(remote.to_string(), "df://scheduler.internal:50050");
        for bad in [
            "df://",
            "df://host",
            "df://:50050",
            "http://host:1",
            "cluster",
            "df://h:x",
        ] {
            assert!(bad.parse::<Cluster>().is_err(), "{bad}");
        }
    }
}
