//! `--session-from prefix`: the session id in a request path, exactly as the reference
//! solution finds it.
//!
//! A protected URL carries `/<session_id>.<jwt header>.<jwt payload>.<jwt signature>/...` as its
//! first path segment. Only a first segment of exactly four `.`-separated parts carries a
//! session, and only an id of `[A-Za-z0-9_-]{1,128}` is accepted.

use super::id::is_valid_session_id;

/// What the first path segment of a request says about its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionToken<'a> {
    /// A token with a valid session id.
    Session(&'a [u8]),
    /// No four-part token in the first segment: not a session row.
    None,
    /// A four-part token whose id is empty, too long or has characters outside
    /// `[A-Za-z0-9_-]`: rejected, never scored.
    Rejected,
}

/// Classifies a `cs-uri-stem` value.
pub fn session_token(uri: &[u8]) -> SessionToken<'_> {
    // The text between the first and second `/` (or the end when there is no second one).
    let Some(first) = memchr::memchr(b'/', uri) else {
        return SessionToken::None;
    };
    let rest = &uri[first + 1..];
    let segment = match memchr::memchr(b'/', rest) {
        Some(end) => &rest[..end],
        None => rest,
    };
    let mut dots = memchr::memchr_iter(b'.', segment);
    let (Some(first_dot), Some(_), Some(_), None) =
        (dots.next(), dots.next(), dots.next(), dots.next())
    else {
        return SessionToken::None;
    };
    let id = &segment[..first_dot];
    if is_valid_session_id(id) {
        SessionToken::Session(id)
    } else {
        SessionToken::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::SessionToken::*;
    use super::*;

    #[test]
    fn four_part_first_segment_carries_the_session() {
        assert_eq!(
            session_token(b"/abcDEF012345.eyJh.eyJz.c2ln/vod/a/seg_001.ts"),
            Session(b"abcDEF012345")
        );
        // No second slash: the segment runs to the end.
        assert_eq!(session_token(b"/s_1-x.h.p.s"), Session(b"s_1-x"));
    }

    #[test]
    fn other_paths_carry_no_session() {
        assert_eq!(session_token(b"/eyJh.eyJz.c2ln/vod/seg.ts"), None); // 3 parts
        assert_eq!(session_token(b"/a.b.c.d.e/seg.ts"), None); // 5 parts
        assert_eq!(session_token(b"/favicon.ico"), None);
        assert_eq!(session_token(b"/"), None);
        assert_eq!(session_token(b""), None);
        assert_eq!(session_token(b"/vod/abc.h.p.s/seg.ts"), None); // token not first
    }

    #[test]
    fn bad_ids_are_rejected() {
        assert_eq!(session_token(b"/.h.p.s/seg.ts"), Rejected);
        assert_eq!(session_token(b"/ab%2Ecd.h.p.s/seg.ts"), Rejected);
        assert_eq!(session_token(b"/ab+cd.h.p.s/seg.ts"), Rejected);
        let long = format!("/{}.h.p.s/x", "a".repeat(129));
        assert_eq!(session_token(long.as_bytes()), Rejected);
        let max = format!("/{}.h.p.s/x", "a".repeat(128));
        assert!(matches!(session_token(max.as_bytes()), Session(id) if id.len() == 128));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_valid_id_that_starts_the_first_segment_or_none(
            uri in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)
        ) {
            if let Session(id) = session_token(&uri) {
                proptest::prop_assert!(is_valid_session_id(id));
                let first = uri.iter().position(|b| *b == b'/').expect("a slash");
                let mut expected = id.to_vec();
                expected.push(b'.');
                proptest::prop_assert!(uri[first + 1..].starts_with(&expected));
            }
        }

        #[test]
        fn tokens_built_from_valid_ids_are_found(
            id in "[A-Za-z0-9_-]{1,128}",
            rest in "[a-z0-9/._-]{0,40}",
        ) {
            let uri = format!("/{id}.eyJh.eyJz.c2ln/{rest}");
            proptest::prop_assert_eq!(session_token(uri.as_bytes()), Session(id.as_bytes()));
        }
    }
}
