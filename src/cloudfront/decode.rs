//! Turning an object's bytes into lines: gzip detected by its magic bytes (always the
//! multi-member decoder, since CloudFront and `cat a.gz b.gz` both produce several members),
//! plain text otherwise, a cap on inflated bytes against decompression bombs, and byte-level
//! line splitting with a cap on line length so one endless line cannot exhaust memory.

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

/// The two bytes every gzip member starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Size of the buffer the line splitter refills from the decoder.
const READ_CHUNK: usize = 256 * 1024;

/// True when `bytes` start like a gzip stream.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Largest object inflated whole by libdeflate; larger ones are streamed, so memory stays
/// bounded by this, not by the largest object.
const WHOLE_INFLATE_MAX: u64 = 256 * 1024 * 1024;

/// Calls `on_line` for every line of an object's content, as [`for_each_line`] does over
/// [`content_reader`]. Faster paths give the same lines: a single gzip member of known size is
/// inflated at once into `scratch` ([`super::inflate`]) and plain text is walked in place.
pub fn for_each_object_line<E>(
    bytes: &[u8],
    max_inflated: u64,
    max_line: usize,
    scratch: &mut Vec<u8>,
    on_line: impl FnMut(u64, Line<'_>) -> Result<(), E>,
) -> Result<Result<(), E>, io::Error> {
    if !is_gzip(bytes) {
        return Ok(for_each_line_in(bytes, max_line, on_line));
    }
    let whole_max = usize::try_from(max_inflated.min(WHOLE_INFLATE_MAX)).unwrap_or(0);
    match super::inflate::inflate_single_member(bytes, whole_max, scratch) {
        Some(n) => Ok(for_each_line_in(&scratch[..n], max_line, on_line)),
        None => for_each_line(content_reader(bytes, max_inflated), max_line, on_line),
    }
}

/// Calls `on_line` for every line of an object streamed through `reader` (too large to hold
/// whole): inflated when its first bytes say gzip, capped at `max_inflated` bytes.
pub fn for_each_streamed_line<R: Read + Send, E>(
    mut reader: R,
    max_inflated: u64,
    max_line: usize,
    on_line: impl FnMut(u64, Line<'_>) -> Result<(), E>,
) -> Result<Result<(), E>, io::Error> {
    let mut head = [0u8; 4];
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    if head[..filled] == *b"PAR1" {
        return Err(io::Error::other(
            "a Parquet object larger than --stream-above cannot be streamed: raise --stream-above \
             to read it whole",
        ));
    }
    let whole = io::Cursor::new(head[..filled].to_vec()).chain(reader);
    if is_gzip(&head[..filled]) {
        let inflated = CappedReader {
            inner: MultiGzDecoder::new(whole),
            remaining: max_inflated,
            cap: max_inflated,
        };
        for_each_line(inflated, max_line, on_line)
    } else {
        for_each_line(whole, max_line, on_line)
    }
}

/// [`for_each_line`] over text already in memory: no copying.
fn for_each_line_in<E>(
    text: &[u8],
    max_line: usize,
    mut on_line: impl FnMut(u64, Line<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let mut line_no = 0u64;
    let mut start = 0usize;
    for end in memchr::memchr_iter(b'\n', text) {
        line_no += 1;
        on_line(line_no, Line::of(&text[start..end], max_line))?;
        start = end + 1;
    }
    if start < text.len() {
        on_line(line_no + 1, Line::of(&text[start..], max_line))?;
    }
    Ok(())
}

/// A reader over an object's content: inflated when it is gzip, as is otherwise, failing
/// once more than `max_inflated` bytes come out.
pub fn content_reader<'a>(bytes: &'a [u8], max_inflated: u64) -> Box<dyn Read + Send + 'a> {
    if is_gzip(bytes) {
        Box::new(CappedReader {
            inner: MultiGzDecoder::new(bytes),
            remaining: max_inflated,
            cap: max_inflated,
        })
    } else {
        Box::new(bytes)
    }
}

/// Fails with a clear error once more than `cap` bytes have been read.
struct CappedReader<R> {
    inner: R,
    remaining: u64,
    cap: u64,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let n64 = n as u64;
        if n64 > self.remaining {
            return Err(io::Error::other(format!(
                "inflates to more than {} bytes (the per-object cap)",
                self.cap
            )));
        }
        self.remaining -= n64;
        Ok(n)
    }
}

/// One line handed to the line callback.
#[derive(Debug)]
pub enum Line<'a> {
    /// A complete line without its `\n` (and without a `\r` before it).
    Text(&'a [u8]),
    /// A line longer than the cap; its bytes were dropped.
    TooLong,
}

/// Calls `on_line` for every line of `reader` with its 1-based line number. A line longer than
/// `max_line` bytes is reported as [`Line::TooLong`] and skipped without being buffered. A read
/// error ends the walk with that error; the unterminated tail before it is not reported (it is
/// likely cut).
pub fn for_each_line<R: Read, E>(
    mut reader: R,
    max_line: usize,
    mut on_line: impl FnMut(u64, Line<'_>) -> Result<(), E>,
) -> Result<Result<(), E>, io::Error> {
    let mut buf = vec![0u8; READ_CHUNK.max(max_line + 1)];
    let mut filled = 0usize; // bytes of buf holding data
    let mut line_no = 0u64;
    let mut skipping = false; // inside a too-long line, waiting for its end
    loop {
        let n = read_retrying(&mut reader, &mut buf[filled..])?;
        let eof = n == 0;
        filled += n;
        let mut start = 0usize;
        while let Some(pos) = memchr::memchr(b'\n', &buf[start..filled]) {
            let end = start + pos;
            if skipping {
                // The end of a too-long line, already reported.
                skipping = false;
            } else {
                line_no += 1;
                if let Err(e) = on_line(line_no, Line::of(&buf[start..end], max_line)) {
                    return Ok(Err(e));
                }
            }
            start = end + 1;
        }
        if eof {
            if start < filled && !skipping {
                line_no += 1;
                if let Err(e) = on_line(line_no, Line::of(&buf[start..filled], max_line)) {
                    return Ok(Err(e));
                }
            }
            return Ok(Ok(()));
        }
        // Keep the unterminated tail; drop it when it is already longer than a line may be.
        let tail = filled - start;
        if skipping {
            filled = 0;
        } else if tail > max_line {
            line_no += 1;
            if let Err(e) = on_line(line_no, Line::TooLong) {
                return Ok(Err(e));
            }
            skipping = true;
            filled = 0;
        } else {
            buf.copy_within(start..filled, 0);
            filled = tail;
        }
    }
}

fn read_retrying<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl<'a> Line<'a> {
    /// A line's bytes without its `\n`: the text without a final `\r`, or too long.
    fn of(raw: &'a [u8], max_line: usize) -> Self {
        let text = raw.strip_suffix(b"\r").unwrap_or(raw);
        if text.len() > max_line {
            Line::TooLong
        } else {
            Line::Text(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::GzEncoder};

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).expect("in-memory write");
        enc.finish().expect("in-memory gzip")
    }

    /// The lines as `n:text`, read both ways (streamed, and by the fast paths of
    /// `for_each_object_line`), which must agree.
    fn lines(bytes: &[u8], max_line: usize) -> io::Result<Vec<String>> {
        fn collect(
            walk: impl FnOnce(
                &mut dyn FnMut(u64, Line<'_>) -> Result<(), ()>,
            ) -> io::Result<Result<(), ()>>,
        ) -> io::Result<Vec<String>> {
            let mut out = Vec::new();
            let done = walk(&mut |n, line| {
                out.push(match line {
                    Line::Text(t) => format!("{n}:{}", String::from_utf8_lossy(t)),
                    Line::TooLong => format!("{n}:<too long>"),
                });
                Ok(())
            })?;
            assert!(done.is_ok());
            Ok(out)
        }
        let streamed = collect(|on| for_each_line(content_reader(bytes, u64::MAX), max_line, on));
        let fast =
            collect(|on| for_each_object_line(bytes, u64::MAX, max_line, &mut vec![b'x'; 7], on));
        match (&streamed, &fast) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("streamed {streamed:?} but fast {fast:?}"),
        }
        streamed
    }

    #[test]
    fn multi_member_gzip_reads_every_member() {
        let mut two = gzip(b"a\nb\n");
        two.extend(gzip(b"c\r\nd"));
        assert_eq!(
            lines(&two, 100).expect("valid"),
            ["1:a", "2:b", "3:c", "4:d"]
        );
    }

    #[test]
    fn plain_text_is_read_as_is() {
        assert_eq!(lines(b"x\n\ny", 100).expect("valid"), ["1:x", "2:", "3:y"]);
        assert!(lines(b"", 100).expect("valid").is_empty());
    }

    #[test]
    fn a_line_over_the_cap_is_reported_and_skipped() {
        let mut text = b"ok\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 3 * READ_CHUNK));
        text.extend(b"\nafter\n");
        assert_eq!(
            lines(&text, 1000).expect("valid"),
            ["1:ok", "2:<too long>", "3:after"]
        );
    }

    #[test]
    fn a_complete_line_over_the_cap_is_too_long_too() {
        assert_eq!(
            lines(b"short\n0123456789\n0123456789", 5).expect("valid"),
            ["1:short", "2:<too long>", "3:<too long>"]
        );
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let full = gzip(b"line one\nline two\n");
        assert!(lines(&full[..full.len() - 4], 100).is_err());
    }

    #[test]
    fn inflating_past_the_cap_is_an_error() {
        let big = gzip(&vec![b'a'; 10_000]);
        let err = for_each_line(content_reader(&big, 1000), 100_000, |_, _| Ok::<(), ()>(()))
            .expect_err("over the cap");
        assert!(err.to_string().contains("per-object cap"), "{err}");
    }
}
