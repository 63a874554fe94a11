//! What a media request's path says about the playback: which object (the path without the
//! session token), which rendition folder, which asset, and which segment number. The
//! `viewers` profile compares these across a session's fetches; one parse per row instead
//! of a regular expression per field.

/// The file extensions of media segments (HLS, DASH, CMAF, subtitles).
pub const MEDIA_EXTENSIONS: [&str; 9] = [
    "ts", "aac", "m4s", "mp4", "m4a", "m4v", "cmfv", "cmfa", "vtt",
];

/// Whether `extension` is one of [`MEDIA_EXTENSIONS`] (a `match`: no string compare per
/// extension, this runs once per row).
fn is_media_extension(extension: &str) -> bool {
    matches!(
        extension,
        "ts" | "aac" | "m4s" | "mp4" | "m4a" | "m4v" | "cmfv" | "cmfa" | "vtt"
    )
}

/// A media segment's path, `/<token>/<asset...>/<folder>/<file>.<media extension>`, taken
/// apart. Borrowed from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPath<'a> {
    /// The path without its token: `<asset...>/<folder>/<file>`, the same for every viewer.
    pub object: &'a str,
    /// The rendition folder: `<asset...>/<folder>`.
    pub folder: &'a str,
    /// The asset: the folder's parent, `<asset...>`.
    pub asset: &'a str,
    /// The segment number: the last run of digits of the file name (its last 15 digits at
    /// most) once the extension and an LL-HLS part suffix are dropped. None without digits.
    pub segment: Option<i64>,
}

/// Takes `uri` apart when it is a media segment's path: a token, at least one asset
/// component, a folder and a file with a media extension, none of them empty. Other paths
/// (playlists, keys, pages) give None. One backward search per separator (this runs once per
/// row): the file's `.`, the file's and the folder's `/`, and the token's `/` from the front.
pub fn media_path(uri: &str) -> Option<MediaPath<'_>> {
    let b = uri.as_bytes();
    if b.first() != Some(&b'/') {
        return None;
    }
    let file_slash = memchr::memrchr(b'/', b)?;
    let dot = file_slash + 1 + memchr::memrchr(b'.', &b[file_slash + 1..])?;
    if dot == file_slash + 1 || !is_media_extension(uri.get(dot + 1..)?) {
        return None;
    }
    let rendition_slash = memchr::memrchr(b'/', &b[..file_slash])?;
    let token_end = 1 + memchr::memchr(b'/', &b[1..])?;
    // Token, asset and rendition not empty (the asset lies between the token and the
    // rendition folder, so this also puts the token's `/` before the rendition's).
    if token_end == 1 || token_end + 1 >= rendition_slash || rendition_slash + 1 == file_slash {
        return None;
    }
    if memchr::memchr(b'\n', b).is_some() {
        return None;
    }
    Some(MediaPath {
        object: uri.get(token_end + 1..)?,
        folder: uri.get(token_end + 1..file_slash)?,
        asset: uri.get(token_end + 1..rendition_slash)?,
        segment: segment_number(uri.get(file_slash + 1..dot)?),
    })
}

/// The segment number of a file name without its extension: `seg_00012` 12, `seg12.3` and
/// `seg12_part3` 12 (an LL-HLS part belongs to its segment), `chunk-5` 5.
pub fn segment_number(stem: &str) -> Option<i64> {
    let name = without_part(stem).as_bytes();
    let end = name.iter().rposition(u8::is_ascii_digit)? + 1;
    let run = name[..end]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let start = end - run.min(15);
    name[start..end].iter().try_fold(0i64, |n, b| {
        n.checked_mul(10)?.checked_add(i64::from(b - b'0'))
    })
}

/// `stem` without an LL-HLS part suffix: `[._-]part[._-]<digits>` or `.<digits>` at the end.
fn without_part(stem: &str) -> &str {
    let digits = stem.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return stem;
    }
    let head = &stem[..stem.len() - digits];
    let before_part = head
        .strip_suffix(['.', '_', '-'])
        .unwrap_or(head)
        .strip_suffix("part");
    if let Some(name) = before_part {
        return name.strip_suffix(['.', '_', '-']).unwrap_or(name);
    }
    head.strip_suffix('.').unwrap_or(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_path_comes_apart_into_object_folder_asset_and_number() {
        let m = media_path("/tok.1.2.3/vod/movie/720p/seg_00012.ts").expect("media");
        assert_eq!(m.object, "vod/movie/720p/seg_00012.ts");
        assert_eq!(m.folder, "vod/movie/720p");
        assert_eq!(m.asset, "vod/movie");
        assert_eq!(m.segment, Some(12));
        let m = media_path("/t/a/f/init.mp4").expect("media without a number");
        assert_eq!((m.asset, m.folder, m.segment), ("a", "a/f", None));
    }

    #[test]
    fn the_match_is_the_list() {
        for e in MEDIA_EXTENSIONS {
            assert!(is_media_extension(e), "{e}");
        }
        for e in ["m3u8", "key", "", "TS", "mp", "m4"] {
            assert!(!is_media_extension(e), "{e}");
        }
    }

    #[test]
    fn other_paths_are_not_media() {
        for uri in [
            "/t/a/f/index.m3u8",
            "/t/f/seg1.ts",
            "/t/a/f/.ts",
            "/t/a/f/seg1.TS",
            "t/a/f/seg1.ts",
            "//a/f/seg1.ts",
            "/t//f/seg1.ts",
            "/t/a//seg1.ts",
            "/t/a/f/seg1",
            "/t/a/f\n/seg1.ts",
            "",
            "/",
        ] {
            assert_eq!(media_path(uri), None, "{uri:?}");
        }
        // The asset may have several components.
        let m = media_path("/t/live/ch1/east/1080p/s7.m4s").expect("media");
        assert_eq!((m.asset, m.segment), ("live/ch1/east", Some(7)));
    }

    #[test]
    fn part_suffixes_belong_to_their_segment() {
        for (stem, n) in [
            ("seg12_part3", Some(12)),
            ("seg12.part.3", Some(12)),
            ("seg12-part3", Some(12)),
            ("seg12part3", Some(12)),
            ("seg12.3", Some(12)),
            ("chunk-5", Some(5)),
            ("seg_00012", Some(12)),
            ("part3", None),
            ("segment", None),
            ("a1b22c", Some(22)),
            ("x1234567890123456789", Some(567_890_123_456_789)),
        ] {
            assert_eq!(segment_number(stem), n, "{stem}");
        }
    }
}
