//! Session id extraction on arbitrary request paths: an extracted id is always a valid id and
//! always starts the first path segment, followed by `.` (so its block rule matches only it).
#![no_main]

#[path = "../../src/cloudfront/session.rs"]
#[allow(dead_code)]
mod session;

use libfuzzer_sys::fuzz_target;
use session::{SessionToken, is_valid_session_id, session_token};

fuzz_target!(|uri: &[u8]| {
    if let SessionToken::Session(id) = session_token(uri) {
        assert!(is_valid_session_id(id));
        let first = uri.iter().position(|b| *b == b'/').expect("a slash");
        let mut prefix = id.to_vec();
        prefix.push(b'.');
        assert!(uri[first + 1..].starts_with(&prefix));
    }
});
