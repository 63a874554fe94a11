//! `init`: creates the revocation table and the WAF rule group when they do not exist.

use std::sync::Arc;

use crate::aws::AwsAccess;
use crate::error::Result;
use crate::revocation::RevocationTable;
use crate::waf::WafRuleGroup;

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
