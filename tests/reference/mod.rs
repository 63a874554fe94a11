//! `score` agrees with an independent implementation of SCORING.md (tests/reference/
//! score_reference.py, plain Python written from the spec) on generated logs of thousands of
//! sessions, session for session and score for score.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::util::*;

const FROM: &str = "2026-01-15T19:45:00Z";
const TO: &str = "2026-01-15T19:55:00Z";
const FROM_EPOCH: &str = "1768506300";
const TO_EPOCH: &str = "1768506900";

type Sessions = BTreeMap<String, Vec<f64>>;

fn parse(csv: &str, columns: usize) -> Sessions {
    csv.lines()
        .filter(|l| !l.starts_with("session_id") && !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let numbers = cells[1..columns]
                .iter()
                .map(|c| c.parse::<f64>().unwrap_or_else(|_| panic!("number in {l}")))
                .collect();
            (cells[0].to_string(), numbers)
        })
        .collect()
}

/// Generated once per test run (both tests read the same logs), under the target dir.
fn logs() -> &'static PathBuf {
    static LOGS: OnceLock<PathBuf> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reference-logs");
        let _ = std::fs::remove_dir_all(&logs);
        let synth = autorevoke(&[
            "synth",
            "--out",
            &logs.display().to_string(),
            "--viewers",
            "2400",
            "--shared",
            "120",
            "--minutes",
            "20",
            "--seed",
            "20261129",
        ]);
        assert_eq!(synth.status.code(), Some(0), "{}", stderr(&synth));
        logs
    })
}

fn compare(flags: &[&str], py_params: [&str; 7]) {
    let logs = logs();
    let logs_s = logs.display().to_string();

    let mut args = vec![
        "score",
        logs_s.as_str(),
        "--from",
        FROM,
        "--to",
        TO,
        "--all",
        "--format",
        "csv",
    ];
    args.extend_from_slice(flags);
    let ours = autorevoke(&args);
    assert_eq!(ours.status.code(), Some(0), "{}", stderr(&ours));
    let ours_csv = stdout(&ours);

    let script = repo().join("tests/reference/score_reference.py");
    let theirs = Command::new("python3")
        .arg(&script)
        .args([FROM_EPOCH, TO_EPOCH])
        .args(py_params)
        .arg(logs)
        .output()
        .expect("python3 runs");
    assert!(theirs.status.success(), "{}", stderr(&theirs));
    let theirs_csv = stdout(&theirs);

    // session_id + 9 numeric columns (score .. distinct_referers).
    let a = parse(&ours_csv, 10);
    let b = parse(&theirs_csv, 10);
    assert!(a.len() > 1500, "only {} sessions scored", a.len());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (id, x) in &a {
        let y = &b[id];
        for (i, (u, v)) in x.iter().zip(y).enumerate() {
            let rel = (u - v).abs() / v.abs().max(f64::MIN_POSITIVE);
            assert!(*u == *v || rel < 1e-9, "{id} column {}: {u} vs {v}", i + 1);
        }
    }
    // Timestamps too.
    let times = |csv: &str| -> BTreeMap<String, String> {
        csv.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("session_id"))
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                (c[0].to_string(), format!("{},{}", c[10], c[11]))
            })
            .collect()
    };
    let epoch = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp().to_string())
            .unwrap_or_default()
    };
    let ours_times: BTreeMap<String, String> = times(&ours_csv)
        .into_iter()
        .map(|(k, v)| {
            let (f, l) = v.split_once(',').unwrap_or_default();
            (k, format!("{},{}", epoch(f), epoch(l)))
        })
        .collect();
    let theirs_times = times(&theirs_csv);
    let differing: Vec<_> = ours_times
        .iter()
        .filter(|(k, v)| theirs_times.get(*k) != Some(*v))
        .take(5)
        .collect();
    assert!(
        differing.is_empty(),
        "first/last seen differ: {differing:?}"
    );
    assert_eq!(ours_times.len(), theirs_times.len());
    let flagged_ours = ours_csv
        .lines()
        .skip(1)
        .filter(|l| {
            l.split(',')
                .nth(1)
                .and_then(|s| s.parse::<f64>().ok())
                .is_some_and(|s| s > py_params[0].parse::<f64>().unwrap_or(f64::MAX))
        })
        .count();
    let flagged_theirs = theirs_csv.lines().filter(|l| l.ends_with(",True")).count();
    assert_eq!(flagged_ours, flagged_theirs);
    assert!(flagged_theirs >= 100, "{flagged_theirs}");
}

#[test]
fn agrees_with_the_reference_with_default_parameters() {
    compare(&[], ["2.2", "3", "30", "1", "1", "1", "1"]);
}

#[test]
fn agrees_with_the_reference_with_other_parameters() {
    compare(
        &[
            "--threshold",
            "1.7",
            "--min-duration",
            "90",
            "--weight-rate",
            "1.5",
            "--weight-ip",
            "0.5",
            "--weight-referer",
            "0",
            "--weight-ua",
            "2",
        ],
        ["1.7", "3", "90", "1.5", "0.5", "0", "2"],
    );
}
