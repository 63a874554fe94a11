//! The state of incremental scheduled runs (`run --state DIR|s3://bucket/prefix`): for each log
//! object read, a compact Parquet projection of its in-scope rows (status 200/206, more than
//! 1 KiB, with a session; every row time, since windows move) in the columns the `upstream`
//! score reads (`ts`, `session_id`, `status`, `bytes` and the 64-bit keys), stamped with the object's version
//! (ETag, or size and modification time). A later scan takes the projection instead of
//! fetching, inflating and parsing an object whose version is unchanged, and reads new or
//! changed objects (late files included: every run lists its hours) from the logs, so its
//! rows, and scores, are exactly those of a full read.
//!
//! A projection is used only when it was written for the same reading (`--format-in`,
//! `--realtime-fields`), by a build whose keys hash the same, for the same object: otherwise
//! the object is read again and its projection replaced. Objects with malformed lines or
//! that failed are not kept (they are read again, and reported, every time). Each projection
//! is one object written whole, so concurrent runs can only replace one another's work.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch, TimestampSecondArray};
use arrow::compute::filter_record_batch;
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

use super::cta::SessionRule;
use super::fields::{column_index, logs_schema};
use super::filter::{Range, RowFilter};
use super::parser::InputFormat;
use super::realtime::RealtimeFields;
use super::stats::ObjectCounts;
use crate::aws::AwsAccess;
use crate::error::{Error, Result};
use crate::location::{LogLocation, LogObject};

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
const LAYOUT_VERSION: u32 = 1;

/// Where incremental runs keep their projections.
#[derive(Debug)]
pub struct StateStore {
    /// The local folder's store, or the S3 bucket's once first used.
    store: tokio::sync::OnceCell<Arc<dyn ObjectStore>>,
    /// The S3 bucket, reached through `aws` on first use.
    bucket: Option<(String, Arc<AwsAccess>)>,
    /// `<prefix>/objects`.
    root: ObjectPath,
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
            setting: "--state",
            reason: format!("{text}: {reason}"),
        };
        let location = if text.contains("://") {
            LogLocation::parse(text).map_err(|e| setting(e.to_string()))?
        } else {
            let path = std::path::absolute(text).map_err(|e| setting(e.to_string()))?;
            LogLocation::Local(path)
        };
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
        let columns = projection.iter().all(|i| kept.contains(i));
        let statuses = filter
            .status_in
            .as_ref()
            .is_some_and(|statuses| statuses.iter().all(|s| *s == 200 || *s == 206));
        columns && statuses && filter.bytes.lo > 1024 && filter.session_required
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

    /// The rows a projection keeps: every time, in-scope statuses and sizes, with a session.
    pub fn row_filter() -> RowFilter {
        RowFilter {
            ts: Range::default(),
            status: Range::default(),
            status_in: Some(vec![200, 206]),
            bytes: Range {
                lo: 1025,
                hi: i64::MAX,
            },
            session_required: true,
        }
    }

    /// The kept projection of `object`, when there is one for its current version.
    pub async fn load(&self, object: &LogObject) -> std::result::Result<Option<Kept>, String> {
        match self.try_load(object).await {
            Ok(kept) => Ok(Some(kept)),
            Err(Miss::Absent) => Ok(None),
            Err(Miss::Unreadable(reason)) => Err(reason),
        }
    }

    async fn try_load(&self, object: &LogObject) -> std::result::Result<Kept, Miss> {
        if object.version.is_empty() {
            return Err(Miss::Absent);
        }
        let path = self.path_of(object);
        let unreadable = |e: String| Miss::Unreadable(format!("{}: {e}", self.name_of(&path)));
        let store = self.store().await.map_err(Miss::Unreadable)?;
        let bytes = match store.get(&path).await {
            Ok(result) => result
                .bytes()
                .await
                .map_err(|e| unreadable(e.to_string()))?,
            Err(object_store::Error::NotFound { .. }) => return Err(Miss::Absent),
            Err(e) => return Err(unreadable(e.to_string())),
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(|e| unreadable(e.to_string()))?;
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
        let current = meta("autorevoke.object").as_deref() == Some(object.display.as_str())
            && meta("autorevoke.version").as_deref() == Some(object.version.as_str())
            && meta("autorevoke.scope").as_deref() == Some(self.scope.as_str());
        if !current {
            return Err(Miss::Absent);
        }
        let counts = meta("autorevoke.counts")
            .and_then(|c| parse_counts(&c))
            .ok_or_else(|| unreadable("no row counts".to_string()))?;
        if builder.schema().fields() != Self::schema().fields() {
            return Err(unreadable("columns differ from a projection's".to_string()));
        }
        let batches = builder
            .build()
            .map_err(|e| unreadable(e.to_string()))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| unreadable(e.to_string()))?;
        // Read under the current schema (the file's may differ in metadata only).
        let batches = batches
            .into_iter()
            .map(|b| RecordBatch::try_new(Self::schema(), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| unreadable(e.to_string()))?;
        Ok(Kept { batches, counts })
    }

    /// Keeps the in-scope rows of `object`, read to its end with `counts`.
    pub async fn save(
        &self,
        object: &LogObject,
        batches: &[RecordBatch],
        counts: &ObjectCounts,
    ) -> std::result::Result<(), String> {
        if object.version.is_empty() {
            return Ok(());
        }
        let path = self.path_of(object);
        let name = self.name_of(&path);
        let metadata = [
            ("autorevoke.object", object.display.clone()),
            ("autorevoke.version", object.version.clone()),
            ("autorevoke.scope", self.scope.clone()),
            ("autorevoke.counts", format_counts(counts)),
        ]
        .into_iter()
        .map(|(k, v)| KeyValue::new(k.to_string(), v))
        .collect();
        let properties = WriterProperties::builder()
            .set_key_value_metadata(Some(metadata))
            .build();
        let mut buffer = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut buffer, Self::schema(), Some(properties))
            .map_err(|e| format!("{name}: {e}"))?;
        for batch in batches {
            writer.write(batch).map_err(|e| format!("{name}: {e}"))?;
        }
        writer.close().map_err(|e| format!("{name}: {e}"))?;
        self.store()
            .await?
            .put(&path, PutPayload::from(Bytes::from(buffer)))
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
        let mut deleted = 0;
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

/// A kept projection: the object's in-scope rows and its row counts.
#[derive(Debug)]
pub struct Kept {
    /// The rows, in the projection's schema.
    pub batches: Vec<RecordBatch>,
    /// The object's counts when it was read.
    pub counts: ObjectCounts,
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
    let keep: BooleanArray = times
        .iter()
        .map(|t| Some(t.is_some_and(|t| ts.contains(t))))
        .collect();
    let rows = filter_record_batch(batch, &keep).map_err(|e| e.to_string())?;
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
fn check_apart(state: &LogLocation, logs: &[LogLocation]) -> std::result::Result<(), String> {
    for location in logs {
        let inside = match (state, location) {
            (LogLocation::Local(state), LogLocation::Local(logs)) => state.starts_with(logs),
            (
                LogLocation::S3 { bucket, prefix },
                LogLocation::S3 {
                    bucket: logs_bucket,
                    prefix: logs_prefix,
                },
            ) => bucket == logs_bucket && prefix.starts_with(logs_prefix.as_str()),
            _ => false,
        };
        if inside {
            let logs = match location {
                LogLocation::Local(path) => path.display().to_string(),
                LogLocation::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
            };
            return Err(format!(
                "inside the log location {logs}: its projections would be read as logs"
            ));
        }
    }
    Ok(())
}

/// What a projection depends on besides the object: the layout, the reading settings (the
/// session rule too: it decides the `session_id` column) and the key hash (a build that
/// hashes differently must not mix its keys with older ones).
fn scope(
    format: InputFormat,
    realtime_fields: RealtimeFields,
    session_from: SessionRule,
) -> String {
    let probe = super::parser::key_of(b"autorevoke state probe");
    format!(
        "v{LAYOUT_VERSION} format={format:?} realtime={realtime_fields:?} session={} \
         keys={probe:016x} columns={}",
        session_from.as_str(),
        KEPT.join(",")
    )
}

fn format_counts(c: &ObjectCounts) -> String {
    format!(
        "{} {} {} {} {} {} {}",
        c.rows_read,
        c.rows_malformed,
        c.rows_without_session,
        c.rows_rejected_session,
        c.rows_rejected_undecodable,
        c.rows_rejected_without_cti,
        c.rows_rejected_bad_id
    )
}

fn parse_counts(text: &str) -> Option<ObjectCounts> {
    let n: Vec<u64> = text
        .split(' ')
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    match n[..] {
        [
            rows_read,
            rows_malformed,
            rows_without_session,
            rows_rejected_session,
            rows_rejected_undecodable,
            rows_rejected_without_cti,
            rows_rejected_bad_id,
        ] => Some(ObjectCounts {
            rows_read,
            rows_malformed,
            rows_without_session,
            rows_rejected_session,
            rows_rejected_undecodable,
            rows_rejected_without_cti,
            rows_rejected_bad_id,
        }),
        _ => None,
    }
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
        let back = parse_counts(&format_counts(&c)).expect("counts");
        assert_eq!(
            (
                back.rows_read,
                back.rows_without_session,
                back.rows_rejected_session,
                back.rows_rejected_undecodable,
                back.rows_rejected_without_cti,
                back.rows_rejected_bad_id
            ),
            (7, 2, 3, 1, 1, 1)
        );
        assert!(parse_counts("1 2 3").is_none());
        // A projection of the four-count layout (before `--session-from`) is not read.
        assert!(parse_counts("1 2 3 4").is_none());
        let hour = 1_768_503_600 / 3600;
        assert_eq!(hour_folder(hour).as_deref(), Some("2026-01-15T19"));
        assert_eq!(folder_hour("2026-01-15T19"), Some(hour));
        assert_eq!(folder_hour("other"), None);
    }
}
