//! `--metrics 127.0.0.1:PORT`: what `watch` has done, as Prometheus text metrics over plain
//! HTTP (any path answers).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::error::{Error, Result};

/// The counters and gauges of one `watch`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Records read from the stream.
    pub records: AtomicU64,
    /// Lines that were not records of the configured fields.
    pub malformed: AtomicU64,
    /// Milliseconds behind the stream's tip, after the last poll.
    pub lag_ms: AtomicU64,
    /// Ticks run.
    pub ticks: AtomicU64,
    /// The last tick's duration, milliseconds.
    pub tick_ms: AtomicU64,
    /// Sessions in the window at the last tick.
    pub sessions: AtomicU64,
    /// Sessions flagged at the last tick.
    pub flagged: AtomicU64,
    /// Revocation items written.
    pub revocations: AtomicU64,
    /// Failed ticks and calls retried to no avail.
    pub errors: AtomicU64,
    /// Bytes of rows the window holds.
    pub window_bytes: AtomicU64,
}

impl Metrics {
    /// The metrics in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let lines: [(&str, &str, &str, String); 10] = [
            (
                "autorevoke_watch_records_total",
                "counter",
                "Records read from the stream.",
                get(&self.records).to_string(),
            ),
            (
                "autorevoke_watch_malformed_total",
                "counter",
                "Lines that were not records of the configured fields.",
                get(&self.malformed).to_string(),
            ),
            (
                "autorevoke_watch_lag_seconds",
                "gauge",
                "How far behind the stream's tip the last poll ended.",
                format!("{:.3}", get(&self.lag_ms) as f64 / 1000.0),
            ),
            (
                "autorevoke_watch_ticks_total",
                "counter",
                "Ticks run (the window scored).",
                get(&self.ticks).to_string(),
            ),
            (
                "autorevoke_watch_tick_duration_seconds",
                "gauge",
                "How long the last tick took.",
                format!("{:.3}", get(&self.tick_ms) as f64 / 1000.0),
            ),
            (
                "autorevoke_watch_sessions",
                "gauge",
                "Sessions in the window at the last tick.",
                get(&self.sessions).to_string(),
            ),
            (
                "autorevoke_watch_flagged",
                "gauge",
                "Sessions flagged at the last tick.",
                get(&self.flagged).to_string(),
            ),
            (
                "autorevoke_watch_revocations_total",
                "counter",
                "Revocation items written.",
                get(&self.revocations).to_string(),
            ),
            (
                "autorevoke_watch_errors_total",
                "counter",
                "Failed ticks.",
                get(&self.errors).to_string(),
            ),
            (
                "autorevoke_watch_window_bytes",
                "gauge",
                "Bytes of rows the window holds.",
                get(&self.window_bytes).to_string(),
            ),
        ];
        let mut text = String::new();
        for (name, kind, help, value) in lines {
            text.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        text
    }
}

/// Serves `metrics` on `addr` until the process ends; returns the address bound (port 0
/// picks a free one).
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(Error::io(format!("--metrics {addr}: binding")))?;
    let bound = listener
        .local_addr()
        .map_err(Error::io(format!("--metrics {addr}")))?;
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                // The request itself does not matter: read what came, answer the metrics.
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let body = metrics.render();
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_as_prometheus_text() {
        let m = Metrics::default();
        m.records.store(12, Ordering::Relaxed);
        m.lag_ms.store(1500, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains(
            "# TYPE autorevoke_watch_records_total counter\nautorevoke_watch_records_total 12\n"
        ));
        assert!(text.contains("\nautorevoke_watch_lag_seconds 1.500\n"));
        assert_eq!(text.lines().count(), 30);
    }
}
