//! `explain` under the `viewers` profile: the evidence behind one session's score, so that an
//! operator sees why it was flagged: its playback positions minute by minute (runs of segment
//! numbers per rendition folder, with the networks that fetched them) and the media objects
//! that more than one network fetched at once.

use std::collections::{BTreeSet, HashMap};

use arrow::array::{Array, RecordBatch, UInt64Array};
use chrono::{DateTime, Utc};
use datafusion::common::{ParamValues, ScalarValue};

use crate::cloudfront::scope::with_scope;
use crate::engine::LogEngine;
use crate::engine::columns::Columns;
use crate::error::Result;
use crate::functions::ip_network;
use crate::functions::media_path::media_path;
use crate::functions::viewer_evidence::evidence::{
    self, EvidenceParams, Fetch, NO_COUNTRY, NO_SEGMENT, fetch_key, minute_of, same_run,
};
use crate::score::{ScoreParams, Window, named_params, ts_param};
use crate::session::SessionId;

/// The session's rows, for the same evidence code that scoring runs.
pub const FETCHES_SQL: &str = include_str!("../../queries/viewer_fetches.sql");

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
    /// The network's country (`c-country`), where the logs say.
    pub country: Option<String>,
}

/// The evidence of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewerEvidence {
    /// Its positions, by minute, folder and segment.
    pub positions: Vec<Position>,
    /// Its co-fetched objects, by object and time.
    pub objects: Vec<CoFetch>,
    /// Minutes with enough objects fetched at once from two or more countries; None when the
    /// logs carry no `c-country`.
    pub country_minutes: Option<u64>,
}

/// Reads the evidence of `session_id` in `window`.
pub async fn evidence(
    engine: &LogEngine,
    window: &Window,
    params: &ScoreParams,
    session_id: &SessionId,
) -> Result<ViewerEvidence> {
    let rows = engine
        .run(&with_scope(FETCHES_SQL), Some(bind(window, session_id)))
        .await?;
    let mut names = Names::default();
    let mut fetches = Vec::new();
    for batch in &rows.batches {
        read_fetches(batch, &mut names, &mut fetches)?;
    }
    let v = &params.viewers;
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let p = EvidenceParams {
        window_from: window.from.timestamp(),
        co_fetch_seconds: int(v.co_fetch_seconds),
        max_segment_skip: int(v.max_segment_skip),
        min_cofetched_objects: int(v.min_cofetched_objects),
        min_viewers: int(v.min_viewers),
    };
    Ok(detail(&mut fetches, &names, &p))
}

fn bind(window: &Window, session_id: &SessionId) -> ParamValues {
    named_params([
        (
            "session_id",
            ScalarValue::Utf8(Some(session_id.as_str().to_string())),
        ),
        ("window_from", ts_param(&window.from)),
        ("window_to", ts_param(&window.to)),
    ])
}

/// The texts behind the ids of a session's networks, objects and folders (exact: one id per
/// distinct text, where scoring hashes them).
#[derive(Default)]
struct Names {
    ids: HashMap<String, u64>,
    texts: Vec<String>,
}

impl Names {
    fn id(&mut self, text: &str) -> u64 {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let id = self.texts.len() as u64;
        self.texts.push(text.to_string());
        self.ids.insert(text.to_string(), id);
        id
    }

    fn text(&self, id: u64) -> &str {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.texts.get(i))
            .map_or("", String::as_str)
    }
}

fn read_fetches(batch: &RecordBatch, names: &mut Names, out: &mut Vec<Fetch>) -> Result<()> {
    let c = Columns::new(batch, "queries/viewer_fetches.sql");
    let (ip, uri, ts) = (
        c.any_text("request_ip")?,
        c.any_text("uri")?,
        c.times("ts")?,
    );
    let country = c.any_text("country")?;
    let (pair, agent, referer) = (
        c.keys("pair_key")?,
        c.keys("user_agent_key")?,
        c.keys("referrer_key")?,
    );
    let value = |a: &UInt64Array, i: usize| if a.is_valid(i) { a.value(i) } else { 0 };
    for i in 0..c.rows() {
        if uri.is_null(i) || ts.is_null(i) {
            continue;
        }
        let Some(media) = media_path(uri.value(i)) else {
            continue;
        };
        let network = if ip.is_null(i) {
            String::new()
        } else {
            ip_network(ip.value(i))
        };
        out.push(Fetch {
            key: fetch_key(value(pair, i), value(agent, i), value(referer, i)),
            ts: ts.value(i),
            network: names.id(&network),
            object: names.id(media.object),
            folder: names.id(media.folder),
            segment: media.segment.unwrap_or(NO_SEGMENT),
            country: match country.is_valid(i).then(|| country.value(i)) {
                None | Some("" | "-") => NO_COUNTRY,
                // Ids from 1: 0 is no country.
                Some(c) => names.id(c) + 1,
            },
        });
    }
    Ok(())
}

/// The evidence of one session's fetches, with names: what scoring finds, in detail.
fn detail(fetches: &mut Vec<Fetch>, names: &Names, p: &EvidenceParams) -> ViewerEvidence {
    let analysis = evidence::analyse(fetches, p);
    let at = |ts: i64| DateTime::from_timestamp(ts, 0).unwrap_or_default();
    let minute_start = |m: i64| at(p.window_from.saturating_add(m.saturating_mul(60)));
    let minute = |m: i64| analysis.minutes.get(&m).copied().unwrap_or_default();

    let mut positions = Vec::new();
    let shape = |f: &Fetch| (f.folder, minute_of(f.ts, p));
    fetches.sort_unstable_by_key(|f| (shape(f), f.segment));
    let steps: HashMap<(u64, i64), (i64, i64)> = analysis
        .folder_minutes
        .iter()
        .map(|fm| ((fm.folder, fm.minute), (fm.runs, fm.back_steps)))
        .collect();
    for group in fetches.chunk_by(|a, b| shape(a) == shape(b)) {
        let (folder, m) = shape(&group[0]);
        let (runs, back_steps) = steps.get(&(folder, m)).copied().unwrap_or_default();
        let numbered: Vec<&Fetch> = group.iter().filter(|f| f.segment().is_some()).collect();
        for run in numbered.chunk_by(|a, b| same_run(a.segment, b.segment, p)) {
            let (from, to) = (run[0].segment, run[run.len() - 1].segment);
            if to <= from {
                continue;
            }
            let networks: BTreeSet<&str> = run.iter().map(|f| names.text(f.network)).collect();
            positions.push(Position {
                minute: minute_start(m),
                folder: names.text(folder).to_string(),
                seg_from: from,
                seg_to: to,
                first: at(run.iter().map(|f| f.ts).min().unwrap_or_default()),
                last: at(run.iter().map(|f| f.ts).max().unwrap_or_default()),
                fetches: run.len() as u64,
                networks: networks.into_iter().collect::<Vec<_>>().join(" "),
                runs: u64::try_from(runs).unwrap_or(0),
                back_steps: u64::try_from(back_steps).unwrap_or(0),
                positions: u64::try_from(minute(m).positions).unwrap_or(0),
                networks_at_once: u64::try_from(minute(m).networks(p)).unwrap_or(0),
            });
        }
    }
    positions
        .sort_by(|a, b| (a.minute, &a.folder, a.seg_from).cmp(&(b.minute, &b.folder, b.seg_from)));

    let mut objects = Vec::new();
    let cofetched = |f: &&Fetch| analysis.cofetched.contains_key(&f.object);
    let mut shared: Vec<&Fetch> = fetches.iter().filter(cofetched).collect();
    let shape = |f: &Fetch| (f.object, minute_of(f.ts, p), f.network);
    shared.sort_unstable_by_key(|f| shape(f));
    for group in shared.chunk_by(|a, b| shape(a) == shape(b)) {
        let (object, m, network) = shape(group[0]);
        objects.push(CoFetch {
            minute: minute_start(m),
            object: names.text(object).to_string(),
            network: names.text(network).to_string(),
            first: at(group.iter().map(|f| f.ts).min().unwrap_or_default()),
            fetches: group.len() as u64,
            country: group
                .iter()
                .find(|f| f.country != NO_COUNTRY)
                .map(|f| names.text(f.country - 1).to_string()),
        });
    }
    objects.sort_by(|a, b| (&a.object, a.first, &a.network).cmp(&(&b.object, b.first, &b.network)));
    let with_countries = fetches.iter().any(|f| f.country != NO_COUNTRY);
    let country_minutes =
        with_countries.then(|| u64::try_from(analysis.summary(p).country_minutes).unwrap_or(0));
    ViewerEvidence {
        positions,
        objects,
        country_minutes,
    }
}
