//! The configuration file (`--config autorevoke.toml`): every option of every command, so a
//! scheduler runs `autorevoke run --config /etc/autorevoke.toml`. Flags override the file;
//! unknown keys are errors (a typo must not silently fall back to a default).

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::layout::Layout;

/// The whole file. Every section and key is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[aws]`: region, profile, endpoint.
    #[serde(default)]
    pub aws: AwsConfig,
    /// `[logs]`: where the logs are and how to read them.
    #[serde(default)]
    pub logs: LogsConfig,
    /// `[scoring]`: the window and SCORING.md's parameters.
    #[serde(default)]
    pub scoring: ScoringConfig,
    /// `[revocation]`: the DynamoDB table.
    #[serde(default)]
    pub revocation: RevocationConfig,
    /// `[waf]`: the rule group.
    #[serde(default)]
    pub waf: WafConfig,
    /// `[kvs]`: the CloudFront KeyValueStore.
    #[serde(default)]
    pub kvs: KvsConfig,
    /// `[watch]`: the Kinesis stream `watch` consumes.
    #[serde(default)]
    pub watch: WatchConfig,
}

/// `[watch]` (the window's length is `[scoring] lookback_minutes`, the table and targets
/// those of `run`)
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// As `--stream` (name or ARN).
    pub stream: Option<String>,
    /// As `--every` (e.g. "10s").
    pub every: Option<String>,
    /// As `--allowance`.
    pub allowance_seconds: Option<u64>,
    /// As `--checkpoint` (a folder, s3://bucket/prefix, or a DynamoDB table).
    pub checkpoint: Option<String>,
    /// As `--metrics` (e.g. "127.0.0.1:9464").
    pub metrics: Option<String>,
}

/// `[aws]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// As `--region`.
    pub region: Option<String>,
    /// As `--aws-profile`.
    pub profile: Option<String>,
    /// As `--endpoint-url`.
    pub endpoint_url: Option<String>,
    /// As `--read-timeout`.
    pub read_timeout_seconds: Option<u64>,
}

/// `[logs]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Used when no LOCATION is given on the command line.
    #[serde(default)]
    pub locations: Vec<String>,
    /// As `--layout`.
    pub layout: Option<Layout>,
    /// As `--late-margin`.
    pub late_margin_minutes: Option<u32>,
    /// As `--concurrency`.
    pub concurrency: Option<usize>,
    /// As `--strict`.
    pub strict: Option<bool>,
    /// As `--threads`.
    pub threads: Option<usize>,
    /// As `--format-in`.
    pub format_in: Option<crate::cloudfront::InputFormat>,
    /// As `--state`.
    pub state: Option<String>,
    /// As `--cluster`.
    pub cluster: Option<crate::Cluster>,
    /// As `--realtime-fields`, as a list of names.
    pub realtime_fields: Option<Vec<String>>,
    /// As `--memory-limit` (e.g. "2GiB").
    pub memory_limit: Option<String>,
    /// As `--session-from` (`prefix` or `cta`); also which revocations `revoke`, `waf
    /// compile` and `kvs publish` deal in.
    pub session_from: Option<crate::cloudfront::SessionRule>,
}

/// `[scoring]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringConfig {
    /// As `--rules` (`profile` is read too, its name before).
    #[serde(alias = "profile")]
    pub rules: Option<crate::score::Profile>,
    /// As `--min-overlap`.
    pub min_overlap_seconds: Option<u64>,
    /// As `--lookback`.
    pub lookback_minutes: Option<f64>,
    /// As `--threshold`.
    pub threshold: Option<f64>,
    /// As `--min-sessions`.
    pub min_sessions: Option<u64>,
    /// As `--min-duration`.
    pub min_duration: Option<u64>,
    /// As `--weight-rate`.
    pub weight_rate: Option<f64>,
    /// As `--weight-ip`.
    pub weight_ip: Option<f64>,
    /// As `--weight-referer`.
    pub weight_referer: Option<f64>,
    /// As `--weight-ua`.
    pub weight_ua: Option<f64>,
    /// As `--allow-empty`.
    pub allow_empty: Option<bool>,
}

/// `[revocation]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationConfig {
    /// As `--table`.
    pub table: Option<String>,
    /// As `run --ttl-days`.
    pub ttl_days: Option<u32>,
    /// As `revoke --ttl`.
    pub manual_ttl_seconds: Option<u64>,
    /// As `run --write-concurrency`.
    pub write_concurrency: Option<usize>,
    /// As `run --max-revocations`.
    pub max_revocations: Option<usize>,
    /// As `run --max-flagged-fraction`.
    pub max_flagged_fraction: Option<f64>,
    /// As `run --breaker-min-flagged`.
    pub breaker_min_flagged: Option<u64>,
    /// As `run --allow-partial`.
    pub allow_partial: Option<bool>,
}

/// `[waf]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafConfig {
    /// As `--rule-group`.
    pub rule_group: Option<String>,
    /// As `--rule-group-id`.
    pub rule_group_id: Option<String>,
    /// As `--capacity`.
    pub capacity: Option<u32>,
    /// As `--retention`.
    pub retention_minutes: Option<u32>,
    /// As `run --compile-waf`.
    pub compile_after_run: Option<bool>,
    /// As `--fail-on-overflow` (`waf compile`, and `run` when it compiles).
    pub fail_on_overflow: Option<bool>,
}

/// `[kvs]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvsConfig {
    /// As `--kvs-arn`.
    pub arn: Option<String>,
    /// As `--key-prefix`.
    pub key_prefix: Option<String>,
    /// As `--max-bytes` (e.g. "1MB").
    pub max_bytes: Option<String>,
    /// As `kvs publish --retention` (and `run`'s publish).
    pub retention_minutes: Option<u32>,
    /// Publish after every `run` (as `run --kvs-arn`).
    pub publish_after_run: Option<bool>,
}

impl Config {
    /// Reads and checks a config file, naming the file and the bad key in errors.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Setting {
            setting: "--config",
            reason: format!("{}: {e}", path.display()),
        })?;
        Self::parse(&text).map_err(|reason| Error::Setting {
            setting: "--config",
            reason: format!("{}: {reason}", path.display()),
        })
    }

    /// Parses config text.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_with_every_section() {
        let text = include_str!("../autorevoke.example.toml");
        let c = Config::parse(text).expect("the example parses");
        assert_eq!(
            c.revocation.table.as_deref(),
            Some("SecureMediaDelivery-AutoRevocationTable")
        );
        assert_eq!(c.logs.layout, Some(Layout::Auto));
        assert_eq!(c.scoring.threshold, Some(2.2));
        assert_eq!(c.waf.capacity, None);
        assert_eq!(c.revocation.breaker_min_flagged, Some(10));
        assert_eq!(c.revocation.allow_partial, Some(false));
        assert_eq!(c.waf.compile_after_run, Some(true));
        assert_eq!(c.waf.fail_on_overflow, Some(false));
        assert_eq!(c.kvs.key_prefix.as_deref(), Some("revoked:"));
        assert_eq!(
            (c.kvs.retention_minutes, c.kvs.publish_after_run, c.kvs.arn),
            (Some(30), Some(false), None)
        );
        assert_eq!(c.logs.session_from, None);
        let cta = Config::parse("[logs]\nsession_from = \"cta\"\n").expect("cta");
        assert_eq!(
            cta.logs.session_from,
            Some(crate::cloudfront::SessionRule::Cta)
        );
        assert!(Config::parse("[logs]\nsession_from = \"jwt\"\n").is_err());
        let watch = Config::parse("[watch]\nstream = \"cf-rt\"\nevery = \"5s\"\n").expect("watch");
        assert_eq!(
            (watch.watch.stream.as_deref(), watch.watch.every.as_deref()),
            (Some("cf-rt"), Some("5s"))
        );
    }

    #[test]
    fn a_cluster_is_a_name_or_a_scheduler_url() {
        let c = Config::parse("[logs]\ncluster = \"df://10.0.0.5:50050\"\n").expect("url");
        assert_eq!(
            c.logs.cluster,
            Some(crate::Cluster::Remote {
                host: "10.0.0.5".into(),
                port: 50050
            })
        );
        let e = Config::parse("[logs]\ncluster = \"df://10.0.0.5\"\n").expect_err("no port");
        assert!(e.contains("expected df://HOST:PORT"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Config::parse("[scoring]\nthreshhold = 3\n").expect_err("typo");
        assert!(e.contains("threshhold"), "{e}");
        assert!(Config::parse("[nope]\n").is_err());
        assert_eq!(Config::parse("").expect("empty is fine"), Config::default());
    }
}
