//! The configuration file (`--config autorevoke.toml`): one section per option group, its keys
//! named as the flags are (`--late-margin` is `[logs] late_margin`), so a scheduler runs
//! `autorevoke run --config /etc/autorevoke.toml`. Flags override the file; unknown keys are
//! errors (a typo must not silently fall back to a default). Keys of earlier releases are
//! still read ([`LEGACY_KEYS`]).

use std::path::Path;

use serde::Deserialize;

use super::groups::{
    AwsArgs, ExecutorArgs, KvsArgs, PublishArgs, ReadArgs, RevokeTtlArgs, RuleGroupArgs,
    SchedulerArgs, ScoringArgs, SessionArgs, TableArgs, WatchGroup, WriteArgs,
};
use super::options::OptionGroup;
use autorevoke::{Error, Result};

/// The whole file. Every section and key is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[aws]`
    #[serde(default)]
    pub aws: AwsArgs,
    /// `[logs]`
    #[serde(default)]
    pub logs: ReadArgs,
    /// `[session]`
    #[serde(default)]
    pub session: SessionArgs,
    /// `[scoring]`
    #[serde(default)]
    pub scoring: ScoringArgs,
    /// `[revocation]`
    #[serde(default)]
    pub revocation: TableArgs,
    /// `[run]`
    #[serde(default)]
    pub run: WriteArgs,
    /// `[revoke]`
    #[serde(default)]
    pub revoke: RevokeTtlArgs,
    /// `[waf]`
    #[serde(default)]
    pub waf: RuleGroupArgs,
    /// `[publish]`
    #[serde(default)]
    pub publish: PublishArgs,
    /// `[kvs]`
    #[serde(default)]
    pub kvs: KvsArgs,
    /// `[scheduler]`
    #[serde(default)]
    pub scheduler: SchedulerArgs,
    /// `[executor]`
    #[serde(default)]
    pub executor: ExecutorArgs,
    /// `[watch]`
    #[serde(default)]
    pub watch: WatchGroup,
}

/// Every section with its keys (what the config file may hold; the test that every
/// option has its key walks them).
#[cfg_attr(not(test), allow(dead_code))]
pub fn sections() -> Vec<(&'static str, Vec<String>)> {
    fn of<G: OptionGroup>() -> (&'static str, Vec<String>) {
        (G::SECTION, G::keys())
    }
    vec![
        of::<AwsArgs>(),
        of::<ReadArgs>(),
        of::<SessionArgs>(),
        of::<ScoringArgs>(),
        of::<TableArgs>(),
        of::<WriteArgs>(),
        of::<RevokeTtlArgs>(),
        of::<RuleGroupArgs>(),
        of::<PublishArgs>(),
        of::<KvsArgs>(),
        of::<SchedulerArgs>(),
        of::<ExecutorArgs>(),
        of::<WatchGroup>(),
    ]
}

/// Keys of earlier releases and where they are now: `(section, key, new section, new key)`.
pub const LEGACY_KEYS: &[(&str, &str, &str, &str)] = &[
    ("aws", "profile", "aws", "aws_profile"),
    ("aws", "read_timeout_seconds", "aws", "read_timeout"),
    ("logs", "late_margin_minutes", "logs", "late_margin"),
    ("logs", "session_from", "session", "session_from"),
    ("scoring", "profile", "scoring", "rules"),
    ("scoring", "min_overlap_seconds", "scoring", "min_overlap"),
    ("scoring", "lookback_minutes", "scoring", "lookback"),
    ("revocation", "ttl_days", "run", "ttl_days"),
    (
        "revocation",
        "write_concurrency",
        "run",
        "write_concurrency",
    ),
    ("revocation", "max_revocations", "run", "max_revocations"),
    (
        "revocation",
        "max_flagged_fraction",
        "run",
        "max_flagged_fraction",
    ),
    (
        "revocation",
        "breaker_min_flagged",
        "run",
        "breaker_min_flagged",
    ),
    ("revocation", "allow_partial", "run", "allow_partial"),
    ("revocation", "manual_ttl_seconds", "revoke", "ttl"),
    ("waf", "compile_after_run", "run", "compile_waf"),
    ("waf", "retention_minutes", "publish", "retention"),
    ("kvs", "arn", "kvs", "kvs_arn"),
    ("kvs", "retention_minutes", "publish", "retention"),
    ("kvs", "publish_after_run", "run", "publish_kvs"),
];

impl Config {
    /// Reads and checks a config file, naming the file and the bad key in errors.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Setting {
            setting: "--config".into(),
            reason: format!("{}: {e}", path.display()),
        })?;
        Self::parse(&text).map_err(|reason| Error::Setting {
            setting: "--config".into(),
            reason: format!("{}: {reason}", path.display()),
        })
    }

    /// Parses config text, moving keys of earlier releases to their place first.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        for (section, key, new_section, new_key) in LEGACY_KEYS {
            let Some(old) = table
                .get_mut(*section)
                .and_then(|s| s.as_table_mut())
                .and_then(|s| s.remove(*key))
            else {
                continue;
            };
            let target = table
                .entry(new_section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| format!("[{new_section}] must be a table"))?;
            match target.get(*new_key) {
                Some(present) if *present != old => {
                    return Err(format!(
                        "[{section}] {key} is [{new_section}] {new_key} now, and both are set \
                         to different values: keep [{new_section}] {new_key}"
                    ));
                }
                Some(_) => {}
                None => {
                    target.insert(new_key.to_string(), old);
                }
            }
        }
        Config::deserialize(toml::Value::Table(table)).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autorevoke::session::SessionRule;
    use autorevoke::source::Layout;

    #[test]
    fn the_example_file_parses_with_every_section() {
        let text = include_str!("../../autorevoke.example.toml");
        let c = Config::parse(text).expect("the example parses");
        assert_eq!(
            c.revocation.table.as_deref(),
            Some("SecureMediaDelivery-AutoRevocationTable")
        );
        assert_eq!(c.logs.layout, Some(Layout::Auto));
        assert_eq!(c.scoring.threshold, Some(2.2));
        assert_eq!(c.waf.capacity, None);
        assert_eq!(c.run.breaker_min_flagged, Some(10));
        assert!(!c.run.allow_partial);
        assert!(c.run.compile_waf);
        assert!(!c.waf.fail_on_overflow);
        assert_eq!(c.kvs.key_prefix.as_deref(), Some("revoked:"));
        assert_eq!(
            (c.publish.retention, c.run.publish_kvs, c.kvs.kvs_arn),
            (Some(30), false, None)
        );
        assert_eq!(c.session.session_from, None);
        let cta = Config::parse("[session]\nsession_from = \"cta\"\n").expect("cta");
        assert_eq!(cta.session.session_from, Some(SessionRule::Cta));
        assert!(Config::parse("[session]\nsession_from = \"jwt\"\n").is_err());
    }

    #[test]
    fn keys_of_earlier_releases_are_read_where_they_are_now() {
        let c = Config::parse(
            "[logs]\nsession_from = \"cta\"\nlate_margin_minutes = 5\n\
             [revocation]\nttl_days = 2\nmanual_ttl_seconds = 60\n\
             [waf]\ncompile_after_run = true\nretention_minutes = 45\n\
             [kvs]\narn = \"a\"\nretention_minutes = 45\n[scoring]\nlookback_minutes = 20\n",
        )
        .expect("legacy keys");
        assert_eq!(c.session.session_from, Some(SessionRule::Cta));
        assert_eq!(c.logs.late_margin, Some(5));
        assert_eq!((c.run.ttl_days, c.revoke.ttl), (Some(2), Some(60)));
        assert!(c.run.compile_waf);
        assert_eq!(c.publish.retention, Some(45));
        assert_eq!(c.kvs.kvs_arn.as_deref(), Some("a"));
        assert_eq!(c.scoring.lookback.map(|m| m.0), Some(20.0));
        let e = Config::parse("[waf]\nretention_minutes = 30\n[kvs]\nretention_minutes = 45\n")
            .expect_err("two values for one key");
        assert!(e.contains("[publish] retention"), "{e}");
    }

    #[test]
    fn a_cluster_is_a_name_or_a_scheduler_url() {
        let c = Config::parse("[logs]\ncluster = \"df://10.0.0.5:50050\"\n").expect("url");
        assert_eq!(
            c.logs.cluster,
            Some(autorevoke::Cluster::Remote {
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
        // A decision for one run is never read from the file.
        assert!(Config::parse("[publish]\nallow_mass_unblock = true\n").is_err());
    }
}
