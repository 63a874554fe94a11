//! What a scan of CloudFront logs saw: counters shared by every partition of a scan, plus the
//! objects that failed and a sample of the malformed lines, each with its location.

use crate::lock::lock;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use datafusion::physical_plan::metrics::{
    ExecutionPlanMetricsSet, MetricBuilder, MetricValue, MetricsSet,
};
use serde::Serialize;

pub use super::counters::{LiveCounts, ObjectCounts, StatsSnapshot};

/// How many malformed lines are kept with their text for the report.
pub(crate) const MALFORMED_SAMPLES: usize = 20;

/// An object that could not be read (fully), with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectFailure {
    /// Where the object is (`/path/file.gz` or `s3://bucket/key`).
    pub object: String,
    /// Why it failed.
    pub reason: String,
}

/// A malformed line, with where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MalformedLine {
    /// Where the object is.
    pub object: String,
    /// 1-based line number in the (inflated) object.
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// Live counters of a scan; partitions add to them as they finish objects.
#[derive(Debug, Default)]
pub struct ScanStats {
    /// The counts the report shows.
    counts: LiveCounts,
    /// For the progress display: listing done, and what was selected and is done.
    listed: AtomicBool,
    objects_selected: AtomicU64,
    bytes_selected: AtomicU64,
    bytes_done: AtomicU64,
    failures: Mutex<Vec<ObjectFailure>>,
    malformed: Mutex<Vec<MalformedLine>>,
    notes: Mutex<Vec<String>>,
    /// The scan this one is a part of (a partition's counters within its scan's): every
    /// count is added to it too.
    parent: Option<std::sync::Arc<ScanStats>>,
}

impl ScanStats {
    /// The counters of one part of `parent` (a partition of its scan), adding to both.
    pub fn part_of(parent: std::sync::Arc<ScanStats>) -> Self {
        ScanStats {
            parent: Some(parent),
            ..ScanStats::default()
        }
    }

    /// Records the outcome of listing: how many keys were found with how many requests, and
    /// the objects (and their bytes) selected for reading.
    pub fn add_listing(&self, keys: u64, requests: u64, selected: u64, selected_bytes: u64) {
        self.counts
            .objects_listed
            .fetch_add(keys, Ordering::Relaxed);
        self.counts
            .list_requests
            .fetch_add(requests, Ordering::Relaxed);
        self.objects_selected.fetch_add(selected, Ordering::Relaxed);
        self.bytes_selected
            .fetch_add(selected_bytes, Ordering::Relaxed);
        self.listed.store(true, Ordering::Release);
        if let Some(parent) = &self.parent {
            parent.add_listing(keys, requests, selected, selected_bytes);
        }
    }

    /// Keeps a note about the listing for the report (once, however often it is listed).
    pub fn add_note(&self, note: String) {
        if let Some(parent) = &self.parent {
            parent.add_note(note.clone());
        }
        let mut notes = lock(&self.notes);
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// Records that an object of `size` listed bytes is done with (read or failed).
    pub fn object_done(&self, size: u64) {
        self.bytes_done.fetch_add(size, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.object_done(size);
        }
    }

    /// Where a running scan is, for a progress display (cheap: a few atomic loads).
    pub fn progress(&self) -> ScanProgress {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ScanProgress {
            listed: self.listed.load(Ordering::Acquire),
            objects_total: get(&self.objects_selected),
            objects_done: get(&self.counts.objects_read) + get(&self.counts.objects_failed),
            bytes_total: get(&self.bytes_selected),
            bytes_done: get(&self.bytes_done),
        }
    }

    /// Records the bytes fetched for one object.
    pub fn add_bytes(&self, bytes: u64) {
        self.counts.bytes_read.fetch_add(bytes, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.add_bytes(bytes);
        }
    }

    /// Records the row counts of one object (whether it was read fully or not).
    pub fn add_rows(&self, c: &ObjectCounts) {
        self.counts.add_rows(c);
        if let Some(parent) = &self.parent {
            parent.add_rows(c);
        }
    }

    /// Records an object read to its end.
    pub fn object_read(&self) {
        self.counts.objects_read.fetch_add(1, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.object_read();
        }
    }

    /// Records an object whose rows came from the projection a `--state` kept.
    pub fn object_from_state(&self) {
        self.counts
            .objects_from_state
            .fetch_add(1, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.object_from_state();
        }
    }

    /// Records an object from the state whose kept rows all lie outside the scan's time range.
    pub fn object_outside_window(&self) {
        self.counts
            .objects_outside_window
            .fetch_add(1, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.object_outside_window();
        }
    }

    /// Records an object that failed, with its location and reason.
    pub fn object_failed(&self, failure: ObjectFailure) {
        self.counts.objects_failed.fetch_add(1, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.object_failed(failure.clone());
        }
        lock(&self.failures).push(failure);
    }

    /// Keeps a malformed line for the report (the first few only; all are counted).
    pub fn sample_malformed(&self, line: MalformedLine) {
        if let Some(parent) = &self.parent {
            parent.sample_malformed(line.clone());
        }
        let mut samples = lock(&self.malformed);
        if samples.len() < MALFORMED_SAMPLES {
            samples.push(line);
        }
    }

    /// A consistent copy of the counters, failures sorted by object.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut failures = lock(&self.failures).clone();
        failures.sort_by(|a, b| a.object.cmp(&b.object));
        let mut malformed = lock(&self.malformed).clone();
        malformed.sort_by(|a, b| (&a.object, a.line).cmp(&(&b.object, b.line)));
        let mut snapshot = StatsSnapshot {
            failures,
            malformed_samples: malformed,
            notes: lock(&self.notes).clone(),
            ..StatsSnapshot::default()
        };
        for (name, value) in self.counts.load() {
            if let Some(slot) = snapshot.counter_mut(name) {
                *slot = value;
            }
        }
        snapshot
    }
}

/// The scans of this process by id, so that a plan serialised and decoded in the same process
/// (a standalone cluster) moves the live counters (the progress bar) of the scan it came
/// from. A decoded plan whose scan is not here (another process) counts into a fresh one.
/// The report never depends on this: it reads the plan's metrics.
static SCANS: std::sync::LazyLock<
    Mutex<std::collections::HashMap<u64, std::sync::Weak<ScanStats>>>,
> = std::sync::LazyLock::new(Default::default);

impl ScanStats {
    /// A new scan, findable by [`ScanStats::id`] from this process.
    pub fn registered() -> (u64, std::sync::Arc<ScanStats>) {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = (u64::from(std::process::id()) << 32) | NEXT.fetch_add(1, Ordering::Relaxed);
        let stats = std::sync::Arc::new(ScanStats::default());
        let mut scans = lock(&SCANS);
        scans.retain(|_, s| s.strong_count() > 0);
        scans.insert(id, std::sync::Arc::downgrade(&stats));
        (id, stats)
    }

    /// The scan `id` of this process, or a fresh one when it is not here.
    pub fn find(id: u64) -> std::sync::Arc<ScanStats> {
        lock(&SCANS)
            .get(&id)
            .and_then(std::sync::Weak::upgrade)
            .unwrap_or_default()
    }
}

/// The items of `now` that `before` does not hold.
fn new_items<T: Clone + PartialEq>(now: &[T], before: &[T]) -> Vec<T> {
    now.iter()
        .filter(|x| !before.contains(x))
        .cloned()
        .collect()
}

/// Publishes one partition's counters as metrics of its scan as they grow (after each object),
/// so that what a partition saw is in the plan's metrics even when the query stops reading it
/// early.
#[derive(Debug)]
pub struct MetricsPublisher {
    stats: std::sync::Arc<ScanStats>,
    metrics: ExecutionPlanMetricsSet,
    partition: usize,
    published: Mutex<StatsSnapshot>,
}

impl MetricsPublisher {
    /// A publisher of `stats` (a partition's) into `metrics` as partition `partition`.
    pub fn new(
        stats: std::sync::Arc<ScanStats>,
        metrics: ExecutionPlanMetricsSet,
        partition: usize,
    ) -> Self {
        MetricsPublisher {
            stats,
            metrics,
            partition,
            published: Mutex::new(StatsSnapshot::default()),
        }
    }

    /// Publishes what was counted since the last call.
    pub fn publish(&self) {
        let now = self.stats.snapshot();
        let mut published = lock(&self.published);
        now.since(&published).publish(&self.metrics, self.partition);
        *published = now;
    }
}

/// How far a running scan is: objects and (listed, compressed) bytes done of those selected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanProgress {
    /// Listing has finished, so the totals are known.
    pub listed: bool,
    /// Objects selected for reading.
    pub objects_total: u64,
    /// Objects read or failed.
    pub objects_done: u64,
    /// Listed size of the selected objects.
    pub bytes_total: u64,
    /// Listed size of the objects done.
    pub bytes_done: u64,
}

impl StatsSnapshot {
    /// True when some input was lost: a failed object or a malformed line.
    pub fn is_partial(&self) -> bool {
        self.objects_failed > 0 || self.rows_malformed > 0
    }
}

/// Names autorevoke's counters among an operator's metrics (`EXPLAIN ANALYZE`, Ballista's job
/// metrics), so a scan's counts travel back from executors with the plan's own metrics.
const METRIC_PREFIX: &str = "cloudfront.";
/// Separates the parts of a failure, malformed line or note carried in a metric's name.
const METRIC_SEP: char = '\u{1f}';

impl StatsSnapshot {
    /// Adds this snapshot (one partition's) to `metrics` as named counters of `partition`: the
    /// counts by name, and each failure, malformed line and note as a counter of 1 whose name
    /// carries its text. Counters are what Ballista 55 carries from executors to the scheduler
    /// (it refuses custom metric values), and they are kept per partition there, so a task
    /// that is run again replaces its counts rather than adding them twice.
    pub fn publish(&self, metrics: &ExecutionPlanMetricsSet, partition: usize) {
        let counter = |name: String, value: u64| {
            MetricBuilder::new(metrics)
                .counter(format!("{METRIC_PREFIX}{name}"), partition)
                .add(value as usize);
        };
        for (name, value) in self.counters() {
            if value > 0 {
                counter(name.to_string(), value);
            }
        }
        let s = METRIC_SEP;
        for f in &self.failures {
            counter(format!("failed{s}{}{s}{}", f.object, f.reason), 1);
        }
        for m in &self.malformed_samples {
            counter(
                format!("malformed{s}{}{s}{}{s}{}", m.object, m.line, m.reason),
                1,
            );
        }
        for note in &self.notes {
            counter(format!("note{s}{note}"), 1);
        }
    }

    /// What this snapshot counts beyond `earlier` (an earlier snapshot of the same counters):
    /// the differences of the counts, and the failures, samples and notes `earlier` lacks.
    pub fn since(&self, earlier: &StatsSnapshot) -> StatsSnapshot {
        let mut delta = StatsSnapshot::default();
        for (name, value) in self.counters() {
            let before = earlier
                .counters()
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(0, |(_, v)| *v);
            if let Some(slot) = delta.counter_mut(name) {
                *slot = value.saturating_sub(before);
            }
        }
        delta.failures = new_items(&self.failures, &earlier.failures);
        delta.malformed_samples = new_items(&self.malformed_samples, &earlier.malformed_samples);
        delta.notes = new_items(&self.notes, &earlier.notes);
        delta
    }

    /// A scan's counts from the metrics its partitions published with
    /// [`StatsSnapshot::publish`], wherever they ran (other metrics are ignored).
    pub fn from_metrics<'a>(sets: impl IntoIterator<Item = &'a MetricsSet>) -> Self {
        let mut snapshot = StatsSnapshot::default();
        for metric in sets.into_iter().flat_map(MetricsSet::iter) {
            let MetricValue::Count { name, count } = metric.value() else {
                continue;
            };
            let Some(name) = name.strip_prefix(METRIC_PREFIX) else {
                continue;
            };
            let count = count.value() as u64;
            let parts: Vec<&str> = name.split(METRIC_SEP).collect();
            match parts.as_slice() {
                ["failed", object, reason] => snapshot.failures.push(ObjectFailure {
                    object: object.to_string(),
                    reason: reason.to_string(),
                }),
                ["malformed", object, line, reason] => {
                    snapshot.malformed_samples.push(MalformedLine {
                        object: object.to_string(),
                        line: line.parse().unwrap_or(0),
                        reason: reason.to_string(),
                    })
                }
                ["note", note] if !snapshot.notes.iter().any(|n| n == note) => {
                    snapshot.notes.push(note.to_string());
                }
                [counter] => {
                    if let Some(value) = snapshot.counter_mut(counter) {
                        *value += count;
                    }
                }
                _ => {}
            }
        }
        snapshot.failures.sort_by(|a, b| a.object.cmp(&b.object));
        snapshot
            .malformed_samples
            .sort_by(|a, b| (&a.object, a.line).cmp(&(&b.object, b.line)));
        snapshot.malformed_samples.truncate(MALFORMED_SAMPLES);
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(object: &str, failed: bool, note: &str) -> StatsSnapshot {
        StatsSnapshot {
            objects_read: 2,
            objects_failed: u64::from(failed),
            bytes_read: 1000,
            rows_read: 50,
            rows_malformed: 1,
            rows_without_session: 3,
            failures: if failed {
                vec![ObjectFailure {
                    object: object.to_string(),
                    reason: "truncated gzip (unexpected end of data)".to_string(),
                }]
            } else {
                Vec::new()
            },
            malformed_samples: vec![MalformedLine {
                object: object.to_string(),
                line: 7,
                reason: "19 fields, expected 33".to_string(),
            }],
            notes: vec![note.to_string()],
            ..StatsSnapshot::default()
        }
    }

    #[test]
    fn partitions_published_as_metrics_add_up_to_the_scan() {
        let metrics = ExecutionPlanMetricsSet::new();
        // Listing counts travel with one partition only.
        let mut first = partition("s3://b/z.gz", true, "keys in two layouts");
        first.objects_listed = 9;
        first.list_requests = 2;
        first.publish(&metrics, 0);
        partition("s3://b/a.gz", false, "keys in two layouts").publish(&metrics, 1);
        // Other operators' metrics are ignored.
        MetricBuilder::new(&metrics)
            .counter("objects_read", 0)
            .add(100);
        let scan = StatsSnapshot::from_metrics([&metrics.clone_inner()]);
        assert_eq!(
            (
                scan.objects_listed,
                scan.list_requests,
                scan.objects_read,
                scan.objects_failed,
                scan.bytes_read,
                scan.rows_read,
                scan.rows_malformed,
                scan.rows_without_session,
                scan.rows_rejected_session,
            ),
            (9, 2, 4, 1, 2000, 100, 2, 6, 0)
        );
        assert_eq!(
            scan.failures,
            vec![ObjectFailure {
                object: "s3://b/z.gz".into(),
                reason: "truncated gzip (unexpected end of data)".into(),
            }]
        );
        let lines: Vec<(&str, u64)> = scan
            .malformed_samples
            .iter()
            .map(|m| (m.object.as_str(), m.line))
            .collect();
        assert_eq!(lines, [("s3://b/a.gz", 7), ("s3://b/z.gz", 7)]);
        assert_eq!(scan.malformed_samples[0].reason, "19 fields, expected 33");
        assert_eq!(scan.notes, ["keys in two layouts"]);
    }

    #[test]
    fn a_partition_published_object_by_object_counts_each_thing_once() {
        let stats = std::sync::Arc::new(ScanStats::default());
        let metrics = ExecutionPlanMetricsSet::new();
        let publisher = MetricsPublisher::new(std::sync::Arc::clone(&stats), metrics.clone(), 0);
        stats.add_rows(&ObjectCounts {
            rows_read: 10,
            ..ObjectCounts::default()
        });
        stats.object_read();
        publisher.publish();
        stats.add_rows(&ObjectCounts {
            rows_read: 5,
            rows_malformed: 1,
            ..ObjectCounts::default()
        });
        stats.object_failed(ObjectFailure {
            object: "b.gz".into(),
            reason: "corrupt gzip".into(),
        });
        publisher.publish();
        publisher.publish();
        let scan = StatsSnapshot::from_metrics([&metrics.clone_inner()]);
        assert_eq!(
            (
                scan.objects_read,
                scan.objects_failed,
                scan.rows_read,
                scan.rows_malformed
            ),
            (1, 1, 15, 1)
        );
        assert_eq!(scan.failures.len(), 1);
        assert_eq!(scan, stats.snapshot());
    }
}
