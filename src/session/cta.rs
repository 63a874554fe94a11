//! Session ids of Common Access Tokens (CTA-5007), for `--session-from cta`: where a request
//! carries its token and how the token's `cti` claim becomes the session id.
//!
//! A token is base64url text of a CWT: CBOR tag 61 (optional, as RFC 8392 allows) around a
//! COSE_Mac0 (tag 17: protected header, unprotected header, payload, MAC), whose payload is a
//! CBOR map of claims. Claim 7, `cti`, names the token: a text string is the session id as it
//! is, a byte string is its lowercase hex. The MAC is not verified (the edge does that; only
//! requests it let through, status 200/206, are scored). A token that does not decode, lacks a
//! `cti`, or gives an id outside `[A-Za-z0-9_-]{1,128}` is rejected with its reason: counted,
//! never scored, never revoked.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ciborium::Value;

use super::id::is_valid_session_id;
use super::prefix::SessionToken;

/// The query parameter that carries a token.
pub const QUERY_PARAMETER: &[u8] = b"CAT";
/// The request header that carries a token.
pub const HEADER: &str = "CTA-Common-Access-Token";
/// A first path segment is a token when it is longer than this.
pub const PATH_TOKEN_OVER: usize = 50;
/// Longest token decoded; a longer one is rejected as undecodable (bounded work per row).
pub const MAX_TOKEN_BYTES: usize = 8192;
/// CBOR tag of a CWT (RFC 8392).
const CWT_TAG: u64 = 61;
/// CBOR tag of a COSE_Mac0 (RFC 9052).
const MAC0_TAG: u64 = 17;
/// The `cti` claim's key.
const CTI: i128 = 7;

/// Why a token gave no session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Not base64url, not CBOR, or not a COSE_Mac0 (in a CWT tag) with a claims map.
    Undecodable,
    /// The claims have no `cti` (claim 7) as a text or byte string.
    WithoutCti,
    /// The `cti` gives an id outside `[A-Za-z0-9_-]{1,128}`.
    BadId,
}

/// What a request's token says about its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtaSession {
    /// A token with a valid session id.
    Session(String),
    /// No token in the query, the path or the headers.
    None,
    /// A token that gives no valid session id.
    Rejected(Reject),
}

impl CtaSession {
    /// As the parser counts and builds rows.
    pub fn as_token(&self) -> SessionToken<'_> {
        match self {
            CtaSession::Session(id) => SessionToken::Session(id.as_bytes()),
            CtaSession::None => SessionToken::None,
            CtaSession::Rejected(_) => SessionToken::Rejected,
        }
    }
}

/// The session of a request: its path (`cs-uri-stem`), query (`cs-uri-query`, without `?`)
/// and `cs-headers` (empty when not logged), as logged (percent-encoded).
pub fn session(path: &[u8], query: &[u8], headers: &[u8]) -> CtaSession {
    let token = query_token(query)
        .or_else(|| path_token(path).map(<[u8]>::to_vec))
        .or_else(|| header_token(headers));
    match token {
        None => CtaSession::None,
        Some(token) => match session_id(&token) {
            Ok(id) => CtaSession::Session(id),
            Err(reason) => CtaSession::Rejected(reason),
        },
    }
}

/// The `CAT` parameter's value, percent-decoded (the first one, when given twice).
fn query_token(query: &[u8]) -> Option<Vec<u8>> {
    query.split(|b| *b == b'&').find_map(|pair| {
        let (name, value) = match memchr::memchr(b'=', pair) {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        (name == QUERY_PARAMETER).then(|| percent_decode(value))
    })
}

/// The first path segment, when it is longer than [`PATH_TOKEN_OVER`] bytes.
fn path_token(path: &[u8]) -> Option<&[u8]> {
    let rest = path.strip_prefix(b"/")?;
    let segment = match memchr::memchr(b'/', rest) {
        Some(end) => &rest[..end],
        None => rest,
    };
    (segment.len() > PATH_TOKEN_OVER).then_some(segment)
}

/// The `CTA-Common-Access-Token` header's value from `cs-headers`: the percent-encoded
/// `Name:value` lines of the viewer request.
fn header_token(headers: &[u8]) -> Option<Vec<u8>> {
    if headers.is_empty() || headers == b"-" {
        return None;
    }
    let decoded = percent_decode(headers);
    decoded.split(|b| *b == b'\n').find_map(|line| {
        let colon = memchr::memchr(b':', line)?;
        let name = std::str::from_utf8(&line[..colon]).ok()?.trim();
        // `trim_ascii` also drops the CR of a CRLF line end.
        name.eq_ignore_ascii_case(HEADER)
            .then(|| line[colon + 1..].trim_ascii().to_vec())
    })
}

/// `%XX` escapes as bytes (an escape that is not two hex digits stays as it is).
fn percent_decode(text: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%'
            && let (Some(h), Some(l)) = (
                text.get(i + 1).copied().and_then(hex),
                text.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// base64url with or without `=` padding.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One CBOR item that is all of `bytes`.
fn cbor(bytes: &[u8]) -> Option<Value> {
    let mut rest = bytes;
    let value = ciborium::de::from_reader_with_recursion_limit(&mut rest, 16).ok()?;
    rest.is_empty().then_some(value)
}

/// The session id a token names: its `cti` (text as it is, bytes as lowercase hex), checked.
pub fn session_id(token: &[u8]) -> Result<String, Reject> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Reject::Undecodable);
    }
    let bytes = BASE64URL.decode(token).map_err(|_| Reject::Undecodable)?;
    let outer = cbor(&bytes).ok_or(Reject::Undecodable)?;
    let mac0 = match outer {
        Value::Tag(CWT_TAG, inner) => *inner,
        other => other,
    };
    let Value::Tag(MAC0_TAG, mac0) = mac0 else {
        return Err(Reject::Undecodable);
    };
    let payload = match *mac0 {
        Value::Array(parts) if parts.len() == 4 => match parts.into_iter().nth(2) {
            Some(Value::Bytes(payload)) => payload,
            _ => return Err(Reject::Undecodable),
        },
        _ => return Err(Reject::Undecodable),
    };
    let Some(Value::Map(claims)) = cbor(&payload) else {
        return Err(Reject::Undecodable);
    };
    let cti = claims.into_iter().find_map(|(key, value)| match key {
        Value::Integer(k) if i128::from(k) == CTI => Some(value),
        _ => None,
    });
    let id = match cti {
        Some(Value::Text(text)) => text,
        Some(Value::Bytes(bytes)) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        _ => return Err(Reject::WithoutCti),
    };
    if is_valid_session_id(id.as_bytes()) {
        Ok(id)
    } else {
        Err(Reject::BadId)
    }
}

/// A token's `cti`, for [`encode_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cti {
    /// A text string (the session id as it is).
    Text(String),
    /// A byte string (the session id is its lowercase hex).
    Bytes(Vec<u8>),
}

/// A Common Access Token for `cti`, expiring at `exp` (epoch seconds), as base64url without
/// padding: tag 61 around a COSE_Mac0 with HMAC 256/256 in its protected header. Its MAC is
/// the SHA-256 of the payload, a stand-in nothing verifies (for `synth` and tests; the edge
/// holds the real key).
pub fn encode_token(cti: &Cti, exp: i64) -> String {
    use sha2::Digest;
    let claims = Value::Map(vec![
        (
            Value::Integer(7.into()),
            match cti {
                Cti::Text(t) => Value::Text(t.clone()),
                Cti::Bytes(b) => Value::Bytes(b.clone()),
            },
        ),
        (Value::Integer(4.into()), Value::Integer(exp.into())),
    ]);
    let payload = to_cbor(&claims);
    // Protected header {1: 5}: algorithm HMAC 256/256.
    let protected = to_cbor(&Value::Map(vec![(
        Value::Integer(1.into()),
        Value::Integer(5.into()),
    )]));
    let mac = sha2::Sha256::digest(&payload).to_vec();
    let token = Value::Tag(
        CWT_TAG,
        Box::new(Value::Tag(
            MAC0_TAG,
            Box::new(Value::Array(vec![
                Value::Bytes(protected),
                Value::Map(Vec::new()),
                Value::Bytes(payload),
                Value::Bytes(mac),
            ])),
        )),
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(to_cbor(&token))
}

/// CBOR bytes of a value (writing to memory cannot fail).
fn to_cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = ciborium::ser::into_writer(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(id: &str) -> String {
        encode_token(&Cti::Text(id.into()), 1_768_507_200)
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A COSE_Mac0 around `claims`, in tag 61 when `cwt_tag`.
    fn mac0_of(claims: &Value, cwt_tag: bool) -> String {
        let mac0 = Value::Tag(
            MAC0_TAG,
            Box::new(Value::Array(vec![
                Value::Bytes(to_cbor(&Value::Map(Vec::new()))),
                Value::Map(Vec::new()),
                Value::Bytes(to_cbor(claims)),
                Value::Bytes(vec![0; 32]),
            ])),
        );
        let v = if cwt_tag {
            Value::Tag(CWT_TAG, Box::new(mac0))
        } else {
            mac0
        };
        b64(&to_cbor(&v))
    }

    #[test]
    fn a_text_cti_is_the_id_and_a_byte_cti_its_lowercase_hex() {
        assert_eq!(
            session_id(text("sess-42_A").as_bytes()),
            Ok("sess-42_A".into())
        );
        let bytes = encode_token(&Cti::Bytes(vec![0xAB, 0x01, 0xFF]), 0);
        assert_eq!(session_id(bytes.as_bytes()), Ok("ab01ff".into()));
        // Without the optional CWT tag, and with `=` padding.
        let claims = Value::Map(vec![(Value::Integer(7.into()), Value::Text("x1".into()))]);
        assert_eq!(
            session_id(mac0_of(&claims, false).as_bytes()),
            Ok("x1".into())
        );
        let raw = BASE64URL.decode(mac0_of(&claims, true)).expect("b64");
        let padded = base64::engine::general_purpose::URL_SAFE.encode(raw);
        assert!(padded.ends_with('='), "{padded}");
        assert_eq!(session_id(padded.as_bytes()), Ok("x1".into()));
    }

    #[test]
    fn the_known_bytes_of_a_token_decode() {
        // 61(17([h'a10105', {}, h'a1074473657373', h'00'])): cti h'73657373' ("sess").
        let cbor = [
            0xd8, 0x3d, 0xd1, 0x84, 0x43, 0xa1, 0x01, 0x05, 0xa0, 0x47, 0xa1, 0x07, 0x44, 0x73,
            0x65, 0x73, 0x73, 0x41, 0x00,
        ];
        assert_eq!(session_id(b64(&cbor).as_bytes()), Ok("73657373".into()));
    }

    #[test]
    fn bad_tokens_are_rejected_with_their_reason() {
        use Reject::*;
        let claims = |k: i64, v: Value| Value::Map(vec![(Value::Integer(k.into()), v)]);
        for (token, reason) in [
            ("not base64 !".to_string(), Undecodable),
            (b64(b"\xff\xff"), Undecodable),
            (b64(&to_cbor(&Value::Text("plain".into()))), Undecodable),
            // A COSE_Sign1 (tag 18) is not a Mac0.
            (
                b64(&to_cbor(&Value::Tag(18, Box::new(Value::Array(vec![]))))),
                Undecodable,
            ),
            // Trailing bytes after the token.
            (
                {
                    let mut raw = BASE64URL.decode(text("abc")).expect("b64");
                    raw.push(0);
                    b64(&raw)
                },
                Undecodable,
            ),
            (mac0_of(&Value::Array(vec![]), true), Undecodable),
            (
                mac0_of(&claims(4, Value::Integer(1.into())), true),
                WithoutCti,
            ),
            (
                mac0_of(&claims(7, Value::Integer(9.into())), true),
                WithoutCti,
            ),
            (mac0_of(&claims(7, Value::Text("a.b".into())), true), BadId),
            (mac0_of(&claims(7, Value::Text(String::new())), true), BadId),
            (mac0_of(&claims(7, Value::Text("é".into())), true), BadId),
            (
                mac0_of(&claims(7, Value::Text("a".repeat(129))), true),
                BadId,
            ),
            (mac0_of(&claims(7, Value::Bytes(vec![1; 65])), true), BadId),
            ("A".repeat(MAX_TOKEN_BYTES + 1), Undecodable),
        ] {
            assert_eq!(session_id(token.as_bytes()), Err(reason), "{token}");
        }
        let max = mac0_of(&claims(7, Value::Bytes(vec![1; 64])), true);
        assert_eq!(session_id(max.as_bytes()).map(|id| id.len()), Ok(128));
    }

    #[test]
    fn the_query_wins_then_a_long_first_segment_then_the_header() {
        let (a, b, c) = (text("fromQuery"), text("fromPath"), text("fromHeader"));
        let path = format!("/{b}/v/seg_001.ts");
        let query = format!("x=1&CAT={a}&y=2");
        let headers = format!("Host:d.net%0ACTA-Common-Access-Token:%20{c}%0AAccept:*/*");
        let s = |p: &str, q: &str, h: &str| session(p.as_bytes(), q.as_bytes(), h.as_bytes());
        assert_eq!(
            s(&path, &query, &headers),
            CtaSession::Session("fromQuery".into())
        );
        assert_eq!(
            s(&path, "x=1", &headers),
            CtaSession::Session("fromPath".into())
        );
        assert_eq!(
            s("/v/seg_001.ts", "-", &headers),
            CtaSession::Session("fromHeader".into())
        );
        // Header names are case-insensitive; the lines may end in CR.
        let lower = format!("cta-common-access-token:{c}%0D%0Ahost:x");
        assert_eq!(
            s("/v/a.ts", "", &lower),
            CtaSession::Session("fromHeader".into())
        );
        assert_eq!(s("/v/seg_001.ts", "cat=x&CATS=y", "-"), CtaSession::None);
        // A segment of exactly 50 characters is a path, not a token.
        assert_eq!(
            s(&format!("/{}/x.ts", "a".repeat(50)), "", ""),
            CtaSession::None
        );
        assert_eq!(
            s(&format!("/{}/x.ts", "a".repeat(51)), "", ""),
            CtaSession::Rejected(Reject::Undecodable)
        );
        // A bad token where the rule looks first is rejected (no fallback to the others).
        assert_eq!(
            s(&path, "CAT=garbage", ""),
            CtaSession::Rejected(Reject::Undecodable)
        );
        // A percent-encoded query value is decoded.
        let encoded = format!("CAT={}", a.replace('-', "%2D"));
        assert_eq!(
            s("/", &encoded, ""),
            CtaSession::Session("fromQuery".into())
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_any_id_is_valid(
            path in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            query in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            if let CtaSession::Session(id) = session(&path, &query, &query) {
                proptest::prop_assert!(is_valid_session_id(id.as_bytes()));
            }
        }

        #[test]
        fn tokens_of_valid_ids_give_them_back(id in "[A-Za-z0-9_-]{1,128}") {
            let token = encode_token(&Cti::Text(id.clone()), 0);
            proptest::prop_assert_eq!(session_id(token.as_bytes()), Ok(id));
        }
    }
}
