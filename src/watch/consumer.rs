//! The consumer loop: reads every readable shard, adds the rows to the window, keeps the
//! checkpoints, and every `--every` scores the window and does what `run` does.
//!
//! A tick runs once the consumer has caught up with the stream (every shard read to its tip)
//! and `--every` has passed since the last one: while it reads a backlog (a restart, a replay)
//! it does not score half-read windows, unless catching up takes longer than the lookback.
//! SIGTERM (or Ctrl-C) stops it after the page in hand, with the checkpoints saved and the
//! lease released.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Notify;

use super::checkpoint::{Checkpoint, CheckpointStore, ShardCheckpoint, owner_id};
use super::metrics::{self, Metrics};
use super::shards::{ShardInfo, read_to_end, readable};
use super::stream::{KinesisStream, Start};
use super::window::{EventWindow, RecordReader, WindowScorer};
use super::{MAX_RECORDS_PER_CALL, WatchOptions};
use crate::aws::AwsAccess;
use crate::error::{Error, Result};
use crate::revocation::RevocationTable;
use crate::run::{RunReport, act};
use crate::score::{Profile, format_time};
use crate::session::SessionId;

/// Shards are listed again this often (a reshard also lists them when a shard ends).
const RELIST: Duration = Duration::from_secs(60);
/// Pause between polls of a shard at its tip (Kinesis allows 5 reads per shard a second).
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Checkpoints are saved at most this often while reading (and at every tick and the end).
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// With nothing new written, the rule group and the KeyValueStore are still refreshed this
/// often (expired AUTO items must go).
const REPUBLISH: Duration = Duration::from_secs(60);
/// The shortest lease; it is three ticks when those are longer.
const MIN_LEASE_S: i64 = 30;

/// What a `watch` did before it stopped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchSummary {
    /// Ticks run.
    pub ticks: u64,
    /// Records read.
    pub records: u64,
    /// Sessions written to the revocation table.
    pub written: BTreeSet<String>,
}

/// One shard being read.
#[derive(Debug)]
struct Reading {
    iterator: Option<String>,
    checkpoint: ShardCheckpoint,
    /// Pages read whose rows the window may still need: first sequence number, newest time.
    pages: VecDeque<(String, Option<i64>)>,
    /// The last record read by this process (a restart reads from the checkpoint's
    /// `resume_at`, before its `last_read`).
    position: Option<String>,
    /// Read at least once since it became readable.
    polled: bool,
    /// At the shard's tip after the last page.
    at_tip: bool,
    behind_ms: i64,
}

impl Reading {
    fn from(checkpoint: ShardCheckpoint) -> Self {
        Reading {
            iterator: None,
            checkpoint,
            pages: VecDeque::new(),
            position: None,
            polled: false,
            at_tip: false,
            behind_ms: 0,
        }
    }

    /// Where an expired iterator resumes: after the last record read, else where reading
    /// started.
    fn resume(&self) -> Start {
        match &self.position {
            Some(last) => Start::After(last.clone()),
            None => self.checkpoint.start(),
        }
    }
}

/// Consumes `options.stream` until SIGTERM (or, with `exit_when_caught_up`, the first tick at
/// the stream's tip).
pub async fn watch(options: WatchOptions, aws: Arc<AwsAccess>) -> Result<WatchSummary> {
    if options.params.profile != Profile::Upstream {
        return Err(Error::Setting {
            setting: "rules".into(),
            reason: "watch scores the upstream profile (its window keeps the columns that \
                     profile reads)"
                .into(),
        });
    }
    let stream = KinesisStream::new(aws.kinesis_client().await, &options.stream);
    let table = RevocationTable::new(aws.dynamodb_client().await, &options.run.table)
        .for_rule(options.run.session_from);
    if !options.run.dry_run {
        table.check().await?;
    }
    let store = CheckpointStore::open(&options.checkpoint, &options.stream, &aws).await?;
    let owner = owner_id();
    let lease_s = MIN_LEASE_S.max(3 * options.every.as_secs() as i64);
    store
        .acquire(&owner, Utc::now().timestamp(), lease_s)
        .await?;
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = options.metrics {
        let bound = metrics::serve(addr, Arc::clone(&metrics)).await?;
        if options.tick_lines {
            eprintln!("autorevoke watch: metrics on http://{bound}/metrics");
        }
    }
    let stop = Arc::new((AtomicBool::new(false), Notify::new()));
    spawn_signal_handler(Arc::clone(&stop));
    let mut consumer = Consumer {
        reader: RecordReader::new(options.realtime_fields, options.run.session_from),
        window: EventWindow::new(
            options.lookback_s,
            options.allowance_s,
            options.memory_limit,
        ),
        scorer: WindowScorer::new(options.threads, options.memory_limit)?,
        stream,
        store,
        table,
        aws,
        metrics,
        shards: Vec::new(),
        reading: HashMap::new(),
        revoked: HashSet::new(),
        summary: WatchSummary::default(),
        records_since_tick: 0,
        options,
        owner,
        lease_s,
        saved: None,
    };
    let result = consumer.run(&stop).await;
    // Whatever ended the loop, keep where it was and let another watch start.
    let saved = consumer.save().await;
    let released = consumer.store.release(&consumer.owner).await;
    result?;
    saved?;
    released?;
    Ok(consumer.summary)
}

fn spawn_signal_handler(stop: Arc<(AtomicBool, Notify)>) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        stop.0.store(true, Ordering::SeqCst);
        stop.1.notify_one();
    });
}

struct Consumer {
    options: WatchOptions,
    reader: RecordReader,
    window: EventWindow,
    scorer: WindowScorer,
    stream: KinesisStream,
    store: CheckpointStore,
    table: RevocationTable,
    aws: Arc<AwsAccess>,
    metrics: Arc<Metrics>,
    shards: Vec<ShardInfo>,
    reading: HashMap<String, Reading>,
    /// Sessions revoked by this process and still in the window: not written again.
    revoked: HashSet<SessionId>,
    summary: WatchSummary,
    records_since_tick: u64,
    owner: String,
    lease_s: i64,
    /// The checkpoints last saved.
    saved: Option<Checkpoint>,
}

impl Consumer {
    async fn run(&mut self, stop: &(AtomicBool, Notify)) -> Result<()> {
        if let Some(saved) = self.store.load().await? {
            for (id, mut checkpoint) in saved.shards {
                // A drained shard whose rows the window still needs is read again to its end.
                if checkpoint.drained && checkpoint.resume_at.is_some() {
                    checkpoint.drained = false;
                }
                self.reading.insert(id, Reading::from(checkpoint));
            }
        }
        self.relist().await?;
        let mut listed = Instant::now();
        let mut saved = Instant::now();
        let mut leased = Instant::now();
        let renew = Duration::from_secs((self.lease_s / 3).max(1) as u64);
        let mut next_tick = Instant::now() + self.options.every;
        let mut behind_since: Option<Instant> = None;
        let mut last_publish: Option<Instant> = None;
        while !stop.0.load(Ordering::SeqCst) {
            let ended = self.poll().await?;
            if ended || listed.elapsed() >= RELIST {
                self.relist().await?;
                listed = Instant::now();
            }
            let caught_up = self.caught_up();
            if saved.elapsed() >= SAVE_EVERY {
                self.save().await?;
                saved = Instant::now();
            }
            if leased.elapsed() >= renew {
                self.store
                    .acquire(&self.owner, Utc::now().timestamp(), self.lease_s)
                    .await?;
                leased = Instant::now();
            }
            if Instant::now() >= next_tick {
                let behind_too_long = behind_since.get_or_insert_with(Instant::now).elapsed()
                    >= Duration::from_secs(self.options.lookback_s.max(0) as u64);
                if caught_up || behind_too_long {
                    let publish = last_publish.is_none_or(|t| t.elapsed() >= REPUBLISH);
                    match self.tick(publish).await {
                        Ok(true) => last_publish = Some(Instant::now()),
                        Ok(false) => {}
                        // A failed tick (an AWS outage) is counted and the next one tries
                        // again; reading goes on.
                        Err(e) => {
                            self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                            self.line(format!("tick failed: {e}"));
                        }
                    }
                    self.save().await?;
                    saved = Instant::now();
                    next_tick = Instant::now() + self.options.every;
                    behind_since = None;
                    if caught_up && self.options.exit_when_caught_up {
                        return Ok(());
                    }
                }
            }
            if caught_up {
                let pause = IDLE_POLL.min(next_tick.saturating_duration_since(Instant::now()));
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.1.notified() => {}
                }
            }
        }
        Ok(())
    }

    /// Lists the shards and starts reading those that became readable.
    async fn relist(&mut self) -> Result<()> {
        self.shards = self.stream.list_shards().await?;
        for shard in &self.shards {
            self.reading
                .entry(shard.id.clone())
                .or_insert_with(|| Reading::from(ShardCheckpoint::default()));
        }
        // A shard no longer listed is past the stream's retention: nothing is left to read,
        // and its checkpoint goes once the window needs none of its records.
        let listed: HashSet<&str> = self.shards.iter().map(|s| s.id.as_str()).collect();
        self.reading
            .retain(|id, r| listed.contains(id.as_str()) || !r.pages.is_empty());
        Ok(())
    }

    fn drained(&self) -> BTreeSet<String> {
        self.reading
            .iter()
            .filter(|(_, r)| r.checkpoint.drained)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn readable_ids(&self) -> Vec<String> {
        readable(&self.shards, &self.drained())
            .into_iter()
            .map(|s| s.id.clone())
            .collect()
    }

    /// Every readable shard read to its tip, at least once since it became readable.
    fn caught_up(&self) -> bool {
        self.readable_ids()
            .iter()
            .all(|id| self.reading.get(id).is_some_and(|r| r.polled && r.at_tip))
    }

    /// One page of every readable shard (fetched concurrently), added to the window. True
    /// when a shard ended (a reshard: its children may be readable now).
    async fn poll(&mut self) -> Result<bool> {
        let ids = self.readable_ids();
        let limit = self.options.records_per_call.clamp(1, MAX_RECORDS_PER_CALL);
        let mut fetches = Vec::new();
        for id in &ids {
            let Some(reading) = self.reading.get_mut(id) else {
                continue;
            };
            let iterator = match reading.iterator.take() {
                Some(it) => it,
                None => {
                    self.stream
                        .iterator(id, &reading.checkpoint.start())
                        .await?
                }
            };
            let resume = reading.resume();
            let (stream, reader) = (&self.stream, self.reader);
            // Each shard's page is parsed on a blocking thread as it comes: the shards' pages
            // are parsed in parallel.
            fetches.push(async move {
                let parsed = match stream.records(id, iterator, &resume, limit).await {
                    Ok(page) => tokio::task::spawn_blocking(move || {
                        let parsed = reader.parse(&page.records);
                        parsed.map(|parsed| (page, parsed))
                    })
                    .await
                    .unwrap_or_else(|e| Err(Error::Other(format!("parsing a page: {e}")))),
                    Err(e) => Err(e),
                };
                (id.clone(), parsed)
            });
        }
        let pages = futures::future::join_all(fetches).await;
        let mut ended = false;
        for (id, result) in pages {
            let (page, parsed) = match result {
                Ok(both) => both,
                Err(e) => {
                    self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            };
            let count = page.records.len() as u64;
            self.summary.records += count;
            self.records_since_tick += count;
            self.metrics.records.fetch_add(count, Ordering::Relaxed);
            self.metrics
                .malformed
                .fetch_add(parsed.malformed, Ordering::Relaxed);
            let newest = parsed.newest;
            self.window.add(parsed)?;
            let info = self.shards.iter().find(|s| s.id == id).cloned();
            let Some(reading) = self.reading.get_mut(&id) else {
                continue;
            };
            if let (Some(first), Some(last)) = (page.records.first(), page.records.last()) {
                reading.pages.push_back((first.sequence.clone(), newest));
                reading.checkpoint.last_read = Some(last.sequence.clone());
                reading.position = Some(last.sequence.clone());
            }
            reading.polled = true;
            reading.behind_ms = page.millis_behind;
            reading.at_tip = page.millis_behind == 0 && count < limit as u64;
            let closed_and_read = info
                .as_ref()
                .is_some_and(|s| read_to_end(s, reading.position.as_deref()));
            if page.next.is_none() || closed_and_read {
                reading.checkpoint.drained = true;
                reading.iterator = None;
                ended = true;
                tracing::info!(shard = %id, "shard read to its end");
            } else {
                reading.iterator = page.next;
            }
        }
        self.trim_pages();
        let lag = ids
            .iter()
            .filter_map(|id| self.reading.get(id))
            .map(|r| r.behind_ms)
            .max()
            .unwrap_or(0);
        self.metrics
            .lag_ms
            .store(u64::try_from(lag).unwrap_or(0), Ordering::Relaxed);
        self.metrics
            .window_bytes
            .store(self.window.bytes() as u64, Ordering::Relaxed);
        Ok(ended)
    }

    /// Forgets the pages whose rows are all older than the window: a restart need not read
    /// them again.
    fn trim_pages(&mut self) {
        let Some(from) = self.window.keep_from() else {
            return;
        };
        for reading in self.reading.values_mut() {
            while reading
                .pages
                .front()
                .is_some_and(|(_, newest)| newest.is_none_or(|t| t < from))
            {
                reading.pages.pop_front();
            }
            reading.checkpoint.resume_at = reading.pages.front().map(|(seq, _)| seq.clone());
        }
    }

    /// The checkpoints now.
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            stream: self.options.stream.clone(),
            shards: self
                .reading
                .iter()
                .map(|(id, r)| (id.clone(), r.checkpoint.clone()))
                .collect(),
        }
    }

    /// Saves the checkpoints, when they changed since the last save.
    async fn save(&mut self) -> Result<()> {
        let checkpoint = self.checkpoint();
        if self.saved.as_ref() == Some(&checkpoint) {
            return Ok(());
        }
        self.store.save(&checkpoint).await?;
        self.saved = Some(checkpoint);
        Ok(())
    }

    /// Scores the window and writes as `run` does; compiles and publishes when something was
    /// written or `publish` asks. True when it compiled or published.
    async fn tick(&mut self, publish: bool) -> Result<bool> {
        let started = Instant::now();
        self.window.compact()?;
        self.metrics
            .window_bytes
            .store(self.window.bytes() as u64, Ordering::Relaxed);
        let Some(report) = self
            .scorer
            .score(&self.window, &self.options.params, self.stream.display())
            .await?
        else {
            self.line("no record read yet".to_string());
            return Ok(false);
        };
        let in_window: HashSet<&str> = report
            .sessions
            .iter()
            .chain(&report.unscored)
            .map(|s| s.session_id.as_str())
            .collect();
        self.revoked.retain(|id| in_window.contains(id.as_str()));
        let fresh = report
            .flagged_sessions()
            .any(|s| !self.revoked.contains(&s.session_id));
        let mut options = self.options.run.clone();
        let publishing = publish || fresh;
        if !publishing {
            options.compile = None;
            options.kvs = None;
        }
        let done = act(&self.aws, &self.table, report, &options, &self.revoked).await?;
        self.after_tick(&done, started);
        Ok(publishing && (options.compile.is_some() || options.kvs.is_some()))
    }

    fn after_tick(&mut self, done: &RunReport, started: Instant) {
        let written: Vec<SessionId> = done
            .write
            .as_ref()
            .map(|w| {
                w.written
                    .iter()
                    .chain(&w.kept_manual)
                    .chain(&w.allowed)
                    .filter_map(|id| SessionId::new(id.as_str()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(w) = &done.write {
            self.summary.written.extend(w.written.iter().cloned());
            self.metrics
                .revocations
                .fetch_add(w.written.len() as u64, Ordering::Relaxed);
        }
        self.revoked.extend(written);
        self.summary.ticks += 1;
        let report = &done.score;
        let m = &self.metrics;
        m.ticks.fetch_add(1, Ordering::Relaxed);
        m.tick_ms
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        m.sessions
            .store(report.sessions_in_window, Ordering::Relaxed);
        m.flagged.store(report.flagged, Ordering::Relaxed);
        let window = report.window.as_ref().map_or_else(String::new, |w| {
            format!("{}..{}", format_time(&w.from), format_time(&w.to))
        });
        let lag = m.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let mut line = format!(
            "window {window}: {} records in, lag {lag:.1} s, {} rows and {} sessions in window, \
             {} flagged, {} written, tick {:.2} s",
            self.records_since_tick,
            report.stats.rows_in_scope,
            report.sessions_in_window,
            report.flagged,
            done.write.as_ref().map_or(0, |w| w.written.len()),
            started.elapsed().as_secs_f64()
        );
        if let Some(reason) = &done.breaker {
            line.push_str(&format!("; circuit breaker: {reason}"));
        }
        if let Some(reason) = &report.not_scored_reason {
            line.push_str(&format!("; not scored: {reason}"));
        }
        self.records_since_tick = 0;
        self.line(line);
    }

    fn line(&self, text: String) {
        if self.options.tick_lines {
            eprintln!("autorevoke watch: {text}");
        }
    }
}
