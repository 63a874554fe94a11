//! The sample CloudFront Function (`examples/cloudfront-function/`) under node, against a
//! stand-in for the `cloudfront` module: for requests of both session rules it refuses
//! exactly those whose session id, as autorevoke computes it here, is in the store.

use std::process::Command;

use autorevoke::session::cta::{self, Cti, encode_token};
use autorevoke::session::{SessionToken, session_token};
use serde_json::{Value, json};

use crate::util::*;

/// A request of the `cta` rule: its path, `CAT` parameter and header (either may be absent).
fn cta_case(uri: &str, cat: Option<&str>, header: Option<&str>) -> Value {
    let query = cat.map(|v| format!("CAT={v}")).unwrap_or_default();
    let headers = header
        .map(|v| format!("CTA-Common-Access-Token:{v}"))
        .unwrap_or_default();
    let id = match cta::session(uri.as_bytes(), query.as_bytes(), headers.as_bytes()) {
        cta::CtaSession::Session(id) => Value::String(id),
        _ => Value::Null,
    };
    let mut c = json!({"rule": "cta", "uri": uri, "session_id": id});
    if let Some(v) = cat {
        c["query"] = json!({"CAT": v});
    }
    if let Some(v) = header {
        c["headers"] = json!({"CTA-Common-Access-Token": v});
    }
    c
}

fn prefix_case(uri: &str) -> Value {
    let id = match session_token(uri.as_bytes()) {
        SessionToken::Session(id) => Value::String(String::from_utf8_lossy(id).into_owned()),
        _ => Value::Null,
    };
    json!({"rule": "prefix", "uri": uri, "session_id": id})
}

fn cases() -> Value {
    let text = |id: &str| encode_token(&Cti::Text(id.into()), 1_768_507_200);
    let bytes = encode_token(&Cti::Bytes(vec![0xde, 0xad, 0xbe, 0xef, 0x01]), 0);
    let long = "x".repeat(128);
    let indefinite = {
        use base64::Engine;
        let raw = [
            0xd8, 0x3d, 0xd1, 0x9f, 0x43, 0xa1, 0x01, 0x05, 0xa0, 0x48, 0xbf, 0x07, 0x44, 0x73,
            0x65, 0x73, 0x73, 0xff, 0x41, 0x00, 0xff,
        ];
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    };
    let mut all = vec![
        prefix_case("/abcDEF123.eyJh.eyJz.c2ln/vod/seg_001.ts"),
        prefix_case(&format!("/{long}.h.p.s/a.ts")),
        prefix_case(&format!("/{long}y.h.p.s/a.ts")),
        prefix_case("/abc.h.p/vod/a.ts"),
        prefix_case("/ab+cd.h.p.s/a.ts"),
        prefix_case("/vod/abc.h.p.s/a.ts"),
        cta_case("/vod/a/seg.ts", Some(&text("queryViewer-1")), None),
        cta_case(
            &format!("/{}/vod/a/seg.ts", text("pathViewer_2")),
            None,
            None,
        ),
        cta_case("/vod/a/seg.ts", None, Some(&text("headerViewer3"))),
        cta_case("/vod/a/seg.ts", Some(&bytes), None),
        // The query wins over the path, and a bad query token is not replaced by the path's.
        cta_case(
            &format!("/{}/v.ts", text("inPath")),
            Some(&text("inQuery")),
            None,
        ),
        cta_case(&format!("/{}/v.ts", text("inPath2")), Some("garbage"), None),
        cta_case("/vod/a/seg.ts", Some(&text("has.dot")), None),
        cta_case("/vod/a/seg.ts", Some(&text(&"a".repeat(129))), None),
        cta_case("/vod/a/seg.ts", Some("2D3RhEOhAQWgQ6EEAEEA"), None),
        cta_case(&format!("/{}/v.ts", "b".repeat(50)), None, None),
        // Indefinite lengths: 61(17([_ h'a10105', {}, h'bf074473657373ff', h'00'])).
        cta_case("/vod/a/seg.ts", Some(&indefinite), None),
        cta_case("/vod/a/seg.ts", None, None),
    ];
    assert_eq!(
        all[all.len() - 2]["session_id"],
        "73657373",
        "indefinite lengths decode"
    );
    // Every kind is there: sessions and rejects of both rules.
    for rule in ["prefix", "cta"] {
        let of = |null: bool| {
            all.iter()
                .filter(|c| c["rule"] == rule && c["session_id"].is_null() == null)
                .count()
        };
        assert!(of(true) >= 3 && of(false) >= 2, "{rule}");
    }
    all.sort_by_key(|c| c["rule"].as_str().map(str::to_string));
    json!({"prefix": "revoked:", "cases": all})
}

#[test]
fn the_sample_function_refuses_exactly_the_revoked_sessions_of_both_rules() {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        skip("node is not installed (scripts/test installs Debian's nodejs)");
        return;
    }
    let dir = tempdir();
    let file = dir.path().join("cases.json");
    std::fs::write(&file, cases().to_string()).expect("cases");
    let out = Command::new("node")
        .arg("--test")
        .arg(repo().join("examples/cloudfront-function/test/revoked-sessions.test.mjs"))
        .env("AUTOREVOKE_FUNCTION_CASES", &file)
        .output()
        .expect("node runs");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("# pass 3") && text.contains("# fail 0"),
        "{text}"
    );
}
