//! `waf compile`: reads the revocation table and makes the rule group hold its rules (what
//! `run --compile-waf` does after writing).

use chrono::Utc;

use super::{ApplyOutcome, Compiled, WafRuleGroup, compile};
use crate::aws::AwsAccess;
use crate::error::{Error, Result};
use crate::revocation::{RevocationItem, RevocationTable, read_active};

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
                setting: "capacity".into(),
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
            setting: "capacity".into(),
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
