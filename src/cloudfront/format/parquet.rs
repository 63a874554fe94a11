//! Standard logging v2 Parquet objects: one column per chosen
//! field, named like the W3C field with `-()` turned into `_` (`c_ip`, `cs_User_Agent_`). Each
//! row is handed to the line parser as the TAB-separated line the W3C form would have, after a
//! `#Fields` line naming the columns, so both forms of the same rows give the same columns,
//! validation and counts.
//!
//! Parquet is compact where text is not: a dictionary-encoded column can hold one long value
//! for every row in a few bytes. So the limits of text objects hold here too, on what the rows
//! expand to: the sizes the file declares are checked before anything is decoded, rows are
//! decoded a few at a time, dictionaries are looked up per row (never expanded into every
//! row), a row longer than the line limit fails the object (CloudFront writes no such row),
//! and so does an object whose rows add up to more than an object may inflate to.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatchReader, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::ParquetMetaData;

use super::parquet_pages::{Declared, declared_sizes};
use crate::cloudfront::decode::Line;

/// The four bytes a Parquet file starts (and ends) with.
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// About how many bytes of decoded values one batch of rows may hold; the batch size is
/// chosen from the sizes the file declares so that a batch stays near this.
const BATCH_BYTES: u64 = 8 << 20;

/// Most rows decoded at once.
const MAX_BATCH_ROWS: usize = 8192;

/// True when `bytes` are a Parquet file.
pub fn is_parquet(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes.starts_with(PARQUET_MAGIC) && bytes.ends_with(PARQUET_MAGIC)
}

/// The limits a Parquet object is read within (those of text objects).
#[derive(Debug, Clone, Copy)]
pub struct ParquetLimits {
    /// Most bytes the object's rows may add up to, as W3C lines.
    pub max_expanded_bytes: u64,
    /// Longest row, as a W3C line.
    pub max_line_bytes: usize,
}

/// Calls `on_line` with a `#Fields` line (numbered 0) and then every row as a W3C line
/// (numbered from 1). An object that is not readable Parquet, or goes past `limits`, is an
/// `Err` with the reason.
pub fn for_each_parquet_line<E>(
    bytes: &[u8],
    limits: ParquetLimits,
    mut on_line: impl FnMut(u64, Line<'_>) -> Result<(), E>,
) -> Result<Result<(), E>, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("not a readable Parquet file: {e}");
    let data = bytes::Bytes::copy_from_slice(bytes);
    let footer =
        ArrowReaderMetadata::load(&data, ArrowReaderOptions::new()).map_err(|e| unreadable(&e))?;
    let declared = declared_sizes(bytes, footer.metadata()).map_err(|e| unreadable(&e))?;
    let batch_rows = batch_rows(footer.metadata(), &declared, limits)?;
    // Text columns are read as dictionaries, so that a dictionary-encoded column is never
    // expanded into every row.
    let hint = Schema::new(
        footer
            .schema()
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    Field::new(f.name(), dictionary_of_text(), f.is_nullable())
                }
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    );
    let metadata = ArrowReaderMetadata::try_new(
        Arc::clone(footer.metadata()),
        ArrowReaderOptions::new().with_schema(Arc::new(hint)),
    )
    .map_err(|e| unreadable(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(data, metadata)
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| unreadable(&e))?;
    let schema = reader.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let header = format!("#Fields: {}", names.join(" "));
    if let Err(e) = on_line(0, Line::Text(header.as_bytes())) {
        return Ok(Err(e));
    }
    let mut line_no = 0u64;
    let mut expanded = 0u64;
    let mut line = String::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("row {}: {e}", line_no + 1))?;
        let columns: Vec<TextColumn> = batch
            .columns()
            .iter()
            .map(|c| TextColumn::of(c.as_ref()))
            .collect::<Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            line.clear();
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    line.push('\t');
                }
                match column.value(row) {
                    None | Some("") => line.push('-'),
                    Some(value) => {
                        if line.len().saturating_add(value.len()) > limits.max_line_bytes {
                            return Err(format!(
                                "row {}: column {} makes the row longer than the line limit \
                                 of {} bytes (not a CloudFront log)",
                                line_no + 1,
                                names.get(i).copied().unwrap_or("?"),
                                limits.max_line_bytes
                            ));
                        }
                        push_escaped(&mut line, value);
                    }
                }
            }
            line_no += 1;
            expanded = expanded.saturating_add(line.len() as u64 + 1);
            if expanded > limits.max_expanded_bytes {
                return Err(format!(
                    "row {line_no}: the rows add up to more than the {} bytes an object may \
                     inflate to",
                    limits.max_expanded_bytes
                ));
            }
            if let Err(e) = on_line(line_no, Line::Text(line.as_bytes())) {
                return Ok(Err(e));
            }
        }
    }
    Ok(Ok(()))
}

/// Most bytes one row group's pages may declare: the reader holds up to a row group's pages
/// of each column while it decodes (CloudFront's own objects are far smaller).
pub const MAX_ROW_GROUP_BYTES: u64 = 256 << 20;

fn dictionary_of_text() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// Rows decoded at once, from the sizes the pages declare; an object declaring more than
/// `limits` (or [`MAX_ROW_GROUP_BYTES`] in a row group) is refused before anything is decoded.
fn batch_rows(
    metadata: &ParquetMetaData,
    declared: &Declared,
    limits: ParquetLimits,
) -> Result<usize, String> {
    let total = declared.total();
    if total > limits.max_expanded_bytes {
        return Err(format!(
            "its pages declare {total} bytes, more than the {} bytes an object may inflate to",
            limits.max_expanded_bytes
        ));
    }
    let mut widest_row = 1u64;
    for (i, (group, bytes)) in metadata
        .row_groups()
        .iter()
        .zip(&declared.row_groups)
        .enumerate()
    {
        if *bytes > MAX_ROW_GROUP_BYTES {
            return Err(format!(
                "row group {i} declares {bytes} bytes, more than the {MAX_ROW_GROUP_BYTES} \
                 bytes a row group may hold"
            ));
        }
        let rows = u64::try_from(group.num_rows())
            .map_err(|_| format!("row group {i} declares a negative row count"))?;
        widest_row = widest_row.max(bytes / rows.max(1));
    }
    Ok(usize::try_from(BATCH_BYTES / widest_row)
        .unwrap_or(MAX_BATCH_ROWS)
        .clamp(1, MAX_BATCH_ROWS))
}

/// A column read as text, row by row; a dictionary stays a dictionary (its values are
/// looked up per row, never expanded into every row).
enum TextColumn {
    Plain(StringArray),
    Dictionary {
        keys: UInt64Array,
        values: StringArray,
    },
}

impl TextColumn {
    fn of(column: &dyn Array) -> Result<Self, String> {
        let text = |array: &dyn Array| -> Result<StringArray, String> {
            let cast = arrow::compute::cast(array, &DataType::Utf8)
                .map_err(|e| format!("a column cannot be read as text: {e}"))?;
            cast.as_string_opt::<i32>()
                .cloned()
                .ok_or_else(|| "a column cast to text is not a string array".to_string())
        };
        match column.as_any_dictionary_opt() {
            Some(dictionary) => {
                let keys = arrow::compute::cast(dictionary.keys(), &DataType::UInt64)
                    .map_err(|e| format!("a dictionary's keys cannot be read: {e}"))?;
                let keys = keys
                    .as_primitive_opt::<arrow::datatypes::UInt64Type>()
                    .cloned()
                    .ok_or_else(|| "a dictionary's keys are not integers".to_string())?;
                Ok(TextColumn::Dictionary {
                    keys,
                    values: text(dictionary.values().as_ref())?,
                })
            }
            None => Ok(TextColumn::Plain(text(column)?)),
        }
    }

    /// The row's value; None when it is null (or a key outside the dictionary).
    fn value(&self, row: usize) -> Option<&str> {
        match self {
            TextColumn::Plain(strings) => strings.is_valid(row).then(|| strings.value(row)),
            TextColumn::Dictionary { keys, values } => {
                let key = usize::try_from(keys.is_valid(row).then(|| keys.value(row))?).ok()?;
                (key < values.len() && values.is_valid(key)).then(|| values.value(key))
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{DictionaryArray, RecordBatch};
    use arrow::datatypes::{Field, Int32Type, Schema};
    use parquet::arrow::ArrowWriter;

    const LIMITS: ParquetLimits = ParquetLimits {
        max_expanded_bytes: 16 << 30,
        max_line_bytes: 1 << 20,
    };

    /// A Parquet file of `rows` rows whose `columns` dictionary columns hold one `value`.
    fn dictionary_file(columns: usize, rows: usize, value: &str) -> Vec<u8> {
        let fields: Vec<Field> = (0..columns)
            .map(|i| {
                Field::new(
                    format!("c{i}"),
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                    true,
                )
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let column: DictionaryArray<Int32Type> = std::iter::repeat_n(Some(value), rows).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            (0..columns)
                .map(|_| Arc::new(column.clone()) as Arc<dyn Array>)
                .collect(),
        )
        .expect("batch");
        // One dictionary page for the value, however long (the default limit would fall
        // back to plain pages).
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_dictionary_page_size_limit(64 << 20)
            .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
            .build();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, schema, Some(properties)).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        out
    }

    fn lines(bytes: &[u8], limits: ParquetLimits) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for_each_parquet_line(bytes, limits, |_, line| {
            if let Line::Text(text) = line {
                out.push(String::from_utf8_lossy(text).into_owned());
            }
            Ok::<(), ()>(())
        })?
        .map_err(|()| "stopped".to_string())?;
        Ok(out)
    }

    #[test]
    fn a_dictionary_of_one_huge_value_fails_the_object_without_expanding_it() {
        // The audit's object: three dictionary columns holding one 1 MiB string for 4,096
        // rows, a few kilobytes on disk; expanded it would be 12 GiB of rows. The first
        // value fills the line limit exactly (allowed), the second goes past it.
        let file = dictionary_file(3, 4096, &"x".repeat(1 << 20));
        assert!(file.len() < 64 << 10, "{} bytes", file.len());
        let error = lines(&file, LIMITS).expect_err("refused");
        assert_eq!(
            error,
            "row 1: column c1 makes the row longer than the line limit of 1048576 bytes \
             (not a CloudFront log)"
        );
    }

    #[test]
    fn rows_adding_up_past_the_inflate_limit_fail_the_object() {
        let file = dictionary_file(2, 100, "abcd");
        // Each row is `abcd\tabcd\n`: 10 bytes; 95 bytes allow nine rows.
        let limits = ParquetLimits {
            max_expanded_bytes: 95,
            max_line_bytes: 1 << 20,
        };
        assert_eq!(
            lines(&file, limits).expect_err("refused"),
            "row 10: the rows add up to more than the 95 bytes an object may inflate to"
        );
        let all = lines(&file, LIMITS).expect("read");
        assert_eq!(all.len(), 101);
        assert_eq!(all[0], "#Fields: c0 c1");
        assert_eq!(all[100], "abcd\tabcd");
    }

    #[test]
    fn declared_sizes_past_the_limits_are_refused_before_decoding() {
        let file = dictionary_file(1, 1000, "0123456789");
        let limits = ParquetLimits {
            max_expanded_bytes: 10,
            max_line_bytes: 1 << 20,
        };
        let error = lines(&file, limits).expect_err("refused");
        assert!(
            error.starts_with("its pages declare ")
                && error.ends_with(" bytes an object may inflate to"),
            "{error}"
        );
    }

    #[test]
    fn a_plain_text_column_reads_like_its_dictionary_form() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let a: StringArray = vec![Some("x\ty"), None, Some("")].into_iter().collect();
        let n = arrow::array::Int64Array::from(vec![Some(7), Some(-1), None]);
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(a), Arc::new(n)])
            .expect("batch");
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, schema, None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        assert_eq!(
            lines(&out, LIMITS).expect("read"),
            ["#Fields: a n", "x%09y\t7", "-\t-1", "-\t-"]
        );
    }
}
