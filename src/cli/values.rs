//! How option values are spelled, the same on the command line and in the config file:
//! sizes (`512MiB`), durations in minutes (`10`, `90s`, `2h`), RFC 3339 times, and the
//! library's named choices.

use std::fmt;

use chrono::{DateTime, Utc};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use serde::Deserialize;

use autorevoke::choice::Choice;
use autorevoke::cloudfront::RealtimeFields;
use autorevoke::score::Now;

/// The value parser of a [`Choice`]: its names, each with its help line.
pub fn choice<T: Choice + Clone>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(
        T::CHOICES
            .iter()
            .map(|(name, _, help)| PossibleValue::new(*name).help(*help)),
    )
    .try_map(|name: String| T::from_name(&name).ok_or_else(|| format!("unknown value {name:?}")))
}

/// A size in bytes, written as bytes or with KiB/MiB/GiB (1024-based) or KB/MB/GB
/// (1000-based); the config file takes the same text or a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub usize);

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_size(s).map(Size)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) if n >= 1.0 && n.fract() == 0.0 => Ok(Size(n as usize)),
            NumberOrText::Number(n) => Err(serde::de::Error::custom(format!(
                "{n} is not a size of at least one byte"
            ))),
            NumberOrText::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A duration in minutes, written as minutes (`10`, `7.5`) or with its unit (`90s`, `10m`,
/// `2h`, `1d`); the config file takes the same text or a number of minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minutes(pub f64);

impl std::str::FromStr for Minutes {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_minutes(s).map(Minutes)
    }
}

impl<'de> Deserialize<'de> for Minutes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => Ok(Minutes(n)),
            NumberOrText::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The fields of a real-time log configuration: comma-separated names on the command line,
/// a list of names (or the same text) in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldList(pub RealtimeFields);

impl std::str::FromStr for FieldList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.parse::<RealtimeFields>()
            .map(FieldList)
            .map_err(|e| e.to_string())
    }
}

impl<'de> Deserialize<'de> for FieldList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Names {
            List(Vec<String>),
            Text(String),
        }
        let names = match Names::deserialize(d)? {
            Names::List(names) => names,
            Names::Text(text) => text.split(',').map(|n| n.trim().to_string()).collect(),
        };
        RealtimeFields::from_names(&names)
            .map(FieldList)
            .map_err(serde::de::Error::custom)
    }
}

/// A time between ticks: seconds (`10`), or a number with `ms`, `s`, `m` or `h` (`500ms`,
/// `10s`, `2m`), between 100 ms and a day; the config file takes the same text or seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Every(pub std::time::Duration);

impl std::str::FromStr for Every {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(Every)
    }
}

impl<'de> Deserialize<'de> for Every {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => n.to_string(),
            NumberOrText::Text(t) => t,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A duration: seconds (`10`), or a number with `ms`, `s`, `m` or `h` (`500ms`, `10s`, `2m`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => t.split_at(at),
        None => (t, "s"),
    };
    let per_unit = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?}; use ms, s, m or h (10s)"
            ));
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 10s, 500ms, 1m"))?;
    let seconds = value * per_unit;
    if !seconds.is_finite() || !(0.1..=86_400.0).contains(&seconds) {
        return Err(format!("{s:?}: between 100ms and 24h"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// A value the config file may give as a number or as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(f64),
    Text(String),
}

impl fmt::Display for Minutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} minutes", self.0)
    }
}

/// An RFC 3339 time.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}); example: 2026-01-15T20:00:00Z"))
}

/// `--now`: an RFC 3339 time or `latest`.
pub fn parse_now(s: &str) -> Result<Now, String> {
    if s == "latest" {
        Ok(Now::Latest)
    } else {
        parse_time(s).map(Now::At)
    }
}

/// Minutes, from a number (`10`, `7.5`) or a duration with its unit (`90s`, `10m`, `2h`,
/// `1d`).
pub fn parse_minutes(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => t.split_at(at),
        None => (t, "m"),
    };
    let per_minute = match unit {
        "s" => 1.0 / 60.0,
        "m" | "min" => 1.0,
        "h" => 60.0,
        "d" => 1440.0,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?}; use s, m, h or d (10m, 2h)"
            ));
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: expected minutes or a duration such as 10m, 2h, 90s"))?;
    Ok(value * per_minute)
}

/// A count that must be at least 1.
pub fn parse_positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// A size: bytes, or a number with KiB/MiB/GiB (1024-based) or KB/MB/GB (1000-based).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size (examples: 512MiB, 2GiB, 1000000)"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use KiB, MiB, GiB)"
            ));
        }
    };
    let bytes = number * scale;
    if !(1.0..=usize::MAX as f64).contains(&bytes) {
        return Err(format!("{s:?} is not a size of at least one byte"));
    }
    Ok(bytes as usize)
}

/// `--profile`/`--aws-profile`: an AWS profile's name; the scoring rules' names are refused
/// with a pointer to `--rules` (where `--profile` chose them before).
pub fn parse_aws_profile(text: &str) -> Result<String, String> {
    use autorevoke::score::Profile;
    match Profile::from_name(text) {
        Some(_) => Err(format!(
            "--profile names an AWS profile, as in the AWS CLI; to choose the scoring rules \
             use --rules {text}"
        )),
        None => Ok(text.to_string()),
    }
}

/// `--group-sizes MIN-MAX` (or one number for both).
pub fn parse_group_sizes(s: &str) -> Result<(usize, usize), String> {
    let number = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("{t:?} is not a whole number; example: 2-8"))
    };
    match s.split_once('-') {
        Some((least, most)) => Ok((number(least)?, number(most)?)),
        None => number(s).map(|n| (n, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5 KiB"), Ok(1536));
        assert_eq!(parse_size("3MB"), Ok(3_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("2 TiB").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn tick_durations_take_units_and_bare_seconds() {
        use std::time::Duration;
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn durations_are_minutes_or_carry_their_unit() {
        assert_eq!(parse_minutes("10"), Ok(10.0));
        assert_eq!(parse_minutes("90s"), Ok(1.5));
        assert_eq!(parse_minutes("2h"), Ok(120.0));
        assert_eq!(parse_minutes("1d"), Ok(1440.0));
        assert!(parse_minutes("3 weeks").is_err());
    }
}
