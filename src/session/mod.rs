//! How a request names its playback session, and the session id every later stage carries.
//!
//! A leaf of the data flow: the reader finds ids with [`prefix`] or [`cta`] (as
//! [`SessionRule`] says), validated once into a [`SessionId`]; scoring, the revocation table,
//! the WAF rules and the KeyValueStore keys carry that type and never check an id again.

pub mod cta;
pub mod id;
pub mod prefix;

pub use id::{InvalidSessionId, MAX_SESSION_ID_LEN, SessionId, is_valid_session_id};
pub use prefix::{SessionToken, session_token};

/// How a request names its session: `--session-from` and `[logs] session_from`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SessionRule {
    /// The first path segment `/<id>.<jwt header>.<jwt payload>.<jwt signature>/`, as the reference solution reads it.
    #[default]
    Prefix,
    /// The `cti` claim of a Common Access Token: from the `CAT` query parameter, else a first
    /// path segment longer than 50 characters, else the `CTA-Common-Access-Token` header of a
    /// real-time log's `cs-headers`.
    Cta,
}

impl crate::choice::Choice for SessionRule {
    const CHOICES: &'static [(&'static str, Self, &'static str)] = &[
        (
            "prefix",
            SessionRule::Prefix,
            "The first path segment `/<id>.<jwt header>.<jwt payload>.<jwt signature>/`, as the reference solution reads it.",
        ),
        (
            "cta",
            SessionRule::Cta,
            "The `cti` claim of a Common Access Token: from the `CAT` query parameter, else a first path segment longer than 50 characters, else the `CTA-Common-Access-Token` header of a real-time log's `cs-headers`.",
        ),
    ];
}

impl SessionRule {
    /// The rule's name as the flag takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionRule::Prefix => "prefix",
            SessionRule::Cta => "cta",
        }
    }
}
