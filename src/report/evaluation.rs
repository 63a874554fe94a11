//! Renders an [`Evaluation`]: precision, recall, and the false positives by cause.

use std::io::{self, Write};

use crate::score::evaluate::Evaluation;

/// Writes the evaluation as text, or as JSON when `json`.
pub fn render_evaluation(e: &Evaluation, json: bool, out: &mut dyn Write) -> io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, e)?;
        return writeln!(out);
    }
    let ratio = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
    writeln!(out, "profile   {} (threshold {})", e.profile, e.threshold)?;
    writeln!(
        out,
        "sessions  {} in window, {} scored, {} shared (truth)",
        e.sessions_in_window, e.sessions_scored, e.shared_in_window
    )?;
    writeln!(
        out,
        "flagged   {} true positives, {} false positives, {} false negatives",
        e.true_positives, e.false_positives, e.false_negatives
    )?;
    writeln!(out, "precision {}", ratio(e.precision))?;
    writeln!(out, "recall    {}", ratio(e.recall))?;
    if !e.false_positives_by_cause.is_empty() {
        writeln!(out, "false positives by cause:")?;
        for c in &e.false_positives_by_cause {
            writeln!(
                out,
                "  {:>5}  {}  (e.g. {})",
                c.sessions,
                c.cause,
                c.examples.join(", ")
            )?;
        }
    }
    if !e.missed_by_viewers.is_empty() {
        writeln!(out, "missed shared sessions by viewers:")?;
        for (viewers, n) in &e.missed_by_viewers {
            writeln!(out, "  {n:>5}  with {viewers} viewers")?;
        }
    }
    if !e.by_confounder.is_empty() {
        writeln!(
            out,
            "{:<22} {:>8} {:>7} {:>7} {:>7} {:>7} {:>10} {:>7}",
            "by confounder:", "sessions", "shared", "TP", "FP", "FN", "precision", "recall"
        )?;
        for c in &e.by_confounder {
            writeln!(
                out,
                "  {:<20} {:>8} {:>7} {:>7} {:>7} {:>7} {:>10} {:>7}",
                c.confounder,
                c.sessions,
                c.shared,
                c.true_positives,
                c.false_positives,
                c.false_negatives,
                ratio(c.precision),
                ratio(c.recall)
            )?;
        }
    }
    Ok(())
}
