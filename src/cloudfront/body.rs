//! A large object's body as a blocking [`Read`]: chunks pulled from `object_store`'s stream,
//! so memory stays at one chunk whatever the object's size. A transfer that breaks off is
//! resumed with a ranged request from the last byte received (a bounded number of times), and
//! a body shorter than the listed size is an error, never a silently short object.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::{GetOptions, GetRange, ObjectStore};

use crate::retry::Backoff;
use crate::source::LogObject;

/// Requests in all for one body (the first one included) before it counts as failed.
const BODY_ATTEMPTS: u32 = 3;

/// A streamed object body. Must be read on a blocking thread (it waits on the runtime).
pub struct StreamedBody {
    store: Arc<dyn ObjectStore>,
    object: LogObject,
    runtime: tokio::runtime::Handle,
    stream: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    chunk: Bytes,
    offset: u64,
    requests: u32,
    backoff: Backoff,
}

impl StreamedBody {
    /// The body of `object` in `store`, fetched through `runtime` as it is read.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        object: LogObject,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        StreamedBody {
            store,
            object,
            runtime,
            stream: None,
            chunk: Bytes::new(),
            offset: 0,
            requests: 0,
            backoff: Backoff {
                attempts: BODY_ATTEMPTS,
                initial: std::time::Duration::from_millis(200),
                max: std::time::Duration::from_secs(2),
            },
        }
    }

    /// Requests the rest of the object, from `offset` to the listed size.
    fn open(&mut self) -> io::Result<()> {
        if self.requests > 0 {
            if self.requests >= BODY_ATTEMPTS {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the transfer broke off at byte {} of the {} listed, {} times",
                        self.offset, self.object.size, self.requests
                    ),
                ));
            }
            std::thread::sleep(self.backoff.delay(self.requests + 1));
        }
        self.requests += 1;
        let options = GetOptions {
            range: Some(GetRange::Bounded(self.offset..self.object.size)),
            ..GetOptions::default()
        };
        let result = self
            .runtime
            .block_on(self.store.get_opts(&self.object.path, options))
            .map_err(|e| io::Error::other(fetch_failure(&e)))?;
        self.stream = Some(result.into_stream());
        Ok(())
    }
}

/// Why a GET failed, as reports name it (whole fetches and streamed bodies alike).
pub fn fetch_failure(e: &object_store::Error) -> String {
    match e {
        object_store::Error::NotFound { .. } => {
            "cannot fetch: not found (gone since it was listed)".to_string()
        }
        e => format!("cannot fetch: {e}"),
    }
}

impl Read for StreamedBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.chunk.is_empty() {
                let n = self.chunk.len().min(buf.len());
                buf[..n].copy_from_slice(&self.chunk.split_to(n));
                self.offset += n as u64;
                return Ok(n);
            }
            if self.offset >= self.object.size {
                return Ok(0);
            }
            if self.stream.is_none() {
                self.open()?;
            }
            let next = match self.stream.as_mut() {
                Some(stream) => self.runtime.block_on(stream.next()),
                None => None,
            };
            match next {
                Some(Ok(bytes)) => {
                    // Never past the listed size (an object is immutable once listed).
                    let room =
                        usize::try_from(self.object.size - self.offset).unwrap_or(usize::MAX);
                    self.chunk = bytes.slice(..bytes.len().min(room));
                }
                // Broken off or ended short: resume from `offset` with a new request.
                Some(Err(e)) => {
                    tracing::debug!(object = %self.object.display, offset = self.offset, error = %e, "transfer broke off; resuming");
                    self.stream = None;
                }
                None => self.stream = None,
            }
        }
    }
}
