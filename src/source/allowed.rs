//! [`AllowedLocations`]: what a cluster process may read, and path resolution that sees
//! through `..` and links before a location is compared.

use std::path::{Path as FsPath, PathBuf};

use object_store::path::Path as ObjectPath;

use super::location::LogLocation;
use crate::error::Result;

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
