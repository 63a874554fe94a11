//! Shared helpers: temp dirs, hand-written log rows, and running the built binary.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use autorevoke::cloudfront::ReadOptions;
use autorevoke::{LogEngine, LogLocation};
use flate2::Compression;
use flate2::write::GzEncoder;

/// The 33-field `#Fields` header CloudFront writes since Dec 2019.
pub const HEADER_33: &str = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end\n";

/// A session token path prefix: `/<id>.h.p.s`.
pub fn tok(id: &str) -> String {
    format!("/{id}.eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJ4In0.c2lnbmF0dXJl")
}

/// One request; `row()` gives a 200 of 5000 bytes at 2026-01-01 00:00:00 that callers adjust.
#[derive(Clone, Debug)]
pub struct Row {
    pub time: String,
    pub ip: String,
    pub uri: String,
    pub status: String,
    pub bytes: String,
    pub referer: String,
    pub ua: String,
}

pub fn row(session: &str, second: u32, path: &str) -> Row {
    Row {
        time: at(second),
        ip: "192.0.2.1".into(),
        uri: format!("{}{path}", tok(session)),
        status: "200".into(),
        bytes: "5000".into(),
        referer: "https://www.example.com/watch".into(),
        ua: "Mozilla/5.0%20(X11)".into(),
    }
}

/// `2026-01-01\tHH:MM:SS` for a second offset from midnight.
pub fn at(second: u32) -> String {
    format!(
        "2026-01-01\t{:02}:{:02}:{:02}",
        second / 3600,
        second / 60 % 60,
        second % 60
    )
}

impl Row {
    pub fn ip(mut self, ip: &str) -> Self {
        self.ip = ip.into();
        self
    }
    pub fn status(mut self, s: &str) -> Self {
        self.status = s.into();
        self
    }
    pub fn bytes(mut self, b: &str) -> Self {
        self.bytes = b.into();
        self
    }
    pub fn referer(mut self, r: &str) -> Self {
        self.referer = r.into();
        self
    }
    pub fn ua(mut self, u: &str) -> Self {
        self.ua = u.into();
        self
    }
    pub fn uri(mut self, u: &str) -> Self {
        self.uri = u.into();
        self
    }

    /// The row as a 33-field line.
    pub fn line(&self) -> String {
        format!(
            "{}\tFRA56-P1\t{}\t{}\tGET\td1.cloudfront.net\t{}\t{}\t{}\t{}\t-\t-\tHit\tREQ==\tvideo.example.com\thttps\t300\t0.01\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t50000\t0.005\tHit\tvideo/MP2T\t4650\t-\t-\n",
            self.time, self.bytes, self.ip, self.uri, self.status, self.referer, self.ua
        )
    }
}

/// A fresh temporary folder.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir")
}

/// Writes rows as a gzipped 33-field log file.
pub fn write_log(path: &Path, rows: &[Row]) {
    let mut text = HEADER_33.to_string();
    for r in rows {
        text.push_str(&r.line());
    }
    write_gz(path, text.as_bytes());
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).expect("in-memory write");
    enc.finish().expect("in-memory gzip")
}

pub fn write_gz(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, gz(bytes)).expect("write");
}

/// An engine over these paths.
pub fn engine(paths: &[&Path]) -> LogEngine {
    engine_with(paths, ReadOptions::default())
}

pub fn engine_with(paths: &[&Path], options: ReadOptions) -> LogEngine {
    let locations = paths
        .iter()
        .map(|p| LogLocation::parse(&p.display().to_string()).expect("location exists"))
        .collect();
    LogEngine::new(locations, options, Some(2))
}

/// True under CI (`CI` set and not `false` or `0`), where a test may not skip.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Says why a test is skipped; under CI a skip is a failure (a test that did not run proves
/// nothing, and CI has everything the tests need).
pub fn skip(why: &str) {
    assert!(!under_ci(), "not skipped under CI: {why}");
    eprintln!("skipped: {why}");
}

/// `../shared/samples/cloudfront/<name>`, or None (and a "skipped" line) when absent.
pub fn shared_sample(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/samples/cloudfront")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        skip(&format!("no ../shared ({} missing)", p.display()));
        None
    }
}

/// The names of the bundled `sample-logs/` objects, sorted.
pub fn sample_log_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("sample-logs"))
        .expect("sample-logs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the built `autorevoke` binary.
pub fn autorevoke(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_autorevoke"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `synth --out DIR ARGS...` and checks it succeeded.
pub fn synth_into(dir: &Path, args: &[&str]) {
    let out_dir = dir.display().to_string();
    let out = autorevoke(&[&["synth", "--out", &out_dir][..], args].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Asserts that a run exited with `code` and said `text` on stderr.
pub fn expect_exit(o: &Output, code: i32, text: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", stderr(o));
    assert!(
        stderr(o).contains(text),
        "wanted {text:?} in: {}",
        stderr(o)
    );
}

/// The inflated text of a gzipped file.
pub fn inflated(path: &Path) -> String {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).expect("open"))
        .read_to_string(&mut text)
        .expect("inflate");
    text
}

/// The inflated text of a bundled `sample-logs/` object.
pub fn sample_text(name: &str) -> String {
    inflated(&repo().join("sample-logs").join(name))
}

/// Runs a query and renders the result as CSV text (header included).
pub async fn query_csv(engine: &LogEngine, sql: &str) -> String {
    let out = engine.run(sql, None).await.expect("query runs");
    let mut buf = Vec::new();
    autorevoke::report::render_batches(
        &out.schema,
        &out.batches,
        autorevoke::report::QueryFormat::Csv,
        &mut buf,
    )
    .expect("renders");
    String::from_utf8(buf).expect("utf-8")
}

/// One data row of a W3C log object: its 0-based line number and its fields by W3C name.
pub struct W3cRow {
    pub line: usize,
    pub fields: std::collections::HashMap<String, String>,
}

impl W3cRow {
    /// The field's value, `-` where the row has none.
    pub fn value(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_else(|| "-".into())
    }

    /// The value of real-time field `field` (its W3C name where the two forms differ).
    pub fn realtime_value(&self, field: &str) -> String {
        match field {
            "cs-host" => self.value("cs(Host)"),
            "cs-user-agent" => self.value("cs(User-Agent)"),
            "cs-referer" => self.value("cs(Referer)"),
            "cs-cookie" => self.value("cs(Cookie)"),
            other => self.value(other),
        }
    }

    /// The row's `date` and `time` as epoch seconds.
    pub fn epoch(&self) -> i64 {
        chrono::NaiveDateTime::parse_from_str(
            &format!("{} {}", self.value("date"), self.value("time")),
            "%Y-%m-%d %H:%M:%S",
        )
        .expect("date and time")
        .and_utc()
        .timestamp()
    }
}

/// The data rows of a W3C log object, each under the `#Fields` line before it.
pub fn w3c_rows(w3c: &str) -> Vec<W3cRow> {
    let mut names: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for (line, text) in w3c.lines().enumerate() {
        if let Some(header) = text.strip_prefix("#Fields:") {
            names = header.split_whitespace().map(str::to_string).collect();
            continue;
        }
        if text.starts_with('#') || text.is_empty() {
            continue;
        }
        let fields = names
            .iter()
            .cloned()
            .zip(text.split('\t').map(str::to_string))
            .collect();
        rows.push(W3cRow { line, fields });
    }
    rows
}

/// The rows of a W3C log object as CloudFront real-time records of the fields `fields` (in
/// CloudFront's record order): `timestamp` in epoch seconds with milliseconds, the real-time
/// names of the header fields, and `cs-uri-stem` carrying the query string.
pub fn w3c_to_realtime(w3c: &str, fields: &[&str]) -> String {
    let mut out = String::new();
    for row in w3c_rows(w3c) {
        let n = row.line;
        let record: Vec<String> = fields
            .iter()
            .map(|field| match *field {
                // Milliseconds within the second do not change the row's second.
                "timestamp" => format!("{}.{:03}", row.epoch(), n % 1000),
                // The samples log no query strings: give every third request one, which
                // the standard form would carry in `cs-uri-query` (ignored by scoring).
                "cs-uri-stem" => match row.value("cs-uri-query").as_str() {
                    "-" if n % 3 > 0 => row.value("cs-uri-stem"),
                    "-" => format!("{}?abr={n}", row.value("cs-uri-stem")),
                    query => format!("{}?{query}", row.value("cs-uri-stem")),
                },
                other => row.realtime_value(other),
            })
            .collect();
        out.push_str(&record.join("\t"));
        out.push('\n');
    }
    out
}
