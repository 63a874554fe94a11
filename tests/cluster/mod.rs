//! `--cluster standalone`: the same queries planned and run by Apache DataFusion Ballista (its
//! scheduler and an executor in the process, the plans serialised through `LogsCodec`) give
//! byte-identical output to the local engine, with the same scan counts.

use std::path::Path;

use crate::util::*;

fn both(args: &[&str]) -> (String, String) {
    let local = autorevoke(args);
    assert_eq!(local.status.code(), Some(0), "{}", stderr(&local));
    let cluster = autorevoke(&[args, &["--cluster", "standalone"][..]].concat());
    assert_eq!(cluster.status.code(), Some(0), "{}", stderr(&cluster));
    (stdout(&local), stdout(&cluster))
}

fn score_csv(dir: &Path, now: &str, profile: &str, threads: &str) -> (String, String) {
    both(&[
        "score",
        &dir.display().to_string(),
        "--now",
        now,
        "--profile",
        profile,
        "--threads",
        threads,
        "--all",
        "--format",
        "csv",
    ])
}

#[test]
fn standalone_ballista_scores_exactly_as_the_local_engine() {
    let sample = repo().join("sample-logs");
    let expected =
        std::fs::read_to_string(repo().join("tests/expected/sample-logs.score.csv")).expect("csv");
    for profile in ["upstream", "concurrent"] {
        for threads in ["1", "4"] {
            let (local, cluster) = score_csv(&sample, "latest", profile, threads);
            assert_eq!(cluster, local, "{profile}, {threads} partitions");
            assert!(local.lines().count() > 50, "{local}");
        }
    }
    let (_, upstream) = score_csv(&sample, "latest", "upstream", "3");
    let flagged: Vec<&str> = upstream.lines().filter(|l| l.contains(",true")).collect();
    let expected_flagged: Vec<&str> = expected.lines().filter(|l| l.contains(",true")).collect();
    assert_eq!(flagged, expected_flagged);

    // A synthetic set over more objects and partitions.
    let work = tempdir();
    let synth = work.path().join("synth");
    synth_into(
        &synth,
        &[
            "--viewers",
            "80",
            "--shared",
            "6",
            "--minutes",
            "40",
            "--files-per-hour",
            "8",
            "--seed",
            "11",
        ],
    );
    for profile in ["upstream", "concurrent"] {
        let (local, cluster) = score_csv(&synth, "2026-01-15T20:00:00Z", profile, "5");
        assert_eq!(cluster, local, "synth, {profile}");
        assert!(local.lines().count() > 40, "{local}");
    }
}

#[test]
fn standalone_ballista_answers_queries_and_counts_its_scan_as_the_local_engine() {
    let sample = repo().join("sample-logs").display().to_string();
    let sql = "SELECT status, count(*) AS n, count(DISTINCT session_id) AS sessions, \
               count(DISTINCT ip_network(request_ip)) AS networks FROM logs \
               GROUP BY status ORDER BY status";
    let (local, cluster) = both(&[
        "query",
        &sample,
        "--sql",
        sql,
        "--threads",
        "3",
        "--format",
        "csv",
    ]);
    assert_eq!(cluster, local);
    assert_eq!(
        local,
        "status,n,sessions,networks\n0,116,44,51\n200,19931,62,71\n206,1610,61,70\n404,32,18,22\n"
    );
    // The scan reports into the client's counters: the same JSON stats.
    let (local, cluster) = both(&[
        "score",
        &sample,
        "--now",
        "2026-01-15T20:00:00Z",
        "--threads",
        "3",
        "--format",
        "json",
    ]);
    let stats = |text: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(text).expect("json")["stats"].clone()
    };
    assert_eq!(stats(&cluster), stats(&local));
    assert_eq!(stats(&local)["objects_read"], 6);
}
