//! The state of incremental scheduled runs (`run --state DIR|s3://bucket/prefix`): for each log
//! object read, a compact Parquet projection of its in-scope rows (status 200/206, more than
//! 1 KiB, with a session; every row time, since windows move) in the columns the `upstream`
//! score reads (`ts`, `session_id`, `status`, `bytes` and the 64-bit keys), stamped with the object's version
//! (ETag, or size and modification time). A later scan takes the projection instead of
//! fetching, inflating and parsing an object whose version is unchanged, and reads new or
//! changed objects (late files included: every run lists its hours) from the logs, so its
//! rows, and scores, are exactly those of a full read. A projection's header holds the first
//! and last time of its rows and the object's counts: a scan whose times miss them reads
//! only the header (most of the objects an hourly listing finds hold earlier windows).
//!
//! A projection is used only when it was written for the same reading (`--format-in`,
//! `--realtime-fields`), by a build whose keys hash the same, for the same object: otherwise
//! the object is read again and its projection replaced. Objects with malformed lines or
//! that failed are not kept (they are read again, and reported, every time). Each projection
//! is one object written whole, so concurrent runs can only replace one another's work.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch, TimestampSecondArray};
use arrow::compute::{filter_record_batch, max, min};
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use chrono::DateTime;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use super::fields::{column_index, logs_schema};
use super::filter::{Range, RowFilter};
use super::format::InputFormat;
use super::format::realtime::RealtimeFields;
use super::scope::scope_filter;
use super::stats::ObjectCounts;
use crate::aws::AwsAccess;
use crate::error::{Error, Result};
use crate::session::SessionRule;
use crate::source::{LogLocation, LogObject};

/// The columns a projection keeps, in this order. `status` and `bytes` are kept because
/// DataFusion applies the pushed-down filters again above the scan.
const KEPT: [&str; 8] = [
    "ts",
    "session_id",
    "status",
    "bytes",
    "pair_key",
    "ip_key",
    "user_agent_key",
    "referrer_key",
];

/// Hours of projections kept before the first hour a run lists, for re-runs of recent
/// windows; older ones are deleted after a `run`.
pub const SLACK_HOURS: i64 = 24;

/// Raised when what a projection holds changes meaning; older projections are then unused.
/// 2: projections are framed with a checksum. 3: the frame's header holds the time range of
/// the kept rows and the object's counts, so that a run whose window misses them reads only
/// the header.
const LAYOUT_VERSION: u32 = 3;

/// What a projection file starts with, then its [`Header`] and the Parquet file.
const FRAME_MAGIC: &[u8] = b"autorevoke-projection/3\n";

/// What every layout's frame starts with (an older one is read again, not reported).
const FRAME_FAMILY: &[u8] = b"autorevoke-projection/";

/// Length of the frame before the Parquet file: the magic, then the Parquet file's SHA-256,
/// the stamp's SHA-256, the first and last kept time, the counts, and the SHA-256 of all that
/// (so that a header read alone is checked).
const FRAME_LEN: usize = FRAME_MAGIC.len() + 32 + 32 + 8 + 8 + 8 * ObjectCounts::LEN + 32;

/// Largest projection kept (framed): an object whose in-scope rows take more is read from
/// the logs every run instead, so writing a projection never holds more than this.
pub const MAX_KEPT_BYTES: usize = 64 << 20;

/// Rows per row group of a projection: what the writer holds before it encodes them.
const KEPT_ROW_GROUP: usize = 64 * 1024;

/// A staged write (`<name>.parquet#N`) older than this is a leftover of a killed write.
const STAGED_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

/// Where incremental runs keep their projections.
#[derive(Debug)]
pub struct StateStore {
    /// The local folder's store, or the S3 bucket's once first used.
    store: tokio::sync::OnceCell<Arc<dyn ObjectStore>>,
    /// The S3 bucket, reached through `aws` on first use.
    bucket: Option<(String, Arc<AwsAccess>)>,
    /// `<prefix>/objects`.
    root: ObjectPath,
    /// The local folder (canonical), for housekeeping `object_store` does not show.
    local: Option<std::path::PathBuf>,
    display: String,
    /// What a projection must have been written for (reading settings, key hashing).
    scope: String,
}

/// Why a kept projection was not used.
enum Miss {
    /// None is kept, or it is for another version or reading of the object.
    Absent,
    /// It could not be read; the object is read again and the projection replaced.
    Unreadable(String),
}

impl StateStore {
    /// The state at `text` (a local folder, created when missing, or `s3://bucket/prefix`,
    /// reached through `aws`), for objects read with `format` and `realtime_fields` from
    /// `logs`, which must not hold it (its projections would be read as logs).
    pub fn open(
        text: &str,
        aws: Arc<AwsAccess>,
        format: InputFormat,
        realtime_fields: RealtimeFields,
        session_from: SessionRule,
        logs: &[LogLocation],
    ) -> Result<Self> {
        let setting = |reason: String| Error::Setting {
            setting: "state".into(),
            reason: format!("{text}: {reason}"),
        };
        let location = LogLocation::parse_maybe_missing(text).map_err(|e| match e {
            Error::Location { reason, .. } => setting(reason),
            other => setting(other.to_string()),
        })?;
        check_apart(&location, logs).map_err(setting)?;
        let scope = scope(format, realtime_fields, session_from);
        match location {
            LogLocation::Local(path) => {
                std::fs::create_dir_all(&path).map_err(|e| setting(e.to_string()))?;
                let path = std::fs::canonicalize(&path).map_err(|e| setting(e.to_string()))?;
                let store =
                    LocalFileSystem::new_with_prefix(&path).map_err(|e| setting(e.to_string()))?;
                Ok(StateStore {
                    store: tokio::sync::OnceCell::new_with(Some(Arc::new(store) as _)),
                    bucket: None,
                    root: ObjectPath::from("objects"),
                    local: Some(path.clone()),
                    display: path.display().to_string(),
                    scope,
                })
            }
            LogLocation::S3 { bucket, prefix } => {
                let path = ObjectPath::parse(prefix.trim_end_matches('/'))
                    .map_err(|e| setting(e.to_string()))?;
                Ok(StateStore {
                    store: tokio::sync::OnceCell::new(),
                    display: format!("s3://{bucket}/{prefix}"),
                    bucket: Some((bucket, aws)),
                    root: path.join("objects"),
                    local: None,
                    scope,
                })
            }
        }
    }

    /// The store, reaching S3 on first use.
    async fn store(&self) -> std::result::Result<&Arc<dyn ObjectStore>, String> {
        self.store
            .get_or_try_init(|| async {
                match &self.bucket {
                    Some((bucket, aws)) => aws.s3_store(bucket).await.map_err(|e| e.to_string()),
                    None => Err("the local state has no store".to_string()),
                }
            })
            .await
            .map_err(|e| format!("state {}: {e}", self.display))
    }

    /// How the state is named in messages.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// True when a scan projecting `projection` with `filter` can be answered from
    /// projections: it reads only kept columns, and only rows a projection keeps.
    pub fn serves(projection: &[usize], filter: &RowFilter) -> bool {
        let kept = Self::projection();
        let scope = scope_filter();
        let columns = projection.iter().all(|i| kept.contains(i));
        let statuses = match (&filter.status_in, &scope.status_in) {
            (Some(asked), Some(in_scope)) => asked.iter().all(|s| in_scope.contains(s)),
            (_, None) => true,
            (None, Some(_)) => false,
        };
        columns
            && statuses
            && filter.bytes.lo >= scope.bytes.lo
            && filter.bytes.hi <= scope.bytes.hi
            && (filter.session_required || !scope.session_required)
    }

    /// The columns a projection keeps, as indices into the `logs` schema.
    pub fn projection() -> Arc<[usize]> {
        KEPT.iter().filter_map(|name| column_index(name)).collect()
    }

    /// The schema of a projection.
    pub fn schema() -> SchemaRef {
        let projection = Self::projection();
        match logs_schema().project(&projection) {
            Ok(schema) => Arc::new(schema),
            // The kept names are columns of the schema (a unit test checks it).
            Err(_) => logs_schema(),
        }
    }

    /// The rows a projection keeps: every time, the rows of the scope rule
    /// (`queries/in_scope.sql`).
    pub fn row_filter() -> RowFilter {
        scope_filter().clone()
    }

    /// The kept projection of `object`, when there is one for its current version: its rows
    /// when some may lie inside `window` (the scan's times), else only its counts, read from
    /// its header without fetching the rows.
    pub async fn load(
        &self,
        object: &LogObject,
        window: Range,
    ) -> std::result::Result<Option<Loaded>, String> {
        match self.try_load(object, window).await {
            Ok(loaded) => Ok(Some(loaded)),
            Err(Miss::Absent) => Ok(None),
            Err(Miss::Unreadable(reason)) => Err(reason),
        }
    }

    async fn try_load(
        &self,
        object: &LogObject,
        window: Range,
    ) -> std::result::Result<Loaded, Miss> {
        if object.version.is_empty() {
            return Err(Miss::Absent);
        }
        let path = self.path_of(object);
        let name = self.name_of(&path);
        let unreadable = |e: String| Miss::Unreadable(format!("{name}: {e}"));
        let store = self.store().await.map_err(Miss::Unreadable)?;
        let expected = Stamp {
            object: object.display.clone(),
            version: object.version.clone(),
            scope: self.scope.clone(),
        };
        if !window.is_full() {
            // The header alone, first: most projections a scheduled run lists hold rows of
            // earlier windows only.
            let head = match store.get_range(&path, 0..FRAME_LEN as u64).await {
                Ok(head) => head,
                Err(object_store::Error::NotFound { .. }) => return Err(Miss::Absent),
                Err(e) => return Err(unreadable(e.to_string())),
            };
            let header = Header::read(&head, &expected).map_err(|miss| match miss {
                Miss::Unreadable(reason) => unreadable(reason),
                absent => absent,
            })?;
            if !header.meets(window) {
                return Ok(Loaded::Outside(header.counts));
            }
        }
        let bytes = match store.get(&path).await {
            Ok(result) => result
                .bytes()
                .await
                .map_err(|e| unreadable(e.to_string()))?,
            Err(object_store::Error::NotFound { .. }) => return Err(Miss::Absent),
            Err(e) => return Err(unreadable(e.to_string())),
        };
        // The Parquet reader runs on a blocking thread, where a panic on a damaged file that
        // passed the checksum (it cannot, but the reader is not ours) is an unreadable
        // projection, never a failed run.
        match tokio::task::spawn_blocking(move || decode(bytes, &expected)).await {
            Ok(Ok(kept)) => Ok(Loaded::Rows(kept)),
            Ok(Err(Miss::Unreadable(reason))) => Err(unreadable(reason)),
            Ok(Err(Miss::Absent)) => Err(Miss::Absent),
            Err(e) => Err(unreadable(format!("the Parquet reader failed: {e}"))),
        }
    }

    /// A writer of `object`'s projection, fed batch by batch while the object is read.
    pub fn writer(&self, object: &LogObject) -> ProjectionWriter {
        ProjectionWriter::new(
            &Stamp {
                object: object.display.clone(),
                version: object.version.clone(),
                scope: self.scope.clone(),
            },
            MAX_KEPT_BYTES,
        )
    }

    /// Keeps `framed`, the finished projection of `object` ([`ProjectionWriter::finish`]).
    pub async fn save(
        &self,
        object: &LogObject,
        framed: Vec<u8>,
    ) -> std::result::Result<(), String> {
        if object.version.is_empty() {
            return Ok(());
        }
        let path = self.path_of(object);
        let name = self.name_of(&path);
        self.store()
            .await?
            .put(&path, PutPayload::from(Bytes::from(framed)))
            .await
            .map_err(|e| format!("{name}: cannot write: {e}"))?;
        Ok(())
    }

    /// Deletes the projections of objects whose keys name an hour before `before_hour`
    /// (hours since the epoch): windows only move forward, so no run reads them again.
    /// Returns how many were deleted.
    pub async fn prune(&self, before_hour: i64) -> Result<u64> {
        let store = self.store().await.map_err(Error::Other)?;
        let listing = store
            .list_with_delimiter(Some(&self.root))
            .await
            .map_err(|e| Error::Other(format!("listing the state {}: {e}", self.display)))?;
        let mut deleted = self.prune_staged_leftovers();
        for folder in listing.common_prefixes {
            let Some(hour) = folder.filename().and_then(folder_hour) else {
                continue;
            };
            if hour >= before_hour {
                continue;
            }
            let paths: Vec<ObjectPath> = store
                .list(Some(&folder))
                .map_ok(|meta| meta.location)
                .try_collect()
                .await
                .map_err(|e| Error::Other(format!("listing the state {}: {e}", self.display)))?;
            for path in paths {
                store
                    .delete(&path)
                    .await
                    .map_err(|e| Error::Other(format!("deleting {}: {e}", self.name_of(&path))))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Deletes what a local write killed mid-way leaves: `object_store` writes a projection
    /// to `<name>.parquet#N` and renames it, and its listings never show such files. Only
    /// files older than [`STAGED_GRACE`] go (a younger one may be a write under way). S3
    /// writes are single requests and leave nothing behind. Returns how many were deleted.
    fn prune_staged_leftovers(&self) -> u64 {
        let Some(folder) = &self.local else {
            return 0;
        };
        let mut deleted = 0;
        let mut folders = vec![folder.join(self.root.as_ref())];
        while let Some(dir) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    folders.push(path);
                    continue;
                }
                let staged = entry
                    .file_name()
                    .to_str()
                    .and_then(|name| name.rsplit_once('#'))
                    .is_some_and(|(stem, n)| {
                        stem.ends_with(".parquet") && n.bytes().all(|b| b.is_ascii_digit())
                    });
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= STAGED_GRACE);
                if staged && old {
                    match std::fs::remove_file(&path) {
                        Ok(()) => deleted += 1,
                        Err(e) => tracing::warn!(path = %path.display(), %e,
                            "cannot delete a staged projection left by an interrupted write"),
                    }
                }
            }
        }
        deleted
    }

    /// `objects/<hour of the key>/<sha-256 of the object's name>.parquet`.
    fn path_of(&self, object: &LogObject) -> ObjectPath {
        let folder = object
            .hour
            .and_then(hour_folder)
            .unwrap_or_else(|| "other".to_string());
        let digest = Sha256::digest(object.display.as_bytes());
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.root
            .clone()
            .join(folder)
            .join(format!("{name}.parquet"))
    }

    fn name_of(&self, path: &ObjectPath) -> String {
        format!("state {} ({path})", self.display)
    }
}

/// What a projection is stamped with: the object, its version and the reading's scope.
#[derive(Debug, Clone)]
struct Stamp {
    object: String,
    version: String,
    scope: String,
}

impl Stamp {
    /// The SHA-256 of the stamp, which a projection's header holds (each part
    /// length-prefixed, so that no two stamps hash alike by moving a separator).
    fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for part in [&self.object, &self.version, &self.scope] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.finalize().into()
    }
}

/// What a projection's frame says about its rows, checked and read without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    /// The first and last kept time (seconds); `i64::MAX, i64::MIN` when no row was kept.
    first_ts: i64,
    last_ts: i64,
    /// The object's counts when it was read.
    counts: ObjectCounts,
}

impl Header {
    /// Where the header's fields start (after the magic and the Parquet file's digest).
    const AT: usize = FRAME_MAGIC.len() + 32;

    /// The header of framed `bytes` (at least [`FRAME_LEN`] of them), when it was written for
    /// `expected` by this layout.
    fn read(bytes: &[u8], expected: &Stamp) -> std::result::Result<Header, Miss> {
        if bytes.starts_with(b"PAR1")
            || (bytes.starts_with(FRAME_FAMILY) && !bytes.starts_with(FRAME_MAGIC))
        {
            // Written by an older build: read the object again.
            return Err(Miss::Absent);
        }
        if !bytes.starts_with(FRAME_MAGIC) {
            return Err(Miss::Unreadable("not a projection (no frame)".to_string()));
        }
        let Some(frame) = bytes.get(..FRAME_LEN) else {
            return Err(Miss::Unreadable("shorter than its frame".to_string()));
        };
        let (fields, digest) = frame.split_at(FRAME_LEN - 32);
        if Sha256::digest(fields)[..] != digest[..] {
            return Err(Miss::Unreadable(
                "damaged (its header's checksum does not match)".to_string(),
            ));
        }
        let mut words = fields[Self::AT + 32..]
            .chunks_exact(8)
            .map(|w| u64::from_be_bytes(w.try_into().unwrap_or_default()));
        if fields[Self::AT..Self::AT + 32] != expected.digest() {
            return Err(Miss::Absent);
        }
        let first_ts = words.next().unwrap_or_default() as i64;
        let last_ts = words.next().unwrap_or_default() as i64;
        let counts: Vec<u64> = words.collect();
        let counts = ObjectCounts::from_slice(&counts)
            .ok_or_else(|| Miss::Unreadable("its header holds no row counts".to_string()))?;
        Ok(Header {
            first_ts,
            last_ts,
            counts,
        })
    }

    /// Writes the header of `stamp` into `frame` ([`FRAME_LEN`] bytes), whose Parquet file
    /// has SHA-256 `payload`.
    fn write(&self, stamp: &Stamp, payload: &[u8; 32], frame: &mut [u8]) {
        let mut fields = Vec::with_capacity(FRAME_LEN);
        fields.extend_from_slice(FRAME_MAGIC);
        fields.extend_from_slice(payload);
        fields.extend_from_slice(&stamp.digest());
        fields.extend_from_slice(&self.first_ts.to_be_bytes());
        fields.extend_from_slice(&self.last_ts.to_be_bytes());
        for count in self.counts.to_vec() {
            fields.extend_from_slice(&count.to_be_bytes());
        }
        let digest = Sha256::digest(&fields);
        fields.extend_from_slice(&digest);
        frame.copy_from_slice(&fields);
    }

    /// True when some kept row may lie inside `window`.
    fn meets(&self, window: Range) -> bool {
        self.first_ts <= window.hi && window.lo <= self.last_ts
    }
}

/// Writes one object's projection while the object is read, batch by batch, so that keeping
/// it costs at most its encoded size (never the object's rows held as Arrow arrays). A
/// projection that grows past its limit is given up: the object is then read from the logs
/// next run.
pub struct ProjectionWriter {
    /// None once given up (or failed).
    writer: Option<ArrowWriter<Vec<u8>>>,
    limit: usize,
    /// Why the projection is not kept.
    given_up: Option<String>,
    stamp: Stamp,
    /// The first and last time of the rows written so far.
    first_ts: i64,
    last_ts: i64,
}

impl ProjectionWriter {
    fn new(stamp: &Stamp, limit: usize) -> Self {
        let metadata = [
            ("autorevoke.object", stamp.object.clone()),
            ("autorevoke.version", stamp.version.clone()),
            ("autorevoke.scope", stamp.scope.clone()),
        ]
        .into_iter()
        .map(|(k, v)| KeyValue::new(k.to_string(), v))
        .collect();
        let properties = WriterProperties::builder()
            .set_key_value_metadata(Some(metadata))
            .set_max_row_group_row_count(Some(KEPT_ROW_GROUP))
            .build();
        // Room for the frame is left first and the frame filled in by `finish`; the Parquet
        // writer counts its offsets from its own start, so the file reads back from there.
        let buffer = vec![0; FRAME_LEN];
        let (writer, given_up) =
            match ArrowWriter::try_new(buffer, StateStore::schema(), Some(properties)) {
                Ok(writer) => (Some(writer), None),
                Err(e) => (None, Some(e.to_string())),
            };
        ProjectionWriter {
            writer,
            limit,
            given_up,
            stamp: stamp.clone(),
            first_ts: i64::MAX,
            last_ts: i64::MIN,
        }
    }

    /// Adds a batch of the projection's rows (in [`StateStore::schema`]).
    pub fn write(&mut self, batch: &RecordBatch) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        if let Err(e) = writer.write(batch) {
            self.give_up(e.to_string());
            return;
        }
        if let Some(times) = batch
            .column(0)
            .as_any()
            .downcast_ref::<TimestampSecondArray>()
            && let (Some(first), Some(last)) = (min(times), max(times))
        {
            self.first_ts = self.first_ts.min(first);
            self.last_ts = self.last_ts.max(last);
        }
        let size = FRAME_LEN + writer.bytes_written() + writer.in_progress_size();
        if size > self.limit {
            self.give_up(format!(
                "its projection would take more than {} bytes",
                self.limit
            ));
        }
    }

    fn give_up(&mut self, reason: String) {
        self.writer = None;
        self.given_up.get_or_insert(reason);
    }

    /// The framed projection, stamped with the object's `counts`; Err says why it is not
    /// kept.
    pub fn finish(self, counts: &ObjectCounts) -> std::result::Result<Vec<u8>, String> {
        let Some(writer) = self.writer else {
            return Err(self
                .given_up
                .unwrap_or_else(|| "no projection was written".to_string()));
        };
        let mut framed = writer.into_inner().map_err(|e| e.to_string())?;
        if framed.len() > self.limit {
            return Err(format!(
                "its projection would take more than {} bytes",
                self.limit
            ));
        }
        let payload: [u8; 32] = Sha256::digest(&framed[FRAME_LEN..]).into();
        let header = Header {
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            counts: *counts,
        };
        header.write(&self.stamp, &payload, &mut framed[..FRAME_LEN]);
        Ok(framed)
    }
}

/// Reads a framed projection: checks the header and the Parquet file's digest before the
/// Parquet reader sees a byte, then the stamp and columns.
fn decode(bytes: Bytes, expected: &Stamp) -> std::result::Result<Kept, Miss> {
    let unreadable = |e: &dyn std::fmt::Display| Miss::Unreadable(e.to_string());
    if bytes.len() > MAX_KEPT_BYTES {
        return Err(unreadable(&format!(
            "larger than a projection can be ({} bytes)",
            bytes.len()
        )));
    }
    let header = Header::read(&bytes, expected)?;
    let payload = bytes.slice(FRAME_LEN..);
    if Sha256::digest(&payload)[..] != bytes[FRAME_MAGIC.len()..Header::AT] {
        return Err(unreadable(&"damaged (its checksum does not match)"));
    }
    // The checksum stops accidental damage; a panic of the Parquet reader on anything else
    // is an unreadable projection all the same.
    let batches =
        std::panic::catch_unwind(|| read_projection(payload, expected)).unwrap_or_else(|_| {
            Err(Miss::Unreadable(
                "the Parquet reader failed on it (a panic)".to_string(),
            ))
        })?;
    Ok(Kept {
        batches,
        counts: header.counts,
    })
}

/// The rows of a projection's Parquet file, once its stamp is checked.
fn read_projection(
    payload: Bytes,
    expected: &Stamp,
) -> std::result::Result<Vec<RecordBatch>, Miss> {
    let unreadable = |e: &dyn std::fmt::Display| Miss::Unreadable(e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(payload).map_err(|e| unreadable(&e))?;
    let meta = |key: &str| -> Option<String> {
        builder
            .metadata()
            .file_metadata()
            .key_value_metadata()?
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .clone()
    };
    let current = meta("autorevoke.object").as_deref() == Some(expected.object.as_str())
        && meta("autorevoke.version").as_deref() == Some(expected.version.as_str())
        && meta("autorevoke.scope").as_deref() == Some(expected.scope.as_str());
    if !current {
        return Err(Miss::Absent);
    }
    if builder.schema().fields() != StateStore::schema().fields() {
        return Err(unreadable(&"columns differ from a projection's"));
    }
    let batches = builder
        .build()
        .map_err(|e| unreadable(&e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    // Read under the current schema (the file's may differ in metadata only).
    batches
        .into_iter()
        .map(|b| RecordBatch::try_new(StateStore::schema(), b.columns().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))
}

/// A kept projection: the object's in-scope rows and its row counts.
#[derive(Debug)]
pub struct Kept {
    /// The rows, in the projection's schema.
    pub batches: Vec<RecordBatch>,
    /// The object's counts when it was read.
    pub counts: ObjectCounts,
}

/// What a run takes from a kept projection.
#[derive(Debug)]
pub enum Loaded {
    /// Its rows, some of which may lie inside the scan's times.
    Rows(Kept),
    /// Only its counts: all its rows lie outside the scan's times.
    Outside(ObjectCounts),
}

/// The rows of projection `batch` inside `ts` (inclusive), in the columns `positions` picks
/// (indices into the projection), as `schema`.
pub fn narrow(
    batch: &RecordBatch,
    ts: Range,
    positions: &[usize],
    schema: &SchemaRef,
) -> std::result::Result<RecordBatch, String> {
    let times = batch
        .column(0)
        .as_any()
        .downcast_ref::<TimestampSecondArray>()
        .ok_or_else(|| "a projection's first column is not ts".to_string())?;
    let inside = times.null_count() == 0
        && min(times).is_some_and(|t| ts.contains(t))
        && max(times).is_some_and(|t| ts.contains(t));
    let rows = if inside {
        batch.clone()
    } else {
        let keep: BooleanArray = times
            .iter()
            .map(|t| Some(t.is_some_and(|t| ts.contains(t))))
            .collect();
        filter_record_batch(batch, &keep).map_err(|e| e.to_string())?
    };
    let columns = positions
        .iter()
        .map(|&p| Arc::clone(rows.column(p)))
        .collect();
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.num_rows()));
    RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)
        .map_err(|e| e.to_string())
}

/// Where each column of `projection` (indices into `logs`) is in a kept projection.
pub fn positions_in_kept(projection: &[usize]) -> Vec<usize> {
    let kept = StateStore::projection();
    projection
        .iter()
        .filter_map(|i| kept.iter().position(|k| k == i))
        .collect()
}

/// Fails when `state` lies inside one of the log locations `logs`.
/// Compared after normalising both (`..`, symbolic links, trailing `/` of S3 prefixes).
fn check_apart(state: &LogLocation, logs: &[LogLocation]) -> std::result::Result<(), String> {
    match logs.iter().find(|location| location.contains(state)) {
        Some(location) => Err(format!(
            "inside the log location {location}: its projections would be read as logs"
        )),
        None => Ok(()),
    }
}

/// What a projection depends on besides the object: the layout, the reading settings (the
/// session rule too: it decides the `session_id` column) and the key hash (a build that
/// hashes differently must not mix its keys with older ones).
fn scope(
    format: InputFormat,
    realtime_fields: RealtimeFields,
    session_from: SessionRule,
) -> String {
    let probe = super::keys::key_of(b"autorevoke state probe");
    format!(
        "v{LAYOUT_VERSION} format={format:?} realtime={realtime_fields:?} session={} \
         keys={probe:016x} columns={}",
        session_from.as_str(),
        KEPT.join(",")
    )
}

/// `2026-01-15T19` for an hour number.
fn hour_folder(hour: i64) -> Option<String> {
    DateTime::from_timestamp(hour.checked_mul(3600)?, 0)
        .map(|t| t.format("%Y-%m-%dT%H").to_string())
}

fn folder_hour(name: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(&format!("{name}:00:00Z"))
        .ok()
        .map(|t| t.timestamp().div_euclid(3600))
}

#[cfg(test)]
mod tests {
    use super::super::fields::{COLUMNS, required};
    use super::*;

    #[test]
    fn the_kept_columns_are_the_upstream_scores_inputs() {
        let projection = StateStore::projection();
        assert_eq!(projection.len(), KEPT.len());
        assert_eq!(projection[0], required::TS);
        assert_eq!(COLUMNS[projection[1]].name, "session_id");
        let schema = StateStore::schema();
        assert_eq!(schema.fields().len(), 8);
        assert_eq!(schema.field(7).name(), "referrer_key");
    }

    #[test]
    fn only_scans_within_the_kept_rows_and_columns_are_served() {
        let projection = StateStore::projection();
        let mut filter = StateStore::row_filter();
        filter.ts = Range { lo: 10, hi: 20 };
        assert!(StateStore::serves(&projection[..3], &filter));
        let uri = column_index("uri").expect("uri");
        assert!(!StateStore::serves(&[required::TS, uri], &filter));
        let mut any_status = filter.clone();
        any_status.status_in = None;
        assert!(!StateStore::serves(&projection, &any_status));
        let mut small = filter.clone();
        small.bytes.lo = 0;
        assert!(!StateStore::serves(&projection, &small));
        let mut sessionless = filter;
        sessionless.session_required = false;
        assert!(!StateStore::serves(&projection, &sessionless));
    }

    fn stamp() -> Stamp {
        Stamp {
            object: "/logs/a.gz".to_string(),
            version: "10-20".to_string(),
            scope: scope(
                InputFormat::Auto,
                RealtimeFields::default(),
                SessionRule::Prefix,
            ),
        }
    }

    /// A projection of `rows` rows, framed.
    fn framed(rows: i64) -> Vec<u8> {
        let schema = StateStore::schema();
        let numbers = arrow::array::Int64Array::from((0..rows).collect::<Vec<_>>());
        let mut columns: Vec<Arc<dyn Array>> = schema
            .fields()
            .iter()
            .map(|f| arrow::compute::cast(&numbers, f.data_type()).expect("a number column"))
            .collect();
        columns[1] = Arc::new(arrow::array::StringArray::from(
            (0..rows).map(|i| format!("session{i}")).collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(schema, columns).expect("batch");
        let mut writer = ProjectionWriter::new(&stamp(), MAX_KEPT_BYTES);
        writer.write(&batch);
        writer.finish(&ObjectCounts::default()).expect("framed")
    }

    fn rows(kept: &Kept) -> usize {
        kept.batches.iter().map(RecordBatch::num_rows).sum()
    }

    #[test]
    fn a_projection_reads_back_and_one_flipped_bit_anywhere_makes_it_unreadable() {
        let bytes = framed(100);
        assert!(bytes.starts_with(FRAME_MAGIC));
        let kept = decode(Bytes::from(bytes.clone()), &stamp()).map_err(|_| "miss");
        assert_eq!(kept.map(|k| rows(&k)), Ok(100));
        // A bit in the header (the digest, the stamp's digest, the first time, the last
        // count, the header's digest), in the Parquet footer (its schema metadata) and in
        // the data.
        let header = "damaged (its header's checksum does not match)";
        let payload = "damaged (its checksum does not match)";
        for (at, expected) in [
            (FRAME_MAGIC.len() + 3, header),
            (Header::AT + 5, header),
            (Header::AT + 32 + 7, header),
            (FRAME_LEN - 33, header),
            (FRAME_LEN - 1, header),
            (bytes.len() - 40, payload),
            (FRAME_LEN + 30, payload),
        ] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            match decode(Bytes::from(damaged), &stamp()) {
                Err(Miss::Unreadable(reason)) => assert_eq!(reason, expected, "byte {at}"),
                _ => panic!("byte {at}: a damaged projection was not refused"),
            }
        }
        // The header says when the 100 rows (times 0 to 99) are.
        let read = Header::read(&bytes, &stamp()).map_err(|_| "miss");
        assert_eq!(read.map(|h| (h.first_ts, h.last_ts)), Ok((0, 99)));
        // Another object's, or another version's, projection is not used.
        let mut other = stamp();
        other.version = "10-21".to_string();
        assert!(matches!(
            decode(Bytes::from(bytes), &other),
            Err(Miss::Absent)
        ));
        // An unframed Parquet file, or an older layout's frame, is an older build's: read the
        // object again.
        assert!(matches!(
            decode(Bytes::from_static(b"PAR1...PAR1"), &stamp()),
            Err(Miss::Absent)
        ));
        assert!(matches!(
            decode(
                Bytes::from_static(b"autorevoke-projection/2\n..."),
                &stamp()
            ),
            Err(Miss::Absent)
        ));
    }

    /// Makes both digests of a framed projection match what it now holds (as a writer with
    /// a bug, or whoever can write the state, would leave them).
    fn redigest(bytes: &mut [u8]) {
        let payload = Sha256::digest(&bytes[FRAME_LEN..]);
        bytes[FRAME_MAGIC.len()..Header::AT].copy_from_slice(&payload);
        let header = Sha256::digest(&bytes[..FRAME_LEN - 32]);
        bytes[FRAME_LEN - 32..FRAME_LEN].copy_from_slice(&header);
    }

    #[test]
    fn a_projection_past_its_limit_is_given_up_not_held() {
        let batch = {
            let bytes = framed(1);
            decode(Bytes::from(bytes), &stamp())
                .map_err(|_| "miss")
                .expect("kept")
                .batches
                .remove(0)
        };
        let mut writer = ProjectionWriter::new(&stamp(), 2000);
        for _ in 0..5000 {
            writer.write(&batch);
        }
        assert!(writer.writer.is_none(), "the writer was not dropped");
        assert_eq!(
            writer.finish(&ObjectCounts::default()),
            Err("its projection would take more than 2000 bytes".to_string())
        );
    }

    #[test]
    fn a_damaged_arrow_schema_with_a_matching_digest_is_unreadable_never_a_panic() {
        // The audit's panic: a byte of the footer's embedded Arrow schema changed. Here with
        // the digest recomputed (as a buggy writer, or whoever can write the state, would
        // leave it), over every byte of the schema's value.
        let original = framed(20);
        let key = b"ARROW:schema";
        let at = original
            .windows(key.len())
            .position(|w| w == key)
            .expect("an embedded Arrow schema");
        let (mut refused, mut panics) = (0, 0);
        for offset in at + key.len()..(at + key.len() + 400).min(original.len() - 8) {
            for value in [b'A', b'/', 0xff] {
                let mut bytes = original.clone();
                if bytes[offset] == value {
                    continue;
                }
                bytes[offset] = value;
                redigest(&mut bytes);
                match decode(Bytes::from(bytes), &stamp()) {
                    Err(Miss::Unreadable(reason)) => {
                        refused += 1;
                        panics += usize::from(reason.contains("a panic"));
                    }
                    Err(Miss::Absent) | Ok(_) => {}
                }
            }
        }
        assert!(refused > 100, "{refused} refused, {panics} of them panics");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// Random damage, with and without a digest that matches it (as a writer with a bug,
        /// or anyone who can write the state, would leave): never a panic, and damage the
        /// digest sees is always refused.
        #[test]
        fn damaged_projections_never_panic_and_are_refused(
            edits in proptest::collection::vec((0usize..1 << 20, 0u8..=255), 1..6),
            truncate in 0usize..1 << 20,
            fix_digest in proptest::bool::ANY,
        ) {
            let original = framed(50);
            let mut bytes = original.clone();
            for (at, value) in &edits {
                let at = at % bytes.len();
                bytes[at] = *value;
            }
            if truncate % 7 == 0 {
                bytes.truncate(truncate % original.len());
            }
            if fix_digest && bytes.len() >= FRAME_LEN {
                redigest(&mut bytes);
            }
            let result = decode(Bytes::from(bytes.clone()), &stamp());
            if !fix_digest && bytes != original {
                proptest::prop_assert!(result.is_err());
            }
        }
    }

    #[tokio::test]
    async fn prune_deletes_staged_writes_left_by_a_killed_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateStore::open(
            &dir.path().display().to_string(),
            Arc::new(AwsAccess::default()),
            InputFormat::Auto,
            RealtimeFields::default(),
            SessionRule::Prefix,
            &[],
        )
        .expect("state");
        let folder = dir.path().join("objects").join("2026-01-15T20");
        std::fs::create_dir_all(&folder).expect("mkdir");
        let old = folder.join("0123.parquet#12");
        let fresh = folder.join("4567.parquet#13");
        let kept = folder.join("89ab.parquet");
        for path in [&old, &fresh, &kept] {
            std::fs::write(path, b"x").expect("write");
        }
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for path in [&old, &kept] {
            std::fs::File::options()
                .write(true)
                .open(path)
                .and_then(|f| f.set_modified(hour_ago))
                .expect("mtime");
        }
        // Nothing is old enough by its hour (2026-01-15T20 is kept): only the leftover goes.
        let hour = folder_hour("2026-01-15T20").expect("hour");
        assert_eq!(state.prune(hour).await.expect("prune"), 1);
        assert!(!old.exists());
        assert!(fresh.exists() && kept.exists());
    }

    #[test]
    fn a_state_inside_the_logs_is_found_however_it_is_written() {
        let s3 = |text: &str| LogLocation::parse(text).expect("s3");
        let logs = [s3("s3://bucket/logs/")];
        assert!(check_apart(&s3("s3://bucket/logs"), &logs).is_err());
        assert!(check_apart(&s3("s3://bucket/logs/state"), &logs).is_err());
        assert!(check_apart(&s3("s3://bucket/logs2/state"), &logs).is_ok());
        assert!(check_apart(&s3("s3://other/logs/state"), &logs).is_ok());
        let logs = [s3("s3://bucket/logs")];
        assert_eq!(
            check_apart(&s3("s3://bucket/logs/"), &logs),
            Err(
                "inside the log location s3://bucket/logs: its projections would be read as logs"
                    .to_string()
            )
        );
        assert!(check_apart(&s3("s3://bucket/x"), &[s3("s3://bucket")]).is_err());

        let dir = tempfile::tempdir().expect("tempdir");
        let logs_dir = dir.path().join("logs");
        std::fs::create_dir_all(&logs_dir).expect("mkdir");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&logs_dir, &link).expect("symlink");
        let logs = [LogLocation::parse(&logs_dir.display().to_string()).expect("logs")];
        let local = |p: std::path::PathBuf| {
            LogLocation::parse_maybe_missing(&p.display().to_string()).expect("local")
        };
        assert!(check_apart(&local(logs_dir.join("../logs/state")), &logs).is_err());
        assert!(check_apart(&local(link.join("state")), &logs).is_err());
        assert!(check_apart(&local(link.clone()), &logs).is_err());
        assert!(check_apart(&local(dir.path().join("missing/../logs/new/state")), &logs).is_err());
        assert!(check_apart(&local(dir.path().join("state")), &logs).is_ok());
        assert!(check_apart(&local(dir.path().join("logs2")), &logs).is_ok());
    }

    #[test]
    fn the_stamp_names_the_session_rule() {
        let (format, fields) = (InputFormat::Auto, RealtimeFields::default());
        let prefix = scope(format, fields, SessionRule::Prefix);
        let cta = scope(format, fields, SessionRule::Cta);
        assert!(prefix.contains(" session=prefix "), "{prefix}");
        assert!(cta.contains(" session=cta "), "{cta}");
        assert_ne!(prefix, cta);
    }

    #[test]
    fn counts_and_hour_folders_round_trip() {
        let c = ObjectCounts {
            rows_read: 7,
            rows_malformed: 0,
            rows_without_session: 2,
            rows_rejected_session: 3,
            rows_rejected_undecodable: 1,
            rows_rejected_without_cti: 1,
            rows_rejected_bad_id: 1,
        };
        let header = Header {
            first_ts: -5,
            last_ts: 1_768_503_600,
            counts: c,
        };
        let mut frame = vec![0; FRAME_LEN];
        header.write(&stamp(), &[7; 32], &mut frame);
        assert_eq!(Header::read(&frame, &stamp()).ok(), Some(header));
        assert_eq!(&frame[FRAME_MAGIC.len()..Header::AT], &[7; 32]);
        // Another stamp's header is not this object's; a short one is refused.
        let mut other = stamp();
        other.object.push('x');
        assert!(matches!(Header::read(&frame, &other), Err(Miss::Absent)));
        assert!(matches!(
            Header::read(&frame[..FRAME_LEN - 1], &stamp()),
            Err(Miss::Unreadable(_))
        ));
        assert!(ObjectCounts::from_slice(&[1, 2, 3]).is_none());
        assert_eq!(ObjectCounts::LEN, c.to_vec().len());
        let hour = 1_768_503_600 / 3600;
        assert_eq!(hour_folder(hour).as_deref(), Some("2026-01-15T19"));
        assert_eq!(folder_hour("2026-01-15T19"), Some(hour));
        assert_eq!(folder_hour("other"), None);
    }
}
