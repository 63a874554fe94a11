//! Listing a local folder as S3 lists keys, so layout pruning treats both alike.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::path::Path as ObjectPath;

use super::layout::{self, HourRange, KeyLister, ListPage, ListRequest, Listed};
use super::location::{ListOptions, Listing, LogObject};
use crate::error::{Error, Result};
use crate::lock::lock;

pub(super) async fn select_local(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::layout::Layout;

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
}
