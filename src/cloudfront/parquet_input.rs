//! Standard logging v2 Parquet objects (`shared/docs/CLOUDFRONT-LOGS.md`): one column per chosen
//! field, named like the W3C field with `-()` turned into `_` (`c_ip`, `cs_User_Agent_`). Each
//! row is handed to the line parser as the TAB-separated line the W3C form would have, after a
//! `#Fields` line naming the columns, so both forms of the same rows give the same columns,
//! validation and counts.

use std::sync::Arc;

use arrow::array::{Array, RecordBatchReader, StringArray};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::decode::Line;

/// The four bytes a Parquet file starts (and ends) with.
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// True when `bytes` are a Parquet file.
pub fn is_parquet(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes.starts_with(PARQUET_MAGIC) && bytes.ends_with(PARQUET_MAGIC)
}

/// Calls `on_line` with a `#Fields` line (numbered 0) and then every row as a W3C line
/// (numbered from 1). An object that is not readable Parquet is an `Err` with the reason.
pub fn for_each_parquet_line<E>(
    bytes: &[u8],
    mut on_line: impl FnMut(u64, Line<'_>) -> Result<(), E>,
) -> Result<Result<(), E>, String> {
    let data = bytes::Bytes::copy_from_slice(bytes);
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)
        .and_then(|b| b.build())
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let schema = reader.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let header = format!("#Fields: {}", names.join(" "));
    if let Err(e) = on_line(0, Line::Text(header.as_bytes())) {
        return Ok(Err(e));
    }
    let mut line_no = 0u64;
    let mut line = String::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("row {}: {e}", line_no + 1))?;
        let columns: Vec<Arc<dyn Array>> = batch
            .columns()
            .iter()
            .map(|c| arrow::compute::cast(c, &DataType::Utf8))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("a column cannot be read as text: {e}"))?;
        let strings: Vec<&StringArray> = columns
            .iter()
            .map(|c| {
                c.as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| "a column cast to text is not a string array".to_string())
            })
            .collect::<Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            line.clear();
            for (i, column) in strings.iter().enumerate() {
                if i > 0 {
                    line.push('\t');
                }
                match column.is_valid(row).then(|| column.value(row)) {
                    None | Some("") => line.push('-'),
                    Some(value) => push_escaped(&mut line, value),
                }
            }
            line_no += 1;
            if let Err(e) = on_line(line_no, Line::Text(line.as_bytes())) {
                return Ok(Err(e));
            }
        }
    }
    Ok(Ok(()))
}

/// A value as the W3C form writes it: TAB and line ends percent-encoded.
pub fn push_escaped(line: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\t' => line.push_str("%09"),
            '\n' => line.push_str("%0A"),
            '\r' => line.push_str("%0D"),
            c => line.push(c),
        }
    }
}
