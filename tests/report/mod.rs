//! The HTML report (checked in a real headless Chromium) and what the binary prints on stderr:
//! the progress bar only on a terminal, `-q` and `-v`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// The sample's flagged sessions, by score descending (tests/expected/sample-logs.score.csv).
const FLAGGED: [&str; 5] = [
    "bUFcOJp2iTCS",
    "RJov6Vethz9f",
    "K8SzPaBke9P1",
    "LCl1mGmzLDUQ",
    "j1GsajGC2wKS",
];

fn html_report(dir: &Path) -> (PathBuf, String) {
    let page = dir.join("report.html");
    let out = autorevoke(&[
        "score",
        "sample-logs",
        "--now",
        "latest",
        "--format",
        "html",
        "--output",
        &page.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "the page goes to --output only");
    let html = std::fs::read_to_string(&page).expect("the page was written");
    (page, html)
}

#[test]
fn html_report_is_self_contained_and_carries_the_numbers() {
    let dir = tempdir();
    let (_, html) = html_report(dir.path());
    // Self-contained: nothing is fetched (no src= or href= attributes, no url()).
    for needle in ["src=", "href=", "url(", "@import"] {
        assert!(!html.contains(needle), "the page references {needle}");
    }
    assert_eq!(
        html.matches("<svg ").count(),
        3,
        "two histograms and the bars"
    );
    assert!(html.contains("<b>5</b> of 56 scored sessions flagged (score above 2.2)"));
    assert!(html.contains("<dt>rows</dt><dd>21689 read, 0 malformed"));
    assert!(html.contains("<dt>p50</dt><dd>0.514521 pairs/s</dd>"));
    // The "what if" ladder, counted by hand from tests/expected (all 56 scores):
    // 28 sessions score above 1.0, five above 1.25 .. 2.5, four above 3 and 4, two above 5.
    let what_if: Vec<(String, String)> = html
        .split("<table id=\"what-if\">")
        .nth(1)
        .expect("what-if table")
        .split("<tr")
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("<td>")
                .skip(1)
                .map(|c| c.split('<').next().unwrap_or(""))
                .collect();
            (cells[0].to_string(), cells[1].to_string())
        })
        .collect();
    let expected = [
        ("1", "28"),
        ("1.25", "5"),
        ("1.5", "5"),
        ("2", "5"),
        ("2.2 (in use)", "5"),
        ("2.5", "5"),
        ("3", "4"),
        ("4", "4"),
        ("5", "2"),
        ("7.5", "0"),
        ("10", "0"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(t, n)| (t.to_string(), n.to_string()))
        .collect();
    assert_eq!(what_if, expected);
    // The stacked bar of the top session: its rate component and three penalties.
    assert!(html.contains("<title>bUFcOJp2iTCS: ip_rate = 3.871</title>"));
    assert!(html.contains("<title>bUFcOJp2iTCS: ua_penalty = 1.000</title>"));
    // j1GsajGC2wKS was flagged by rate and IPs alone: no referer or UA segment.
    assert!(!html.contains("<title>j1GsajGC2wKS: referer_penalty"));
    assert!(html.contains("1.8x the median rate, 2 IPs</td>"));
}

/// The python with selenium that scripts/test prepared, or None (and why) when there is none.
fn browser_python() -> Result<PathBuf, String> {
    let python = std::env::var_os("AUTOREVOKE_PYTHON")
        .map(PathBuf::from)
        .ok_or("AUTOREVOKE_PYTHON is not set (scripts/test sets it)")?;
    let env_or = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.into());
    for tool in [
        env_or("AUTOREVOKE_CHROMIUM", "/usr/bin/chromium"),
        env_or("AUTOREVOKE_CHROMEDRIVER", "/usr/bin/chromedriver"),
    ] {
        if !Path::new(&tool).exists() {
            return Err(format!("{tool} is not installed"));
        }
    }
    Ok(python)
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let python = match browser_python() {
        Ok(p) => p,
        Err(why) => {
            skip(&format!("headless Chromium test: {why}"));
            return;
        }
    };
    let dir = tempdir();
    let (page, _) = html_report(dir.path());
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact folder");
    let screenshot = artifacts.join("sample-logs-report.png");
    let out = Command::new(&python)
        .arg(repo().join("tests/browser/check_page.py"))
        .arg(&page)
        .arg(&screenshot)
        .output()
        .expect("python runs");
    if out.status.code() == Some(2) {
        skip(&format!(
            "headless Chromium could not start: {}",
            stderr(&out)
        ));
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON from the page");
    assert_eq!(seen["console_errors"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["flagged"], serde_json::json!(FLAGGED));
    let mut ascending = FLAGGED;
    ascending.reverse();
    assert_eq!(
        seen["sorted_ascending"],
        serde_json::json!(ascending),
        "clicking the score header twice sorts ascending"
    );
    assert_eq!(seen["svg_plots"], 3);
    assert_eq!(seen["bars"], 5, "one stacked bar per flagged session");
    assert_eq!(
        seen["verdict"],
        "5 of 56 scored sessions flagged (score above 2.2)"
    );
    assert_eq!(seen["what_if"][4], serde_json::json!(["2.2 (in use)", "5"]));
    assert!(
        seen["histogram_width"].as_f64().unwrap_or(0.0) > 300.0,
        "{seen}"
    );
    assert_eq!(seen["table_scrolls"], false, "{seen}");
    assert_eq!(seen["table_before_bars"], true, "{seen}");
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    eprintln!("screenshot: {}", screenshot.display());
}

#[test]
fn progress_bar_is_drawn_on_a_terminal_and_absent_otherwise() {
    // Not a terminal (stderr is a pipe here): stderr stays empty.
    let dir = tempdir();
    let csv = dir.path().join("out.csv").display().to_string();
    let args = ["score", "sample-logs", "--now", "latest", "--output", &csv];
    let out = autorevoke(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "",
        "no progress bar when stderr is not a terminal"
    );

    // A terminal: util-linux `script` runs the binary on a pseudo-terminal.
    if !Path::new("/usr/bin/script").exists() {
        skip("the terminal half needs /usr/bin/script (util-linux)");
        return;
    }
    let on_terminal = |extra: &[&str]| {
        let mut cmd = vec![env!("CARGO_BIN_EXE_autorevoke").to_string()];
        cmd.extend(extra.iter().map(|s| s.to_string()));
        cmd.extend(args.iter().map(|s| s.to_string()));
        let out = Command::new("/usr/bin/script")
            .args(["-qfec", &cmd.join(" "), "/dev/null"])
            .current_dir(repo())
            .env("TERM", "xterm")
            .output()
            .expect("script runs");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let drawn = on_terminal(&[]);
    assert!(drawn.contains("reading logs"), "{drawn:?}");
    assert!(
        drawn.contains("\u{1b}[2K"),
        "the bar redraws its line: {drawn:?}"
    );
    let quiet = on_terminal(&["-q"]);
    assert_eq!(quiet, "", "-q draws nothing");
}

#[test]
fn verbose_logs_say_what_the_run_does_and_quiet_says_nothing() {
    let args = [
        "score",
        "sample-logs",
        "--now",
        "latest",
        "--output",
        "/dev/null",
    ];
    let v = autorevoke(&[&["-v"], &args[..]].concat());
    let log = stderr(&v);
    assert_eq!(v.status.code(), Some(0), "{log}");
    // Two scans (`--now latest` finds the newest row first), each listing the six objects.
    assert_eq!(
        log.matches("listed the log objects to read objects=6 bytes=2603922")
            .count(),
        2,
        "{log}"
    );
    assert!(log.contains(
        "scored the sessions of the window from=2026-01-15T19:50:00Z to=2026-01-15T20:00:00Z"
    ));
    assert!(
        log.contains("sessions_in_window=56 sessions_scored=56 flagged=5"),
        "{log}"
    );
    assert!(!log.contains("object read"), "per-object lines need -vv");
    let vv = autorevoke(&[&["-vv"], &args[..]].concat());
    assert_eq!(stderr(&vv).matches("object read object=").count(), 12);

    // -q: partial input still exits 3, but stderr is silent.
    let dir = tempdir();
    let mut text = HEADER_33.to_string();
    text.push_str(&row("abc", 10, "/v/1.ts").line());
    text.push_str("not a log line\n");
    write_gz(&dir.path().join("E1.2026-01-01-00.a.gz"), text.as_bytes());
    let logs = dir.path().display().to_string();
    let loud = autorevoke(&["score", &logs, "--now", "latest"]);
    assert_eq!(loud.status.code(), Some(3));
    assert!(stderr(&loud).contains("partial input: 0 object(s) failed, 1 malformed line(s)"));
    let quiet = autorevoke(&["-q", "score", &logs, "--now", "latest"]);
    assert_eq!(quiet.status.code(), Some(3));
    assert_eq!(stderr(&quiet), "");
    assert_eq!(
        stdout(&quiet),
        stdout(&loud),
        "-q does not change the report"
    );
}

#[test]
fn the_html_report_names_its_input_version_and_time_and_draws_no_empty_plots() {
    let dir = tempdir();
    let (_, html) = html_report(dir.path());
    let sample = std::fs::canonicalize(repo().join("sample-logs")).expect("sample");
    assert!(
        html.contains(&format!(
            "&middot; logs {} &middot; autorevoke {} &middot; made 20",
            sample.display(),
            env!("CARGO_PKG_VERSION")
        )),
        "no provenance line"
    );
    assert!(!html.contains("max-width: 1000px"));
    // An empty window: the reason, and no plot of nothing.
    let page = dir.path().join("empty.html");
    let out = autorevoke(&[
        "score",
        "sample-logs",
        "--now",
        "2020-01-01T00:00:00Z",
        "--allow-empty",
        "-o",
        &page.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let empty = std::fs::read_to_string(&page).expect("page");
    assert!(empty.contains("id=\"no-plots\""), "no note");
    assert_eq!(empty.matches("<svg ").count(), 0);
    assert!(empty.contains("Nothing scored: no rows in the window"));
}
