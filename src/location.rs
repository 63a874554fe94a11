//! Log locations: where CloudFront logs are and which objects are there.
//!
//! A location is a local file or folder (read recursively: every regular file below is a log
//! object). Objects are reached through the `object_store` crate so that every later stage
//! reads local and remote logs the same way.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;

use crate::error::{Error, Result};

/// A place holding CloudFront log objects, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLocation {
    /// A local file or folder (absolute after [`LogLocation::parse`]).
    Local(PathBuf),
}

/// One log object to read.
#[derive(Debug, Clone)]
pub struct LogObject {
    /// The store that holds it.
    pub store: Arc<dyn ObjectStore>,
    /// Its path in the store.
    pub path: ObjectPath,
    /// Its size in bytes.
    pub size: u64,
    /// How it is named in messages (`/abs/path.gz`, `s3://bucket/key`).
    pub display: String,
}

/// The objects under a set of locations.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Every object, sorted by display name, without duplicates.
    pub objects: Vec<LogObject>,
    /// List requests made.
    pub list_requests: u64,
}

impl LogLocation {
    /// Parses a location argument: a local path that must exist.
    pub fn parse(text: &str) -> Result<Self> {
        if text.contains("://") {
            return Err(Error::Location {
                location: text.to_string(),
                reason: "only local paths are supported".to_string(),
            });
        }
        let path = std::fs::canonicalize(text).map_err(|e| Error::Location {
            location: text.to_string(),
            reason: e.to_string(),
        })?;
        Ok(LogLocation::Local(path))
    }

    /// Lists the objects at this location.
    pub async fn list(&self) -> Result<Listing> {
        match self {
            LogLocation::Local(path) => list_local(path).await,
        }
    }
}

impl std::fmt::Display for LogLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogLocation::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Lists the objects of every location, merged and sorted.
pub async fn list_all(locations: &[LogLocation]) -> Result<Listing> {
    let mut all = Listing::default();
    for location in locations {
        let listing = location.list().await?;
        all.objects.extend(listing.objects);
        all.list_requests += listing.list_requests;
    }
    all.objects.sort_by(|a, b| a.display.cmp(&b.display));
    all.objects.dedup_by(|a, b| a.display == b.display);
    Ok(all)
}

async fn list_local(path: &FsPath) -> Result<Listing> {
    let err = |reason: String| Error::Location {
        location: path.display().to_string(),
        reason,
    };
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
    let object_path = ObjectPath::from_absolute_path(path).map_err(|e| err(e.to_string()))?;
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.is_file() {
        let object = LogObject {
            store,
            path: object_path,
            size: meta.len(),
            display: path.display().to_string(),
        };
        return Ok(Listing {
            objects: vec![object],
            list_requests: 0,
        });
    }
    let metas: Vec<_> = store
        .list(Some(&object_path))
        .try_collect()
        .await
        .map_err(|e| err(format!("listing failed: {e}")))?;
    let objects = metas
        .into_iter()
        .map(|m| LogObject {
            display: format!("/{}", m.location),
            store: Arc::clone(&store),
            path: m.location,
            size: m.size,
        })
        .collect();
    Ok(Listing {
        objects,
        list_requests: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_folder_is_listed_recursively_and_a_file_alone() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Io {
            context: "tempdir".into(),
            source: e,
        })?;
        let root = dir.path();
        for rel in ["a.gz", "sub/b.gz", "sub/deeper/c.txt"] {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(&p, rel).expect("write");
        }
        let loc = LogLocation::parse(&root.display().to_string())?;
        let listing = list_all(std::slice::from_ref(&loc)).await?;
        let names: Vec<_> = listing
            .objects
            .iter()
            .map(|o| o.display.trim_start_matches(&loc.to_string()).to_string())
            .collect();
        assert_eq!(names, ["/a.gz", "/sub/b.gz", "/sub/deeper/c.txt"]);
        assert_eq!(listing.objects[1].size, 8);

        let one = LogLocation::parse(&root.join("sub/b.gz").display().to_string())?;
        assert_eq!(one.list().await?.objects.len(), 1);
        assert!(LogLocation::parse("/no/such/dir/anywhere").is_err());
        Ok(())
    }
}
