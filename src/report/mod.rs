//! Renders a [`ScoreReport`] for people (`table`) and programs (`csv`, `json`), and the rows
//! of an ad-hoc query.

mod job;
mod query;
mod table;

pub use job::{render_compile, render_init, render_revoke, render_run};
pub use query::{QueryFormat, render_batches};

use std::io::{self, Write};

use serde::Serialize;

use crate::cloudfront::{MalformedLine, ObjectFailure, StatsSnapshot};
use crate::score::{ScoreReport, ScoredSession, format_time};

/// Output formats of `score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns and a summary, for people.
    Table,
    /// The CSV contract: a fixed header, one row per session.
    Csv,
    /// One JSON object with the window, parameters, statistics and sessions.
    Json,
}

/// The CSV header of `score --format csv` (a contract: do not reorder).
pub const CSV_HEADER: [&str; 12] = [
    "session_id",
    "score",
    "ip_rate",
    "ip_penalty",
    "referer_penalty",
    "ua_penalty",
    "pairs",
    "distinct_ips",
    "distinct_user_agents",
    "distinct_referers",
    "first_seen",
    "last_seen",
];

/// Writes `report` in `format`: the flagged sessions, or every scored one when `all`.
pub fn render(
    report: &ScoreReport,
    format: Format,
    all: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let sessions: Vec<&ScoredSession> = report
        .sessions
        .iter()
        .filter(|s| all || s.flagged)
        .collect();
    match format {
        Format::Table => table::render(report, &sessions, all, out),
        Format::Csv => render_csv(&sessions, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &JsonReport::new(report, &sessions))?;
            writeln!(out)
        }
    }
}

/// A float as Rust's shortest round-trip text (`1.0`, `0.1`, `2.2000000000000006`).
pub fn float(v: f64) -> String {
    format!("{v:?}")
}

fn render_csv(sessions: &[&ScoredSession], out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    for s in sessions {
        w.write_record([
            s.session_id.clone(),
            float(s.score),
            float(s.ip_rate),
            float(s.ip_penalty),
            float(s.referer_penalty),
            float(s.ua_penalty),
            s.pairs.to_string(),
            s.distinct_ips.to_string(),
            s.distinct_user_agents.to_string(),
            s.distinct_referers.to_string(),
            format_time(&s.first_seen),
            format_time(&s.last_seen),
        ])?;
    }
    w.flush()
}

#[derive(Serialize)]
struct JsonReport<'a> {
    window: Option<JsonWindow>,
    params: JsonParams,
    p50: Option<f64>,
    sessions_in_window: u64,
    sessions_scored: u64,
    flagged: u64,
    not_scored_reason: Option<&'a str>,
    stats: &'a StatsSnapshot,
    failed_objects: &'a [ObjectFailure],
    malformed_lines: &'a [MalformedLine],
    sessions: &'a [&'a ScoredSession],
}

#[derive(Serialize)]
struct JsonWindow {
    from: String,
    to: String,
}

#[derive(Serialize)]
struct JsonParams {
    profile: &'static str,
    threshold: f64,
    min_sessions: u64,
    min_duration: u64,
    weight_rate: f64,
    weight_ip: f64,
    weight_referer: f64,
    weight_ua: f64,
}

impl<'a> JsonReport<'a> {
    fn new(r: &'a ScoreReport, sessions: &'a [&'a ScoredSession]) -> Self {
        let p = &r.params;
        JsonReport {
            window: r.window.map(|w| JsonWindow {
                from: format_time(&w.from),
                to: format_time(&w.to),
            }),
            params: JsonParams {
                profile: "upstream",
                threshold: p.threshold,
                min_sessions: p.min_sessions,
                min_duration: p.min_duration,
                weight_rate: p.weights.rate,
                weight_ip: p.weights.ip,
                weight_referer: p.weights.referer,
                weight_ua: p.weights.ua,
            },
            p50: r.p50,
            sessions_in_window: r.sessions_in_window,
            sessions_scored: r.sessions_scored,
            flagged: r.flagged,
            not_scored_reason: r.not_scored_reason.as_deref(),
            stats: &r.stats,
            failed_objects: &r.stats.failures,
            malformed_lines: &r.stats.malformed_samples,
            sessions,
        }
    }
}
