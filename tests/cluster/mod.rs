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

/// A synthetic set of 40 minutes in 8 files an hour (more objects and partitions than the
/// sample), made under `dir`.
fn small_synth(dir: &Path) -> std::path::PathBuf {
    let synth = dir.join("synth");
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
    synth
}

fn score_csv(dir: &Path, now: &str, profile: &str, threads: &str) -> (String, String) {
    both(&[
        "score",
        &dir.display().to_string(),
        "--now",
        now,
        "--rules",
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
    for profile in ["upstream", "concurrent", "viewers"] {
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
    let synth = small_synth(work.path());
    for profile in ["upstream", "concurrent", "viewers"] {
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

/// A Ballista cluster of separate processes on 127.0.0.1: `autorevoke scheduler` and two
/// `autorevoke executor`s, each with its own work directory; stopped when dropped.
struct LocalCluster {
    children: Vec<std::process::Child>,
    /// `df://127.0.0.1:PORT`
    url: String,
    rest: std::net::SocketAddr,
    work: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl LocalCluster {
    /// Starts a scheduler and `executors` executors of `slots` slots, all with the `aws`
    /// flags.
    fn start(executors: usize, slots: usize, aws: &[&str]) -> Self {
        let work = tempdir();
        let port = free_port();
        let rest: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut cluster = LocalCluster {
            children: Vec::new(),
            url: format!("df://127.0.0.1:{port}"),
            rest,
            work,
        };
        let bind = rest.to_string();
        cluster.spawn(
            "scheduler",
            &[&["-v", "scheduler", "--bind", &bind][..], aws].concat(),
        );
        cluster.wait_for(
            |c| std::net::TcpStream::connect(c.rest).is_ok(),
            "the scheduler",
        );
        for i in 0..executors {
            let dir = cluster.work.path().join(format!("executor-{i}"));
            std::fs::create_dir_all(&dir).expect("work dir");
            let (flight, grpc) = (free_port(), free_port());
            cluster.spawn(
                &format!("executor-{i}"),
                &[
                    &[
                        "-v",
                        "executor",
                        "--scheduler",
                        &rest.to_string(),
                        "--bind",
                        &format!("127.0.0.1:{flight}"),
                        "--grpc-port",
                        &grpc.to_string(),
                        "--slots",
                        &slots.to_string(),
                        "--work-dir",
                        &dir.display().to_string(),
                    ][..],
                    aws,
                ]
                .concat(),
            );
        }
        cluster.wait_for(|c| c.executors() == executors, "the executors to register");
        cluster
    }

    fn spawn(&mut self, name: &str, args: &[&str]) {
        let log = std::fs::File::create(self.work.path().join(format!("{name}.log"))).expect("log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_autorevoke"))
            .args(args)
            .current_dir(repo())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("the binary starts");
        self.children.push(child);
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.work.path())
            .expect("work dir")
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "log") {
                let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
                text.push_str(&format!("== {}\n{log}\n", entry.path().display()));
            }
        }
        text
    }

    fn wait_for(&mut self, ready: impl Fn(&Self) -> bool, what: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !ready(self) {
            for child in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("a cluster process exited ({status}):\n{}", self.logs());
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waited a minute for {what}:\n{}",
                self.logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// The executors registered with the scheduler (its REST API).
    fn executors(&self) -> usize {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(self.rest) else {
            return 0;
        };
        let request = format!(
            "GET /api/executors HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.rest
        );
        let mut response = String::new();
        if stream.write_all(request.as_bytes()).is_err()
            || stream.read_to_string(&mut response).is_err()
        {
            return 0;
        }
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_scheduler_and_two_executor_processes_score_exactly_as_the_local_engine() {
    let work = tempdir();
    let (work_dir, sample) = (
        work.path().display().to_string(),
        repo().join("sample-logs").display().to_string(),
    );
    let cluster = LocalCluster::start(
        2,
        2,
        &["--allow-location", &work_dir, "--allow-location", &sample],
    );
    let on_cluster = |args: &[&str]| {
        let out = autorevoke(&[args, &["--cluster", &cluster.url][..]].concat());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            stderr(&out),
            cluster.logs()
        );
        stdout(&out)
    };
    let local = |args: &[&str]| {
        let out = autorevoke(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };

    let synth = small_synth(work.path());
    let synth = synth.display().to_string();
    // 6 partitions over 2 executors of 2 slots: tasks get some of the partitions each.
    for profile in ["upstream", "concurrent", "viewers"] {
        let args = [
            "score",
            &synth,
            "--now",
            "2026-01-15T20:00:00Z",
            "--rules",
            profile,
            "--threads",
            "6",
            "--all",
            "--format",
            "csv",
        ];
        let expected = local(&args);
        assert!(expected.lines().count() > 40, "{expected}");
        assert_eq!(on_cluster(&args), expected, "synth, {profile}");
    }
    // The scan's counts come back from the executors as metrics: the same JSON stats.
    let args = [
        "score",
        &synth,
        "--now",
        "2026-01-15T20:00:00Z",
        "--threads",
        "6",
        "--format",
        "json",
    ];
    let stats = |text: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(text).expect("json")["stats"].clone()
    };
    let (expected, got) = (stats(&local(&args)), stats(&on_cluster(&args)));
    assert_eq!(got, expected);
    assert!(
        expected["objects_read"].as_u64().unwrap_or(0) > 6,
        "{expected}"
    );

    // Partial input: a truncated object and a malformed line are reported as locally (the
    // failures and samples travel back as metrics too), with the same exit code.
    let mixed = work.path().join("mixed");
    std::fs::create_dir_all(&mixed).expect("dir");
    for entry in std::fs::read_dir(repo().join("sample-logs"))
        .expect("sample")
        .flatten()
    {
        std::fs::copy(entry.path(), mixed.join(entry.file_name())).expect("copy");
    }
    let first = mixed.join("E2SYNTH0EXAMPLE.2026-01-15-19.354bfce7.gz");
    let bytes = std::fs::read(&first).expect("read");
    std::fs::write(
        mixed.join("E2SYNTH0EXAMPLE.2026-01-15-20.truncated.gz"),
        &bytes[..bytes.len() / 2],
    )
    .expect("write");
    let mut text = inflated(&first);
    text.push_str("this is not a log line\n");
    write_gz(
        &mixed.join("E2SYNTH0EXAMPLE.2026-01-15-20.malformed.gz"),
        text.as_bytes(),
    );
    let mixed = mixed.display().to_string();
    let args = [
        "score",
        &mixed,
        "--now",
        "latest",
        "--threads",
        "3",
        "--format",
        "json",
    ];
    let (expected, got) = (
        autorevoke(&args),
        autorevoke(&[&args[..], &["--cluster", &cluster.url][..]].concat()),
    );
    assert_eq!(expected.status.code(), Some(3), "{}", stderr(&expected));
    assert_eq!(got.status.code(), Some(3), "{}", stderr(&got));
    assert_eq!(stdout(&got), stdout(&expected));
    let report: serde_json::Value = serde_json::from_str(&stdout(&got)).expect("json");
    assert_eq!(report["stats"]["objects_failed"], 1, "{report}");
    assert_eq!(report["stats"]["rows_malformed"], 1, "{report}");
    assert!(
        stderr(&got).contains("truncated.gz: truncated gzip"),
        "{}",
        stderr(&got)
    );

    // A query, with the ip_network function, on the sample logs.
    let sql = "SELECT status, count(*) AS n, count(DISTINCT ip_network(request_ip)) AS networks \
               FROM logs GROUP BY status ORDER BY status";
    let args = [
        "query",
        &sample,
        "--sql",
        sql,
        "--threads",
        "4",
        "--format",
        "csv",
    ];
    assert_eq!(
        on_cluster(&args),
        "status,n,networks\n0,116,51\n200,19931,71\n206,1610,70\n404,32,22\n"
    );
    // A folder outside the allowed locations is refused, named.
    let outside = tempdir();
    let name = &sample_log_names()[0];
    std::fs::copy(
        repo().join("sample-logs").join(name),
        outside.path().join(name),
    )
    .expect("copy");
    let outside_dir = std::fs::canonicalize(outside.path()).expect("canonical");
    let out = autorevoke(&[
        "score",
        &outside_dir.display().to_string(),
        "--now",
        "latest",
        "--cluster",
        &cluster.url,
    ]);
    expect_exit(
        &out,
        1,
        &format!(
            "refused: the plan names {}, outside the locations this process may read \
             (--allow-location)",
            outside_dir.display()
        ),
    );
    // Both executors ran tasks: each wrote shuffle files for some of the jobs.
    for i in 0..2 {
        let dir = cluster.work.path().join(format!("executor-{i}"));
        let jobs = std::fs::read_dir(&dir).map(Iterator::count).unwrap_or(0);
        assert!(jobs > 0, "executor {i} ran no task:\n{}", cluster.logs());
    }
}

#[tokio::test]
async fn executors_read_s3_logs_with_their_own_aws_settings() {
    let Some(endpoint) = crate::s3::endpoint() else {
        return;
    };
    let s3 = crate::s3::client(&endpoint).await;
    let bucket = crate::s3::bucket_name("cluster");
    crate::s3::create_bucket(&s3, &bucket).await;
    let uploaded = crate::s3::upload_dir(
        &s3,
        &bucket,
        &repo().join("sample-logs"),
        "cf/E2SYNTH0EXAMPLE/",
    )
    .await;
    assert_eq!(uploaded, 6);
    // The executors make their S3 stores from their own flags and environment (the test's
    // dummy credentials), never from the client's.
    let allowed = format!("s3://{bucket}/cf");
    let cluster = LocalCluster::start(
        2,
        1,
        &["--endpoint-url", &endpoint, "--allow-location", &allowed],
    );
    let location = format!("s3://{bucket}/cf/E2SYNTH0EXAMPLE/");
    let args = |location: &str| {
        [
            "score",
            location,
            "--now",
            "latest",
            "--threads",
            "4",
            "--all",
            "--format",
            "csv",
        ]
        .map(str::to_string)
    };
    let sample = repo().join("sample-logs").display().to_string();
    let local = autorevoke(&args(&sample).each_ref().map(String::as_str));
    let mut remote_args = args(&location).to_vec();
    remote_args
        .extend(["--cluster", &cluster.url, "--endpoint-url", &endpoint].map(str::to_string));
    let remote = autorevoke(&remote_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        remote.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&remote),
        cluster.logs()
    );
    assert_eq!(stdout(&remote), stdout(&local));
    assert!(stdout(&local).lines().count() > 50);
    // Another prefix of the same bucket is outside what the cluster may read.
    let elsewhere = format!("s3://{bucket}/cfx/");
    let mut refused_args = args(&elsewhere).to_vec();
    refused_args
        .extend(["--cluster", &cluster.url, "--endpoint-url", &endpoint].map(str::to_string));
    let refused = autorevoke(&refused_args.iter().map(String::as_str).collect::<Vec<_>>());
    expect_exit(
        &refused,
        1,
        &format!(
            "refused: the plan names {elsewhere}, outside the locations this process may read \
             (--allow-location)"
        ),
    );
}

#[test]
fn bad_or_unreachable_cluster_addresses_are_clear_errors() {
    let out = autorevoke(&["score", "sample-logs", "--cluster", "df://nohost"]);
    expect_exit(&out, 2, "expected df://HOST:PORT");
    let out = autorevoke(&[
        "executor",
        "--scheduler",
        "nohost",
        "--allow-location",
        "/tmp",
    ]);
    expect_exit(&out, 2, "invalid setting --scheduler");
    // A cluster process reads only what it is allowed to: the flag is required.
    for args in [
        &["executor", "--scheduler", "127.0.0.1:1"][..],
        &["scheduler"][..],
    ] {
        let out = autorevoke(args);
        expect_exit(&out, 2, "--allow-location <LOCATION>");
    }
    // Nothing listens there: the run fails naming the scheduler.
    let port = free_port();
    let url = format!("df://127.0.0.1:{port}");
    let out = autorevoke(&["score", "sample-logs", "--now", "latest", "--cluster", &url]);
    expect_exit(
        &out,
        1,
        &format!("running the query on the cluster (df://127.0.0.1:{port})"),
    );
}
