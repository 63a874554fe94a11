//! The CloudFront KeyValueStore calls: DescribeKeyValueStore (the ETag), ListKeys (every page;
//! only keys under the prefix are autorevoke's) and UpdateKeys (the difference, in batches,
//! each all-or-nothing under the ETag of the one before). An ETag conflict (another writer),
//! throttling or a 5xx reads the store again and starts over from the new difference, with the
//! one retry policy ([`crate::retry`]).

use std::collections::BTreeMap;

use aws_sdk_cloudfrontkeyvaluestore::Client;
use aws_sdk_cloudfrontkeyvaluestore::types::{DeleteKeyRequestListItem, PutKeyRequestListItem};

use super::compile::{CompiledKeys, KeyDiff, budget, compile, diff};
use crate::aws::sdk_error;
use crate::error::{Error, Result};
use crate::retry::{Backoff, Verdict, classify_sdk, with_backoff};
use crate::revocation::{MASS_UNBLOCK_MIN_RULES, Selection};

/// A KeyValueStore to keep in step with the revocation table.
#[derive(Debug, Clone)]
pub struct KeyValueStore {
    client: Client,
    arn: String,
    backoff: Backoff,
}

/// What the store holds, as read before a change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreState {
    /// The version the reads saw (DescribeKeyValueStore, before the listing).
    pub etag: String,
    /// Keys under the prefix, with their values.
    pub mine: BTreeMap<String, String>,
    /// Keys outside the prefix (never touched).
    pub other_keys: usize,
    /// Bytes of those (keys and values).
    pub other_bytes: u64,
}

/// How to publish: the key prefix, the retention the values name, the size budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishSettings {
    /// Keys are `<prefix><session_id>`; only keys under it are read or changed.
    pub key_prefix: String,
    /// The `reason` the values carry.
    pub reason: &'static str,
    /// Retention in minutes (for `expires_at`).
    pub retention_minutes: u32,
    /// Most bytes of autorevoke's keys (`--max-bytes`); never more than the store holds
    /// beside the other keys.
    pub max_bytes: Option<u64>,
}

/// What a publish did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishOutcome {
    /// The keys computed (for the last read of the store).
    pub compiled: CompiledKeys,
    /// How the store's keys under the prefix differed from them.
    pub diff: KeyDiff,
    /// The store as last read.
    pub before: StoreState,
    /// The ETag after the last update (the read one when nothing was changed).
    pub etag_after: String,
    /// UpdateKeys calls that succeeded.
    pub updates: u32,
    /// Times the store was read again after a conflict or a busy answer.
    pub conflict_retries: u32,
}

fn build_error(e: aws_sdk_cloudfrontkeyvaluestore::error::BuildError) -> Error {
    Error::Other(format!("building a KeyValueStore request: {e}"))
}

impl KeyValueStore {
    /// The store `arn`, reached through `client`.
    pub fn new(client: Client, arn: &str) -> Self {
        KeyValueStore {
            client,
            arn: arn.to_string(),
            backoff: Backoff::default(),
        }
    }

    /// The store's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Its ETag (DescribeKeyValueStore), retried.
    pub async fn etag(&self) -> Result<String> {
        let (result, _) = with_backoff(self.backoff, classify_sdk, || {
            self.client
                .describe_key_value_store()
                .kvs_arn(&self.arn)
                .send()
        })
        .await;
        let out = result.map_err(|e| sdk_error(&format!("KeyValueStore {}", self.arn), &e))?;
        Ok(out.e_tag().to_string())
    }

    /// Every key and value (ListKeys, all pages, each retried).
    pub async fn list(&self) -> Result<Vec<(String, String)>> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (result, _) = with_backoff(self.backoff, classify_sdk, || {
                self.client
                    .list_keys()
                    .kvs_arn(&self.arn)
                    .max_results(50)
                    .set_next_token(token.clone())
                    .send()
            })
            .await;
            let page = result
                .map_err(|e| sdk_error(&format!("listing KeyValueStore {}", self.arn), &e))?;
            all.extend(
                page.items()
                    .iter()
                    .map(|i| (i.key().to_string(), i.value().to_string())),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() && !page.items().is_empty() => token = Some(t.to_string()),
                _ => return Ok(all),
            }
        }
    }

    /// The ETag, then the keys, split by `prefix`.
    pub async fn read(&self, prefix: &str) -> Result<StoreState> {
        let etag = self.etag().await?;
        let mut state = StoreState {
            etag,
            ..StoreState::default()
        };
        for (key, value) in self.list().await? {
            if key.starts_with(prefix) {
                state.mine.insert(key, value);
            } else {
                state.other_keys += 1;
                state.other_bytes += (key.len() + value.len()) as u64;
            }
        }
        Ok(state)
    }

    /// Makes the keys under the prefix hold exactly what `selection` compiles to (an empty
    /// selection deletes them all). An unchanged store costs one DescribeKeyValueStore and the
    /// listing. A dry run reads and compares only. Refuses a mass unblock unless allowed.
    pub async fn publish(
        &self,
        selection: &Selection,
        settings: &PublishSettings,
        dry_run: bool,
        allow_mass_unblock: bool,
    ) -> Result<PublishOutcome> {
        let mut conflict_retries = 0;
        let mut updates = 0;
        loop {
            let before = self.read(&settings.key_prefix).await?;
            let compiled = compile(
                selection.clone(),
                &settings.key_prefix,
                settings.reason,
                settings.retention_minutes,
                budget(settings.max_bytes, before.other_bytes),
            );
            let d = diff(&before.mine, &compiled.entries);
            if d.is_empty() || dry_run {
                return Ok(PublishOutcome {
                    compiled,
                    diff: d,
                    etag_after: before.etag.clone(),
                    before,
                    updates,
                    conflict_retries,
                });
            }
            if !allow_mass_unblock && d.is_mass_unblock(before.mine.len()) {
                return Err(Error::Refused {
                    context: format!("KeyValueStore {}", self.arn),
                    reason: format!(
                        "the publish would delete {} of its {} keys under {:?} (at least \
                         {MASS_UNBLOCK_MIN_RULES} and more than half) and unblock those \
                         sessions; if that is meant (check the table and --retention first), \
                         run again with --allow-mass-unblock",
                        d.deletes.len(),
                        before.mine.len(),
                        settings.key_prefix
                    ),
                });
            }
            let mut etag = before.etag.clone();
            let mut failed = None;
            for batch in d.batches() {
                match self.update(&etag, &batch.puts, &batch.deletes).await? {
                    Ok(next) => {
                        etag = next;
                        updates += 1;
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match failed {
                None => {
                    tracing::info!(
                        kvs = %self.arn,
                        puts = d.puts.len(),
                        deletes = d.deletes.len(),
                        updates,
                        "published the revoked sessions"
                    );
                    return Ok(PublishOutcome {
                        compiled,
                        diff: d,
                        before,
                        etag_after: etag,
                        updates,
                        conflict_retries,
                    });
                }
                Some(e) if conflict_retries + 1 < self.backoff.attempts => {
                    // Another writer (or a busy service): read the store again, publish what
                    // is still different.
                    conflict_retries += 1;
                    tracing::debug!(kvs = %self.arn, error = %e, "retrying the publish");
                    tokio::time::sleep(self.backoff.delay(conflict_retries + 1)).await;
                }
                Some(e) => return Err(e),
            }
        }
    }

    /// One UpdateKeys under `etag`: Ok(Ok(new etag)), Ok(Err(e)) for a conflict or another
    /// failure worth reading the store again for, Err for one that is not.
    async fn update(
        &self,
        etag: &str,
        puts: &[(String, String)],
        deletes: &[String],
    ) -> Result<Result<String>> {
        let puts = puts
            .iter()
            .map(|(k, v)| PutKeyRequestListItem::builder().key(k).value(v).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(build_error)?;
        let deletes = deletes
            .iter()
            .map(|k| DeleteKeyRequestListItem::builder().key(k).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(build_error)?;
        let result = self
            .client
            .update_keys()
            .kvs_arn(&self.arn)
            .if_match(etag)
            .set_puts(Some(puts))
            .set_deletes(Some(deletes))
            .send()
            .await;
        let context = || format!("updating KeyValueStore {}", self.arn);
        match result {
            Ok(out) => Ok(Ok(out.e_tag().to_string())),
            Err(e) if classify_sdk(&e) == Verdict::Retry => Ok(Err(sdk_error(&context(), &e))),
            Err(e) => Err(sdk_error(&context(), &e)),
        }
    }
}
