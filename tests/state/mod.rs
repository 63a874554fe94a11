//! Incremental runs (`--state`): successive scheduled runs over a folder that grows, with a
//! late file and a changed object, give exactly the scores of full reads while reading only
//! the new and changed objects.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::*;

/// Start of the synthetic traffic (90 minutes, ending 2026-01-15T20:00:00Z).
const START: i64 = 1_768_501_800;
/// One delivery slot: CloudFront-like files of 5 minutes of rows each.
const SLOT_S: i64 = 300;

/// The rows of every file under `dir`, by 5-minute slot of their time, with the W3C header.
fn rows_by_slot(dir: &Path) -> (String, BTreeMap<i64, Vec<String>>) {
    let mut header = String::new();
    let mut slots: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("synth folder")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    for (i, path) in names.iter().enumerate() {
        let text = inflated(path);
        for line in text.lines() {
            if line.starts_with('#') {
                // Every synth file has the same `#Version` and `#Fields` lines.
                if i == 0 {
                    header.push_str(line);
                    header.push('\n');
                }
                continue;
            }
            let mut fields = line.split('\t');
            let (date, time) = (fields.next().expect("date"), fields.next().expect("time"));
            let t = chrono::NaiveDateTime::parse_from_str(
                &format!("{date} {time}"),
                "%Y-%m-%d %H:%M:%S",
            )
            .expect("row time")
            .and_utc()
            .timestamp();
            // The last instant (20:00:00) belongs to the last slot.
            slots
                .entry((t - START).div_euclid(SLOT_S).min(17))
                .or_default()
                .push(line.to_string());
        }
    }
    (header, slots)
}

/// Writes slot `slot`'s rows (the first `take` of them) as a flat-layout object named by the
/// slot's hour.
fn deliver(dir: &Path, header: &str, rows: &[String], slot: i64, take: usize) {
    let t = chrono::DateTime::from_timestamp(START + slot * SLOT_S, 0).expect("slot time");
    let name = format!(
        "E2STATE0EXAMPLE.{}.slot{slot:02}.gz",
        t.format("%Y-%m-%d-%H")
    );
    let mut text = header.to_string();
    for row in rows.iter().take(take) {
        text.push_str(row);
        text.push('\n');
    }
    write_gz(&dir.join(name), text.as_bytes());
}

/// `score DIR --now NOW --lookback 30 --all --format json` (with `--state STATE`), parsed.
fn score_json(dir: &Path, now: i64, state: Option<&Path>) -> serde_json::Value {
    let now = chrono::DateTime::from_timestamp(now, 0)
        .expect("now")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let dir = dir.display().to_string();
    let mut args = vec![
        "score",
        &dir,
        "--now",
        &now,
        "--lookback",
        "30",
        "--all",
        "--format",
        "json",
    ];
    let state_text = state.map(|s| s.display().to_string());
    if let Some(s) = &state_text {
        args.extend(["--state", s]);
    }
    let out = autorevoke(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("JSON report")
}

fn stat(report: &serde_json::Value, name: &str) -> u64 {
    report["stats"][name].as_u64().unwrap_or(0)
}

#[test]
fn twelve_five_minute_runs_over_a_growing_folder_equal_full_runs() {
    let work = tempdir();
    let synth = work.path().join("synth");
    synth_into(
        &synth,
        &[
            "--minutes",
            "90",
            "--viewers",
            "30",
            "--shared",
            "4",
            "--seed",
            "7",
        ],
    );
    let (header, slots) = rows_by_slot(&synth);
    assert_eq!(slots.len(), 18, "{:?}", slots.keys().collect::<Vec<_>>());
    let (logs, state) = (work.path().join("logs"), work.path().join("state"));
    std::fs::create_dir_all(&logs).expect("mkdir");
    // The first 30 minutes are there before the first run.
    for slot in 0..6 {
        deliver(&logs, &header, &slots[&slot], slot, usize::MAX);
    }
    let mut present = 6u64;
    for run in 1..=12i64 {
        // Each run, the slot that just ended arrives. Slot 8 arrives late (with slot 11), and
        // slot 12 first arrives with half its rows and is rewritten whole the next run.
        let mut fresh = 0;
        let slot = run + 5;
        if slot != 8 {
            let take = if slot == 12 {
                slots[&slot].len() / 2
            } else {
                usize::MAX
            };
            deliver(&logs, &header, &slots[&slot], slot, take);
            fresh += 1;
        }
        if slot == 11 {
            deliver(&logs, &header, &slots[&8], 8, usize::MAX);
            fresh += 1;
        }
        if slot == 13 {
            deliver(&logs, &header, &slots[&12], 12, usize::MAX);
            fresh += 1; // changed
        }
        present += if slot == 13 { fresh - 1 } else { fresh };
        let now = START + (slot + 1) * SLOT_S;
        let full = score_json(&logs, now, None);
        let incremental = score_json(&logs, now, Some(&state));
        for key in [
            "window",
            "p50",
            "sessions_in_window",
            "sessions_scored",
            "flagged",
        ] {
            assert_eq!(incremental[key], full[key], "run {run}: {key}");
        }
        assert_eq!(incremental["sessions"], full["sessions"], "run {run}");
        assert!(
            full["sessions"].as_array().is_some_and(|s| s.len() > 10),
            "run {run}: {}",
            full["sessions"]
        );
        for counter in [
            "objects_read",
            "rows_read",
            "rows_in_scope",
            "objects_failed",
        ] {
            assert_eq!(
                stat(&incremental, counter),
                stat(&full, counter),
                "run {run}: {counter}"
            );
        }
        // Every object present was selected; all but the new and changed ones came from the
        // state (the first run had none), and those fetched nothing.
        assert_eq!(stat(&full, "objects_read"), present, "run {run}");
        let kept = if run == 1 { 0 } else { present - fresh };
        assert_eq!(stat(&incremental, "objects_from_state"), kept, "run {run}");
        // Of those, the slots that ended before the window's start (slots 0 to run - 1: the
        // window starts at slot run's first second) were taken from their projections'
        // headers alone.
        let outside = if run == 1 { 0 } else { run as u64 };
        assert_eq!(
            stat(&incremental, "objects_outside_window"),
            outside,
            "run {run}"
        );
        if run > 1 {
            assert!(
                stat(&incremental, "bytes_read") < stat(&full, "bytes_read") / 3,
                "run {run}: {} of {}",
                stat(&incremental, "bytes_read"),
                stat(&full, "bytes_read")
            );
        }
    }
    // The state holds one projection per object, in folders by the hour their keys name.
    let kept: Vec<_> = walk_files(&state);
    assert_eq!(kept.len() as u64, present, "{kept:?}");
    assert!(
        kept.iter()
            .all(|p| p.contains("/objects/2026-01-15T1") && p.ends_with(".parquet")),
        "{kept:?}"
    );
}

#[test]
fn run_prunes_projections_no_later_window_reads_and_a_broken_one_is_replaced() {
    let work = tempdir();
    let state = work.path().join("state");
    let state_text = state.display().to_string();
    let logs = repo().join("sample-logs").display().to_string();
    let run = |now: &str| {
        autorevoke(&[
            "run",
            &logs,
            "--now",
            now,
            "--dry-run",
            "--table",
            "autorevoke-test",
            "--state",
            &state_text,
            "--format",
            "json",
            // The later runs find no rows (they are about pruning).
            "--allow-empty",
        ])
    };
    let out = run("2026-01-15T20:00:00Z");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kept = walk_files(&state);
    assert_eq!(kept.len(), 6, "{kept:?}");
    // A projection that cannot be read is replaced, with a note, and the scores stand.
    std::fs::write(&kept[0], b"not parquet").expect("break");
    let csv = ["--now", "2026-01-15T20:00:00Z", "--all", "--format", "csv"];
    let full = autorevoke(&[&["score", &logs][..], &csv].concat());
    let again = autorevoke(&[&["score", &logs, "--state", &state_text][..], &csv].concat());
    expect_exit(
        &again,
        0,
        "a kept projection was unreadable and is replaced: state ",
    );
    assert_eq!(stdout(&again), stdout(&full));
    assert_ne!(std::fs::read(&kept[0]).expect("read"), b"not parquet");
    // A run at 01-16T22:05 lists from 01-16T20 on (10 minutes and the 60-minute margin) and
    // keeps 24 hours more: the three projections of 01-15T19 go, those of T20 stay; two
    // hours later those go too.
    let out = run("2026-01-16T22:05:00Z");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let left = walk_files(&state);
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(
        left.iter().all(|p| p.contains("/objects/2026-01-15T20/")),
        "{left:?}"
    );
    let out = run("2026-01-17T00:05:00Z");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(walk_files(&state), Vec::<String>::new());
}

#[test]
fn a_state_inside_the_logs_is_refused_before_anything_is_written() {
    let work = tempdir();
    let logs = work.path().join("logs");
    for name in sample_log_names() {
        put_file(&logs.join(&name), &repo().join("sample-logs").join(&name));
    }
    let state = logs.join("state");
    let out = autorevoke(&[
        "score",
        &logs.display().to_string(),
        "--state",
        &state.display().to_string(),
    ]);
    let canonical = std::fs::canonicalize(&logs).expect("logs");
    let expected = format!(
        "{}: inside the log location {}: its projections would be read as logs",
        state.display(),
        canonical.display()
    );
    expect_exit(&out, 2, &expected);
    assert!(!state.exists());
}

fn put_file(to: &Path, from: &Path) {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::copy(from, to).expect("copy");
}

/// Every file below `dir`, sorted.
fn walk_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_state_reached_through_dot_dot_or_a_link_into_the_logs_is_refused() {
    let work = tempdir();
    let logs = work.path().join("logs");
    for name in sample_log_names() {
        put_file(&logs.join(&name), &repo().join("sample-logs").join(&name));
    }
    let link = work.path().join("link");
    std::os::unix::fs::symlink(&logs, &link).expect("symlink");
    let canonical = std::fs::canonicalize(&logs).expect("logs");
    for state in [logs.join("../logs/state"), link.join("state"), link.clone()] {
        let out = autorevoke(&[
            "score",
            &logs.display().to_string(),
            "--state",
            &state.display().to_string(),
        ]);
        let expected = format!(
            "{}: inside the log location {}: its projections would be read as logs",
            state.display(),
            canonical.display()
        );
        expect_exit(&out, 2, &expected);
    }
    assert_eq!(walk_files(&logs).len(), 6);
}

#[test]
fn a_log_rewritten_in_place_with_its_size_and_time_kept_is_read_again() {
    let work = tempdir();
    let logs = work.path().join("logs");
    let state = work.path().join("state");
    // Plain text objects, so that a rewrite of the same length keeps the size.
    for name in sample_log_names() {
        let path = logs.join(&name);
        std::fs::create_dir_all(&logs).expect("mkdir");
        std::fs::write(&path, sample_text(&name)).expect("write");
    }
    let csv = |state: Option<&Path>| {
        let logs = logs.display().to_string();
        let mut args = vec![
            "score".to_string(),
            logs,
            "--now".into(),
            "2026-01-15T20:00:00Z".into(),
            "--all".into(),
            "--format".into(),
            "csv".into(),
        ];
        if let Some(state) = state {
            args.extend(["--state".to_string(), state.display().to_string()]);
        }
        let out = autorevoke(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let before = csv(Some(&state));
    assert_eq!(before, csv(None));
    // Every 200 of one object becomes a 404 (same length), written over the same file
    // (same inode) with its modification time put back, as `cp -p` or `rsync -t` do.
    let name = sample_log_names()
        .into_iter()
        .find(|n| n.contains("2026-01-15-19"))
        .expect("an object of 19:00");
    let path = logs.join(&name);
    let meta = std::fs::metadata(&path).expect("meta");
    let text = std::fs::read_to_string(&path).expect("read");
    let changed = text.replace("\t200\t", "\t404\t");
    assert_ne!(changed, text);
    assert_eq!(changed.len(), text.len());
    std::fs::write(&path, changed).expect("rewrite");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(meta.modified().expect("mtime")))
        .expect("put the time back");
    let after = std::fs::metadata(&path).expect("meta");
    assert_eq!(
        (after.len(), after.modified().ok()),
        (meta.len(), meta.modified().ok())
    );
    let full = csv(None);
    assert_ne!(full, before, "the rewrite changes the scores");
    assert_eq!(csv(Some(&state)), full);
}
