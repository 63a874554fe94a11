//! Where a command's report goes: `--format`, else what `--output`'s extension says.

use std::path::{Path, PathBuf};

use autorevoke::choice::Choice;

/// The format and file of a command's output: `--format`, else what `--output`'s extension
/// says (`.txt` is a table), else `default`. An `--output` that is only a format's name
/// (`json`), as AWS CLI users type it, is that format on stdout.
pub fn output_target<F: Choice>(
    format: Option<F>,
    output: Option<&Path>,
    default: F,
) -> (F, Option<PathBuf>) {
    let named = |name: &str| {
        let name = name.to_ascii_lowercase();
        F::from_name(if name == "txt" { "table" } else { &name })
    };
    let Some(path) = output else {
        return (format.unwrap_or(default), None);
    };
    let bare = path.components().count() == 1 && path.extension().is_none();
    if let (true, Some(as_format)) = (bare, path.to_str().and_then(named)) {
        return (format.unwrap_or(as_format), None);
    }
    let from_extension = path.extension().and_then(|e| e.to_str()).and_then(named);
    (
        format.or(from_extension).unwrap_or(default),
        Some(path.to_path_buf()),
    )
}
