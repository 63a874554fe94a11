//! What the binary prints on stderr while it works: a progress bar per scan of the logs
//! (objects and bytes done, rate, ETA) when stderr is a terminal, and `tracing` logs for
//! `-v`/`-vv`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use autorevoke::ScanObserver;
use autorevoke::cloudfront::ScanStats;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How chatty stderr is, from `-q` / `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verbosity {
    /// `-q`: nothing but a fatal error.
    pub quiet: bool,
    /// Number of `-v`.
    pub verbose: u8,
}

impl Verbosity {
    /// Installs the log subscriber `-v` asks for: `-v` what the run does, `-vv` every object
    /// and request, `-vvv` also other crates' details. Logs go to stderr.
    pub fn init_logs(self) {
        use tracing::level_filters::LevelFilter;
        use tracing_subscriber::filter::Targets;
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let (ours, others) = match self.verbose {
            0 => return,
            1 => (LevelFilter::INFO, LevelFilter::WARN),
            2 => (LevelFilter::DEBUG, LevelFilter::WARN),
            _ => (LevelFilter::TRACE, LevelFilter::INFO),
        };
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal());
        let filter = Targets::new()
            .with_target("autorevoke", ours)
            .with_default(others);
        // Fails only if a subscriber is already set, which main never does twice.
        let _ = tracing_subscriber::registry()
            .with(layer)
            .with(filter)
            .try_init();
    }

    /// The progress bar, when stderr is a terminal and neither `-q` nor `-v` was given (with
    /// `-v` the logs tell the progress).
    pub fn progress(self) -> Option<Arc<dyn ScanObserver>> {
        let wanted = !self.quiet
            && self.verbose == 0
            && std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        wanted.then(|| Arc::new(TerminalProgress::default()) as Arc<dyn ScanObserver>)
    }
}

/// A progress bar on stderr, redrawn from a scan's live counters ten times a second.
#[derive(Debug, Default)]
pub struct TerminalProgress {
    running: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    stop: Arc<AtomicBool>,
    drawer: JoinHandle<()>,
}

const TEMPLATE: &str = "{spinner} {prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} \
                        {msg} {binary_bytes_per_sec} ETA {eta}";

impl ScanObserver for TerminalProgress {
    fn scan_started(&self, what: &str, stats: Arc<ScanStats>) {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_string());
        bar.set_message("listing");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let drawer = std::thread::spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                let p = stats.progress();
                if p.listed {
                    bar.set_length(p.bytes_total);
                    bar.set_position(p.bytes_done);
                    bar.set_message(format!("{}/{} objects", p.objects_done, p.objects_total));
                } else {
                    bar.tick();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        if let Ok(mut running) = self.running.lock() {
            *running = Some(Running { stop, drawer });
        }
    }

    fn scan_finished(&self) {
        let running = self.running.lock().ok().and_then(|mut r| r.take());
        if let Some(Running { stop, drawer }) = running {
            stop.store(true, Ordering::Release);
            let _ = drawer.join();
        }
    }
}
