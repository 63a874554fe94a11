//! Writes requests as CloudFront standard log files: 33 fields, percent-encoded as CloudFront
//! does, gzipped, one file per hour and edge, rows shuffled, some rows in the next hour's file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use chrono::DateTime;
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::DISTRIBUTION_ID;
use super::model::Request;
use crate::error::{Error, Result};

const EDGES: [&str; 4] = ["FRA56-P1", "IAD89-C2", "NRT57-P3", "LHR61-C1"];
/// Most files per hour: beyond the four named edges, more edges of the same four cities (a
/// benchmark wants many objects).
pub const MAX_FILES_PER_HOUR: usize = 256;

/// The edge location of file `i` within an hour.
fn edge_name(i: usize) -> String {
    match EDGES.get(i) {
        Some(name) => (*name).to_string(),
        None => format!("{}-X{}", EDGES[i % EDGES.len()], i / EDGES.len()),
    }
}

/// The header every file starts with.
pub const HEADER: &str = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end\n";
/// The header with `c-country` and `asn` after the 33 fields, as standard logging v2 can
/// write them (`synth --countries`).
pub const HEADER_WITH_COUNTRY: &str = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end c-country asn\n";

pub(super) struct Written {
    pub files: usize,
    pub rows: usize,
    pub bytes: u64,
}

use super::SynthProgress;

pub(super) fn write_logs(
    rng: &mut ChaCha8Rng,
    out: &Path,
    requests: Vec<Request>,
    files_per_hour: usize,
    late_fraction: f64,
    countries: bool,
    progress: &mut dyn FnMut(SynthProgress),
) -> Result<Written> {
    let files_per_hour = files_per_hour.clamp(1, MAX_FILES_PER_HOUR);
    let mut files: BTreeMap<(i64, usize), Vec<Request>> = BTreeMap::new();
    for r in requests {
        let hour = r.ts.div_euclid(3600) + i64::from(rng.random_bool(late_fraction));
        let edge = rng.random_range(0..files_per_hour);
        files.entry((hour, edge)).or_default().push(r);
    }
    let mut written = Written {
        files: 0,
        rows: 0,
        bytes: 0,
    };
    let mut line = String::new();
    let total = files.len();
    for ((hour, edge), mut rows) in files {
        rows.shuffle(rng);
        let mut text = String::from(if countries {
            HEADER_WITH_COUNTRY
        } else {
            HEADER
        });
        for r in &rows {
            render(rng, r, &edge_name(edge), &mut line);
            if countries {
                // The line without its newline, then the two fields of newer logs.
                line.pop();
                let country = if r.country.is_empty() { "-" } else { r.country };
                let _ = writeln!(
                    line,
                    "\t{country}\t{}",
                    super::model::asn_of(r.country, &r.ip)
                );
            }
            text.push_str(&line);
        }
        let stamp = DateTime::from_timestamp(hour * 3600, 0)
            .map(|t| t.format("%Y-%m-%d-%H").to_string())
            .unwrap_or_default();
        let name = format!("{DISTRIBUTION_ID}.{stamp}.{:08x}.gz", rng.random::<u32>());
        let path = out.join(name);
        let mut enc = GzEncoder::new(Vec::new(), Compression::new(6));
        let gz = enc
            .write_all(text.as_bytes())
            .and_then(|()| enc.finish())
            .map_err(Error::io(format!("compressing {}", path.display())))?;
        std::fs::write(&path, gz).map_err(Error::io(format!("writing {}", path.display())))?;
        written.files += 1;
        written.rows += rows.len();
        written.bytes += text.len() as u64;
        progress(SynthProgress::Wrote {
            files: written.files,
            of: total,
        });
    }
    Ok(written)
}

/// CloudFront's encoding of a logged value: bytes 0-32, >= 127 and `<>"#%{}|\^~[]`'` and
/// space as `%XX`.
pub fn cloudfront_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 16);
    for &b in raw.as_bytes() {
        if b <= 32 || b >= 127 || br##"<>"#%{}|\^~[]`'"##.contains(&b) {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
    out
}

fn content_type(uri: &str) -> &'static str {
    match uri.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/MP2T",
        Some("aac") => "audio/aac",
        _ => "application/octet-stream",
    }
}

fn render(rng: &mut ChaCha8Rng, r: &Request, edge: &str, line: &mut String) {
    const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    line.clear();
    let t = DateTime::from_timestamp(r.ts, 0).unwrap_or_default();
    let request_id: String = (0..52)
        .map(|_| char::from(ID_CHARS[rng.random_range(0..ID_CHARS.len())]))
        .chain("==".chars())
        .collect();
    let (result, detailed) = match r.status {
        0 => ("Error", "ClientCommError"),
        200 | 206 if rng.random_bool(0.85) => ("Hit", "Hit"),
        200 | 206 => ("Miss", "Miss"),
        _ => ("Error", "Error"),
    };
    let taken = f64::from(rng.random_range(1..900u32)) / 1000.0;
    let ttfb = (taken * 0.6 * 1000.0).round() / 1000.0;
    let content_len = match r.status {
        0 => "-".to_string(),
        _ => r.bytes.saturating_sub(350).to_string(),
    };
    let (range_start, range_end) = match r.range {
        Some((s, e)) => (s.to_string(), e.to_string()),
        None => ("-".to_string(), "-".to_string()),
    };
    let _ = writeln!(
        line,
        "{date}\t{time}\t{edge}\t{bytes}\t{ip}\tGET\td1x7example.cloudfront.net\t{uri}\t{status:03}\t{referer}\t{ua}\t{query}\t-\t{result}\t{request_id}\tvideo.example-streaming.com\thttps\t{cs_bytes}\t{taken}\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\t{result}\tHTTP/2.0\t-\t-\t{port}\t{ttfb}\t{detailed}\t{ctype}\t{content_len}\t{range_start}\t{range_end}",
        date = t.format("%Y-%m-%d"),
        time = t.format("%H:%M:%S"),
        bytes = r.bytes,
        ip = r.ip,
        uri = cloudfront_encode(&r.uri),
        status = r.status,
        referer = cloudfront_encode(&r.referer),
        ua = cloudfront_encode(r.user_agent),
        query = cloudfront_encode(&r.query),
        cs_bytes = rng.random_range(180..420u32),
        port = rng.random_range(1024..65535u32),
        ctype = content_type(&r.uri),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_cloudfront() {
        assert_eq!(
            cloudfront_encode("Mozilla/5.0 (X11; Linux) \"q\" é"),
            "Mozilla/5.0%20(X11;%20Linux)%20%22q%22%20%C3%A9"
        );
        assert_eq!(cloudfront_encode("https://a.b/c?d=e"), "https://a.b/c?d=e");
    }
}
