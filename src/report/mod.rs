//! Renders a [`ScoreReport`] for people (`table`, `html`) and programs (`csv`, `json`,
//! `parquet`), and the rows of an ad-hoc query.

mod evaluation;
mod explanation;
mod html;
mod kvs_publish;
mod plot;
mod query_result;
mod run_report;
mod session_columns;
mod text_table;
mod viewer_evidence;

pub use evaluation::render_evaluation;
pub use explanation::{render_explain, render_explain_json};
pub use kvs_publish::{kvs_json, render_kvs};
pub use query_result::{QueryFormat, render_batches};
pub use run_report::{
    RunFormat, render_compile, render_init, render_revocations, render_revoke, render_run,
    render_unrevoke,
};
pub use session_columns::{CSV_HEADER, ColumnValue, SESSION_COLUMNS, SessionColumn};

use std::io::{self, Write};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use serde::Serialize;

use crate::cloudfront::{MalformedLine, ObjectFailure, StatsSnapshot};
use crate::score::{ScoreReport, ScoredSession, format_time};

/// Output formats of `score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns and a summary, for people.
    Table,
    /// The CSV contract: a fixed header, one row per session.
    Csv,
    /// One JSON object with the window, parameters, statistics and sessions.
    Json,
    /// The CSV's columns as a Parquet file (needs `--output`), for loading into other tools.
    Parquet,
    /// One self-contained HTML page with plots: the distribution of scores and rates, why
    /// each flagged session was flagged, and what other thresholds would flag.
    Html,
}

impl crate::choice::Choice for Format {
    const CHOICES: &'static [(&'static str, Self, &'static str)] = &[
        (
            "table",
            Format::Table,
            "Aligned columns and a summary, for people.",
        ),
        (
            "csv",
            Format::Csv,
            "The CSV contract: a fixed header, one row per session.",
        ),
        (
            "json",
            Format::Json,
            "One JSON object with the window, parameters, statistics and sessions.",
        ),
        (
            "parquet",
            Format::Parquet,
            "The CSV's columns as a Parquet file (needs `--output`), for loading into other tools.",
        ),
        (
            "html",
            Format::Html,
            "One self-contained HTML page with plots: the distribution of scores and rates, why each flagged session was flagged, and what other thresholds would flag.",
        ),
    ];
}

/// Writes `report` in `format`: the flagged sessions, or every scored one when `all` (the HTML
/// page always plots every scored session and lists the flagged ones).
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
        Format::Table => text_table::render(report, &sessions, all, out),
        Format::Csv => render_csv(&sessions, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &JsonReport::new(report, &sessions))?;
            writeln!(out)
        }
        Format::Parquet => {
            let batch = sessions_batch(&sessions).map_err(io::Error::other)?;
            write_parquet(&batch.schema(), &[batch], out).map_err(io::Error::other)
        }
        Format::Html => html::render(report, out),
    }
}

/// The sessions as one record batch with the CSV's columns (timestamps as UTC timestamps).
pub fn sessions_batch(sessions: &[&ScoredSession]) -> Result<RecordBatch, ArrowError> {
    let (fields, arrays): (Vec<_>, Vec<_>) =
        SESSION_COLUMNS.iter().map(|c| c.arrow(sessions)).unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// Writes batches as one Parquet file (zstd-compressed) to `out`.
pub fn write_parquet(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> Result<(), parquet::errors::ParquetError> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    // The writer wants an owned `Write + Send`; results are small, so buffer them.
    let mut buf = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut buf, Arc::clone(schema), Some(props))?;
    for b in batches {
        writer.write(b)?;
    }
    writer.close()?;
    out.write_all(&buf)?;
    Ok(())
}

/// The `window   FROM .. TO` line that opens the human-readable reports.
fn write_window(window: Option<&crate::score::Window>, out: &mut dyn Write) -> io::Result<()> {
    match window {
        Some(w) => writeln!(
            out,
            "window   {} .. {}",
            format_time(&w.from),
            format_time(&w.to)
        ),
        None => writeln!(out, "window   none"),
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
        w.write_record(SESSION_COLUMNS.iter().map(|c| c.csv(s)))?;
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
    #[serde(skip_serializing_if = "Option::is_none")]
    latest_scan: Option<&'a StatsSnapshot>,
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
                profile: p.profile.name(),
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
            latest_scan: r.latest_scan.as_ref(),
            failed_objects: &r.stats.failures,
            malformed_lines: &r.stats.malformed_samples,
            sessions,
        }
    }
}
