//! The HTML scoring report: one self-contained page (inline CSS, inline SVG, a few lines of
//! plain JavaScript to sort the table) that shows how scores are distributed, where the
//! threshold cuts, and why each flagged session was flagged. It fetches nothing.

use std::io::{self, Write};

use super::plot::{self, Bins, StackedBar, escape};
use crate::score::{ScoreReport, ScoredSession, format_time};

/// Histogram bins per plot.
const BINS: usize = 40;
/// Flagged sessions drawn as stacked bars (the table lists all of them).
const MAX_BARS: usize = 200;
/// Thresholds of the "what if" table, besides the one in use.
const WHAT_IF: [f64; 10] = [1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0];

/// Names of the score components, in the order of the stacked bars.
const COMPONENTS: [&str; 4] = ["ip_rate", "ip_penalty", "referer_penalty", "ua_penalty"];

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1800px; color: #1d2430; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 32px; border-bottom: 1px solid #dde2ea; padding-bottom: 4px; }
.verdict { font-size: 18px; margin: 8px 0 16px; }
.verdict b { color: #b42318; }
.note { color: #5b6575; }
.warn { background: #fff4e5; border-left: 4px solid #f79009; padding: 6px 10px; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.summary dt { color: #5b6575; }
dl.summary dd { margin: 0; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 3px 7px; text-align: right; border-bottom: 1px solid #eef0f4; white-space: nowrap; }
th { background: #f4f6f9; }
td.id, th.id, td.why { text-align: left; font-family: ui-monospace, monospace; }
td.why { font-family: inherit; white-space: normal; min-width: 200px; }
div.scroll { overflow-x: auto; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[data-dir="asc"]::after { content: " \25B2"; }
table.sortable th[data-dir="desc"]::after { content: " \25BC"; }
tr.current td { font-weight: 600; background: #fef3f2; }
svg.plot { display: block; margin: 8px 0; max-width: 100%; height: auto; }
svg .grid { stroke: #e6e9ef; }
svg .axis { stroke: #8a93a3; }
svg .tick, svg .axis-label, svg .bar-label { font: 11px system-ui, sans-serif; fill: #4a5363; }
svg .bar-label { font-family: ui-monospace, monospace; }
svg .bar.below { fill: #7b93b8; }
svg .bar.above { fill: #d92d20; }
svg .marker { stroke: #b42318; stroke-width: 2; stroke-dasharray: 6 4; }
svg .marker-label { font: 600 12px system-ui, sans-serif; fill: #b42318; }
svg .seg0, .key.seg0 { fill: #2e6fd8; background: #2e6fd8; }
svg .seg1, .key.seg1 { fill: #f79009; background: #f79009; }
svg .seg2, .key.seg2 { fill: #12b76a; background: #12b76a; }
svg .seg3, .key.seg3 { fill: #9e77ed; background: #9e77ed; }
"#;

/// Sorts a `table.sortable` by the clicked column (numbers by `data-v`), toggling direction.
const SORT_SCRIPT: &str = r#"
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener("click", function () {
      var dir = th.getAttribute("data-dir") === "desc" ? "asc" : "desc";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("data-dir"); });
      th.setAttribute("data-dir", dir);
      var numeric = th.getAttribute("data-type") === "num";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col], c;
        if (numeric) {
          c = parseFloat(x.getAttribute("data-v")) - parseFloat(y.getAttribute("data-v"));
        } else {
          c = x.textContent < y.textContent ? -1 : x.textContent > y.textContent ? 1 : 0;
        }
        return dir === "asc" ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"#;

/// Writes the report page.
pub(super) fn render(r: &ScoreReport, out: &mut dyn Write) -> io::Result<()> {
    let flagged: Vec<&ScoredSession> = r.flagged_sessions().collect();
    let threshold = r.params.threshold;
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>autorevoke scoring report</title>\n<style>{STYLE}</style>\n</head>\n<body>"
    )?;
    writeln!(out, "<h1>autorevoke scoring report</h1>")?;
    let window = r.window.map_or_else(
        || "none (the logs hold no rows)".to_string(),
        |w| format!("{} to {}", format_time(&w.from), format_time(&w.to)),
    );
    writeln!(
        out,
        "<p class=\"note\" id=\"provenance\">window {} &middot; logs {} &middot; autorevoke {} \
         &middot; made {}</p>",
        escape(&window),
        escape(&r.locations),
        env!("CARGO_PKG_VERSION"),
        format_time(&chrono::Utc::now())
    )?;
    match &r.not_scored_reason {
        Some(reason) => writeln!(
            out,
            "<p class=\"verdict warn\" id=\"verdict\">Nothing scored: {}</p>",
            escape(reason)
        )?,
        None => writeln!(
            out,
            "<p class=\"verdict\" id=\"verdict\"><b>{}</b> of {} scored sessions flagged \
             (score above {})</p>",
            r.flagged, r.sessions_scored, threshold
        )?,
    }
    summary(r, out)?;

    if r.sessions_scored == 0 {
        writeln!(
            out,
            "<p class=\"note\" id=\"no-plots\">No session was scored, so there is nothing to \
             plot.</p>"
        )?;
    } else {
        distributions(r, threshold, out)?;
    }

    writeln!(out, "<h2>Why each flagged session was flagged</h2>")?;
    if flagged.is_empty() {
        writeln!(out, "<p>No session scored above the threshold.</p>")?;
    } else {
        if flagged.len() > MAX_BARS {
            writeln!(
                out,
                "<p class=\"note\">The {MAX_BARS} highest of {} flagged sessions are drawn; the \
                 table lists all.</p>",
                flagged.len()
            )?;
        }
        let bars: Vec<StackedBar<'_>> = flagged
            .iter()
            .take(MAX_BARS)
            .map(|s| StackedBar {
                label: s.session_id.as_str(),
                values: [s.ip_rate, s.ip_penalty, s.referer_penalty, s.ua_penalty],
            })
            .collect();
        // The table first: with many flagged sessions the bars run long.
        flagged_table(r, &flagged, out)?;
        writeln!(
            out,
            "{}",
            plot::stacked_bars(
                "flagged-bars",
                &bars,
                COMPONENTS,
                threshold,
                &format!("threshold {threshold}"),
            )
        )?;
    }

    what_if(r, out)?;
    failures(r, out)?;
    writeln!(out, "<script>{SORT_SCRIPT}</script>\n</body>\n</html>")
}

/// The two histograms: scores against the threshold, rates against the median.
fn distributions(r: &ScoreReport, threshold: f64, out: &mut dyn Write) -> io::Result<()> {
    let scores: Vec<f64> = r.sessions.iter().map(|s| s.score).collect();
    writeln!(out, "<h2>How the scores are distributed</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">Each bar counts sessions; red bars reach past the threshold.</p>"
    )?;
    let bins = Bins::new(&scores, threshold, BINS);
    writeln!(
        out,
        "{}",
        plot::histogram(
            "score-histogram",
            &bins,
            Some(threshold),
            threshold,
            &format!("threshold {threshold}"),
            "score",
        )
    )?;

    writeln!(
        out,
        "<h2>Request rates, relative to the median session</h2>"
    )?;
    writeln!(
        out,
        "<p class=\"note\">Distinct (IP, URI) pairs per second divided by the p50 of all \
         sessions: an ordinary viewer sits near 1.0, a shared session at a multiple of it.</p>"
    )?;
    let rates: Vec<f64> = match r.p50 {
        Some(p50) if p50 > 0.0 => r.sessions.iter().map(|s| s.rate / p50).collect(),
        _ => Vec::new(),
    };
    let bins = Bins::new(&rates, 1.0, BINS);
    writeln!(
        out,
        "{}",
        plot::histogram(
            "rate-histogram",
            &bins,
            None,
            1.0,
            "p50 = 1.0",
            "rate / p50"
        )
    )?;
    Ok(())
}

/// The run summary: what was read, what was scored, with which parameters.
fn summary(r: &ScoreReport, out: &mut dyn Write) -> io::Result<()> {
    let s = &r.stats;
    let p = &r.params;
    let p50 = r
        .p50
        .map_or_else(|| "none".to_string(), |v| format!("{v:.6} pairs/s"));
    let rows: [(&str, String); 8] = [
        (
            "objects",
            format!(
                "{} read of {} listed, {} failed ({} bytes fetched)",
                s.objects_read, s.objects_listed, s.objects_failed, s.bytes_read
            ),
        ),
        (
            "rows",
            format!(
                "{} read, {} malformed, {} without a session token, {} with an invalid session id",
                s.rows_read, s.rows_malformed, s.rows_without_session, s.rows_rejected_session
            ),
        ),
        (
            "in scope",
            format!(
                "{} rows (status 200/206, over 1 KiB, in the window)",
                s.rows_in_scope
            ),
        ),
        (
            "sessions",
            format!(
                "{} in the window, {} scored",
                r.sessions_in_window, r.sessions_scored
            ),
        ),
        ("p50", p50),
        (
            "flagged",
            format!("{} (score > {})", r.flagged, p.threshold),
        ),
        (
            "parameters",
            format!(
                "profile {}, threshold {}, min sessions {}, min duration {} s",
                p.profile.name(),
                p.threshold,
                p.min_sessions,
                p.min_duration
            ),
        ),
        (
            "weights",
            format!(
                "rate {}, ip {}, referer {}, user agent {}",
                p.weights.rate, p.weights.ip, p.weights.referer, p.weights.ua
            ),
        ),
    ];
    writeln!(out, "<dl class=\"summary\" id=\"summary\">")?;
    for (k, v) in rows {
        writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v))?;
    }
    writeln!(out, "</dl>")
}

/// The flagged sessions, sortable by any column.
fn flagged_table(
    r: &ScoreReport,
    flagged: &[&ScoredSession],
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "<div class=\"scroll\"><table class=\"sortable\" id=\"flagged\">\n<thead><tr>\
         <th class=\"id\">session_id</th><th data-type=\"num\">score</th>\
         <th data-type=\"num\" title=\"ip_rate\">rate</th>\
         <th data-type=\"num\" title=\"ip_penalty\">IP pen.</th>\
         <th data-type=\"num\" title=\"referer_penalty\">referer pen.</th>\
         <th data-type=\"num\" title=\"ua_penalty\">UA pen.</th>\
         <th data-type=\"num\">pairs</th><th data-type=\"num\">IPs</th>\
         <th data-type=\"num\">UAs</th><th data-type=\"num\">referers</th>\
         <th>seen (UTC)</th><th class=\"id\">why</th></tr></thead>\n<tbody>"
    )?;
    for s in flagged {
        let num = |v: f64| format!("<td data-v=\"{v:?}\">{v:.3}</td>");
        let count = |v: u64| format!("<td data-v=\"{v}\">{v}</td>");
        writeln!(
            out,
            "<tr><td class=\"id\">{}</td>{}{}{}{}{}{}{}{}{}<td title=\"{} to {}\">{}</td><td class=\"why\">{}</td></tr>",
            escape(s.session_id.as_str()),
            num(s.score),
            num(s.ip_rate),
            num(s.ip_penalty),
            num(s.referer_penalty),
            num(s.ua_penalty),
            count(s.pairs),
            count(s.distinct_ips),
            count(s.distinct_user_agents),
            count(s.distinct_referers),
            format_time(&s.first_seen),
            format_time(&s.last_seen),
            seen(s),
            escape(&why(r, s)),
        )?;
    }
    writeln!(out, "</tbody></table></div>")
}

/// First and last request as times of day (the cell's title has the full times).
fn seen(s: &ScoredSession) -> String {
    format!(
        "{}\u{2013}{}",
        s.first_seen.format("%H:%M:%S"),
        s.last_seen.format("%H:%M:%S")
    )
}

/// One sentence naming what raised a session's score.
fn why(r: &ScoreReport, s: &ScoredSession) -> String {
    let mut parts = Vec::new();
    if let Some(p50) = r.p50.filter(|p| *p > 0.0) {
        parts.push(format!("{:.1}x the median rate", s.rate / p50));
    }
    if s.ip_penalty > 0.0 {
        parts.push(format!("{} IPs", s.distinct_ips));
    }
    if s.referer_penalty > 0.0 {
        parts.push(format!("{} referers", s.distinct_referers));
    }
    if s.ua_penalty > 0.0 {
        parts.push(format!("{} user agents", s.distinct_user_agents));
    }
    parts.join(", ")
}

/// Sessions that would be flagged at other thresholds: the one in use and a fixed ladder.
pub(super) fn what_if_counts(r: &ScoreReport) -> Vec<(f64, u64)> {
    let mut thresholds: Vec<f64> = WHAT_IF.to_vec();
    thresholds.push(r.params.threshold);
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    thresholds
        .into_iter()
        .map(|t| (t, r.sessions.iter().filter(|s| s.score > t).count() as u64))
        .collect()
}

fn what_if(r: &ScoreReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "<h2>What if the threshold were different</h2>")?;
    writeln!(
        out,
        "<table id=\"what-if\"><thead><tr><th>threshold</th><th>flagged</th>\
         <th>share of scored</th></tr></thead><tbody>"
    )?;
    for (t, n) in what_if_counts(r) {
        let current = t == r.params.threshold;
        let share = if r.sessions_scored > 0 {
            format!("{:.1}%", 100.0 * n as f64 / r.sessions_scored as f64)
        } else {
            "-".to_string()
        };
        writeln!(
            out,
            "<tr{}><td>{t}{}</td><td>{n}</td><td>{share}</td></tr>",
            if current { " class=\"current\"" } else { "" },
            if current { " (in use)" } else { "" },
        )?;
    }
    writeln!(out, "</tbody></table>")
}

/// Objects that failed and a sample of malformed lines, when there are any.
fn failures(r: &ScoreReport, out: &mut dyn Write) -> io::Result<()> {
    let s = &r.stats;
    if s.failures.is_empty() && s.malformed_samples.is_empty() {
        return Ok(());
    }
    writeln!(out, "<h2>Input that was lost</h2><ul class=\"warn\">")?;
    for f in &s.failures {
        writeln!(out, "<li>{}: {}</li>", escape(&f.object), escape(&f.reason))?;
    }
    for m in &s.malformed_samples {
        writeln!(
            out,
            "<li>{}: line {}: {}</li>",
            escape(&m.object),
            m.line,
            escape(&m.reason)
        )?;
    }
    writeln!(out, "</ul>")
}
