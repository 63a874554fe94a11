//! "The limit" for `benches/throughput`: the least work any CloudFront log reader must do,
//! so `autorevoke score` can be measured against it. On every core, it reads each gzipped
//! object whole, inflates it with the libdeflate library autorevoke links (not the
//! `libdeflate-gunzip` command, which is about twice as slow), and finds every line end and
//! every TAB with memchr; nothing else. Prints one JSON line.
//!
//!     inflate_limit DATA_DIR [--threads N]
//!
//! Errors (an unreadable object, bad gzip) name the object and exit non-zero.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result, libdeflate_result_LIBDEFLATE_BAD_DATA,
    libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE, libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Largest inflated object accepted: a decompression bomb fails instead of exhausting memory.
const MAX_INFLATED: usize = 4 << 30;

/// Smallest output buffer, so an object with a tiny or bogus ISIZE trailer grows in few steps.
const MIN_OUTPUT: usize = 64 * 1024;

/// Runs the limit; an error is printed with the object it concerns, and the exit is non-zero.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inflate_limit: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the arguments, lists the objects, runs the workers and prints the totals.
fn run() -> Result<(), String> {
    let start = Instant::now();
    let (dir, threads) = parse_args()?;
    let mut objects = Vec::new();
    find_gz(&dir, &mut objects)?;
    objects.sort();
    if objects.is_empty() {
        return Err(format!("no *.gz objects under {}", dir.display()));
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Vec<Result<Counts, String>> = thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| worker(&objects, &next, &failed)))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("a worker panicked".to_string()))
            })
            .collect()
    });
    let mut total = Counts::default();
    for r in results {
        total.add(&r?);
    }
    println!(
        "{{\"wall_s\": {:.3}, \"threads\": {threads}, \"objects\": {}, \"inflated_bytes\": {}, \
         \"lines\": {}, \"tabs\": {}}}",
        start.elapsed().as_secs_f64(),
        total.objects,
        total.inflated_bytes,
        total.lines,
        total.tabs
    );
    Ok(())
}

/// The data directory and the number of workers (one per core unless `--threads` says).
/// Ignores the `--bench` flag `cargo bench` passes to a harness-less bench.
fn parse_args() -> Result<(PathBuf, usize), String> {
    let usage = "usage: inflate_limit DATA_DIR [--threads N]";
    let mut dir = None;
    let mut threads = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--bench" {
            continue;
        } else if arg == "--threads" {
            let n = args.next().ok_or(usage)?;
            let n = n
                .to_str()
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("--threads wants a positive number; {usage}"))?;
            threads = Some(n);
        } else if dir.is_none() {
            dir = Some(PathBuf::from(arg));
        } else {
            return Err(usage.to_string());
        }
    }
    let dir = dir.ok_or(usage)?;
    let threads = match threads {
        Some(n) => n,
        None => thread::available_parallelism()
            .map_err(|e| format!("counting cores: {e}"))?
            .get(),
    };
    Ok((dir, threads))
}

/// Adds every `*.gz` file under `dir`, recursively, to `out`.
fn find_gz(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("listing {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("listing {}: {e}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| format!("reading the type of {}: {e}", path.display()))?;
        if kind.is_dir() {
            find_gz(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "gz") {
            out.push(path);
        }
    }
    Ok(())
}

/// What one worker (or all) found: the work the limit does, counted so it is not optimised
/// away, and so a run can be checked against autorevoke's rows.
#[derive(Default)]
struct Counts {
    objects: u64,
    inflated_bytes: u64,
    lines: u64,
    tabs: u64,
}

impl Counts {
    /// Adds another worker's counts to these.
    fn add(&mut self, o: &Counts) {
        self.objects += o.objects;
        self.inflated_bytes += o.inflated_bytes;
        self.lines += o.lines;
        self.tabs += o.tabs;
    }
}

/// Takes objects from the shared queue (an index into `objects`) until it is empty or
/// another worker failed; reuses its input and output buffers across objects, as the reader
/// does.
fn worker(objects: &[PathBuf], next: &AtomicUsize, failed: &AtomicBool) -> Result<Counts, String> {
    let mut decompressor = Decompressor::new()?;
    let mut gz = Vec::new();
    let mut out = Vec::new();
    let mut counts = Counts::default();
    while !failed.load(Ordering::Relaxed) {
        let Some(path) = objects.get(next.fetch_add(1, Ordering::Relaxed)) else {
            break;
        };
        let found = read_into(path, &mut gz)
            .and_then(|()| decompressor.inflate_all(&gz, &mut out))
            .map_err(|e| format!("{}: {e}", path.display()));
        let n = match found {
            Ok(n) => n,
            Err(e) => {
                failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        let (lines, tabs) = lines_and_tabs(&out[..n]);
        counts.objects += 1;
        counts.inflated_bytes += n as u64;
        counts.lines += lines;
        counts.tabs += tabs;
    }
    Ok(counts)
}

/// Reads the file at `path` whole into `buf` (cleared first, its capacity kept).
fn read_into(path: &Path, buf: &mut Vec<u8>) -> Result<(), String> {
    use std::io::Read;
    buf.clear();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(buf))
        .map(|_| ())
        .map_err(|e| format!("reading: {e}"))
}

/// Finds every line end and, in each line, every TAB (the field boundaries a reader splits
/// at), visiting each position as a field splitter would; a last line without a newline
/// counts too. Returns (lines, TABs).
fn lines_and_tabs(text: &[u8]) -> (u64, u64) {
    let (mut lines, mut tabs) = (0u64, 0u64);
    let mut start = 0;
    let mut each_line = |line: &[u8]| {
        lines += 1;
        for _tab in memchr::memchr_iter(b'\t', line) {
            tabs += 1;
        }
    };
    for end in memchr::memchr_iter(b'\n', text) {
        each_line(&text[start..end]);
        start = end + 1;
    }
    if start < text.len() {
        each_line(&text[start..]);
    }
    (lines, tabs)
}

/// An owned libdeflate decompressor, one per worker.
struct Decompressor(NonNull<libdeflate_decompressor>);

impl Decompressor {
    /// Allocates a decompressor (libdeflate's state and tables).
    fn new() -> Result<Self, String> {
        // SAFETY: a plain allocation; NULL (out of memory) becomes an error.
        NonNull::new(unsafe { libdeflate_alloc_decompressor() })
            .map(Decompressor)
            .ok_or_else(|| "libdeflate_alloc_decompressor: out of memory".to_string())
    }

    /// Inflates every gzip member of `gz`, back to back (CloudFront and `cat a.gz b.gz`
    /// both write several), into `out[..n]` and returns `n`. `out` starts at the size the
    /// ISIZE trailer gives (exact for one member) and doubles when libdeflate reports
    /// insufficient space, the member then inflated again; it only grows, so a buffer reused
    /// across objects is not zeroed or faulted in again.
    fn inflate_all(&mut self, gz: &[u8], out: &mut Vec<u8>) -> Result<usize, String> {
        let isize_hint = gz
            .len()
            .checked_sub(4)
            .and_then(|at| gz.get(at..))
            .and_then(|t| <[u8; 4]>::try_from(t).ok())
            .map_or(0, |t| u32::from_le_bytes(t) as usize);
        let want = isize_hint.clamp(MIN_OUTPUT, MAX_INFLATED);
        if out.len() < want {
            out.resize(want, 0);
        }
        let (mut read, mut written) = (0usize, 0usize);
        while read < gz.len() {
            let (consumed, produced) = loop {
                match self.gzip(&gz[read..], &mut out[written..]) {
                    Ok(done) => break done,
                    Err(r) if r == libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => {
                        if out.len() >= MAX_INFLATED {
                            return Err(format!("inflates to more than {MAX_INFLATED} bytes"));
                        }
                        let grown = out.len().saturating_mul(2).min(MAX_INFLATED);
                        out.resize(grown, 0);
                    }
                    Err(r) => {
                        let what = if r == libdeflate_result_LIBDEFLATE_BAD_DATA {
                            "bad or cut gzip data".to_string()
                        } else {
                            format!("libdeflate result {r}")
                        };
                        return Err(format!("{what} in the member at byte {read}"));
                    }
                }
            };
            if consumed == 0 {
                return Err(format!("an empty gzip member at byte {read}"));
            }
            read += consumed;
            written += produced;
        }
        Ok(written)
    }

    /// Inflates the first gzip member of `input` into `out`: (input bytes consumed, output
    /// bytes written), or libdeflate's result code.
    fn gzip(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), libdeflate_result> {
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
        if result == libdeflate_result_LIBDEFLATE_SUCCESS {
            Ok((consumed, produced))
        } else {
            Err(result)
        }
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed once, here.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}
