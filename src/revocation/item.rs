//! Revocation table items, exactly as the reference solution's table holds them, as plain data.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::{Error, Result};
use crate::score::ScoredSession;
use crate::session::{SessionId, SessionRule};

/// `reason` of every item autorevoke writes or compiles for sessions of the `prefix` rule (the
/// reference solution's items).
pub const REASON: &str = "COMPROMISED";
/// `reason` of the items of sessions named by Common Access Tokens (`--session-from cta`): a
/// partition of the `last_updated_index` of their own, so that a compile for one rule never
/// reads the other's sessions (a WAF path rule cannot match a CTA session, and a CTA id in a
/// path rule could match another session's path).
pub const CTA_REASON: &str = "COMPROMISED_CTA";

/// The `reason` of the items of sessions named by `rule`.
pub fn reason_for(rule: SessionRule) -> &'static str {
    match rule {
        SessionRule::Prefix => REASON,
        SessionRule::Cta => CTA_REASON,
    }
}

/// Who revoked a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemType {
    /// The scoring job.
    Auto,
    /// An operator.
    Manual,
}

impl ItemType {
    /// The `type` attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::Auto => "AUTO",
            ItemType::Manual => "MANUAL",
        }
    }
}

/// An AUTO item: a session the scoring job flagged, with its score's components.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoItem {
    /// The session id.
    pub session_id: SessionId,
    /// The score.
    pub score: f64,
    /// Its rate component.
    pub ip_rate: f64,
    /// Its IP penalty.
    pub ip_penalty: f64,
    /// Its referer penalty.
    pub referer_penalty: f64,
    /// Its user-agent penalty.
    pub ua_penalty: f64,
    /// Time of the write, epoch seconds.
    pub last_updated: i64,
    /// Expiry, epoch seconds.
    pub ttl: i64,
}

/// A MANUAL item: an operator's revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualItem {
    /// The session id.
    pub session_id: SessionId,
    /// Time of the write, epoch seconds.
    pub last_updated: i64,
    /// Expiry, epoch seconds.
    pub ttl: i64,
}

/// The `reason` of an `unrevoke` marker. The compiler reads only `COMPROMISED` items, so a
/// marker is never a rule; its type is MANUAL, so `run`'s conditional AUTO write never
/// replaces it.
pub const ALLOWED: &str = "ALLOWED";

/// An operator's word that a session is not shared (`unrevoke`): until `ttl`, `run` does not
/// revoke it again and the compiler leaves it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowItem {
    /// The session id.
    pub session_id: SessionId,
    /// Time of the write, epoch seconds.
    pub last_updated: i64,
    /// Expiry, epoch seconds.
    pub ttl: i64,
}

impl AllowItem {
    /// The marker for `session_id` at `now`, lasting `seconds`.
    pub fn new(session_id: &SessionId, now: i64, seconds: u64) -> Self {
        AllowItem {
            session_id: session_id.clone(),
            last_updated: now,
            ttl: now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX)),
        }
    }

    /// The DynamoDB attributes.
    pub fn attributes(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            s("session_id", self.session_id.as_str()),
            s("type", ItemType::Manual.as_str()),
            s("reason", ALLOWED),
            int("score", 0),
            int("last_updated", self.last_updated),
            int("ttl", self.ttl),
        ])
    }
}

/// An item as `revocations list` shows it: whatever is stored, read leniently (a listing
/// must show items the compiler would refuse, too).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ListedItem {
    /// The key.
    pub session_id: String,
    /// `AUTO`, `MANUAL`, or what is stored.
    pub item_type: String,
    /// `COMPROMISED`, `ALLOWED` (an `unrevoke` marker), or what is stored.
    pub reason: String,
    /// The score, when stored.
    pub score: Option<f64>,
    /// Last write, epoch seconds, when stored.
    pub last_updated: Option<i64>,
    /// Expiry, epoch seconds, when stored.
    pub ttl: Option<i64>,
}

impl ListedItem {
    /// Reads a stored item as it is.
    pub fn from_attributes(map: &HashMap<String, AttributeValue>) -> Self {
        let text = |k: &str| match map.get(k) {
            Some(AttributeValue::S(v)) => v.clone(),
            Some(AttributeValue::N(v)) => v.clone(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        };
        let number = |k: &str| match map.get(k) {
            Some(AttributeValue::N(v)) => v.parse::<f64>().ok().filter(|v| v.is_finite()),
            _ => None,
        };
        ListedItem {
            session_id: text("session_id"),
            item_type: text("type"),
            reason: text("reason"),
            score: number("score"),
            last_updated: number("last_updated").map(|v| v as i64),
            ttl: number("ttl").map(|v| v as i64),
        }
    }

    /// What the item is at `now`: `revoked` (a revocation before its `ttl`), `allowed` (an
    /// `unrevoke` marker before its `ttl`), `expired` (DynamoDB deletes it in time).
    pub fn state(&self, now: i64) -> &'static str {
        match (self.reason.as_str(), self.ttl) {
            (_, Some(ttl)) if ttl <= now => "expired",
            (ALLOWED, _) => "allowed",
            _ => "revoked",
        }
    }
}

/// An item as the WAF compiler reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct RevocationItem {
    /// The session id as stored (validated again before it becomes a rule).
    pub session_id: String,
    /// AUTO or MANUAL.
    pub item_type: ItemType,
    /// The score (0 for MANUAL).
    pub score: f64,
    /// Last write, epoch seconds.
    pub last_updated: i64,
    /// Expiry, epoch seconds, when it was read (the GSI does not project it; the compiler reads
    /// it from the table for MANUAL items older than the retention).
    pub ttl: Option<i64>,
}

fn check_finite(id: &str, name: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::Other(format!(
            "session {id}: {name} is {v}, not a finite number"
        )))
    }
}

impl AutoItem {
    /// The item for a flagged session written at `now`, expiring `ttl_days` later. Fails for
    /// an invalid id or a non-finite number (never written).
    pub fn from_session(s: &ScoredSession, now: i64, ttl_days: u32) -> Result<Self> {
        let id = s.session_id.as_str();
        Ok(AutoItem {
            session_id: s.session_id.clone(),
            score: check_finite(id, "score", s.score)?,
            ip_rate: check_finite(id, "ip_rate", s.ip_rate)?,
            ip_penalty: check_finite(id, "ip_penalty", s.ip_penalty)?,
            referer_penalty: check_finite(id, "referer_penalty", s.referer_penalty)?,
            ua_penalty: check_finite(id, "ua_penalty", s.ua_penalty)?,
            last_updated: now,
            ttl: now + i64::from(ttl_days) * 86_400,
        })
    }

    /// The DynamoDB attributes.
    pub fn attributes(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            s("session_id", self.session_id.as_str()),
            s("type", ItemType::Auto.as_str()),
            s("reason", REASON),
            n("score", self.score),
            n("ip_rate", self.ip_rate),
            n("ip_penalty", self.ip_penalty),
            n("referer_penalty", self.referer_penalty),
            n("ua_penalty", self.ua_penalty),
            int("last_updated", self.last_updated),
            int("ttl", self.ttl),
        ])
    }
}

impl ManualItem {
    /// An operator's revocation of `session_id` at `now`, expiring `ttl_seconds` later.
    pub fn new(session_id: &SessionId, now: i64, ttl_seconds: u64) -> Self {
        ManualItem {
            session_id: session_id.clone(),
            last_updated: now,
            ttl: now.saturating_add(i64::try_from(ttl_seconds).unwrap_or(i64::MAX)),
        }
    }

    /// The DynamoDB attributes.
    pub fn attributes(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            s("session_id", self.session_id.as_str()),
            s("type", ItemType::Manual.as_str()),
            s("reason", REASON),
            int("score", 0),
            int("last_updated", self.last_updated),
            int("ttl", self.ttl),
        ])
    }
}

impl RevocationItem {
    /// The item `auto` is once written: what a dry run's compile counts with.
    pub fn from_auto(auto: &AutoItem) -> Self {
        RevocationItem {
            session_id: auto.session_id.to_string(),
            item_type: ItemType::Auto,
            score: auto.score,
            last_updated: auto.last_updated,
            ttl: Some(auto.ttl),
        }
    }

    /// Reads an item back. An item without the attributes the compiler needs (or with one of
    /// the wrong type) is an error naming the item and the attribute: the compiler counts it
    /// and fails, because dropping it would silently unblock its session.
    pub fn from_attributes(map: &HashMap<String, AttributeValue>) -> Result<Self, String> {
        let session_id = match map.get("session_id") {
            Some(AttributeValue::S(id)) => id.clone(),
            Some(other) => return Err(format!("session_id is not a string: {other:?}")),
            None => return Err("no session_id".into()),
        };
        let fail = |reason: String| format!("item {session_id:?}: {reason}");
        let number = |k: &str| -> Result<Option<f64>, String> {
            match map.get(k) {
                None => Ok(None),
                Some(AttributeValue::N(n)) => match n.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(Some(v)),
                    _ => Err(fail(format!("{k} {n:?} is not a finite number"))),
                },
                Some(other) => Err(fail(format!("{k} is not a number: {other:?}"))),
            }
        };
        let item_type = match map.get("type") {
            Some(AttributeValue::S(t)) if t == "AUTO" => ItemType::Auto,
            Some(AttributeValue::S(t)) if t == "MANUAL" => ItemType::Manual,
            Some(other) => return Err(fail(format!("type {other:?} is not AUTO or MANUAL"))),
            None => return Err(fail("no type (does the index project it?)".into())),
        };
        let score = match (item_type, number("score")?) {
            (_, Some(v)) => v,
            (ItemType::Manual, None) => 0.0,
            (ItemType::Auto, None) => {
                return Err(fail(
                    "an AUTO item without a score (does the index project it?)".into(),
                ));
            }
        };
        let last_updated =
            number("last_updated")?.ok_or_else(|| fail("no last_updated".into()))? as i64;
        let ttl = number("ttl")?.map(|v| v as i64);
        Ok(RevocationItem {
            session_id,
            item_type,
            score,
            last_updated,
            ttl,
        })
    }
}

fn s(k: &str, v: &str) -> (String, AttributeValue) {
    (k.to_string(), AttributeValue::S(v.to_string()))
}

/// A finite float as a DynamoDB number (shortest round-trip text, never an exponent).
fn n(k: &str, v: f64) -> (String, AttributeValue) {
    (k.to_string(), AttributeValue::N(format!("{v}")))
}

fn int(k: &str, v: i64) -> (String, AttributeValue) {
    (k.to_string(), AttributeValue::N(v.to_string()))
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn id(text: &str) -> SessionId {
        SessionId::new(text).expect("a valid id")
    }

    fn session(text: &str, score: f64) -> ScoredSession {
        let t = DateTime::from_timestamp(0, 0).unwrap_or_default();
        ScoredSession {
            session_id: id(text),
            score,
            ip_rate: score - 2.0,
            ip_penalty: 1.0,
            referer_penalty: 0.0,
            ua_penalty: 1.0,
            pairs: 10,
            distinct_ips: 2,
            distinct_user_agents: 2,
            distinct_referers: 1,
            first_seen: t,
            last_seen: t,
            duration_s: 60,
            rate: 0.5,
            requests: 12,
            reference_rate: 0.25,
            ip_evidence: 2,
            referer_evidence: 1,
            ua_evidence: 2,
            asset: None,
            flagged: true,
        }
    }

    #[test]
    fn auto_items_carry_exactly_the_contract_attributes() {
        let item = AutoItem::from_session(&session("abcDEF123456", 4.25), 1_000, 7).expect("valid");
        let a = item.attributes();
        let mut keys: Vec<&str> = a.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "ip_penalty",
                "ip_rate",
                "last_updated",
                "reason",
                "referer_penalty",
                "score",
                "session_id",
                "ttl",
                "type",
                "ua_penalty"
            ]
        );
        assert_eq!(a["type"], AttributeValue::S("AUTO".into()));
        assert_eq!(a["reason"], AttributeValue::S("COMPROMISED".into()));
        assert_eq!(a["score"], AttributeValue::N("4.25".into()));
        assert_eq!(a["ip_rate"], AttributeValue::N("2.25".into()));
        assert_eq!(a["ttl"], AttributeValue::N("605800".into()));
        assert_eq!(a["last_updated"], AttributeValue::N("1000".into()));
    }

    #[test]
    fn bad_ids_and_numbers_are_never_written() {
        // An item is made of a SessionId, and no invalid id is one.
        assert!(SessionId::new("a.b").is_err());
        assert!(SessionId::new("x".repeat(129)).is_err());
        assert!(AutoItem::from_session(&session("ok", f64::INFINITY), 0, 7).is_err());
        assert!(AutoItem::from_session(&session("ok", f64::NAN), 0, 7).is_err());
        assert!(SessionId::new("").is_err());
        assert!(SessionId::new("has space").is_err());
        let m = ManualItem::new(&id("Manual_1-x"), 100, 86_400);
        assert_eq!(m.ttl, 86_500);
        let back = RevocationItem::from_attributes(&m.attributes()).expect("readable");
        assert_eq!(
            (back.item_type, back.score, back.last_updated, back.ttl),
            (ItemType::Manual, 0.0, 100, Some(86_500))
        );
    }

    #[test]
    fn unreadable_items_are_errors_that_name_the_item_and_attribute() {
        let good = AutoItem::from_session(&session("abc", 4.0), 1_000, 7)
            .expect("valid")
            .attributes();
        assert!(RevocationItem::from_attributes(&good).is_ok());
        let with = |k: &str, v: Option<AttributeValue>| {
            let mut m = good.clone();
            match v {
                Some(v) => m.insert(k.to_string(), v),
                None => m.remove(k),
            };
            RevocationItem::from_attributes(&m)
                .err()
                .unwrap_or_default()
        };
        assert_eq!(
            with("type", Some(AttributeValue::S("auto".into()))),
            "item \"abc\": type S(\"auto\") is not AUTO or MANUAL"
        );
        assert_eq!(
            with("type", None),
            "item \"abc\": no type (does the index project it?)"
        );
        assert_eq!(
            with("last_updated", Some(AttributeValue::S("1000".into()))),
            "item \"abc\": last_updated is not a number: S(\"1000\")"
        );
        assert_eq!(
            with("last_updated", Some(AttributeValue::N("NaN".into()))),
            "item \"abc\": last_updated \"NaN\" is not a finite number"
        );
        assert_eq!(
            with("score", None),
            "item \"abc\": an AUTO item without a score (does the index project it?)"
        );
        assert_eq!(with("session_id", None), "no session_id");
    }
}
