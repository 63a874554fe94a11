//! `synth`: realistic CloudFront standard logs with planted shared sessions.
//!
//! Writes gzipped 33-field logs named like CloudFront's (`<dist>.YYYY-MM-DD-HH.<id>.gz`,
//! several files per hour, rows out of order, some rows delivered late into the next hour's
//! file) and a truth file (CSV) saying which sessions are shared. The truth goes beside the
//! log folder, not in it, because every file in a log folder is read as a log. The same options and seed give
//! the same bytes. The traffic model is in [`model`] and documented in docs/commands.md (`synth`).

pub mod model;
mod writer;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
pub use model::Confounders;
use model::{Request, Session};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Output folder for the logs (created if missing).
    pub out: PathBuf,
    /// Where the truth CSV goes (`session_id,shared,viewers`).
    pub truth: PathBuf,
    /// Legitimate sessions (one viewer each).
    pub viewers: usize,
    /// Shared sessions (`confounders.group_sizes` viewers each, 2 to 4 by default).
    pub shared: usize,
    /// Minutes of traffic, ending at `end`.
    pub minutes: u32,
    /// The last instant of traffic.
    pub end: DateTime<Utc>,
    /// Random seed.
    pub seed: u64,
    /// Files per hour (one per edge location).
    pub files_per_hour: usize,
    /// Share of rows delivered late, into the next hour's file.
    pub late_fraction: f64,
    /// Ordinary viewers that look shared to `upstream` scoring.
    pub confounders: Confounders,
    /// The tokens: `/<id>.<jwt>/` path prefixes, or Common Access Tokens (`cti` = the id) in
    /// the first path segment or the `CAT` query parameter.
    pub session_from: crate::session::SessionRule,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    /// Log files written.
    pub files: usize,
    /// Rows written.
    pub rows: usize,
    /// Uncompressed bytes.
    pub bytes: u64,
    /// Sessions written to the truth file.
    pub sessions: usize,
}

/// The CloudFront distribution id used in file names.
pub const DISTRIBUTION_ID: &str = "E2SYNTH0EXAMPLE";

/// The default truth file for a log folder: `<folder>.truth.csv` beside it.
pub fn default_truth_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "synth".into());
    name.push(".truth.csv");
    out.with_file_name(name)
}

/// Generates the logs and the truth file.
/// How far `generate` is, for a long generation to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthProgress {
    /// The traffic is simulated; `files` log files are being written.
    Simulated {
        /// Requests simulated.
        requests: usize,
    },
    /// `files` of `of` log files are written.
    Wrote {
        /// Files written so far.
        files: usize,
        /// Files in all.
        of: usize,
    },
}

/// [`generate_with_progress`] without progress.
pub fn generate(cfg: &SynthConfig) -> Result<SynthSummary> {
    generate_with_progress(cfg, &mut |_| {})
}

/// Writes the logs and truth of `cfg`, telling `progress` how far it is.
pub fn generate_with_progress(
    cfg: &SynthConfig,
    progress: &mut dyn FnMut(SynthProgress),
) -> Result<SynthSummary> {
    if cfg.minutes == 0 {
        return Err(Error::Setting {
            setting: "minutes".into(),
            reason: "must be at least 1".into(),
        });
    }
    if !(0.0..=1.0).contains(&cfg.late_fraction) {
        return Err(Error::Setting {
            setting: "late_fraction".into(),
            reason: "must be between 0 and 1".into(),
        });
    }
    let mix = &cfg.confounders;
    for (setting, share) in [
        ("ios_native", mix.ios_native),
        ("network_switch", mix.network_switch),
        ("ipv6_rotate", mix.ipv6_rotate),
        ("dual_stack", mix.dual_stack),
        ("multipath", mix.multipath),
        ("seek_back", mix.seek_back),
        ("refetch", mix.refetch),
        ("byte_ranges", mix.byte_ranges),
        ("ll_hls", mix.ll_hls),
        ("abr_flap", mix.abr_flap),
        ("app_player", mix.app_player),
        ("live", mix.live),
        ("late_join", mix.late_join),
        ("vpn_hop", mix.vpn_hop),
    ] {
        if !(0.0..=1.0).contains(&share) {
            return Err(Error::Setting {
                setting: setting.into(),
                reason: format!("{share} is not a share between 0 and 1"),
            });
        }
    }
    if mix.segment_durations.is_empty()
        || mix.segment_durations.iter().any(|d| !(2..=60).contains(d))
    {
        return Err(Error::Setting {
            setting: "segment_durations".into(),
            reason: "give one or more durations between 2 and 60 seconds".into(),
        });
    }
    let (least, most) = mix.group_sizes;
    if least < 2 || most < least || most > 64 {
        return Err(Error::Setting {
            setting: "group_sizes".into(),
            reason: format!("{least}-{most}: give MIN-MAX with 2 <= MIN <= MAX <= 64"),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let end = cfg.end.timestamp();
    let begin = end - i64::from(cfg.minutes) * 60;
    let mut sessions: Vec<(Session, String)> = Vec::with_capacity(cfg.viewers + cfg.shared);
    let mut requests: Vec<Request> = Vec::new();

    // Legitimate viewers: arrive at any time (some before the traffic starts), watch 1-40 min.
    for _ in 0..cfg.viewers {
        let session = model::new_session(&mut rng, 1, end + 6 * 3600, cfg.session_from);
        let asset = model::random_asset(&mut rng, mix);
        let mut viewer = model::new_viewer(&mut rng, asset.name);
        if mix.countries {
            viewer.country = model::country_of(&session.id, 0);
        }
        let start = rng.random_range(begin - 600..end - 20);
        let stop = (start + rng.random_range(60..2400)).min(end);
        model::confound(&mut rng, &mut viewer, mix, start, stop);
        let mut rows = Vec::new();
        model::playback(&mut rng, &session, &viewer, asset, start, stop, &mut rows);
        let traits = traits(mix, asset, [&viewer]);
        keep(
            (session, traits),
            rows,
            begin,
            end,
            &mut sessions,
            &mut requests,
        );
    }
    // Shared sessions: 2-4 viewers of one token, arriving within a few minutes of each other
    // and watching until the end.
    for _ in 0..cfg.shared {
        let n = rng.random_range(least..=most);
        let session = model::new_session(&mut rng, n, end + 6 * 3600, cfg.session_from);
        let asset = model::random_asset(&mut rng, mix);
        let first = rng.random_range(begin - 300..(end - 480).max(begin - 299));
        let mut rows = Vec::new();
        let mut viewers = Vec::with_capacity(n);
        for v in 0..n {
            let mut viewer = if v == 0 {
                model::new_viewer(&mut rng, asset.name)
            } else {
                model::new_pirate_viewer(&mut rng, asset.name)
            };
            if mix.countries {
                viewer.country = model::country_of(&session.id, v);
            }
            let mut start = first + if v == 0 { 0 } else { rng.random_range(0..180) };
            if v > 0 && mix.late_join > 0.0 && rng.random_bool(mix.late_join.min(1.0)) {
                // At least two minutes before the end, so that the joiner is in the logs.
                start = (first + rng.random_range(180..=540)).min(end - 120);
                viewer.traits.push("late-join");
            }
            model::confound(&mut rng, &mut viewer, mix, start, end);
            model::playback(&mut rng, &session, &viewer, asset, start, end, &mut rows);
            viewers.push(viewer);
        }
        let traits = traits(mix, asset, &viewers);
        keep(
            (session, traits),
            rows,
            begin,
            end,
            &mut sessions,
            &mut requests,
        );
    }

    std::fs::create_dir_all(&cfg.out)
        .map_err(Error::io(format!("creating {}", cfg.out.display())))?;
    progress(SynthProgress::Simulated {
        requests: requests.len(),
    });
    let written = writer::write_logs(
        &mut rng,
        &cfg.out,
        requests,
        cfg.files_per_hour,
        cfg.late_fraction,
        mix.countries,
        progress,
    )?;
    write_truth(&cfg.truth, &sessions)?;
    Ok(SynthSummary {
        files: written.files,
        rows: written.rows,
        bytes: written.bytes,
        sessions: sessions.len(),
    })
}

/// Keeps a session's requests inside the traffic period, and the session itself (for the
/// truth file) only when some of them are: the truth lists the sessions the logs hold.
fn keep(
    session: (Session, String),
    mut rows: Vec<Request>,
    begin: i64,
    end: i64,
    sessions: &mut Vec<(Session, String)>,
    requests: &mut Vec<Request>,
) {
    rows.retain(|r| r.ts >= begin && r.ts <= end);
    if !rows.is_empty() {
        sessions.push(session);
        requests.extend(rows);
    }
}

/// A session's confounders for the truth file: its viewers' traits and, when assets differ
/// in segment duration, its own (`segment-2s`), and `live` for a live stream, joined by `;`
/// (empty for none).
fn traits<'a>(
    mix: &Confounders,
    asset: model::Asset,
    viewers: impl IntoIterator<Item = &'a model::Viewer>,
) -> String {
    let viewers: Vec<&model::Viewer> = viewers.into_iter().collect();
    let mut all: Vec<String> = viewers
        .iter()
        .flat_map(|v| v.traits.iter().map(|t| t.to_string()))
        .collect();
    // A shared session whose viewers are in two or more countries.
    if viewers.iter().any(|v| v.country != viewers[0].country) {
        all.push("abroad".to_string());
    }
    if mix.segment_durations.len() > 1 {
        all.push(format!("segment-{}s", asset.segment_s));
    }
    if asset.live {
        all.push("live".to_string());
    }
    all.sort();
    all.dedup();
    all.join(";")
}

fn write_truth(path: &Path, sessions: &[(Session, String)]) -> Result<()> {
    let mut sorted: Vec<&(Session, String)> = sessions.iter().collect();
    sorted.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let mut text = String::from("session_id,shared,viewers,traits\n");
    for (s, traits) in sorted {
        text.push_str(&format!(
            "{},{},{},{traits}\n",
            s.id,
            s.viewers > 1,
            s.viewers
        ));
    }
    std::fs::write(path, text).map_err(Error::io(format!("writing {}", path.display())))
}
