//! Log locations: where CloudFront logs are and which objects there a window needs.
//!
//! A location is a local file or folder (read recursively: every regular file below is a log
//! object) or `s3://bucket/prefix`. Both are listed through a [`KeyLister`] so that [`layout`]
//! pruning treats them alike, and both are read through `object_store`.
//!
//! [`layout`]: crate::layout

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use crate::aws::AwsAccess;
use crate::error::{AwsErrorKind, Error, Result};
use crate::layout::{self, HourRange, KeyLister, Layout, ListPage, ListRequest, Listed};
use crate::retry::{Backoff, classify_sdk, with_backoff};

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
    /// What changes when its content does (see [`crate::layout::Listed::version`]).
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

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            layout: Layout::Auto,
            late_margin_s: 3600,
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

/// The locations a cluster process (`autorevoke scheduler`, `executor`) may read or write:
/// a plan names its log objects and state, and whoever reaches the cluster's ports can send
/// a plan, so a process refuses every location outside these.
#[derive(Debug, Clone)]
pub struct AllowedLocations {
    locations: Vec<LogLocation>,
}

impl AllowedLocations {
    /// The locations `texts` (local folders or files, `s3://bucket/prefix`), resolved now.
    pub fn parse(texts: &[String]) -> Result<Self> {
        let locations = texts
            .iter()
            .map(|text| LogLocation::parse_maybe_missing(text))
            .collect::<Result<Vec<_>>>()?;
        Ok(AllowedLocations { locations })
    }

    /// True when `location` is one of them or lies below one.
    pub fn permits(&self, location: &LogLocation) -> bool {
        self.locations
            .iter()
            .any(|allowed| allowed.contains(location))
    }

    /// True when the object at `path` in the store `store_url` (`file:///`, `s3://bucket`)
    /// lies in one of them; a local path is resolved first, so a symbolic link inside an
    /// allowed folder that leads out of it is refused.
    pub fn permits_object(&self, store_url: &str, path: &ObjectPath) -> bool {
        let location = match store_url.trim_end_matches('/').strip_prefix("s3://") {
            Some(bucket) => LogLocation::S3 {
                bucket: bucket.to_string(),
                prefix: path.to_string(),
            },
            // Resolved as the local store resolves it (percent-decoded).
            None if store_url == "file:///" => {
                match object_store::local::LocalFileSystem::new().path_to_filesystem(path) {
                    Ok(file) => LogLocation::Local(file),
                    Err(_) => return false,
                }
            }
            None => return false,
        };
        self.permits(&location)
    }
}

/// True when S3 key (or prefix) `key` is the folder `folder` or lies below it; both are
/// taken without trailing `/`, and an empty folder is the whole bucket.
pub fn key_in_folder(folder: &str, key: &str) -> bool {
    let folder = folder.trim_end_matches('/');
    let key = key.trim_end_matches('/');
    folder.is_empty()
        || key == folder
        || key
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `path` as the file system resolves it: absolute, with symbolic links followed and `.` and
/// `..` applied. The part that exists is canonicalised; what does not exist yet (a folder to
/// be created) is appended with `.` and `..` applied to the names alone.
pub fn resolve_path(path: &FsPath) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.clone();
    let mut missing = Vec::new();
    let mut resolved = loop {
        match std::fs::canonicalize(&existing) {
            Ok(found) => break found,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
                    // `..` at the end or the root itself: nothing more to strip.
                    if !existing.pop() {
                        return Err(e);
                    }
                    missing.push(std::ffi::OsString::from(".."));
                    continue;
                };
                missing.push(name);
                if !existing.pop() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    };
    for name in missing.iter().rev() {
        if name == ".." {
            resolved.pop();
        } else if name != "." {
            resolved.push(name);
        }
    }
    Ok(resolved)
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

async fn select_local(
    path: &FsPath,
    options: ListOptions,
    hours: Option<HourRange>,
) -> Result<Listing> {
    let err = |reason: String| Error::Location {
        location: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    let object = |file: PathBuf, key: &str, size: u64, version: String| -> Result<LogObject> {
        Ok(LogObject {
            hour: layout::key_hour(key).map(|(_, hour)| hour),
            store_url: ObjectStoreUrl::local_filesystem(),
            path: ObjectPath::from_absolute_path(&file).map_err(|e| err(e.to_string()))?,
            size,
            display: file.display().to_string(),
            unreadable: None,
            version,
        })
    };
    if meta.is_file() {
        return Ok(Listing {
            objects: vec![object(
                path.to_path_buf(),
                &path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                meta.len(),
                file_version(&meta),
            )?],
            list_requests: 0,
            keys_listed: 1,
            notes: Vec::new(),
            stores: Vec::new(),
        });
    }
    let lister = LocalLister {
        root: path.to_path_buf(),
        folders: Arc::new(FolderCache::default()),
    };
    let selection = layout::select(&lister, "", options.layout, hours).await?;
    Ok(Listing {
        objects: selection
            .objects
            .into_iter()
            .map(|o| object(path.join(&o.key), &o.key, o.size, o.version))
            .collect::<Result<_>>()?,
        list_requests: selection.list_requests,
        keys_listed: selection.keys_listed,
        notes: selection.notes,
        stores: Vec::new(),
    })
}

async fn select_s3(
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

/// Lists a local folder like S3 would list keys relative to it.
struct LocalLister {
    root: PathBuf,
    folders: Arc<FolderCache>,
}

/// Each folder's entries, read from the disk once per listing: a flat walk asks for the same
/// folder once per distribution, and must not read it again each time.
#[derive(Default)]
struct FolderCache {
    entries: std::sync::Mutex<std::collections::HashMap<PathBuf, Arc<Vec<FolderEntry>>>>,
    /// Folders read from the disk.
    reads: std::sync::atomic::AtomicU64,
}

/// One entry of a folder, symbolic links followed.
struct FolderEntry {
    name: String,
    path: PathBuf,
    /// None for a folder, the size for a file.
    file_size: Option<u64>,
    /// A file's size and modification time, as a [`Listed::version`].
    version: String,
}

impl FolderCache {
    /// The entries of `dir` (files and folders; anything else is left out), sorted by name.
    fn entries(&self, dir: &FsPath) -> std::io::Result<Arc<Vec<FolderEntry>>> {
        if let Some(found) = lock(&self.entries).get(dir) {
            return Ok(Arc::clone(found));
        }
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            // Follow symbolic links, as reading will.
            let Ok(meta) = std::fs::metadata(entry.path()) else {
                continue;
            };
            let file_size = if meta.is_dir() {
                None
            } else if meta.is_file() {
                Some(meta.len())
            } else {
                continue;
            };
            out.push(FolderEntry {
                name: entry.file_name().to_string_lossy().into_owned(),
                path: entry.path(),
                file_size,
                version: file_version(&meta),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        let out = Arc::new(out);
        lock(&self.entries).insert(dir.to_path_buf(), Arc::clone(&out));
        Ok(out)
    }
}

/// A local file's [`Listed::version`]: its size and modification time in nanoseconds, and
/// on Unix its inode and status-change time, which user space cannot set back: a file
/// rewritten in place with its size and modification time kept (`cp -p`, `rsync -t`,
/// `tar x`) is a new version.
fn file_version(meta: &std::fs::Metadata) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!(
            "{}-{modified}-{}-{}.{:09}",
            meta.len(),
            meta.ino(),
            meta.ctime(),
            meta.ctime_nsec()
        )
    }
    #[cfg(not(unix))]
    format!("{}-{modified}", meta.len())
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl KeyLister for LocalLister {
    async fn list(&self, request: ListRequest) -> Result<ListPage> {
        let root = self.root.clone();
        let folders = Arc::clone(&self.folders);
        tokio::task::spawn_blocking(move || list_folder(&root, &request, &folders))
            .await
            .map_err(|e| Error::Other(format!("listing task failed: {e}")))?
    }
}

fn list_folder(root: &FsPath, request: &ListRequest, folders: &FolderCache) -> Result<ListPage> {
    let (dir_part, name_part) = match request.prefix.rfind('/') {
        Some(i) => request.prefix.split_at(i + 1),
        None => ("", request.prefix.as_str()),
    };
    let dir = root.join(dir_part);
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    let entries = match folders.entries(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ListPage::default()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()))(e)),
    };
    for entry in entries.iter() {
        if !entry.name.starts_with(name_part) {
            continue;
        }
        let key = format!("{dir_part}{}", entry.name);
        match entry.file_size {
            None if request.delimiter => prefixes.push(format!("{key}/")),
            None => walk(&entry.path, &key, &mut objects, 1, folders)?,
            Some(size) => objects.push(Listed {
                key,
                size,
                version: entry.version.clone(),
            }),
        }
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    prefixes.sort();
    let after = request.start_after.as_deref().or(request.token.as_deref());
    if let Some(after) = after {
        objects.retain(|o| o.key.as_str() > after);
        prefixes.retain(|p| p.as_str() > after);
    }
    let mut next_token = None;
    if let Some(max) = request.max_keys.and_then(|m| usize::try_from(m).ok()) {
        // Keep the first `max` of objects and folders together, in key order.
        let mut merged: Vec<(String, Option<(u64, String)>)> = objects
            .iter()
            .map(|o| (o.key.clone(), Some((o.size, o.version.clone()))))
            .chain(prefixes.iter().map(|p| (p.clone(), None)))
            .collect();
        merged.sort();
        if merged.len() > max {
            merged.truncate(max);
            next_token = merged.last().map(|(k, _)| k.clone());
        }
        objects = merged
            .iter()
            .filter_map(|(k, s)| {
                s.clone().map(|(size, version)| Listed {
                    key: k.clone(),
                    size,
                    version,
                })
            })
            .collect();
        prefixes = merged
            .into_iter()
            .filter(|(_, s)| s.is_none())
            .map(|(k, _)| k)
            .collect();
    }
    Ok(ListPage {
        objects,
        prefixes,
        next_token,
    })
}

/// Deepest folder nesting read; deeper is a symbolic link loop or a mistake.
const MAX_FOLDER_DEPTH: usize = 32;

fn walk(
    dir: &FsPath,
    key: &str,
    out: &mut Vec<Listed>,
    depth: usize,
    folders: &FolderCache,
) -> Result<()> {
    if depth > MAX_FOLDER_DEPTH {
        return Err(Error::Location {
            location: dir.display().to_string(),
            reason: format!(
                "folders nested deeper than {MAX_FOLDER_DEPTH} levels (a symbolic link loop?)"
            ),
        });
    }
    let entries = folders
        .entries(dir)
        .map_err(Error::io(format!("listing {}", dir.display())))?;
    for entry in entries.iter() {
        let child = format!("{key}/{}", entry.name);
        match entry.file_size {
            None => walk(&entry.path, &child, out, depth + 1, folders)?,
            Some(size) => out.push(Listed {
                key: child,
                size,
                version: entry.version.clone(),
            }),
        }
    }
    Ok(())
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
    async fn a_flat_folder_is_read_from_disk_once_and_stray_keys_cost_a_bounded_number_of_requests()
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut names = Vec::new();
        for d in ["E1", "E2", "E3"] {
            for h in ["00", "05"] {
                names.push(format!("{d}.2026-01-01-{h}.x.gz"));
            }
        }
        for i in 0..100 {
            names.push(format!("stray-{i:03}.txt"));
        }
        for name in &names {
            std::fs::write(dir.path().join(name), name).expect("write");
        }
        let lister = LocalLister {
            root: dir.path().to_path_buf(),
            folders: Arc::new(FolderCache::default()),
        };
        let t = 1_767_226_200; // 2026-01-01T00:10Z; hours 2025-12-31T23 to 2026-01-01T01
        let hours = HourRange::around(t, t, 3600);
        let sel = layout::select(&lister, "", Layout::Flat, Some(hours))
            .await
            .expect("listed");
        let picked: Vec<&str> = sel.objects.iter().map(|o| o.key.as_str()).collect();
        let mut expected = vec![
            "E1.2026-01-01-00.x.gz",
            "E2.2026-01-01-00.x.gz",
            "E3.2026-01-01-00.x.gz",
        ];
        let strays: Vec<String> = (0..100).map(|i| format!("stray-{i:03}.txt")).collect();
        expected.extend(strays.iter().map(String::as_str));
        assert_eq!(picked, expected);
        // Three distributions found one request each, 33 strays one request each, then one
        // full listing (filtered by the hour in each name) instead of 67 more requests.
        assert_eq!(sel.list_requests, 3 + 33 + 1);
        assert_eq!(
            lister
                .folders
                .reads
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
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
