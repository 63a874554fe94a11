//! Robustness (issue "Hostile input, faults and safety rails"): junk beside valid logs is
//! accounted for and changes no score; crafted session ids are never scored; S3, DynamoDB and
//! WAF faults are retried or reported; the safety rails stop a run that would mass-revoke; a
//! run that fails half-way converges. (Property tests of the parser and session ids are next
//! to the code; the fuzz targets are in fuzz/.)

use std::path::Path;
use std::sync::Arc;

use autorevoke::aws::{AwsAccess, AwsSettings};
use autorevoke::cloudfront::{CloudFrontTable, ReadOptions};
use autorevoke::source::{ListOptions, LogLocation};
use chrono::Utc;
use datafusion::prelude::SessionContext;

use crate::revocation::{flagged_csv, setup};
use crate::s3::{bucket_name, client, create_bucket, endpoint, run_cli, upload_dir};
use crate::util::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("dir") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
    }
}

/// A row inside the sample's window that must not count (status 404).
fn harmless(second: u32) -> Row {
    let mut r = row("bUFcOJp2iTCS", 0, "/junk.ts").status("404");
    r.time = format!("2026-01-15\t19:55:{:02}", second % 60);
    r
}

fn write_junk(dir: &Path) {
    // A truncated gzip (its complete rows are kept: they are 404s, which never count).
    let whole = gz(format!("{HEADER_33}{}{}", harmless(1).line(), harmless(2).line()).as_bytes());
    std::fs::write(dir.join("truncated.gz"), &whole[..whole.len() - 8]).expect("write");
    // Corrupt gzip, an empty object, a text file.
    let mut corrupt = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    corrupt.extend(std::iter::repeat_n(0xA5u8, 300));
    std::fs::write(dir.join("corrupt.gz"), corrupt).expect("write");
    std::fs::write(dir.join("empty.gz"), b"").expect("write");
    std::fs::write(dir.join("notes.txt"), b"hello world\n").expect("write");
    // One line of 100 MB without a newline, gzipped (it is never held in memory whole).
    let huge = vec![b'x'; 100 << 20];
    std::fs::write(dir.join("huge-line.gz"), gz(&huge)).expect("write");
    // Bad rows, and rows that are fine but never count.
    let mut bad = HEADER_33.as_bytes().to_vec();
    bad.extend(b"2026-01-15\t19:55:00\tFRA\t5000\n"); // too few fields
    bad.extend(
        harmless(3)
            .line()
            .replace("2026-01-15", "2026-02-31")
            .as_bytes(),
    ); // no such date
    bad.extend(
        harmless(4)
            .line()
            .replace("19:55:04", "25:00:00")
            .as_bytes(),
    ); // no such time
    bad.extend(harmless(5).bytes("18446744073709551616").line().as_bytes()); // 2^64
    let mut non_utf8 = harmless(6).ua("Bot-XX").line().into_bytes();
    let at = non_utf8
        .windows(6)
        .position(|w| w == b"Bot-XX")
        .expect("ua");
    non_utf8[at + 4] = 0xFF;
    non_utf8[at + 5] = 0xFE;
    bad.extend(non_utf8);
    let mut gone = row("bUFcOJp2iTCS", 0, "/gone.ts").status("000");
    gone.time = "2026-01-15\t19:56:00".into();
    bad.extend(gone.line().as_bytes()); // the viewer went away: status 000, never counts
    std::fs::write(dir.join("bad-rows.log"), bad).expect("write");
    // A #Fields line without a field scoring needs.
    std::fs::write(
        dir.join("no-bytes.log"),
        "#Fields: date time c-ip cs-uri-stem sc-status\n2026-01-15\t19:55:00\t192.0.2.1\t/x\t200\n",
    )
    .expect("write");
    // Crafted session ids: none is a session that can be scored or written.
    let long = format!("/{}.h.p.s/seg.ts", "a".repeat(129));
    let crafted: Vec<Row> = [
        "//x.h.p.s/seg.ts",
        "/.h.p.s/seg.ts",
        "/ab%2Ecd.h.p.s/seg.ts",
        "/ab+cd.h.p.s/seg.ts",
        long.as_str(),
    ]
    .iter()
    .enumerate()
    .map(|(i, uri)| {
        let mut r = row("x", 0, "").uri(uri);
        r.time = format!("2026-01-15\t19:57:{i:02}");
        r
    })
    .collect();
    write_log(&dir.join("crafted-ids.gz"), &crafted);
}

#[test]
fn junk_beside_valid_logs_changes_no_score_and_is_all_accounted_for() {
    let dir = tempdir();
    let (valid, mixed) = (dir.path().join("valid"), dir.path().join("mixed"));
    copy_dir(&repo().join("sample-logs"), &valid);
    copy_dir(&valid, &mixed);
    write_junk(&mixed);
    let score = |d: &Path, format: &str| {
        autorevoke(&[
            "score",
            &d.display().to_string(),
            "--now",
            "latest",
            "--all",
            "--format",
            format,
        ])
    };
    let clean = score(&valid, "csv");
    let dirty = score(&mixed, "csv");
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    assert_eq!(
        dirty.status.code(),
        Some(3),
        "partial input: {}",
        stderr(&dirty)
    );
    assert_eq!(stdout(&dirty), stdout(&clean));

    let json = |o: std::process::Output| -> serde_json::Value {
        serde_json::from_str(&stdout(&o)).expect("json")
    };
    let (c, d) = (json(score(&valid, "json")), json(score(&mixed, "json")));
    assert_eq!(
        (&d["p50"], &d["sessions_in_window"], &d["sessions"]),
        (&c["p50"], &c["sessions_in_window"], &c["sessions"])
    );
    let (cs, ds) = (&c["stats"], &d["stats"]);
    let n = |s: &serde_json::Value, k: &str| s[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(n(ds, "objects_listed"), n(cs, "objects_listed") + 8);
    // truncated, corrupt and no-bytes, and notes.txt and the huge line, which are not
    // CloudFront logs at all (none of their lines is a record, and they have no header).
    assert_eq!(n(ds, "objects_failed"), 5, "{ds}");
    assert_eq!(n(ds, "objects_read"), n(cs, "objects_read") + 3);
    // bad-rows.log 4.
    assert_eq!(n(ds, "rows_malformed"), 4, "{ds}");
    // truncated 2 + bad-rows 6 + crafted 5.
    assert_eq!(n(ds, "rows_read"), n(cs, "rows_read") + 13);
    assert_eq!(
        n(ds, "rows_rejected_session"),
        n(cs, "rows_rejected_session") + 4
    );
    assert_eq!(n(ds, "rows_in_scope"), n(cs, "rows_in_scope"));
    let failed: Vec<String> = d["failed_objects"]
        .as_array()
        .expect("list")
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f["object"]
                    .as_str()
                    .unwrap_or("")
                    .rsplit('/')
                    .next()
                    .unwrap_or(""),
                f["reason"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(failed.len(), 5);
    assert!(
        failed[0].starts_with("corrupt.gz: corrupt gzip"),
        "{failed:?}"
    );
    assert_eq!(
        failed[1],
        "huge-line.gz: not a CloudFront log: none of its 1 line(s) is a CloudFront record \
         (line 1: line longer than 1048576 bytes)"
    );
    assert_eq!(
        failed[2],
        "no-bytes.log: line 1: the #Fields line lacks `sc-bytes`, which this query needs"
    );
    assert_eq!(
        failed[3],
        "notes.txt: not a CloudFront log: none of its 1 line(s) is a CloudFront record \
         (line 1: expected 33 fields, found 1)"
    );
    assert_eq!(
        failed[4],
        "truncated.gz: truncated gzip (unexpected end of data)"
    );
}

#[tokio::test]
async fn lock_conflicts_are_retried_and_nothing_is_lost() {
    // The group's name asks the test server to fail its first 2 updates with
    // WAFOptimisticLockException (changing the lock token each time).
    let Some(env) = setup("lock", "", "-lock2-x").await else {
        return;
    };
    let now = Utc::now().timestamp();
    env.put("sessionA", "AUTO", "4", now - 10).await;
    env.put("sessionB", "MANUAL", "0", now - 20).await;
    let out = env.cli(&[
        "waf",
        "compile",
        "--table",
        &env.table,
        "--rule-group",
        &env.group,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (rules, _) = env.rules().await;
    assert_eq!(
        rules,
        [
            (
                "autorevoke-sessionB".to_string(),
                1,
                "/sessionB.".to_string()
            ),
            (
                "autorevoke-sessionA".to_string(),
                2,
                "/sessionA.".to_string()
            )
        ]
    );
}

#[tokio::test]
async fn the_circuit_breaker_stops_a_run_that_flags_too_many() {
    let Some(env) = setup("breaker", "", "").await else {
        return;
    };
    // 5 of the sample's 56 scored sessions (8.9%) are flagged: over the default 5%, once the
    // breaker applies from 5 flagged sessions (the default minimum is 10).
    let out = env.cli(&[
        "run",
        "sample-logs",
        "--now",
        "latest",
        "--table",
        &env.table,
        "--breaker-min-flagged",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("circuit breaker: 5 of 56 scored sessions (8.9%) are flagged, more than --max-flagged-fraction 0.05 (5.0%): nothing was written"),
        "{}",
        stderr(&out)
    );
    assert!(env.items().await.is_empty());
}

#[tokio::test]
async fn max_revocations_keeps_the_highest_scores_and_reports_the_rest() {
    let Some(env) = setup("maxrev", "", "").await else {
        return;
    };
    let out = env.run_sample(&["--max-revocations", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let flagged = flagged_csv();
    let rest: Vec<&str> = flagged[2..].iter().map(|(id, _)| id.as_str()).collect();
    assert!(
        stdout(&out).contains(&format!(
            "not written, over --max-revocations (3): {}",
            rest.join(" ")
        )),
        "{}",
        stdout(&out)
    );
    let mut top: Vec<String> = flagged[..2].iter().map(|(id, _)| id.clone()).collect();
    top.sort();
    assert_eq!(env.items().await.into_keys().collect::<Vec<_>>(), top);
}

#[tokio::test]
async fn a_run_that_fails_half_way_converges_when_run_again() {
    // The table throttles its first 10 writes. One write at a time: the first session's write
    // exhausts its 10 attempts, the other four are written, and the run fails loudly.
    let Some(env) = setup("halfway", "-throttle10-x", "").await else {
        return;
    };
    let run = || env.run_sample(&["--write-concurrency", "1"]);
    let first = run();
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let flagged = flagged_csv();
    assert!(
        stderr(&first).contains(&format!(
            "writing session {} to table {}",
            flagged[0].0, env.table
        )),
        "{}",
        stderr(&first)
    );
    assert_eq!(env.items().await.len(), 4);
    let second = run();
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let mut all: Vec<String> = flagged.iter().map(|(id, _)| id.clone()).collect();
    all.sort();
    assert_eq!(env.items().await.into_keys().collect::<Vec<_>>(), all);
}

#[tokio::test]
async fn an_object_gone_between_listing_and_reading_is_a_failed_object() {
    let Some(ep) = endpoint() else { return };
    let dir = tempdir();
    write_log(
        &dir.path().join("E1.2026-01-01-00.a.gz"),
        &[row("s1", 1, "/a")],
    );
    write_log(
        &dir.path().join("E1.2026-01-01-00.b.gz"),
        &[row("s1", 2, "/b")],
    );
    let c = client(&ep).await;
    let bucket = bucket_name("gone");
    create_bucket(&c, &bucket).await;
    upload_dir(&c, &bucket, dir.path(), "").await;

    let aws = Arc::new(AwsAccess::new(AwsSettings {
        endpoint_url: Some(ep.clone()),
        ..AwsSettings::default()
    }));
    let location = LogLocation::parse(&format!("s3://{bucket}")).expect("url");
    let table = Arc::new(CloudFrontTable::new(
        vec![location],
        aws,
        ListOptions::default(),
        ReadOptions::default(),
    ));
    let ctx = SessionContext::new();
    ctx.register_table("logs", Arc::clone(&table) as _)
        .expect("registered");
    let df = ctx.sql("SELECT uri FROM logs").await.expect("planned");
    let plan = df.create_physical_plan().await.expect("listed");
    c.delete_object()
        .bucket(&bucket)
        .key("E1.2026-01-01-00.b.gz")
        .send()
        .await
        .expect("deleted");
    let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
        .await
        .expect("runs on");
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let s = table.stats().snapshot();
    assert_eq!(
        (s.objects_listed, s.objects_read, s.objects_failed),
        (2, 1, 1)
    );
    assert_eq!(
        s.failures[0].object,
        format!("s3://{bucket}/E1.2026-01-01-00.b.gz")
    );
    assert_eq!(
        s.failures[0].reason,
        "cannot fetch: not found (gone since it was listed)"
    );
}

#[tokio::test]
async fn s3_errors_and_timeouts_are_retried_then_reported() {
    let Some(ep) = endpoint() else { return };
    let dir = tempdir();
    // The test server answers 503 to the first 3 reads of `a`, to every read of `b` (100),
    // makes the first read of `c` wait 4 s, past the 2 s timeout given below, and sends only
    // half of `d` the first time and half of `e` every time.
    for (name, second) in [
        ("a-s3fail3-x", 1),
        ("b-s3fail100-x", 2),
        ("c-s3slow1-x", 3),
        ("d-s3cut1-x", 4),
        ("e-s3cut100-x", 5),
    ] {
        write_log(
            &dir.path().join(format!("E1.2026-01-01-00.{name}.gz")),
            &[row("s1", second, "/x.ts")],
        );
    }
    let c = client(&ep).await;
    let bucket = bucket_name("faults");
    create_bucket(&c, &bucket).await;
    upload_dir(&c, &bucket, dir.path(), "").await;
    let out = run_cli(
        &[
            "query",
            &format!("s3://{bucket}/"),
            "--format",
            "csv",
            "--read-timeout",
            "2",
            "--sql",
            "SELECT count(*) AS n FROM logs",
        ],
        &ep,
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n3\n");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "s3://{bucket}/E1.2026-01-01-00.b-s3fail100-x.gz: cannot fetch: "
        )),
        "{err}"
    );
    let e_size = std::fs::metadata(dir.path().join("E1.2026-01-01-00.e-s3cut100-x.gz"))
        .expect("e")
        .len();
    assert!(
        err.contains(&format!(
            "s3://{bucket}/E1.2026-01-01-00.e-s3cut100-x.gz: cannot fetch: read {} bytes of the {e_size} listed",
            e_size / 2
        )),
        "{err}"
    );
    assert!(err.contains("2 object(s) failed"), "{err}");
}

#[test]
fn run_writes_nothing_from_partial_input_unless_allowed() {
    let Some(ep) = endpoint() else { return };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempdir();
    let logs = dir.path().join("logs");
    copy_dir(&repo().join("sample-logs"), &logs);
    std::fs::write(
        logs.join("E2SYNTH0EXAMPLE.2026-01-15-20.broken00.gz"),
        b"\x1f\x8bnot gzip",
    )
    .expect("write");
    let l = logs.display().to_string();
    // On the local engine, and on Ballista, where the failure comes back from the executor
    // as a metric of the scan.
    for (name, cluster) in [("partial", "local"), ("partial-cl", "standalone")] {
        let Some(env) = rt.block_on(setup(name, "", "")) else {
            return;
        };
        let run = |extra: &[&str]| {
            let mut args = vec![
                "run",
                l.as_str(),
                "--now",
                "latest",
                "--table",
                &env.table,
                "--max-flagged-fraction",
                "0.1",
                "--endpoint-url",
                &ep,
                "--cluster",
                cluster,
            ];
            args.extend_from_slice(extra);
            autorevoke(&args)
        };
        let out = run(&[]);
        assert_eq!(out.status.code(), Some(3), "{cluster}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(
                "1 object(s) failed, so the median and every score may be off: nothing was written"
            ),
            "{cluster}: {}",
            stderr(&out)
        );
        assert!(rt.block_on(env.items()).is_empty(), "{cluster}");
        let out = run(&["--allow-partial"]);
        assert_eq!(out.status.code(), Some(3), "{cluster}: {}", stderr(&out));
        assert_eq!(rt.block_on(env.items()).len(), 5, "{cluster}");
    }
}

#[test]
fn a_prefix_that_moved_from_flat_to_hive_is_read_whole_in_both_layouts() {
    let dir = tempdir();
    let mixed = dir.path().join("mixed");
    std::fs::create_dir_all(&mixed).expect("mkdir");
    // Four objects moved into hive folders, two left flat beside them.
    let names = sample_log_names();
    for (i, name) in names.iter().enumerate() {
        let hour = &name.split('.').nth(1).expect("stamp")[11..13];
        let folder = if i < 4 {
            mixed.join(format!("year=2026/month=01/day=15/hour={hour}"))
        } else {
            mixed.clone()
        };
        std::fs::create_dir_all(&folder).expect("mkdir");
        std::fs::copy(repo().join("sample-logs").join(name), folder.join(name)).expect("copy");
    }
    let score = |d: &Path, format: &str| {
        autorevoke(&[
            "score",
            &d.display().to_string(),
            "--now",
            "2026-01-15T20:30:00Z",
            "--lookback",
            "120",
            "--all",
            "--format",
            format,
        ])
    };
    let flat = score(&repo().join("sample-logs"), "csv");
    let both = score(&mixed, "csv");
    assert_eq!(both.status.code(), Some(0), "{}", stderr(&both));
    assert_eq!(stdout(&both), stdout(&flat));
    assert!(
        stderr(&both).contains(
            "follow more than one layout (hive, flat): reading the objects each of them selects"
        ),
        "{}",
        stderr(&both)
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&score(&mixed, "json"))).expect("json");
    let s = &json["stats"];
    assert_eq!(
        (
            &s["objects_listed"],
            &s["objects_read"],
            &s["objects_failed"]
        ),
        (&6.into(), &6.into(), &0.into()),
        "{s}"
    );
}
