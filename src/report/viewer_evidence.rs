//! `explain` under the `viewers` profile: the score as viewers at once with its evidence
//! minutes, then the positions minute by minute and the objects fetched by several networks.

use std::io::{self, Write};

use crate::score::viewers_evidence::ViewerEvidence;
use crate::score::{ScoreParams, ScoredSession, format_time};

/// Objects listed at most (each with every network that fetched it).
const OBJECTS_SHOWN: usize = 12;

/// The score line and what it counted.
pub(super) fn render_score(
    s: &ScoredSession,
    p: &ScoreParams,
    out: &mut dyn Write,
) -> io::Result<()> {
    let v = &p.viewers;
    let flag = if s.flagged { "flagged" } else { "not flagged" };
    writeln!(
        out,
        "score    {} viewer(s) at once: {flag} ({} minute(s) showed {} or more viewers; --min-evidence-minutes {})",
        s.score, s.ua_evidence, v.min_viewers, v.min_evidence_minutes
    )?;
    writeln!(
        out,
        "  networks fetching one object within {0} s and fetching on for {0} s: {1} at most (in a minute with {2} or more such objects)",
        v.co_fetch_seconds, s.ip_evidence, v.min_cofetched_objects
    )?;
    writeln!(
        out,
        "  playback positions at once: {} at most (a folder stepping back twice in a minute by more than {} segments)",
        s.referer_evidence, v.max_segment_skip
    )
}

/// The positions and co-fetched objects.
pub(super) fn render_evidence(
    e: &ViewerEvidence,
    p: &ScoreParams,
    out: &mut dyn Write,
) -> io::Result<()> {
    match e.country_minutes {
        Some(n) => writeln!(
            out,
            "countries: {n} minute(s) with {} or more objects fetched at once from two or more countries (--min-country-minutes {})",
            p.viewers.min_cofetched_objects, p.viewers.min_country_minutes
        )?,
        None => writeln!(out, "countries: not in these logs (no c-country)")?,
    }
    writeln!(
        out,
        "positions by minute (runs of segment numbers per folder):"
    )?;
    if e.positions.is_empty() {
        writeln!(out, "  none")?;
    }
    let mut minute = None;
    for p in &e.positions {
        if minute != Some(p.minute) {
            minute = Some(p.minute);
            writeln!(
                out,
                "  minute {}: {} position(s) at once, {} network(s) fetching one object",
                format_time(&p.minute),
                p.positions,
                p.networks_at_once
            )?;
        }
        writeln!(
            out,
            "    {}  segments {}..{}  {} .. {}  {} fetches  {} runs, {} steps back  from {}",
            p.folder,
            p.seg_from,
            p.seg_to,
            format_time(&p.first),
            format_time(&p.last),
            p.fetches,
            p.runs,
            p.back_steps,
            p.networks
        )?;
    }
    let mut objects: Vec<&str> = e.objects.iter().map(|o| o.object.as_str()).collect();
    objects.dedup();
    writeln!(
        out,
        "objects fetched by more than one network at once ({}):",
        objects.len()
    )?;
    for object in objects.iter().take(OBJECTS_SHOWN) {
        let by: Vec<String> = e
            .objects
            .iter()
            .filter(|o| o.object == *object)
            .map(|o| match &o.country {
                Some(c) => format!("{} ({c}) at {}", o.network, format_time(&o.first)),
                None => format!("{} at {}", o.network, format_time(&o.first)),
            })
            .collect();
        writeln!(out, "  {object}  {}", by.join(", "))?;
    }
    if objects.len() > OBJECTS_SHOWN {
        writeln!(out, "  ... and {} more", objects.len() - OBJECTS_SHOWN)?;
    }
    Ok(())
}

/// The evidence as JSON.
pub(super) fn evidence_json(e: &ViewerEvidence) -> serde_json::Value {
    let positions: Vec<_> = e
        .positions
        .iter()
        .map(|p| {
            serde_json::json!({
                "minute": format_time(&p.minute),
                "folder": p.folder,
                "seg_from": p.seg_from,
                "seg_to": p.seg_to,
                "first": format_time(&p.first),
                "last": format_time(&p.last),
                "fetches": p.fetches,
                "networks": p.networks,
                "runs": p.runs,
                "back_steps": p.back_steps,
                "positions": p.positions,
                "networks_at_once": p.networks_at_once,
            })
        })
        .collect();
    let objects: Vec<_> = e
        .objects
        .iter()
        .map(|o| {
            serde_json::json!({
                "minute": format_time(&o.minute),
                "object": o.object,
                "network": o.network,
                "first": format_time(&o.first),
                "fetches": o.fetches,
                "country": o.country,
            })
        })
        .collect();
    serde_json::json!({
        "positions": positions,
        "cofetched_objects": objects,
        "country_minutes": e.country_minutes,
    })
}
