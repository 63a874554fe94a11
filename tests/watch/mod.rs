//! `autorevoke watch` against Kinesis and DynamoDB on the local moto server
//! (tests/moto_server.py, started by scripts/test; its Kinesis resharding is AWS's): the
//! revocation table a watch writes from records put into a stream equals the one `run`
//! writes from the same records as files, also across a SIGKILL and a shard split; a second
//! watch on the same stream and checkpoint is refused.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::revocation::{Env, setup};
use crate::s3::bucket_name;
use crate::util::*;

/// The window's allowance the tests use: the window ends this long before the newest record.
const ALLOWANCE: i64 = 5;

/// A stream on the local server.
struct Stream {
    client: aws_sdk_kinesis::Client,
    name: String,
}

impl Stream {
    async fn create(env: &Env, tag: &str, shards: i32) -> Stream {
        let client = autorevoke::aws::AwsAccess::new(autorevoke::aws::AwsSettings {
            endpoint_url: Some(env.ep.clone()),
            ..autorevoke::aws::AwsSettings::default()
        })
        .kinesis_client()
        .await;
        let name = format!("{}{tag}", bucket_name("watch"));
        client
            .create_stream()
            .stream_name(&name)
            .shard_count(shards)
            .send()
            .await
            .expect("create stream");
        Stream { client, name }
    }

    /// Puts `lines`, 500 a call, each its own record under its own partition key.
    async fn put(&self, lines: &[String], first_key: usize) {
        for (n, chunk) in lines.chunks(500).enumerate() {
            let entries: Vec<PutRecordsRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new(format!("{line}\n")))
                        .partition_key(format!("k{}", first_key + n * 500 + i))
                        .build()
                        .expect("entry")
                })
                .collect();
            let out = self
                .client
                .put_records()
                .stream_name(&self.name)
                .set_records(Some(entries))
                .send()
                .await
                .expect("put records");
            assert_eq!(out.failed_record_count(), Some(0));
        }
    }

    /// Records in each shard, by shard id.
    async fn counts(&self) -> BTreeMap<String, usize> {
        let shards = self
            .client
            .list_shards()
            .stream_name(&self.name)
            .send()
            .await
            .expect("list shards");
        let mut counts = BTreeMap::new();
        for shard in shards.shards() {
            let it = self
                .client
                .get_shard_iterator()
                .stream_name(&self.name)
                .shard_id(shard.shard_id())
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("iterator");
            let page = self
                .client
                .get_records()
                .shard_iterator(it.shard_iterator().expect("iterator"))
                .send()
                .await
                .expect("records");
            counts.insert(shard.shard_id().to_string(), page.records().len());
        }
        counts
    }
}

/// A synthetic event's requests as real-time records (the default 45 fields), in time
/// order, also written as one log file under `dir/files` for `run`.
fn event_records(dir: &Path) -> Vec<String> {
    let w3c = dir.join("w3c");
    synth_into(
        &w3c,
        &[
            "--viewers",
            "30",
            "--shared",
            "3",
            "--minutes",
            "12",
            "--end",
            "2026-01-15T20:00:00Z",
        ],
    );
    let fields = autorevoke::cloudfront::RealtimeFields::default().names();
    let mut names: Vec<_> = std::fs::read_dir(&w3c)
        .expect("synth output")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "gz"))
        .collect();
    names.sort();
    let mut lines: Vec<String> = names
        .iter()
        .flat_map(|p| {
            w3c_to_realtime(&inflated(p), &fields)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort_by_key(|l| time_of(l));
    let files = dir.join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    std::fs::write(files.join("records.log"), lines.join("\n") + "\n").expect("write");
    lines
}

fn time_of(line: &str) -> i64 {
    line.split(['.', '\t'])
        .next()
        .and_then(|s| s.parse().ok())
        .expect("epoch time")
}

/// The time `run --now` takes to score the window a caught-up watch scores.
fn watch_now(lines: &[String]) -> String {
    let newest = lines.iter().map(|l| time_of(l)).max().expect("records");
    chrono::DateTime::from_timestamp(newest - ALLOWANCE, 0)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What `run` writes into `reference`'s table from the records as a file, and the rows and
/// sessions `score` counts in that window.
fn run_reference(reference: &Env, dir: &Path, now: &str) -> (String, String) {
    let files = dir.join("files").display().to_string();
    let args = ["--format-in", "realtime", "--now", now];
    let out = reference.cli(&[&["run", &files, "--table", &reference.table][..], &args].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = autorevoke(&[&["score", &files, "--format", "json"][..], &args].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    (
        json["stats"]["rows_in_scope"].to_string(),
        json["sessions_in_window"].to_string(),
    )
}

/// The table's items without the times of their writes: session -> (type, reason, score
/// and its components).
async fn items(env: &Env) -> BTreeMap<String, Vec<String>> {
    env.items()
        .await
        .into_iter()
        .map(|(id, item)| {
            let fields = [
                "type",
                "reason",
                "score",
                "ip_rate",
                "ip_penalty",
                "referer_penalty",
                "ua_penalty",
            ]
            .iter()
            .map(|k| format!("{k}={:?}", item.get(*k)))
            .collect();
            (id, fields)
        })
        .collect()
}

/// A running `watch` whose stderr lines are collected as they come.
struct Watch {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watch {
    fn start(env: &Env, stream: &Stream, checkpoint: &Path, extra: &[&str]) -> Watch {
        let checkpoint = checkpoint.display().to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_autorevoke"))
            .args([
                "watch",
                "--stream",
                &stream.name,
                "--table",
                &env.table,
                "--checkpoint",
                &checkpoint,
                "--every",
                "1s",
                "--endpoint-url",
                &env.ep,
            ])
            .args(extra)
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("watch starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Watch { child, lines }
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// Waits (at most 120 s) for a stderr line containing `text`.
    fn wait_for(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| l.contains(text)) {
                return line;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no {text:?} in: {:?}",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (at most 180 s) for the process to end; its exit code and stderr.
    fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return (status.code(), self.lines());
            }
            if started.elapsed() > Duration::from_secs(180) {
                let _ = self.child.kill();
                panic!("watch did not stop: {:?}", self.lines());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs a watch until it is caught up and has ticked; its last tick line.
fn watch_to_the_tip(env: &Env, stream: &Stream, checkpoint: &Path, extra: &[&str]) -> String {
    let watch = Watch::start(
        env,
        stream,
        checkpoint,
        &[&["--exit-when-caught-up"][..], extra].concat(),
    );
    let (code, lines) = watch.finish();
    assert_eq!(code, Some(0), "{lines:?}");
    last_tick(&lines)
}

/// The last tick line of a watch's stderr.
fn last_tick(lines: &[String]) -> String {
    lines
        .iter()
        .rfind(|l| l.starts_with("autorevoke watch: window "))
        .cloned()
        .unwrap_or_else(|| panic!("no tick line in {lines:?}"))
}

/// What a tick line says the window holds (`N rows and M sessions in window`).
fn in_window(line: &str) -> Option<String> {
    line.split(", ").nth(2).map(str::to_string)
}

/// Asserts that a tick line scored `now`'s window with the rows and sessions `score` counts.
fn assert_tick(line: &str, now: &str, rows: &str, sessions: &str) {
    assert!(line.contains(&format!("..{now}: ")), "{line}");
    assert!(
        line.contains(&format!(
            ", {rows} rows and {sessions} sessions in window, "
        )),
        "{line} (score counts {rows} rows, {sessions} sessions)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_writes_what_run_writes_from_the_same_records() {
    let Some(env) = setup("watch-parity", "-w", "-g").await else {
        return;
    };
    let Some(reference) = setup("watch-parity-ref", "-r", "-g").await else {
        return;
    };
    let dir = tempdir();
    let lines = event_records(dir.path());
    // Throttled and expired-iterator GetRecords calls first: both are retried.
    let stream = Stream::create(&env, "-kthrottle2-kexpire1-", 2).await;
    stream.put(&lines, 0).await;
    let now = watch_now(&lines);
    let (rows, sessions) = run_reference(&reference, dir.path(), &now);
    // Checkpoints and the lease in a DynamoDB table (created by watch).
    let checkpoints = format!("{}-checkpoints", env.table);
    let tick = watch_to_the_tip(&env, &stream, Path::new(&checkpoints), &[]);
    assert_tick(&tick, &now, &rows, &sessions);
    let saved = env
        .ddb
        .get_item()
        .table_name(&checkpoints)
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("{}#checkpoint", stream.name)),
        )
        .send()
        .await
        .expect("checkpoint item");
    let body = saved.item().and_then(|i| i.get("body")).expect("body");
    let checkpoint: serde_json::Value =
        serde_json::from_str(body.as_s().expect("text")).expect("json");
    let shards = checkpoint["shards"].as_object().expect("shards");
    assert_eq!(shards.len(), 2, "{checkpoint}");
    let (written, expected) = (items(&env).await, items(&reference).await);
    assert_eq!(expected.len(), 3, "{expected:?}");
    assert_eq!(written, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_killed_mid_stream_resumes_from_its_checkpoint_with_the_same_result() {
    let Some(env) = setup("watch-restart", "-w", "-g").await else {
        return;
    };
    let Some(reference) = setup("watch-restart-ref", "-r", "-g").await else {
        return;
    };
    let dir = tempdir();
    let lines = event_records(dir.path());
    let stream = Stream::create(&env, "", 1).await;
    stream.put(&lines, 0).await;
    let now = watch_now(&lines);
    let (rows, sessions) = run_reference(&reference, dir.path(), &now);
    // Small pages: the backlog takes many calls, and checkpoints are saved along the way. It
    // is killed once it has read half the records (the first ones are older than the
    // window the final tick scores, so a kill there would prove less).
    let checkpoint = dir.path().join("ckpt");
    let slow = ["--records-per-call", "10"];
    let mut first = Watch::start(&env, &stream, &checkpoint, &slow);
    let file = checkpoint.join(format!("{}.checkpoint.json", stream.name));
    let last_read = |text: &str| -> Option<usize> {
        let saved: serde_json::Value = serde_json::from_str(text).ok()?;
        saved["shards"]["shardId-000000000000"]["last_read"]
            .as_str()?
            .parse()
            .ok()
    };
    let started = Instant::now();
    let last = loop {
        if let Some(last) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| last_read(&text))
            .filter(|last| *last >= lines.len() / 2)
        {
            break last;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("killed");
    assert!(
        !first.lines().iter().any(|l| l.contains(" window ")),
        "it ticked before the kill: {:?}",
        first.lines()
    );
    assert!(
        last < lines.len(),
        "killed after reading {last} of {}",
        lines.len()
    );
    // The lease of the killed watch is still there: a restart by the same checkpoint must
    // wait for it to expire, so the test takes it over by expiring it.
    let lease = checkpoint.join(format!("{}.lease.json", stream.name));
    std::fs::write(&lease, r#"{"owner":"killed","expires":0}"#).expect("expire the lease");
    let tick = watch_to_the_tip(&env, &stream, &checkpoint, &[]);
    assert_tick(&tick, &now, &rows, &sessions);
    assert_eq!(items(&env).await, items(&reference).await);
    assert_eq!(items(&reference).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_shard_is_read_to_its_end_then_its_children() {
    let Some(env) = setup("watch-split", "-w", "-g").await else {
        return;
    };
    let Some(reference) = setup("watch-split-ref", "-r", "-g").await else {
        return;
    };
    let dir = tempdir();
    let lines = event_records(dir.path());
    let stream = Stream::create(&env, "", 1).await;
    let half = lines.len() / 2;
    stream.put(&lines[..half], 0).await;
    stream
        .client
        .split_shard()
        .stream_name(&stream.name)
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .expect("split");
    stream.put(&lines[half..], half).await;
    let counts = stream.counts().await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert_eq!(counts["shardId-000000000000"], half);
    assert_eq!(counts.values().sum::<usize>(), lines.len());
    assert!(counts["shardId-000000000001"] > 0 && counts["shardId-000000000002"] > 0);
    let now = watch_now(&lines);
    let (rows, sessions) = run_reference(&reference, dir.path(), &now);
    let tick = watch_to_the_tip(&env, &stream, &dir.path().join("ckpt"), &[]);
    assert_tick(&tick, &now, &rows, &sessions);
    assert_eq!(items(&env).await, items(&reference).await);
    assert_eq!(items(&reference).await.len(), 3);
}

/// The value of metric `name` in Prometheus text scraped from `addr`.
fn scrape(addr: &str, name: &str) -> String {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(addr).expect("metrics");
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let mut text = String::new();
    socket.read_to_string(&mut text).expect("response");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_watch_on_the_same_stream_and_checkpoint_is_refused_until_the_first_stops() {
    let Some(env) = setup("watch-lease", "-w", "-g").await else {
        return;
    };
    let dir = tempdir();
    let lines: Vec<String> = event_records(dir.path()).into_iter().take(300).collect();
    let stream = Stream::create(&env, "", 1).await;
    stream.put(&lines, 0).await;
    let checkpoint = dir.path().join("ckpt");
    let first = Watch::start(&env, &stream, &checkpoint, &["--metrics", "127.0.0.1:0"]);
    let addr = first
        .wait_for("metrics on http://")
        .trim_start_matches("autorevoke watch: metrics on http://")
        .trim_end_matches("/metrics")
        .to_string();
    first.wait_for(" window ");
    assert_eq!(scrape(&addr, "autorevoke_watch_records_total"), "300");
    assert_eq!(scrape(&addr, "autorevoke_watch_lag_seconds"), "0.000");
    assert_eq!(scrape(&addr, "autorevoke_watch_errors_total"), "0");
    let second = Watch::start(&env, &stream, &checkpoint, &["--exit-when-caught-up"]);
    let (code, lines_2) = second.finish();
    assert_eq!(code, Some(7), "{lines_2:?}");
    assert!(
        lines_2
            .iter()
            .any(|l| l.contains("refused: another watch (") && l.contains("holds the lease")),
        "{lines_2:?}"
    );
    // SIGTERM: the first stops cleanly, saving its checkpoint and giving the lease up.
    first.terminate();
    let (code, lines_1) = first.finish();
    assert_eq!(code, Some(0), "{lines_1:?}");
    assert!(
        lines_1
            .last()
            .is_some_and(|l| l.contains(", 300 record(s) read, ")),
        "{lines_1:?}"
    );
    assert!(
        !checkpoint
            .join(format!("{}.lease.json", stream.name))
            .exists()
    );
    // A restart reads again the records whose rows the window still needs (all 300 here),
    // and counts each once: the same rows as before.
    let tick_1 = last_tick(&lines_1);
    let tick_3 = watch_to_the_tip(&env, &stream, &checkpoint, &[]);
    assert_eq!(
        in_window(&tick_3),
        in_window(&tick_1),
        "{tick_3} vs {tick_1}"
    );
    assert!(tick_3.contains(": 300 records in, "), "{tick_3}");
}

/// 300 records of a synthetic event in a fresh stream of one shard.
async fn small_stream(env: &Env, dir: &Path) -> Stream {
    let lines: Vec<String> = event_records(dir).into_iter().take(300).collect();
    let stream = Stream::create(env, "", 1).await;
    stream.put(&lines, 0).await;
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dynamodb_lease_refuses_a_second_watch_and_s3_keeps_checkpoints_too() {
    let Some(env) = setup("watch-leases", "-w", "-g").await else {
        return;
    };
    let dir = tempdir();
    let stream = small_stream(&env, dir.path()).await;
    let table = format!("{}-checkpoints", env.table);
    let first = Watch::start(&env, &stream, Path::new(&table), &[]);
    first.wait_for(" window ");
    let (code, lines) = Watch::start(&env, &stream, Path::new(&table), &[]).finish();
    assert_eq!(code, Some(7), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "watch of stream {} with checkpoint {table}: refused: another watch (",
            stream.name
        ))),
        "{lines:?}"
    );
    first.terminate();
    let (code, lines) = first.finish();
    assert_eq!(code, Some(0), "{lines:?}");
    // Released: the next one starts, and rebuilds the same window from the checkpoint.
    let tick_1 = last_tick(&lines);
    let tick_2 = watch_to_the_tip(&env, &stream, Path::new(&table), &[]);
    assert_eq!(in_window(&tick_2), in_window(&tick_1));
    // In S3: the checkpoint is an object under the prefix, and the lease is gone at the end.
    let s3 = crate::s3::client(&env.ep).await;
    let bucket = bucket_name("watch-ckpt");
    crate::s3::create_bucket(&s3, &bucket).await;
    let url = format!("s3://{bucket}/watch/");
    let tick_3 = watch_to_the_tip(&env, &stream, Path::new(&url), &[]);
    assert_eq!(in_window(&tick_3), in_window(&tick_1));
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [format!("watch/{}.checkpoint.json", stream.name)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_past_its_memory_limit_stops_watch_with_a_clear_error() {
    let Some(env) = setup("watch-memory", "-w", "-g").await else {
        return;
    };
    let dir = tempdir();
    let stream = small_stream(&env, dir.path()).await;
    let checkpoint = dir.path().join("ckpt");
    let (code, lines) =
        Watch::start(&env, &stream, &checkpoint, &["--memory-limit", "4KiB"]).finish();
    assert_eq!(code, Some(1), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("autorevoke: the window holds ")
                && l.ends_with(
                    " bytes of in-scope rows, more than --memory-limit 4096: raise --memory-limit \
                 or shorten --lookback"
                )),
        "{lines:?}"
    );
    // It let the lease go on the way out.
    assert!(
        !checkpoint
            .join(format!("{}.lease.json", stream.name))
            .exists()
    );
}
