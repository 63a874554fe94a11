//! The `viewers` profile: hand-made sessions of one viewer doing what one viewer can (two
//! addresses in parallel, a seek back, re-fetches) and of two viewers (the same segments from
//! two networks at once; two positions behind one address; a late joiner), with every
//! evidence count worked out by hand; then generated mixes against their truth, per
//! confounder, and the same answers from every input form, with `--state` and on Ballista.

use autorevoke::score::viewers::ViewerParams;
use autorevoke::score::{Profile, ScoreParams, ScoreReport, WindowSpec, score};

use super::{explain_in, references, session, t};
use crate::util::*;

const FIREFOX: &str = "Mozilla/5.0%20(X11;%20rv:129.0)%20Firefox/129.0";

/// A fetch of segment `seg` of folder `folder` (`vod/a/<folder>/seg<seg>.ts`) at `second`.
fn fetch(id: &str, folder: &str, seg: u32, second: u32, ip: &str) -> Row {
    let ext = if folder == "audio" { "aac" } else { "ts" };
    row(id, second, &format!("/vod/a/{folder}/seg{seg:05}.{ext}")).ip(ip)
}

/// One position: segments `from..from + n` of `folder`, one every 4 s from `start`.
fn position(id: &str, folder: &str, from: u32, n: u32, start: u32, ip: &str) -> Vec<Row> {
    (0..n)
        .map(|i| fetch(id, folder, from + i, start + 4 * i, ip))
        .collect()
}

/// The hand-made traffic (window 00:00 .. 01:00, so minute m is m*60 .. m*60+59 s):
///
/// | session | viewers | what |
/// | r1, r2, r3 | 1 | segments 0..30 every 4 s from 0 s |
/// | multipath | 1 | the same, odd segments from a second address |
/// | dualstack | 1 | video from IPv4, audio from IPv6, at the same times |
/// | seek | 1 | segments 20..29 from 0 s, then back to 0..19 from 40 s |
/// | refetch | 1 | segments 0..30, every fifth fetched again a second later (as two 206s) |
/// | live-pair | 2 | segments 0..30 from two networks, a second apart |
/// | nat-pair | 2 | one address: segments 0..30 and 100..130, 2 s apart, two browsers |
/// | late-pair | 2 | segments 0..30; a second viewer plays 200..212 from 70 s on |
/// | close-pair | 2 | segments 0..30 and, from another network, 9..39 (34 s behind) |
fn traffic() -> Vec<Row> {
    let mut rows = references();
    rows.extend(
        position("multipath", "720p", 0, 31, 0, "192.0.2.50")
            .into_iter()
            .enumerate()
            .map(|(i, r)| if i % 2 == 1 { r.ip("198.51.100.50") } else { r }),
    );
    rows.extend(position("dualstack", "720p", 0, 31, 0, "192.0.2.51"));
    rows.extend(position("dualstack", "audio", 0, 31, 0, "2001:db8:1:2::51"));
    rows.extend(position("seek", "720p", 20, 10, 0, "192.0.2.52"));
    rows.extend(position("seek", "720p", 0, 20, 40, "192.0.2.52"));
    rows.extend(position("refetch", "720p", 0, 31, 0, "192.0.2.53"));
    for i in (0..31).step_by(5) {
        for _ in 0..2 {
            rows.push(fetch("refetch", "720p", i, 4 * i + 1, "192.0.2.53").status("206"));
        }
    }
    rows.extend(position("live-pair", "720p", 0, 31, 0, "203.0.113.7"));
    rows.extend(position("live-pair", "720p", 0, 31, 1, "198.18.0.7"));
    rows.extend(position("nat-pair", "720p", 0, 31, 0, "192.0.2.60"));
    rows.extend(
        position("nat-pair", "720p", 100, 31, 2, "192.0.2.60")
            .into_iter()
            .map(|r| r.ua(FIREFOX)),
    );
    rows.extend(position("late-pair", "720p", 0, 31, 0, "203.0.113.8"));
    rows.extend(position("late-pair", "720p", 200, 13, 70, "198.18.0.8"));
    rows.extend(position("close-pair", "720p", 0, 31, 0, "192.0.2.61"));
    rows.extend(position("close-pair", "720p", 9, 31, 2, "198.51.100.61"));
    rows
}

async fn scored(viewers: ViewerParams) -> ScoreReport {
    let dir = tempdir();
    write_log(&dir.path().join("E1.2026-01-01-00.abc.gz"), &traffic());
    let spec = WindowSpec::Range {
        from: t(0),
        to: t(3600),
    };
    let params = ScoreParams {
        profile: Profile::Viewers,
        viewers,
        ..ScoreParams::default()
    };
    score(&engine(&[dir.path()]), spec, params)
        .await
        .expect("scores")
}

/// (score, networks fetching one object, positions at once, evidence minutes, flagged)
fn evidence(r: &ScoreReport, id: &str) -> (f64, u64, u64, u64, bool) {
    let s = session(r, id);
    (
        s.score,
        s.ip_evidence,
        s.referer_evidence,
        s.ua_evidence,
        s.flagged,
    )
}

#[tokio::test]
async fn viewers_counts_two_viewers_and_never_one_viewers_addresses_seeks_or_refetches() {
    let r = scored(ViewerParams::default()).await;
    assert_eq!((r.sessions_in_window, r.sessions_scored), (11, 11));
    // One viewer: one position a minute (minute 2 holds segment 30 alone: no run of two).
    for id in ["r1", "r2", "r3", "multipath", "dualstack", "refetch"] {
        assert_eq!(evidence(&r, id), (1.0, 1, 1, 0, false), "{id}");
    }
    // Minute 0 has the runs 20..29 then 0..4, one after the other: a seek, one step back.
    assert_eq!(evidence(&r, "seek"), (1.0, 1, 1, 0, false));
    // 15 objects from both networks in minutes 0 and 1 (minute 2: segment 30 alone).
    assert_eq!(evidence(&r, "live-pair"), (2.0, 2, 1, 2, true));
    // Behind one address: runs 0..14 and 100..114 fetched alternately (14 steps back from
    // 100.. to 1.., 2.., ...) in minutes 0 and 1.
    assert_eq!(evidence(&r, "nat-pair"), (2.0, 1, 2, 2, true));
    // Two positions in minute 1 only: one minute, fewer than --min-evidence-minutes 2.
    assert_eq!(evidence(&r, "late-pair"), (1.0, 1, 2, 1, false));
    // Segments 0..23 are one run in minute 0, but in time order 0, 9, 1, 10, 2, ...: 14 steps
    // back, two positions (and so in minute 1). Each object's second fetch comes 34 s after
    // its first: not at once.
    assert_eq!(evidence(&r, "close-pair"), (2.0, 1, 2, 2, true));
    assert_eq!(r.flagged, 3);
    let multipath = session(&r, "multipath");
    assert_eq!((multipath.distinct_ips, multipath.pairs), (2, 31));
    assert_eq!(session(&r, "refetch").requests, 31 + 7 * 2);
}

#[tokio::test]
async fn one_evidence_minute_flags_the_late_joiner_and_still_no_single_viewer() {
    let r = scored(ViewerParams {
        min_evidence_minutes: 1,
        ..ViewerParams::default()
    })
    .await;
    assert_eq!(evidence(&r, "late-pair"), (2.0, 1, 2, 1, true));
    let flagged: Vec<&str> = r
        .flagged_sessions()
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(
        flagged,
        ["close-pair", "late-pair", "live-pair", "nat-pair"]
    );
    // Objects count only when a minute has two of them: with one, still the same (minute 2's
    // one object, segment 30 at 120 s, is not followed by 30 s more from both networks).
    let r = scored(ViewerParams {
        min_cofetched_objects: 1,
        ..ViewerParams::default()
    })
    .await;
    assert_eq!(evidence(&r, "live-pair"), (2.0, 2, 1, 2, true));
    assert_eq!(r.flagged, 3);
}

#[test]
fn explain_shows_the_positions_and_the_objects_of_both_networks() {
    let dir = tempdir();
    write_log(&dir.path().join("E1.2026-01-01-00.abc.gz"), &traffic());
    let explain = |id: &str| explain_in(dir.path(), id, "viewers");
    let nat = explain("nat-pair");
    for line in [
        "profile  viewers",
        "score    2 viewer(s) at once: flagged (2 minute(s) showed 2 or more viewers; --min-evidence-minutes 2)",
        "  playback positions at once: 2 at most (a folder stepping back twice in a minute by more than 3 segments)",
        "  minute 2026-01-01T00:00:00Z: 2 position(s) at once, 1 network(s) fetching one object",
        "    vod/a/720p  segments 0..14  2026-01-01T00:00:00Z .. 2026-01-01T00:00:56Z  15 fetches  2 runs, 14 steps back  from 192.0.2.60",
        "    vod/a/720p  segments 100..114  2026-01-01T00:00:02Z .. 2026-01-01T00:00:58Z  15 fetches  2 runs, 14 steps back  from 192.0.2.60",
        "objects fetched by more than one network at once (0):",
    ] {
        assert!(nat.lines().any(|l| l == line), "missing {line:?} in\n{nat}");
    }
    let live = explain("live-pair");
    for line in [
        "  networks fetching one object within 30 s and fetching on for 30 s: 2 at most (in a minute with 2 or more such objects)",
        // Segments 0..22: from segment 23 (92 s) on, the first network's last fetch (120 s)
        // comes less than 30 s after.
        "objects fetched by more than one network at once (23):",
        "  vod/a/720p/seg00000.ts  203.0.113.7 at 2026-01-01T00:00:00Z, 198.18.0.7 at 2026-01-01T00:00:01Z",
        "  ... and 11 more",
    ] {
        assert!(
            live.lines().any(|l| l == line),
            "missing {line:?} in\n{live}"
        );
    }
    let seek = explain("seek");
    assert!(
        seek.lines().any(|l| l
            == "score    1 viewer(s) at once: not flagged (0 minute(s) showed 2 or more viewers; --min-evidence-minutes 2)"),
        "{seek}"
    );
}

/// A generated mix with every confounder synth models, on clean and shared sessions alike:
/// every segment duration, groups of 2 to 8, late joiners, live streams.
const MIX: [&str; 40] = [
    "--viewers",
    "150",
    "--shared",
    "12",
    "--minutes",
    "20",
    "--seed",
    "5",
    "--ios-native",
    "0.15",
    "--network-switch",
    "0.15",
    "--ipv6-rotate",
    "0.15",
    "--dual-stack",
    "0.15",
    "--multipath",
    "0.15",
    "--seek-back",
    "0.2",
    "--refetch",
    "0.15",
    "--byte-ranges",
    "0.15",
    "--ll-hls",
    "0.15",
    "--abr-flap",
    "0.15",
    "--app-player",
    "0.15",
    "--live",
    "0.4",
    "--late-join",
    "0.4",
    "--group-sizes",
    "2-8",
    "--segment-durations",
    "2,4,6,10",
    "-q",
    "--files-per-hour",
];

/// `MIX` written into `work/mix` (4 files an hour), its truth beside it.
fn mix(work: &std::path::Path) -> std::path::PathBuf {
    let logs = work.join("mix");
    synth_into(&logs, &[&MIX[..], &["4"]].concat());
    logs
}

/// `evaluate --format json` of the last 10 minutes of `logs` under `rules`.
fn evaluate(logs: &std::path::Path, rules: &str) -> serde_json::Value {
    let truth = logs.with_file_name("mix.truth.csv");
    let out = autorevoke(&[
        "evaluate",
        "--format",
        "json",
        "--truth",
        &truth.display().to_string(),
        &logs.display().to_string(),
        "--now",
        "latest",
        "--lookback",
        "10",
        "--rules",
        rules,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("json")
}

/// An `evaluate` answer's sessions in the window, shared, true and false positives, and false
/// negatives.
fn counts(e: &serde_json::Value) -> [u64; 5] {
    [
        "sessions_in_window",
        "shared_in_window",
        "true_positives",
        "false_positives",
        "false_negatives",
    ]
    .map(|k| e[k].as_u64().unwrap_or(u64::MAX))
}

#[test]
fn on_a_generated_mix_viewers_flags_exactly_the_shared_sessions_whatever_their_confounders() {
    let work = tempdir();
    let logs = mix(work.path());
    let v = evaluate(&logs, "viewers");
    // 140 sessions in the window, 12 of them shared (the truth): exactly those are flagged.
    assert_eq!(counts(&v), [140, 12, 12, 0, 0], "{v:#}");
    let by = v["by_confounder"].as_array().expect("by confounder");
    let names: Vec<&str> = by.iter().filter_map(|c| c["confounder"].as_str()).collect();
    assert_eq!(
        names,
        [
            "abr-flap",
            "app-player",
            "byte-ranges",
            "dual-stack",
            "ios-native",
            "ipv6-rotate",
            "late-join",
            "live",
            "ll-hls",
            "multipath",
            "network-switch",
            "refetch",
            "seek-back",
            "segment-10s",
            "segment-2s",
            "segment-4s",
            "segment-6s",
        ]
    );
    for c in by {
        // Every confounder but a late joiner is on clean sessions too, none of them flagged.
        let clean = c["sessions"].as_u64().unwrap_or(0) - c["shared"].as_u64().unwrap_or(0);
        assert_eq!(clean == 0, c["confounder"] == "late-join", "{c}");
        let (shared, tp, fp, fn_) = (
            &c["shared"],
            &c["true_positives"],
            &c["false_positives"],
            &c["false_negatives"],
        );
        assert_eq!((tp, fp, fn_), (shared, &0.into(), &0.into()), "{c}");
    }
    // The other profiles flag ordinary viewers of the same mix.
    assert_eq!(counts(&evaluate(&logs, "upstream")), [140, 12, 12, 44, 0]);
    assert_eq!(counts(&evaluate(&logs, "concurrent")), [140, 12, 12, 20, 0]);
}

#[test]
fn with_state_viewers_reads_what_it_needs_and_answers_as_without() {
    // A state filled by `upstream` runs keeps only what `upstream` reads; `viewers` needs
    // paths and addresses, so its runs read the logs and give the same answers.
    let work = tempdir();
    let state = work.path().join("state").display().to_string();
    let sample = repo().join("sample-logs").display().to_string();
    let csv = |rules: &str, with_state: bool| {
        let mut args = vec![
            "score", &sample, "--now", "latest", "--all", "--format", "csv", "--rules", rules,
        ];
        if with_state {
            args.extend(["--state", &state]);
        }
        let out = autorevoke(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let viewers = csv("viewers", false);
    assert_eq!(csv("viewers", true), viewers);
    assert_eq!(csv("upstream", true), csv("upstream", false));
    assert_eq!(csv("viewers", true), viewers);
    assert_eq!(viewers.lines().count(), 57, "{viewers}");
}

#[test]
fn viewers_is_not_fooled_by_vpn_exits_hopping_country() {
    // Most viewers behind a VPN whose exit hops country (and address) every 1 to 3 minutes,
    // each hop fetching the segments in flight again from the new exit. Before a co-fetch
    // had to be followed by both networks fetching on, this mix flagged 5 of them.
    let work = tempdir();
    let logs = work.path().join("mix");
    synth_into(
        &logs,
        &[
            "--viewers",
            "300",
            "--shared",
            "10",
            "--minutes",
            "20",
            "--seed",
            "8",
            "--countries",
            "--vpn-hop",
            "0.6",
            "--byte-ranges",
            "0.3",
            "--abr-flap",
            "0.3",
            "--segment-durations",
            "2,4",
            "--files-per-hour",
            "4",
            "-q",
        ],
    );
    let v = evaluate(&logs, "viewers");
    assert_eq!(counts(&v), [255, 10, 10, 0, 0], "{v:#}");
    let hops = v["by_confounder"]
        .as_array()
        .and_then(|by| by.iter().find(|c| c["confounder"] == "vpn-hop"))
        .expect("vpn-hop sessions");
    assert!(hops["sessions"].as_u64().unwrap_or(0) > 100, "{hops}");
    assert_eq!(hops["false_positives"], 0, "{hops}");
    // Their viewers in two countries at once are the shared sessions' (trait `abroad`).
    let abroad = v["by_confounder"]
        .as_array()
        .and_then(|by| by.iter().find(|c| c["confounder"] == "abroad"))
        .expect("abroad sessions");
    assert_eq!(abroad["sessions"], abroad["true_positives"], "{abroad}");
}
