//! The one resolve step: flags over the config file ([`Resolver::merge`]), then the library's
//! checked settings with its default constants. No I/O happens here; an error names the
//! setting as the user wrote it: `--flag` when it came from the command line, `[section] key`
//! when it came from the file.

use chrono::{DateTime, Utc};
use clap::CommandFactory;

use autorevoke::cloudfront::reader::{DEFAULT_CONCURRENCY, DEFAULT_STREAM_ABOVE_BYTES};
use autorevoke::cloudfront::{ReadOptions, RealtimeFields};
#[cfg(feature = "cluster")]
use autorevoke::engine::cluster::{
    DEFAULT_EXECUTOR_BIND, DEFAULT_EXECUTOR_GRPC_PORT, DEFAULT_SCHEDULER_BIND, ExecutorOptions,
    SchedulerOptions, host_port,
};
use autorevoke::kvs::{DEFAULT_KEY_PREFIX, KvsTarget, check_prefix};
use autorevoke::revocation::{DEFAULT_MANUAL_TTL_SECONDS, DEFAULT_RETENTION_MINUTES};
use autorevoke::run::{
    DEFAULT_BREAKER_MIN_FLAGGED, DEFAULT_MAX_FLAGGED_FRACTION, DEFAULT_TTL_DAYS,
    DEFAULT_WRITE_CONCURRENCY, RunOptions,
};
use autorevoke::score::viewers::ViewerParams;
use autorevoke::score::{DEFAULT_LOOKBACK_MINUTES, Now, ScoreParams, Weights, WindowSpec};
use autorevoke::session::SessionRule;
#[cfg(feature = "cluster")]
use autorevoke::source::AllowedLocations;
use autorevoke::source::ListOptions;
use autorevoke::source::location::DEFAULT_LATE_MARGIN_MINUTES;
use autorevoke::waf::{DEFAULT_CAPACITY, WCU_PER_RULE, WafTarget};
use autorevoke::watch::{DEFAULT_ALLOWANCE_S, DEFAULT_EVERY, MAX_RECORDS_PER_CALL, WatchOptions};
use autorevoke::{Cluster, Error, Result};

use super::Cli;
use super::commands::{JobArgs, WatchArgs};
use super::config::Config;
#[cfg(feature = "cluster")]
use super::groups::{ExecutorArgs, SchedulerArgs};
use super::groups::{
    KvsArgs, PublishArgs, ReadArgs, RuleGroupArgs, ScoringArgs, SessionArgs, TableArgs, WriteArgs,
};
use super::options::{OptionGroup, Origins};

/// Merges a command's flags with the config file and checks the result, remembering where
/// each value came from.
pub struct Resolver<'a> {
    cfg: &'a Config,
    origins: Origins,
}

impl<'a> Resolver<'a> {
    /// A resolver over the config file's values.
    pub fn new(cfg: &'a Config) -> Self {
        Resolver {
            cfg,
            origins: Origins::default(),
        }
    }

    /// `flags` over the file's section `pick` selects.
    pub fn merge<G: OptionGroup>(&mut self, flags: &G, pick: fn(&Config) -> &G) -> G {
        flags.merge(pick(self.cfg), &mut self.origins)
    }

    /// `error` with its setting named as the user wrote it.
    pub fn render(&self, error: Error) -> Error {
        match error {
            Error::Setting { setting, reason } => Error::Setting {
                setting: self.name_of(&setting),
                reason,
            },
            other => other,
        }
    }

    /// How the user wrote setting `key`: `[section] key` when its value came from the file,
    /// else its flag (`--key-name`); anything that is not a key stays as it is.
    pub fn name_of(&self, key: &str) -> String {
        if key.contains('/') {
            return key
                .split('/')
                .map(|k| self.name_of(k))
                .collect::<Vec<_>>()
                .join("/");
        }
        if let Some(section) = self.origins.section_of(key) {
            return format!("[{section}] {key}");
        }
        flag_of(key).unwrap_or_else(|| key.to_string())
    }

    /// A setting error for `key`, named as the user wrote it.
    pub fn error(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::Setting {
            setting: self.name_of(key),
            reason: reason.into(),
        }
    }

    /// The read settings (no location is opened yet).
    pub fn read(&mut self, read: &ReadArgs, session: &SessionArgs) -> Result<ReadPlan> {
        let read = self.merge(read, |c| &c.logs);
        let session_from = self.session(session);
        if read.locations.is_empty() {
            return Err(Error::Setting {
                setting: "LOCATION".into(),
                reason: "give at least one log location (or [logs] locations in --config)".into(),
            });
        }
        let options = ReadOptions {
            strict: read.strict,
            concurrency: read.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1),
            format: read.format_in.unwrap_or_default(),
            realtime_fields: read
                .realtime_fields
                .map_or(RealtimeFields::default(), |f| f.0),
            stream_above_bytes: read
                .stream_above
                .map_or(DEFAULT_STREAM_ABOVE_BYTES, |s| s.0 as u64),
            session_from,
            ..ReadOptions::default()
        };
        let list = ListOptions {
            layout: read.layout.unwrap_or_default(),
            late_margin_s: i64::from(read.late_margin.unwrap_or(DEFAULT_LATE_MARGIN_MINUTES)) * 60,
        };
        Ok(ReadPlan {
            locations: read.locations,
            options,
            list,
            threads: read.threads,
            state: read.state,
            cluster: read.cluster.unwrap_or_default(),
            memory_limit: read.memory_limit.map(|s| s.0),
        })
    }

    /// The session rule: the flag, else `[session] session_from`, else `prefix`.
    pub fn session(&mut self, session: &SessionArgs) -> SessionRule {
        self.merge(session, |c| &c.session)
            .session_from
            .unwrap_or_default()
    }

    /// The window and the scoring parameters.
    pub fn scoring(
        &mut self,
        window: &WindowArgs,
        scoring: &ScoringArgs,
    ) -> Result<(WindowSpec, ScoreParams, bool)> {
        // An explicit window (--from/--to) replaces the file's lookback, not the flag's.
        let explicit = window.from.is_some() || window.to.is_some();
        let file_lookback = self.cfg.scoring.lookback;
        let s = self.merge(scoring, |c| &c.scoring);
        let lookback = match (explicit, scoring.lookback) {
            (true, None) => None,
            _ => s.lookback.or(if explicit { None } else { file_lookback }),
        };
        let spec = WindowSpec::new(window.now, lookback.map(|m| m.0), window.from, window.to)
            .map_err(|e| self.render(e))?;
        let params = self.params(&s)?;
        Ok((spec, params, s.allow_empty))
    }

    /// The scoring parameters of a merged scoring group, checked.
    fn params(&self, s: &ScoringArgs) -> Result<ScoreParams> {
        let d = ScoreParams::default();
        let params = ScoreParams {
            profile: s.rules.unwrap_or(d.profile),
            min_overlap: s.min_overlap.unwrap_or(d.min_overlap),
            threshold: s.threshold.unwrap_or(d.threshold),
            min_sessions: s.min_sessions.unwrap_or(d.min_sessions),
            min_duration: s.min_duration.unwrap_or(d.min_duration),
            weights: Weights {
                rate: s.weight_rate.unwrap_or(d.weights.rate),
                ip: s.weight_ip.unwrap_or(d.weights.ip),
                referer: s.weight_referer.unwrap_or(d.weights.referer),
                ua: s.weight_ua.unwrap_or(d.weights.ua),
            },
            viewers: ViewerParams {
                min_viewers: s.min_viewers.unwrap_or(d.viewers.min_viewers),
                min_evidence_minutes: s
                    .min_evidence_minutes
                    .unwrap_or(d.viewers.min_evidence_minutes),
                co_fetch_seconds: s.co_fetch_seconds.unwrap_or(d.viewers.co_fetch_seconds),
                min_cofetched_objects: s
                    .min_cofetched_objects
                    .unwrap_or(d.viewers.min_cofetched_objects),
                min_country_minutes: s
                    .min_country_minutes
                    .unwrap_or(d.viewers.min_country_minutes),
                max_segment_skip: s.max_segment_skip.unwrap_or(d.viewers.max_segment_skip),
            },
        };
        params.validate().map_err(|e| self.render(e))?;
        Ok(params)
    }

    /// The revocation table's name.
    pub fn table(&mut self, table: &TableArgs) -> Result<String> {
        self.merge(table, |c| &c.revocation).table.ok_or_else(|| {
            self.error(
                "table",
                "give the revocation table's name (or [revocation] table in --config)",
            )
        })
    }

    /// How many minutes a compile or publish keeps AUTO items, and its safety override.
    pub fn publish(&mut self, publish: &PublishArgs) -> Result<(u32, bool)> {
        let p = self.merge(publish, |c| &c.publish);
        match p.retention.unwrap_or(DEFAULT_RETENTION_MINUTES) {
            0 => Err(self.error(
                "retention",
                "0 minutes would publish no AUTO item: at least 1",
            )),
            r => Ok((r, p.allow_mass_unblock)),
        }
    }

    /// The rule group to compile into, and whether an overflow fails the command.
    pub fn rule_group(
        &mut self,
        group: &RuleGroupArgs,
        publish: &PublishArgs,
    ) -> Result<(WafTarget, bool)> {
        let g = self.merge(group, |c| &c.waf);
        let (retention_minutes, allow_mass_unblock) = self.publish(publish)?;
        let rule_group = g.rule_group.ok_or_else(|| {
            self.error(
                "rule_group",
                "give the WAF rule group's name (or [waf] rule_group in --config)",
            )
        })?;
        let capacity = match g.capacity {
            Some(c) if c < WCU_PER_RULE => {
                return Err(self.error(
                    "capacity",
                    format!("{c} WCU holds no rule (each costs {WCU_PER_RULE})"),
                ));
            }
            other => other,
        };
        Ok((
            WafTarget {
                rule_group,
                rule_group_id: g.rule_group_id,
                capacity,
                retention_minutes,
                allow_mass_unblock,
            },
            g.fail_on_overflow,
        ))
    }

    /// The rule group `init` creates and its capacity.
    pub fn new_rule_group(&mut self, group: &RuleGroupArgs) -> Result<(String, u32)> {
        let (target, _) = self.rule_group(group, &PublishArgs::default())?;
        Ok((
            target.rule_group,
            target.capacity.unwrap_or(DEFAULT_CAPACITY),
        ))
    }

    /// The KeyValueStore to publish into: always for `kvs publish` (`wanted`), for `run`
    /// only when `--kvs-arn` or `--publish-kvs` ask.
    pub fn kvs(
        &mut self,
        kvs: &KvsArgs,
        publish: &PublishArgs,
        wanted: bool,
    ) -> Result<Option<KvsTarget>> {
        let wanted = wanted || kvs.kvs_arn.is_some();
        let k = self.merge(kvs, |c| &c.kvs);
        if !wanted {
            return Ok(None);
        }
        let kvs_arn = k.kvs_arn.ok_or_else(|| {
            self.error(
                "kvs_arn",
                "give the KeyValueStore's ARN (or [kvs] kvs_arn in --config)",
            )
        })?;
        let key_prefix = k
            .key_prefix
            .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_string());
        check_prefix(&key_prefix).map_err(|reason| self.error("key_prefix", reason))?;
        let (retention_minutes, allow_mass_unblock) = self.publish(publish)?;
        Ok(Some(KvsTarget {
            kvs_arn,
            key_prefix,
            retention_minutes,
            max_bytes: k.max_bytes.map(|s| s.0 as u64),
            allow_mass_unblock,
        }))
    }

    /// What a job writes (`run`, a tick of `watch`), and whether an overflow of the rule
    /// group fails it.
    pub fn run(&mut self, args: &JobArgs, session: &SessionArgs) -> Result<(RunOptions, bool)> {
        let w = self.merge(&args.write, |c| &c.run);
        let session_from = self.session(session);
        let (compile, fail_on_overflow) = if w.compile_waf {
            refuse_waf_for(session_from).map_err(|reason| self.error("compile_waf", reason))?;
            let (target, fail) = self.rule_group(&args.rule_group, &args.publish)?;
            (Some(target), fail)
        } else {
            let group = self.merge(&args.rule_group, |c| &c.waf);
            (None, group.fail_on_overflow)
        };
        let mut options = self.run_options(args, w, session_from)?;
        options.compile = compile;
        Ok((options, fail_on_overflow))
    }

    fn run_options(
        &mut self,
        args: &JobArgs,
        w: WriteArgs,
        session_from: SessionRule,
    ) -> Result<RunOptions> {
        let max_flagged_fraction = w
            .max_flagged_fraction
            .unwrap_or(DEFAULT_MAX_FLAGGED_FRACTION);
        if !(0.0..=1.0).contains(&max_flagged_fraction) {
            return Err(self.error(
                "max_flagged_fraction",
                format!("{max_flagged_fraction} is not between 0 and 1"),
            ));
        }
        let table = self.table(&args.table)?;
        let kvs = self.kvs(&args.kvs, &args.publish, w.publish_kvs)?;
        Ok(RunOptions {
            max_revocations: w.max_revocations,
            max_flagged_fraction,
            breaker_min_flagged: w.breaker_min_flagged.unwrap_or(DEFAULT_BREAKER_MIN_FLAGGED),
            allow_partial: w.allow_partial,
            table,
            ttl_days: w.ttl_days.unwrap_or(DEFAULT_TTL_DAYS),
            write_concurrency: w
                .write_concurrency
                .unwrap_or(DEFAULT_WRITE_CONCURRENCY)
                .max(1),
            dry_run: args.dry_run,
            compile: None,
            kvs,
            session_from,
        })
    }

    /// `watch`'s options.
    pub fn watch(&mut self, args: &WatchArgs) -> Result<WatchOptions> {
        let w = self.merge(&args.watch, |c| &c.watch);
        let stream = w.stream.ok_or_else(|| {
            self.error(
                "stream",
                "give the Kinesis stream's name or ARN (or [watch] stream in --config)",
            )
        })?;
        let checkpoint = w.checkpoint.ok_or_else(|| {
            self.error(
                "checkpoint",
                "give where checkpoints are kept: a DynamoDB table, a folder or \
                 s3://bucket/prefix (or [watch] checkpoint in --config)",
            )
        })?;
        let scoring = self.merge(&args.scoring, |c| &c.scoring);
        let minutes = scoring.lookback.map_or(DEFAULT_LOOKBACK_MINUTES, |m| m.0);
        if !minutes.is_finite() || minutes <= 0.0 || minutes > 24.0 * 60.0 {
            return Err(self.error(
                "lookback",
                format!("{minutes} is not a number of minutes > 0 and at most a day"),
            ));
        }
        let params = self.params(&scoring)?;
        let read = self.merge(&args.read(), |c| &c.logs);
        let (run, _) = self.run(&args.job, &args.session)?;
        Ok(WatchOptions {
            stream,
            every: w.every.map_or(DEFAULT_EVERY, |e| e.0),
            lookback_s: (minutes * 60.0).round() as i64,
            allowance_s: w.allowance.map_or(DEFAULT_ALLOWANCE_S, |s| {
                i64::try_from(s).unwrap_or(i64::MAX)
            }),
            params,
            run,
            realtime_fields: read
                .realtime_fields
                .map_or(RealtimeFields::default(), |f| f.0),
            checkpoint,
            memory_limit: read.memory_limit.map(|s| s.0),
            metrics: w.metrics,
            records_per_call: w
                .records_per_call
                .unwrap_or(MAX_RECORDS_PER_CALL)
                .clamp(1, MAX_RECORDS_PER_CALL),
            exit_when_caught_up: args.exit_when_caught_up,
            threads: read.threads,
            tick_lines: true,
        })
    }

    /// `revoke`'s TTL in seconds.
    pub fn manual_ttl(&mut self, ttl: &super::groups::RevokeTtlArgs) -> u64 {
        self.merge(ttl, |c| &c.revoke)
            .ttl
            .unwrap_or(DEFAULT_MANUAL_TTL_SECONDS)
    }

    /// The sessions' names, for a command that publishes to WAF (refused for CTA sessions).
    pub fn waf_session(&mut self, session: &SessionArgs) -> Result<SessionRule> {
        let rule = self.session(session);
        refuse_waf_for(rule).map_err(|reason| self.error("session_from", reason))?;
        Ok(rule)
    }

    /// The scheduler's settings.
    #[cfg(feature = "cluster")]
    pub fn scheduler(&mut self, args: &SchedulerArgs) -> Result<SchedulerOptions> {
        let s = self.merge(args, |c| &c.scheduler);
        Ok(SchedulerOptions {
            bind: s.bind.unwrap_or(DEFAULT_SCHEDULER_BIND),
            external_host: s.external_host,
            allowed: self.allowed(&s.allow_location)?,
        })
    }

    /// The executor's settings.
    #[cfg(feature = "cluster")]
    pub fn executor(&mut self, args: &ExecutorArgs) -> Result<ExecutorOptions> {
        let e = self.merge(args, |c| &c.executor);
        let text = e
            .scheduler
            .ok_or_else(|| self.error("scheduler", "give the scheduler's HOST:PORT"))?;
        let scheduler = host_port(&text)
            .ok_or_else(|| self.error("scheduler", format!("{text:?}: expected HOST:PORT")))?;
        Ok(ExecutorOptions {
            scheduler,
            bind: e.bind.unwrap_or(DEFAULT_EXECUTOR_BIND),
            grpc_port: e.grpc_port.unwrap_or(DEFAULT_EXECUTOR_GRPC_PORT),
            external_host: e.external_host,
            slots: e.slots,
            work_dir: e.work_dir.as_ref().map(|d| d.display().to_string()),
            allowed: self.allowed(&e.allow_location)?,
        })
    }

    /// The `--allow-location` values of a cluster process (at least one).
    #[cfg(feature = "cluster")]
    fn allowed(&self, texts: &[String]) -> Result<AllowedLocations> {
        if texts.is_empty() {
            return Err(self.error(
                "allow_location",
                "required: --allow-location <LOCATION> (or [scheduler]/[executor] allow_location), a \
                 location the cluster may read; repeat it for each",
            ));
        }
        AllowedLocations::parse(texts).map_err(|e| self.error("allow_location", e.to_string()))
    }
}

/// What reading the logs needs, before any location is opened.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    /// The locations as given (`-` is standard input).
    pub locations: Vec<String>,
    /// How objects are read.
    pub options: ReadOptions,
    /// How locations are listed.
    pub list: ListOptions,
    /// Partitions read in parallel.
    pub threads: Option<usize>,
    /// Where projections are kept.
    pub state: Option<String>,
    /// Where the queries run.
    pub cluster: Cluster,
    /// Memory the query may track.
    pub memory_limit: Option<usize>,
}

/// The time window of one scoring run: what to score, not how (so it has no config key).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WindowArgs {
    /// End of the window: an RFC 3339 time, or `latest` for the newest row in the logs
    /// (default: the current time).
    #[arg(long, value_name = "RFC3339|latest", value_parser = super::values::parse_now)]
    pub now: Option<Now>,
    /// Start of an explicit window (with --to; replaces --now and --lookback).
    #[arg(long, value_name = "RFC3339", value_parser = super::values::parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// End of an explicit window (with --from).
    #[arg(long, value_name = "RFC3339", value_parser = super::values::parse_time)]
    pub to: Option<DateTime<Utc>>,
}

/// A WAF rule matches a URI path: it cannot match a session named by a Common Access Token
/// (and such an id in a path rule could match another session's path).
fn refuse_waf_for(rule: SessionRule) -> std::result::Result<(), String> {
    match rule {
        SessionRule::Prefix => Ok(()),
        SessionRule::Cta => Err(
            "sessions are named by Common Access Tokens (--session-from \
                                 cta): a WAF URI-path rule cannot match them; publish them \
                                 with `kvs publish` (or run --kvs-arn) instead"
                .into(),
        ),
    }
}

/// The flag of config key `key` (`--late-margin` for `late_margin`), when some command has
/// one.
pub fn flag_of(key: &str) -> Option<String> {
    // A setting of several keys (`from/to`) is each of their flags.
    if key.contains('/') {
        let flags: Option<Vec<String>> = key.split('/').map(flag_of).collect();
        return flags.map(|f| f.join("/"));
    }
    fn find(cmd: &clap::Command, key: &str) -> Option<String> {
        for arg in cmd.get_arguments() {
            if arg.get_id().as_str() == key {
                return arg.get_long().map(|l| format!("--{l}"));
            }
        }
        cmd.get_subcommands().find_map(|sub| find(sub, key))
    }
    find(&Cli::command(), key)
}
