//! Standard logging v2 JSON: one record per line, W3C field names as keys, string values. A
//! record becomes the `#Fields` of its line and a W3C row, so both forms of the same rows give
//! the same columns.

/// A JSON record as its field names and the TAB-separated W3C row of its values (an empty
/// string or null is `-`, and bytes the W3C form percent-encodes are encoded), or why the line
/// is not a record.
pub fn record_as_row(line: &[u8]) -> Result<(Vec<String>, String), String> {
    let record: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON log record: {e}"))?;
    let mut row = String::with_capacity(line.len());
    for (i, value) in record.values().enumerate() {
        if i > 0 {
            row.push('\t');
        }
        match value {
            serde_json::Value::String(s) if s.is_empty() => row.push('-'),
            // The W3C form percent-encodes these; a JSON string may hold them raw.
            serde_json::Value::String(s) => super::parquet::push_escaped(&mut row, s),
            serde_json::Value::Null => row.push('-'),
            other => row.push_str(&other.to_string()),
        }
    }
    Ok((record.keys().cloned().collect(), row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_its_field_names_and_a_w3c_row() {
        let (names, row) = record_as_row(
            br#"{"date":"2026-01-15","sc-bytes":"2048","cs-referer":"","x":null,"n":5}"#,
        )
        .expect("a record");
        // serde_json keeps keys sorted; the names and the values come in that one order.
        assert_eq!(names, ["cs-referer", "date", "n", "sc-bytes", "x"]);
        assert_eq!(row, "-\t2026-01-15\t5\t2048\t-");
        assert!(record_as_row(b"{not json").is_err());
    }
}
