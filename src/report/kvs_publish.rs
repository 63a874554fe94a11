//! Renders what `kvs publish` (and `run --kvs-arn`) did: the keys, the difference with the
//! store, what did not fit, and the calls made.

use std::io::{self, Write};

use serde_json::json;

use crate::kvs::KvsReport;

/// The report as JSON (for `run --format json` and `kvs publish --format json`).
pub fn kvs_json(r: &KvsReport) -> serde_json::Value {
    let o = &r.outcome;
    json!({
        "kvs_arn": r.kvs_arn,
        "dry_run": r.dry_run,
        "keys": o.compiled.entries.iter().map(|e| json!({"key": e.key, "value": e.value})).collect::<Vec<_>>(),
        "added": o.diff.added,
        "changed": o.diff.changed,
        "deleted": o.diff.deletes,
        "kept": o.diff.kept,
        "left_out": o.compiled.left_out,
        "expired": o.compiled.expired,
        "rejected": o.compiled.rejected,
        "other_keys": o.before.other_keys,
        "updates": o.updates,
        "conflict_retries": o.conflict_retries,
        "etag_before": o.before.etag,
        "etag_after": o.etag_after,
    })
}

/// The report as text.
pub fn render_kvs(r: &KvsReport, out: &mut dyn Write) -> io::Result<()> {
    let o = &r.outcome;
    writeln!(out, "keys ({}):", o.compiled.entries.len())?;
    for e in &o.compiled.entries {
        writeln!(out, "  {}  {}", e.key, e.value)?;
    }
    let d = &o.diff;
    writeln!(out, "added   ({}): {}", d.added.len(), d.added.join(" "))?;
    writeln!(
        out,
        "changed ({}): {}",
        d.changed.len(),
        d.changed.join(" ")
    )?;
    writeln!(
        out,
        "deleted ({}): {}",
        d.deletes.len(),
        d.deletes.join(" ")
    )?;
    writeln!(out, "kept    ({})", d.kept)?;
    if !o.compiled.left_out.is_empty() {
        writeln!(
            out,
            "did not fit the size budget ({}): {}",
            o.compiled.left_out.len(),
            o.compiled.left_out.join(" ")
        )?;
    }
    if !o.compiled.rejected.is_empty() {
        writeln!(
            out,
            "invalid session ids, never published: {:?}",
            o.compiled.rejected
        )?;
    }
    if o.conflict_retries > 0 {
        writeln!(out, "conflicts retried: {}", o.conflict_retries)?;
    }
    let verdict = if r.dry_run {
        format!("dry run: KeyValueStore {} was not changed", r.kvs_arn)
    } else if o.updates > 0 {
        format!(
            "KeyValueStore {} was updated ({} UpdateKeys call(s))",
            r.kvs_arn, o.updates
        )
    } else {
        format!(
            "KeyValueStore {} already holds these keys: not updated",
            r.kvs_arn
        )
    };
    writeln!(out, "{verdict}")
}
