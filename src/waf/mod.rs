//! The WAF rule group compiled from the revocation table: [`compile`] is pure (items to
//! ordered rules within capacity), [`service`] makes the WAFv2 calls.

pub mod compile;
pub mod service;

pub use compile::{
    Compiled, MASS_UNBLOCK_MIN_RULES, RuleDiff, RuleSpec, Selection, WCU_PER_RULE, compile, diff,
    is_live, is_mass_unblock, rule_name, rule_order, search_string, select,
};
pub use service::{ApplyOutcome, WafRuleGroup, waf_rule};
