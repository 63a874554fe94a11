//! [`SessionId`]: a session id checked once where it is made (the reader, a flag, an item read
//! back from the revocation table), so a rule or key built from one can match only its session.

use std::fmt;

/// Longest accepted session id, in bytes.
pub const MAX_SESSION_ID_LEN: usize = 128;

/// True when `id` is a non-empty `[A-Za-z0-9_-]` string of at most 128 bytes: the only ids
/// autorevoke scores, writes or turns into block rules.
pub fn is_valid_session_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SESSION_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// A session id: `[A-Za-z0-9_-]{1,128}`. No character of it is special in a URI path, a
/// WAF byte match or a KeyValueStore key, so an entry built from it names this session only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

/// A text that is not a session id, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a session id: expected 1 to {MAX_SESSION_ID_LEN} of [A-Za-z0-9_-]")]
pub struct InvalidSessionId {
    /// The text, cut to 200 characters.
    pub text: String,
}

impl SessionId {
    /// Checks `text` and keeps it.
    pub fn new(text: impl Into<String>) -> Result<Self, InvalidSessionId> {
        let text = text.into();
        if is_valid_session_id(text.as_bytes()) {
            Ok(Self(text))
        } else {
            Err(InvalidSessionId {
                text: text.chars().take(200).collect(),
            })
        }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SessionId {
    type Err = InvalidSessionId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl PartialEq<str> for SessionId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SessionId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ids_of_the_allowed_characters_and_length_are_made() {
        assert_eq!(
            SessionId::new("ab_C-9").map(|s| s.to_string()),
            Ok("ab_C-9".into())
        );
        assert_eq!(
            SessionId::new("a".repeat(128)).map(|s| s.as_str().len()),
            Ok(128)
        );
        for bad in ["", "a b", "a/b", "a.b", "a*", "ü", &"a".repeat(129)] {
            let e = SessionId::new(bad).expect_err(bad);
            assert!(e.to_string().contains("is not a session id"), "{e}");
        }
    }
}
