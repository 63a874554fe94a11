//! Arbitrary object bytes (gzip when they start like it, text otherwise) through the decoder and
//! the line splitter: no panic, no line longer than the cap, line numbers strictly increasing,
//! and the fast paths (libdeflate for a whole single-member object, lines walked in place)
//! giving exactly the lines of the streaming decoder.
#![no_main]

#[path = "../../src/cloudfront/decode.rs"]
#[allow(dead_code)]
mod decode;
#[path = "../../src/cloudfront/inflate.rs"]
mod inflate;

use decode::{Line, content_reader, for_each_line, for_each_object_line};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 64;

fn collect(
    walk: impl FnOnce(
        &mut dyn FnMut(u64, Line<'_>) -> Result<(), ()>,
    ) -> std::io::Result<Result<(), ()>>,
) -> Option<Vec<(u64, Option<Vec<u8>>)>> {
    let mut lines = Vec::new();
    let mut last = 0u64;
    let done = walk(&mut |n, line| {
        assert!(n > last);
        last = n;
        lines.push((
            n,
            match line {
                Line::Text(t) => {
                    assert!(t.len() <= CAP);
                    Some(t.to_vec())
                }
                Line::TooLong => None,
            },
        ));
        Ok(())
    });
    done.ok().map(|_| lines)
}

fuzz_target!(|bytes: &[u8]| {
    let streamed = collect(|on| for_each_line(content_reader(bytes, 1 << 20), CAP, on));
    let mut scratch = Vec::new();
    let fast = collect(|on| for_each_object_line(bytes, 1 << 20, CAP, &mut scratch, on));
    if let Some(streamed) = streamed {
        assert_eq!(Some(streamed), fast);
    }
});
