//! Byte-level parsers of field values (dates, times, statuses, sizes, epochs, numbers): no
//! allocation and no UTF-8 check, because they run for every row.

/// Days from 0001-01-01 (chrono's day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

pub(crate) fn lossy(bytes: &[u8]) -> String {
    const SHOWN: usize = 40;
    let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]).into_owned();
    if bytes.len() > SHOWN {
        s.push('…');
    }
    s
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// `YYYY-MM-DD` to days since 1970-01-01, `None` unless it is a real calendar date.
pub fn parse_date(b: &[u8]) -> Option<i32> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits(&b[0..4])?;
    let m = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    Some(chrono::Datelike::num_days_from_ce(&date) - UNIX_EPOCH_DAYS_FROM_CE)
}

/// `HH:MM:SS` to seconds since midnight, `None` unless it is a real time of day.
pub fn parse_time(b: &[u8]) -> Option<u32> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?);
    (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}

/// A status code: one to three digits (`000` is a viewer that went away).
pub(crate) fn parse_status(b: &[u8]) -> Option<i32> {
    if b.is_empty() || b.len() > 3 {
        return None;
    }
    digits(b).and_then(|v| i32::try_from(v).ok())
}

/// A non-negative whole number that fits in `i64`.
/// How an epoch time field counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpochUnit {
    /// `timestamp(ms)`: whole milliseconds.
    Millis,
    /// `timestamp`: seconds, with or without a fraction (`1767225600.123`).
    Seconds,
}

impl EpochUnit {
    pub(crate) fn field(self) -> &'static str {
        match self {
            EpochUnit::Millis => "timestamp(ms)",
            EpochUnit::Seconds => "timestamp",
        }
    }
}

/// Epoch seconds (rounded down) of an epoch time field.
pub(crate) fn parse_epoch(b: &[u8], unit: EpochUnit) -> Option<i64> {
    match unit {
        EpochUnit::Millis => parse_u63(b).map(|ms| ms.div_euclid(1000)),
        EpochUnit::Seconds => {
            let (whole, fraction) = match memchr::memchr(b'.', b) {
                Some(dot) => (&b[..dot], &b[dot + 1..]),
                None => (b, &b""[..]),
            };
            let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
            (digits(fraction) && fraction.len() <= 9)
                .then(|| parse_u63(whole))
                .flatten()
        }
    }
}

pub(crate) fn parse_u63(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    b.iter().try_fold(0i64, |acc, &c| {
        if !c.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(i64::from(c - b'0'))
    })
}

pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    match b.strip_prefix(b"-") {
        Some(rest) if !rest.is_empty() => parse_u63(rest).map(|v| -v),
        _ => parse_u63(b),
    }
}

pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        assert_eq!(parse_date(b"1970-01-01"), Some(0));
        assert_eq!(parse_date(b"2019-12-04"), Some(18_234));
        assert_eq!(parse_date(b"2019-02-29"), None);
        assert_eq!(parse_date(b"2019-13-01"), None);
        assert_eq!(parse_date(b"2019/12/04"), None);
        assert_eq!(parse_time(b"21:02:31"), Some(75_751));
        assert_eq!(parse_time(b"24:00:00"), None);
        assert_eq!(parse_time(b"23:59:60"), None);
        assert_eq!(parse_time(b"1:02:03"), None);
    }

    #[test]
    fn numbers_never_overflow() {
        assert_eq!(parse_u63(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_u63(b"9223372036854775808"), None);
        assert_eq!(parse_u63(b"99999999999999999999999"), None);
        assert_eq!(parse_u63(b"-"), None);
        assert_eq!(parse_u63(b"12a"), None);
        assert_eq!(parse_i64(b"-5"), Some(-5));
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_status(b"000"), Some(0));
        assert_eq!(parse_status(b"2000"), None);
        assert_eq!(parse_f64(b"0.001"), Some(0.001));
        assert_eq!(parse_f64(b"inf"), None);
    }

    #[test]
    fn epoch_fields_give_whole_seconds() {
        let ms = |s: &str| parse_epoch(s.as_bytes(), EpochUnit::Millis);
        let secs = |s: &str| parse_epoch(s.as_bytes(), EpochUnit::Seconds);
        assert_eq!(ms("1767225600999"), Some(1_767_225_600));
        assert_eq!(ms("1767225601000"), Some(1_767_225_601));
        assert_eq!(secs("1767225600.123"), Some(1_767_225_600));
        assert_eq!(secs("1767225600"), Some(1_767_225_600));
        for bad in ["", "-1", "1.2.3", "12a", "1767225600.", "1767225600.1e3"] {
            assert_eq!(ms(bad), None, "{bad:?} ms");
            if bad != "1767225600." {
                assert_eq!(secs(bad), None, "{bad:?} s");
            }
        }
    }
}
