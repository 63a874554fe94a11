//! The Kinesis calls `watch` makes (`ListShards`, `GetShardIterator`, `GetRecords`), each
//! retried by the one retry policy ([`crate::retry`]); an expired iterator is replaced by a
//! new one from the last record read and the call tried again.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::types::ShardIteratorType;
use bytes::Bytes;

use super::shards::ShardInfo;
use crate::aws::sdk_error;
use crate::error::{Error, Result};
use crate::retry::{Backoff, Verdict, classify_sdk};

/// A Kinesis data stream, named or by ARN.
#[derive(Debug, Clone)]
pub struct KinesisStream {
    client: Client,
    name: Option<String>,
    arn: Option<String>,
    backoff: Backoff,
}

/// Where a shard's reading starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The oldest record the stream keeps.
    TrimHorizon,
    /// The record with this sequence number (a checkpoint's first record still needed).
    At(String),
    /// The record after this sequence number.
    After(String),
}

/// One record of a page: its sequence number and data.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    /// Its sequence number.
    pub sequence: String,
    /// Its data (one or more log lines).
    pub data: Bytes,
}

/// What one `GetRecords` returned.
#[derive(Debug, Clone)]
pub struct Page {
    /// The records, in sequence order.
    pub records: Vec<StreamRecord>,
    /// The iterator of the next call; `None` at the end of a closed shard.
    pub next: Option<String>,
    /// How far behind the shard's tip the page ends, in milliseconds.
    pub millis_behind: i64,
    /// Retries the page took (throttling, expired iterators).
    pub retries: u32,
}

/// The error code of an expired shard iterator.
const EXPIRED: &str = "ExpiredIteratorException";

impl KinesisStream {
    /// The stream `name_or_arn` (an ARN starts with `arn:`).
    pub fn new(client: Client, name_or_arn: &str) -> Self {
        let is_arn = name_or_arn.starts_with("arn:");
        KinesisStream {
            client,
            name: (!is_arn).then(|| name_or_arn.to_string()),
            arn: is_arn.then(|| name_or_arn.to_string()),
            backoff: Backoff::default(),
        }
    }

    /// The same stream with another retry budget (tests).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How messages name the stream.
    pub fn display(&self) -> &str {
        self.arn.as_deref().or(self.name.as_deref()).unwrap_or("")
    }

    fn context(&self, what: &str) -> String {
        format!("Kinesis stream {}: {what}", self.display())
    }

    /// Every shard of the stream, open or closed, as listed now.
    pub async fn list_shards(&self) -> Result<Vec<ShardInfo>> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (result, _) = crate::retry::with_backoff(self.backoff, classify_sdk, || {
                let call = self.client.list_shards();
                let call = match &token {
                    Some(t) => call.next_token(t),
                    None => call
                        .set_stream_name(self.name.clone())
                        .set_stream_arn(self.arn.clone()),
                };
                call.send()
            })
            .await;
            let out = result.map_err(|e| sdk_error(&self.context("listing the shards"), &e))?;
            for s in out.shards() {
                shards.push(ShardInfo {
                    id: s.shard_id().to_string(),
                    parent: s.parent_shard_id().map(str::to_string),
                    adjacent_parent: s.adjacent_parent_shard_id().map(str::to_string),
                    ending_sequence: s
                        .sequence_number_range()
                        .and_then(|r| r.ending_sequence_number())
                        .map(str::to_string),
                });
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(shards);
            }
        }
    }

    /// An iterator of `shard` from `start`.
    pub async fn iterator(&self, shard: &str, start: &Start) -> Result<String> {
        let (kind, sequence) = match start {
            Start::TrimHorizon => (ShardIteratorType::TrimHorizon, None),
            Start::At(s) => (ShardIteratorType::AtSequenceNumber, Some(s.clone())),
            Start::After(s) => (ShardIteratorType::AfterSequenceNumber, Some(s.clone())),
        };
        let (result, _) = crate::retry::with_backoff(self.backoff, classify_sdk, || {
            self.client
                .get_shard_iterator()
                .set_stream_name(self.name.clone())
                .set_stream_arn(self.arn.clone())
                .shard_id(shard)
                .shard_iterator_type(kind.clone())
                .set_starting_sequence_number(sequence.clone())
                .send()
        })
        .await;
        let out = result.map_err(|e| {
            sdk_error(
                &self.context(&format!("getting an iterator of shard {shard}")),
                &e,
            )
        })?;
        out.shard_iterator()
            .map(str::to_string)
            .ok_or_else(|| Error::Other(self.context(&format!("shard {shard} has no iterator"))))
    }

    /// Up to `limit` records of `shard` from `iterator`. Throttling and other transient
    /// failures are retried after a backoff; an expired iterator is replaced by one from
    /// `resume` (after the last record read) and retried within the same budget.
    pub async fn records(
        &self,
        shard: &str,
        iterator: String,
        resume: &Start,
        limit: i32,
    ) -> Result<Page> {
        let mut iterator = iterator;
        let mut attempt = 1;
        loop {
            let result = self
                .client
                .get_records()
                .set_stream_arn(self.arn.clone())
                .shard_iterator(&iterator)
                .limit(limit)
                .send()
                .await;
            let error = match result {
                Ok(out) => {
                    let records = out
                        .records()
                        .iter()
                        .map(|r| StreamRecord {
                            sequence: r.sequence_number().to_string(),
                            data: Bytes::copy_from_slice(r.data().as_ref()),
                        })
                        .collect();
                    return Ok(Page {
                        records,
                        next: out.next_shard_iterator().map(str::to_string),
                        millis_behind: out.millis_behind_latest().unwrap_or(0),
                        retries: attempt - 1,
                    });
                }
                Err(e) => e,
            };
            let expired = is_expired(&error);
            let verdict = if expired {
                Verdict::Retry
            } else {
                classify_sdk(&error)
            };
            if verdict == Verdict::Fail || attempt >= self.backoff.attempts {
                return Err(sdk_error(
                    &self.context(&format!("reading shard {shard}")),
                    &error,
                ));
            }
            attempt += 1;
            let delay = self.backoff.delay(attempt);
            tracing::debug!(
                shard,
                attempt,
                expired,
                delay_ms = delay.as_millis() as u64,
                "retrying GetRecords"
            );
            tokio::time::sleep(delay).await;
            if expired {
                iterator = self.iterator(shard, resume).await?;
            }
        }
    }
}

fn is_expired<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.err().code() == Some(EXPIRED))
}
