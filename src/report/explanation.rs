//! Renders an [`Explanation`]: the score, each component with its inputs, the session's rows by
//! the rule that dropped them, and its distinct IPs, user agents and referers.

use std::io::{self, Write};

use super::float;
use crate::score::explain::Explanation;
use crate::score::{Profile, format_time};

/// Writes the explanation as one JSON object: the window, p50, threshold, the session's
/// scored fields (or null), its rows by the rule that dropped them, and each distinct IP, user
/// agent and referer with its requests and first/last seen (values as logged).
pub fn render_explain_json(e: &Explanation, out: &mut dyn Write) -> io::Result<()> {
    let r = &e.report;
    let values: Vec<_> = e
        .values
        .iter()
        .map(|v| {
            serde_json::json!({
                "kind": v.kind,
                "value": v.value,
                "requests": v.requests,
                "first_seen": format_time(&v.first_seen),
                "last_seen": format_time(&v.last_seen),
            })
        })
        .collect();
    let rows: serde_json::Map<String, serde_json::Value> = e
        .rows_by_verdict
        .iter()
        .map(|(verdict, n)| (verdict.clone(), serde_json::Value::from(*n)))
        .collect();
    let v = serde_json::json!({
        "session_id": e.session_id,
        "profile": r.params.profile.name(),
        "window": r.window.map(|w| serde_json::json!({
            "from": format_time(&w.from),
            "to": format_time(&w.to),
        })),
        "p50": r.p50,
        "threshold": r.params.threshold,
        "sessions_in_window": r.sessions_in_window,
        "scored": e.scored,
        "flagged": e.session.as_ref().is_some_and(|s| e.scored && s.flagged),
        "session": e.session,
        "rows_by_verdict": rows,
        "values": values,
        "viewers": e.viewers.as_ref().map(super::viewer_evidence::evidence_json),
    });
    serde_json::to_writer_pretty(&mut *out, &v)?;
    writeln!(out)
}

/// Writes the explanation as text.
pub fn render_explain(e: &Explanation, out: &mut dyn Write) -> io::Result<()> {
    let r = &e.report;
    let p = &r.params;
    writeln!(out, "session  {}", e.session_id)?;
    writeln!(out, "profile  {}", p.profile.name())?;
    super::write_window(r.window.as_ref(), out)?;
    let p50 = r.p50.map_or_else(|| "-".to_string(), float);
    writeln!(
        out,
        "p50      {p50} pairs/s over {} session(s) in the window ({} scored)",
        r.sessions_in_window, r.sessions_scored
    )?;
    match (&e.session, e.scored) {
        (Some(s), true) if p.profile == Profile::Viewers => {
            super::viewer_evidence::render_score(s, p, out)?;
        }
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
            let reference = match (p.profile, &s.asset) {
                (Profile::Concurrent, Some(asset)) if Some(s.reference_rate) != r.p50 => {
                    format!("the median of asset {asset} {}", float(s.reference_rate))
                }
                _ => format!("p50 {}", float(s.reference_rate)),
            };
            writeln!(
                out,
                "  ip_rate          {} = w_rate {} * rate {} / {reference}  (rate = {} distinct (IP, URI) pairs / {} s)",
                float(s.ip_rate),
                float(p.weights.rate),
                float(s.rate),
                s.pairs,
                s.duration_s
            )?;
            let (ips, referers, agents) = match p.profile {
                Profile::Upstream => ("distinct IPs", "distinct referers", "distinct user agents"),
                Profile::Viewers => (
                    "networks fetching one object at once",
                    "playback positions at once",
                    "minutes of evidence",
                ),
                Profile::Concurrent => (
                    "networks active at once (IPv6 by /64)",
                    "real referers (`-` not counted)",
                    "agents (a browser and its media stack count once)",
                ),
            };
            for (name, value, weight, evidence, what) in [
                ("ip_penalty", s.ip_penalty, p.weights.ip, s.ip_evidence, ips),
                (
                    "referer_penalty",
                    s.referer_penalty,
                    p.weights.referer,
                    s.referer_evidence,
                    referers,
                ),
                (
                    "ua_penalty",
                    s.ua_penalty,
                    p.weights.ua,
                    s.ua_evidence,
                    agents,
                ),
            ] {
                writeln!(
                    out,
                    "  {name:<16} {}  (weight {}: {evidence} {what}; more than 1 costs the weight)",
                    float(value),
                    float(weight)
                )?;
            }
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
            let value = match kind {
                "ip" => v.value.clone(),
                _ => readable(&v.value),
            };
            writeln!(
                out,
                "  {:>6} requests  {} .. {}  {}",
                v.requests,
                format_time(&v.first_seen),
                format_time(&v.last_seen),
                value
            )?;
        }
    }
    if let Some(evidence) = &e.viewers {
        super::viewer_evidence::render_evidence(evidence, p, out)?;
    }
    Ok(())
}

/// A logged (percent-encoded) value as people read it: decoded, with control characters
/// (a terminal's escape sequences among them) left encoded, since viewers write these.
fn readable(logged: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(logged).decode_utf8_lossy();
    let mut out = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        if c.is_control() {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn logged_values_are_decoded_but_control_characters_stay_encoded() {
        assert_eq!(
            readable("Mozilla/5.0%20(iPhone;%20CPU%20iPhone%20OS%2017_0)"),
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"
        );
        assert_eq!(readable("a%1B%5B31mred%0A"), "a%1B[31mred%0A");
        assert_eq!(readable("caf%C3%A9"), "café");
        assert_eq!(readable("-"), "-");
    }
}
