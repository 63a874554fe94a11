//! The scheduled job, `run`: score the window, stop at the circuit breaker, write one AUTO
//! item per flagged session, then compile the WAF rule group and/or publish the
//! KeyValueStore.

use std::collections::HashSet;

use chrono::Utc;

use crate::aws::AwsAccess;
use crate::engine::LogEngine;
use crate::error::Result;
use crate::kvs::{KvsReport, KvsTarget, publish_kvs};
use crate::revocation::{AutoItem, RevocationItem, RevocationTable, WriteSummary};
use crate::score::{ScoreParams, ScoreReport, WindowSpec, score};
use crate::session::{SessionId, SessionRule};
use crate::waf::{CompileReport, WafTarget, compile_waf};

/// How `run` writes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The revocation table.
    pub table: String,
    /// Days until an AUTO item expires.
    pub ttl_days: u32,
    /// Writes in flight at once.
    pub write_concurrency: usize,
    /// Print what would be written; write nothing.
    pub dry_run: bool,
    /// Compile the rule group right after writing.
    pub compile: Option<WafTarget>,
    /// Publish to a KeyValueStore right after writing (and compiling).
    pub kvs: Option<KvsTarget>,
    /// How sessions are named: the items carry the rule's `reason`.
    pub session_from: SessionRule,
    /// Write at most this many items per run (the highest scores); report the rest.
    pub max_revocations: Option<usize>,
    /// The circuit breaker: when more than this share of the scored sessions is flagged,
    /// write nothing and fail (a skewed median or a bad setting must not mass-revoke).
    pub max_flagged_fraction: f64,
    /// The breaker only looks at the fraction from this many flagged sessions on (with few
    /// scored sessions one flag is a large share).
    pub breaker_min_flagged: u64,
    /// Write even when some objects failed (their rows are missing, so the median and every
    /// score may be off). Off: a run with a failed object writes nothing.
    pub allow_partial: bool,
}

/// Days until an AUTO item expires, by default.
pub const DEFAULT_TTL_DAYS: u32 = 7;
/// Conditional writes in flight at once, by default.
pub const DEFAULT_WRITE_CONCURRENCY: usize = 16;

/// The default circuit breaker: 5% of the scored sessions.
pub const DEFAULT_MAX_FLAGGED_FRACTION: f64 = 0.05;

/// The default number of flagged sessions below which the breaker does not trip.
pub const DEFAULT_BREAKER_MIN_FLAGGED: u64 = 10;

/// What `run` did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The scoring.
    pub score: ScoreReport,
    /// The AUTO items for the flagged sessions.
    pub items: Vec<AutoItem>,
    /// Flagged sessions that cannot be written (invalid id or number), with the reason.
    pub rejected: Vec<String>,
    /// Flagged sessions left out by `max_revocations` (lowest scores).
    pub over_limit: Vec<SessionId>,
    /// Why the circuit breaker stopped the run, when it did (then nothing was written).
    pub breaker: Option<String>,
    /// Why nothing was written because some objects failed, when that happened.
    pub partial: Option<String>,
    /// What the writes did (None in a dry run).
    pub write: Option<WriteSummary>,
    /// The compile that followed, if asked for.
    pub compile: Option<CompileReport>,
    /// The publish that followed, if asked for.
    pub kvs: Option<KvsReport>,
}

/// Scores the window and writes one AUTO item per flagged session.
pub async fn run(
    engine: &LogEngine,
    aws: &AwsAccess,
    spec: WindowSpec,
    params: ScoreParams,
    options: &RunOptions,
) -> Result<RunReport> {
    let table = RevocationTable::new(aws.dynamodb_client().await, &options.table)
        .for_rule(options.session_from);
    if !options.dry_run {
        // The healthcheck: fail before reading logs if the table cannot be reached.
        table.check().await?;
    }
    let report = score(engine, spec, params).await?;
    act(aws, &table, report, options, &HashSet::new()).await
}

/// What `run` does with a scored window: the circuit breaker, one AUTO item per flagged
/// session written to `table` (none for the sessions in `skip`, which the caller revoked
/// already: `watch` does not rewrite them every tick), then the compile and the publish.
pub async fn act(
    aws: &AwsAccess,
    table: &RevocationTable,
    report: ScoreReport,
    options: &RunOptions,
    skip: &HashSet<SessionId>,
) -> Result<RunReport> {
    let now = Utc::now().timestamp();
    let mut items = Vec::new();
    let mut rejected = Vec::new();
    // Flagged sessions come by score, highest first.
    // (A stopped run still compiles below: expired rules must go whatever this run found.)
    for s in report.flagged_sessions() {
        if skip.contains(&s.session_id) {
            continue;
        }
        match AutoItem::from_session(s, now, options.ttl_days) {
            Ok(item) => items.push(item),
            Err(e) => rejected.push(e.to_string()),
        }
    }
    let mut over_limit = Vec::new();
    if let Some(max) = options.max_revocations
        && items.len() > max
    {
        over_limit = items
            .split_off(max)
            .into_iter()
            .map(|i| i.session_id)
            .collect();
    }
    let breaker = breaker(
        report.flagged,
        report.sessions_scored,
        options.max_flagged_fraction,
        options.breaker_min_flagged,
    );
    let failed = report.stats.objects_failed;
    let partial = (failed > 0 && !options.allow_partial).then(|| {
        format!(
            "{failed} object(s) failed, so the median and every score may be off: nothing was \
             written. Fix or remove the objects (see the messages above), or pass \
             --allow-partial to write from the objects that were read"
        )
    });
    tracing::info!(
        flagged = report.flagged,
        scored = report.sessions_scored,
        items = items.len(),
        rejected = rejected.len(),
        over_limit = over_limit.len(),
        "scored the window"
    );
    if let Some(reason) = &breaker {
        tracing::warn!(%reason, "circuit breaker: nothing written");
    }
    if let Some(reason) = &partial {
        tracing::warn!(%reason, "partial input: nothing written");
    }
    let write = if options.dry_run || breaker.is_some() || partial.is_some() {
        None
    } else {
        let written = table.write_auto(&items, options.write_concurrency).await?;
        tracing::info!(table = %options.table, outcome = ?written, "wrote the revocation items");
        Some(written)
    };
    // A dry run writes nothing, so its compile counts the items it would have written.
    let pending: Vec<RevocationItem> =
        if write.is_none() && options.dry_run && breaker.is_none() && partial.is_none() {
            items.iter().map(RevocationItem::from_auto).collect()
        } else {
            Vec::new()
        };
    let compile = match &options.compile {
        Some(target) => {
            Some(compile_waf(aws, &options.table, target, options.dry_run, pending).await?)
        }
        None => None,
    };
    let kvs = match &options.kvs {
        Some(target) => Some(
            publish_kvs(
                aws,
                &options.table,
                target,
                options.session_from,
                options.dry_run,
            )
            .await?,
        ),
        None => None,
    };
    Ok(RunReport {
        score: report,
        items,
        rejected,
        over_limit,
        breaker,
        partial,
        write,
        compile,
        kvs,
    })
}

/// The circuit breaker's verdict: why the run must stop, if at least `min_flagged` sessions
/// and more than `max_fraction` of the scored sessions are flagged.
pub fn breaker(flagged: u64, scored: u64, max_fraction: f64, min_flagged: u64) -> Option<String> {
    if scored == 0 || flagged == 0 || flagged < min_flagged {
        return None;
    }
    let fraction = flagged as f64 / scored as f64;
    (fraction > max_fraction).then(|| {
        format!(
            "{flagged} of {scored} scored sessions ({:.1}%) are flagged, more than \
             --max-flagged-fraction {max_fraction} ({:.1}%): nothing was written. A skewed median \
             or a bad setting would revoke real viewers; check the report (autorevoke score) and \
             raise the limit if this is real",
            fraction * 100.0,
            max_fraction * 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_trips_above_the_fraction_only() {
        assert_eq!(breaker(5, 100, 0.05, 1), None);
        assert!(
            breaker(6, 100, 0.05, 1)
                .is_some_and(|m| m.starts_with("6 of 100 scored sessions (6.0%)"))
        );
        assert_eq!(breaker(0, 0, 0.05, 1), None);
        assert_eq!(breaker(56, 56, 1.0, 1), None);
        assert!(breaker(1, 1, 0.0, 1).is_some());
    }

    #[test]
    fn the_breaker_ignores_the_fraction_below_the_minimum_flagged() {
        // One flag among 19 is 5.3%: no breaker below 10 flagged sessions by default.
        assert_eq!(breaker(1, 19, 0.05, DEFAULT_BREAKER_MIN_FLAGGED), None);
        assert_eq!(breaker(9, 9, 0.05, DEFAULT_BREAKER_MIN_FLAGGED), None);
        assert!(breaker(10, 100, 0.05, DEFAULT_BREAKER_MIN_FLAGGED).is_some());
        assert!(breaker(10, 10, 0.05, 0).is_some());
    }
}
