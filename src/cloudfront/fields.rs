//! The CloudFront standard log field catalogue: W3C field names, the Athena-style column names
//! the `logs` table exposes, and their Arrow types (docs/log-formats.md).
//!
//! Columns are mapped BY NAME from each file's `#Fields` line, never by position; the order
//! here is only the table's column order and the order assumed for a file without `#Fields`.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// How a raw field value becomes a column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `date`: `YYYY-MM-DD` as Arrow `Date32`.
    Date,
    /// Text kept exactly as logged (percent-encoded, `-` for empty).
    Text,
    /// Whole number; `-` or an unparsable value is NULL.
    Int64,
    /// Small whole number (ports, statuses); `-` or an unparsable value is NULL.
    Int32,
    /// Decimal number (seconds); `-` or an unparsable value is NULL.
    Float64,
    /// Derived: `date` + `time` as a UTC timestamp with second resolution.
    Timestamp,
    /// Derived: the session id of the request's token, NULL when none.
    SessionId,
    /// Derived: a 64-bit hash of these fields' raw values (TAB-joined), so that distinct
    /// values can be counted without building a string per row.
    Key(&'static [usize]),
}

/// One column of the `logs` table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Athena-style column name used in SQL.
    pub name: &'static str,
    /// The W3C field name in the `#Fields` line, or `None` for derived columns.
    pub field: Option<&'static str>,
    /// How the value is parsed.
    pub kind: ColumnKind,
    /// True for the twelve fields every CloudFront log has carried since 2012: if a query needs
    /// one and a file's `#Fields` lacks it, the object fails with an error naming the field.
    /// Later additions are NULL when a file does not carry them.
    pub core: bool,
}

const fn col(name: &'static str, field: &'static str, kind: ColumnKind, core: bool) -> Column {
    Column {
        name,
        field: Some(field),
        kind,
        core,
    }
}

use ColumnKind::*;

/// Every column of the `logs` table, in table order: the 35 documented fields, then `ts`,
/// `session_id` and the keys (`pair_key` of (c-ip, cs-uri-stem), `ip_key`, `user_agent_key`,
/// `referrer_key`), then `country` (c-country) and `asn` of newer logs. The first 33 are also the order assumed for a file without a `#Fields` line.
pub const COLUMNS: [Column; 43] = [
    col("date", "date", Date, true),
    col("time", "time", Text, true),
    col("location", "x-edge-location", Text, true),
    col("bytes", "sc-bytes", Int64, true),
    col("request_ip", "c-ip", Text, true),
    col("method", "cs-method", Text, true),
    col("host", "cs(Host)", Text, true),
    col("uri", "cs-uri-stem", Text, true),
    col("status", "sc-status", Int32, true),
    col("referrer", "cs(Referer)", Text, true),
    col("user_agent", "cs(User-Agent)", Text, true),
    col("query_string", "cs-uri-query", Text, true),
    col("cookie", "cs(Cookie)", Text, false),
    col("result_type", "x-edge-result-type", Text, false),
    col("request_id", "x-edge-request-id", Text, false),
    col("host_header", "x-host-header", Text, false),
    col("request_protocol", "cs-protocol", Text, false),
    col("request_bytes", "cs-bytes", Int64, false),
    col("time_taken", "time-taken", Float64, false),
    col("xforwarded_for", "x-forwarded-for", Text, false),
    col("ssl_protocol", "ssl-protocol", Text, false),
    col("ssl_cipher", "ssl-cipher", Text, false),
    col(
        "response_result_type",
        "x-edge-response-result-type",
        Text,
        false,
    ),
    col("http_version", "cs-protocol-version", Text, false),
    col("fle_status", "fle-status", Text, false),
    col("fle_encrypted_fields", "fle-encrypted-fields", Text, false),
    col("c_port", "c-port", Int32, false),
    col("time_to_first_byte", "time-to-first-byte", Float64, false),
    col(
        "x_edge_detailed_result_type",
        "x-edge-detailed-result-type",
        Text,
        false,
    ),
    col("sc_content_type", "sc-content-type", Text, false),
    col("sc_content_len", "sc-content-len", Int64, false),
    col("sc_range_start", "sc-range-start", Int64, false),
    col("sc_range_end", "sc-range-end", Int64, false),
    col(
        "distribution_tenant_id",
        "distribution-tenant-id",
        Text,
        false,
    ),
    col("connection_id", "connection-id", Text, false),
    Column {
        name: "ts",
        field: None,
        kind: Timestamp,
        core: false,
    },
    Column {
        name: "session_id",
        field: None,
        kind: SessionId,
        core: false,
    },
    key("pair_key", &[required::REQUEST_IP, required::URI]),
    key("ip_key", &[required::REQUEST_IP]),
    key("user_agent_key", &[required::USER_AGENT]),
    key("referrer_key", &[required::REFERRER]),
    // Standard logging v2 and real-time logs only; NULL in logs without them.
    col("country", "c-country", Text, false),
    col("asn", "asn", Text, false),
];

const fn key(name: &'static str, fields: &'static [usize]) -> Column {
    Column {
        name,
        field: None,
        kind: Key(fields),
        core: false,
    }
}

/// Number of fields in the default (Dec 2019 onwards) order used when a file has no `#Fields`.
pub const DEFAULT_FIELD_COUNT: usize = 33;

/// Index of a column in [`COLUMNS`] by its SQL name.
pub fn column_index(name: &str) -> Option<usize> {
    COLUMNS.iter().position(|c| c.name == name)
}

/// Index of a column in [`COLUMNS`] by its W3C field name (`cs-uri-stem`, ...).
pub fn column_for_field(field: &str) -> Option<usize> {
    COLUMNS
        .iter()
        .position(|c| c.field == Some(field))
        .or_else(|| {
            // Standard logging v2 Parquet names: `-()` turned into `_` (`cs_User_Agent_`).
            let wanted = plain_name(field);
            COLUMNS
                .iter()
                .position(|c| c.field.is_some_and(|f| plain_name(f) == wanted))
        })
}

/// A field name with `-`, `(` and `)` as `_`, lowercase, without trailing `_`:
/// `cs(User-Agent)` and `cs_User_Agent_` are both `cs_user_agent`.
fn plain_name(field: &str) -> String {
    field
        .chars()
        .map(|c| match c {
            '-' | '(' | ')' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect::<String>()
        .trim_end_matches('_')
        .to_string()
}

/// Column indices of the fields the parser always reads to validate and filter a row.
pub mod required {
    /// `date`
    pub const DATE: usize = 0;
    /// `time`
    pub const TIME: usize = 1;
    /// `bytes` (sc-bytes)
    pub const BYTES: usize = 3;
    /// `request_ip` (c-ip)
    pub const REQUEST_IP: usize = 4;
    /// `uri` (cs-uri-stem)
    pub const URI: usize = 7;
    /// `query_string` (cs-uri-query)
    pub const QUERY: usize = 11;
    /// `status` (sc-status)
    pub const STATUS: usize = 8;
    /// `referrer` (cs(Referer))
    pub const REFERRER: usize = 9;
    /// `user_agent` (cs(User-Agent))
    pub const USER_AGENT: usize = 10;
    /// `ts` (derived)
    pub const TS: usize = 35;
    /// `session_id` (derived)
    pub const SESSION_ID: usize = 36;
}

/// The Arrow type of a column.
pub fn data_type(kind: ColumnKind) -> DataType {
    match kind {
        Date => DataType::Date32,
        Text | SessionId => DataType::Utf8,
        Int64 => DataType::Int64,
        Int32 => DataType::Int32,
        Float64 => DataType::Float64,
        Timestamp => DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
        Key(_) => DataType::UInt64,
    }
}

/// The full schema of the `logs` table.
pub fn logs_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(
            COLUMNS
                .iter()
                .map(|c| {
                    // The parser rejects rows without a valid date, time, status and bytes,
                    // so those and `ts` are never NULL.
                    let nullable = !matches!(c.name, "date" | "time" | "status" | "bytes" | "ts");
                    Field::new(c.name, data_type(c.kind), nullable)
                })
                .collect::<Vec<_>>(),
        ))
    });
    Arc::clone(&SCHEMA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_indices_name_the_right_columns() {
        assert_eq!(COLUMNS[required::DATE].name, "date");
        assert_eq!(COLUMNS[required::TIME].name, "time");
        assert_eq!(COLUMNS[required::BYTES].name, "bytes");
        assert_eq!(COLUMNS[required::REQUEST_IP].name, "request_ip");
        assert_eq!(COLUMNS[required::URI].name, "uri");
        assert_eq!(COLUMNS[required::STATUS].name, "status");
        assert_eq!(COLUMNS[required::TS].name, "ts");
        assert_eq!(COLUMNS[required::SESSION_ID].name, "session_id");
        assert_eq!(COLUMNS[required::REFERRER].name, "referrer");
        assert_eq!(COLUMNS[required::USER_AGENT].name, "user_agent");
        assert_eq!(COLUMNS[required::QUERY].name, "query_string");
    }

    #[test]
    fn field_names_are_unique_and_twelve_are_core() {
        let mut fields: Vec<_> = COLUMNS.iter().filter_map(|c| c.field).collect();
        assert_eq!(fields.len(), 37);
        fields.sort_unstable();
        fields.dedup();
        assert_eq!(fields.len(), 37);
        assert_eq!(COLUMNS.iter().filter(|c| c.core).count(), 12);
        assert_eq!(
            column_for_field("cs(User-Agent)"),
            column_index("user_agent")
        );
    }

    #[test]
    fn v2_parquet_column_names_map_to_their_w3c_fields() {
        for (parquet, column) in [
            ("c_ip", "request_ip"),
            ("cs_uri_stem", "uri"),
            ("sc_status", "status"),
            ("sc_bytes", "bytes"),
            ("cs_User_Agent_", "user_agent"),
            ("cs_Referer_", "referrer"),
            ("cs_referer", "referrer"),
            ("date", "date"),
        ] {
            assert_eq!(column_for_field(parquet), column_index(column), "{parquet}");
        }
        assert_eq!(column_for_field("c_country"), column_index("country"));
        assert_eq!(column_for_field("c-country"), column_index("country"));
        assert_eq!(column_for_field("asn"), column_index("asn"));
        assert_eq!(column_for_field("c_city"), None);
        assert_eq!(column_for_field("cs_uri"), None);
    }
}
