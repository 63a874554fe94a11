//! Compiling the revocation table into WAF rules: pure functions of plain data
//! (docs/commands.md, `waf compile`).
//!
//! Items are filtered by retention (a MANUAL item also lives until its `ttl`), deduplicated by
//! session id, ordered (MANUAL newest first, then AUTO by score, newest, id), capped to
//! `capacity / 2` rules, and each becomes one rule matching only paths that start with
//! `/<that exact id>.`.

use crate::revocation::RevocationItem;
use crate::revocation::{Selection, select};

/// WCU each rule costs (a byte match on the URI path with one transformation).
pub const WCU_PER_RULE: u32 = 2;

/// The capacity (WCU) `init` creates a rule group with, by default: 50 rules.
pub const DEFAULT_CAPACITY: u32 = 100;

/// Prefix of every rule name autorevoke writes.
pub const RULE_PREFIX: &str = "autorevoke-";

/// One block rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// Stable name derived from the session id.
    pub name: String,
    /// 1..N in order.
    pub priority: i32,
    /// The session it blocks.
    pub session_id: String,
    /// `/<session_id>.`
    pub search_string: String,
}

/// What a compile produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compiled {
    /// The rules, in priority order.
    pub rules: Vec<RuleSpec>,
    /// Items in retention that did not fit the capacity, in order.
    pub overflow: Vec<RevocationItem>,
    /// Items older than the retention.
    pub expired: usize,
    /// Items whose session id is not `[A-Za-z0-9_-]{1,128}` (never made into rules).
    pub rejected: Vec<String>,
}

/// The search string that blocks exactly one session: `/` + id + `.`.
pub fn search_string(session_id: &str) -> String {
    format!("/{session_id}.")
}

/// A stable rule (and metric) name for a session: `autorevoke-<id>`, or for ids too long for
/// WAF's 128-character names, the first 100 characters and a hash of the whole id.
pub fn rule_name(session_id: &str) -> String {
    let name = format!("{RULE_PREFIX}{session_id}");
    if name.len() <= 128 {
        return name;
    }
    // FNV-1a, 64 bits: stable across runs and versions, unlike the std hasher.
    let hash = session_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let head: String = session_id.chars().take(100).collect();
    format!("{RULE_PREFIX}{head}-{hash:016x}")
}

/// Compiles `items` at `now` (epoch seconds): retention in minutes, capacity in WCU.
pub fn compile(
    items: Vec<RevocationItem>,
    now: i64,
    retention_minutes: u32,
    capacity_wcu: u32,
) -> Compiled {
    let Selection {
        mut live,
        expired,
        rejected,
    } = select(items, now, retention_minutes);
    let mut out = Compiled {
        expired,
        rejected,
        ..Compiled::default()
    };
    let fit = (capacity_wcu / WCU_PER_RULE) as usize;
    if live.len() > fit {
        out.overflow = live.split_off(fit);
    }
    out.rules = live
        .into_iter()
        .zip(1..)
        .map(|(item, priority)| RuleSpec {
            name: rule_name(&item.session_id),
            priority,
            search_string: search_string(&item.session_id),
            session_id: item.session_id,
        })
        .collect();
    out
}

/// How a new rule list differs from the group's current one, by rule name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleDiff {
    /// In the new list only.
    pub added: Vec<String>,
    /// In the current list only.
    pub removed: Vec<String>,
    /// In both.
    pub kept: Vec<String>,
}

/// Compares rule names of the current and the new list.
pub fn diff(current: &[String], new: &[RuleSpec]) -> RuleDiff {
    let mut d = RuleDiff::default();
    for r in new {
        if current.contains(&r.name) {
            d.kept.push(r.name.clone());
        } else {
            d.added.push(r.name.clone());
        }
    }
    d.removed = current
        .iter()
        .filter(|c| !new.iter().any(|r| &r.name == *c))
        .cloned()
        .collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation::{ItemType, is_mass_unblock};
    use crate::session::is_valid_session_id;

    fn item(id: &str, t: ItemType, score: f64, last_updated: i64) -> RevocationItem {
        RevocationItem {
            session_id: id.into(),
            item_type: t,
            score,
            last_updated,
            ttl: None,
        }
    }

    const NOW: i64 = 1_000_000;

    fn sample() -> Vec<RevocationItem> {
        vec![
            item("autoLow", ItemType::Auto, 2.5, NOW - 60),
            item("manualOld", ItemType::Manual, 0.0, NOW - 1200),
            item("autoHigh", ItemType::Auto, 7.0, NOW - 300),
            item("expired", ItemType::Auto, 9.0, NOW - 1801),
            item("manualNew", ItemType::Manual, 0.0, NOW - 10),
            item("autoTieOld", ItemType::Auto, 4.0, NOW - 500),
            item("autoTieNew", ItemType::Auto, 4.0, NOW - 100),
            item("bad.id", ItemType::Manual, 0.0, NOW),
            item("autoTieNewB", ItemType::Auto, 4.0, NOW - 100),
        ]
    }

    #[test]
    fn orders_manual_newest_first_then_auto_by_score_newest_id() {
        let c = compile(sample(), NOW, 30, 100);
        let ids: Vec<&str> = c.rules.iter().map(|r| r.session_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "manualNew",
                "manualOld",
                "autoHigh",
                "autoTieNew",
                "autoTieNewB",
                "autoTieOld",
                "autoLow"
            ]
        );
        let priorities: Vec<i32> = c.rules.iter().map(|r| r.priority).collect();
        assert_eq!(priorities, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            (c.expired, c.rejected.clone()),
            (1, vec!["bad.id".to_string()])
        );
        assert!(c.overflow.is_empty());
    }

    #[test]
    fn a_manual_item_lives_until_its_ttl_and_an_auto_item_for_the_retention() {
        let mut old_manual = item("opOld", ItemType::Manual, 0.0, NOW - 7200);
        old_manual.ttl = Some(NOW + 1);
        let mut expired_manual = item("opGone", ItemType::Manual, 0.0, NOW - 7200);
        expired_manual.ttl = Some(NOW);
        let mut old_auto = item("autoOld", ItemType::Auto, 9.0, NOW - 7200);
        old_auto.ttl = Some(NOW + 86_400);
        let c = compile(vec![old_manual, expired_manual, old_auto], NOW, 30, 100);
        let ids: Vec<&str> = c.rules.iter().map(|r| r.session_id.as_str()).collect();
        assert_eq!(ids, ["opOld"]);
        assert_eq!(c.expired, 2);
    }

    #[test]
    fn a_session_read_twice_gets_one_rule_in_its_best_place() {
        let items = vec![
            item("twice", ItemType::Auto, 5.0, NOW - 10),
            item("other", ItemType::Auto, 4.0, NOW - 10),
            item("twice", ItemType::Auto, 3.0, NOW - 20),
        ];
        let c = compile(items, NOW, 30, 100);
        let rules: Vec<(&str, i32)> = c
            .rules
            .iter()
            .map(|r| (r.session_id.as_str(), r.priority))
            .collect();
        assert_eq!(rules, [("twice", 1), ("other", 2)]);
    }

    #[test]
    fn removing_ten_or_more_rules_and_over_half_is_a_mass_unblock() {
        assert!(!is_mass_unblock(3, 3));
        assert!(!is_mass_unblock(18, 9));
        assert!(!is_mass_unblock(20, 10));
        assert!(is_mass_unblock(19, 10));
        assert!(is_mass_unblock(12, 12));
        assert!(!is_mass_unblock(0, 0));
    }

    #[test]
    fn capacity_caps_the_rules_and_reports_the_rest() {
        // 9 WCU: four rules of 2 WCU.
        let c = compile(sample(), NOW, 30, 9);
        let ids: Vec<&str> = c.rules.iter().map(|r| r.session_id.as_str()).collect();
        assert_eq!(ids, ["manualNew", "manualOld", "autoHigh", "autoTieNew"]);
        let over: Vec<&str> = c.overflow.iter().map(|i| i.session_id.as_str()).collect();
        assert_eq!(over, ["autoTieNewB", "autoTieOld", "autoLow"]);
        assert!(compile(sample(), NOW, 30, 1).rules.is_empty());
        assert!(compile(Vec::new(), NOW, 30, 100).rules.is_empty());
    }

    #[test]
    fn every_rule_matches_only_its_own_session() {
        let c = compile(sample(), NOW, 30, 100);
        for r in &c.rules {
            assert_eq!(r.search_string, format!("/{}.", r.session_id));
            let id = r
                .search_string
                .strip_prefix('/')
                .and_then(|s| s.strip_suffix('.'))
                .expect("shape");
            assert!(is_valid_session_id(id.as_bytes()));
        }
        // An id that is a prefix of another: neither rule matches the other's paths.
        let (short, long) = (search_string("abc"), search_string("abcd"));
        assert!(!"/abcd.h.p.s/seg.ts".starts_with(&short));
        assert!(!"/abc.h.p.s/seg.ts".starts_with(&long));
    }

    #[test]
    fn names_are_stable_and_fit_waf() {
        assert_eq!(rule_name("abcDEF123456"), "autorevoke-abcDEF123456");
        let long = "x".repeat(128);
        let name = rule_name(&long);
        assert!(
            name.len() <= 128 && name.starts_with("autorevoke-xxx"),
            "{name}"
        );
        assert_eq!(name, rule_name(&long));
        assert_ne!(name, rule_name(&format!("{}y", "x".repeat(127))));
    }

    #[test]
    fn diff_by_name() {
        let c = compile(sample(), NOW, 30, 100);
        let current = vec![
            "autorevoke-autoHigh".to_string(),
            "autorevoke-gone".to_string(),
        ];
        let d = diff(&current, &c.rules[..3]);
        assert_eq!(d.added, ["autorevoke-manualNew", "autorevoke-manualOld"]);
        assert_eq!(d.kept, ["autorevoke-autoHigh"]);
        assert_eq!(d.removed, ["autorevoke-gone"]);
    }
}
