//! `autorevoke watch`'s flags, merged with the config file (flags win) into the library's
//! [`WatchOptions`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use autorevoke::cloudfront::RealtimeFields;
use autorevoke::config::Config;
use autorevoke::job::RunOptions;
use autorevoke::watch::{DEFAULT_ALLOWANCE_S, MAX_RECORDS_PER_CALL, WatchOptions};
use autorevoke::{Error, Result};

use crate::cli::{
    AwsArgs, KvsArgs, RuleGroupArgs, ScoringArgs, SessionArgs, WriteFlags, memory_limit,
    parse_minutes, parse_size, realtime_fields, refuse_waf_for, write_options,
};

/// `autorevoke watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The Kinesis data stream the real-time log configuration writes to (name or ARN;
    /// default: [watch] stream).
    #[arg(long, value_name = "NAME|ARN")]
    pub stream: Option<String>,
    /// Time between ticks (each scores the window and writes) [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub every: Option<Duration>,
    /// Length of the window of event time: minutes, or a duration (90s, 10m) [default: 10].
    #[arg(long, value_name = "MINUTES|DURATION", value_parser = parse_minutes)]
    pub lookback: Option<f64>,
    /// The window ends this many seconds before the newest record time seen, for records
    /// still in flight [default: 5].
    #[arg(long, value_name = "SECONDS")]
    pub allowance: Option<u64>,
    /// Where each shard's checkpoint and the lease are kept: a DynamoDB table (created when
    /// missing), a folder (a path with a `/`), or s3://bucket/prefix.
    #[arg(long, value_name = "TABLE|DIR|s3://BUCKET/PREFIX")]
    pub checkpoint: Option<String>,
    /// Serve Prometheus text metrics on this address (port 0: any free port, named on
    /// stderr).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,
    /// Most memory the window's rows may take (and its queries track), e.g. 512MiB; beyond
    /// it watch stops with an error [default: unlimited].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// The real-time log configuration's fields, comma-separated in any order [default:
    /// the 45 fields timestamp..asn without s-ip].
    #[arg(long, value_name = "LIST")]
    pub realtime_fields: Option<RealtimeFields>,
    /// Stop after the first tick at which every shard is read to its tip (a replay of a
    /// stream, scored as it would have been live).
    #[arg(long)]
    pub exit_when_caught_up: bool,
    /// Records one GetRecords call asks for [default: 10000, the most Kinesis returns].
    #[arg(long, value_name = "N", hide = true)]
    pub records_per_call: Option<i32>,
    /// Query partitions (default: the number of cores plus one).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub session: SessionArgs,
    #[command(flatten, next_help_heading = "Scoring")]
    pub scoring: ScoringArgs,
    /// The DynamoDB revocation table.
    #[arg(long, value_name = "NAME", help_heading = "Revocation")]
    pub table: Option<String>,
    /// Days until an AUTO item expires [default: 7].
    #[arg(long, value_name = "DAYS", help_heading = "Revocation")]
    pub ttl_days: Option<u32>,
    /// Conditional writes in flight at once [default: 16].
    #[arg(long, value_name = "N", help_heading = "Revocation")]
    pub write_concurrency: Option<usize>,
    /// Score and report every tick; write nothing.
    #[arg(long, help_heading = "Revocation")]
    pub dry_run: bool,
    /// Write at most N items per tick, the highest scores.
    #[arg(long, value_name = "N", help_heading = "Revocation")]
    pub max_revocations: Option<usize>,
    /// Circuit breaker: a tick that flags more than this share of the scored sessions writes
    /// nothing [default: 0.05].
    #[arg(long, value_name = "F", help_heading = "Revocation")]
    pub max_flagged_fraction: Option<f64>,
    /// The circuit breaker applies from this many flagged sessions on [default: 10].
    #[arg(long, value_name = "N", help_heading = "Revocation")]
    pub breaker_min_flagged: Option<u64>,
    // Compile this WAF rule group after a tick wrote (and every minute, for expiries).
    #[command(flatten, next_help_heading = "WAF")]
    pub rule_group: RuleGroupArgs,
    // Publish to this KeyValueStore after a tick wrote (and every minute).
    #[command(flatten, next_help_heading = "KeyValueStore")]
    pub kvs: KvsArgs,
    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

impl WatchArgs {
    /// The checked options: flags, else the config file, else the defaults.
    pub fn options(&self, cfg: &Config) -> Result<WatchOptions> {
        let w = &cfg.watch;
        let stream = self
            .stream
            .clone()
            .or_else(|| w.stream.clone())
            .ok_or(Error::Setting {
                setting: "--stream",
                reason: "give the Kinesis stream's name or ARN (or [watch] stream in --config)"
                    .into(),
            })?;
        let checkpoint = self
            .checkpoint
            .clone()
            .or_else(|| w.checkpoint.clone())
            .ok_or(Error::Setting {
                setting: "--checkpoint",
                reason: "give where checkpoints are kept: a DynamoDB table, a folder or \
                         s3://bucket/prefix (or [watch] checkpoint in --config)"
                    .into(),
            })?;
        let every = match (self.every, &w.every) {
            (Some(every), _) => every,
            (None, Some(text)) => parse_duration(text).map_err(|reason| Error::Setting {
                setting: "[watch] every",
                reason,
            })?,
            (None, None) => Duration::from_secs(10),
        };
        let minutes = self
            .lookback
            .or(cfg.scoring.lookback_minutes)
            .unwrap_or(10.0);
        if !minutes.is_finite() || minutes <= 0.0 || minutes > 24.0 * 60.0 {
            return Err(Error::Setting {
                setting: "--lookback",
                reason: format!("{minutes} is not a number of minutes > 0 and at most a day"),
            });
        }
        let metrics = match (self.metrics, &w.metrics) {
            (Some(addr), _) => Some(addr),
            (None, Some(text)) => Some(text.parse().map_err(|e| Error::Setting {
                setting: "[watch] metrics",
                reason: format!("{text:?}: {e}"),
            })?),
            (None, None) => None,
        };
        Ok(WatchOptions {
            stream,
            every,
            lookback_s: (minutes * 60.0).round() as i64,
            allowance_s: self
                .allowance
                .or(w.allowance_seconds)
                .map_or(DEFAULT_ALLOWANCE_S, |s| {
                    i64::try_from(s).unwrap_or(i64::MAX)
                }),
            params: self.scoring.params(cfg)?,
            run: self.run_options(cfg)?,
            realtime_fields: realtime_fields(self.realtime_fields, cfg)?,
            checkpoint,
            memory_limit: memory_limit(self.memory_limit, cfg)?,
            metrics,
            records_per_call: self
                .records_per_call
                .unwrap_or(MAX_RECORDS_PER_CALL)
                .clamp(1, MAX_RECORDS_PER_CALL),
            exit_when_caught_up: self.exit_when_caught_up,
            threads: self.threads.or(cfg.logs.threads),
            tick_lines: true,
        })
    }

    /// What each tick writes, as `run` would.
    fn run_options(&self, cfg: &Config) -> Result<RunOptions> {
        let session_from = self.session.rule(cfg);
        let compile = self.rule_group.rule_group.is_some()
            || cfg.waf.compile_after_run.unwrap_or(false) && cfg.waf.rule_group.is_some();
        if compile {
            refuse_waf_for(session_from, "--rule-group")?;
        }
        write_options(
            WriteFlags {
                table: &self.table,
                ttl_days: self.ttl_days,
                write_concurrency: self.write_concurrency,
                dry_run: self.dry_run,
                max_revocations: self.max_revocations,
                max_flagged_fraction: self.max_flagged_fraction,
                breaker_min_flagged: self.breaker_min_flagged,
                // A stream has no failed objects.
                allow_partial: false,
            },
            cfg,
            (&self.rule_group, compile),
            &self.kvs,
            session_from,
        )
    }
}

/// A duration: seconds (`10`), or a number with `ms`, `s`, `m` or `h` (`500ms`, `10s`, `2m`).
fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => t.split_at(at),
        None => (t, "s"),
    };
    let per_unit = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?}; use ms, s, m or h (10s)"
            ));
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 10s, 500ms, 1m"))?;
    let seconds = value * per_unit;
    if !seconds.is_finite() || !(0.1..=86_400.0).contains(&seconds) {
        return Err(format!("{s:?}: between 100ms and 24h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_bare_seconds() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
