//! Durable per-shard checkpoints and the lease that keeps a second `watch` off the same
//! stream and checkpoint, in a folder, under `s3://bucket/prefix`, or in a DynamoDB table.
//!
//! A shard's checkpoint names the first record the window still needs (`resume_at`: read
//! again after a restart, since the window lives in memory) and the last record read into
//! the window (`last_read`). A restart reads each shard from `resume_at` (else after
//! `last_read`), so the window it rebuilds holds every record once, as before the restart.
//!
//! The lease is one small document (owner, expiry in epoch seconds) renewed every tick; a
//! crashed owner's lease expires. In a folder or S3 a first lease is created only if absent;
//! taking over an expired one is a plain overwrite (two processes starting in the same
//! instant over an expired lease can both win; the DynamoDB lease is a conditional write
//! and exact).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::stream::Start;
use crate::aws::{AwsAccess, sdk_error};
use crate::error::{Error, Result};
use crate::retry::{Backoff, classify_sdk, with_backoff};
use crate::source::LogLocation;

/// Where a shard's reading resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    /// The first record whose rows the window may still need; `None`: none is.
    pub resume_at: Option<String>,
    /// The last record read into the window.
    pub last_read: Option<String>,
    /// The shard is closed and was read to its end.
    pub drained: bool,
}

impl ShardCheckpoint {
    /// Where reading the shard starts after a restart.
    pub fn start(&self) -> Start {
        match (&self.resume_at, &self.last_read) {
            (Some(at), _) => Start::At(at.clone()),
            (None, Some(last)) => Start::After(last.clone()),
            (None, None) => Start::TrimHorizon,
        }
    }
}

/// The checkpoints of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The stream, as given.
    pub stream: String,
    /// By shard id.
    pub shards: BTreeMap<String, ShardCheckpoint>,
}

/// Who holds the lease, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The holder (host, process id and a random part).
    pub owner: String,
    /// Epoch seconds after which another `watch` may take it.
    pub expires: i64,
}

/// Where the checkpoints and the lease are kept.
#[derive(Debug)]
pub struct CheckpointStore {
    place: Place,
    /// The stream's key: its name (the last part of an ARN), made safe for a file name.
    key: String,
    display: String,
    backoff: Backoff,
}

#[derive(Debug)]
enum Place {
    Objects {
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
    },
    Table {
        client: aws_sdk_dynamodb::Client,
        table: String,
    },
}

/// The key column of a checkpoint table.
const TABLE_KEY: &str = "id";

impl CheckpointStore {
    /// The store `text` names for `stream`: `s3://bucket/prefix`, a folder (a text with a
    /// `/`, or an existing folder; created when missing), else a DynamoDB table (created,
    /// on demand billing, when missing).
    pub async fn open(text: &str, stream: &str, aws: &AwsAccess) -> Result<Self> {
        let setting = |reason: String| Error::Setting {
            setting: "checkpoint".into(),
            reason: format!("{text}: {reason}"),
        };
        let key = stream_key(stream);
        if key.is_empty() {
            return Err(Error::Setting {
                setting: "stream".into(),
                reason: format!("{stream:?} names no stream"),
            });
        }
        let is_folder = text.contains('/') || std::path::Path::new(text).is_dir();
        let place = if text.starts_with("s3://") || is_folder {
            match LogLocation::parse_maybe_missing(text).map_err(|e| setting(e.to_string()))? {
                LogLocation::Local(path) => {
                    std::fs::create_dir_all(&path).map_err(|e| setting(e.to_string()))?;
                    let store = LocalFileSystem::new_with_prefix(&path)
                        .map_err(|e| setting(e.to_string()))?;
                    Place::Objects {
                        store: Arc::new(store),
                        prefix: ObjectPath::from(""),
                    }
                }
                LogLocation::S3 { bucket, prefix } => Place::Objects {
                    store: aws.s3_store(&bucket).await?,
                    prefix: ObjectPath::parse(prefix.trim_end_matches('/'))
                        .map_err(|e| setting(e.to_string()))?,
                },
            }
        } else {
            let client = aws.dynamodb_client().await;
            create_table(&client, text).await?;
            Place::Table {
                client,
                table: text.to_string(),
            }
        };
        Ok(CheckpointStore {
            place,
            key,
            display: text.to_string(),
            backoff: Backoff::default(),
        })
    }

    /// How messages name the store.
    pub fn display(&self) -> &str {
        &self.display
    }

    fn object(prefix: &ObjectPath, name: String) -> ObjectPath {
        prefix.clone().join(name)
    }

    /// The checkpoint kept for the stream, if any.
    pub async fn load(&self) -> Result<Option<Checkpoint>> {
        let context = format!("checkpoint {}: reading", self.display);
        let text = match &self.place {
            Place::Objects { store, prefix } => {
                let path = Self::object(prefix, format!("{}.checkpoint.json", self.key));
                match store.get(&path).await {
                    Ok(got) => {
                        let bytes = got
                            .bytes()
                            .await
                            .map_err(|e| Error::Other(format!("{context}: {e}")))?;
                        String::from_utf8_lossy(&bytes).into_owned()
                    }
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(Error::Other(format!("{context}: {e}"))),
                }
            }
            Place::Table { client, table } => {
                match self
                    .get_item(client, table, &format!("{}#checkpoint", self.key))
                    .await?
                    .and_then(|item| text_attr(&item, "body"))
                {
                    Some(text) => text,
                    None => return Ok(None),
                }
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Other(format!("{context}: not a checkpoint: {e}")))
    }

    /// Keeps `checkpoint` (replacing the last one whole).
    pub async fn save(&self, checkpoint: &Checkpoint) -> Result<()> {
        let body = serde_json::to_string(checkpoint)
            .map_err(|e| Error::Other(format!("checkpoint {}: {e}", self.display)))?;
        match &self.place {
            Place::Objects { store, prefix } => {
                let path = Self::object(prefix, format!("{}.checkpoint.json", self.key));
                // Local puts are written aside and renamed; S3 puts are whole.
                store
                    .put(&path, PutPayload::from(body.into_bytes()))
                    .await
                    .map_err(|e| {
                        Error::Other(format!("checkpoint {}: writing: {e}", self.display))
                    })?;
            }
            Place::Table { client, table } => {
                let item = HashMap::from([
                    (
                        TABLE_KEY.to_string(),
                        AttributeValue::S(format!("{}#checkpoint", self.key)),
                    ),
                    ("body".to_string(), AttributeValue::S(body)),
                ]);
                let (result, _) = with_backoff(self.backoff, classify_sdk, || {
                    client
                        .put_item()
                        .table_name(table)
                        .set_item(Some(item.clone()))
                        .send()
                })
                .await;
                result.map_err(|e| sdk_error(&format!("checkpoint table {table}"), &e))?;
            }
        }
        Ok(())
    }

    /// Takes (or renews) the lease for `owner` until `now + ttl_s`; refused while another
    /// owner's lease has not expired.
    pub async fn acquire(&self, owner: &str, now: i64, ttl_s: i64) -> Result<()> {
        let lease = Lease {
            owner: owner.to_string(),
            expires: now + ttl_s,
        };
        match &self.place {
            Place::Objects { store, prefix } => {
                let path = Self::object(prefix, format!("{}.lease.json", self.key));
                let body = serde_json::to_vec(&lease)
                    .map_err(|e| Error::Other(format!("lease {}: {e}", self.display)))?;
                let mode = match self.current_lease(store, &path).await? {
                    None => PutMode::Create,
                    Some(held) if held.owner == owner || held.expires < now => PutMode::Overwrite,
                    Some(held) => return Err(self.refused(&held, now)),
                };
                let options = PutOptions {
                    mode,
                    ..PutOptions::default()
                };
                match store.put_opts(&path, PutPayload::from(body), options).await {
                    Ok(_) => Ok(()),
                    Err(object_store::Error::AlreadyExists { .. }) => {
                        match self.current_lease(store, &path).await? {
                            Some(held) => Err(self.refused(&held, now)),
                            None => Err(Error::Other(format!(
                                "lease {}: another watch is starting",
                                self.display
                            ))),
                        }
                    }
                    Err(e) => Err(Error::Other(format!(
                        "lease {}: writing: {e}",
                        self.display
                    ))),
                }
            }
            Place::Table { client, table } => {
                let id = format!("{}#lease", self.key);
                let item = HashMap::from([
                    (TABLE_KEY.to_string(), AttributeValue::S(id.clone())),
                    ("owner".to_string(), AttributeValue::S(lease.owner.clone())),
                    (
                        "expires".to_string(),
                        AttributeValue::N(lease.expires.to_string()),
                    ),
                ]);
                let (result, _) = with_backoff(self.backoff, classify_sdk, || {
                    client
                        .put_item()
                        .table_name(table)
                        .set_item(Some(item.clone()))
                        .condition_expression(
                            "attribute_not_exists(#id) OR #owner = :me OR #expires < :now",
                        )
                        .expression_attribute_names("#id", TABLE_KEY)
                        .expression_attribute_names("#owner", "owner")
                        .expression_attribute_names("#expires", "expires")
                        .expression_attribute_values(":me", AttributeValue::S(owner.to_string()))
                        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                        .send()
                })
                .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                    {
                        let held = self.get_item(client, table, &id).await?;
                        let held = Lease {
                            owner: held
                                .as_ref()
                                .and_then(|i| text_attr(i, "owner"))
                                .unwrap_or_default(),
                            expires: held
                                .as_ref()
                                .and_then(|i| match i.get("expires") {
                                    Some(AttributeValue::N(n)) => n.parse().ok(),
                                    _ => None,
                                })
                                .unwrap_or(now),
                        };
                        Err(self.refused(&held, now))
                    }
                    Err(e) => Err(sdk_error(&format!("lease table {table}"), &e)),
                }
            }
        }
    }

    /// Gives the lease up, if `owner` still holds it.
    pub async fn release(&self, owner: &str) -> Result<()> {
        match &self.place {
            Place::Objects { store, prefix } => {
                let path = Self::object(prefix, format!("{}.lease.json", self.key));
                if self
                    .current_lease(store, &path)
                    .await?
                    .is_some_and(|held| held.owner == owner)
                {
                    store.delete(&path).await.map_err(|e| {
                        Error::Other(format!("lease {}: deleting: {e}", self.display))
                    })?;
                }
                Ok(())
            }
            Place::Table { client, table } => {
                let (result, _) = with_backoff(self.backoff, classify_sdk, || {
                    client
                        .delete_item()
                        .table_name(table)
                        .key(TABLE_KEY, AttributeValue::S(format!("{}#lease", self.key)))
                        .condition_expression("#owner = :me")
                        .expression_attribute_names("#owner", "owner")
                        .expression_attribute_values(":me", AttributeValue::S(owner.to_string()))
                        .send()
                })
                .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(sdk_error(&format!("lease table {table}"), &e)),
                }
            }
        }
    }

    fn refused(&self, held: &Lease, now: i64) -> Error {
        Error::Refused {
            context: format!(
                "watch of stream {} with checkpoint {}",
                self.key, self.display
            ),
            reason: format!(
                "another watch ({}) holds the lease for {} more second(s); stop it, or wait \
                 for its lease to expire if it crashed",
                held.owner,
                (held.expires - now).max(0)
            ),
        }
    }

    async fn current_lease(
        &self,
        store: &Arc<dyn ObjectStore>,
        path: &ObjectPath,
    ) -> Result<Option<Lease>> {
        match store.get(path).await {
            Ok(got) => {
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|e| Error::Other(format!("lease {}: {e}", self.display)))?;
                // An unreadable lease (a write cut short) holds nothing.
                Ok(serde_json::from_slice(&bytes).ok())
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Error::Other(format!(
                "lease {}: reading: {e}",
                self.display
            ))),
        }
    }

    async fn get_item(
        &self,
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        id: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>> {
        let (result, _) = with_backoff(self.backoff, classify_sdk, || {
            client
                .get_item()
                .table_name(table)
                .key(TABLE_KEY, AttributeValue::S(id.to_string()))
                .consistent_read(true)
                .send()
        })
        .await;
        let out = result.map_err(|e| sdk_error(&format!("checkpoint table {table}"), &e))?;
        Ok(out.item().cloned())
    }
}

fn text_attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Creates the checkpoint table when it does not exist.
async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    let backoff = Backoff::default();
    let (described, _) = with_backoff(backoff, classify_sdk, || {
        client.describe_table().table_name(table).send()
    })
    .await;
    match described {
        Ok(_) => return Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => return Err(sdk_error(&format!("checkpoint table {table}"), &e)),
    }
    let built = (|| -> std::result::Result<_, aws_sdk_dynamodb::error::BuildError> {
        Ok((
            AttributeDefinition::builder()
                .attribute_name(TABLE_KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
            KeySchemaElement::builder()
                .attribute_name(TABLE_KEY)
                .key_type(KeyType::Hash)
                .build()?,
        ))
    })();
    let (attr, key) =
        built.map_err(|e| Error::Other(format!("building the table definition: {e}")))?;
    let (created, _) = with_backoff(backoff, classify_sdk, || {
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr.clone())
            .key_schema(key.clone())
            .send()
    })
    .await;
    match created {
        Ok(_) => Ok(()),
        // Another watch made it meanwhile.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(sdk_error(&format!("creating checkpoint table {table}"), &e)),
    }
}

/// The key of a stream's documents: its name (the part of an ARN after `stream/`), with
/// characters other than letters, digits, `-`, `_` and `.` replaced by `_`.
pub fn stream_key(stream: &str) -> String {
    let name = stream.rsplit('/').next().unwrap_or(stream);
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A lease owner id for this process: host name, process id, and a random part.
pub fn owner_id() -> String {
    use rand::Rng;
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".to_string());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::rng().random::<u32>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_come_from_names_and_arns() {
        assert_eq!(stream_key("cf-realtime"), "cf-realtime");
        assert_eq!(
            stream_key("arn:aws:kinesis:us-east-1:123456789012:stream/cf-realtime"),
            "cf-realtime"
        );
        assert_eq!(stream_key("a b"), "a_b");
    }

    #[test]
    fn a_restart_reads_from_the_first_record_still_needed() {
        let both = ShardCheckpoint {
            resume_at: Some("5".into()),
            last_read: Some("9".into()),
            drained: false,
        };
        assert_eq!(both.start(), Start::At("5".into()));
        let read = ShardCheckpoint {
            resume_at: None,
            last_read: Some("9".into()),
            drained: false,
        };
        assert_eq!(read.start(), Start::After("9".into()));
        assert_eq!(ShardCheckpoint::default().start(), Start::TrimHorizon);
    }

    #[tokio::test]
    async fn a_folder_lease_refuses_a_second_owner_until_it_expires() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("{}/ckpt", dir.path().display());
        let aws = AwsAccess::default();
        let store = CheckpointStore::open(&text, "s1", &aws)
            .await
            .expect("store");
        store.acquire("a", 1_000, 30).await.expect("first");
        store.acquire("a", 1_010, 30).await.expect("renewed");
        let refused = store.acquire("b", 1_020, 30).await;
        assert!(
            matches!(&refused, Err(Error::Refused { reason, .. })
                if reason.starts_with("another watch (a) holds the lease for 20 more second(s)")),
            "{refused:?}"
        );
        // Expired at 1_040: b takes it, and a may not come back.
        store.acquire("b", 1_041, 30).await.expect("taken over");
        assert!(store.acquire("a", 1_050, 30).await.is_err());
        store.release("a").await.expect("not a's to release");
        assert!(store.acquire("a", 1_050, 30).await.is_err());
        store.release("b").await.expect("released");
        store.acquire("a", 1_050, 30).await.expect("free again");
        // Checkpoints round-trip.
        assert_eq!(store.load().await.expect("load"), None);
        let mut checkpoint = Checkpoint {
            stream: "s1".into(),
            ..Checkpoint::default()
        };
        checkpoint.shards.insert(
            "shardId-000000000000".into(),
            ShardCheckpoint {
                resume_at: Some("3".into()),
                last_read: Some("7".into()),
                drained: false,
            },
        );
        store.save(&checkpoint).await.expect("save");
        assert_eq!(store.load().await.expect("load"), Some(checkpoint));
    }
}
