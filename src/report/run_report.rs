//! Renders what `run`, `revoke`, `waf compile` and `init` did.

use std::io::{self, Write};

use serde_json::json;

use super::{Format, render};
use crate::init::InitReport;
use crate::revocation::{AllowItem, ListedItem, ManualItem};
use crate::run::RunReport;
use crate::session::SessionId;
use crate::waf::CompileReport;

/// Output formats of `run` (a report for people, or JSON for the job's log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFormat {
    /// The scoring, then what was written and compiled.
    Table,
    /// One JSON object with the same.
    Json,
}

impl crate::choice::Choice for RunFormat {
    const CHOICES: &'static [(&'static str, Self, &'static str)] = &[
        (
            "table",
            RunFormat::Table,
            "The scoring, then what was written and compiled.",
        ),
        ("json", RunFormat::Json, "One JSON object with the same."),
    ];
}

/// An epoch time as people read it (RFC 3339, UTC), or the number when out of range.
fn when(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .map_or_else(|| epoch.to_string(), |t| crate::score::format_time(&t))
}

/// Writes a run's report: the scoring, then the writes (or, in a dry run, the items that would
/// be written) and the compile.
pub fn render_run(r: &RunReport, format: RunFormat, out: &mut dyn Write) -> io::Result<()> {
    if format == RunFormat::Json {
        let mut score = Vec::new();
        render(&r.score, Format::Json, false, &mut score)?;
        let score: serde_json::Value = serde_json::from_slice(&score).map_err(io::Error::other)?;
        let items: Vec<_> = r
            .items
            .iter()
            .map(|i| json!({"session_id": i.session_id, "score": i.score, "ttl": i.ttl}))
            .collect();
        let v = json!({
            "score": score,
            "dry_run": r.write.is_none() && r.breaker.is_none() && r.partial.is_none(),
            "items": items,
            "rejected": r.rejected,
            "over_limit": r.over_limit,
            "breaker": r.breaker,
            "partial": r.partial,
            "written": r.write.as_ref().map(|w| &w.written),
            "kept_manual": r.write.as_ref().map(|w| &w.kept_manual),
            "allowed": r.write.as_ref().map(|w| &w.allowed),
            "write_retries": r.write.as_ref().map(|w| w.retries),
            "compile": r.compile.as_ref().map(compile_json),
            "kvs": r.kvs.as_ref().map(super::kvs_publish::kvs_json),
        });
        serde_json::to_writer_pretty(&mut *out, &v)?;
        return writeln!(out);
    }
    render(&r.score, Format::Table, false, out)?;
    writeln!(out)?;
    for reason in &r.rejected {
        writeln!(out, "not written: {reason}")?;
    }
    if !r.over_limit.is_empty() {
        writeln!(
            out,
            "not written, over --max-revocations ({}): {}",
            r.over_limit.len(),
            r.over_limit
                .iter()
                .map(SessionId::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        )?;
    }
    if let Some(reason) = &r.breaker {
        writeln!(out, "circuit breaker: {reason}")?;
    }
    if let Some(reason) = &r.partial {
        writeln!(out, "partial input: {reason}")?;
    }
    match &r.write {
        None if r.breaker.is_some() || r.partial.is_some() => {}
        None => {
            writeln!(out, "dry run: would write {} AUTO item(s):", r.items.len())?;
            for i in &r.items {
                writeln!(
                    out,
                    "  {} score {} expires {}",
                    i.session_id,
                    i.score,
                    when(i.ttl)
                )?;
            }
        }
        Some(w) => {
            writeln!(
                out,
                "wrote {} AUTO item(s); {} session(s) kept their MANUAL item (refreshed); {} retried write(s)",
                w.written.len(),
                w.kept_manual.len(),
                w.retries
            )?;
            for id in &w.allowed {
                writeln!(out, "  left alone, allowed by an operator (unrevoke): {id}")?;
            }
            for id in &w.kept_manual {
                writeln!(out, "  kept MANUAL: {id}")?;
            }
        }
    }
    if let Some(c) = &r.compile {
        writeln!(out)?;
        render_compile(c, out)?;
    }
    if let Some(k) = &r.kvs {
        writeln!(out)?;
        super::kvs_publish::render_kvs(k, out)?;
    }
    Ok(())
}

fn compile_json(c: &CompileReport) -> serde_json::Value {
    json!({
        "dry_run": c.dry_run,
        "updated": c.outcome.updated,
        "rules": c.compiled.rules.iter().map(|r| json!({
            "priority": r.priority, "name": r.name, "session_id": r.session_id,
            "search_string": r.search_string,
        })).collect::<Vec<_>>(),
        "added": c.outcome.diff.added,
        "removed": c.outcome.diff.removed,
        "kept": c.outcome.diff.kept,
        "did_not_fit": c.compiled.overflow.iter().map(|i| &i.session_id).collect::<Vec<_>>(),
        "expired": c.compiled.expired,
        "rejected": c.compiled.rejected,
        "lock_retries": c.outcome.lock_retries,
    })
}

/// Writes a compile's rules, diff and what did not fit.
pub fn render_compile(c: &CompileReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "rules ({}):", c.compiled.rules.len())?;
    for r in &c.compiled.rules {
        writeln!(
            out,
            "  {:>3}  {}  block uri_path starts_with {:?}",
            r.priority, r.name, r.search_string
        )?;
    }
    let d = &c.outcome.diff;
    writeln!(out, "added   ({}): {}", d.added.len(), d.added.join(" "))?;
    writeln!(
        out,
        "removed ({}): {}",
        d.removed.len(),
        d.removed.join(" ")
    )?;
    writeln!(out, "kept    ({}): {}", d.kept.len(), d.kept.join(" "))?;
    if !c.compiled.overflow.is_empty() {
        let ids: Vec<&str> = c
            .compiled
            .overflow
            .iter()
            .map(|i| i.session_id.as_str())
            .collect();
        writeln!(
            out,
            "did not fit the capacity ({}): {}",
            ids.len(),
            ids.join(" ")
        )?;
    }
    if !c.compiled.rejected.is_empty() {
        writeln!(
            out,
            "invalid session ids, never compiled: {:?}",
            c.compiled.rejected
        )?;
    }
    if c.outcome.lock_retries > 0 {
        writeln!(out, "lock conflicts retried: {}", c.outcome.lock_retries)?;
    }
    let verdict = if c.dry_run {
        "dry run: the rule group was not changed"
    } else if c.outcome.updated {
        "the rule group was updated"
    } else {
        "the rule group already holds these rules: not updated"
    };
    writeln!(out, "{verdict}")
}

/// Writes what `unrevoke` did.
pub fn render_unrevoke(
    items: &[AllowItem],
    forgotten: &[SessionId],
    table: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    for i in items {
        writeln!(
            out,
            "allowed {} in {table} until {}: its rule goes at the next compile, and run does \
             not revoke it again before then",
            i.session_id,
            when(i.ttl)
        )?;
    }
    for id in forgotten {
        writeln!(
            out,
            "deleted {id} from {table}: its rule goes at the next compile (a later run may \
             revoke it again)"
        )?;
    }
    Ok(())
}

/// Writes the revocation table's items (`revocations list`) at `now`.
pub fn render_revocations(
    items: &[ListedItem],
    now: i64,
    format: RunFormat,
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == RunFormat::Json {
        let rows: Vec<_> = items
            .iter()
            .map(|i| {
                json!({
                    "session_id": i.session_id,
                    "state": i.state(now),
                    "type": i.item_type,
                    "reason": i.reason,
                    "score": i.score,
                    "last_updated": i.last_updated.map(when),
                    "expires": i.ttl.map(when),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        return writeln!(out);
    }
    writeln!(
        out,
        "{:<24} {:<8} {:<6} {:>7}  {:<20}  {:<20}",
        "session_id", "state", "type", "score", "last_updated", "expires"
    )?;
    for i in items {
        writeln!(
            out,
            "{:<24} {:<8} {:<6} {:>7}  {:<20}  {:<20}",
            i.session_id,
            i.state(now),
            i.item_type,
            i.score
                .map_or_else(|| "-".to_string(), |s| format!("{s:.3}")),
            i.last_updated.map_or_else(|| "-".to_string(), when),
            i.ttl.map_or_else(|| "never".to_string(), when),
        )?;
    }
    writeln!(out, "{} item(s)", items.len())
}

/// Writes what `revoke` wrote.
pub fn render_revoke(items: &[ManualItem], table: &str, out: &mut dyn Write) -> io::Result<()> {
    for i in items {
        writeln!(
            out,
            "revoked {} in {table} (MANUAL, expires at {})",
            i.session_id,
            when(i.ttl)
        )?;
    }
    Ok(())
}

/// Writes what `init` found or made.
pub fn render_init(
    r: &InitReport,
    table: &str,
    group: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let verb = |created: bool| if created { "created" } else { "exists" };
    writeln!(out, "table {table}: {}", verb(r.table_created))?;
    writeln!(
        out,
        "rule group {group}: {} (id {})",
        verb(r.rule_group_created),
        r.rule_group_id
    )
}
