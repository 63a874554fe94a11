//! The WAF rule group compiled from the revocation table: [`compile`] is pure (items to
//! ordered rules within capacity), [`service`] makes the WAFv2 calls, [`apply`] is `waf
//! compile` (read the table, compile, apply).

pub mod apply;
pub mod compile;
pub mod service;

pub use apply::{CompileReport, WafTarget, compile_waf};
pub use compile::{
    Compiled, DEFAULT_CAPACITY, RULE_PREFIX, RuleDiff, RuleSpec, WCU_PER_RULE, compile, diff,
    rule_name, search_string,
};
pub use service::{ApplyOutcome, WafRuleGroup, waf_rule};
