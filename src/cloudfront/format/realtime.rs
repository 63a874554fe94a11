//! CloudFront real-time logs, as Kinesis Data Firehose delivers them to S3: no header, one
//! TAB-separated record per line, the fields a real-time log configuration selects in
//! CloudFront's fixed (canonical) order whatever order the configuration lists them in,
//! `timestamp` in epoch seconds with milliseconds, and `cs-uri-stem` that may carry the query
//! string (stripped, so the path is the same value the standard logs carry).
//!
//! A record has no names, so the field set must be known: [`RealtimeFields`], from
//! `--realtime-fields` (the configuration's list, e.g. from `aws cloudfront
//! get-realtime-log-config`), defaulting to the 45 fields the console's "all fields" selected
//! before the CMCD fields were added.

use std::fmt;
use std::str::FromStr;

/// Every real-time log field in the order CloudFront writes them
/// (Developer Guide, "Real-time log configuration fields").
pub const CANONICAL_FIELDS: [&str; 69] = [
    "timestamp",
    "c-ip",
    "s-ip",
    "time-to-first-byte",
    "sc-status",
    "sc-bytes",
    "cs-method",
    "cs-protocol",
    "cs-host",
    "cs-uri-stem",
    "cs-bytes",
    "x-edge-location",
    "x-edge-request-id",
    "x-host-header",
    "time-taken",
    "cs-protocol-version",
    "c-ip-version",
    "cs-user-agent",
    "cs-referer",
    "cs-cookie",
    "cs-uri-query",
    "x-edge-response-result-type",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-result-type",
    "fle-encrypted-fields",
    "fle-status",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
    "c-port",
    "x-edge-detailed-result-type",
    "c-country",
    "cs-accept-encoding",
    "cs-accept",
    "cache-behavior-path-pattern",
    "cs-headers",
    "cs-header-names",
    "cs-headers-count",
    "primary-distribution-id",
    "primary-distribution-dns-name",
    "origin-fbl",
    "origin-lbl",
    "asn",
    "cmcd-encoded-bitrate",
    "cmcd-buffer-length",
    "cmcd-buffer-starvation",
    "cmcd-content-id",
    "cmcd-object-duration",
    "cmcd-deadline",
    "cmcd-measured-throughput",
    "cmcd-next-object-request",
    "cmcd-next-range-request",
    "cmcd-object-type",
    "cmcd-playback-rate",
    "cmcd-requested-maximum-throughput",
    "cmcd-streaming-format",
    "cmcd-session-id",
    "cmcd-stream-type",
    "cmcd-startup",
    "cmcd-top-bitrate",
    "cmcd-version",
    "r-host",
    "sr-reason",
    "x-edge-mqcs",
    "distribution-tenant-id",
    "connection-id",
];

/// Fields a score needs in every record: the time, the row filter's status and bytes, and the
/// URI that carries the session token.
const NEEDED: [&str; 4] = ["timestamp", "sc-status", "sc-bytes", "cs-uri-stem"];

/// The set of fields a real-time log configuration selects, as a bit per canonical position,
/// so the record order follows from the set alone.
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "Vec<String>", try_from = "Vec<String>")]
pub struct RealtimeFields(u128);

impl From<RealtimeFields> for Vec<String> {
    fn from(fields: RealtimeFields) -> Self {
        fields.names().into_iter().map(str::to_string).collect()
    }
}

impl TryFrom<Vec<String>> for RealtimeFields {
    type Error = String;

    fn try_from(names: Vec<String>) -> Result<Self, String> {
        RealtimeFields::from_names(&names)
    }
}

impl RealtimeFields {
    /// The set of `names` (any order, each a canonical field name).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut bits = 0u128;
        for name in names {
            let name = name.as_ref().trim();
            let Some(pos) = CANONICAL_FIELDS.iter().position(|f| *f == name) else {
                return Err(format!(
                    "{name:?} is not a CloudFront real-time log field (e.g. timestamp, c-ip, \
                     cs-uri-stem)"
                ));
            };
            bits |= 1 << pos;
        }
        let fields = RealtimeFields(bits);
        let missing: Vec<&str> = NEEDED
            .into_iter()
            .filter(|n| !fields.names().contains(n))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the fields lack {}, which scoring needs",
                missing.join(", ")
            ));
        }
        Ok(fields)
    }

    /// The field names in the order a record carries them.
    pub fn names(self) -> Vec<&'static str> {
        CANONICAL_FIELDS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, f)| *f)
            .collect()
    }
}

impl Default for RealtimeFields {
    /// `timestamp` through `asn` without `s-ip`: the 45 fields of an "all fields" configuration
    /// made before the CMCD fields existed.
    fn default() -> Self {
        let through_asn = (1u128 << 46) - 1;
        RealtimeFields(through_asn & !(1 << 2))
    }
}

impl fmt::Debug for RealtimeFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl FromStr for RealtimeFields {
    type Err = String;

    /// A comma-separated list, as `--realtime-fields` takes it.
    fn from_str(list: &str) -> Result<Self, String> {
        let names: Vec<&str> = list.split(',').filter(|n| !n.trim().is_empty()).collect();
        RealtimeFields::from_names(&names)
    }
}

/// True when `line` looks like a real-time record: its first field is epoch seconds with a
/// fraction (`1767225600.123`). A W3C row starts with a `YYYY-MM-DD` date, a v2 JSON record
/// with `{`, so the three text forms cannot be mistaken for one another.
pub fn looks_like_record(line: &[u8]) -> bool {
    let first = match memchr::memchr(b'\t', line) {
        Some(tab) => &line[..tab],
        None => return false,
    };
    let Some(dot) = memchr::memchr(b'.', first) else {
        return false;
    };
    let (whole, fraction) = (&first[..dot], &first[dot + 1..]);
    (9..=11).contains(&whole.len())
        && (1..=9).contains(&fraction.len())
        && whole.iter().chain(fraction).all(u8::is_ascii_digit)
}

/// The path part of a real-time `cs-uri-stem` (everything before a `?`).
pub fn uri_path(uri: &[u8]) -> &[u8] {
    match memchr::memchr(b'?', uri) {
        Some(q) => &uri[..q],
        None => uri,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_45_classic_fields_in_record_order() {
        let names = RealtimeFields::default().names();
        assert_eq!(names.len(), 45);
        assert_eq!(
            names[..10],
            [
                "timestamp",
                "c-ip",
                "time-to-first-byte",
                "sc-status",
                "sc-bytes",
                "cs-method",
                "cs-protocol",
                "cs-host",
                "cs-uri-stem",
                "cs-bytes"
            ]
        );
        assert_eq!(names[17], "cs-referer");
        assert_eq!(names[44], "asn");
    }

    #[test]
    fn a_configuration_list_in_any_order_gives_the_canonical_order() {
        let fields: RealtimeFields = "cs-user-agent, sc-bytes,cs-uri-stem,timestamp,c-ip,sc-status"
            .parse()
            .expect("fields");
        assert_eq!(
            fields.names(),
            [
                "timestamp",
                "c-ip",
                "sc-status",
                "sc-bytes",
                "cs-uri-stem",
                "cs-user-agent"
            ]
        );
        assert_eq!(
            "timestamp,c-ip,cs-uri".parse::<RealtimeFields>(),
            Err(
                "\"cs-uri\" is not a CloudFront real-time log field (e.g. timestamp, c-ip, \
                 cs-uri-stem)"
                    .to_string()
            )
        );
        assert_eq!(
            "timestamp,c-ip,cs-uri-stem".parse::<RealtimeFields>(),
            Err("the fields lack sc-status, sc-bytes, which scoring needs".to_string())
        );
    }

    #[test]
    fn records_are_told_from_w3c_rows_by_their_epoch_time() {
        assert!(looks_like_record(b"1767225600.123\t1.2.3.4\t0.001"));
        assert!(looks_like_record(b"1767225600.5\t1.2.3.4"));
        assert!(!looks_like_record(b"2026-01-01\t00:00:00\tIAD89"));
        assert!(!looks_like_record(b"1767225600\t1.2.3.4"));
        assert!(!looks_like_record(b"1767225600.123"));
        assert!(!looks_like_record(b"17672.123\tx"));
        assert!(!looks_like_record(b"{\"timestamp\": \"1767225600.123\"}"));
    }

    #[test]
    fn the_query_string_is_cut_from_the_uri() {
        assert_eq!(uri_path(b"/s.t/v/seg.ts?a=1&b=2"), b"/s.t/v/seg.ts");
        assert_eq!(uri_path(b"/s.t/v/seg.ts"), b"/s.t/v/seg.ts");
        assert_eq!(uri_path(b"?x"), b"");
    }
}
