//! Renders an [`Explanation`]: the score, each component with its inputs, the session's rows by
//! the rule that dropped them, and its distinct IPs, user agents and referers.

use std::io::{self, Write};

use super::float;
use crate::explain::Explanation;
use crate::score::format_time;

/// Writes the explanation as text.
pub fn render_explain(e: &Explanation, out: &mut dyn Write) -> io::Result<()> {
    let r = &e.report;
    let p = &r.params;
    writeln!(out, "session  {}", e.session_id)?;
    super::write_window(r.window.as_ref(), out)?;
    let p50 = r.p50.map_or_else(|| "-".to_string(), float);
    writeln!(
        out,
        "p50      {p50} pairs/s over {} session(s) in the window ({} scored)",
        r.sessions_in_window, r.sessions_scored
    )?;
    match (&e.session, e.scored) {
        (Some(s), true) => {
            let verdict = if s.flagged {
                "> threshold"
            } else {
                "<= threshold"
            };
            let flag = if s.flagged { "flagged" } else { "not flagged" };
            writeln!(
                out,
                "score    {} {verdict} {}: {flag}",
                float(s.score),
                p.threshold
            )?;
            writeln!(
                out,
                "  ip_rate          {} = w_rate {} * rate {} / p50 {p50}  (rate = {} distinct (IP, URI) pairs / {} s)",
                float(s.ip_rate),
                float(p.weights.rate),
                float(s.rate),
                s.pairs,
                s.duration_s
            )?;
            let penalty = |name: &str, v: f64, w: f64, n: u64, what: &str| {
                format!(
                    "  {name:<16} {}  (weight {}: {n} distinct {what}; more than 1 costs the weight)",
                    float(v),
                    float(w)
                )
            };
            writeln!(
                out,
                "{}",
                penalty(
                    "ip_penalty",
                    s.ip_penalty,
                    p.weights.ip,
                    s.distinct_ips,
                    "IPs"
                )
            )?;
            writeln!(
                out,
                "{}",
                penalty(
                    "referer_penalty",
                    s.referer_penalty,
                    p.weights.referer,
                    s.distinct_referers,
                    "referers"
                )
            )?;
            writeln!(
                out,
                "{}",
                penalty(
                    "ua_penalty",
                    s.ua_penalty,
                    p.weights.ua,
                    s.distinct_user_agents,
                    "user agents"
                )
            )?;
        }
        (Some(s), false) => {
            let why = if r.sessions_in_window < p.min_sessions {
                format!(
                    "only {} session(s) in the window, fewer than --min-sessions {}",
                    r.sessions_in_window, p.min_sessions
                )
            } else if s.duration_s == 0 {
                "its counted requests all fall in one second (duration 0)".to_string()
            } else {
                format!(
                    "it lasted {} s, less than --min-duration {}",
                    s.duration_s, p.min_duration
                )
            };
            writeln!(out, "score    none: {why}")?;
            writeln!(
                out,
                "  {} distinct (IP, URI) pairs, {} s",
                s.pairs, s.duration_s
            )?;
        }
        (None, _) => writeln!(
            out,
            "score    none: no counted request of this session in the window"
        )?,
    }
    writeln!(out, "rows of this session in the logs:")?;
    if e.rows_by_verdict.is_empty() {
        writeln!(out, "  none")?;
    }
    for (verdict, rows) in &e.rows_by_verdict {
        writeln!(out, "  {verdict:<20} {rows}")?;
    }
    for (kind, title) in [
        ("ip", "IPs"),
        ("user_agent", "user agents"),
        ("referer", "referers"),
    ] {
        let values: Vec<_> = e.values.iter().filter(|v| v.kind == kind).collect();
        writeln!(out, "{title} ({}):", values.len())?;
        for v in values {
            writeln!(
                out,
                "  {:>6} requests  {} .. {}  {}",
                v.requests,
                format_time(&v.first_seen),
                format_time(&v.last_seen),
                v.value
            )?;
        }
    }
    Ok(())
}
