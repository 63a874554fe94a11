//! The line parser: one object's text to Arrow record batches of the projected columns.
//!
//! Fields are split on TAB at the byte level and mapped by name from the latest `#Fields` line
//! (the 33-field order when a file has none). Every data row's `date`, `time`, `sc-status` and
//! `sc-bytes` are validated: a row where one is unparsable, or with the wrong number of fields,
//! is malformed (counted, skipped, sampled with its line number). Rows the pushed-down
//! [`RowFilter`] rejects are dropped before any column is built.
//!
//! A line that starts with `{` is a standard logging v2 JSON record ([`json`]); real-time
//! records ([`realtime`]) carry their fields in a configured order instead of `#Fields`.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    RecordBatchOptions, StringBuilder, TimestampSecondBuilder, UInt64Builder,
};
use arrow::datatypes::SchemaRef;

use super::fields::{COLUMNS, ColumnKind, DEFAULT_FIELD_COUNT, column_for_field, required};
use super::filter::RowFilter;
use super::format::InputFormat;
use super::format::json;
use super::format::realtime::{self, RealtimeFields};
use super::keys::KEY_HASH;
use super::stats::ObjectCounts;
use super::values::*;
use crate::session::{SessionRule, cta};
use crate::session::{SessionToken, session_token};

/// What is wrong with a line or an object's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseProblem {
    /// A data line that is skipped and counted.
    Malformed(String),
    /// The object cannot be read for this query (e.g. `#Fields` lacks a needed field).
    Object(String),
}

/// Parses the lines of one object into batches of the projected columns.
pub struct ObjectParser {
    projection: Arc<[usize]>,
    schema: SchemaRef,
    filter: Arc<RowFilter>,
    batch_size: usize,
    /// For each column of `COLUMNS`: its position in a row under the current `#Fields`.
    positions: [Option<usize>; COLUMNS.len()],
    field_count: usize,
    /// Fields split out of each line: up to the last one this query reads. The rest are only
    /// counted, to check the line's field count.
    split_upto: usize,
    builders: Vec<Builder>,
    rows_in_batch: usize,
    spans: Vec<(usize, usize)>,
    scratch: String,
    last_date: ([u8; 10], i32),
    /// The keys of the last JSON record, in the order its fields are mapped.
    json_fields: Vec<String>,
    /// The form lines may be in (W3C rows, JSON records or both).
    format: InputFormat,
    /// Set when the row time is an epoch field (standard logging v2 `timestamp(ms)`, or
    /// `timestamp` in seconds with a fraction) because `date` and `time` were not logged.
    epoch: Option<EpochUnit>,
    /// The fields of a real-time record, used when the object turns out to be one.
    realtime_fields: RealtimeFields,
    /// Set once the object is read as a real-time log.
    realtime: bool,
    /// Set after the first row or `#Fields` line: the object's form is known.
    form_known: bool,
    /// Set by a `#Version` or `#Fields` line: the object says it is a CloudFront log.
    saw_header: bool,
    /// Set by a line that starts like a v2 JSON record (`{`): a JSON log, if a broken one.
    saw_json: bool,
    /// How a row names its session (`--session-from`).
    session_rule: SessionRule,
    /// Where `cs-headers` is in a row (real-time logs only; the `cta` rule reads it).
    headers_pos: Option<usize>,
    /// The names of the current fields, to map them again when the session rule is set.
    field_names: Vec<String>,
    /// What this object contributed so far.
    pub counts: ObjectCounts,
}

enum Builder {
    UInt64(UInt64Builder),
    Date(Date32Builder),
    Text(StringBuilder),
    Int64(Int64Builder),
    Int32(Int32Builder),
    Float64(Float64Builder),
    Timestamp(TimestampSecondBuilder),
}

impl ObjectParser {
    /// A parser producing `schema` (the projection of the full `logs` schema onto the
    /// `projection` column indices), dropping rows `filter` rejects.
    pub fn new(
        projection: Arc<[usize]>,
        schema: SchemaRef,
        filter: Arc<RowFilter>,
        batch_size: usize,
    ) -> Result<Self, ParseProblem> {
        let builders = projection
            .iter()
            .map(|&i| new_builder(COLUMNS[i].kind, batch_size))
            .collect();
        let mut parser = ObjectParser {
            projection,
            schema,
            filter,
            batch_size: batch_size.max(1),
            positions: [None; COLUMNS.len()],
            field_count: 0,
            split_upto: 0,
            builders,
            rows_in_batch: 0,
            spans: Vec::with_capacity(40),
            scratch: String::new(),
            last_date: ([0; 10], 0),
            json_fields: Vec::new(),
            format: InputFormat::Auto,
            epoch: None,
            realtime_fields: RealtimeFields::default(),
            realtime: false,
            form_known: false,
            saw_header: false,
            saw_json: false,
            session_rule: SessionRule::Prefix,
            headers_pos: None,
            field_names: Vec::new(),
            counts: ObjectCounts::default(),
        };
        let default: Vec<&str> = COLUMNS[..DEFAULT_FIELD_COUNT]
            .iter()
            .filter_map(|c| c.field)
            .collect();
        parser.set_fields(&default)?;
        Ok(parser)
    }

    /// Handles one line. Returns a full batch when one is ready.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<RecordBatch>, ParseProblem> {
        if line.is_empty() {
            return Ok(None);
        }
        if line[0] == b'#' {
            if self.format == InputFormat::Realtime {
                return Err(ParseProblem::Object(
                    "a W3C header line, not a real-time log (--format-in realtime)".to_string(),
                ));
            }
            self.form_known = true;
            self.saw_header |= line.starts_with(b"#Fields:") || line.starts_with(b"#Version:");
            self.header_line(line)?;
            return Ok(None);
        }
        if !self.form_known {
            self.form_known = true;
            let realtime = match self.format {
                InputFormat::Realtime => true,
                InputFormat::Auto => realtime::looks_like_record(line),
                _ => false,
            };
            if realtime {
                self.realtime = true;
                let names = self.realtime_fields.names();
                self.set_fields(&names)?;
            }
        }
        self.counts.rows_read += 1;
        self.saw_json |= line[0] == b'{';
        let row = match (line[0] == b'{', self.format) {
            (true, InputFormat::Auto | InputFormat::Json) if !self.realtime => {
                self.json_line(line)?
            }
            (false, InputFormat::Json) => Err("not a JSON record (--format-in json)".to_string()),
            (true, InputFormat::Realtime) => {
                Err("not a real-time record (--format-in realtime)".to_string())
            }
            _ => self.data_line(line),
        };
        if let Err(reason) = row {
            self.counts.rows_malformed += 1;
            return Err(ParseProblem::Malformed(reason));
        }
        if self.rows_in_batch >= self.batch_size {
            return self.finish_batch().map(Some);
        }
        Ok(None)
    }

    /// Reads lines of `format` only (a line of the other text form is malformed); a
    /// real-time log's records carry `realtime_fields`.
    pub fn with_format(mut self, format: InputFormat, realtime_fields: RealtimeFields) -> Self {
        self.format = format;
        self.realtime_fields = realtime_fields;
        self
    }

    /// True when the object so far is not a CloudFront log at all: it had lines, none of
    /// them a record, no CloudFront header (`#Version`, `#Fields`), and none looked like a
    /// JSON or real-time record. A log with corrupt lines is a log; an nginx log or a stray
    /// file is not.
    pub fn is_not_a_log(&self) -> bool {
        !self.saw_header
            && !self.realtime
            && !self.saw_json
            && self.counts.rows_read > 0
            && self.counts.rows_malformed == self.counts.rows_read
    }

    /// Names sessions by `rule` (the `cta` rule also reads the query and the headers).
    pub fn with_session_rule(mut self, rule: SessionRule) -> Result<Self, ParseProblem> {
        self.session_rule = rule;
        let names = std::mem::take(&mut self.field_names);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.set_fields(&names)?;
        Ok(self)
    }

    /// Counts a line that was too long to buffer as read and malformed.
    pub fn too_long_line(&mut self) {
        self.counts.rows_read += 1;
        self.counts.rows_malformed += 1;
    }

    /// The rows buffered since the last batch, if any.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, ParseProblem> {
        if self.rows_in_batch == 0 {
            return Ok(None);
        }
        self.finish_batch().map(Some)
    }

    /// A JSON record: its keys become the fields (when they differ from the last record's)
    /// and its values a TAB-separated row. Ok(Err) for a malformed record.
    fn json_line(&mut self, line: &[u8]) -> Result<Result<(), String>, ParseProblem> {
        let (fields, row) = match json::record_as_row(line) {
            Ok(record) => record,
            Err(why) => return Ok(Err(why)),
        };
        if fields != self.json_fields {
            let names: Vec<&str> = fields.iter().map(String::as_str).collect();
            self.set_fields(&names)?;
            self.json_fields = fields;
        }
        Ok(self.data_line(row.as_bytes()))
    }

    fn header_line(&mut self, line: &[u8]) -> Result<(), ParseProblem> {
        let Some(rest) = line.strip_prefix(b"#Fields:") else {
            return Ok(()); // #Version and comments
        };
        let text = String::from_utf8_lossy(rest);
        let names: Vec<&str> = text.split_ascii_whitespace().collect();
        self.json_fields.clear();
        self.set_fields(&names)
    }

    fn set_fields(&mut self, names: &[&str]) -> Result<(), ParseProblem> {
        let mut positions = [None; COLUMNS.len()];
        for (pos, name) in names.iter().enumerate() {
            if let Some(idx) = column_for_field(name) {
                positions[idx] = Some(pos);
            }
        }
        positions[required::TS] = positions[required::DATE].and(positions[required::TIME]);
        positions[required::SESSION_ID] = positions[required::URI];
        self.epoch = None;
        if positions[required::TS].is_none() {
            // No `date` and `time`: the row time may come from an epoch field instead.
            let epoch_field = |wanted: &str| names.iter().position(|n| *n == wanted);
            if let Some(p) = epoch_field("timestamp(ms)").or_else(|| epoch_field("timestamp_ms_")) {
                positions[required::TS] = Some(p);
                self.epoch = Some(EpochUnit::Millis);
            } else if let Some(p) = epoch_field("timestamp") {
                positions[required::TS] = Some(p);
                self.epoch = Some(EpochUnit::Seconds);
            }
        }
        let time_fields: &[usize] = if self.epoch.is_some() {
            &[]
        } else {
            &[required::DATE, required::TIME]
        };
        for &idx in time_fields
            .iter()
            .chain(&[required::STATUS, required::BYTES])
        {
            if positions[idx].is_none() {
                return Err(missing(idx, self.realtime));
            }
        }
        for &idx in self.projection.iter() {
            let needs: &[usize] = match COLUMNS[idx].kind {
                ColumnKind::SessionId => &[required::URI],
                ColumnKind::Key(fields) => fields,
                // A real-time configuration may leave out any field: a plain column it lacks
                // is NULL. Keys and session ids are scored, so their fields stay required.
                _ if self.realtime => &[],
                _ => std::slice::from_ref(&idx),
            };
            for &need in needs {
                // With an epoch field, `date` and `time` are derived from it.
                let derived =
                    self.epoch.is_some() && (need == required::DATE || need == required::TIME);
                if COLUMNS[need].core && positions[need].is_none() && !derived {
                    return Err(missing(need, self.realtime));
                }
            }
        }
        if self.filter.session_required && positions[required::URI].is_none() {
            return Err(missing(required::URI, self.realtime));
        }
        let mut read = vec![
            required::DATE,
            required::TIME,
            required::TS,
            required::STATUS,
            required::BYTES,
            required::URI,
        ];
        let headers_pos = names.iter().position(|n| *n == "cs-headers");
        if self.session_rule == SessionRule::Cta {
            read.push(required::QUERY);
        }
        for &idx in self.projection.iter() {
            match COLUMNS[idx].kind {
                ColumnKind::Key(fields) => read.extend_from_slice(fields),
                _ => read.push(idx),
            }
        }
        let cta_headers = headers_pos.filter(|_| self.session_rule == SessionRule::Cta);
        self.split_upto = read
            .iter()
            .filter_map(|&idx| positions[idx])
            .chain(cta_headers)
            .max()
            .map_or(0, |last| last + 1);
        self.positions = positions;
        self.headers_pos = headers_pos;
        self.field_count = names.len();
        self.field_names = names.iter().map(|n| n.to_string()).collect();
        Ok(())
    }

    fn data_line(&mut self, line: &[u8]) -> Result<(), String> {
        self.spans.clear();
        let mut start = 0;
        let mut rest_from = None;
        for tab in memchr::memchr_iter(b'\t', line) {
            self.spans.push((start, tab));
            start = tab + 1;
            if self.spans.len() == self.split_upto {
                rest_from = Some(start);
                break;
            }
        }
        let mut found = match rest_from {
            // Every field this query reads is split: count the others (vectorised).
            Some(from) => self.spans.len() + 1 + memchr::memchr_iter(b'\t', &line[from..]).count(),
            None => {
                self.spans.push((start, line.len()));
                self.spans.len()
            }
        };
        // A trailing TAB (or several) adds empty fields: ignore them.
        if found > self.field_count {
            let trailing = line.iter().rev().take_while(|&&b| b == b'\t').count();
            found = found.saturating_sub(trailing).max(self.field_count);
        }
        if found != self.field_count {
            return Err(if self.realtime {
                format!(
                    "expected {} fields (the --realtime-fields set), found {found}",
                    self.field_count
                )
            } else {
                format!("expected {} fields, found {found}", self.field_count)
            });
        }
        // A real-time `cs-uri-stem` may carry the query: the path ends before it.
        let mut uri_query = (0, 0);
        if self.realtime
            && let Some(p) = self.positions[required::URI]
        {
            let (s, e) = self.spans[p];
            let end = s + realtime::uri_path(&line[s..e]).len();
            self.spans[p].1 = end;
            uri_query = ((end + 1).min(e), e);
        }
        let field = |idx: usize| -> &[u8] {
            match self.positions[idx] {
                Some(p) => {
                    let (s, e) = self.spans[p];
                    &line[s..e]
                }
                None => b"",
            }
        };
        let (ts, days) = match self.epoch {
            Some(unit) => {
                let raw = field(required::TS);
                let ts = parse_epoch(raw, unit).ok_or_else(|| {
                    format!("{} is not an epoch time: {:?}", unit.field(), lossy(raw))
                })?;
                (ts, i32::try_from(ts.div_euclid(86_400)).unwrap_or(i32::MAX))
            }
            None => {
                let date_bytes = field(required::DATE);
                let days = if date_bytes.len() == 10 && date_bytes == self.last_date.0 {
                    self.last_date.1
                } else {
                    let days = parse_date(date_bytes).ok_or_else(|| {
                        format!("date is not YYYY-MM-DD: {:?}", lossy(date_bytes))
                    })?;
                    self.last_date.0.copy_from_slice(date_bytes);
                    self.last_date.1 = days;
                    days
                };
                let time_bytes = field(required::TIME);
                let secs = parse_time(time_bytes)
                    .ok_or_else(|| format!("time is not HH:MM:SS: {:?}", lossy(time_bytes)))?;
                (i64::from(days) * 86_400 + i64::from(secs), days)
            }
        };
        let status_bytes = field(required::STATUS);
        let status = parse_status(status_bytes)
            .ok_or_else(|| format!("sc-status is not a status code: {:?}", lossy(status_bytes)))?;
        let bytes_bytes = field(required::BYTES);
        let bytes = parse_u63(bytes_bytes).ok_or_else(|| {
            format!(
                "sc-bytes is not a number below 2^63: {:?}",
                lossy(bytes_bytes)
            )
        })?;
        // Why a rejected token gave no id (the prefix rule rejects only bad ids).
        let mut reject = cta::Reject::BadId;
        let cta_session;
        let token = match (self.positions[required::URI], self.session_rule) {
            (None, _) => SessionToken::None,
            (Some(_), SessionRule::Prefix) => session_token(field(required::URI)),
            (Some(_), SessionRule::Cta) => {
                let query = match field(required::QUERY) {
                    b"" | b"-" => &line[uri_query.0..uri_query.1],
                    query => query,
                };
                let headers = match self.headers_pos {
                    Some(p) if p < self.spans.len() => &line[self.spans[p].0..self.spans[p].1],
                    _ => b"",
                };
                cta_session = cta::session(field(required::URI), query, headers);
                if let cta::CtaSession::Rejected(why) = &cta_session {
                    reject = *why;
                }
                cta_session.as_token()
            }
        };
        match token {
            SessionToken::Session(_) => {}
            SessionToken::None => self.counts.rows_without_session += 1,
            SessionToken::Rejected => self.counts.reject(reject),
        }
        if !self.filter.keeps(ts, i64::from(status), bytes)
            || (self.filter.session_required && !matches!(token, SessionToken::Session(_)))
        {
            return Ok(());
        }
        for (builder, &idx) in self.builders.iter_mut().zip(self.projection.iter()) {
            let raw = match self.positions[idx] {
                Some(p) => {
                    let (s, e) = self.spans[p];
                    Some(&line[s..e])
                }
                None => None,
            };
            match (builder, COLUMNS[idx].kind) {
                (Builder::Timestamp(b), _) => b.append_value(ts),
                (Builder::Date(b), _) => b.append_value(days),
                (Builder::Text(b), _) if idx == required::TIME && self.epoch.is_some() => {
                    let secs = ts.rem_euclid(86_400);
                    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
                    b.append_value(format!("{h:02}:{m:02}:{s:02}"))
                }
                (Builder::Int32(b), _) if idx == required::STATUS => b.append_value(status),
                (Builder::Int64(b), _) if idx == required::BYTES => b.append_value(bytes),
                (Builder::UInt64(b), ColumnKind::Key(fields)) => {
                    let mut hasher = KEY_HASH.build_hasher();
                    for (i, &f) in fields.iter().enumerate() {
                        if i > 0 {
                            hasher.write_u8(b'\t');
                        }
                        hasher.write(field(f));
                    }
                    b.append_value(hasher.finish())
                }
                (Builder::UInt64(b), _) => b.append_null(),
                (Builder::Text(b), ColumnKind::SessionId) => match token {
                    SessionToken::Session(id) => append_text(b, id, &mut self.scratch),
                    _ => b.append_null(),
                },
                (Builder::Text(b), _) => match raw {
                    Some(v) => append_text(b, v, &mut self.scratch),
                    None => b.append_null(),
                },
                (Builder::Int64(b), _) => b.append_option(raw.and_then(parse_i64)),
                (Builder::Int32(b), _) => {
                    b.append_option(raw.and_then(parse_i64).and_then(|v| i32::try_from(v).ok()))
                }
                (Builder::Float64(b), _) => b.append_option(raw.and_then(parse_f64)),
            }
        }
        self.rows_in_batch += 1;
        Ok(())
    }

    fn finish_batch(&mut self) -> Result<RecordBatch, ParseProblem> {
        let columns: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        // A finished builder is left empty with no capacity: size the next batch's buffers
        // now rather than growing them a doubling at a time.
        for (builder, &idx) in self.builders.iter_mut().zip(self.projection.iter()) {
            *builder = new_builder(COLUMNS[idx].kind, self.batch_size);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows_in_batch));
        self.rows_in_batch = 0;
        RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &options)
            .map_err(|e| ParseProblem::Object(format!("building a record batch: {e}")))
    }
}

/// The object-level problem of a needed field that the header (or, for a real-time log, the
/// `--realtime-fields` set) lacks.
fn missing(idx: usize, realtime: bool) -> ParseProblem {
    let field = match idx {
        required::TS if realtime => "timestamp",
        required::TS => "date",
        required::SESSION_ID => "cs-uri-stem",
        _ => COLUMNS[idx].field.unwrap_or(COLUMNS[idx].name),
    };
    let source = if realtime {
        "the real-time fields (--realtime-fields) lack"
    } else {
        "the #Fields line lacks"
    };
    ParseProblem::Object(format!("{source} `{field}`, which this query needs"))
}

fn new_builder(kind: ColumnKind, rows: usize) -> Builder {
    /// Bytes reserved per text value; longer values grow the buffer as usual.
    const TEXT_BYTES: usize = 24;
    match kind {
        ColumnKind::Key(_) => Builder::UInt64(UInt64Builder::with_capacity(rows)),
        ColumnKind::Date => Builder::Date(Date32Builder::with_capacity(rows)),
        ColumnKind::Text | ColumnKind::SessionId => {
            Builder::Text(StringBuilder::with_capacity(rows, rows * TEXT_BYTES))
        }
        ColumnKind::Int64 => Builder::Int64(Int64Builder::with_capacity(rows)),
        ColumnKind::Int32 => Builder::Int32(Int32Builder::with_capacity(rows)),
        ColumnKind::Float64 => Builder::Float64(Float64Builder::with_capacity(rows)),
        ColumnKind::Timestamp => {
            Builder::Timestamp(TimestampSecondBuilder::with_capacity(rows).with_timezone("UTC"))
        }
    }
}

impl Builder {
    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::UInt64(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

/// Appends raw field bytes as text. CloudFront percent-encodes every byte >= 127, so a raw
/// line is ASCII; a byte that is not is percent-encoded the same way, which keeps the value
/// valid UTF-8 and keeps different raw values different.
fn append_text(b: &mut StringBuilder, raw: &[u8], scratch: &mut String) {
    if raw.is_ascii() {
        // ASCII is valid UTF-8.
        b.append_value(std::str::from_utf8(raw).unwrap_or_default());
    } else {
        scratch.clear();
        for &byte in raw {
            if byte.is_ascii() {
                scratch.push(char::from(byte));
            } else {
                scratch.push_str(&format!("%{byte:02X}"));
            }
        }
        b.append_value(scratch.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_bytes_are_percent_encoded() {
        let mut b = StringBuilder::new();
        let mut scratch = String::new();
        append_text(&mut b, b"Mozilla\xff\xc3\xa9", &mut scratch);
        let arr = b.finish();
        assert_eq!(arr.value(0), "Mozilla%FF%C3%A9");
    }

    fn parser_of_everything() -> ObjectParser {
        parser_of((0..COLUMNS.len()).collect())
    }

    fn parser_of(projection: Arc<[usize]>) -> ObjectParser {
        let schema = Arc::new(
            crate::cloudfront::logs_schema()
                .project(&projection)
                .expect("projection"),
        );
        ObjectParser::new(projection, schema, Arc::new(RowFilter::default()), 7).expect("parser")
    }

    /// A real-time record with the default field set: `timestamp`, `c-ip`, `sc-status`,
    /// `sc-bytes`, `cs-uri-stem`, `cs-user-agent` and `cs-referer` as given, `-` elsewhere.
    fn realtime_record(ts: &str, uri: &str, agent: &str) -> String {
        RealtimeFields::default()
            .names()
            .iter()
            .map(|name| match *name {
                "timestamp" => ts,
                "c-ip" => "192.0.2.7",
                "sc-status" => "206",
                "sc-bytes" => "5000",
                "cs-uri-stem" => uri,
                "cs-user-agent" => agent,
                "cs-referer" => "https://example.com/",
                _ => "-",
            })
            .collect::<Vec<_>>()
            .join("\t")
    }

    fn text_column(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
        let column = batch.column_by_name(name).expect("column");
        let strings = column
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("text");
        strings.iter().map(|v| v.map(str::to_string)).collect()
    }

    fn key_column(batch: &RecordBatch, name: &str) -> Vec<u64> {
        let column = batch.column_by_name(name).expect("column");
        let keys = column
            .as_any()
            .downcast_ref::<arrow::array::UInt64Array>()
            .expect("keys");
        keys.values().to_vec()
    }

    #[test]
    fn realtime_records_are_read_by_the_configured_field_order() {
        let token = "sess1.eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJzZXNzMSJ9.c2ln";
        let mut p = parser_of_everything();
        for line in [
            realtime_record(
                "1767225600.123",
                &format!("/{token}/v/1.ts?x=1&y=2"),
                "UA%201",
            ),
            realtime_record("1767225601.999", &format!("/{token}/v/2.ts"), "UA%202"),
        ] {
            assert_eq!(p.push_line(line.as_bytes()), Ok(None));
        }
        let batch = p.finish().expect("batch").expect("rows");
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            text_column(&batch, "uri"),
            [
                Some(format!("/{token}/v/1.ts")),
                Some(format!("/{token}/v/2.ts"))
            ]
        );
        assert_eq!(
            text_column(&batch, "session_id"),
            [Some("sess1".to_string()), Some("sess1".to_string())]
        );
        assert_eq!(
            text_column(&batch, "user_agent"),
            [Some("UA%201".to_string()), Some("UA%202".to_string())]
        );
        assert_eq!(
            text_column(&batch, "time"),
            [Some("00:00:00".to_string()), Some("00:00:01".to_string())]
        );
        let ts = batch
            .column_by_name("ts")
            .expect("ts")
            .as_any()
            .downcast_ref::<arrow::array::TimestampSecondArray>()
            .expect("timestamps")
            .values()
            .to_vec();
        assert_eq!(ts, [1_767_225_600, 1_767_225_601]);
        // The query string does not change the (IP, URI) pair.
        let pairs = key_column(&batch, "pair_key");
        let mut same = parser_of_everything();
        let line = realtime_record("1767225600.000", &format!("/{token}/v/1.ts"), "UA%201");
        assert_eq!(same.push_line(line.as_bytes()), Ok(None));
        let plain = same.finish().expect("batch").expect("rows");
        assert_eq!(pairs[0], key_column(&plain, "pair_key")[0]);
    }

    /// A W3C row of the 33 default fields with `uri` and `query`.
    fn w3c_row(uri: &str, query: &str) -> String {
        format!(
            "2026-01-01\t00:00:01\tFRA56\t5000\t192.0.2.1\tGET\td.net\t{uri}\t200\t-\tUA\t{query}\t-\tHit\tID\th\thttps\t300\t0.01\t-\tTLSv1.3\tC\tHit\tHTTP/2.0\t-\t-\t5\t0.1\tHit\tvideo/MP2T\t46\t-\t-"
        )
    }

    #[test]
    fn the_cta_rule_takes_the_cti_and_counts_each_reject_by_reason() {
        use crate::session::cta::{Cti, encode_token};
        let token = |id: &str| encode_token(&Cti::Text(id.into()), 0);
        let narrow: Arc<[usize]> = ["ts", "session_id", "pair_key"]
            .iter()
            .filter_map(|c| crate::cloudfront::fields::column_index(c))
            .collect();
        for projection in [(0..COLUMNS.len()).collect(), narrow] {
            let mut p = parser_of(projection)
                .with_session_rule(SessionRule::Cta)
                .expect("rule");
            let lines = [
                w3c_row("/vod/a/1.ts", &format!("x=1&CAT={}", token("fromQuery"))),
                w3c_row(&format!("/{}/vod/a/1.ts", token("fromPath")), "-"),
                w3c_row("/vod/a/1.ts", "CAT=garbage"),
                w3c_row("/vod/a/1.ts", &format!("CAT={}", token("bad.id"))),
                // The prefix form is no session under this rule.
                w3c_row("/abc.h.p.s/vod/a/1.ts", "-"),
            ];
            for line in &lines {
                assert_eq!(p.push_line(line.as_bytes()), Ok(None));
            }
            let batch = p.finish().expect("batch").expect("rows");
            assert_eq!(
                text_column(&batch, "session_id")
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>(),
                ["fromQuery", "fromPath"]
            );
            let c = p.counts;
            assert_eq!(
                (
                    c.rows_read,
                    c.rows_without_session,
                    c.rows_rejected_session,
                    c.rows_rejected_undecodable,
                    c.rows_rejected_without_cti,
                    c.rows_rejected_bad_id
                ),
                (5, 1, 2, 1, 0, 1)
            );
        }
        // Under the prefix rule a bad id is a rejected session of reason `bad_id`.
        let mut p = parser_of_everything();
        assert_eq!(
            p.push_line(w3c_row("/a+b.h.p.s/1.ts", "-").as_bytes()),
            Ok(None)
        );
        assert_eq!(
            (
                p.counts.rows_rejected_session,
                p.counts.rows_rejected_bad_id
            ),
            (1, 1)
        );
    }

    #[test]
    fn real_time_records_carry_the_token_in_the_uri_query_or_the_headers() {
        use crate::session::cta::{Cti, encode_token};
        let token = |id: &str| encode_token(&Cti::Text(id.into()), 0);
        let record = |uri: &str, headers: &str| {
            RealtimeFields::default()
                .names()
                .iter()
                .map(|name| match *name {
                    "timestamp" => "1767225600.123".to_string(),
                    "c-ip" => "192.0.2.7".to_string(),
                    "sc-status" => "206".to_string(),
                    "sc-bytes" => "5000".to_string(),
                    "cs-uri-stem" => uri.to_string(),
                    "cs-headers" => headers.to_string(),
                    _ => "-".to_string(),
                })
                .collect::<Vec<_>>()
                .join("\t")
        };
        let mut p = parser_of_everything()
            .with_session_rule(SessionRule::Cta)
            .expect("rule");
        for line in [
            record(&format!("/v/1.ts?CAT={}", token("inUri")), "-"),
            record(
                "/v/1.ts",
                &format!(
                    "Host:d.net%0ACTA-Common-Access-Token:{}%0A",
                    token("inHeader")
                ),
            ),
            record("/v/1.ts", "Host:d.net%0A"),
        ] {
            assert_eq!(p.push_line(line.as_bytes()), Ok(None));
        }
        let batch = p.finish().expect("batch").expect("rows");
        assert_eq!(
            text_column(&batch, "session_id")
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
            ["inUri", "inHeader"]
        );
        assert_eq!(text_column(&batch, "uri")[0].as_deref(), Some("/v/1.ts"));
        assert_eq!(p.counts.rows_without_session, 1);
    }

    #[test]
    fn realtime_records_of_another_field_set_are_malformed_and_forced_forms_fail() {
        let line = realtime_record("1767225600.123", "/a.b.c/1.ts", "UA");
        let fewer = "timestamp,c-ip,sc-status,sc-bytes,cs-uri-stem,cs-user-agent,cs-referer"
            .parse::<RealtimeFields>()
            .expect("fields");
        let mut p = parser_of_everything().with_format(InputFormat::Auto, fewer);
        assert_eq!(
            p.push_line(line.as_bytes()),
            Err(ParseProblem::Malformed(
                "expected 7 fields (the --realtime-fields set), found 45".to_string()
            ))
        );
        assert_eq!((p.counts.rows_read, p.counts.rows_malformed), (1, 1));
        // A set without a field the query reads fails the object, naming it.
        let no_referer = "timestamp,c-ip,sc-status,sc-bytes,cs-uri-stem,cs-user-agent"
            .parse::<RealtimeFields>()
            .expect("fields");
        let mut p = parser_of_everything().with_format(InputFormat::Realtime, no_referer);
        assert_eq!(
            p.push_line(line.as_bytes()),
            Err(ParseProblem::Object(
                "the real-time fields (--realtime-fields) lack `cs(Referer)`, which this query \
                 needs"
                    .to_string()
            ))
        );
        // Forced: a W3C header and a JSON record are not real-time records.
        let mut p =
            parser_of_everything().with_format(InputFormat::Realtime, RealtimeFields::default());
        assert_eq!(
            p.push_line(b"#Version: 1.0"),
            Err(ParseProblem::Object(
                "a W3C header line, not a real-time log (--format-in realtime)".to_string()
            ))
        );
        assert_eq!(
            p.push_line(b"{\"timestamp\": \"1767225600.123\"}"),
            Err(ParseProblem::Malformed(
                "not a real-time record (--format-in realtime)".to_string()
            ))
        );
        // Forced W3C: the epoch time is not a date.
        let mut p = parser_of_everything().with_format(InputFormat::W3c, RealtimeFields::default());
        assert_eq!(
            p.push_line(line.as_bytes()),
            Err(ParseProblem::Malformed(
                "expected 33 fields, found 45".to_string()
            ))
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_lines_never_panic_and_every_data_line_is_counted(
            lines in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), 0..40)
        ) {
            let mut p = parser_of_everything();
            let mut rows = 0usize;
            for line in &lines {
                // A header line may fail the object; data lines are either rows or malformed.
                if let Ok(Some(batch)) = p.push_line(line) {
                    rows += batch.num_rows();
                }
            }
            if let Ok(Some(batch)) = p.finish() {
                rows += batch.num_rows();
            }
            let data_lines = lines.iter().filter(|l| !l.is_empty() && l[0] != b'#').count() as u64;
            proptest::prop_assert_eq!(p.counts.rows_read, data_lines);
            proptest::prop_assert_eq!(rows as u64 + p.counts.rows_malformed, data_lines);
        }

        #[test]
        fn a_narrow_projection_judges_lines_as_the_full_one_does(
            extra_tabs in 0usize..3, drop_fields in 0usize..3, trailing in 0usize..3,
            field in 0usize..40, value in "[a-z]{0,3}"
        ) {
            // Only the fields up to cs(User-Agent) are split for `ts, session_id, pair_key`;
            // the rest are counted. Malformed or not, and why, must not depend on that.
            let mut fields: Vec<String> = "2026-01-01\t00:00:01\tFRA56\t5000\t192.0.2.1\tGET\td.net\t/s1.h.p.s/a.ts\t200\t-\tUA\t-\t-\tHit\tID\th\thttps\t300\t0.01\t-\tTLSv1.3\tC\tHit\tHTTP/2.0\t-\t-\t5\t0.1\tHit\tvideo/MP2T\t46\t-\t-"
                .split('\t').map(str::to_string).collect();
            fields.truncate(fields.len() - drop_fields);
            fields.extend(std::iter::repeat_n(String::from("x"), extra_tabs));
            let n = fields.len();
            fields[field % n] = value;
            let line = format!("{}{}", fields.join("\t"), "\t".repeat(trailing));
            let narrow: Arc<[usize]> = ["ts", "session_id", "pair_key"]
                .iter()
                .filter_map(|c| crate::cloudfront::fields::column_index(c))
                .collect();
            let (mut full, mut part) = (parser_of_everything(), parser_of(narrow));
            let verdict = |r: Result<Option<RecordBatch>, ParseProblem>| r.map(|_| ());
            proptest::prop_assert_eq!(verdict(full.push_line(line.as_bytes())), verdict(part.push_line(line.as_bytes())));
            proptest::prop_assert_eq!(full.counts.rows_malformed, part.counts.rows_malformed);
        }

        #[test]
        fn mutated_valid_lines_never_panic(
            cut in 0usize..400, byte in proptest::prelude::any::<u8>(), at in 0usize..400
        ) {
            let line = "2026-01-01\t00:00:01\tFRA56\t5000\t192.0.2.1\tGET\td.net\t/s1.h.p.s/a.ts\t200\t-\tUA\t-\t-\tHit\tID\th\thttps\t300\t0.01\t-\tTLSv1.3\tC\tHit\tHTTP/2.0\t-\t-\t5\t0.1\tHit\tvideo/MP2T\t46\t-\t-";
            let mut bytes = line.as_bytes().to_vec();
            bytes.truncate(cut.max(1));
            let n = bytes.len();
            bytes[at % n] = byte;
            let mut p = parser_of_everything();
            let _ = p.push_line(&bytes);
            let _ = p.finish();
            proptest::prop_assert_eq!(p.counts.rows_read, u64::from(bytes[0] != b'#'));
        }
    }
}
