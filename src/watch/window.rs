//! The window in event time: the in-scope rows of the records read (the compact columns of
//! the `--state` projections), ending at the newest record time seen less an allowance for
//! records still in flight, scored by the profile's query through a DataFusion table over
//! the rows held. Memory is bounded: rows older than the window are dropped as it moves, and
//! a window that outgrows `--memory-limit` is an error, not an out-of-memory kill.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::RecordBatch;
use chrono::DateTime;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use super::stream::StreamRecord;
use crate::cloudfront::parser::ParseProblem;
use crate::cloudfront::{InputFormat, RealtimeFields, StateStore, StatsSnapshot};
use crate::engine::LOGS_TABLE;
use crate::error::{Error, Result};
use crate::score::{ScoreParams, ScoreReport, Window, bind, report_of, score_sql};
use crate::session::SessionRule;

/// Rows per batch the parser builds, at most (a page of fewer lines builds one batch of its
/// size: the builders are sized for a batch).
const BATCH_ROWS: usize = 8192;

/// Held batches are merged up to this many rows, when their newest times are this close:
/// fewer, fuller batches (a stream at its tip gives many small pages), held at most that
/// much longer.
const COMPACT_ROWS: usize = 65_536;
const COMPACT_SPAN_S: i64 = 30;

/// What the records of one page gave.
#[derive(Debug, Default)]
pub struct ParsedPage {
    /// The in-scope rows.
    pub batches: Vec<RecordBatch>,
    /// The newest time of a well-formed record (any status), epoch seconds.
    pub newest: Option<i64>,
    /// Lines read.
    pub lines: u64,
    /// Lines that are not records of the configured field set.
    pub malformed: u64,
}

/// Reads real-time records into the window's columns.
#[derive(Debug, Clone, Copy)]
pub struct RecordReader {
    fields: RealtimeFields,
    rule: SessionRule,
}

impl RecordReader {
    /// Records of `fields`, sessions named by `rule`.
    pub fn new(fields: RealtimeFields, rule: SessionRule) -> Self {
        RecordReader { fields, rule }
    }

    /// The in-scope rows of `records` (each one or more lines), and the newest record time.
    pub fn parse(&self, records: &[StreamRecord]) -> Result<ParsedPage> {
        let problem = |p: ParseProblem| match p {
            ParseProblem::Malformed(m) | ParseProblem::Object(m) => {
                Error::Other(format!("reading real-time records: {m}"))
            }
        };
        let lines: usize = records
            .iter()
            .map(|r| memchr::memchr_iter(b'\n', &r.data).count().max(1))
            .sum();
        let mut parser = crate::cloudfront::parser::ObjectParser::new(
            StateStore::projection(),
            StateStore::schema(),
            Arc::new(StateStore::row_filter()),
            lines.clamp(1, BATCH_ROWS),
        )
        .map_err(problem)?
        .with_format(InputFormat::Realtime, self.fields)
        .with_session_rule(self.rule)
        .map_err(problem)?;
        let mut page = ParsedPage::default();
        for record in records {
            for line in record.data.split(|b| *b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.is_empty() {
                    continue;
                }
                page.lines += 1;
                match parser.push_line(line) {
                    Ok(batch) => {
                        page.batches.extend(batch);
                        if let Some(t) = record_time(line) {
                            page.newest = Some(page.newest.map_or(t, |n: i64| n.max(t)));
                        }
                    }
                    Err(ParseProblem::Malformed(_)) => page.malformed += 1,
                    Err(other) => return Err(problem(other)),
                }
            }
        }
        page.batches.extend(parser.finish().map_err(problem)?);
        Ok(page)
    }
}

/// The epoch second of a real-time record (its first field, `1767225600.123`), rounded down
/// as the reader rounds `ts`.
pub fn record_time(line: &[u8]) -> Option<i64> {
    let first = line.split(|b| *b == b'\t').next()?;
    let whole = first.split(|b| *b == b'.').next()?;
    if whole.is_empty() || whole.len() > 18 || !whole.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(whole).ok()?.parse().ok()
}

/// Rows held, with their newest time.
#[derive(Debug)]
struct Held {
    batch: RecordBatch,
    newest: i64,
    bytes: usize,
}

/// The rows of the last `lookback` seconds of event time.
#[derive(Debug)]
pub struct EventWindow {
    lookback_s: i64,
    allowance_s: i64,
    memory_limit: Option<usize>,
    newest: Option<i64>,
    held: VecDeque<Held>,
    bytes: usize,
}

impl EventWindow {
    /// A window of `lookback_s` seconds ending `allowance_s` before the newest record time,
    /// holding at most `memory_limit` bytes of rows.
    pub fn new(lookback_s: i64, allowance_s: i64, memory_limit: Option<usize>) -> Self {
        EventWindow {
            lookback_s,
            allowance_s,
            memory_limit,
            newest: None,
            held: VecDeque::new(),
            bytes: 0,
        }
    }

    /// The window now: `to` is the newest record time less the allowance, `from` is
    /// `lookback` before it (both inclusive, as `score --now TO --lookback` has them).
    pub fn bounds(&self) -> Option<Window> {
        let to = self.newest? - self.allowance_s;
        Some(Window {
            from: DateTime::from_timestamp(to - self.lookback_s, 0)?,
            to: DateTime::from_timestamp(to, 0)?,
        })
    }

    /// The first time a row must have to be kept.
    pub fn keep_from(&self) -> Option<i64> {
        self.bounds().map(|w| w.from.timestamp())
    }

    /// The newest record time seen.
    pub fn newest(&self) -> Option<i64> {
        self.newest
    }

    /// Adds a page's rows, moves the window to its newest time and drops rows it left.
    pub fn add(&mut self, page: ParsedPage) -> Result<()> {
        if let Some(t) = page.newest {
            self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        }
        for batch in page.batches {
            let Some(newest) = newest_ts(&batch) else {
                continue;
            };
            // The parser's buffers are sized for a full batch: keep a copy of the rows alone.
            let rows = arrow::array::UInt32Array::from_iter_values(
                0..u32::try_from(batch.num_rows()).unwrap_or(u32::MAX),
            );
            let batch = arrow::compute::take_record_batch(&batch, &rows)
                .map_err(|e| Error::Other(format!("holding the window's rows: {e}")))?;
            let bytes = batch.get_array_memory_size();
            self.bytes += bytes;
            self.held.push_back(Held {
                batch,
                newest,
                bytes,
            });
        }
        self.evict();
        match self.memory_limit {
            Some(limit) if self.bytes > limit => Err(Error::Other(format!(
                "the window holds {} bytes of in-scope rows, more than --memory-limit {limit}: \
                 raise --memory-limit or shorten --lookback",
                self.bytes
            ))),
            _ => Ok(()),
        }
    }

    fn evict(&mut self) {
        let Some(from) = self.keep_from() else {
            return;
        };
        let before = self.held.len();
        self.held.retain(|h| h.newest >= from);
        if self.held.len() != before {
            self.bytes = self.held.iter().map(|h| h.bytes).sum();
        }
    }

    /// Merges runs of small held batches (up to [`COMPACT_ROWS`] rows whose newest times are
    /// within [`COMPACT_SPAN_S`]) into one each.
    pub fn compact(&mut self) -> Result<()> {
        let held = std::mem::take(&mut self.held);
        let mut run: Vec<Held> = Vec::new();
        for h in held {
            let rows: usize = run.iter().map(|r| r.batch.num_rows()).sum();
            let fits = run.first().is_none_or(|first| {
                rows + h.batch.num_rows() <= COMPACT_ROWS
                    && (h.newest - first.newest).abs() <= COMPACT_SPAN_S
            });
            if !fits {
                self.push_merged(std::mem::take(&mut run))?;
            }
            run.push(h);
        }
        self.push_merged(run)?;
        self.bytes = self.held.iter().map(|h| h.bytes).sum();
        Ok(())
    }

    fn push_merged(&mut self, run: Vec<Held>) -> Result<()> {
        match run.len() {
            0 => {}
            1 => self.held.extend(run),
            _ => {
                let newest = run.iter().map(|h| h.newest).max().unwrap_or(i64::MIN);
                let batches: Vec<&RecordBatch> = run.iter().map(|h| &h.batch).collect();
                let batch = arrow::compute::concat_batches(&StateStore::schema(), batches)
                    .map_err(|e| Error::Other(format!("compacting the window: {e}")))?;
                let bytes = batch.get_array_memory_size();
                self.held.push_back(Held {
                    batch,
                    newest,
                    bytes,
                });
            }
        }
        Ok(())
    }

    /// Bytes of rows held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Rows held (some may be just before the window, in a batch that reaches into it).
    pub fn rows(&self) -> usize {
        self.held.iter().map(|h| h.batch.num_rows()).sum()
    }

    fn batches(&self) -> Vec<RecordBatch> {
        self.held.iter().map(|h| h.batch.clone()).collect()
    }
}

/// The newest `ts` of a batch of the window's columns.
fn newest_ts(batch: &RecordBatch) -> Option<i64> {
    use arrow::array::AsArray;
    use arrow::datatypes::TimestampSecondType;
    let ts = batch
        .column_by_name("ts")?
        .as_primitive_opt::<TimestampSecondType>()?;
    arrow::compute::max(ts)
}

/// Scores windows with the profile's query: one DataFusion session, the window's rows
/// registered as `logs` before each query.
pub struct WindowScorer {
    ctx: SessionContext,
    partitions: usize,
}

impl WindowScorer {
    /// A session of `threads` partitions (default: cores + 1), its queries held to
    /// `memory_limit` bytes when given.
    pub fn new(threads: Option<usize>, memory_limit: Option<usize>) -> Result<Self> {
        let partitions = threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get) + 1
            })
            .max(1);
        let config = SessionConfig::new().with_target_partitions(partitions);
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(bytes) = memory_limit {
            runtime = runtime.with_memory_pool(Arc::new(GreedyMemoryPool::new(bytes)));
        }
        let runtime = runtime
            .build_arc()
            .map_err(Error::query("setting up the memory pool"))?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        crate::functions::register_in(&ctx);
        Ok(WindowScorer { ctx, partitions })
    }

    /// Scores `window` with `params`: the same query, parameters and result as `score`
    /// over the same rows. None while no record has been read.
    pub async fn score(
        &self,
        window: &EventWindow,
        params: &ScoreParams,
        stream: &str,
    ) -> Result<Option<ScoreReport>> {
        let Some(bounds) = window.bounds() else {
            return Ok(None);
        };
        let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); self.partitions];
        for (i, batch) in window.batches().into_iter().enumerate() {
            partitions[i % self.partitions].push(batch);
        }
        let table = MemTable::try_new(StateStore::schema(), partitions)
            .map_err(Error::query("making the window's table"))?;
        self.ctx
            .deregister_table(LOGS_TABLE)
            .map_err(Error::query("replacing the logs table"))?;
        self.ctx
            .register_table(LOGS_TABLE, Arc::new(table))
            .map_err(Error::query("registering the logs table"))?;
        let batches = self
            .ctx
            .sql(&score_sql(params.profile))
            .await
            .map_err(Error::query("planning the query"))?
            .with_param_values(bind(&bounds, params))
            .map_err(Error::query("binding the query's parameters"))?
            .collect()
            .await
            .map_err(Error::query("scoring the window"))?;
        let mut report = report_of(bounds, *params, &batches, StatsSnapshot::default())?;
        report.locations = format!("kinesis stream {stream}");
        Ok(Some(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(ts: &str, session: &str, status: &str) -> StreamRecord {
        let line = RealtimeFields::default()
            .names()
            .iter()
            .map(|name| match *name {
                "timestamp" => ts.to_string(),
                "c-ip" => "192.0.2.7".to_string(),
                "sc-status" => status.to_string(),
                "sc-bytes" => "5000".to_string(),
                "cs-uri-stem" => format!("/{session}.eyJhbGciOiJIUzI1NiJ9.e30.c2ln/v/1.ts"),
                _ => "-".to_string(),
            })
            .collect::<Vec<_>>()
            .join("\t");
        StreamRecord {
            sequence: "1".into(),
            data: Bytes::from(format!("{line}\n")),
        }
    }

    #[test]
    fn the_window_ends_at_the_newest_record_less_the_allowance_and_drops_older_rows() {
        let reader = RecordReader::new(RealtimeFields::default(), SessionRule::Prefix);
        let mut window = EventWindow::new(600, 5, None);
        let old = reader
            .parse(&[record("1767225600.900", "sessA", "200")])
            .expect("parse");
        assert_eq!(
            (old.newest, old.lines, old.malformed),
            (Some(1_767_225_600), 1, 0)
        );
        window.add(old).expect("add");
        assert_eq!(window.rows(), 1);
        // A 404 is no row, but its time moves the window; a malformed line neither.
        let page = reader
            .parse(&[
                record("1767226300.000", "sessB", "404"),
                StreamRecord {
                    sequence: "2".into(),
                    data: Bytes::from_static(b"9999999999.0\tgarbage\n"),
                },
                record("1767226000.000", "sessC", "206"),
            ])
            .expect("parse");
        assert_eq!(
            (page.newest, page.lines, page.malformed),
            (Some(1_767_226_300), 3, 1)
        );
        window.add(page).expect("add");
        let bounds = window.bounds().expect("bounds");
        assert_eq!(
            (bounds.from.timestamp(), bounds.to.timestamp()),
            (1_767_226_300 - 5 - 600, 1_767_226_300 - 5)
        );
        // sessA's row (600 s) is before 1_767_225_695: dropped.
        assert_eq!(window.rows(), 1);
    }

    #[test]
    fn small_batches_are_merged_into_one() {
        let reader = RecordReader::new(RealtimeFields::default(), SessionRule::Prefix);
        let mut window = EventWindow::new(600, 0, None);
        for (i, session) in ["sessA", "sessB", "sessC", "sessA"].iter().enumerate() {
            let page = reader
                .parse(&[record(
                    &format!("{}.5", 1_767_225_600 + 10 * i),
                    session,
                    "200",
                )])
                .expect("parse");
            window.add(page).expect("add");
        }
        assert_eq!((window.held.len(), window.rows()), (4, 4));
        let before = window.bytes();
        window.compact().expect("compact");
        assert_eq!((window.held.len(), window.rows()), (1, 4));
        assert!(window.bytes() < before, "{} >= {before}", window.bytes());
        assert_eq!(window.held[0].newest, 1_767_225_630);
    }

    #[test]
    fn a_window_over_its_memory_limit_is_an_error() {
        let reader = RecordReader::new(RealtimeFields::default(), SessionRule::Prefix);
        let mut window = EventWindow::new(600, 0, Some(64));
        let page = reader
            .parse(&[record("1767225600.0", "sessA", "200")])
            .expect("parse");
        let err = window.add(page).expect_err("over the limit");
        assert!(
            err.to_string().ends_with(
                "more than --memory-limit 64: raise --memory-limit or shorten --lookback"
            ),
            "{err}"
        );
    }

    #[test]
    fn record_times_are_whole_epoch_seconds() {
        assert_eq!(record_time(b"1767225600.999\tx"), Some(1_767_225_600));
        assert_eq!(record_time(b"1767225600\tx"), Some(1_767_225_600));
        assert_eq!(record_time(b"abc\tx"), None);
        assert_eq!(record_time(b""), None);
    }
}
