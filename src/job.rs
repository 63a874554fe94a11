//! The scheduled job and the operator commands, as library functions the CLI calls: `run`
//! (score, then write AUTO items, optionally compile), `revoke` (MANUAL items), `compile_waf`
//! and `init`.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;

use crate::aws::AwsAccess;
use crate::cloudfront::SessionRule;
use crate::engine::LogEngine;
use crate::error::{Error, Result};
use crate::kvs::{KeyValueStore, PublishOutcome, PublishSettings};
use crate::revocation::{
    AllowItem, AutoItem, ListedItem, ManualItem, RevocationItem, RevocationTable, WriteSummary,
};
use crate::score::{ScoreParams, ScoreReport, WindowSpec, score};
use crate::waf::{ApplyOutcome, Compiled, WafRuleGroup, compile, select};

/// The rule group and how to compile into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WafTarget {
    /// Rule group name.
    pub rule_group: String,
    /// Rule group id (looked up by name when not given).
    pub rule_group_id: Option<String>,
    /// WCU available for rules (2 per rule); `None`: the group's own capacity. When given it
    /// must equal the group's (a compile sized for another group fails, naming both).
    pub capacity: Option<u32>,
    /// Items older than this many minutes are left out (MANUAL items last until their `ttl`).
    pub retention_minutes: u32,
    /// Apply a compile that removes most of the group's rules ([`crate::waf::is_mass_unblock`]).
    pub allow_mass_unblock: bool,
}

/// The KeyValueStore and how to publish into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvsTarget {
    /// The store's ARN.
    pub kvs_arn: String,
    /// Keys are `<key_prefix><session_id>` (checked by [`crate::kvs::check_prefix`]).
    pub key_prefix: String,
    /// Items older than this many minutes are left out (MANUAL items last until their `ttl`).
    pub retention_minutes: u32,
    /// Most bytes of autorevoke's keys; `None`: what the store holds beside other keys.
    pub max_bytes: Option<u64>,
    /// Apply a publish that deletes most of the keys under the prefix.
    pub allow_mass_unblock: bool,
}

/// What a publish did.
#[derive(Debug, Clone)]
pub struct KvsReport {
    /// The store.
    pub kvs_arn: String,
    /// Keys, difference and calls.
    pub outcome: PublishOutcome,
    /// Was this a dry run?
    pub dry_run: bool,
}

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
    pub over_limit: Vec<String>,
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

/// What a compile did.
#[derive(Debug, Clone)]
pub struct CompileReport {
    /// The rules computed from the table.
    pub compiled: Compiled,
    /// What applying them did (or would do).
    pub outcome: ApplyOutcome,
    /// Was this a dry run?
    pub dry_run: bool,
    /// The capacity compiled for, in WCU (the rule group's).
    pub capacity: u32,
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
    skip: &HashSet<String>,
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

/// Lifts the revocations of `ids` (all checked before any is written): each item is replaced
/// by an `unrevoke` marker lasting `seconds`, so the next compile drops the session's rule
/// and `run` does not revoke it again meanwhile; with `forget`, the items are only deleted (a
/// later run may revoke the sessions again).
pub async fn unrevoke(
    aws: &AwsAccess,
    table: &str,
    ids: &[String],
    seconds: u64,
    forget: bool,
) -> Result<Vec<AllowItem>> {
    let now = Utc::now().timestamp();
    let items = ids
        .iter()
        .map(|id| AllowItem::new(id, now, seconds))
        .collect::<Result<Vec<_>>>()?;
    let table = RevocationTable::new(aws.dynamodb_client().await, table);
    if forget {
        table.delete(ids).await?;
        return Ok(Vec::new());
    }
    table.put_allowed(&items).await?;
    Ok(items)
}

/// Every item of the revocation table, as stored, by session id.
pub async fn list_revocations(aws: &AwsAccess, table: &str) -> Result<Vec<ListedItem>> {
    let table = RevocationTable::new(aws.dynamodb_client().await, table);
    let mut items: Vec<ListedItem> = table
        .scan_all()
        .await?
        .iter()
        .map(ListedItem::from_attributes)
        .collect();
    items.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    Ok(items)
}

/// Writes MANUAL items for `ids`, sessions named by `rule` (all checked before any is
/// written).
pub async fn revoke(
    aws: &AwsAccess,
    table: &str,
    ids: &[String],
    ttl_seconds: u64,
    rule: SessionRule,
) -> Result<Vec<ManualItem>> {
    let now = Utc::now().timestamp();
    let items = ids
        .iter()
        .map(|id| ManualItem::new(id, now, ttl_seconds))
        .collect::<Result<Vec<_>>>()?;
    RevocationTable::new(aws.dynamodb_client().await, table)
        .for_rule(rule)
        .put_manual(&items)
        .await?;
    Ok(items)
}

/// Reads the table and makes the rule group hold its rules, counting `pending` items (a dry
/// run's, not written) as if they were in the table.
pub async fn compile_waf(
    aws: &AwsAccess,
    table: &str,
    target: &WafTarget,
    dry_run: bool,
    pending: Vec<RevocationItem>,
) -> Result<CompileReport> {
    let client = aws.wafv2_client().await;
    let id = match &target.rule_group_id {
        Some(id) => id.clone(),
        None => WafRuleGroup::find_id(&client, &target.rule_group)
            .await?
            .ok_or_else(|| Error::Aws {
                kind: crate::error::AwsErrorKind::NotFound,
                context: format!("WAF rule group {}", target.rule_group),
                message: "no CLOUDFRONT rule group has this name".into(),
            })?,
    };
    let group = WafRuleGroup::new(client, &target.rule_group, &id);
    let real_capacity = group.capacity().await?;
    let capacity = match target.capacity {
        Some(c) if i64::from(c) != real_capacity => {
            return Err(Error::Setting {
                setting: "--capacity",
                reason: format!(
                    "{c} WCU, but WAF rule group {} has a capacity of {real_capacity} WCU; \
                     leave --capacity out to use the group's",
                    target.rule_group
                ),
            });
        }
        Some(c) => c,
        None => u32::try_from(real_capacity).unwrap_or(0),
    };
    if capacity < crate::waf::WCU_PER_RULE {
        return Err(Error::Setting {
            setting: "--capacity",
            reason: format!(
                "WAF rule group {} has a capacity of {capacity} WCU: not one rule fits",
                target.rule_group
            ),
        });
    }
    let now = Utc::now().timestamp();
    let revocations = RevocationTable::new(aws.dynamodb_client().await, table);
    let mut items = read_active(
        &revocations,
        now,
        target.retention_minutes,
        "the rule group",
    )
    .await?;
    items.extend(pending);
    let compiled = compile(items, now, target.retention_minutes, capacity);
    let outcome = group
        .apply(&compiled.rules, dry_run, target.allow_mass_unblock)
        .await?;
    tracing::info!(
        rule_group = %target.rule_group,
        rules = compiled.rules.len(),
        outcome = ?outcome,
        dry_run,
        "compiled the WAF rule group"
    );
    Ok(CompileReport {
        compiled,
        outcome,
        dry_run,
        capacity,
    })
}

/// Reads the table's items of sessions named by `rule` and makes the KeyValueStore's keys
/// under the prefix hold exactly the selection (as `waf compile` selects), within its size
/// budget.
pub async fn publish_kvs(
    aws: &AwsAccess,
    table: &str,
    target: &KvsTarget,
    rule: SessionRule,
    dry_run: bool,
) -> Result<KvsReport> {
    crate::kvs::check_prefix(&target.key_prefix).map_err(|reason| Error::Setting {
        setting: "--key-prefix",
        reason,
    })?;
    let now = Utc::now().timestamp();
    let revocations = RevocationTable::new(aws.dynamodb_client().await, table).for_rule(rule);
    let store = KeyValueStore::new(aws.kvs_client().await, &target.kvs_arn);
    let what = format!("KeyValueStore {}", target.kvs_arn);
    let items = read_active(&revocations, now, target.retention_minutes, &what).await?;
    let selection = select(items, now, target.retention_minutes);
    let settings = PublishSettings {
        key_prefix: target.key_prefix.clone(),
        reason: revocations.reason(),
        retention_minutes: target.retention_minutes,
        max_bytes: target.max_bytes,
    };
    let outcome = store
        .publish(&selection, &settings, dry_run, target.allow_mass_unblock)
        .await?;
    tracing::info!(
        kvs = %target.kvs_arn,
        keys = outcome.compiled.entries.len(),
        left_out = outcome.compiled.left_out.len(),
        updates = outcome.updates,
        dry_run,
        "published to the KeyValueStore"
    );
    Ok(KvsReport {
        kvs_arn: target.kvs_arn.clone(),
        outcome,
        dry_run,
    })
}

/// The items of `table` a compile at `now` selects from (its rule's `reason` only), or an error
/// naming the unreadable items, when there are any, so that `target` (what is left
/// unchanged) keeps blocking their sessions.
pub async fn read_active(
    table: &RevocationTable,
    now: i64,
    retention_minutes: u32,
    target: &str,
) -> Result<Vec<RevocationItem>> {
    let since = now - i64::from(retention_minutes) * 60;
    table.check_index().await?;
    let active = table.active_items(since, now).await?;
    if !active.unreadable.is_empty() {
        let shown: Vec<&str> = active
            .unreadable
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        return Err(Error::Other(format!(
            "table {}: {} item(s) cannot be read, so {target} was not changed (leaving them \
             out would unblock their sessions): {}{}",
            table.name(),
            active.unreadable.len(),
            shown.join("; "),
            if active.unreadable.len() > shown.len() {
                "; …"
            } else {
                ""
            }
        )));
    }
    Ok(active.items)
}

/// What `init` found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// The table was created (false: it existed).
    pub table_created: bool,
    /// The rule group's id.
    pub rule_group_id: String,
    /// The rule group was created (false: it existed).
    pub rule_group_created: bool,
}

/// Creates the table and the rule group when they do not exist.
pub async fn init(
    aws: &Arc<AwsAccess>,
    table: &str,
    rule_group: &str,
    capacity: u32,
) -> Result<InitReport> {
    let table_created = RevocationTable::new(aws.dynamodb_client().await, table)
        .create()
        .await?;
    let (rule_group_id, rule_group_created) =
        WafRuleGroup::create(&aws.wafv2_client().await, rule_group, capacity).await?;
    Ok(InitReport {
        table_created,
        rule_group_id,
        rule_group_created,
    })
}
