//! Session scoring (profile `upstream`: the reference solution's rules): binds the parameters into
//! `queries/score.sql`, runs it over the logs and returns typed scored sessions.

pub mod empty;
pub mod evaluate;
pub mod explain;

pub mod params;
pub mod viewers;
pub mod viewers_evidence;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampSecondType;
use chrono::{DateTime, Utc};
use datafusion::common::{ParamValues, ScalarValue};
use serde::Serialize;

use crate::cloudfront::StatsSnapshot;
use crate::cloudfront::scope::with_scope;
use crate::engine::LogEngine;
use crate::engine::columns::Columns;
pub use crate::engine::{named_params, ts_param};
use crate::error::{Error, Result};
use crate::session::SessionId;
pub use params::{
    DEFAULT_LOOKBACK_MINUTES, Now, Profile, ScoreParams, Weights, Window, WindowSpec,
};

/// The scoring query of the `upstream` profile (the reference solution's rules as SQL).
pub const SCORE_SQL: &str = include_str!("../../queries/score.sql");
/// The scoring query of the `concurrent` profile.
pub const SCORE_CONCURRENT_SQL: &str = include_str!("../../queries/score_concurrent.sql");
/// The scoring query of the `viewers` profile (its evidence is the `viewer_evidence`
/// aggregate function).
pub const SCORE_VIEWERS_SQL: &str = include_str!("../../queries/score_viewers.sql");
/// The weighted score of `upstream` and `concurrent`: components, score and verdict.
pub const WEIGHTED_SCORE_SQL: &str = include_str!("../../queries/weighted_score.sql");
/// The end every profile shares: the output columns.
pub const SCORE_OUTPUT_SQL: &str = include_str!("../../queries/score_output.sql");

/// Where a profile includes [`WEIGHTED_SCORE_SQL`].
const WEIGHTED_MARKER: &str = "{weighted_score}";
/// Where a profile includes [`SCORE_OUTPUT_SQL`].
const OUTPUT_MARKER: &str = "{score_output}";

/// The scoring query of a profile, with the scope rule and the shared parts included.
pub fn score_sql(profile: Profile) -> String {
    let profile_sql = match profile {
        Profile::Upstream => SCORE_SQL.to_string(),
        Profile::Concurrent => SCORE_CONCURRENT_SQL.to_string(),
        Profile::Viewers => SCORE_VIEWERS_SQL.to_string(),
    };
    with_scope(
        &profile_sql
            .replace(WEIGHTED_MARKER, WEIGHTED_SCORE_SQL)
            .replace(OUTPUT_MARKER, SCORE_OUTPUT_SQL),
    )
}
/// The query `--now latest` runs first when no key names an hour (it reads everything).
pub const LATEST_SQL: &str = include_str!("../../queries/latest.sql");
/// The query `--now latest` runs first: the newest row time from `$since` on, so only the
/// newest hours' objects are read.
pub const LATEST_SINCE_SQL: &str = include_str!("../../queries/latest_since.sql");

/// One scored session, with the inputs of its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredSession {
    /// The session id from the token.
    pub session_id: SessionId,
    /// ip_rate + ip_penalty + referer_penalty + ua_penalty.
    pub score: f64,
    /// w_rate * rate / p50.
    pub ip_rate: f64,
    /// w_ip when more than one IP.
    pub ip_penalty: f64,
    /// w_referer when more than one referer.
    pub referer_penalty: f64,
    /// w_ua when more than one user agent.
    pub ua_penalty: f64,
    /// Distinct (IP, URI) pairs.
    pub pairs: u64,
    /// Distinct `c-ip` values.
    pub distinct_ips: u64,
    /// Distinct `cs(User-Agent)` values.
    pub distinct_user_agents: u64,
    /// Distinct `cs(Referer)` values (`-` counts).
    pub distinct_referers: u64,
    /// First request time in the window.
    #[serde(serialize_with = "rfc3339")]
    pub first_seen: DateTime<Utc>,
    /// Last request time in the window.
    #[serde(serialize_with = "rfc3339")]
    pub last_seen: DateTime<Utc>,
    /// last_seen - first_seen, seconds.
    #[serde(skip)]
    pub duration_s: i64,
    /// pairs / duration_s.
    #[serde(skip)]
    pub rate: f64,
    /// Rows in scope.
    #[serde(skip)]
    pub requests: u64,
    /// The rate `ip_rate` divides by: the window's p50 (`upstream`), or the median of the
    /// sessions of the same asset (`concurrent`).
    #[serde(skip)]
    pub reference_rate: f64,
    /// What `ip_penalty` compared with 1: distinct IPs (`upstream`), or networks active at
    /// once (`concurrent`).
    #[serde(skip)]
    pub ip_evidence: u64,
    /// What `referer_penalty` compared with 1: distinct referers, or real (non-`-`) ones.
    #[serde(skip)]
    pub referer_evidence: u64,
    /// What `ua_penalty` compared with 1: distinct user agents, or agents (a browser and its
    /// media stack count once).
    #[serde(skip)]
    pub ua_evidence: u64,
    /// The asset the session played (`concurrent` only).
    #[serde(skip)]
    pub asset: Option<String>,
    /// score > threshold.
    #[serde(skip)]
    pub flagged: bool,
}

/// Formats a timestamp as RFC 3339 UTC with a `Z`, second resolution.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

/// The outcome of scoring one window.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreReport {
    /// The window (None when `--now latest` found no rows at all).
    pub window: Option<Window>,
    /// The parameters used.
    pub params: ScoreParams,
    /// Median rate over sessions with duration > 0.
    pub p50: Option<f64>,
    /// Sessions with at least one row in scope.
    pub sessions_in_window: u64,
    /// Sessions that got a score.
    pub sessions_scored: u64,
    /// Sessions with score > threshold.
    pub flagged: u64,
    /// Why nothing was scored, when nothing was.
    pub not_scored_reason: Option<String>,
    /// The window held no session at all (no objects, no rows, no session tokens): a run
    /// that found nothing, which the binary does not report as success.
    pub empty: bool,
    /// The log locations read, as messages name them (the HTML report shows them).
    pub locations: String,
    /// What reading the logs saw.
    pub stats: StatsSnapshot,
    /// What the first scan of `--now latest` read to find the newest row time.
    pub latest_scan: Option<StatsSnapshot>,
    /// Every scored session, by score descending then session id.
    pub sessions: Vec<ScoredSession>,
    /// Sessions in the window that got no score (too short, or the gate held), for `explain`.
    pub unscored: Vec<ScoredSession>,
}

impl ScoreReport {
    /// The sessions above the threshold.
    pub fn flagged_sessions(&self) -> impl Iterator<Item = &ScoredSession> {
        self.sessions.iter().filter(|s| s.flagged)
    }
}

/// Scores the sessions of a window.
pub async fn score(
    engine: &LogEngine,
    spec: WindowSpec,
    params: ScoreParams,
) -> Result<ScoreReport> {
    params.validate()?;
    let (latest, latest_stats) = match spec {
        WindowSpec::Lookback {
            now: Now::Latest, ..
        } => latest_row_time(engine).await?,
        _ => (None, None),
    };
    let Some(window) = spec.resolve(latest) else {
        let objects = latest_stats.as_ref().map_or(0, |s| s.objects_listed);
        let reason = if objects == 0 {
            format!(
                "no log objects at {} (check the location and its prefix), so `--now latest` \
                 has no time",
                engine.locations_text()
            )
        } else {
            format!("the {objects} log object(s) hold no rows, so `--now latest` has no time")
        };
        return Ok(ScoreReport {
            window: None,
            params,
            p50: None,
            sessions_in_window: 0,
            sessions_scored: 0,
            flagged: 0,
            not_scored_reason: Some(reason),
            empty: true,
            locations: engine.locations_text(),
            stats: latest_stats.clone().unwrap_or_default(),
            latest_scan: latest_stats,
            sessions: Vec::new(),
            unscored: Vec::new(),
        });
    };
    let output = engine
        .run(&score_sql(params.profile), Some(bind(&window, &params)))
        .await?;
    let mut report = report_of(window, params, &output.batches, output.stats)?;
    report.locations = engine.locations_text();
    report.latest_scan = latest_stats.clone();
    if report.empty {
        let known = match spec {
            WindowSpec::Lookback {
                now: Now::Latest, ..
            } => Some((
                latest,
                latest_stats.as_ref().map_or(0, |s| s.objects_listed),
            )),
            _ => None,
        };
        report.not_scored_reason = Some(empty::why_empty(engine, &window, known).await?);
    }
    Ok(report)
}

/// The report of `window` from the rows of the scoring query (`batches`) and what the scan
/// saw. A window without sessions is `empty`, with a generic reason (`score` names the
/// cause); `locations` and `latest_scan` are left for the caller.
pub fn report_of(
    window: Window,
    params: ScoreParams,
    batches: &[RecordBatch],
    stats: StatsSnapshot,
) -> Result<ScoreReport> {
    let rows = read_rows(batches)?;
    let sessions_in_window = rows.len() as u64;
    let p50 = rows.first().and_then(|r| r.p50);
    let mut stats = stats;
    stats.rows_in_scope = rows.iter().map(|r| r.session.requests).sum();
    let (scored, unscored): (Vec<SessionRow>, Vec<SessionRow>) =
        rows.into_iter().partition(|r| r.scored);
    let sessions: Vec<ScoredSession> = scored.into_iter().map(|r| r.session).collect();
    let unscored: Vec<ScoredSession> = unscored.into_iter().map(|r| r.session).collect();
    let sessions_scored = sessions.len() as u64;
    let flagged = sessions.iter().filter(|s| s.flagged).count() as u64;
    tracing::info!(
        from = %format_time(&window.from),
        to = %format_time(&window.to),
        p50,
        sessions_in_window,
        sessions_scored,
        flagged,
        "scored the sessions of the window"
    );
    let empty = sessions_in_window == 0;
    let not_scored_reason = if empty {
        Some("no session in the window".to_string())
    } else if sessions_in_window < params.min_sessions {
        Some(format!(
            "only {sessions_in_window} session(s) in the window, fewer than --min-sessions {}",
            params.min_sessions
        ))
    } else if sessions_scored == 0 {
        Some(format!(
            "no session in the window lasted at least --min-duration {} s (and more than 0 s)",
            params.min_duration
        ))
    } else {
        None
    };
    Ok(ScoreReport {
        window: Some(window),
        params,
        p50,
        sessions_in_window,
        sessions_scored,
        flagged,
        not_scored_reason,
        empty,
        locations: String::new(),
        stats,
        latest_scan: None,
        sessions,
        unscored,
    })
}

/// The newest row time (for `--now latest`), with what that scan saw. A listing names the
/// newest hour; only the objects of that hour and the late margin before it are read (the
/// newest row is there, as a window's rows are in its hours' objects), and objects whose
/// names give no hour. When no key names an hour, or those objects hold no row from the
/// newest hour on, every object is read.
pub(crate) async fn latest_row_time(
    engine: &LogEngine,
) -> Result<(Option<DateTime<Utc>>, Option<StatsSnapshot>)> {
    if let Some(hour) = engine.newest_hour().await? {
        // From the newest hour's start; the reader adds the late margin when it lists.
        let since = DateTime::from_timestamp(hour.saturating_mul(3600), 0).unwrap_or_default();
        let output = engine
            .run_as(
                "finding the newest row",
                LATEST_SINCE_SQL,
                Some(named_params([("since", ts_param(&since))])),
            )
            .await?;
        let latest = max_time(&output)?;
        if latest.is_some() {
            return Ok((latest, Some(output.stats)));
        }
    }
    let output = engine
        .run_as("finding the newest row (all objects)", LATEST_SQL, None)
        .await?;
    let latest = max_time(&output)?;
    Ok((latest, Some(output.stats)))
}

/// The one timestamp a `latest` query returns.
fn max_time(output: &crate::engine::QueryOutput) -> Result<Option<DateTime<Utc>>> {
    Ok(match output.batches.first() {
        Some(batch) if batch.num_rows() > 0 => batch
            .column(0)
            .as_primitive_opt::<TimestampSecondType>()
            .ok_or_else(|| {
                Error::Other("queries/latest.sql must return one timestamp column".into())
            })?
            .iter()
            .next()
            .flatten()
            .and_then(|secs| DateTime::from_timestamp(secs, 0)),
        _ => None,
    })
}

/// The named parameters of the scoring queries (each profile reads the ones it needs).
pub fn bind(window: &Window, params: &ScoreParams) -> ParamValues {
    let int = |v: u64| ScalarValue::Int64(Some(i64::try_from(v).unwrap_or(i64::MAX)));
    let float = |v: f64| ScalarValue::Float64(Some(v));
    named_params([
        ("window_from", ts_param(&window.from)),
        ("window_to", ts_param(&window.to)),
        ("min_sessions", int(params.min_sessions)),
        ("min_duration", int(params.min_duration)),
        ("threshold", float(params.threshold)),
        ("w_rate", float(params.weights.rate)),
        ("w_ip", float(params.weights.ip)),
        ("w_referer", float(params.weights.referer)),
        ("w_ua", float(params.weights.ua)),
        ("min_overlap", int(params.min_overlap)),
        ("min_viewers", int(params.viewers.min_viewers)),
        (
            "min_evidence_minutes",
            int(params.viewers.min_evidence_minutes),
        ),
        ("co_fetch_seconds", int(params.viewers.co_fetch_seconds)),
        (
            "min_cofetched_objects",
            int(params.viewers.min_cofetched_objects),
        ),
        ("max_segment_skip", int(params.viewers.max_segment_skip)),
        (
            "min_country_minutes",
            int(params.viewers.min_country_minutes),
        ),
    ])
}

/// One row of the scoring query.
struct SessionRow {
    session: ScoredSession,
    scored: bool,
    p50: Option<f64>,
}

fn read_rows(batches: &[RecordBatch]) -> Result<Vec<SessionRow>> {
    let mut rows = Vec::new();
    for batch in batches {
        let c = Columns::new(batch, "queries/score.sql");
        let text = c.text("session_id")?;
        let f64s = |name: &str| c.f64s(name);
        let i64s = |name: &str| c.i64s(name);
        let times = |name: &str| c.times(name);
        let bools = |name: &str| c.bools(name);
        let (score, ip_rate, ip_pen, ref_pen, ua_pen, rate, p50, reference) = (
            f64s("score")?,
            f64s("ip_rate")?,
            f64s("ip_penalty")?,
            f64s("referer_penalty")?,
            f64s("ua_penalty")?,
            f64s("rate")?,
            f64s("p50")?,
            f64s("reference_rate")?,
        );
        let (ip_ev, ref_ev, ua_ev) = (
            i64s("ip_evidence")?,
            i64s("referer_evidence")?,
            i64s("ua_evidence")?,
        );
        let asset = c.any_text("asset")?;
        let (pairs, ips, uas, refs, duration, requests) = (
            i64s("pairs")?,
            i64s("distinct_ips")?,
            i64s("distinct_user_agents")?,
            i64s("distinct_referers")?,
            i64s("duration_s")?,
            i64s("requests")?,
        );
        let (first, last) = (times("first_seen")?, times("last_seen")?);
        let (scored, flagged) = (bools("scored")?, bools("flagged")?);
        let opt = |a: &arrow::array::Float64Array, i: usize| a.is_valid(i).then(|| a.value(i));
        let count = |a: &arrow::array::Int64Array, i: usize| u64::try_from(a.value(i)).unwrap_or(0);
        let time = |a: &arrow::array::TimestampSecondArray, i: usize| {
            DateTime::from_timestamp(a.value(i), 0).unwrap_or_default()
        };
        for i in 0..batch.num_rows() {
            let is_scored = scored.is_valid(i) && scored.value(i);
            rows.push(SessionRow {
                scored: is_scored,
                p50: opt(p50, i),
                session: ScoredSession {
                    session_id: SessionId::new(text.value(i))
                        .map_err(|e| Error::Other(format!("the scoring query returned {e}")))?,
                    score: opt(score, i).unwrap_or(0.0),
                    ip_rate: opt(ip_rate, i).unwrap_or(0.0),
                    ip_penalty: opt(ip_pen, i).unwrap_or(0.0),
                    referer_penalty: opt(ref_pen, i).unwrap_or(0.0),
                    ua_penalty: opt(ua_pen, i).unwrap_or(0.0),
                    pairs: count(pairs, i),
                    distinct_ips: count(ips, i),
                    distinct_user_agents: count(uas, i),
                    distinct_referers: count(refs, i),
                    first_seen: time(first, i),
                    last_seen: time(last, i),
                    duration_s: duration.value(i),
                    rate: opt(rate, i).unwrap_or(0.0),
                    requests: count(requests, i),
                    reference_rate: opt(reference, i).unwrap_or(0.0),
                    ip_evidence: count(ip_ev, i),
                    referer_evidence: count(ref_ev, i),
                    ua_evidence: count(ua_ev, i),
                    asset: asset.is_valid(i).then(|| asset.value(i).to_string()),
                    flagged: is_scored && flagged.is_valid(i) && flagged.value(i),
                },
            });
        }
    }
    Ok(rows)
}
