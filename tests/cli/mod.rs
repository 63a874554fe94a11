//! The binary end to end: the README's commands, output contracts and exit codes.

use crate::util::*;

#[test]
fn score_csv_on_sample_logs_matches_the_checked_in_file() {
    let out = autorevoke(&["score", "sample-logs", "--now", "latest", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = std::fs::read_to_string(repo().join("tests/expected/sample-logs.score.csv"))
        .expect("expected file");
    assert_eq!(stdout(&out), expected);
}

#[test]
fn score_flags_exactly_the_planted_shared_sessions() {
    let out = autorevoke(&["score", "sample-logs", "--now", "latest", "--format", "csv"]);
    let mut flagged: Vec<String> = stdout(&out)
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect();
    flagged.sort();
    let truth = std::fs::read_to_string(repo().join("tests/expected/sample-logs.truth.csv"))
        .expect("truth");
    let shared: Vec<String> = truth
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some("true"))
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect();
    assert_eq!(shared.len(), 5);
    assert_eq!(flagged, shared);
}

#[test]
fn score_json_carries_the_window_params_and_stats() {
    let out = autorevoke(&[
        "score",
        "sample-logs",
        "--from",
        "2026-01-15T19:50:00Z",
        "--to",
        "2026-01-15T20:00:00Z",
        "--format",
        "json",
        "--threshold",
        "2.5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["window"]["from"], "2026-01-15T19:50:00Z");
    assert_eq!(v["window"]["to"], "2026-01-15T20:00:00Z");
    assert_eq!(v["params"]["threshold"], 2.5);
    assert_eq!(v["params"]["min_sessions"], 3);
    let stats = &v["stats"];
    for key in [
        "objects_listed",
        "objects_read",
        "objects_failed",
        "bytes_read",
        "rows_read",
        "rows_malformed",
        "rows_in_scope",
    ] {
        assert!(stats[key].is_u64(), "stats.{key} missing: {stats}");
    }
    assert_eq!(stats["objects_failed"], 0);
    assert_eq!(stats["objects_read"], stats["objects_listed"]);
    let sessions = v["sessions"].as_array().expect("sessions");
    assert_eq!(v["flagged"].as_u64(), Some(sessions.len() as u64));
    assert!(
        sessions
            .iter()
            .all(|s| s["score"].as_f64().is_some_and(|x| x > 2.5))
    );
    assert!(v["p50"].as_f64().is_some_and(|p| p > 0.0));
}

#[test]
fn score_table_explains_an_unscored_window() {
    let out = autorevoke(&["score", "sample-logs", "--now", "2020-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("window   2019-12-31T23:50:00Z .. 2020-01-01T00:00:00Z"),
        "{text}"
    );
    assert!(
        text.contains(
            "nothing scored: no rows in the window 2019-12-31T23:50:00Z to \
             2020-01-01T00:00:00Z; the newest row in the logs is at 2026-01-15T20:00:00Z"
        ),
        "{text}"
    );
    // A window with sessions, but fewer than --min-sessions, is a legitimate quiet one.
    let out = autorevoke(&[
        "score",
        "sample-logs",
        "--now",
        "latest",
        "--min-sessions",
        "1000",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "nothing scored: only 56 session(s) in the window, fewer than --min-sessions 1000"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn output_goes_to_a_file_and_all_lists_every_scored_session() {
    let dir = tempdir();
    let file = dir.path().join("all.csv");
    let out = autorevoke(&[
        "score",
        "sample-logs",
        "--now",
        "latest",
        "--all",
        "--format",
        "csv",
        "--output",
        &file.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let text = std::fs::read_to_string(&file).expect("written");
    let json = autorevoke(&[
        "score",
        "sample-logs",
        "--now",
        "latest",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("json");
    assert_eq!(
        text.lines().count() as u64 - 1,
        v["sessions_scored"].as_u64().expect("n")
    );
}

#[test]
fn query_answers_forensic_questions() {
    let out = autorevoke(&[
        "query",
        "sample-logs",
        "--format",
        "csv",
        "--sql",
        "SELECT count(*) AS rows, count(DISTINCT session_id) AS sessions, \
         count(*) FILTER (WHERE session_id IS NULL) AS no_session FROM logs",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json = autorevoke(&[
        "score",
        "sample-logs",
        "--now",
        "latest",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("json");
    let rows = v["stats"]["rows_read"].as_u64().expect("rows");
    let truth = std::fs::read_to_string(repo().join("tests/expected/sample-logs.truth.csv"))
        .expect("truth");
    let sessions = truth.lines().count() - 1;
    assert_eq!(
        stdout(&out),
        format!("rows,sessions,no_session\n{rows},{sessions},0\n")
    );
}

#[test]
fn exit_codes_tell_usage_failure_and_partial_input_apart() {
    // Usage: bad flag values, half a window, a missing location.
    let bad = autorevoke(&["score", "sample-logs", "--threshold", "high"]);
    assert_eq!(bad.status.code(), Some(2));
    let half = autorevoke(&["score", "sample-logs", "--from", "2026-01-15T19:50:00Z"]);
    assert_eq!(half.status.code(), Some(2));
    assert!(
        stderr(&half).contains("invalid setting --from/--to: give both --from and --to"),
        "{}",
        stderr(&half)
    );
    let neg = autorevoke(&["score", "sample-logs", "--weight-ip=-1"]);
    assert_eq!(neg.status.code(), Some(2));
    assert!(stderr(&neg).contains("--weight-ip"), "{}", stderr(&neg));
    let missing = autorevoke(&["score", "no/such/folder"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no/such/folder: No such file or directory"),
        "{}",
        stderr(&missing)
    );

    // Partial input: one corrupt object among good ones.
    let dir = tempdir();
    write_log(&dir.path().join("good.gz"), &[row("s1", 1, "/a")]);
    std::fs::write(
        dir.path().join("bad.gz"),
        [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7],
    )
    .expect("write");
    let d = dir.path().display().to_string();
    let partial = autorevoke(&["score", &d, "--now", "latest", "--format", "json"]);
    assert_eq!(partial.status.code(), Some(3), "{}", stderr(&partial));
    assert!(
        stderr(&partial).contains("bad.gz: "),
        "{}",
        stderr(&partial)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&partial)).expect("json");
    assert_eq!(
        (
            v["stats"]["objects_read"].as_u64(),
            v["stats"]["objects_failed"].as_u64()
        ),
        (Some(1), Some(1))
    );

    // Failure: --strict makes the bad object fatal.
    let strict = autorevoke(&["score", &d, "--now", "latest", "--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(stderr(&strict).contains("bad.gz"), "{}", stderr(&strict));
}

#[test]
fn synth_is_deterministic_for_a_seed() {
    let dir = tempdir();
    let run = |name: &str, seed: &str| {
        let out_dir = dir.path().join(name);
        let out = autorevoke(&[
            "synth",
            "--out",
            &out_dir.display().to_string(),
            "--viewers",
            "20",
            "--shared",
            "2",
            "--minutes",
            "70",
            "--seed",
            seed,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out_dir)
            .expect("dir")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).expect("read"),
                )
            })
            .collect();
        files.sort();
        let truth =
            std::fs::read_to_string(dir.path().join(format!("{name}.truth.csv"))).expect("truth");
        (files, truth)
    };
    let (a, truth_a) = run("a", "7");
    let (b, truth_b) = run("b", "7");
    let (c, _) = run("c", "8");
    assert_eq!(a, b);
    assert_eq!(truth_a, truth_b);
    assert_ne!(a, c);
    // 70 minutes ending at 20:00 span hours 18 and 19 (and late rows in 20): several files per hour.
    assert!(
        a.iter()
            .all(|(n, _)| n.starts_with("E2SYNTH0EXAMPLE.2026-01-15-") && n.ends_with(".gz"))
    );
    assert!(a.len() >= 6, "{}", a.len());
    assert_eq!(truth_a.lines().count(), 23);
    assert_eq!(truth_a.lines().filter(|l| l.contains(",true,")).count(), 2);
}

#[test]
fn example_queries_give_their_golden_output() {
    let dir = repo().join("queries/examples");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 3);
    for sql in names {
        let stem = sql
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        let out = autorevoke(&[
            "query",
            "sample-logs",
            "--format",
            "csv",
            "--sql-file",
            &sql.display().to_string(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{stem}: {}", stderr(&out));
        let golden = repo().join(format!("tests/expected/examples/{stem}.csv"));
        if std::env::var_os("AUTOREVOKE_BLESS").is_some() {
            std::fs::create_dir_all(golden.parent().expect("dir")).expect("mkdir");
            std::fs::write(&golden, stdout(&out)).expect("bless");
        }
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{} missing", golden.display()));
        assert_eq!(stdout(&out), expected, "{stem}");
    }
}

fn read_parquet(path: &std::path::Path) -> Vec<arrow::array::RecordBatch> {
    let file = std::fs::File::open(path).expect("parquet file");
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("a parquet file")
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("batches")
}

#[test]
fn parquet_output_holds_the_same_sessions_and_rows() {
    use arrow::array::{AsArray, Float64Array};
    let dir = tempdir();
    let file = dir.path().join("scores.parquet");
    let out = autorevoke(&[
        "score",
        "sample-logs",
        "--now",
        "latest",
        "--all",
        "--format",
        "parquet",
        "--output",
        &file.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let csv = autorevoke(&[
        "score",
        "sample-logs",
        "--now",
        "latest",
        "--all",
        "--format",
        "csv",
    ]);
    let rows: Vec<Vec<String>> = stdout(&csv)
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let batches = read_parquet(&file);
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("one batch");
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, autorevoke::report::CSV_HEADER);
    assert_eq!(batch.num_rows(), rows.len());
    let ids = batch.column(0).as_string::<i32>();
    let scores = batch
        .column(1)
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("f64");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(ids.value(i), row[0]);
        assert_eq!(scores.value(i), row[1].parse::<f64>().expect("score"));
    }

    let q = dir.path().join("q.parquet");
    let out = autorevoke(&[
        "query",
        "sample-logs",
        "--format",
        "parquet",
        "--output",
        &q.display().to_string(),
        "--sql",
        "SELECT session_id, ts, bytes FROM logs WHERE status = 206",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let count = autorevoke(&[
        "query",
        "sample-logs",
        "--format",
        "csv",
        "--sql",
        "SELECT count(*) AS n FROM logs WHERE status = 206",
    ]);
    let n: usize = stdout(&count)
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("n");
    assert!(n > 100, "{n}");
    assert_eq!(
        read_parquet(&q).iter().map(|b| b.num_rows()).sum::<usize>(),
        n
    );

    let no_file = autorevoke(&["score", "sample-logs", "--format", "parquet"]);
    assert_eq!(no_file.status.code(), Some(2));
    assert!(
        stderr(&no_file).contains("--format parquet: needs --output FILE"),
        "{}",
        stderr(&no_file)
    );
}

#[test]
fn explain_shows_how_a_score_came_about() {
    let out = autorevoke(&["explain", "bUFcOJp2iTCS", "sample-logs", "--now", "latest"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    // The same numbers as the checked-in CSV row of this session.
    for line in [
        "session  bUFcOJp2iTCS",
        "window   2026-01-15T19:50:00Z .. 2026-01-15T20:00:00Z",
        "p50      0.5145209011719203 pairs/s over 56 session(s) in the window (56 scored)",
        "score    6.870914985436476 > threshold 2.2: flagged",
        "  ip_rate          3.870914985436477 = w_rate 1.0 * rate 1.9916666666666667 / p50 0.5145209011719203  (rate = 1195 distinct (IP, URI) pairs / 600 s)",
        "  ip_penalty       1.0  (weight 1.0: 4 distinct IPs; more than 1 costs the weight)",
        "  referer_penalty  1.0  (weight 1.0: 2 distinct referers; more than 1 costs the weight)",
        "  ua_penalty       1.0  (weight 1.0: 3 distinct user agents; more than 1 costs the weight)",
        "  counted              1243",
        "  outside the window   387",
        "  status not 200/206   8",
        "IPs (4):",
        "user agents (3):",
        "referers (2):",
        "     324 requests  2026-01-15T19:50:00Z .. 2026-01-15T19:59:59Z  https://free-streams.example.net/watch?id=3981",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    // Every counted request has one IP: the IPs' requests add up to the counted rows.
    let ip_requests: u64 = text
        .lines()
        .skip_while(|l| !l.starts_with("IPs"))
        .skip(1)
        .take(4)
        .filter_map(|l| {
            l.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum();
    assert_eq!(ip_requests, 1243);

    // Under the threshold, and not in the logs at all.
    let low = autorevoke(&["explain", "LmU4WgevBOWn", "sample-logs", "--now", "latest"]);
    assert!(stdout(&low).lines().any(|l| l.starts_with("score    1.21") && l.ends_with("<= threshold 2.2: not flagged")), "{}", stdout(&low));
    let none = autorevoke(&["explain", "notInTheLogs", "sample-logs", "--now", "latest"]);
    assert_eq!(none.status.code(), Some(0));
    assert!(
        stdout(&none).contains("score    none: no counted request of this session in the window"),
        "{}",
        stdout(&none)
    );
    let bad = autorevoke(&["explain", "not.an.id", "sample-logs"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn memory_limit_bounds_the_query_and_names_the_consumers_when_exceeded() {
    let expected = std::fs::read_to_string(repo().join("tests/expected/sample-logs.score.csv"))
        .expect("expected file");
    // The sample inflates to 15.6 MB of text; 1 MiB of tracked memory still scores it (sorts
    // spill, the aggregation's state is 64-bit keys), with the same output.
    let args = ["score", "sample-logs", "--now", "latest", "--format", "csv"];
    let out = autorevoke(&[&args[..], &["--memory-limit", "1MiB"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), expected);
    // 64 KiB cannot hold one partition's aggregation: a clear failure, not an out-of-memory kill.
    let out = autorevoke(&[&args[..], &["--memory-limit", "64KiB"]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Resources exhausted"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("pool_size: 64.0 KB"),
        "{}",
        stderr(&out)
    );
    let out = autorevoke(&[&args[..], &["--memory-limit", "lots"]].concat());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_aggregation_larger_than_its_memory_limit_spills_and_scores_the_same() {
    // 300 viewers over 12 minutes: the sessions' distinct keys need more than 512 KiB at once.
    // DataFusion's count(DISTINCT) failed here ("Failed to allocate ... for
    // PartialHashAggregateStream"): emptied, it kept its allocation, so nothing it handed on
    // or spilled made room. distinct_keys() gives a session's memory back with the session.
    let dir = tempdir();
    let logs = dir.path().join("logs");
    synth_into(
        &logs,
        &[
            "--viewers",
            "300",
            "--shared",
            "10",
            "--minutes",
            "12",
            "--seed",
            "3",
        ],
    );
    let logs = logs.display().to_string();
    let args = ["score", &logs, "--now", "latest", "--format", "csv"];
    let full = autorevoke(&args);
    assert_eq!(full.status.code(), Some(0), "{}", stderr(&full));
    // The header and the 10 shared sessions synth planted (its truth file names the same 10).
    assert_eq!(stdout(&full).lines().count(), 11, "{}", stdout(&full));
    let tight = autorevoke(&[&args[..], &["--memory-limit", "512KiB"]].concat());
    assert_eq!(tight.status.code(), Some(0), "{}", stderr(&tight));
    assert_eq!(stdout(&tight), stdout(&full));
}

#[test]
fn a_run_that_finds_nothing_to_score_names_the_cause_and_exits_9() {
    let empty = tempdir();
    let dir = empty.path().display().to_string();
    // No objects at the location.
    let out = autorevoke(&["score", &dir, "--now", "latest"]);
    expect_exit(
        &out,
        9,
        &format!(
            "autorevoke: nothing to score: no log objects at {} (check the location and its \
             prefix), so `--now latest` has no time",
            std::fs::canonicalize(empty.path()).expect("dir").display()
        ),
    );
    // --allow-empty: the same report, exit 0.
    let out = autorevoke(&["score", &dir, "--now", "latest", "--allow-empty"]);
    expect_exit(&out, 0, "nothing to score: no log objects at");
    // An archive scored at another time (stale logs in a scheduled run, or no --now).
    let out = autorevoke(&["score", "sample-logs", "--now", "2026-01-16T10:00:00Z"]);
    expect_exit(
        &out,
        9,
        "autorevoke: nothing to score: no rows in the window 2026-01-16T09:50:00Z to \
         2026-01-16T10:00:00Z; the newest row in the logs is at 2026-01-15T20:00:00Z (score \
         the newest window with --now latest, or give --from and --to)",
    );
    let out = autorevoke(&[
        "run",
        "sample-logs",
        "--now",
        "2026-01-16T10:00:00Z",
        "--dry-run",
        "--table",
        "t",
    ]);
    expect_exit(&out, 9, "nothing to score: no rows in the window");
    // Logs whose paths carry no session token under the session rule.
    let sessionless = tempdir();
    let rows: Vec<Row> = (0..40)
        .map(|i| row("abc", i, "/seg.ts").uri("/video/seg.ts"))
        .collect();
    write_log(&sessionless.path().join("E2X.2026-01-01-00.a.gz"), &rows);
    let out = autorevoke(&[
        "score",
        &sessionless.path().display().to_string(),
        "--now",
        "latest",
    ]);
    expect_exit(
        &out,
        9,
        "autorevoke: nothing to score: none of the 40 rows in the window \
         2025-12-31T23:50:39Z to 2026-01-01T00:00:39Z has a session token under the session \
         rule (a first path segment <id>.<header>.<payload>.<signature>); 40 of 40 rows read \
         had none",
    );
    // A window with sessions, too few to score, is not empty: exit 0 with the reason.
    let few = tempdir();
    let rows: Vec<Row> = (0..40).map(|i| row("only1", i, "/seg.ts")).collect();
    write_log(&few.path().join("E2X.2026-01-01-00.a.gz"), &rows);
    let out = autorevoke(&[
        "score",
        &few.path().display().to_string(),
        "--now",
        "latest",
    ]);
    expect_exit(&out, 0, "");
    assert!(
        stdout(&out).contains("fewer than --min-sessions 3"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_object_that_is_not_a_cloudfront_log_fails_by_name_and_fails_a_run() {
    let dir = tempdir();
    for name in sample_log_names() {
        std::fs::copy(
            repo().join("sample-logs").join(&name),
            dir.path().join(&name),
        )
        .expect("copy");
    }
    let nginx = dir.path().join("access.log");
    std::fs::write(
        &nginx,
        "192.0.2.1 - - [15/Jan/2026:19:55:00 +0000] \"GET /a HTTP/1.1\" 200 512 \"-\" \"curl/8\"\n\
         192.0.2.2 - - [15/Jan/2026:19:55:01 +0000] \"GET /b HTTP/1.1\" 200 512 \"-\" \"curl/8\"\n",
    )
    .expect("write");
    let logs = dir.path().display().to_string();
    let out = autorevoke(&["score", &logs, "--now", "latest", "--format", "json"]);
    expect_exit(
        &out,
        3,
        &format!(
            "{}: not a CloudFront log: none of its 2 line(s) is a CloudFront record (line 1: \
             expected 33 fields, found 1)",
            std::fs::canonicalize(&nginx).expect("path").display()
        ),
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(report["stats"]["objects_failed"], 1);
    assert_eq!(report["stats"]["rows_malformed"], 0);
    let out = autorevoke(&["run", &logs, "--now", "latest", "--dry-run", "--table", "t"]);
    expect_exit(&out, 1, "1 of the objects read are not CloudFront logs");
    // A log with a few bad lines is still a log: malformed lines, exit 3.
    let mut text = sample_text(&sample_log_names()[0]);
    text.push_str("this is not a log line\n");
    write_gz(
        &dir.path().join("E2SYNTH0EXAMPLE.2026-01-15-19.bad.gz"),
        text.as_bytes(),
    );
    std::fs::remove_file(&nginx).expect("rm");
    let out = autorevoke(&["score", &logs, "--now", "latest", "--format", "json"]);
    expect_exit(&out, 3, "line ");
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(report["stats"]["objects_failed"], 0);
    assert_eq!(report["stats"]["rows_malformed"], 1);
}

#[test]
fn aws_cli_habits_profile_output_and_standard_input() {
    // --profile is the AWS profile; the scoring rules' names get a pointer to --rules.
    let out = autorevoke(&["score", "sample-logs", "--profile", "concurrent"]);
    expect_exit(
        &out,
        2,
        "--profile names an AWS profile, as in the AWS CLI; to choose the scoring rules use \
         --rules concurrent",
    );
    let csv = |args: &[&str]| {
        let out = autorevoke(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let base = ["--now", "latest", "--all", "--format", "csv"];
    let expected = csv(&[&["score", "sample-logs"][..], &base].concat());
    assert!(expected.lines().count() > 40);
    // The format from -o's extension.
    let dir = tempdir();
    for (name, starts) in [
        ("r.html", "<!DOCTYPE html>"),
        ("r.json", "{"),
        ("r.csv", "session_id,score,"),
        ("r.txt", "window   "),
    ] {
        let file = dir.path().join(name);
        let out = autorevoke(&[
            "score",
            "sample-logs",
            "--now",
            "latest",
            "-o",
            &file.display().to_string(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = std::fs::read_to_string(&file).expect("written");
        assert!(
            text.starts_with(starts),
            "{name}: {}",
            &text[..80.min(text.len())]
        );
    }
    // `-o json`, as the AWS CLI's --output json: JSON on stdout, no file named json.
    let out = autorevoke(&["score", "sample-logs", "--now", "latest", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("{\n  \"window\""),
        "{}",
        stdout(&out)
    );
    assert!(!repo().join("json").exists());
    // `-` reads the logs from standard input: the same scores.
    let mut all = Vec::new();
    for name in sample_log_names() {
        all.extend(std::fs::read(repo().join("sample-logs").join(name)).expect("read"));
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_autorevoke"))
        .args([&["score", "-"][..], &base].concat())
        .current_dir(repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&all).expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), expected);
    // --rules chooses the scoring rules; the config key is `rules` (`profile` still read).
    let concurrent = csv(&[
        &["score", "sample-logs", "--rules", "concurrent"][..],
        &base,
    ]
    .concat());
    assert_ne!(concurrent, expected);
    for key in ["rules", "profile"] {
        let config = dir.path().join(format!("{key}.toml"));
        std::fs::write(&config, format!("[scoring]\n{key} = \"concurrent\"\n")).expect("write");
        let text = csv(&[
            &[
                "score",
                "sample-logs",
                "--config",
                &config.display().to_string(),
            ][..],
            &base,
        ]
        .concat());
        assert_eq!(text, concurrent, "{key}");
    }
}

#[test]
fn help_flags_and_output_read_as_an_operator_expects() {
    // `score --help` is grouped under headings.
    let help = stdout(&autorevoke(&["score", "--help"]));
    for heading in [
        "\nInput:\n",
        "\nCluster:\n",
        "\nWindow:\n",
        "\nScoring:\n",
        "\nAWS:\n",
        "\nOutput:\n",
    ] {
        assert!(help.contains(heading), "{heading:?} in:\n{help}");
    }
    // `init --help` shows only what init uses.
    let help = stdout(&autorevoke(&["init", "--help"]));
    assert!(help.contains("--capacity <WCU>"), "{help}");
    for absent in ["--retention", "--allow-mass-unblock", "--rule-group-id"] {
        assert!(!help.contains(absent), "{absent} in:\n{help}");
    }
    // `run` reports as a table or JSON and refuses the rest.
    let out = autorevoke(&["run", "sample-logs", "--table", "t", "--format", "html"]);
    expect_exit(&out, 2, "invalid value 'html' for '--format <FORMAT>'");
    // --threads 0 is an error, not a silent 1.
    let out = autorevoke(&["score", "sample-logs", "--threads", "0"]);
    expect_exit(
        &out,
        2,
        "invalid value '0' for '--threads <N>': must be at least 1",
    );
    // Durations with units.
    let csv = |lookback: &str| {
        let out = autorevoke(&[
            "score",
            "sample-logs",
            "--now",
            "latest",
            "--lookback",
            lookback,
            "--all",
            "--format",
            "csv",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(csv("10m"), csv("10"));
    assert_eq!(csv("600s"), csv("10"));
    assert_ne!(csv("0.5h"), csv("10"));
    assert_eq!(csv("0.5h"), csv("30"));
    let out = autorevoke(&["score", "sample-logs", "--lookback", "10w"]);
    expect_exit(&out, 2, "unknown unit \"w\"; use s, m, h or d");
    // `evaluate --format json`, as every other command.
    let out = autorevoke(&[
        "evaluate",
        "--truth",
        "tests/expected/sample-logs.truth.csv",
        "sample-logs",
        "--now",
        "latest",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(v["precision"].is_number(), "{v}");
}

#[test]
fn explain_speaks_json_too() {
    let out = autorevoke(&[
        "explain",
        "bUFcOJp2iTCS",
        "sample-logs",
        "--now",
        "latest",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["session_id"], "bUFcOJp2iTCS");
    assert_eq!(v["scored"], true);
    assert_eq!(v["flagged"], true);
    assert_eq!(v["session"]["pairs"], 1195);
    assert_eq!(v["window"]["to"], "2026-01-15T20:00:00Z");
    assert_eq!(v["rows_by_verdict"]["counted"], 1243);
    assert_eq!(v["rows_by_verdict"]["outside the window"], 387);
    let ip = v["values"]
        .as_array()
        .expect("values")
        .iter()
        .find(|x| x["kind"] == "ip" && x["value"] == "81.182.11.175")
        .expect("the first IP");
    assert_eq!(
        (&ip["requests"], &ip["first_seen"], &ip["last_seen"]),
        (
            &serde_json::json!(324),
            &serde_json::json!("2026-01-15T19:50:00Z"),
            &serde_json::json!("2026-01-15T19:59:59Z")
        )
    );
}

#[test]
fn synth_shows_its_progress_and_q_silences_it() {
    let dir = tempdir();
    let out_dir = dir.path().join("logs");
    let out = autorevoke(&[
        "synth",
        "--out",
        &out_dir.display().to_string(),
        "--viewers",
        "50",
        "--shared",
        "3",
        "--minutes",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<String> = stderr(&out).lines().map(str::to_string).collect();
    assert_eq!(
        lines[0],
        "autorevoke synth: simulating 50 viewers and 3 shared sessions over 30 minutes (seed 42)"
    );
    assert!(
        lines[1].starts_with("autorevoke synth: ")
            && lines[1].ends_with(" requests simulated; writing the logs"),
        "{lines:?}"
    );
    let files = std::fs::read_dir(&out_dir).expect("logs").count();
    assert!(
        lines.contains(&format!("autorevoke synth: wrote {files} of {files} files")),
        "{lines:?}"
    );
    let quiet = autorevoke(&[
        "-q",
        "synth",
        "--out",
        &dir.path().join("q").display().to_string(),
        "--viewers",
        "5",
        "--minutes",
        "5",
    ]);
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn query_from_and_to_bound_the_logs_table() {
    let csv = |args: &[&str]| {
        let out = autorevoke(&[&["query", "sample-logs", "--format", "csv"][..], args].concat());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let sql = "SELECT count(*) AS n, min(ts) AS first, max(ts) AS last FROM logs";
    let bounded = csv(&[
        "--sql",
        sql,
        "--from",
        "2026-01-15T19:55:00Z",
        "--to",
        "2026-01-15T19:56:59Z",
    ]);
    // The same rows as the SQL's own WHERE, and within the bounds.
    let where_sql = format!(
        "{sql} WHERE ts >= TIMESTAMP '2026-01-15T19:55:00Z' AND ts <= TIMESTAMP \
         '2026-01-15T19:56:59Z'"
    );
    assert_eq!(bounded, csv(&["--sql", &where_sql]));
    assert!(
        bounded.ends_with(",2026-01-15T19:55:00Z,2026-01-15T19:56:59Z\n"),
        "{bounded}"
    );
    assert_ne!(bounded, csv(&["--sql", sql]));
    // One bound alone; on Ballista too.
    let tail = csv(&["--sql", sql, "--from", "2026-01-15T19:59:00Z"]);
    assert!(
        tail.contains(",2026-01-15T19:59:00Z,2026-01-15T20:00:00Z"),
        "{tail}"
    );
    assert_eq!(
        csv(&[
            "--sql",
            sql,
            "--from",
            "2026-01-15T19:59:00Z",
            "--cluster",
            "standalone"
        ]),
        tail
    );
}

/// The fenced block of `doc` (README.md, docs/commands.md) that follows the line starting
/// with `after`.
fn doc_block(doc: &str, after: &str) -> String {
    let readme = std::fs::read_to_string(repo().join(doc)).expect("the document");
    let from = readme
        .find(after)
        .unwrap_or_else(|| panic!("{doc}: no {after:?}"));
    let rest = &readme[from..];
    let open = rest.find("\n```").expect("a block") + 4;
    let body_start = open + rest[open..].find('\n').expect("fence line") + 1;
    let body_end = body_start + rest[body_start..].find("```").expect("closing fence");
    rest[body_start..body_end].to_string()
}

#[test]
fn the_readmes_examples_are_what_the_binary_prints() {
    // The first command's report, exactly.
    let shown = doc_block("README.md", "The first command builds the binary");
    let out = autorevoke(&["score", "sample-logs", "--now", "latest"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), shown);
    // explain's examples (upstream's, then viewers'): every line they show (they elide some
    // with `...`).
    for (doc, after) in [
        ("docs/commands.md", "## `autorevoke explain"),
        (
            "docs/scoring.md",
            "Under `--rules viewers` `explain` prints",
        ),
    ] {
        let shown = doc_block(doc, after);
        let mut lines = shown.lines();
        let command = lines
            .next()
            .and_then(|l| l.strip_prefix("$ autorevoke "))
            .expect("the command line");
        let out = autorevoke(&command.split(' ').collect::<Vec<_>>());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let printed = stdout(&out);
        for line in lines.filter(|l| l.trim() != "...") {
            assert!(
                printed.lines().any(|p| p == line),
                "{doc} line not printed: {line:?}"
            );
        }
    }
}
