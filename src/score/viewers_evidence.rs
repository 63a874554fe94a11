//! `explain` under the `viewers` profile: the evidence behind one session's score, so that an
//! operator sees why it was flagged: its playback positions minute by minute (runs of segment
//! numbers per rendition folder, with the networks that fetched them) and the media objects
//! that more than one network fetched at once.

use arrow::array::{Array, Int64Array, RecordBatch, TimestampSecondArray};
use chrono::{DateTime, Utc};
use datafusion::common::{ParamValues, ScalarValue};

use crate::cloudfront::scope::with_scope;
use crate::engine::LogEngine;
use crate::engine::columns::Columns;
use crate::error::Result;
use crate::score::{ScoreParams, VIEWERS_EVIDENCE_SQL, Window, named_params, ts_param};
use crate::session::SessionId;

/// The positions query, after [`VIEWERS_EVIDENCE_SQL`].
pub const RUNS_SQL: &str = include_str!("../../queries/explain_viewers_runs.sql");
/// The co-fetched objects query, after [`VIEWERS_EVIDENCE_SQL`].
pub const OBJECTS_SQL: &str = include_str!("../../queries/explain_viewers_objects.sql");

/// One run of segment numbers of a folder in one minute: a playback position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// The rendition folder (`vod/asset/720p`).
    pub folder: String,
    /// Lowest segment number of the run.
    pub seg_from: i64,
    /// Highest segment number of the run.
    pub seg_to: i64,
    /// First fetch of the run.
    pub first: DateTime<Utc>,
    /// Last fetch of the run.
    pub last: DateTime<Utc>,
    /// Fetches (address, object) in the run.
    pub fetches: u64,
    /// The networks that fetched it, space-separated.
    pub networks: String,
    /// Runs of the folder in that minute.
    pub runs: u64,
    /// Times the folder's fetches stepped back to a lower segment in that minute.
    pub back_steps: u64,
    /// Positions at once the minute shows (over all folders).
    pub positions: u64,
    /// Networks fetching one object at once the minute shows.
    pub networks_at_once: u64,
}

/// One network's first fetch of an object that another network also fetched at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoFetch {
    /// The minute of that fetch.
    pub minute: DateTime<Utc>,
    /// The object (the path without the token).
    pub object: String,
    /// The network (an IPv4 address, or an IPv6 /64).
    pub network: String,
    /// Its first fetch.
    pub first: DateTime<Utc>,
    /// Its fetches (address, agent, referer) of the object.
    pub fetches: u64,
}

/// The evidence of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewerEvidence {
    /// Its positions, by minute, folder and segment.
    pub positions: Vec<Position>,
    /// Its co-fetched objects, by object and time.
    pub objects: Vec<CoFetch>,
}

/// Reads the evidence of `session_id` in `window`.
pub async fn evidence(
    engine: &LogEngine,
    window: &Window,
    params: &ScoreParams,
    session_id: &SessionId,
) -> Result<ViewerEvidence> {
    let query = |sql: &str| with_scope(&format!("{VIEWERS_EVIDENCE_SQL}{sql}"));
    let runs = engine
        .run(&query(RUNS_SQL), Some(bind(window, params, session_id)))
        .await?;
    let objects = engine
        .run(&query(OBJECTS_SQL), Some(bind(window, params, session_id)))
        .await?;
    Ok(ViewerEvidence {
        positions: read_positions(&runs.batches, window)?,
        objects: read_objects(&objects.batches, window)?,
    })
}

fn bind(window: &Window, params: &ScoreParams, session_id: &SessionId) -> ParamValues {
    let int = |v: u64| ScalarValue::Int64(Some(i64::try_from(v).unwrap_or(i64::MAX)));
    let v = &params.viewers;
    named_params([
        (
            "session_id",
            ScalarValue::Utf8(Some(session_id.as_str().to_string())),
        ),
        ("window_from", ts_param(&window.from)),
        ("window_to", ts_param(&window.to)),
        ("co_fetch_seconds", int(v.co_fetch_seconds)),
        ("min_cofetched_objects", int(v.min_cofetched_objects)),
        ("max_segment_skip", int(v.max_segment_skip)),
    ])
}

fn at(a: &TimestampSecondArray, i: usize) -> DateTime<Utc> {
    DateTime::from_timestamp(a.value(i), 0).unwrap_or_default()
}

fn count(a: &Int64Array, i: usize) -> u64 {
    if a.is_valid(i) {
        u64::try_from(a.value(i)).unwrap_or(0)
    } else {
        0
    }
}

/// The start of minute `m` of the window (minutes count from the window's start).
fn minute_start(window: &Window, m: i64) -> DateTime<Utc> {
    window.from + chrono::Duration::seconds(m.saturating_mul(60))
}

fn read_positions(batches: &[RecordBatch], window: &Window) -> Result<Vec<Position>> {
    let mut out = Vec::new();
    for batch in batches {
        let c = Columns::new(batch, "queries/explain_viewers_runs.sql");
        let (folder, networks) = (c.any_text("folder")?, c.any_text("networks")?);
        let (minute, from, to, fetches) = (
            c.i64s("minute")?,
            c.i64s("seg_from")?,
            c.i64s("seg_to")?,
            c.i64s("fetches")?,
        );
        let (runs, back_steps, positions, at_once) = (
            c.i64s("runs")?,
            c.i64s("back_steps")?,
            c.i64s("positions")?,
            c.i64s("networks_at_once")?,
        );
        let (first, last) = (c.times("first_ts")?, c.times("last_ts")?);
        for i in 0..c.rows() {
            out.push(Position {
                minute: minute_start(window, minute.value(i)),
                folder: folder.value(i).to_string(),
                seg_from: from.value(i),
                seg_to: to.value(i),
                first: at(first, i),
                last: at(last, i),
                fetches: count(fetches, i),
                networks: networks.value(i).to_string(),
                runs: count(runs, i),
                back_steps: count(back_steps, i),
                positions: count(positions, i),
                networks_at_once: count(at_once, i),
            });
        }
    }
    Ok(out)
}

fn read_objects(batches: &[RecordBatch], window: &Window) -> Result<Vec<CoFetch>> {
    let mut out = Vec::new();
    for batch in batches {
        let c = Columns::new(batch, "queries/explain_viewers_objects.sql");
        let (object, network) = (c.any_text("object")?, c.any_text("network")?);
        let (minute, fetches, first) =
            (c.i64s("minute")?, c.i64s("fetches")?, c.times("first_ts")?);
        for i in 0..c.rows() {
            out.push(CoFetch {
                minute: minute_start(window, minute.value(i)),
                object: object.value(i).to_string(),
                network: network.value(i).to_string(),
                first: at(first, i),
                fetches: count(fetches, i),
            });
        }
    }
    Ok(out)
}
