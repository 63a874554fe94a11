//! The parameters of the `viewers` profile (`queries/score_viewers.sql`): how much evidence of
//! more than one viewer at once flags a session (docs/scoring.md gives each one's trade-off).

use serde::Serialize;

use crate::error::{Error, Result};

/// What the `viewers` profile asks of a session before flagging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ViewerParams {
    /// Viewers a minute must show to count as evidence (2: any second viewer).
    pub min_viewers: u64,
    /// Minutes of evidence that flag a session.
    pub min_evidence_minutes: u64,
    /// Seconds within which fetches of one object by two networks are one object fetched
    /// twice at once.
    pub co_fetch_seconds: u64,
    /// Objects fetched by more than one network that a minute needs before they count.
    pub min_cofetched_objects: u64,
    /// Minutes with co-fetches from two or more countries (`c-country`) that flag a session
    /// on their own; 0 turns this off.
    pub min_country_minutes: u64,
    /// Segment numbers one position may skip (a missing segment) or fetch out of order; a
    /// larger gap starts another run, a larger step back counts as one.
    pub max_segment_skip: u64,
}

impl Default for ViewerParams {
    fn default() -> Self {
        ViewerParams {
            min_viewers: 2,
            min_evidence_minutes: 2,
            co_fetch_seconds: 30,
            min_cofetched_objects: 2,
            min_country_minutes: 1,
            max_segment_skip: 3,
        }
    }
}

impl ViewerParams {
    /// Checks every value, naming the setting of the first bad one.
    pub fn validate(&self) -> Result<()> {
        for (setting, value, least) in [
            ("min_viewers", self.min_viewers, 2),
            ("min_evidence_minutes", self.min_evidence_minutes, 1),
            ("co_fetch_seconds", self.co_fetch_seconds, 0),
            ("min_cofetched_objects", self.min_cofetched_objects, 1),
            ("min_country_minutes", self.min_country_minutes, 0),
            ("max_segment_skip", self.max_segment_skip, 1),
        ] {
            if value < least || i64::try_from(value).is_err() {
                return Err(Error::Setting {
                    setting: setting.into(),
                    reason: format!("{value} is not a whole number from {least} on"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_setting() {
        let p = ViewerParams {
            min_viewers: 1,
            ..ViewerParams::default()
        };
        let e = p.validate().expect_err("one viewer is not sharing");
        assert!(e.to_string().contains("min_viewers"), "{e}");
        let p = ViewerParams {
            min_evidence_minutes: 0,
            ..ViewerParams::default()
        };
        let e = p.validate().expect_err("no evidence");
        assert!(e.to_string().contains("min_evidence_minutes"), "{e}");
        assert!(ViewerParams::default().validate().is_ok());
    }
}
