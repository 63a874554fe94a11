//! Scoring parameters and the time window, validated before any I/O.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::error::{Error, Result};

/// Component weights (docs/scoring.md): non-negative, finite; 0 turns a component off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weights {
    /// Weight of the normalised rate.
    pub rate: f64,
    /// Penalty for more than one IP.
    pub ip: f64,
    /// Penalty for more than one referer.
    pub referer: f64,
    /// Penalty for more than one user agent.
    pub ua: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            rate: 1.0,
            ip: 1.0,
            referer: 1.0,
            ua: 1.0,
        }
    }
}

/// How sessions are scored: the reference's rules, or evidence of simultaneous viewers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The reference solution's rules exactly (queries/score.sql): drop-in compatible with the reference solution.
    #[default]
    Upstream,
    /// Several viewers at once (queries/score_concurrent.sql): networks active at the same
    /// time (IPv6 by /64), a browser and its media stack as one agent, `-` beside one real
    /// referer as one referer, rates against sessions of the same asset.
    Concurrent,
    /// Viewers at once (queries/score_viewers.sql): the same object fetched by two networks
    /// at once, or two playback positions advancing at once, for some minutes; rates,
    /// addresses, agents and referers are not evidence.
    Viewers,
}

impl crate::choice::Choice for Profile {
    const CHOICES: &'static [(&'static str, Self, &'static str)] = &[
        (
            "upstream",
            Profile::Upstream,
            "The reference solution's rules exactly (queries/score.sql): drop-in compatible with the reference solution.",
        ),
        (
            "concurrent",
            Profile::Concurrent,
            "Several viewers at once (queries/score_concurrent.sql): networks active at the same time (IPv6 by /64), a browser and its media stack as one agent, `-` beside one real referer as one referer, rates against sessions of the same asset.",
        ),
        (
            "viewers",
            Profile::Viewers,
            "Viewers at once (queries/score_viewers.sql): the same object fetched by two networks at once, or two playback positions advancing at once, for some minutes; rates, addresses, agents and referers are not evidence.",
        ),
    ];
}

impl Profile {
    /// The profile's name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Upstream => "upstream",
            Profile::Concurrent => "concurrent",
            Profile::Viewers => "viewers",
        }
    }
}

/// The scoring parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreParams {
    /// Which rules score a session.
    pub profile: Profile,
    /// A session is flagged when its score is strictly above this.
    pub threshold: f64,
    /// Fewer sessions in the window and nothing is scored.
    pub min_sessions: u64,
    /// Sessions shorter than this (seconds) are not scored.
    pub min_duration: u64,
    /// Component weights.
    pub weights: Weights,
    /// `concurrent`: seconds a network must overlap an earlier one to count as a second
    /// viewer.
    pub min_overlap: u64,
    /// `viewers`: the evidence that flags a session.
    pub viewers: super::viewers::ViewerParams,
}

impl Default for ScoreParams {
    fn default() -> Self {
        ScoreParams {
            profile: Profile::Upstream,
            min_overlap: 60,
            threshold: 2.2,
            min_sessions: 3,
            min_duration: 30,
            weights: Weights::default(),
            viewers: super::viewers::ViewerParams::default(),
        }
    }
}

impl ScoreParams {
    /// Checks every value, naming the flag of the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !self.threshold.is_finite() {
            return Err(Error::Setting {
                setting: "threshold".into(),
                reason: format!("{} is not a finite number", self.threshold),
            });
        }
        for (setting, w) in [
            ("weight_rate", self.weights.rate),
            ("weight_ip", self.weights.ip),
            ("weight_referer", self.weights.referer),
            ("weight_ua", self.weights.ua),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(Error::Setting {
                    setting: setting.into(),
                    reason: format!("{w} is not a finite number >= 0"),
                });
            }
        }
        if i64::try_from(self.min_sessions).is_err() {
            return Err(Error::Setting {
                setting: "min_sessions".into(),
                reason: "too large".into(),
            });
        }
        if i64::try_from(self.min_overlap).is_err() {
            return Err(Error::Setting {
                setting: "min_overlap".into(),
                reason: "too large".into(),
            });
        }
        if i64::try_from(self.min_duration).is_err() {
            return Err(Error::Setting {
                setting: "min_duration".into(),
                reason: "too large".into(),
            });
        }
        self.viewers.validate()
    }
}

/// The window's length when none is given: ten minutes, as the reference solution.
pub const DEFAULT_LOOKBACK_MINUTES: f64 = 10.0;

/// The end of a lookback window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Now {
    /// A fixed instant (the current time by default).
    At(DateTime<Utc>),
    /// The newest row time found in the logs.
    Latest,
}

/// How the caller chose the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// `now - lookback <= t <= now` (the scheduled job).
    Lookback {
        /// The window's end.
        now: Now,
        /// Its length.
        lookback: Duration,
    },
    /// An explicit `[from, to]` (forensic runs).
    Range {
        /// First instant inside.
        from: DateTime<Utc>,
        /// Last instant inside.
        to: DateTime<Utc>,
    },
}

impl WindowSpec {
    /// Builds a window spec from the CLI's options, checking them.
    pub fn new(
        now: Option<Now>,
        lookback_minutes: Option<f64>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Self> {
        match (from, to) {
            (Some(from), Some(to)) => {
                if now.is_some() || lookback_minutes.is_some() {
                    return Err(Error::Setting {
                        setting: "from/to".into(),
                        reason: "replace --now and --lookback; give one or the other".into(),
                    });
                }
                if from > to {
                    return Err(Error::Setting {
                        setting: "from/to".into(),
                        reason: format!("--from {from} is after --to {to}"),
                    });
                }
                Ok(WindowSpec::Range { from, to })
            }
            (None, None) => {
                let minutes = lookback_minutes.unwrap_or(DEFAULT_LOOKBACK_MINUTES);
                if !minutes.is_finite() || minutes <= 0.0 || minutes > 60.0 * 24.0 * 366.0 * 10.0 {
                    return Err(Error::Setting {
                        setting: "lookback".into(),
                        reason: format!("{minutes} is not a number of minutes > 0"),
                    });
                }
                let now = now.unwrap_or_else(|| Now::At(truncate_to_second(Utc::now())));
                Ok(WindowSpec::Lookback {
                    now,
                    // Whole seconds: row times have one-second resolution.
                    lookback: Duration::seconds((minutes * 60.0).round() as i64),
                })
            }
            _ => Err(Error::Setting {
                setting: "from/to".into(),
                reason: "give both --from and --to".into(),
            }),
        }
    }

    /// The window, once `latest` (if used) is known.
    pub fn resolve(&self, latest: Option<DateTime<Utc>>) -> Option<Window> {
        match *self {
            WindowSpec::Range { from, to } => Some(Window { from, to }),
            WindowSpec::Lookback { now, lookback } => {
                let to = match now {
                    Now::At(t) => t,
                    Now::Latest => latest?,
                };
                Some(Window {
                    from: to - lookback,
                    to,
                })
            }
        }
    }
}

/// The instants a run covers, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// First instant inside.
    pub from: DateTime<Utc>,
    /// Last instant inside.
    pub to: DateTime<Utc>,
}

fn truncate_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("valid timestamp")
    }

    #[test]
    fn lookback_ends_at_now_or_latest() {
        let spec = WindowSpec::new(Some(Now::Latest), Some(10.0), None, None).expect("valid");
        assert_eq!(spec.resolve(None), None);
        let w = spec
            .resolve(Some(t("2026-01-01T00:05:00Z")))
            .expect("resolved");
        assert_eq!(w.from, t("2025-12-31T23:55:00Z"));
        assert_eq!(w.to, t("2026-01-01T00:05:00Z"));
    }

    #[test]
    fn bad_windows_name_their_setting() {
        let e = WindowSpec::new(
            None,
            None,
            Some(t("2026-01-02T00:00:00Z")),
            Some(t("2026-01-01T00:00:00Z")),
        );
        assert!(
            e.expect_err("from after to")
                .to_string()
                .starts_with("invalid setting from/to: ")
        );
        let e = WindowSpec::new(None, None, Some(t("2026-01-01T00:00:00Z")), None);
        assert!(e.is_err());
        let e = WindowSpec::new(
            Some(Now::Latest),
            None,
            Some(t("2026-01-01T00:00:00Z")),
            Some(t("2026-01-01T00:00:00Z")),
        );
        assert!(e.is_err());
        let e = WindowSpec::new(None, Some(0.0), None, None);
        assert!(
            e.expect_err("zero")
                .to_string()
                .starts_with("invalid setting lookback: ")
        );
    }

    #[test]
    fn bad_weights_name_their_setting() {
        let mut p = ScoreParams::default();
        assert!(p.validate().is_ok());
        p.weights.ua = -1.0;
        assert!(
            p.validate()
                .expect_err("negative")
                .to_string()
                .starts_with("invalid setting weight_ua: ")
        );
        p.weights.ua = 0.0;
        p.threshold = f64::NAN;
        assert!(
            p.validate()
                .expect_err("nan")
                .to_string()
                .starts_with("invalid setting threshold: ")
        );
    }
}
