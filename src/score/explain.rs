//! `explain`: how one session's score came about: the window's p50, each component with its
//! inputs, its distinct IPs, user agents and referers with their requests and first/last seen,
//! and how many of its rows each rule of the scope dropped. Works under the threshold too.

use arrow::array::{Array, RecordBatch};
use chrono::{DateTime, Utc};
use datafusion::common::{ParamValues, ScalarValue};

use crate::cloudfront::scope::with_scope;
use crate::engine::LogEngine;
use crate::engine::columns::Columns;
use crate::error::Result;
use crate::score::viewers_evidence::{self, ViewerEvidence};
use crate::score::{
    Profile, ScoreParams, ScoreReport, ScoredSession, Window, WindowSpec, named_params, score,
    ts_param,
};
use crate::session::SessionId;

/// The values query (`queries/explain_values.sql`).
pub const VALUES_SQL: &str = include_str!("../../queries/explain_values.sql");
/// The dropped-rows query (`queries/explain_dropped.sql`).
pub const DROPPED_SQL: &str = include_str!("../../queries/explain_dropped.sql");

/// One distinct IP, user agent or referer of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueUse {
    /// `ip`, `user_agent` or `referer`.
    pub kind: String,
    /// The value as logged.
    pub value: String,
    /// Counted requests with it.
    pub requests: u64,
    /// First counted request.
    pub first_seen: DateTime<Utc>,
    /// Last counted request.
    pub last_seen: DateTime<Utc>,
}

/// Everything `explain` prints.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The session id asked about.
    pub session_id: String,
    /// The window's scoring (p50, parameters, window).
    pub report: ScoreReport,
    /// The session's numbers, when it had counted rows in the window.
    pub session: Option<ScoredSession>,
    /// Whether it was scored.
    pub scored: bool,
    /// Its distinct values.
    pub values: Vec<ValueUse>,
    /// Its rows by the first rule that drops them (`counted` for the rest).
    pub rows_by_verdict: Vec<(String, u64)>,
    /// Under the `viewers` profile: its positions and co-fetched objects.
    pub viewers: Option<ViewerEvidence>,
}

/// Explains `session_id`'s score in a window.
pub async fn explain(
    engine: &LogEngine,
    spec: WindowSpec,
    params: ScoreParams,
    session_id: &SessionId,
) -> Result<Explanation> {
    let report = score(engine, spec, params).await?;
    let scored_row = report.sessions.iter().find(|s| s.session_id == *session_id);
    let session = scored_row
        .or_else(|| report.unscored.iter().find(|s| s.session_id == *session_id))
        .cloned();
    let viewers = match (report.window, params.profile) {
        (Some(window), Profile::Viewers) => {
            Some(viewers_evidence::evidence(engine, &window, &params, session_id).await?)
        }
        _ => None,
    };
    let (values, rows_by_verdict) = match report.window {
        Some(window) => {
            let bound = bind(session_id.as_str(), &window);
            let values = engine
                .run(&with_scope(VALUES_SQL), Some(bound.clone()))
                .await?;
            let dropped = engine.run(DROPPED_SQL, Some(bound)).await?;
            (
                read_values(&values.batches)?,
                read_verdicts(&dropped.batches)?,
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    Ok(Explanation {
        session_id: session_id.to_string(),
        scored: scored_row.is_some(),
        report,
        session,
        values,
        rows_by_verdict,
        viewers,
    })
}

fn bind(session_id: &str, window: &Window) -> ParamValues {
    named_params([
        (
            "session_id",
            ScalarValue::Utf8(Some(session_id.to_string())),
        ),
        ("window_from", ts_param(&window.from)),
        ("window_to", ts_param(&window.to)),
    ])
}

fn read_values(batches: &[RecordBatch]) -> Result<Vec<ValueUse>> {
    let mut out = Vec::new();
    for b in batches {
        let c = Columns::new(b, "queries/explain_values.sql");
        let (kind, value) = (c.text("kind")?, c.text("value")?);
        let requests = c.i64s("requests")?;
        let (first, last) = (c.times("first_seen")?, c.times("last_seen")?);
        for i in 0..c.rows() {
            if value.is_null(i) {
                continue;
            }
            out.push(ValueUse {
                kind: kind.value(i).to_string(),
                value: value.value(i).to_string(),
                requests: u64::try_from(requests.value(i)).unwrap_or(0),
                first_seen: DateTime::from_timestamp(first.value(i), 0).unwrap_or_default(),
                last_seen: DateTime::from_timestamp(last.value(i), 0).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

fn read_verdicts(batches: &[RecordBatch]) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for b in batches {
        let c = Columns::new(b, "queries/explain_dropped.sql");
        let (verdict, rows) = (c.text("verdict")?, c.i64s("rows")?);
        for i in 0..c.rows() {
            out.push((
                verdict.value(i).to_string(),
                u64::try_from(rows.value(i)).unwrap_or(0),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudfront::scope::scope_filter;

    #[test]
    fn the_dropped_rows_are_the_parts_of_the_scope_rule() {
        let scope = scope_filter();
        let statuses: Vec<String> = scope
            .status_in
            .iter()
            .flatten()
            .map(|s| s.to_string())
            .collect();
        let status_rule = format!("WHEN status NOT IN ({}) THEN", statuses.join(", "));
        let bytes_rule = format!("WHEN bytes <= {} THEN", scope.bytes.lo - 1);
        assert!(DROPPED_SQL.contains(&status_rule), "{status_rule}");
        assert!(DROPPED_SQL.contains(&bytes_rule), "{bytes_rule}");
        // A session id is required by the scope, and by the query's `session_id = $session_id`.
        assert!(scope.session_required);
        assert!(DROPPED_SQL.contains("WHERE session_id = $session_id"));
        assert!(with_scope(VALUES_SQL).contains("status IN (200, 206) AND bytes > 1024"));
    }
}
