//! Reading from S3 (a local moto server started by scripts/test), layouts and pruning.
//!
//! Each test makes its own bucket. Without `AUTOREVOKE_TEST_ENDPOINT` the tests print
//! "skipped: no local AWS endpoint" and return (and fail under CI).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use autorevoke::aws::{AwsAccess, AwsSettings};
use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;

use crate::util::*;

pub fn endpoint() -> Option<String> {
    let e = std::env::var("AUTOREVOKE_TEST_ENDPOINT").ok();
    if e.is_none() {
        skip("no local AWS endpoint (AUTOREVOKE_TEST_ENDPOINT; scripts/test sets it)");
    }
    e
}

/// A bucket name no other test uses.
pub fn bucket_name(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "ar-{test}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn client(endpoint: &str) -> aws_sdk_s3::Client {
    AwsAccess::new(AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.into()),
        ..AwsSettings::default()
    })
    .s3_client()
    .await
}

pub async fn create_bucket(c: &aws_sdk_s3::Client, bucket: &str) {
    c.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("bucket created");
}

/// Uploads one sample-logs object under `key`.
async fn put_sample(c: &aws_sdk_s3::Client, bucket: &str, name: &str, key: &str) {
    let body = std::fs::read(repo().join("sample-logs").join(name)).expect("read");
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("put");
}

/// Uploads every file below `dir` under `prefix`, keeping relative paths.
pub async fn upload_dir(c: &aws_sdk_s3::Client, bucket: &str, dir: &Path, prefix: &str) -> usize {
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    let n = files.len();
    futures::stream::iter(files)
        .map(|(rel, path)| {
            let key = format!("{prefix}{rel}");
            async move {
                let body = std::fs::read(&path).expect("read");
                c.put_object()
                    .bucket(bucket)
                    .key(&key)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .expect("put");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    n
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) {
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            let rel = p
                .strip_prefix(root)
                .expect("below root")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, p));
        }
    }
}

/// `E1.YYYY-MM-DD-HH.<id>.gz` -> (y, m, d, h).
fn hour_of(name: &str) -> (String, String, String, String) {
    let stamp = name.split('.').nth(1).expect("stamp");
    (
        stamp[0..4].into(),
        stamp[5..7].into(),
        stamp[8..10].into(),
        stamp[11..13].into(),
    )
}

/// Copies a flat folder of CloudFront files into hive and dated layouts.
fn relayout(flat: &Path, hive: &Path, dated: &Path) {
    for e in std::fs::read_dir(flat).expect("dir") {
        let p = e.expect("entry").path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_string();
        let dist = name.split('.').next().expect("dist").to_string();
        let (y, m, d, h) = hour_of(&name);
        let hv = hive.join(format!(
            "DistributionId={dist}/year={y}/month={m}/day={d}/hour={h}"
        ));
        let dt = dated.join(format!("{dist}/{y}/{m}/{d}/{h}"));
        for target in [&hv, &dt] {
            std::fs::create_dir_all(target).expect("mkdir");
            std::fs::copy(&p, target.join(&name)).expect("copy");
        }
    }
}

pub fn run_cli(args: &[&str], endpoint: &str) -> std::process::Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--endpoint-url", endpoint]);
    autorevoke(&all)
}

#[tokio::test]
async fn the_same_logs_score_the_same_from_a_folder_and_from_s3_in_every_layout() {
    let Some(ep) = endpoint() else { return };
    let dir = tempdir();
    let flat = dir.path().join("flat");
    let synth = autorevoke(&[
        "synth",
        "--out",
        &flat.display().to_string(),
        "--viewers",
        "40",
        "--shared",
        "4",
        "--minutes",
        "80",
        "--seed",
        "3",
    ]);
    assert_eq!(synth.status.code(), Some(0), "{}", stderr(&synth));
    let (hive, dated) = (dir.path().join("hive"), dir.path().join("dated"));
    relayout(&flat, &hive, &dated);
    let c = client(&ep).await;
    let bucket = bucket_name("same");
    create_bucket(&c, &bucket).await;
    let n = upload_dir(&c, &bucket, &flat, "cf/flat/").await;
    upload_dir(&c, &bucket, &hive, "cf/hive/").await;
    upload_dir(&c, &bucket, &dated, "cf/dated/").await;

    let score = |loc: String| {
        let out = run_cli(
            &["score", &loc, "--now", "latest", "--all", "--format", "csv"],
            &ep,
        );
        assert_eq!(out.status.code(), Some(0), "{loc}: {}", stderr(&out));
        stdout(&out)
    };
    let reference = score(flat.display().to_string());
    assert!(reference.lines().count() > 15, "{reference}");
    for loc in [
        hive.display().to_string(),
        dated.display().to_string(),
        format!("s3://{bucket}/cf/flat/"),
        format!("s3://{bucket}/cf/hive"),
        format!("s3://{bucket}/cf/dated/"),
    ] {
        assert_eq!(score(loc.clone()), reference, "{loc}");
    }
    // And a window: the same objects are pruned the same way everywhere.
    let window = |loc: String| {
        let out = run_cli(
            &[
                "score",
                &loc,
                "--from",
                "2026-01-15T19:30:00Z",
                "--to",
                "2026-01-15T19:40:00Z",
                "--format",
                "json",
            ],
            &ep,
        );
        assert_eq!(out.status.code(), Some(0), "{loc}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        (
            v["sessions"].clone(),
            v["stats"]["objects_read"].clone(),
            v["p50"].clone(),
        )
    };
    let local = window(flat.display().to_string());
    for layout in ["flat", "hive", "dated"] {
        assert_eq!(
            window(format!("s3://{bucket}/cf/{layout}/")),
            local,
            "{layout}"
        );
    }
    assert!(n >= 6, "{n} files");
}

/// Two files an hour for 72 hours from 2025-12-30T00:00Z, each with one row of its hour
/// (the first file of 2025-12-31T11 also holds a row of 10:05, delivered late).
fn three_days(dir: &Path) -> usize {
    let start = chrono::DateTime::parse_from_rfc3339("2025-12-30T00:00:00Z")
        .expect("time")
        .timestamp();
    let mut files = 0;
    for h in 0..72 {
        let t = start + h * 3600;
        let when = chrono::DateTime::from_timestamp(t, 0).expect("time");
        let stamp = when.format("%Y-%m-%d-%H").to_string();
        let (y, m, d, hh) = (
            when.format("%Y"),
            when.format("%m"),
            when.format("%d"),
            when.format("%H"),
        );
        for f in 0..2 {
            let name = format!("E1.{stamp}.f{f}.gz");
            let line = |secs: i64, path: &str| {
                let at = chrono::DateTime::from_timestamp(secs, 0).expect("time");
                let mut r = row("s1", 0, path);
                r.time = at.format("%Y-%m-%d\t%H:%M:%S").to_string();
                r
            };
            let mut rows = vec![line(t + 600 + f * 60, &format!("/{stamp}-{f}.ts"))];
            if stamp == "2025-12-31-11" && f == 0 {
                rows.push(line(t - 3300, "/late.ts")); // 10:05, in the 11:00 file
            }
            for dir in [
                dir.join("flat"),
                dir.join(format!(
                    "hive/DistributionId=E1/year={y}/month={m}/day={d}/hour={hh}"
                )),
                dir.join(format!("dated/{y}/{m}/{d}/{hh}")),
            ] {
                write_log(&dir.join(&name), &rows);
            }
            files += 1;
        }
    }
    files
}

async fn window_stats(
    loc: &str,
    ep: &str,
    from: &str,
    to: &str,
    margin: &str,
) -> serde_json::Value {
    let out = run_cli(
        &[
            "score",
            loc,
            "--from",
            from,
            "--to",
            to,
            "--format",
            "json",
            "--late-margin",
            margin,
            "--min-sessions",
            "1",
            "--min-duration",
            "0",
            // Some windows fall where no rows are: counted as read all the same.
            "--allow-empty",
        ],
        ep,
    );
    assert_eq!(out.status.code(), Some(0), "{loc}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("json")
}

#[tokio::test]
async fn a_short_window_over_three_days_reads_only_the_hours_it_needs() {
    let Some(ep) = endpoint() else { return };
    let dir = tempdir();
    assert_eq!(three_days(dir.path()), 144);
    let c = client(&ep).await;
    let bucket = bucket_name("prune");
    create_bucket(&c, &bucket).await;
    upload_dir(&c, &bucket, dir.path(), "").await;

    // (layout, list requests for a 3-hour and a 4-hour window, worked out by hand):
    // flat: detect 1 + find distributions 2 + one range listing 1 = 4.
    // hive: detect 1 + folders of the prefix 1 + of DistributionId=E1/ 1 + one per hour.
    // dated: detect 1 + folders of the prefix 1 + one per hour.
    for (layout, requests_3h, requests_4h) in [("flat", 4, 4), ("hive", 6, 7), ("dated", 5, 6)] {
        for loc in [
            format!("s3://{bucket}/{layout}/"),
            dir.path().join(layout).display().to_string(),
        ] {
            // 10:00-10:10 with a 60-minute margin: hours 09, 10, 11 (2 files each).
            let v = window_stats(
                &loc,
                &ep,
                "2025-12-31T10:00:00Z",
                "2025-12-31T10:10:00Z",
                "60",
            )
            .await;
            assert_eq!(v["stats"]["objects_read"], 6, "{loc}: {}", v["stats"]);
            assert_eq!(
                v["stats"]["list_requests"], requests_3h,
                "{loc}: {}",
                v["stats"]
            );
            // 10:10 from a 10:00 file, and 10:05 delivered late in an 11:00 file.
            assert_eq!(v["stats"]["rows_in_scope"], 2, "{loc}: {}", v["stats"]);
            // Without a margin the late row's file is not read.
            let v = window_stats(
                &loc,
                &ep,
                "2025-12-31T10:00:00Z",
                "2025-12-31T10:10:00Z",
                "0",
            )
            .await;
            assert_eq!(
                (
                    v["stats"]["objects_read"].as_u64(),
                    v["stats"]["rows_in_scope"].as_u64()
                ),
                (Some(2), Some(1)),
                "{loc}"
            );
            // Across midnight, a month end and a year end: hours 22, 23 of Dec 31 and 00, 01 of Jan 1.
            let v = window_stats(
                &loc,
                &ep,
                "2025-12-31T23:55:00Z",
                "2026-01-01T00:05:00Z",
                "60",
            )
            .await;
            assert_eq!(v["stats"]["objects_read"], 8, "{loc}: {}", v["stats"]);
            assert_eq!(
                v["stats"]["list_requests"], requests_4h,
                "{loc}: {}",
                v["stats"]
            );
        }
    }
}

#[tokio::test]
async fn more_than_a_thousand_objects_are_all_listed() {
    let Some(ep) = endpoint() else { return };
    let dir = tempdir();
    let files = dir.path().join("many");
    for i in 0..1105 {
        write_log(
            &files.join(format!("E1.2026-01-01-00.{i:05}.gz")),
            &[row("s1", i, "/x.ts")],
        );
    }
    let c = client(&ep).await;
    let bucket = bucket_name("many");
    create_bucket(&c, &bucket).await;
    upload_dir(&c, &bucket, &files, "logs/").await;
    let out = run_cli(
        &[
            "query",
            &format!("s3://{bucket}/logs/"),
            "--format",
            "csv",
            "--sql",
            "SELECT count(*) AS n FROM logs",
        ],
        &ep,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n1105\n");
    // Pruned by hour: the flat range listing pages through all 1,105 keys of the hour too.
    let v = window_stats(
        &format!("s3://{bucket}/logs/"),
        &ep,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:30:00Z",
        "60",
    )
    .await;
    assert_eq!(v["stats"]["objects_read"], 1105);
    assert_eq!(v["stats"]["rows_in_scope"], 1105);
    // detect 1 + distributions 2 + the range listing in 2 pages.
    assert_eq!(v["stats"]["list_requests"], 5);
}

#[test]
fn s3_errors_have_their_messages_and_exit_codes() {
    let Some(ep) = endpoint() else { return };
    // No such bucket.
    let out = run_cli(
        &[
            "score",
            "s3://ar-no-such-bucket-anywhere/logs/",
            "--now",
            "latest",
        ],
        &ep,
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("s3://ar-no-such-bucket-anywhere/logs/: no such bucket"),
        "{}",
        stderr(&out)
    );
    // A bad URL.
    let out = run_cli(&["score", "s3://Not_A_Bucket/logs/"], &ep);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("s3://Not_A_Bucket/logs/: not a valid S3 URL"),
        "{}",
        stderr(&out)
    );
    // No credentials anywhere in the chain.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autorevoke"))
        .args([
            "score",
            "s3://ar-any-bucket/logs/",
            "--now",
            "latest",
            "--endpoint-url",
            &ep,
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no valid AWS credentials"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn access_denied_has_its_message_and_exit_code() {
    // A server that denies everything, as S3 does for a bucket the credentials may not read.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(10) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>1</RequestId></Error>";
            let _ = write!(
                s,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autorevoke"))
        .args([
            "score",
            "s3://ar-denied/logs/",
            "--now",
            "latest",
            "--endpoint-url",
            &format!("http://{addr}"),
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("s3://ar-denied/logs/: access denied"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn keys_are_read_as_listed_and_folder_markers_skipped() {
    let Some(ep) = endpoint() else { return };
    let c = client(&ep).await;
    let bucket = bucket_name("keys");
    create_bucket(&c, &bucket).await;
    // The sample's six objects under keys S3 allows but a re-encoding client would mangle, and
    // a folder marker (the console's "Create folder").
    let names = sample_log_names();
    let oddities = ["%41", "~x", "a b", "+", "=1", "%"];
    for (name, odd) in names.iter().zip(oddities) {
        let key = format!("logs/{}", name.replacen(".gz", &format!("{odd}.gz"), 1));
        put_sample(&c, &bucket, name, &key).await;
    }
    c.put_object()
        .bucket(&bucket)
        .key("logs/archive/")
        .body(ByteStream::from(Vec::new()))
        .send()
        .await
        .expect("put");
    let loc = format!("s3://{bucket}/logs");
    let out = run_cli(&["score", &loc, "--now", "latest", "--format", "csv"], &ep);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected =
        std::fs::read_to_string(repo().join("tests/expected/sample-logs.score.csv")).expect("csv");
    assert_eq!(stdout(&out), expected);
    let out = run_cli(&["score", &loc, "--now", "latest", "--format", "json"], &ep);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(
        (&v["stats"]["objects_read"], &v["stats"]["objects_failed"]),
        (&6.into(), &0.into()),
        "{}",
        v["stats"]
    );
}

#[tokio::test]
async fn large_objects_are_streamed_and_a_broken_transfer_resumes() {
    let Some(ep) = endpoint() else { return };
    let c = client(&ep).await;
    let bucket = bucket_name("stream");
    create_bucket(&c, &bucket).await;
    // Every object is "large" at --stream-above 1KiB; one object's first GetObject is cut half
    // way (-s3cut1-), so its stream must resume from where it broke off.
    let names = sample_log_names();
    for (i, name) in names.iter().enumerate() {
        let key = if i == 0 {
            format!("logs/{}", name.replacen(".gz", "-s3cut1-.gz", 1))
        } else {
            format!("logs/{name}")
        };
        put_sample(&c, &bucket, name, &key).await;
    }
    let expected =
        std::fs::read_to_string(repo().join("tests/expected/sample-logs.score.csv")).expect("csv");
    for loc in [format!("s3://{bucket}/logs"), "sample-logs".to_string()] {
        let out = run_cli(
            &[
                "score",
                &loc,
                "--now",
                "latest",
                "--stream-above",
                "1KiB",
                "--format",
                "csv",
            ],
            &ep,
        );
        assert_eq!(out.status.code(), Some(0), "{loc}: {}", stderr(&out));
        assert_eq!(stdout(&out), expected, "{loc}");
    }
}

#[test]
fn now_latest_reads_only_the_newest_hours_to_find_the_time() {
    let dir = tempdir();
    let files = three_days(dir.path());
    assert_eq!(files, 144);
    for layout in ["flat", "hive", "dated"] {
        let out = autorevoke(&[
            "score",
            &dir.path().join(layout).display().to_string(),
            "--now",
            "latest",
            "--lookback",
            "10",
            "--min-sessions",
            "1",
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{layout}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        // The newest key names 2026-01-01T23: the first scan reads that hour and the hour of
        // late margin before it (2 objects each), not the 144 objects of three days.
        assert_eq!(v["latest_scan"]["objects_read"], 4, "{layout}: {v}");
        // The newest row is 23:11; the window 23:01-23:11 reads the same four objects.
        assert_eq!(
            v["window"]["to"], "2026-01-01T23:11:00Z",
            "{layout}: {}",
            v["window"]
        );
        assert_eq!(v["stats"]["objects_read"], 4, "{layout}: {v}");
    }
}

#[tokio::test]
async fn a_state_in_s3_serves_unchanged_objects_and_rereads_a_replaced_one() {
    let Some(ep) = endpoint() else { return };
    let c = client(&ep).await;
    let bucket = bucket_name("state");
    create_bucket(&c, &bucket).await;
    let names = sample_log_names();
    for name in &names {
        put_sample(&c, &bucket, name, &format!("logs/{name}")).await;
    }
    let (loc, state) = (
        format!("s3://{bucket}/logs"),
        format!("s3://{bucket}/autorevoke-state/"),
    );
    let score = |state: Option<&str>| {
        let mut args = vec![
            "score",
            &loc,
            "--now",
            "2026-01-15T20:00:00Z",
            "--format",
            "json",
            "--all",
        ];
        if let Some(s) = state {
            args.extend(["--state", s]);
        }
        let out = run_cli(&args, &ep);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).expect("json")
    };
    let full = score(None);
    let first = score(Some(&state));
    let second = score(Some(&state));
    for v in [&first, &second] {
        assert_eq!(v["sessions"], full["sessions"]);
        assert_eq!(v["stats"]["rows_read"], full["stats"]["rows_read"]);
    }
    assert_eq!(
        first["stats"]["objects_from_state"],
        serde_json::Value::Null
    );
    assert_eq!(second["stats"]["objects_from_state"], 6);
    assert_eq!(second["stats"]["bytes_read"], 0);
    let kept = c
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("autorevoke-state/objects/")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = kept.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("autorevoke-state/objects/2026-01-15T")),
        "{keys:?}"
    );
    // An object replaced under the same key (a new ETag) is read again: with one object's
    // rows halved, the scores follow the new content.
    let text = sample_text(&names[0]);
    let half: String = text
        .lines()
        .take(text.lines().count() / 2)
        .map(|l| format!("{l}\n"))
        .collect();
    c.put_object()
        .bucket(&bucket)
        .key(format!("logs/{}", names[0]))
        .body(ByteStream::from(half.into_bytes()))
        .send()
        .await
        .expect("replace");
    let full = score(None);
    let third = score(Some(&state));
    assert_eq!(third["sessions"], full["sessions"]);
    assert_ne!(third["sessions"], second["sessions"]);
    assert_eq!(third["stats"]["objects_from_state"], 5);
}
