//! The WAFv2 calls: reading the rule group, replacing its rules (with the lock token, retried
//! on `WAFOptimisticLockException`), and creating it for standalone use. Scope CLOUDFRONT.

use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::error::ProvideErrorMetadata;
use aws_sdk_wafv2::primitives::Blob;
use aws_sdk_wafv2::types::{
    BlockAction, ByteMatchStatement, FieldToMatch, PositionalConstraint, Rule, RuleAction, Scope,
    Statement, TextTransformation, TextTransformationType, UriPath, VisibilityConfig,
};

use super::compile::{RuleDiff, RuleSpec, diff};
use crate::aws::sdk_error;
use crate::error::{Error, Result};
use crate::retry::{Backoff, Verdict, classify_sdk, with_backoff};
use crate::revocation::{MASS_UNBLOCK_MIN_RULES, is_mass_unblock};

/// A rule group to keep in step with the revocation table.
#[derive(Debug, Clone)]
pub struct WafRuleGroup {
    client: Client,
    name: String,
    id: String,
    backoff: Backoff,
}

/// What applying a rule list did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Rule names added, removed and kept.
    pub diff: RuleDiff,
    /// True when UpdateRuleGroup was called and succeeded.
    pub updated: bool,
    /// Lock conflicts retried.
    pub lock_retries: u32,
}

/// The part of a rule that decides what it does, to compare the group's rules with ours.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RuleShape {
    name: String,
    priority: i32,
    search: Vec<u8>,
    starts_with: bool,
    uri_path: bool,
    transformations: Vec<(i32, String)>,
    block: bool,
    metric: String,
}

fn shape(r: &Rule) -> RuleShape {
    let bm = r.statement().and_then(|s| s.byte_match_statement());
    RuleShape {
        name: r.name().to_string(),
        priority: r.priority(),
        search: bm
            .map(|b| b.search_string().as_ref().to_vec())
            .unwrap_or_default(),
        starts_with: bm
            .is_some_and(|b| *b.positional_constraint() == PositionalConstraint::StartsWith),
        uri_path: bm
            .and_then(|b| b.field_to_match())
            .is_some_and(|f| f.uri_path().is_some()),
        transformations: bm
            .map(|b| {
                b.text_transformations()
                    .iter()
                    .map(|t| (t.priority(), t.r#type().as_str().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        block: r.action().is_some_and(|a| a.block().is_some()),
        metric: r
            .visibility_config()
            .map(|v| v.metric_name().to_string())
            .unwrap_or_default(),
    }
}

fn build_error(e: aws_sdk_wafv2::error::BuildError) -> Error {
    Error::Other(format!("building a WAF rule: {e}"))
}

/// The WAF rule for one spec, exactly as the reference solution writes it (docs/revocation.md).
pub fn waf_rule(spec: &RuleSpec) -> Result<Rule> {
    let statement = Statement::builder()
        .byte_match_statement(
            ByteMatchStatement::builder()
                .search_string(Blob::new(spec.search_string.as_bytes()))
                .field_to_match(
                    FieldToMatch::builder()
                        .uri_path(UriPath::builder().build())
                        .build(),
                )
                .text_transformations(
                    TextTransformation::builder()
                        .priority(0)
                        .r#type(TextTransformationType::None)
                        .build()
                        .map_err(build_error)?,
                )
                .positional_constraint(PositionalConstraint::StartsWith)
                .build()
                .map_err(build_error)?,
        )
        .build();
    Rule::builder()
        .name(&spec.name)
        .priority(spec.priority)
        .statement(statement)
        .action(
            RuleAction::builder()
                .block(BlockAction::builder().build())
                .build(),
        )
        .visibility_config(visibility(&spec.name)?)
        .build()
        .map_err(build_error)
}

fn visibility(metric: &str) -> Result<VisibilityConfig> {
    VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(metric)
        .build()
        .map_err(build_error)
}

impl WafRuleGroup {
    /// The CLOUDFRONT-scope rule group `name` / `id`.
    pub fn new(client: Client, name: &str, id: &str) -> Self {
        WafRuleGroup {
            client,
            name: name.to_string(),
            id: id.to_string(),
            backoff: Backoff::default(),
        }
    }

    /// The id of the CLOUDFRONT rule group named `name`, if there is one.
    pub async fn find_id(client: &Client, name: &str) -> Result<Option<String>> {
        let mut marker: Option<String> = None;
        loop {
            let (result, _) = with_backoff(Backoff::default(), classify_sdk, || {
                client
                    .list_rule_groups()
                    .scope(Scope::Cloudfront)
                    .set_next_marker(marker.clone())
                    .send()
            })
            .await;
            let page = result.map_err(|e| sdk_error("listing WAF rule groups", &e))?;
            if let Some(g) = page.rule_groups().iter().find(|g| g.name() == Some(name)) {
                return Ok(g.id().map(str::to_string));
            }
            match page.next_marker() {
                Some(m) if !m.is_empty() && !page.rule_groups().is_empty() => {
                    marker = Some(m.to_string())
                }
                _ => return Ok(None),
            }
        }
    }

    /// Creates the rule group with `capacity` WCU unless it exists; returns its id and whether
    /// it was created.
    pub async fn create(client: &Client, name: &str, capacity: u32) -> Result<(String, bool)> {
        if let Some(id) = Self::find_id(client, name).await? {
            return Ok((id, false));
        }
        let visibility = visibility(name)?;
        let (result, _) = with_backoff(Backoff::default(), classify_sdk, || {
            client
                .create_rule_group()
                .name(name)
                .scope(Scope::Cloudfront)
                .capacity(i64::from(capacity))
                .description("Sessions revoked by autorevoke")
                .visibility_config(visibility.clone())
                .send()
        })
        .await;
        let out = match result {
            Ok(out) => out,
            // A retried CreateRuleGroup whose first attempt did get through.
            Err(e) if e.code() == Some("WAFDuplicateItemException") => {
                return match Self::find_id(client, name).await? {
                    Some(id) => Ok((id, true)),
                    None => Err(sdk_error(&format!("creating WAF rule group {name}"), &e)),
                };
            }
            Err(e) => return Err(sdk_error(&format!("creating WAF rule group {name}"), &e)),
        };
        let id = out
            .summary()
            .and_then(|s| s.id())
            .ok_or_else(|| Error::Other(format!("WAF created rule group {name} without an id")))?;
        Ok((id.to_string(), true))
    }

    /// The group's capacity in WCU, as WAF has it.
    pub async fn capacity(&self) -> Result<i64> {
        Ok(self.get().await?.rule_group().map_or(0, |g| g.capacity()))
    }

    /// GetRuleGroup, retried.
    async fn get(&self) -> Result<aws_sdk_wafv2::operation::get_rule_group::GetRuleGroupOutput> {
        let (result, _) = with_backoff(self.backoff, classify_sdk, || {
            self.client
                .get_rule_group()
                .name(&self.name)
                .scope(Scope::Cloudfront)
                .id(&self.id)
                .send()
        })
        .await;
        result.map_err(|e| sdk_error(&format!("WAF rule group {}", self.name), &e))
    }

    /// The names of the group's current rules.
    pub async fn current_rule_names(&self) -> Result<Vec<String>> {
        let (rules, _, _) = self.read().await?;
        Ok(rules.iter().map(|r| r.name().to_string()).collect())
    }

    async fn read(&self) -> Result<(Vec<Rule>, String, Option<VisibilityConfig>)> {
        let out = self.get().await?;
        let lock = out
            .lock_token()
            .ok_or_else(|| {
                Error::Other(format!(
                    "WAF rule group {} came without a lock token",
                    self.name
                ))
            })?
            .to_string();
        let group = out.rule_group();
        Ok((
            group.map(|g| g.rules().to_vec()).unwrap_or_default(),
            lock,
            group.and_then(|g| g.visibility_config()).cloned(),
        ))
    }

    /// Makes the group hold exactly `specs` (an empty list empties it). Skips the update when
    /// the group already holds them; re-reads and retries on a lock conflict. A dry run reads
    /// and compares only. Refuses a mass unblock ([`is_mass_unblock`]) unless allowed.
    pub async fn apply(
        &self,
        specs: &[RuleSpec],
        dry_run: bool,
        allow_mass_unblock: bool,
    ) -> Result<ApplyOutcome> {
        let desired: Vec<Rule> = specs.iter().map(waf_rule).collect::<Result<_>>()?;
        let desired_shapes: Vec<RuleShape> = desired.iter().map(shape).collect();
        let mut lock_retries = 0;
        loop {
            let (current, lock, group_visibility) = self.read().await?;
            let names: Vec<String> = current.iter().map(|r| r.name().to_string()).collect();
            let d = diff(&names, specs);
            let current_shapes: Vec<RuleShape> = current.iter().map(shape).collect();
            if current_shapes == desired_shapes || dry_run {
                return Ok(ApplyOutcome {
                    diff: d,
                    updated: false,
                    lock_retries,
                });
            }
            if !allow_mass_unblock && is_mass_unblock(current.len(), d.removed.len()) {
                return Err(Error::Refused {
                    context: format!("WAF rule group {}", self.name),
                    reason: format!(
                        "the compile would remove {} of its {} rules (at least \
                         {MASS_UNBLOCK_MIN_RULES} and more than half) and unblock those \
                         sessions; if that is meant (check the table and --retention first), \
                         run again with --allow-mass-unblock",
                        d.removed.len(),
                        current.len()
                    ),
                });
            }
            let visibility = match group_visibility {
                Some(v) => v,
                None => visibility(&self.name)?,
            };
            let result = self
                .client
                .update_rule_group()
                .name(&self.name)
                .scope(Scope::Cloudfront)
                .id(&self.id)
                .set_rules(Some(desired.clone()))
                .visibility_config(visibility)
                .lock_token(lock)
                .send()
                .await;
            match result {
                Ok(_) => {
                    return Ok(ApplyOutcome {
                        diff: d,
                        updated: true,
                        lock_retries,
                    });
                }
                Err(e)
                    if lock_retries + 1 < self.backoff.attempts
                        && classify_sdk(&e) == Verdict::Retry =>
                {
                    // Someone else changed the group (or WAF was busy): read it again.
                    lock_retries += 1;
                    tokio::time::sleep(self.backoff.delay(lock_retries + 1)).await;
                }
                Err(e) => {
                    return Err(sdk_error(
                        &format!("updating WAF rule group {}", self.name),
                        &e,
                    ));
                }
            }
        }
    }
}
