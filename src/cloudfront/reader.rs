//! Reading a scan's log objects: how objects are spread over partitions and how a partition
//! reads its own (`PartitionReader`, run by `source::LogsSource` for each partition).
//!
//! Objects are spread over partitions (largest first, to the least loaded); each partition
//! fetches its objects one after another and inflates and parses each on a blocking thread,
//! sending batches through a bounded channel, so memory stays bounded whatever the number of
//! objects. A failed object is recorded with its location and the partition goes on (unless
//! `strict`); rows read before the failure are kept.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DfResult};
use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::sync::mpsc::Sender;

use super::body::{StreamedBody, fetch_failure};
use super::decode::{Line, for_each_object_line, for_each_streamed_line};
use super::filter::RowFilter;
use super::format::InputFormat;
use super::format::parquet::{ParquetLimits, for_each_parquet_line, is_parquet};
use super::format::realtime::RealtimeFields;
use super::parser::{ObjectParser, ParseProblem};
use super::state::{Kept, Loaded, ProjectionWriter, StateStore, narrow, positions_in_kept};
use super::stats::ObjectCounts;
use super::stats::{MalformedLine, MetricsPublisher, ObjectFailure, ScanStats};
use crate::retry::{Backoff, Verdict, with_backoff};
use crate::session::SessionRule;
use crate::source::LogObject;

/// How objects are read: limits and strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadOptions {
    /// Make a malformed line or a failed object fail the query.
    pub strict: bool,
    /// Most bytes one object may inflate to.
    pub max_inflated_bytes: u64,
    /// Longest line kept; a longer one is malformed.
    pub max_line_bytes: usize,
    /// Objects fetched at once over all partitions (fetches run ahead of parsing).
    pub concurrency: usize,
    /// Objects larger than this (listed size) are streamed, chunk by chunk, instead of
    /// fetched whole, so memory does not follow the largest object.
    pub stream_above_bytes: u64,
    /// The form objects are in (detected per object by default).
    pub format: InputFormat,
    /// The fields of real-time log records (`--realtime-fields`).
    pub realtime_fields: RealtimeFields,
    /// How a request names its session (`--session-from`).
    #[serde(default)]
    pub session_from: SessionRule,
}

/// The default of [`ReadOptions::concurrency`]: objects fetched at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// The default of [`ReadOptions::stream_above_bytes`]: 64 MiB (CloudFront's own files are
/// far smaller; anything larger is streamed).
pub const DEFAULT_STREAM_ABOVE_BYTES: u64 = 64 << 20;

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            strict: false,
            max_inflated_bytes: 16 << 30,
            max_line_bytes: 1 << 20,
            concurrency: DEFAULT_CONCURRENCY,
            stream_above_bytes: DEFAULT_STREAM_ABOVE_BYTES,
            format: InputFormat::Auto,
            realtime_fields: RealtimeFields::default(),
            session_from: SessionRule::Prefix,
        }
    }
}

/// Spreads objects over at most `n` partitions, largest first to the least loaded, so the
/// partitions finish at about the same time. Always at least one partition.
pub(crate) fn spread(mut objects: Vec<LogObject>, n: usize) -> Vec<Vec<LogObject>> {
    let n = n.clamp(1, objects.len().max(1));
    objects.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.display.cmp(&b.display)));
    let mut parts: Vec<(u64, Vec<LogObject>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for object in objects {
        if let Some(part) = parts.iter_mut().min_by_key(|(load, _)| *load) {
            part.0 += object.size.max(1);
            part.1.push(object);
        }
    }
    parts.into_iter().map(|(_, objects)| objects).collect()
}

impl PartitionReader {
    /// A reader of one partition's objects, all in `store` (a scan has one config per store),
    /// sending its batches of the
    /// `projection` columns (`schema`) through `tx` and counting into `stats`; with a `state`,
    /// objects are parsed into projections (kept for later runs) and narrowed to the scan's
    /// rows and columns.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        tx: Sender<DfResult<RecordBatch>>,
        store: Arc<dyn ObjectStore>,
        projection: Arc<[usize]>,
        schema: SchemaRef,
        filter: Arc<RowFilter>,
        state: Option<Arc<StateStore>>,
        stats: Arc<ScanStats>,
        options: ReadOptions,
        batch_size: usize,
        prefetch: usize,
    ) -> Self {
        let (projection, schema, filter, narrowing) = match &state {
            Some(_) => (
                StateStore::projection(),
                StateStore::schema(),
                Arc::new(StateStore::row_filter()),
                Some(Arc::new(Narrowing {
                    ts: filter.ts,
                    positions: positions_in_kept(&projection),
                    schema,
                })),
            ),
            None => (projection, schema, filter, None),
        };
        PartitionReader {
            tx,
            store,
            projection,
            schema,
            filter,
            state,
            narrowing,
            stats,
            options,
            batch_size,
            prefetch,
            publisher: None,
        }
    }
}

/// Everything a partition's task needs to read its objects.
#[derive(Clone)]
pub(crate) struct PartitionReader {
    tx: Sender<DfResult<RecordBatch>>,
    /// The store of the partition's objects.
    store: Arc<dyn ObjectStore>,
    /// What the parser builds (the scan's, or a kept projection's with a state).
    projection: Arc<[usize]>,
    schema: SchemaRef,
    filter: Arc<RowFilter>,
    state: Option<Arc<StateStore>>,
    /// With a state: how projections become the scan's batches.
    narrowing: Option<Arc<Narrowing>>,
    stats: Arc<ScanStats>,
    options: ReadOptions,
    batch_size: usize,
    /// Objects this partition fetches ahead of the one being parsed.
    prefetch: usize,
    /// Where its counters are published as metrics, object by object.
    publisher: Option<Arc<MetricsPublisher>>,
}

/// How a kept projection's rows become a scan's: its time range and columns.
struct Narrowing {
    ts: super::filter::Range,
    /// For each of the scan's columns, its position in a projection.
    positions: Vec<usize>,
    schema: SchemaRef,
}

/// An object as the partition's fetch stage hands it on.
enum Fetched {
    /// Its projection, kept by an earlier run for its current version.
    Kept(Kept),
    /// The counts of its kept projection, whose rows all lie outside the scan's times.
    Outside(ObjectCounts),
    /// Its bytes, fetched whole.
    Whole(bytes::Bytes),
    /// Too large to fetch ahead: streamed while parsed.
    Streamed,
    /// It cannot be fetched.
    Failed(String),
}

/// Why reading an object stopped early.
enum Stop {
    /// The object failed; the run may go on.
    Failed(String),
    /// Strict mode: the query must fail with this message.
    Fatal(String),
    /// The consumer went away.
    Cancelled,
}

impl PartitionReader {
    /// Reads `objects` one after another (fetching ahead), recording each one's outcome.
    pub(crate) async fn run(self, objects: Vec<LogObject>) -> DfResult<()> {
        // Fetches run up to `prefetch` objects ahead; parsing takes them in order. Memory is
        // bounded by the objects in flight, whatever the number of objects.
        let stream_above = self.options.stream_above_bytes;
        let (state, stats) = (self.state.clone(), Arc::clone(&self.stats));
        let window = self.narrowing.as_ref().map(|n| n.ts).unwrap_or_default();
        let store = Arc::clone(&self.store);
        let buffers = ReadBuffers::new(self.prefetch + 1);
        let mut fetched = futures::stream::iter(objects)
            .map(|object| {
                let (state, stats, store) = (state.clone(), Arc::clone(&stats), Arc::clone(&store));
                let buffers = buffers.clone();
                async move {
                    if let Some(state) = &state {
                        match state.load(&object, window).await {
                            Ok(Some(Loaded::Rows(kept))) => return (object, Fetched::Kept(kept)),
                            Ok(Some(Loaded::Outside(counts))) => {
                                return (object, Fetched::Outside(counts));
                            }
                            Ok(None) => {}
                            Err(reason) => {
                                tracing::warn!(%reason, "a kept projection is unreadable");
                                stats.add_note(format!(
                                    "a kept projection was unreadable and is replaced: {reason}"
                                ));
                            }
                        }
                    }
                    // A large object is not fetched ahead: it is streamed while parsed.
                    let body = if object.size > stream_above && object.unreadable.is_none() {
                        Fetched::Streamed
                    } else {
                        match fetch(&store, &object, &buffers).await {
                            Ok(bytes) => Fetched::Whole(bytes),
                            Err(reason) => Fetched::Failed(reason),
                        }
                    };
                    (object, body)
                }
            })
            .buffered(self.prefetch);
        // The inflate buffer, reused object after object (it moves to the parser thread and
        // back), so a partition keeps one, sized by its largest object.
        let mut scratch = Vec::new();
        while let Some((object, body)) = fetched.next().await {
            let (object_name, size) = (object.display.clone(), object.size);
            let parsed = match body {
                Fetched::Kept(kept) => {
                    self.stats.add_rows(&kept.counts);
                    self.stats.object_from_state();
                    Parsed {
                        outcome: Ok(()),
                        kept_batches: kept.batches,
                        projection: None,
                    }
                }
                Fetched::Outside(counts) => {
                    self.stats.add_rows(&counts);
                    self.stats.object_from_state();
                    self.stats.object_outside_window();
                    Parsed {
                        outcome: Ok(()),
                        kept_batches: Vec::new(),
                        projection: None,
                    }
                }
                Fetched::Streamed => {
                    let reader = self.clone();
                    let runtime = tokio::runtime::Handle::current();
                    let (store, stats) = (Arc::clone(&self.store), Arc::clone(&self.stats));
                    let object = object.clone();
                    match tokio::task::spawn_blocking(move || {
                        let body = CountedBody {
                            inner: StreamedBody::new(store, object.clone(), runtime),
                            stats,
                        };
                        reader.parse(&object, Source::Streamed(Box::new(body)), &mut Vec::new())
                    })
                    .await
                    {
                        Ok(parsed) => parsed,
                        Err(e) => Parsed::failed(format!("parser task failed: {e}")),
                    }
                }
                Fetched::Whole(bytes) => {
                    self.stats.add_bytes(bytes.len() as u64);
                    let reader = self.clone();
                    let object = object.clone();
                    let mut buffer = std::mem::take(&mut scratch);
                    match tokio::task::spawn_blocking(move || {
                        let parsed = reader.parse(&object, Source::Whole(&bytes), &mut buffer);
                        (parsed, buffer, bytes)
                    })
                    .await
                    {
                        Ok((parsed, buffer, bytes)) => {
                            scratch = buffer;
                            buffers.give_back(bytes);
                            parsed
                        }
                        Err(e) => Parsed::failed(format!("parser task failed: {e}")),
                    }
                }
                Fetched::Failed(reason) => Parsed::failed(reason),
            };
            let outcome = match self.keep_and_send_kept(&object, parsed).await {
                Ok(outcome) => outcome,
                Err(Stop::Cancelled) => return Ok(()),
                Err(stop) => Err(stop),
            };
            self.stats.object_done(size);
            match outcome {
                Ok(()) => {
                    tracing::debug!(object = %object_name, bytes = size, "object read");
                    self.stats.object_read();
                }
                Err(Stop::Cancelled) => return Ok(()),
                Err(Stop::Fatal(message)) => return Err(DataFusionError::Execution(message)),
                Err(Stop::Failed(reason)) => {
                    tracing::warn!(object = %object_name, %reason, "object failed");
                    let message = format!("{object_name}: {reason}");
                    self.stats.object_failed(ObjectFailure {
                        object: object_name,
                        reason,
                    });
                    if self.options.strict {
                        return Err(DataFusionError::Execution(message));
                    }
                }
            }
            if let Some(publisher) = &self.publisher {
                publisher.publish();
            }
        }
        Ok(())
    }

    /// The same reader, publishing its counters as metrics after each object.
    pub(crate) fn with_publisher(mut self, publisher: Arc<MetricsPublisher>) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Inflates and parses one object, sending its batches (with a state, narrowed to the
    /// scan's rows and columns, while its projection is written). Runs on a blocking thread.
    fn parse(&self, object: &LogObject, source: Source<'_>, scratch: &mut Vec<u8>) -> Parsed {
        let writer = std::cell::RefCell::new(self.state.as_ref().map(|s| s.writer(object)));
        let mut counts = ObjectCounts::default();
        let outcome = self.parse_object(&object.display, source, scratch, &writer, &mut counts);
        // Only an object read to its end without malformed lines is kept.
        let projection = writer
            .into_inner()
            .filter(|_| outcome.is_ok() && counts.rows_malformed == 0)
            .map(|writer| writer.finish(&counts));
        Parsed {
            outcome,
            kept_batches: Vec::new(),
            projection,
        }
    }

    /// With a state: keeps the projection of an object read from the logs, or sends the rows
    /// of a kept projection narrowed to the scan's. Ok(outcome) of the object, or Err when the
    /// scan must stop.
    async fn keep_and_send_kept(
        &self,
        object: &LogObject,
        parsed: Parsed,
    ) -> Result<Result<(), Stop>, Stop> {
        let Some(narrowing) = &self.narrowing else {
            return Ok(parsed.outcome);
        };
        match parsed.outcome {
            Err(Stop::Cancelled) => return Err(Stop::Cancelled),
            Err(Stop::Fatal(message)) => return Ok(Err(Stop::Fatal(message))),
            _ => {}
        }
        if let (Some(state), Some(projection)) = (&self.state, parsed.projection) {
            let kept = match projection {
                Ok(framed) => state.save(object, framed).await,
                Err(reason) => Err(format!("{}: {reason}", object.display)),
            };
            if let Err(reason) = kept {
                tracing::warn!(object = %object.display, %reason, "projection not kept");
                self.stats.add_note(format!(
                    "a projection could not be kept (it is read again next run): {reason}"
                ));
            }
        }
        for batch in &parsed.kept_batches {
            let batch = narrow(batch, narrowing.ts, &narrowing.positions, &narrowing.schema)
                .map_err(|e| {
                    Stop::Fatal(format!("{}: narrowing its projection: {e}", object.display))
                })?;
            if batch.num_rows() > 0 {
                self.tx.send(Ok(batch)).await.map_err(|_| Stop::Cancelled)?;
            }
        }
        Ok(parsed.outcome)
    }

    fn parse_object(
        &self,
        display: &str,
        source: Source<'_>,
        scratch: &mut Vec<u8>,
        writer: &std::cell::RefCell<Option<ProjectionWriter>>,
        counts: &mut ObjectCounts,
    ) -> Result<(), Stop> {
        let mut parser = ObjectParser::new(
            Arc::clone(&self.projection),
            Arc::clone(&self.schema),
            Arc::clone(&self.filter),
            self.batch_size,
        )
        .map_err(|p| Stop::Failed(problem_text(p)))?
        .with_format(self.options.format, self.options.realtime_fields)
        .with_session_rule(self.options.session_from)
        .map_err(|p| Stop::Failed(problem_text(p)))?;
        let format = self.options.format;
        let parquet = matches!(&source, Source::Whole(bytes) if is_parquet(bytes));
        match (format, parquet) {
            (InputFormat::Parquet, false) => {
                return Err(Stop::Failed(
                    "not a Parquet file (--format-in parquet)".to_string(),
                ));
            }
            (InputFormat::W3c | InputFormat::Json | InputFormat::Realtime, true) => {
                return Err(Stop::Failed(format!(
                    "a Parquet file, not {} (--format-in)",
                    match format {
                        InputFormat::W3c => "W3C text",
                        InputFormat::Json => "JSON",
                        _ => "a real-time log",
                    }
                )));
            }
            _ => {}
        }
        let send = |batch: RecordBatch| -> Result<(), Stop> {
            let batch = match &self.narrowing {
                Some(n) => {
                    if let Some(writer) = writer.borrow_mut().as_mut() {
                        writer.write(&batch);
                    }
                    let narrowed = narrow(&batch, n.ts, &n.positions, &n.schema).map_err(|e| {
                        Stop::Fatal(format!("{display}: narrowing its projection: {e}"))
                    })?;
                    if narrowed.num_rows() == 0 {
                        return Ok(());
                    }
                    narrowed
                }
                None => batch,
            };
            self.tx
                .blocking_send(Ok(batch))
                .map_err(|_| Stop::Cancelled)
        };
        let samples = std::cell::RefCell::new(Vec::new());
        let on_line = |line_no: u64, line: Line<'_>| {
            let result = match line {
                Line::Text(text) => parser.push_line(text),
                Line::TooLong => {
                    parser.too_long_line();
                    Err(ParseProblem::Malformed(format!(
                        "line longer than {} bytes",
                        self.options.max_line_bytes
                    )))
                }
            };
            match result {
                Ok(Some(batch)) => send(batch),
                Ok(None) => Ok(()),
                Err(ParseProblem::Malformed(reason)) => {
                    if self.options.strict {
                        return Err(Stop::Fatal(format!("{display}: line {line_no}: {reason}")));
                    }
                    // Kept until the object is known to be a log (published below).
                    let mut samples = samples.borrow_mut();
                    if samples.len() < super::stats::MALFORMED_SAMPLES {
                        samples.push(MalformedLine {
                            object: display.to_string(),
                            line: line_no,
                            reason,
                        });
                    }
                    Ok(())
                }
                Err(ParseProblem::Object(reason)) => {
                    Err(Stop::Failed(format!("line {line_no}: {reason}")))
                }
            }
        };
        let (max_inflated, max_line) =
            (self.options.max_inflated_bytes, self.options.max_line_bytes);
        let walk = match source {
            Source::Whole(bytes) if parquet => {
                let limits = ParquetLimits {
                    max_expanded_bytes: max_inflated,
                    max_line_bytes: max_line,
                };
                for_each_parquet_line(bytes, limits, on_line).map_err(std::io::Error::other)
            }
            Source::Whole(bytes) => {
                for_each_object_line(bytes, max_inflated, max_line, scratch, on_line)
            }
            Source::Streamed(body) => for_each_streamed_line(body, max_inflated, max_line, on_line),
        };
        // Rows parsed before a failure are kept: flush them, then report the failure.
        let flushed = match parser.finish() {
            Ok(Some(batch)) => send(batch),
            Ok(None) => Ok(()),
            Err(p) => Err(Stop::Failed(problem_text(p))),
        };
        let samples = samples.into_inner();
        if parser.is_not_a_log() && walk.as_ref().is_ok_and(Result::is_ok) {
            // None of its lines is a record, and it has no CloudFront header: the object
            // fails as a whole (its lines are not malformed lines of a log).
            let lines = parser.counts.rows_read;
            let first = samples
                .first()
                .map(|m| format!(" (line {}: {})", m.line, m.reason))
                .unwrap_or_default();
            *counts = ObjectCounts::default();
            return Err(Stop::Failed(format!(
                "not a CloudFront log: none of its {lines} line(s) is a CloudFront record{first}"
            )));
        }
        for sample in samples {
            self.stats.sample_malformed(sample);
        }
        self.stats.add_rows(&parser.counts);
        *counts = parser.counts;
        match walk {
            Err(io) => Err(Stop::Failed(describe_io(&io))),
            Ok(Err(stop)) => Err(stop),
            Ok(Ok(())) => flushed,
        }
    }
}

/// What reading one object gave.
struct Parsed {
    outcome: Result<(), Stop>,
    /// A kept projection's rows, still to be narrowed and sent.
    kept_batches: Vec<RecordBatch>,
    /// With a state, for an object read from the logs to its end without malformed lines:
    /// its framed projection, or why it is not kept.
    projection: Option<Result<Vec<u8>, String>>,
}

impl Parsed {
    fn failed(reason: String) -> Self {
        Parsed {
            outcome: Err(Stop::Failed(reason)),
            kept_batches: Vec::new(),
            projection: None,
        }
    }
}

/// An object's content as the parser gets it.
enum Source<'a> {
    /// Fetched whole.
    Whole(&'a [u8]),
    /// Streamed as it is read (an object larger than `stream_above_bytes`).
    Streamed(Box<dyn std::io::Read + Send>),
}

/// A streamed body that adds the bytes it delivers to the scan's counters.
struct CountedBody {
    inner: StreamedBody,
    stats: Arc<ScanStats>,
}

impl std::io::Read for CountedBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.stats.add_bytes(n as u64);
        Ok(n)
    }
}

/// The buffers local objects are read into, reused by a partition object after object: a
/// fresh allocation per object would have the kernel fault in (and zero) its pages each time,
/// which costs about a tenth of a scan's CPU. Holds at most the objects a partition has in
/// flight, so memory stays what fetching ahead already takes.
#[derive(Clone)]
struct ReadBuffers {
    free: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    kept: usize,
}

impl ReadBuffers {
    fn new(kept: usize) -> Self {
        ReadBuffers {
            free: Arc::default(),
            kept,
        }
    }

    /// An empty buffer, with the capacity of an earlier object's when one is free.
    fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_default()
    }

    /// Takes back an object's bytes once parsed, when nothing else holds them.
    fn give_back(&self, bytes: bytes::Bytes) {
        let Ok(mut bytes) = bytes.try_into_mut() else {
            return;
        };
        // Emptied first, so that turning it back into a Vec moves no bytes.
        bytes.clear();
        let buffer = Vec::from(bytes);
        if let Ok(mut free) = self.free.lock()
            && free.len() < self.kept
        {
            free.push(buffer);
        }
    }
}

/// Attempts at a whole object when the transfer breaks off or comes back short (requests that
/// fail outright are already retried inside `object_store`).
const FETCH_ATTEMPTS: u32 = 3;

/// Why one fetch failed, and whether fetching again may help.
struct FetchError {
    message: String,
    retry: bool,
}

/// Fetches an object whole. A transfer cut mid-object, or one shorter than the listed size, is
/// fetched again (with backoff); a missing object or a request that failed after
/// `object_store`'s own retries is not.
async fn fetch(
    store: &Arc<dyn ObjectStore>,
    object: &LogObject,
    buffers: &ReadBuffers,
) -> Result<bytes::Bytes, String> {
    let backoff = Backoff {
        attempts: FETCH_ATTEMPTS,
        initial: std::time::Duration::from_millis(200),
        max: std::time::Duration::from_secs(2),
    };
    let verdict = |e: &FetchError| {
        if e.retry {
            Verdict::Retry
        } else {
            Verdict::Fail
        }
    };
    let (result, _) = with_backoff(backoff, verdict, || fetch_once(store, object, buffers)).await;
    result.map_err(|e| e.message)
}

async fn fetch_once(
    store: &Arc<dyn ObjectStore>,
    object: &LogObject,
    buffers: &ReadBuffers,
) -> Result<bytes::Bytes, FetchError> {
    if let Some(reason) = &object.unreadable {
        return Err(FetchError {
            message: reason.clone(),
            retry: false,
        });
    }
    let bytes = if object.store_url.as_str() == LOCAL_STORE {
        read_local(object, buffers.take()).await?
    } else {
        let result = store.get(&object.path).await.map_err(|e| FetchError {
            message: fetch_failure(&e),
            retry: false,
        })?;
        result.bytes().await.map_err(|e| FetchError {
            message: format!("cannot fetch: the transfer broke off: {e}"),
            retry: true,
        })?
    };
    if bytes.len() as u64 != object.size {
        return Err(FetchError {
            message: format!(
                "cannot fetch: read {} bytes of the {} listed",
                bytes.len(),
                object.size
            ),
            retry: true,
        });
    }
    Ok(bytes)
}

/// The store URL of local files: the `LocalFileSystem` rooted at `/` that every `RuntimeEnv`
/// has.
const LOCAL_STORE: &str = "file:///";

/// Reads a local object whole into `buffer` (on a blocking thread, as `object_store` does).
async fn read_local(object: &LogObject, mut buffer: Vec<u8>) -> Result<bytes::Bytes, FetchError> {
    let failed = |message: String| FetchError {
        message,
        retry: false,
    };
    let path = object_store::local::LocalFileSystem::new()
        .path_to_filesystem(&object.path)
        .map_err(|e| failed(format!("cannot fetch: {e}")))?;
    let size = usize::try_from(object.size).unwrap_or(usize::MAX);
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        buffer.clear();
        buffer
            .try_reserve(size.saturating_add(1))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::OutOfMemory, e))?;
        std::fs::File::open(&path)?.read_to_end(&mut buffer)?;
        Ok(buffer)
    })
    .await
    .map_err(|e| failed(format!("cannot fetch: the read task failed: {e}")))?;
    match read {
        Ok(buffer) => Ok(bytes::Bytes::from(buffer)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(failed(
            "cannot fetch: not found (gone since it was listed)".to_string(),
        )),
        Err(e) => Err(failed(format!("cannot fetch: {e}"))),
    }
}

fn problem_text(p: ParseProblem) -> String {
    match p {
        ParseProblem::Malformed(s) | ParseProblem::Object(s) => s,
    }
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "truncated gzip (unexpected end of data)".to_string(),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            format!("corrupt gzip: {e}")
        }
        _ => format!("cannot decode: {e}"),
    }
}
