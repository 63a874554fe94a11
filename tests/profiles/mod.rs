//! The `concurrent` profile against `upstream` on small hand-made logs: one session per
//! confounder of SCORING.md's last section, and genuine sharing, with every component worked
//! out by hand. Then `evaluate` against a truth file.

use autorevoke::score::{Profile, ScoreParams, ScoreReport, ScoredSession, WindowSpec, score};
use chrono::{DateTime, Utc};

use crate::util::*;

mod viewers;

const SAFARI: &str =
    "Mozilla/5.0%20(iPhone;%20CPU%20iPhone%20OS%2017_5%20like%20Mac%20OS%20X)%20Safari/604.1";
const CORE_MEDIA: &str = "AppleCoreMedia/1.0.0.21F90%20(iPhone;%20U;%20CPU%20OS%2017_5)";
const FIREFOX: &str = "Mozilla/5.0%20(X11;%20rv:129.0)%20Firefox/129.0";

fn t(second: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + i64::from(second), 0).expect("valid")
}

/// `n` segments of `asset`, one every `step` seconds from `start`, from `ip`.
fn play(id: &str, asset: &str, ip: &str, start: u32, n: u32, step: u32) -> Vec<Row> {
    (0..n)
        .map(|i| {
            row(
                id,
                start + i * step,
                &format!("/vod/{asset}/720p/seg{i:05}.ts"),
            )
            .ip(ip)
        })
        .collect()
}

/// Three ordinary viewers of asset `a`: 31 segments every 4 s over 0 .. 120 s.
fn references() -> Vec<Row> {
    [
        ("r1", "192.0.2.1"),
        ("r2", "192.0.2.2"),
        ("r3", "192.0.2.3"),
    ]
    .into_iter()
    .flat_map(|(id, ip)| play(id, "a", ip, 0, 31, 4))
    .collect()
}

/// The hand-made traffic: every session lasts 120 s (0 .. 120).
///
/// | session | asset | what | pairs |
/// | r1, r2, r3 | a | one viewer, 31 segments every 4 s | 31 |
/// | ios | a | Safari fetches the master manifest (page referer), AppleCoreMedia 31 segments (no referer) | 32 |
/// | switch | a | Wi-Fi until 60 s, cellular from 64 s | 31 |
/// | v6 | a | IPv6 privacy addresses rotating inside one /64 | 31 |
/// | b1, b2, b3 | b | 2-second segments: 61 segments every 2 s | 61 |
/// | shared | a | two viewers at once on two networks, other browser, other referer | 62 |
fn traffic() -> Vec<Row> {
    let mut rows = references();
    rows.push(
        row("ios", 0, "/vod/a/master.m3u8")
            .ip("192.0.2.10")
            .ua(SAFARI),
    );
    rows.extend(
        play("ios", "a", "192.0.2.10", 0, 31, 4)
            .into_iter()
            .map(|r| r.ua(CORE_MEDIA).referer("-")),
    );
    rows.extend(
        play("switch", "a", "192.0.2.20", 0, 31, 4)
            .into_iter()
            .enumerate()
            .map(|(i, r)| if i >= 16 { r.ip("198.51.100.20") } else { r }),
    );
    rows.extend(
        play("v6", "a", "::", 0, 31, 4)
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.ip(&format!("2001:db8:7:8:{:x}::1", 1 + i / 6))),
    );
    for (id, ip) in [
        ("b1", "192.0.2.31"),
        ("b2", "192.0.2.32"),
        ("b3", "192.0.2.33"),
    ] {
        rows.extend(play(id, "b", ip, 0, 61, 2));
    }
    rows.extend(play("shared", "a", "203.0.113.1", 0, 31, 4));
    rows.extend(
        play("shared", "a", "198.18.0.9", 0, 31, 4)
            .into_iter()
            .map(|r| r.ua(FIREFOX).referer("https://free-streams.example.net/")),
    );
    rows
}

async fn scored(profile: Profile) -> ScoreReport {
    score_rows(&traffic(), profile).await
}

/// Scores `rows` over the hour 00:00 .. 01:00 with default parameters and `profile`.
async fn score_rows(rows: &[Row], profile: Profile) -> ScoreReport {
    let dir = tempdir();
    write_log(&dir.path().join("E1.2026-01-01-00.abc.gz"), rows);
    let spec = WindowSpec::Range {
        from: t(0),
        to: t(3600),
    };
    let params = ScoreParams {
        profile,
        ..ScoreParams::default()
    };
    score(&engine(&[dir.path()]), spec, params)
        .await
        .expect("scores")
}

fn session<'a>(r: &'a ScoreReport, id: &str) -> &'a ScoredSession {
    r.sessions
        .iter()
        .find(|s| s.session_id == id)
        .unwrap_or_else(|| panic!("{id} scored"))
}

/// (ip_rate, ip_penalty, referer_penalty, ua_penalty, flagged)
fn components(s: &ScoredSession) -> (f64, f64, f64, f64, bool) {
    (
        s.ip_rate,
        s.ip_penalty,
        s.referer_penalty,
        s.ua_penalty,
        s.flagged,
    )
}

fn assert_components(r: &ScoreReport, id: &str, expected: (f64, f64, f64, f64, bool)) {
    let got = components(session(r, id));
    let close = (got.0 - expected.0).abs() <= 1e-12;
    assert!(
        close && (got.1, got.2, got.3, got.4) == (expected.1, expected.2, expected.3, expected.4),
        "{id}: got {got:?}, expected {expected:?}"
    );
}

#[tokio::test]
async fn upstream_flags_native_ios_and_penalises_every_confounder() {
    // Rates x 120 s: 31 (r1-r3, switch, v6), 32 (ios), 61 (b1-b3), 62 (shared); ten sessions,
    // so p50 = (31 + 32) / 2 / 120 and ip_rate = pairs / 31.5.
    let r = scored(Profile::Upstream).await;
    assert_eq!(r.p50, Some(31.5 / 120.0));
    assert_components(&r, "r1", (31.0 / 31.5, 0.0, 0.0, 0.0, false));
    assert_components(&r, "ios", (32.0 / 31.5, 0.0, 1.0, 1.0, true));
    assert_components(&r, "switch", (31.0 / 31.5, 1.0, 0.0, 0.0, false));
    assert_components(&r, "v6", (31.0 / 31.5, 1.0, 0.0, 0.0, false));
    assert_components(&r, "b1", (61.0 / 31.5, 0.0, 0.0, 0.0, false));
    assert_components(&r, "shared", (62.0 / 31.5, 1.0, 1.0, 1.0, true));
    let v6 = session(&r, "v6");
    assert_eq!((v6.distinct_ips, v6.ip_evidence), (6, 6));
}

#[tokio::test]
async fn concurrent_leaves_the_confounders_alone_and_flags_sharing() {
    // Asset a's rates x 120: 31 x 6 and 62 -> median 31; asset b's: 61 x 3 -> median 61.
    let r = scored(Profile::Concurrent).await;
    assert_components(&r, "r1", (1.0, 0.0, 0.0, 0.0, false));
    // Safari + AppleCoreMedia is one agent; `-` beside the page is one referer.
    assert_components(&r, "ios", (32.0 / 31.0, 0.0, 0.0, 0.0, false));
    let ios = session(&r, "ios");
    assert_eq!(
        (
            ios.distinct_user_agents,
            ios.ua_evidence,
            ios.distinct_referers,
            ios.referer_evidence
        ),
        (2, 1, 2, 1)
    );
    // Wi-Fi then cellular, 4 s apart: one network at a time.
    assert_components(&r, "switch", (1.0, 0.0, 0.0, 0.0, false));
    assert_eq!(
        (
            session(&r, "switch").distinct_ips,
            session(&r, "switch").ip_evidence
        ),
        (2, 1)
    );
    // Six addresses, one /64.
    assert_components(&r, "v6", (1.0, 0.0, 0.0, 0.0, false));
    assert_eq!(session(&r, "v6").ip_evidence, 1);
    // Short segments are compared with their own asset.
    assert_components(&r, "b1", (1.0, 0.0, 0.0, 0.0, false));
    assert_eq!(session(&r, "b1").reference_rate, 61.0 / 120.0);
    assert_eq!(session(&r, "b1").asset.as_deref(), Some("vod/b"));
    // Two viewers at once: twice the asset's rate, two networks, two referers, two browsers.
    assert_components(&r, "shared", (2.0, 1.0, 1.0, 1.0, true));
    assert_eq!(session(&r, "shared").score, 5.0);
    assert_eq!(r.flagged, 1);
}

#[tokio::test]
async fn concurrent_counts_a_second_network_only_when_it_overlaps_long_enough() {
    // Two networks of one session overlapping by 40 s, then by 80 s (min_overlap is 60 s).
    let mut rows = references();
    rows.extend(play("brief", "a", "192.0.2.40", 0, 16, 4)); // 0 .. 60
    rows.extend(play("brief", "a", "198.51.100.40", 20, 26, 4)); // 20 .. 120: 40 s overlap
    rows.extend(play("long", "a", "192.0.2.41", 0, 26, 4)); // 0 .. 100
    rows.extend(play("long", "a", "198.51.100.41", 20, 26, 4)); // 20 .. 120: 80 s overlap
    // Two browsers at once behind one address (a household): one network, two agents.
    rows.extend(play("two-browsers", "a", "192.0.2.42", 0, 31, 4));
    rows.extend(
        play("two-browsers", "a", "192.0.2.42", 0, 31, 4)
            .into_iter()
            .map(|r| r.ua(FIREFOX)),
    );
    let r = score_rows(&rows, Profile::Concurrent).await;
    assert_eq!(session(&r, "brief").ip_evidence, 1);
    assert_eq!(session(&r, "brief").ip_penalty, 0.0);
    assert_eq!(session(&r, "long").ip_evidence, 2);
    assert_eq!(session(&r, "long").ip_penalty, 1.0);
    let two = session(&r, "two-browsers");
    assert_eq!(
        (two.ip_evidence, two.ua_evidence, two.ua_penalty),
        (1, 2, 1.0)
    );
}

#[test]
fn evaluate_counts_precision_recall_and_causes_against_a_truth_file() {
    // The hand-made traffic and its truth: upstream flags `ios` (a false positive caused by
    // native iOS playback) and `shared`; concurrent flags `shared` only.
    let dir = tempdir();
    let logs = dir.path().join("logs");
    write_log(&logs.join("E1.2026-01-01-00.abc.gz"), &traffic());
    let truth = dir.path().join("truth.csv");
    std::fs::write(
        &truth,
        "session_id,shared,viewers,traits\nb1,false,1,segment-2s\nb2,false,1,segment-2s\n\
         b3,false,1,segment-2s\nios,false,1,ios-native\nr1,false,1,\nr2,false,1,\nr3,false,1,\n\
         shared,true,2,\nswitch,false,1,network-switch\nv6,false,1,ipv6-rotate\n",
    )
    .expect("truth written");
    let eval = |profile: &str| {
        let out = autorevoke(&[
            "evaluate",
            "--truth",
            &truth.display().to_string(),
            &logs.display().to_string(),
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2026-01-01T01:00:00Z",
            "--rules",
            profile,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(
        eval("upstream"),
        "profile   upstream (threshold 2.2)\n\
         sessions  10 in window, 10 scored, 1 shared (truth)\n\
         flagged   1 true positives, 1 false positives, 0 false negatives\n\
         precision 0.5000\n\
         recall    1.0000\n\
         false positives by cause:\n\
         \x20     1  ios-native  (e.g. ios)\n\
         by confounder:         sessions  shared      TP      FP      FN  precision  recall\n\
         \x20 ios-native                  1       0       0       1       0     0.0000       -\n\
         \x20 ipv6-rotate                 1       0       0       0       0          -       -\n\
         \x20 network-switch              1       0       0       0       0          -       -\n\
         \x20 none                        4       1       1       0       0     1.0000  1.0000\n\
         \x20 segment-2s                  3       0       0       0       0          -       -\n"
    );
    assert_eq!(
        eval("concurrent"),
        "profile   concurrent (threshold 2.2)\n\
         sessions  10 in window, 10 scored, 1 shared (truth)\n\
         flagged   1 true positives, 0 false positives, 0 false negatives\n\
         precision 1.0000\n\
         recall    1.0000\n\
         by confounder:         sessions  shared      TP      FP      FN  precision  recall\n\
         \x20 ios-native                  1       0       0       0       0          -       -\n\
         \x20 ipv6-rotate                 1       0       0       0       0          -       -\n\
         \x20 network-switch              1       0       0       0       0          -       -\n\
         \x20 none                        4       1       1       0       0     1.0000  1.0000\n\
         \x20 segment-2s                  3       0       0       0       0          -       -\n"
    );
    // A bad truth file is a usage error naming the line.
    std::fs::write(&truth, "session_id,shared,viewers\nx,maybe,1\n").expect("written");
    let out = autorevoke(&[
        "evaluate",
        "--truth",
        &truth.display().to_string(),
        &logs.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("line 2: `shared` must be true or false"),
        "{}",
        stderr(&out)
    );
}

/// `explain ID DIR --rules RULES` over the hour 00:00 .. 01:00, its stdout (exit 0).
fn explain_in(dir: &std::path::Path, id: &str, rules: &str) -> String {
    let out = autorevoke(&[
        "explain",
        id,
        &dir.display().to_string(),
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-01-01T01:00:00Z",
        "--rules",
        rules,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn explain_names_the_concurrent_evidence() {
    let dir = tempdir();
    write_log(&dir.path().join("E1.2026-01-01-00.abc.gz"), &traffic());
    let explain = |id: &str| explain_in(dir.path(), id, "concurrent");
    let ios = explain("ios");
    for line in [
        "profile  concurrent",
        "  ip_penalty       0.0  (weight 1.0: 1 networks active at once (IPv6 by /64); more than 1 costs the weight)",
        "  referer_penalty  0.0  (weight 1.0: 1 real referers (`-` not counted); more than 1 costs the weight)",
        "  ua_penalty       0.0  (weight 1.0: 1 agents (a browser and its media stack count once); more than 1 costs the weight)",
        "user agents (2):",
        "referers (2):",
    ] {
        assert!(ios.lines().any(|l| l == line), "missing {line:?} in\n{ios}");
    }
    assert!(
        ios.contains("/ the median of asset vod/a 0.25833333333333336"),
        "{ios}"
    );
    let shared = explain("shared");
    assert!(
        shared.contains("score    5.0 > threshold 2.2: flagged"),
        "{shared}"
    );
    assert!(shared.contains("(weight 1.0: 2 networks active at once (IPv6 by /64);"));
}
