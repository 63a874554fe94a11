//! Which log objects a time window needs (docs/log-formats.md: the layouts in S3).
//!
//! CloudFront logs lie in one of three layouts:
//! - hive: `.../year=YYYY/month=MM/day=DD/hour=HH/<file>` (other `key=value` levels may come
//!   first, e.g. `DistributionId=E123/`);
//! - dated: `.../YYYY/MM/DD/HH/<file>`;
//! - flat: `<prefix>/<DistributionId>.YYYY-MM-DD-HH.<id>.gz`.
//!
//! For a window, only the hours from (start - margin) to (end + margin) are listed: one prefix
//! per hour (hive, dated) or one `StartAfter` range per distribution (flat), so a 10-minute
//! lookback over months of logs lists and reads a few hours. Rows are still filtered by their
//! own times, so pruning never changes a result; keys whose hour cannot be told are always read.
//! The walk is written against [`KeyLister`], so local folders are pruned the same way as S3.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Timelike};

use crate::error::Result;

/// The layout to assume, or `auto` to detect it from the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Detect from the first page of keys.
    #[default]
    Auto,
    /// `.../year=YYYY/month=MM/day=DD/hour=HH/`.
    Hive,
    /// `.../YYYY/MM/DD/HH/`.
    Dated,
    /// `<DistributionId>.YYYY-MM-DD-HH.<id>.gz` under the prefix.
    Flat,
}

impl crate::choice::Choice for Layout {
    const CHOICES: &'static [(&'static str, Self, &'static str)] = &[
        ("auto", Layout::Auto, "Detect from the first page of keys."),
        (
            "hive",
            Layout::Hive,
            "`.../year=YYYY/month=MM/day=DD/hour=HH/`.",
        ),
        ("dated", Layout::Dated, "`.../YYYY/MM/DD/HH/`."),
        (
            "flat",
            Layout::Flat,
            "`<DistributionId>.YYYY-MM-DD-HH.<id>.gz` under the prefix.",
        ),
    ];
}

impl Layout {
    /// The layout's name, as `--layout` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Auto => "auto",
            Layout::Hive => "hive",
            Layout::Dated => "dated",
            Layout::Flat => "flat",
        }
    }
}

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key, relative to the bucket (S3) or the folder (local).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// What changes when its content does: the ETag (S3) or size and modification time
    /// (local), so a kept projection of it can be told stale (`--state`).
    pub version: String,
}

/// One page of a listing, as S3's ListObjectsV2 returns it.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// Objects, in key order.
    pub objects: Vec<Listed>,
    /// With a delimiter: the "folders" below the prefix, each ending in `/`.
    pub prefixes: Vec<String>,
    /// Where the next page starts, when there is one.
    pub next_token: Option<String>,
}

/// One list request.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Keys start with this.
    pub prefix: String,
    /// Group keys below the next `/` into `prefixes`.
    pub delimiter: bool,
    /// Only keys after this one (lexically).
    pub start_after: Option<String>,
    /// At most this many keys (the server's limit, 1000 on S3, otherwise).
    pub max_keys: Option<i32>,
    /// Continuation of an earlier page.
    pub token: Option<String>,
}

/// Something that lists keys like S3's ListObjectsV2.
#[async_trait]
pub trait KeyLister: Send + Sync {
    /// One page of keys.
    async fn list(&self, request: ListRequest) -> Result<ListPage>;
}

/// The hours a window needs, as hour numbers since the epoch (`epoch seconds / 3600`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourRange {
    /// First hour listed.
    pub first: i64,
    /// Last hour listed.
    pub last: i64,
}

impl HourRange {
    /// The hours holding `[from - margin, to + margin]` (epoch seconds).
    pub fn around(from: i64, to: i64, margin_s: i64) -> Self {
        HourRange {
            first: from.saturating_sub(margin_s).div_euclid(3600),
            last: to.saturating_add(margin_s).div_euclid(3600),
        }
    }

    fn contains(&self, hour: i64) -> bool {
        self.first <= hour && hour <= self.last
    }

    fn count(&self) -> i64 {
        self.last - self.first + 1
    }

    fn hours(&self) -> impl Iterator<Item = i64> {
        self.first..=self.last
    }
}

/// The objects a window needs, with what listing them cost.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The selected objects, in key order.
    pub objects: Vec<Listed>,
    /// List requests made.
    pub list_requests: u64,
    /// Distinct keys the listings returned (selected or not).
    pub keys_listed: u64,
    /// What the user should know about the listing (keys in more than one layout).
    pub notes: Vec<String>,
}

/// Most per-hour prefixes (or distributions) listed one by one; beyond that one full listing,
/// filtered by the hour in each key, is cheaper.
const MAX_TARGETED_LISTS: i64 = 2_000;
/// Keys with no CloudFront name found one request at a time in a flat walk before it gives up
/// and lists the whole prefix in pages (a stray key must not cost a request each).
const MAX_STRAY_KEYS: usize = 32;
/// Keys looked at to detect the layout.
const DETECTION_KEYS: i32 = 100;
/// Deepest folder level searched for the start of the date levels.
const MAX_BASE_DEPTH: usize = 4;

/// Selects the objects under `prefix` (empty, or ending in `/`) that `hours` needs, or every
/// object when `hours` is `None`.
pub async fn select(
    lister: &dyn KeyLister,
    prefix: &str,
    layout: Layout,
    hours: Option<HourRange>,
) -> Result<Selection> {
    let mut walk = Walk {
        lister,
        sel: Selection::default(),
        seen: HashSet::new(),
    };
    match hours {
        None => walk.everything(prefix, None).await?,
        Some(hours) => walk.pruned(prefix, layout, hours, 0).await?,
    }
    walk.sel.objects.sort_by(|a, b| a.key.cmp(&b.key));
    walk.sel.objects.dedup_by(|a, b| a.key == b.key);
    Ok(walk.sel)
}

struct Walk<'a> {
    lister: &'a dyn KeyLister,
    sel: Selection,
    /// Every key any listing returned (discovery pages repeat some).
    seen: HashSet<String>,
}

impl Walk<'_> {
    /// The objects under `prefix` that `hours` needs, in `layout` (detected when `Auto`).
    /// When the keys follow several layouts (a prefix that moved from flat to partitioned
    /// logging), the walks of all of them are read, and a note says so.
    async fn pruned(
        &mut self,
        prefix: &str,
        layout: Layout,
        hours: HourRange,
        depth: usize,
    ) -> Result<()> {
        let layouts = match layout {
            Layout::Auto => self.detect(prefix).await?,
            other => vec![other],
        };
        if layouts.is_empty() {
            // No key names an hour: read them all.
            return self.everything(prefix, None).await;
        }
        if layouts.len() > 1 {
            let names: Vec<&str> = layouts.iter().map(|l| l.name()).collect();
            let note = format!(
                "the keys under {:?} follow more than one layout ({}): reading the objects \
                 each of them selects",
                prefix,
                names.join(", ")
            );
            tracing::warn!("{note}");
            self.sel.notes.push(note);
        }
        let partitioned = layouts
            .iter()
            .any(|l| matches!(l, Layout::Hive | Layout::Dated));
        for layout in layouts {
            match layout {
                Layout::Hive | Layout::Dated => {
                    self.by_hour_prefix(prefix, layout, hours, depth).await?
                }
                // Beside a partitioned walk, the flat walk leaves the folders to it.
                Layout::Flat | Layout::Auto => {
                    self.by_distribution(prefix, hours, depth, !partitioned)
                        .await?
                }
            }
        }
        Ok(())
    }

    /// Keeps the objects whose hour is unknown or in `hours`.
    fn keep_by_name(&mut self, objects: Vec<Listed>, hours: Option<HourRange>) {
        for o in objects {
            let keep = match (hours, key_hour(&o.key)) {
                (Some(h), Some((_, hour))) => h.contains(hour),
                _ => true,
            };
            if keep {
                self.sel.objects.push(o);
            }
        }
    }

    async fn page(&mut self, request: ListRequest) -> Result<ListPage> {
        self.sel.list_requests += 1;
        let page = self.lister.list(request).await?;
        for o in &page.objects {
            if !self.seen.contains(&o.key) {
                self.seen.insert(o.key.clone());
            }
        }
        self.sel.keys_listed = self.seen.len() as u64;
        Ok(page)
    }

    /// Every object under `prefix`, keeping those whose hour is unknown or in `hours`.
    async fn everything(&mut self, prefix: &str, hours: Option<HourRange>) -> Result<()> {
        let mut token = None;
        loop {
            let page = self
                .page(ListRequest {
                    prefix: prefix.to_string(),
                    token,
                    ..ListRequest::default()
                })
                .await?;
            self.keep_by_name(page.objects, hours);
            token = page.next_token;
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// The layouts the first keys follow, most followed first (empty: no key names an hour).
    async fn detect(&mut self, prefix: &str) -> Result<Vec<Layout>> {
        let page = self
            .page(ListRequest {
                prefix: prefix.to_string(),
                max_keys: Some(DETECTION_KEYS),
                ..ListRequest::default()
            })
            .await?;
        let mut votes = [0usize; 3];
        for o in &page.objects {
            match key_hour(&o.key[prefix.len().min(o.key.len())..]) {
                Some((Layout::Hive, _)) => votes[0] += 1,
                Some((Layout::Dated, _)) => votes[1] += 1,
                Some((Layout::Flat, _)) => votes[2] += 1,
                _ => {}
            }
        }
        let mut found: Vec<(usize, Layout)> = [Layout::Hive, Layout::Dated, Layout::Flat]
            .into_iter()
            .zip(votes)
            .filter(|(_, v)| *v > 0)
            .map(|(l, v)| (v, l))
            .collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        Ok(found.into_iter().map(|(_, l)| l).collect())
    }

    /// Hive and dated: find where the date levels start, then list one prefix per hour.
    /// Objects met on the way (beside the date folders) are kept by their names' hours, and
    /// other folders met on the way are pruned in their own layouts.
    async fn by_hour_prefix(
        &mut self,
        prefix: &str,
        layout: Layout,
        hours: HourRange,
        depth: usize,
    ) -> Result<()> {
        let mut bases = Vec::new();
        let mut others = Vec::new();
        self.find_bases(
            prefix,
            layout,
            hours,
            MAX_BASE_DEPTH,
            &mut bases,
            &mut others,
        )
        .await?;
        if bases.is_empty()
            || (bases.len() as i64).saturating_mul(hours.count()) > MAX_TARGETED_LISTS
        {
            return self.everything(prefix, Some(hours)).await;
        }
        for folder in others {
            if depth < MAX_BASE_DEPTH {
                Box::pin(self.pruned(&folder, Layout::Auto, hours, depth + 1)).await?;
            } else {
                self.everything(&folder, Some(hours)).await?;
            }
        }
        for base in &bases {
            for hour in hours.hours() {
                let Some(t) = DateTime::from_timestamp(hour * 3600, 0) else {
                    continue;
                };
                let (y, m, d, h) = (t.year(), t.month(), t.day(), t.hour());
                let hour_prefix = match layout {
                    Layout::Hive => {
                        format!("{base}year={y:04}/month={m:02}/day={d:02}/hour={h:02}/")
                    }
                    _ => format!("{base}{y:04}/{m:02}/{d:02}/{h:02}/"),
                };
                self.everything(&hour_prefix, None).await?;
            }
        }
        Ok(())
    }

    /// The folders directly holding the year level (`year=YYYY/` or `YYYY/`), searching
    /// through other levels (`DistributionId=E1/`, `E1/`) down to `depth`. Objects on the
    /// levels searched are kept by name; folders not searched go to `others`.
    async fn find_bases(
        &mut self,
        prefix: &str,
        layout: Layout,
        hours: HourRange,
        depth: usize,
        bases: &mut Vec<String>,
        others: &mut Vec<String>,
    ) -> Result<()> {
        let (children, objects) = self.level(prefix).await?;
        self.keep_by_name(objects, Some(hours));
        let is_year = |segment: &str| match layout {
            Layout::Hive => segment.strip_prefix("year=").is_some_and(is_digits::<4>),
            _ => is_digits::<4>(segment),
        };
        if children.iter().any(|c| is_year(last_segment(c))) {
            bases.push(prefix.to_string());
            others.extend(children.into_iter().filter(|c| !is_year(last_segment(c))));
            return Ok(());
        }
        for child in children {
            let descend = depth > 0
                && match layout {
                    Layout::Hive => last_segment(&child).contains('='),
                    _ => true,
                };
            if descend && bases.len() as i64 <= MAX_TARGETED_LISTS {
                Box::pin(self.find_bases(&child, layout, hours, depth - 1, bases, others)).await?;
            } else {
                others.push(child);
            }
        }
        Ok(())
    }

    /// The folders and the objects directly below `prefix` (all pages).
    async fn level(&mut self, prefix: &str) -> Result<(Vec<String>, Vec<Listed>)> {
        let (mut folders, mut objects) = (Vec::new(), Vec::new());
        let mut token = None;
        loop {
            let page = self
                .page(ListRequest {
                    prefix: prefix.to_string(),
                    delimiter: true,
                    token,
                    ..ListRequest::default()
                })
                .await?;
            folders.extend(page.prefixes);
            objects.extend(page.objects);
            token = page.next_token;
            if token.is_none() {
                return Ok((folders, objects));
            }
        }
    }

    /// Flat: find each distribution id by skipping over the previous one's keys, then list each
    /// distribution from the first hour's name on, stopping after the last hour.
    async fn by_distribution(
        &mut self,
        prefix: &str,
        hours: HourRange,
        depth: usize,
        with_folders: bool,
    ) -> Result<()> {
        let mut distributions = Vec::new();
        let mut folders = Vec::new();
        let selected_before = self.sel.objects.len();
        let mut start_after: Option<String> = None;
        let mut strays = 0usize;
        loop {
            if distributions.len() as i64 > MAX_TARGETED_LISTS || strays > MAX_STRAY_KEYS {
                self.sel.objects.truncate(selected_before);
                return self.everything(prefix, Some(hours)).await;
            }
            let page = self
                .page(ListRequest {
                    prefix: prefix.to_string(),
                    delimiter: true,
                    start_after: start_after.clone(),
                    max_keys: Some(1),
                    ..ListRequest::default()
                })
                .await?;
            // With a delimiter and one key, a page holds one object or one folder.
            let object = page.objects.into_iter().next();
            let folder = page.prefixes.into_iter().next();
            // A folder that comes first: skip past its keys here, prune it on its own below.
            let folder_first = folder
                .as_ref()
                .is_some_and(|f| object.as_ref().is_none_or(|o| *f < o.key));
            let next = match (object, folder) {
                (_, Some(f)) if folder_first => {
                    let skip = format!("{}0", f.trim_end_matches('/'));
                    folders.push(f);
                    skip
                }
                (None, _) => break,
                (Some(o), _) => {
                    let name = &o.key[prefix.len().min(o.key.len())..];
                    match flat_name(name) {
                        Some((distribution, _)) => {
                            let skip = format!("{prefix}{distribution}/");
                            distributions.push(distribution.to_string());
                            skip
                        }
                        None => {
                            // Not a CloudFront name: its hour is unknown, so it is read.
                            strays += 1;
                            let key = o.key.clone();
                            self.sel.objects.push(o);
                            key
                        }
                    }
                }
            };
            start_after = Some(next);
        }
        // Folders beside the flat files hold logs too: each is pruned in its own layout
        // (unless a partitioned walk of the same prefix reads them).
        for folder in folders.into_iter().filter(|_| with_folders) {
            if depth < MAX_BASE_DEPTH {
                Box::pin(self.pruned(&folder, Layout::Auto, hours, depth + 1)).await?;
            } else {
                self.everything(&folder, Some(hours)).await?;
            }
        }
        for distribution in distributions {
            let stem = format!("{prefix}{distribution}.");
            let Some(first) = stamp(hours.first) else {
                continue;
            };
            let mut token = None;
            let mut start = Some(format!("{stem}{first}"));
            'pages: loop {
                let page = self
                    .page(ListRequest {
                        prefix: stem.clone(),
                        start_after: start.take(),
                        token,
                        ..ListRequest::default()
                    })
                    .await?;
                for o in page.objects {
                    match flat_name(&o.key[prefix.len().min(o.key.len())..]) {
                        Some((_, hour)) if hour > hours.last => break 'pages,
                        Some((_, hour)) if hour < hours.first => {}
                        _ => self.sel.objects.push(o),
                    }
                }
                token = page.next_token;
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }
}

fn last_segment(folder: &str) -> &str {
    folder
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(folder)
}

fn is_digits<const N: usize>(s: &str) -> bool {
    s.len() == N && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD-HH` of an hour number.
fn stamp(hour: i64) -> Option<String> {
    DateTime::from_timestamp(hour.checked_mul(3600)?, 0)
        .map(|t| t.format("%Y-%m-%d-%H").to_string())
}

/// The hour number of a UTC date and hour, if they exist.
fn hour_number(y: &str, m: &str, d: &str, h: &str) -> Option<i64> {
    let date = chrono::NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    let h: i64 = h.parse().ok()?;
    (0..24).contains(&h).then(|| {
        date.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp() / 3600 + h)
    })?
}

/// `<DistributionId>.YYYY-MM-DD-HH.<id>[.gz]`: the distribution id and the hour number.
fn flat_name(name: &str) -> Option<(&str, i64)> {
    if name.contains('/') {
        return None;
    }
    let mut parts = name.split('.');
    let distribution = parts.next().filter(|d| !d.is_empty())?;
    let stamp = parts.next()?;
    parts.next()?; // the unique id
    let b = stamp.as_bytes();
    if b.len() != 13 || b[4] != b'-' || b[7] != b'-' || b[10] != b'-' {
        return None;
    }
    let hour = hour_number(&stamp[0..4], &stamp[5..7], &stamp[8..10], &stamp[11..13])?;
    Some((distribution, hour))
}

/// The layout a key follows and the hour it names, from its folders (hive, dated) or, failing
/// that, its file name (flat).
pub fn key_hour(key: &str) -> Option<(Layout, i64)> {
    let segments: Vec<&str> = key.split('/').collect();
    let folders = &segments[..segments.len().saturating_sub(1)];
    for w in folders.windows(4) {
        if let (Some(y), Some(m), Some(d), Some(h)) = (
            w[0].strip_prefix("year="),
            w[1].strip_prefix("month="),
            w[2].strip_prefix("day="),
            w[3].strip_prefix("hour="),
        ) && let Some(hour) = hour_number(y, m, d, h)
        {
            return Some((Layout::Hive, hour));
        }
        if is_digits::<4>(w[0])
            && is_digits::<2>(w[1])
            && is_digits::<2>(w[2])
            && is_digits::<2>(w[3])
            && let Some(hour) = hour_number(w[0], w[1], w[2], w[3])
        {
            return Some((Layout::Dated, hour));
        }
    }
    segments
        .last()
        .and_then(|name| flat_name(name))
        .map(|(_, hour)| (Layout::Flat, hour))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 1_768_503_600 / 3600; // 2026-01-15T19:00:00Z

    #[test]
    fn keys_name_their_hour() {
        assert_eq!(
            key_hour(
                "logs/DistributionId=E1/year=2026/month=01/day=15/hour=19/E1.2026-01-15-19.a.gz"
            ),
            Some((Layout::Hive, H))
        );
        assert_eq!(
            key_hour("logs/2026/01/15/19/E1.2026-01-15-19.a.gz"),
            Some((Layout::Dated, H))
        );
        assert_eq!(
            key_hour("E1.2026-01-15-19.a1b2c3.gz"),
            Some((Layout::Flat, H))
        );
        assert_eq!(
            key_hour("logs/E1.2026-01-15-19.a1b2c3.gz"),
            Some((Layout::Flat, H))
        );
        assert_eq!(key_hour("logs/readme.txt"), None);
        assert_eq!(key_hour("E1.2026-02-30-19.x.gz"), None);
        assert_eq!(key_hour("2026/01/15/24/x.gz"), None);
    }

    #[test]
    fn hour_ranges_include_the_margin() {
        // 19:50..20:00 with 60 minutes: 18:50..21:00, hours 18 to 21.
        let r = HourRange::around(H * 3600 + 3000, H * 3600 + 3600, 3600);
        assert_eq!((r.first, r.last), (H - 1, H + 2));
        assert_eq!(stamp(H).as_deref(), Some("2026-01-15-19"));
    }
}
