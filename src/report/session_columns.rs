//! The columns of a session in the reports, defined once: the CSV header and rows, the
//! Parquet schema and arrays, and the text table's headings and cells all come from
//! [`SESSION_COLUMNS`] (the JSON report serialises [`ScoredSession`] itself).

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampSecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, TimeUnit};
use chrono::{DateTime, Utc};

use crate::score::{ScoredSession, format_time};

/// How a column reads its value from a session.
#[derive(Debug, Clone, Copy)]
pub enum ColumnValue {
    /// Text (the session id).
    Text(fn(&ScoredSession) -> String),
    /// A score or a component, shown with this many decimals in the text table.
    Number(fn(&ScoredSession) -> f64, usize),
    /// A count.
    Count(fn(&ScoredSession) -> u64),
    /// A time.
    Time(fn(&ScoredSession) -> DateTime<Utc>),
}

/// A column: its name (CSV, Parquet), its heading in the text table, and its value.
#[derive(Debug, Clone, Copy)]
pub struct SessionColumn {
    /// The name in the CSV header and the Parquet schema (a contract: do not rename).
    pub name: &'static str,
    /// The text table's heading.
    pub heading: &'static str,
    /// How the value is read.
    pub value: ColumnValue,
}

impl SessionColumn {
    /// The value as the CSV writes it: numbers as their shortest round-trip text, times in
    /// RFC 3339.
    pub fn csv(&self, s: &ScoredSession) -> String {
        match self.value {
            ColumnValue::Text(f) => f(s),
            ColumnValue::Number(f, _) => format!("{:?}", f(s)),
            ColumnValue::Count(f) => f(s).to_string(),
            ColumnValue::Time(f) => format_time(&f(s)),
        }
    }

    /// The value as the text table shows it: numbers rounded.
    pub fn text(&self, s: &ScoredSession) -> String {
        match self.value {
            ColumnValue::Number(f, decimals) => format!("{:.decimals$}", f(s)),
            _ => self.csv(s),
        }
    }

    /// The Arrow field and array of this column over `sessions` (times as UTC timestamps).
    pub fn arrow(&self, sessions: &[&ScoredSession]) -> (Field, ArrayRef) {
        let utc = || DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
        let (data_type, array): (DataType, ArrayRef) = match self.value {
            ColumnValue::Text(f) => (
                DataType::Utf8,
                Arc::new(StringArray::from_iter_values(sessions.iter().map(|s| f(s)))),
            ),
            ColumnValue::Number(f, _) => (
                DataType::Float64,
                Arc::new(Float64Array::from_iter_values(
                    sessions.iter().map(|s| f(s)),
                )),
            ),
            ColumnValue::Count(f) => (
                DataType::UInt64,
                Arc::new(UInt64Array::from_iter_values(sessions.iter().map(|s| f(s)))),
            ),
            ColumnValue::Time(f) => (
                utc(),
                Arc::new(
                    TimestampSecondArray::from_iter_values(
                        sessions.iter().map(|s| f(s).timestamp()),
                    )
                    .with_timezone("UTC"),
                ),
            ),
        };
        (Field::new(self.name, data_type, false), array)
    }
}

/// Every column, in order (a contract: do not reorder).
pub const SESSION_COLUMNS: [SessionColumn; 12] = [
    col(
        "session_id",
        "SESSION_ID",
        ColumnValue::Text(|s| s.session_id.to_string()),
    ),
    col("score", "SCORE", ColumnValue::Number(|s| s.score, 3)),
    col("ip_rate", "IP_RATE", ColumnValue::Number(|s| s.ip_rate, 3)),
    col(
        "ip_penalty",
        "IP_PEN",
        ColumnValue::Number(|s| s.ip_penalty, 1),
    ),
    col(
        "referer_penalty",
        "REF_PEN",
        ColumnValue::Number(|s| s.referer_penalty, 1),
    ),
    col(
        "ua_penalty",
        "UA_PEN",
        ColumnValue::Number(|s| s.ua_penalty, 1),
    ),
    col("pairs", "PAIRS", ColumnValue::Count(|s| s.pairs)),
    col(
        "distinct_ips",
        "IPS",
        ColumnValue::Count(|s| s.distinct_ips),
    ),
    col(
        "distinct_user_agents",
        "UAS",
        ColumnValue::Count(|s| s.distinct_user_agents),
    ),
    col(
        "distinct_referers",
        "REFS",
        ColumnValue::Count(|s| s.distinct_referers),
    ),
    col(
        "first_seen",
        "FIRST_SEEN",
        ColumnValue::Time(|s| s.first_seen),
    ),
    col("last_seen", "LAST_SEEN", ColumnValue::Time(|s| s.last_seen)),
];

const fn col(name: &'static str, heading: &'static str, value: ColumnValue) -> SessionColumn {
    SessionColumn {
        name,
        heading,
        value,
    }
}

/// The CSV header of `score --format csv`.
pub const CSV_HEADER: [&str; 12] = {
    let mut names = [""; 12];
    let mut i = 0;
    while i < names.len() {
        names[i] = SESSION_COLUMNS[i].name;
        i += 1;
    }
    names
};
