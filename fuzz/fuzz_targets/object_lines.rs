//! Arbitrary object bytes (gzip when they start like it, text otherwise) through the decoder and
//! the line splitter: no panic, no line longer than the cap, line numbers strictly increasing.
#![no_main]

#[path = "../../src/cloudfront/decode.rs"]
#[allow(dead_code)]
mod decode;

use decode::{Line, content_reader, for_each_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    const CAP: usize = 64;
    let mut last = 0u64;
    let _ = for_each_line(content_reader(bytes, 1 << 20), CAP, |n, line| {
        assert!(n > last);
        last = n;
        if let Line::Text(t) = line {
            assert!(t.len() <= CAP);
        }
        Ok::<(), ()>(())
    });
});
