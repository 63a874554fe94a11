//! Renders what `run`, `revoke`, `waf compile` and `init` did.

use std::io::{self, Write};

use serde_json::json;

use super::{Format, render};
use crate::job::{CompileReport, InitReport, RunReport};
use crate::revocation::ManualItem;

/// Writes a run's report: the scoring, then the writes (or, in a dry run, the items that would
/// be written) and the compile.
pub fn render_run(r: &RunReport, format: Format, out: &mut dyn Write) -> io::Result<()> {
    if format == Format::Json {
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
            "write_retries": r.write.as_ref().map(|w| w.retries),
            "compile": r.compile.as_ref().map(compile_json),
            "kvs": r.kvs.as_ref().map(super::kvs::kvs_json),
        });
        serde_json::to_writer_pretty(&mut *out, &v)?;
        return writeln!(out);
    }
    render(&r.score, format, false, out)?;
    writeln!(out)?;
    for reason in &r.rejected {
        writeln!(out, "not written: {reason}")?;
    }
    if !r.over_limit.is_empty() {
        writeln!(
            out,
            "not written, over --max-revocations ({}): {}",
            r.over_limit.len(),
            r.over_limit.join(" ")
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
                writeln!(out, "  {} score {} ttl {}", i.session_id, i.score, i.ttl)?;
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
        super::kvs::render_kvs(k, out)?;
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

/// Writes what `revoke` wrote.
pub fn render_revoke(items: &[ManualItem], table: &str, out: &mut dyn Write) -> io::Result<()> {
    for i in items {
        writeln!(
            out,
            "revoked {} in {table} (MANUAL, expires at {})",
            i.session_id, i.ttl
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
