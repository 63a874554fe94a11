//! Whole-object gzip inflation with libdeflate: about twice as fast as a streaming inflater
//! and with a hardware CRC, for the common case of an object that is one gzip member of known
//! size. Everything else (several members, a cut or corrupt stream, an object too large to
//! inflate at once) returns `None`, and the caller streams it instead, which keeps the rows
//! before a failure and reports it.

use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Inflates `gz` into `out[..n]` and returns `n` when it is exactly one gzip member whose
/// inflated size (its ISIZE trailer) is at most `max_inflated`; `None` otherwise. `out` only
/// grows, so a buffer reused across objects is not zeroed or faulted in again.
pub fn inflate_single_member(gz: &[u8], max_inflated: usize, out: &mut Vec<u8>) -> Option<usize> {
    let trailer: [u8; 4] = gz.get(gz.len().checked_sub(4)?..)?.try_into().ok()?;
    let size = usize::try_from(u32::from_le_bytes(trailer)).ok()?;
    if size > max_inflated {
        return None;
    }
    if out.len() < size {
        out.resize(size, 0);
    }
    let (consumed, produced) = Decompressor::new()?.gzip(gz, &mut out[..size])?;
    // A second member follows the first, or the trailer was not this member's: stream it.
    (consumed == gz.len() && produced == size).then_some(size)
}

/// An owned libdeflate decompressor.
struct Decompressor(NonNull<libdeflate_decompressor>);

impl Decompressor {
    fn new() -> Option<Self> {
        // SAFETY: a plain allocation; NULL (out of memory) becomes None.
        NonNull::new(unsafe { libdeflate_alloc_decompressor() }).map(Decompressor)
    }

    /// Inflates the first gzip member of `input` into `out`: (input bytes consumed, output
    /// bytes written), or None when the data is bad or does not fit.
    fn gzip(&mut self, input: &[u8], out: &mut [u8]) -> Option<(usize, usize)> {
        let (mut consumed, mut produced) = (0usize, 0usize);
        // SAFETY: the decompressor is live and exclusively borrowed; the pointers and lengths
        // come from valid slices; libdeflate writes only within `out` and the two results.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut consumed,
                &mut produced,
            )
        };
        (result == libdeflate_result_LIBDEFLATE_SUCCESS).then_some((consumed, produced))
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed once, here.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gz(text: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(text).expect("in memory");
        e.finish().expect("in memory")
    }

    fn inflate(gz: &[u8], max: usize) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        inflate_single_member(gz, max, &mut out).map(|n| out[..n].to_vec())
    }

    #[test]
    fn one_member_inflates_whole_into_a_reused_buffer() {
        let text = b"line one\nline two\n".repeat(1000);
        assert_eq!(inflate(&gz(&text), 1 << 20), Some(text.clone()));
        assert_eq!(inflate(&gz(b""), 10), Some(Vec::new()));
        // A buffer left larger by an earlier object: only the first n bytes are this one's.
        let mut out = vec![b'x'; 100_000];
        assert_eq!(
            inflate_single_member(&gz(b"short\n"), 1 << 20, &mut out),
            Some(6)
        );
        assert_eq!(&out[..6], b"short\n");
        assert_eq!(out.len(), 100_000);
    }

    #[test]
    fn everything_else_is_left_to_the_stream() {
        let one = gz(b"alpha\n");
        // Two members, even with identical trailers.
        let two = [one.clone(), one.clone()].concat();
        assert_eq!(inflate(&two, 1 << 20), None);
        // Cut, corrupt, too large for the cap, too short to have a trailer.
        assert_eq!(inflate(&one[..one.len() - 3], 1 << 20), None);
        let mut bad = one.clone();
        bad[12] ^= 0xff;
        assert_eq!(inflate(&bad, 1 << 20), None);
        assert_eq!(inflate(&one, 3), None);
        assert_eq!(inflate(b"\x1f\x8b", 10), None);
        // A wrong ISIZE trailer (larger than the data) does not pass either.
        let mut wrong = one.clone();
        let n = wrong.len();
        wrong[n - 4] = wrong[n - 4].wrapping_add(1);
        assert_eq!(inflate(&wrong, 1 << 20), None);
    }
}
