//! `evaluate`: how well a scoring profile separates shared sessions from ordinary ones, against
//! a truth file as `synth` writes it (`session_id,shared,viewers[,traits]`): precision, recall,
//! and the false positives grouped by the confounders behind them.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::score::ScoreReport;

/// What the truth file says about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthRow {
    /// Watched by more than one viewer.
    pub shared: bool,
    /// Number of viewers.
    pub viewers: u32,
    /// The confounders of its viewers, `;`-separated (empty: none).
    pub traits: String,
}

/// The truth file, by session id.
pub type Truth = HashMap<String, TruthRow>;

/// Reads a truth file; a bad row is an error naming its line.
pub fn read_truth(path: &Path) -> Result<Truth> {
    let text = std::fs::read_to_string(path).map_err(Error::io(format!(
        "reading the truth file {}",
        path.display()
    )))?;
    parse_truth(&text).map_err(|reason| Error::Setting {
        setting: "truth".into(),
        reason: format!("{}: {reason}", path.display()),
    })
}

/// Parses a truth file's text (the header is required).
pub fn parse_truth(text: &str) -> std::result::Result<Truth, String> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.starts_with("session_id,shared,viewers") => {}
        _ => return Err("line 1: expected the header session_id,shared,viewers[,traits]".into()),
    }
    let mut truth = Truth::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| format!("line {}: {what}: {line:?}", i + 1);
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() < 3 || fields.len() > 4 {
            return Err(bad("expected 3 or 4 fields"));
        }
        let shared = match fields[1] {
            "true" => true,
            "false" => false,
            _ => return Err(bad("`shared` must be true or false")),
        };
        let viewers = fields[2]
            .parse()
            .map_err(|_| bad("`viewers` must be a whole number"))?;
        let row = TruthRow {
            shared,
            viewers,
            traits: fields.get(3).copied().unwrap_or("").to_string(),
        };
        if truth.insert(fields[0].to_string(), row).is_some() {
            return Err(bad("session listed twice"));
        }
    }
    Ok(truth)
}

/// False positives that share a cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CauseCount {
    /// The confounders (`ios-native;segment-2s`), `none`, or `not in truth`.
    pub cause: String,
    /// How many flagged sessions have it.
    pub sessions: u64,
    /// Up to five of them, highest score first.
    pub examples: Vec<String>,
}

/// Precision and recall of one scored window against the truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The profile that scored.
    pub profile: &'static str,
    /// Its threshold.
    pub threshold: f64,
    /// Sessions in the window.
    pub sessions_in_window: u64,
    /// Sessions scored.
    pub sessions_scored: u64,
    /// Shared sessions (per the truth) with rows in the window: what recall is out of.
    pub shared_in_window: u64,
    /// Flagged and shared.
    pub true_positives: u64,
    /// Flagged but not shared (or not in the truth).
    pub false_positives: u64,
    /// Shared but not flagged (including shared sessions too short to score).
    pub false_negatives: u64,
    /// TP / (TP + FP); None when nothing was flagged.
    pub precision: Option<f64>,
    /// TP / (TP + FN); None when no shared session is in the window.
    pub recall: Option<f64>,
    /// False positives by cause, most frequent first.
    pub false_positives_by_cause: Vec<CauseCount>,
    /// Missed shared sessions by their number of viewers.
    pub missed_by_viewers: BTreeMap<u32, u64>,
    /// Precision and recall among the sessions of each confounder (`none`: sessions with
    /// none), by name; empty when no session in the window has a confounder.
    pub by_confounder: Vec<ConfounderScore>,
}

/// How a profile did on the sessions that carry one confounder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfounderScore {
    /// The confounder (`multipath`, `segment-2s`, ...), or `none`.
    pub confounder: String,
    /// Sessions in the window with it.
    pub sessions: u64,
    /// Of those, shared ones.
    pub shared: u64,
    /// Flagged and shared.
    pub true_positives: u64,
    /// Flagged but not shared.
    pub false_positives: u64,
    /// Shared but not flagged.
    pub false_negatives: u64,
    /// TP / (TP + FP); None when none of them was flagged.
    pub precision: Option<f64>,
    /// TP / (TP + FN); None when none of them is shared.
    pub recall: Option<f64>,
}

/// Outcome counts over a set of sessions: the one tally behind the totals and each
/// confounder's row.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    sessions: u64,
    shared: u64,
    tp: u64,
    fp: u64,
    fn_: u64,
}

impl Tally {
    fn add(&mut self, flagged: bool, shared: bool) {
        self.sessions += 1;
        self.shared += u64::from(shared);
        match (flagged, shared) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => {}
        }
    }

    fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }

    fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Compares a scored window with the truth.
pub fn evaluate(report: &ScoreReport, truth: &Truth) -> Evaluation {
    let mut by_cause: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut total = Tally::default();
    let mut missed_by_viewers = BTreeMap::new();
    let mut by_confounder: BTreeMap<String, Tally> = BTreeMap::new();
    // Scored sessions come by score, highest first, so examples are the worst ones.
    for s in report.sessions.iter().chain(&report.unscored) {
        let row = truth.get(s.session_id.as_str());
        let shared = row.is_some_and(|r| r.shared);
        total.add(s.flagged, shared);
        let traits = row.map_or("", |r| r.traits.as_str());
        let names: Vec<&str> = match traits {
            "" => vec!["none"],
            t => t.split(';').filter(|n| !n.is_empty()).collect(),
        };
        for name in names {
            by_confounder
                .entry(name.to_string())
                .or_default()
                .add(s.flagged, shared);
        }
        match (s.flagged, shared) {
            (true, false) => {
                let cause = match row {
                    None => "not in truth".to_string(),
                    Some(r) if r.traits.is_empty() => "none".to_string(),
                    Some(r) => r.traits.clone(),
                };
                by_cause
                    .entry(cause)
                    .or_default()
                    .push(s.session_id.to_string());
            }
            (false, true) => {
                let viewers = row.map_or(0, |r| r.viewers);
                *missed_by_viewers.entry(viewers).or_insert(0) += 1;
            }
            _ => {}
        }
    }
    let mut false_positives_by_cause: Vec<CauseCount> = by_cause
        .into_iter()
        .map(|(cause, ids)| CauseCount {
            cause,
            sessions: ids.len() as u64,
            examples: ids.into_iter().take(5).collect(),
        })
        .collect();
    false_positives_by_cause
        .sort_by(|a, b| b.sessions.cmp(&a.sessions).then(a.cause.cmp(&b.cause)));
    let by_confounder = if by_confounder.keys().all(|k| k == "none") {
        Vec::new()
    } else {
        by_confounder
            .into_iter()
            .map(|(confounder, t)| ConfounderScore {
                confounder,
                sessions: t.sessions,
                shared: t.shared,
                true_positives: t.tp,
                false_positives: t.fp,
                false_negatives: t.fn_,
                precision: t.precision(),
                recall: t.recall(),
            })
            .collect()
    };
    Evaluation {
        profile: report.params.profile.name(),
        threshold: report.params.threshold,
        sessions_in_window: report.sessions_in_window,
        sessions_scored: report.sessions_scored,
        shared_in_window: total.shared,
        true_positives: total.tp,
        false_positives: total.fp,
        false_negatives: total.fn_,
        precision: total.precision(),
        recall: total.recall(),
        false_positives_by_cause,
        missed_by_viewers,
        by_confounder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_files_old_and_new_parse_and_bad_rows_name_their_line() {
        let t =
            parse_truth("session_id,shared,viewers\nabc,true,3\ndef,false,1\n").expect("parses");
        assert_eq!(
            t["abc"],
            TruthRow {
                shared: true,
                viewers: 3,
                traits: String::new()
            }
        );
        let t = parse_truth("session_id,shared,viewers,traits\nx,false,1,ios-native;segment-2s\n")
            .expect("parses");
        assert_eq!(t["x"].traits, "ios-native;segment-2s");
        let e = parse_truth("session_id,shared,viewers\nabc,yes,3\n").expect_err("bad bool");
        assert!(
            e.starts_with("line 2: `shared` must be true or false"),
            "{e}"
        );
        let e = parse_truth("id,shared\n").expect_err("bad header");
        assert!(e.starts_with("line 1:"), "{e}");
        let e = parse_truth("session_id,shared,viewers\na,true,2\na,true,2\n").expect_err("dup");
        assert!(e.starts_with("line 3: session listed twice"), "{e}");
    }
}
