//! One test per rule of the upstream scoring, on small hand-written logs with values worked
//! out by hand.

use autorevoke::score::{Now, ScoreParams, ScoreReport, WindowSpec, score};
use chrono::{DateTime, Utc};

use crate::util::*;

fn t(second: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + i64::from(second), 0).expect("valid")
}

/// The window 00:00:00 .. 01:00:00 of 2026-01-01.
fn hour() -> WindowSpec {
    WindowSpec::Range {
        from: t(0),
        to: t(3600),
    }
}

fn lenient() -> ScoreParams {
    ScoreParams {
        min_sessions: 1,
        ..ScoreParams::default()
    }
}

async fn run(rows: &[Row], spec: WindowSpec, params: ScoreParams) -> ScoreReport {
    let dir = tempdir();
    write_log(&dir.path().join("E1.2026-01-01-00.abc.gz"), rows);
    score(&engine(&[dir.path()]), spec, params)
        .await
        .expect("scores")
}

/// A session of `n` distinct segments, one every `step` seconds from `start`.
fn viewer(id: &str, start: u32, n: u32, step: u32) -> Vec<Row> {
    (0..n)
        .map(|i| row(id, start + i * step, &format!("/seg{i}.ts")))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[tokio::test]
async fn only_status_200_and_206_count() {
    let rows = vec![
        row("s1", 0, "/a"),
        row("s1", 10, "/b").status("206"),
        row("s1", 20, "/c").status("304"),
        row("s1", 30, "/d").status("404"),
        row("s1", 40, "/e").status("000"),
        row("s1", 50, "/f").status("403"),
        row("s1", 60, "/g"),
        row("s1", 70, "/h").status("304"),
    ];
    let r = run(&rows, hour(), lenient()).await;
    let s = &r.sessions[0];
    assert_eq!((s.pairs, s.first_seen, s.last_seen), (3, t(0), t(60)));
    assert_eq!(r.stats.rows_in_scope, 3);
}

#[tokio::test]
async fn bytes_must_exceed_1024_strictly() {
    let rows = vec![
        row("s1", 0, "/a").bytes("1024"),
        row("s1", 10, "/b").bytes("1025"),
        row("s1", 40, "/c").bytes("5000"),
        row("s1", 50, "/d").bytes("0"),
    ];
    let r = run(&rows, hour(), lenient()).await;
    let s = &r.sessions[0];
    assert_eq!((s.pairs, s.first_seen, s.last_seen), (2, t(10), t(40)));
}

#[tokio::test]
async fn both_window_edges_are_inclusive() {
    let rows = vec![
        row("s1", 9, "/a"),
        row("s1", 10, "/b"),
        row("s1", 30, "/c"),
        row("s1", 50, "/d"),
        row("s1", 51, "/e"),
    ];
    let explicit = run(
        &rows,
        WindowSpec::Range {
            from: t(10),
            to: t(50),
        },
        lenient(),
    )
    .await;
    let s = &explicit.sessions[0];
    assert_eq!((s.pairs, s.first_seen, s.last_seen), (3, t(10), t(50)));
    // The same window as a 40-second lookback from 00:00:50.
    let lookback =
        WindowSpec::new(Some(Now::At(t(50))), Some(40.0 / 60.0), None, None).expect("valid");
    let r = run(&rows, lookback, lenient()).await;
    assert_eq!(r.window.map(|w| (w.from, w.to)), Some((t(10), t(50))));
    assert_eq!(r.sessions, explicit.sessions);
}

#[tokio::test]
async fn now_latest_is_the_newest_row() {
    let rows = vec![
        row("s1", 100, "/a"),
        row("s1", 700, "/b"),
        row("s1", 400, "/c").status("500"),
    ];
    let spec = WindowSpec::new(Some(Now::Latest), Some(10.0), None, None).expect("valid");
    let r = run(&rows, spec, lenient()).await;
    // The newest row of any status: 00:11:40; ten minutes before: 00:01:40.
    assert_eq!(r.window.map(|w| (w.from, w.to)), Some((t(100), t(700))));
    assert_eq!(r.sessions[0].pairs, 2);
}

#[tokio::test]
async fn only_a_four_part_first_segment_carries_a_session() {
    let rows = vec![
        row("s1", 0, "/a"),
        row("s1", 60, "/b"),
        row("x", 10, "").uri("/eyJh.eyJz.c2ln/seg.ts"), // 3 parts: no session id
        row("x", 20, "").uri("/a.b.c.d.e/seg.ts"),      // 5 parts
        row("x", 30, "").uri("/vod/s2.h.p.s/seg.ts"),   // token not first
        row("x", 40, "").uri("/bad%2Eid.h.p.s/seg.ts"), // invalid id: rejected
    ];
    let r = run(&rows, hour(), lenient()).await;
    assert_eq!(r.sessions_in_window, 1);
    assert_eq!(r.sessions[0].session_id, "s1");
    assert_eq!(
        (r.stats.rows_without_session, r.stats.rows_rejected_session),
        (3, 1)
    );
}

#[tokio::test]
async fn distinct_ip_uri_pairs_count_once() {
    let rows = vec![
        row("s1", 0, "/a").status("206").ip("192.0.2.1"),
        row("s1", 1, "/a").status("206").ip("192.0.2.1"), // second byte range
        row("s1", 30, "/a").ip("192.0.2.1"),              // retry
        row("s1", 40, "/a").ip("198.51.100.7"),           // another viewer: counts again
        row("s1", 60, "/b").ip("192.0.2.1"),
    ];
    let r = run(&rows, hour(), lenient()).await;
    let s = &r.sessions[0];
    assert_eq!((s.pairs, s.distinct_ips, s.ip_penalty), (3, 2, 1.0));
}

#[tokio::test]
async fn a_dash_referer_is_a_value() {
    let rows = vec![
        row("s1", 0, "/a").referer("-"),
        row("s1", 60, "/b").referer("https://www.example.com/watch"),
    ];
    let r = run(&rows, hour(), lenient()).await;
    let s = &r.sessions[0];
    assert_eq!((s.distinct_referers, s.referer_penalty), (2, 1.0));
    assert_eq!((s.distinct_user_agents, s.ua_penalty), (1, 0.0));
}

#[tokio::test]
async fn duration_zero_is_left_out_of_p50_and_of_scoring() {
    let mut rows = viewer("A", 0, 2, 60); // 2 pairs over 60 s
    rows.extend(viewer("B", 0, 4, 20)); // 4 pairs over 60 s
    rows.extend(viewer("C", 100, 5, 0)); // 5 rows at one second: duration 0
    let r = run(&rows, hour(), ScoreParams::default()).await;
    let p50 = (2.0 / 60.0 + 4.0 / 60.0) / 2.0;
    assert_eq!(r.sessions_in_window, 3); // C counts for the gate ...
    assert_eq!(r.sessions_scored, 2); // ... but is not scored
    assert!(close(r.p50.expect("p50"), p50));
    let ids: Vec<&str> = r.sessions.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(ids, ["B", "A"]);
    assert!(close(r.sessions[0].ip_rate, (4.0 / 60.0) / p50));
    assert!(close(r.sessions[1].score, (2.0 / 60.0) / p50));
}

#[tokio::test]
async fn the_min_sessions_gate() {
    let mut rows = viewer("A", 0, 2, 60);
    rows.extend(viewer("B", 0, 4, 20));
    let r = run(&rows, hour(), ScoreParams::default()).await;
    assert_eq!(
        (r.sessions_in_window, r.sessions_scored, r.flagged),
        (2, 0, 0)
    );
    assert_eq!(
        r.not_scored_reason.as_deref(),
        Some("only 2 session(s) in the window, fewer than --min-sessions 3")
    );
    let r = run(
        &rows,
        hour(),
        ScoreParams {
            min_sessions: 2,
            ..ScoreParams::default()
        },
    )
    .await;
    assert_eq!((r.sessions_scored, r.not_scored_reason), (2, None));
}

#[tokio::test]
async fn min_duration_leaves_short_sessions_unscored_but_in_p50() {
    let mut rows = viewer("A", 0, 2, 29); // 29 s: 2/29
    rows.extend(viewer("B", 0, 2, 30)); // 30 s: 2/30
    rows.extend(viewer("C", 0, 3, 30)); // 60 s: 3/60
    let r = run(&rows, hour(), ScoreParams::default()).await;
    let p50 = 2.0 / 30.0;
    assert!(close(r.p50.expect("p50"), p50));
    let got: Vec<(&str, f64)> = r
        .sessions
        .iter()
        .map(|s| (s.session_id.as_str(), s.ip_rate))
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, "B");
    assert!(close(got[0].1, 1.0));
    assert_eq!(got[1].0, "C");
    assert!(close(got[1].1, (3.0 / 60.0) / p50));
}

#[tokio::test]
async fn the_threshold_is_strict() {
    let rows = viewer("A", 0, 5, 15);
    // Alone in the window, its rate is the median: ip_rate = 1.0 exactly, score 1.0.
    let at = run(
        &rows,
        hour(),
        ScoreParams {
            threshold: 1.0,
            ..lenient()
        },
    )
    .await;
    assert_eq!((at.sessions[0].score, at.flagged), (1.0, 0));
    let below = run(
        &rows,
        hour(),
        ScoreParams {
            threshold: 0.999_999,
            ..lenient()
        },
    )
    .await;
    assert_eq!(below.flagged, 1);
}

#[tokio::test]
async fn a_shared_session_scores_every_component() {
    let mut rows = viewer("solo1", 0, 7, 10); // 7 pairs / 60 s
    rows.extend(viewer("solo2", 0, 7, 10));
    rows.extend(viewer("solo3", 0, 7, 10));
    // Two viewers of one token: 14 pairs / 60 s, two IPs, two user agents, one referer.
    rows.extend(viewer("shared", 0, 7, 10));
    rows.extend(
        viewer("shared", 0, 7, 10)
            .into_iter()
            .map(|r| r.ip("203.0.113.9").ua("Other")),
    );
    let r = run(&rows, hour(), ScoreParams::default()).await;
    let s = &r.sessions[0];
    assert_eq!(s.session_id, "shared");
    assert_eq!(
        (
            s.pairs,
            s.distinct_ips,
            s.distinct_user_agents,
            s.distinct_referers
        ),
        (14, 2, 2, 1)
    );
    // p50 of [7/60, 7/60, 7/60, 14/60] = 7/60; ip_rate = 2.
    assert!(close(s.ip_rate, 2.0));
    assert_eq!(
        (s.ip_penalty, s.referer_penalty, s.ua_penalty),
        (1.0, 0.0, 1.0)
    );
    assert!(close(s.score, 4.0));
    assert_eq!((r.flagged, r.sessions_scored), (1, 4));
}

#[tokio::test]
async fn a_weight_of_zero_turns_a_component_off() {
    let mut rows = viewer("solo1", 0, 7, 10);
    rows.extend(viewer("solo2", 0, 7, 10));
    rows.extend(viewer("shared", 0, 7, 10));
    rows.extend(
        viewer("shared", 0, 7, 10)
            .into_iter()
            .map(|r| r.ip("203.0.113.9").ua("Other").referer("-")),
    );
    let mut params = ScoreParams::default();
    params.weights.ip = 0.0;
    params.weights.rate = 0.0;
    params.weights.referer = 2.5;
    let r = run(&rows, hour(), params).await;
    let s = &r.sessions[0];
    assert_eq!(s.session_id, "shared");
    assert_eq!(
        (
            s.ip_rate,
            s.ip_penalty,
            s.referer_penalty,
            s.ua_penalty,
            s.score
        ),
        (0.0, 0.0, 2.5, 1.0, 3.5)
    );
}

#[tokio::test]
async fn p50_of_an_even_number_of_sessions_is_the_mean_of_the_middle_two() {
    let mut rows = viewer("r1", 0, 2, 60); // 2/60
    rows.extend(viewer("r2", 0, 3, 30)); // 3/60
    rows.extend(viewer("r4", 0, 5, 15)); // 5/60
    rows.extend(viewer("r8", 0, 9, 7)); // 9/63
    let r = run(&rows, hour(), ScoreParams::default()).await;
    let p50 = (3.0 / 60.0 + 5.0 / 60.0) / 2.0;
    assert!(close(r.p50.expect("p50"), p50));
    let r1 = r
        .sessions
        .iter()
        .find(|s| s.session_id == "r1")
        .expect("r1");
    assert!(close(r1.ip_rate, (2.0 / 60.0) / p50));
}

#[tokio::test]
async fn now_latest_over_logs_without_rows_explains_itself() {
    let dir = tempdir();
    std::fs::write(dir.path().join("empty.gz"), b"").expect("write");
    let spec = WindowSpec::new(Some(Now::Latest), None, None, None).expect("valid");
    let r = score(&engine(&[dir.path()]), spec, ScoreParams::default())
        .await
        .expect("scores");
    assert_eq!(r.window, None);
    assert_eq!(
        r.not_scored_reason.as_deref(),
        Some("the 1 log object(s) hold no rows, so `--now latest` has no time")
    );
    assert!(r.empty);
    assert_eq!((r.stats.objects_read, r.stats.rows_read), (1, 0));
}

/// Records what each scan was for.
#[derive(Debug, Default)]
struct Phases(std::sync::Mutex<Vec<String>>);

impl autorevoke::ScanObserver for Phases {
    fn scan_started(&self, what: &str, _stats: std::sync::Arc<autorevoke::cloudfront::ScanStats>) {
        if let Ok(mut phases) = self.0.lock() {
            phases.push(what.to_string());
        }
    }
    fn scan_finished(&self) {}
}

#[tokio::test]
async fn each_read_of_a_run_is_labelled_with_what_it_is_for() {
    // `--now latest` reads the newest hour first, then the window: two bars, two labels.
    let phases = std::sync::Arc::new(Phases::default());
    let engine =
        engine(&[&repo().join("sample-logs")]).with_observer(std::sync::Arc::clone(&phases) as _);
    let spec = WindowSpec::new(Some(Now::Latest), None, None, None).expect("valid");
    score(&engine, spec, ScoreParams::default())
        .await
        .expect("scores");
    let seen = phases.0.lock().map(|p| p.clone()).unwrap_or_default();
    assert_eq!(seen, ["finding the newest row", "reading logs"]);
}
