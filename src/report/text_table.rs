//! The human-readable report: a summary, then aligned columns.

use std::io::{self, Write};

use super::SESSION_COLUMNS;
use crate::score::{ScoreReport, ScoredSession};

pub(super) fn render(
    r: &ScoreReport,
    sessions: &[&ScoredSession],
    all: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    super::write_window(r.window.as_ref(), out)?;
    let s = &r.stats;
    let from_state = match (s.objects_from_state, s.objects_outside_window) {
        (0, _) => String::new(),
        (n, 0) => format!(", {n} from the state"),
        (n, k) => format!(", {n} from the state, {k} of them outside the window"),
    };
    writeln!(
        out,
        "read     {} of {} objects ({} failed{from_state}), {} bytes, {} rows ({} malformed), {} \
         in scope",
        s.objects_read,
        s.objects_listed,
        s.objects_failed,
        s.bytes_read,
        s.rows_read,
        s.rows_malformed,
        s.rows_in_scope
    )?;
    let p50 = r
        .p50
        .map_or_else(|| "-".to_string(), |v| format!("{v:.6} pairs/s"));
    writeln!(
        out,
        "sessions {} in window, {} scored, p50 {p50}, {} flagged (score > {})",
        r.sessions_in_window, r.sessions_scored, r.flagged, r.params.threshold
    )?;
    if let Some(reason) = &r.not_scored_reason {
        writeln!(out, "nothing scored: {reason}")?;
        return Ok(());
    }
    if sessions.is_empty() {
        writeln!(out, "no session scored above the threshold")?;
        return Ok(());
    }
    writeln!(out)?;
    let header: Vec<&str> = SESSION_COLUMNS
        .iter()
        .map(|c| c.heading)
        .chain(all.then_some("FLAGGED"))
        .collect();
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            SESSION_COLUMNS
                .iter()
                .map(|c| c.text(s))
                .chain(all.then(|| if s.flagged { "yes" } else { "" }.to_string()))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let head: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    writeln!(out, "{}", line(&head))?;
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}
