//! Listing an S3 prefix with ListObjectsV2 (retried with the one retry policy).

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::path::Path as ObjectPath;

use super::layout::{self, HourRange, KeyLister, ListPage, ListRequest, Listed};
use super::location::{ListOptions, Listing, LogObject};
use crate::aws::AwsAccess;
use crate::error::{AwsErrorKind, Error, Result};
use crate::retry::{Backoff, classify_sdk, with_backoff};

pub(super) async fn select_s3(
    aws: &AwsAccess,
    bucket: &str,
    prefix: &str,
    options: ListOptions,
    hours: Option<HourRange>,
) -> Result<Listing> {
    let url = s3_url(bucket)?;
    let lister = S3Lister {
        client: aws.s3_client().await,
        bucket: bucket.to_string(),
    };
    let mut requests = 0;
    // `s3://b/logs` is the folder `logs/` unless an object is named exactly `logs`.
    let mut folder = prefix.to_string();
    if !folder.is_empty() && !folder.ends_with('/') {
        requests += 1;
        let page = lister
            .list(ListRequest {
                prefix: folder.clone(),
                max_keys: Some(1),
                ..ListRequest::default()
            })
            .await?;
        if let Some(o) = page.objects.into_iter().find(|o| o.key == folder) {
            return Ok(Listing {
                objects: vec![s3_object(&url, bucket, o)],
                list_requests: requests,
                keys_listed: 1,
                notes: Vec::new(),
                stores: vec![(url, aws.s3_store(bucket).await?)],
            });
        }
        folder.push('/');
    }
    let selection = layout::select(&lister, &folder, options.layout, hours).await?;
    Ok(Listing {
        objects: selection
            .objects
            .into_iter()
            .map(|o| s3_object(&url, bucket, o))
            .collect(),
        list_requests: requests + selection.list_requests,
        keys_listed: selection.keys_listed,
        notes: selection.notes,
        stores: vec![(url, aws.s3_store(bucket).await?)],
    })
}

/// The object for a listed S3 key. The key is used as it is (`Path::parse`, never re-encoded:
/// `%`, `~` and other characters S3 allows must reach GetObject unchanged).
fn s3_object(url: &ObjectStoreUrl, bucket: &str, o: Listed) -> LogObject {
    let (path, unreadable) = match ObjectPath::parse(&o.key) {
        // `parse` drops a trailing `/`, which would name another object.
        Ok(_) if o.key.ends_with('/') || o.key.starts_with('/') => (
            ObjectPath::default(),
            Some("cannot be read: a key that starts or ends with `/` cannot be addressed".into()),
        ),
        Ok(path) => (path, None),
        Err(e) => (
            ObjectPath::default(),
            Some(format!("cannot be read: the key cannot be addressed ({e})")),
        ),
    };
    LogObject {
        display: format!("s3://{bucket}/{}", o.key),
        hour: layout::key_hour(&o.key).map(|(_, hour)| hour),
        path,
        size: o.size,
        store_url: url.clone(),
        unreadable,
        version: o.version,
    }
}

/// The URL a bucket's store is registered under: `s3://bucket`.
fn s3_url(bucket: &str) -> Result<ObjectStoreUrl> {
    ObjectStoreUrl::parse(format!("s3://{bucket}")).map_err(|e| Error::Location {
        location: format!("s3://{bucket}"),
        reason: format!("not a store URL: {e}"),
    })
}

/// Lists an S3 bucket with ListObjectsV2.
struct S3Lister {
    client: aws_sdk_s3::Client,
    bucket: String,
}

#[async_trait]
impl KeyLister for S3Lister {
    async fn list(&self, request: ListRequest) -> Result<ListPage> {
        let (result, _) = with_backoff(Backoff::default(), classify_sdk, || {
            self.client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&request.prefix)
                .set_delimiter(request.delimiter.then(|| "/".to_string()))
                .set_start_after(request.start_after.clone())
                .set_max_keys(request.max_keys)
                .set_continuation_token(request.token.clone())
                .send()
        })
        .await;
        let out = result.map_err(|e| {
            let message = DisplayErrorContext(&e).to_string();
            let kind = AwsErrorKind::classify(e.code(), &message);
            let message = match kind {
                AwsErrorKind::NotFound => "no such bucket".to_string(),
                AwsErrorKind::AccessDenied => format!("access denied ({message})"),
                AwsErrorKind::NoCredentials => {
                    format!("no valid AWS credentials ({message})")
                }
                AwsErrorKind::Other => format!("listing failed: {message}"),
            };
            Error::Aws {
                kind,
                context: format!("s3://{}/{}", self.bucket, request.prefix),
                message,
            }
        })?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                let key = o.key()?;
                let size = o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                // An empty key ending in `/` is a folder marker (the console's "Create
                // folder"), not a log object.
                (!(size == 0 && key.ends_with('/'))).then(|| Listed {
                    key: key.to_string(),
                    size,
                    version: format!("{size}-{}", o.e_tag().unwrap_or_default()),
                })
            })
            .collect();
        let prefixes = out
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix().map(str::to_string))
            .collect();
        let next_token = if out.is_truncated() == Some(true) {
            out.next_continuation_token().map(str::to_string)
        } else {
            None
        };
        Ok(ListPage {
            objects,
            prefixes,
            next_token,
        })
    }
}
