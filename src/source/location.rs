//! Log locations: where CloudFront logs are and which objects there a window needs.
//!
//! A location is a local file or folder (read recursively: every regular file below is a log
//! object) or `s3://bucket/prefix`. Both are listed through a [`KeyLister`](super::layout::KeyLister) so that [`layout`]
//! pruning treats them alike, and both are read through `object_store`.
//!
//! [`layout`]: super::layout

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use super::allowed::{key_in_folder, resolve_path};
use super::layout::{HourRange, Layout};
use super::local::select_local;
use super::s3::select_s3;
use crate::aws::AwsAccess;
use crate::error::{Error, Result};

/// A place holding CloudFront log objects, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLocation {
    /// A local file or folder (absolute after [`LogLocation::parse`]).
    Local(PathBuf),
    /// Objects in S3 under a key prefix (empty for the whole bucket).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without a leading `/`.
        prefix: String,
    },
}

/// One log object to read.
#[derive(Debug, Clone)]
pub struct LogObject {
    /// The store that holds it, as registered in the query's `RuntimeEnv` (`file:///` for
    /// local files, `s3://bucket` for S3), so a plan names its objects without holding stores.
    pub store_url: ObjectStoreUrl,
    /// Its path in the store.
    pub path: ObjectPath,
    /// Its size in bytes.
    pub size: u64,
    /// How it is named in messages (`/abs/path.gz`, `s3://bucket/key`).
    pub display: String,
    /// Why it cannot be read at all, known when listed (an S3 key `object_store` cannot
    /// address, such as `a//b`); reading reports it as a failed object.
    pub unreadable: Option<String>,
    /// The hour its key names (hours since the epoch), if it names one.
    pub hour: Option<i64>,
    /// What changes when its content does (see [`crate::source::layout::Listed::version`]).
    pub version: String,
}

/// The objects selected under a set of locations.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Every selected object, sorted by display name, without duplicates.
    pub objects: Vec<LogObject>,
    /// List requests made.
    pub list_requests: u64,
    /// Keys the listings returned, selected or not.
    pub keys_listed: u64,
    /// What the user should know about the listing (keys in more than one layout).
    pub notes: Vec<String>,
    /// The stores the objects are in, to register in the query's `RuntimeEnv` (local files
    /// use the `file:///` store every `RuntimeEnv` has).
    pub stores: Vec<(ObjectStoreUrl, Arc<dyn ObjectStore>)>,
}

/// How locations are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListOptions {
    /// The layout to assume (or detect).
    pub layout: Layout,
    /// Extra time listed on both sides of a window, for rows in a neighbouring hour's file.
    pub late_margin_s: i64,
}

/// Minutes listed on both sides of a window by default, for rows delivered into a
/// neighbouring hour's file.
pub const DEFAULT_LATE_MARGIN_MINUTES: u32 = 60;

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            layout: Layout::Auto,
            late_margin_s: i64::from(DEFAULT_LATE_MARGIN_MINUTES) * 60,
        }
    }
}

impl LogLocation {
    /// Parses a location argument: `s3://bucket[/prefix]`, or a local path that must exist.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Location {
            location: text.to_string(),
            reason: reason.to_string(),
        };
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !valid_bucket {
                return Err(bad(
                    "not a valid S3 URL: expected s3://bucket/prefix with a bucket name of 3 to 63 \
                     lowercase letters, digits, dots and hyphens",
                ));
            }
            return Ok(LogLocation::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        if text.contains("://") {
            return Err(bad(
                "unsupported URL scheme: use a local path or s3://bucket/prefix",
            ));
        }
        let path = std::fs::canonicalize(text).map_err(|e| bad(&e.to_string()))?;
        Ok(LogLocation::Local(path))
    }

    /// Selects the objects at this location that `hours` needs (all when `None`).
    pub async fn select(
        &self,
        aws: &AwsAccess,
        options: ListOptions,
        hours: Option<HourRange>,
    ) -> Result<Listing> {
        match self {
            LogLocation::Local(path) => select_local(path, options, hours).await,
            LogLocation::S3 { bucket, prefix } => {
                select_s3(aws, bucket, prefix, options, hours).await
            }
        }
    }
}

impl LogLocation {
    /// A location for a place that may not exist yet (a `--state` folder): `s3://` URLs as
    /// [`LogLocation::parse`] reads them, local paths made absolute and resolved as the file
    /// system will resolve them once created (see [`resolve_path`]).
    pub fn parse_maybe_missing(text: &str) -> Result<Self> {
        if text.contains("://") {
            return LogLocation::parse(text);
        }
        resolve_path(FsPath::new(text))
            .map(LogLocation::Local)
            .map_err(|e| Error::Location {
                location: text.to_string(),
                reason: e.to_string(),
            })
    }

    /// True when `other` is this location or lies below it, compared after normalising:
    /// local paths as resolved by [`resolve_path`] (`..` and symbolic links followed), S3
    /// prefixes as folders (`s3://b/logs` and `s3://b/logs/` are one folder, and
    /// `s3://b/logs2/` is not inside it).
    pub fn contains(&self, other: &LogLocation) -> bool {
        match (self, other) {
            (LogLocation::Local(outer), LogLocation::Local(inner)) => {
                match (resolve_path(outer), resolve_path(inner)) {
                    (Ok(outer), Ok(inner)) => inner.starts_with(outer),
                    // Unresolvable: compare as given (an error elsewhere names the path).
                    _ => inner.starts_with(outer),
                }
            }
            (
                LogLocation::S3 { bucket, prefix },
                LogLocation::S3 {
                    bucket: inner_bucket,
                    prefix: inner_prefix,
                },
            ) => bucket == inner_bucket && key_in_folder(prefix, inner_prefix),
            _ => false,
        }
    }
}

impl std::fmt::Display for LogLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogLocation::Local(p) => write!(f, "{}", p.display()),
            LogLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Selects the objects of every location, merged and sorted.
pub async fn select_all(
    locations: &[LogLocation],
    aws: &AwsAccess,
    options: ListOptions,
    hours: Option<HourRange>,
) -> Result<Listing> {
    let mut all = Listing::default();
    for location in locations {
        let listing = location.select(aws, options, hours).await?;
        all.objects.extend(listing.objects);
        all.list_requests += listing.list_requests;
        all.keys_listed += listing.keys_listed;
        all.notes.extend(listing.notes);
        for (url, store) in listing.stores {
            if !all.stores.iter().any(|(u, _)| *u == url) {
                all.stores.push((url, store));
            }
        }
    }
    all.objects.sort_by(|a, b| a.display.cmp(&b.display));
    all.objects.dedup_by(|a, b| a.display == b.display);
    Ok(all)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_folder_is_listed_recursively_and_a_file_alone() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let root = dir.path();
        for rel in ["a.gz", "sub/b.gz", "sub/deeper/c.txt"] {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(&p, rel).expect("write");
        }
        let aws = AwsAccess::default();
        let loc = LogLocation::parse(&root.display().to_string())?;
        let listing = select_all(
            std::slice::from_ref(&loc),
            &aws,
            ListOptions::default(),
            None,
        )
        .await?;
        let names: Vec<_> = listing
            .objects
            .iter()
            .map(|o| o.display.trim_start_matches(&loc.to_string()).to_string())
            .collect();
        assert_eq!(names, ["/a.gz", "/sub/b.gz", "/sub/deeper/c.txt"]);
        assert_eq!(listing.objects[1].size, 8);

        let one = LogLocation::parse(&root.join("sub/b.gz").display().to_string())?;
        assert_eq!(
            one.select(&aws, ListOptions::default(), None)
                .await?
                .objects
                .len(),
            1
        );
        assert!(LogLocation::parse("/no/such/dir/anywhere").is_err());
        Ok(())
    }

    #[tokio::test]
    async fn folders_beside_flat_files_are_pruned_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        for rel in [
            "E1.2026-01-01-00.a.gz",
            "E1.2026-01-05-00.b.gz",
            "archive/E1.2026-01-01-00.c.gz",
            "archive/E1.2026-01-09-00.d.gz",
            "archive/notes.txt",
        ] {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, rel).expect("write");
        }
        let loc = LogLocation::parse(&dir.path().display().to_string()).expect("exists");
        // 2026-01-01T00:10Z, one hour of margin: hours 2025-12-31T23 to 2026-01-01T01.
        let t = 1_767_226_200;
        let hours = HourRange::around(t, t, 3600);
        let listing = loc
            .select(&AwsAccess::default(), ListOptions::default(), Some(hours))
            .await
            .expect("listed");
        let names: Vec<String> = listing
            .objects
            .iter()
            .map(|o| o.display.trim_start_matches(&loc.to_string()).to_string())
            .collect();
        assert_eq!(
            names,
            [
                "/E1.2026-01-01-00.a.gz",
                "/archive/E1.2026-01-01-00.c.gz",
                "/archive/notes.txt"
            ]
        );
    }

    #[tokio::test]
    async fn a_symbolic_link_loop_is_an_error_not_a_crash() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.gz"), b"x").expect("write");
        std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).expect("symlink");
        let loc = LogLocation::parse(&dir.path().display().to_string()).expect("exists");
        let err = loc
            .select(&AwsAccess::default(), ListOptions::default(), None)
            .await
            .expect_err("a loop");
        assert!(err.to_string().contains("symbolic link loop"), "{err}");
    }

    #[test]
    fn s3_urls() {
        assert_eq!(
            LogLocation::parse("s3://my-logs/cf/E1/").ok(),
            Some(LogLocation::S3 {
                bucket: "my-logs".into(),
                prefix: "cf/E1/".into()
            })
        );
        assert_eq!(
            LogLocation::parse("s3://my-logs").ok(),
            Some(LogLocation::S3 {
                bucket: "my-logs".into(),
                prefix: String::new()
            })
        );
        for bad in [
            "s3://",
            "s3:///x",
            "s3://Bad_Bucket/x",
            "gs://b/x",
            "s3://ab",
        ] {
            assert!(LogLocation::parse(bad).is_err(), "{bad}");
        }
    }
}
