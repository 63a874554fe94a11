//! Renders the rows of an ad-hoc `query` as a table, CSV or JSON.

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;

/// Output formats of `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFormat {
    /// A boxed table, for people.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects, one per row.
    Json,
    /// A Parquet file (needs `--output`).
    Parquet,
}

impl crate::choice::Choice for QueryFormat {
    const CHOICES: &'static [(&'static str, Self, &'static str)] = &[
        ("table", QueryFormat::Table, "A boxed table, for people."),
        ("csv", QueryFormat::Csv, "CSV with a header row."),
        (
            "json",
            QueryFormat::Json,
            "A JSON array of objects, one per row.",
        ),
        (
            "parquet",
            QueryFormat::Parquet,
            "A Parquet file (needs `--output`).",
        ),
    ];
}

/// Writes `batches` (with `schema`, also when there are no rows) in `format`.
pub fn render_batches(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: QueryFormat,
    out: &mut dyn Write,
) -> Result<(), ArrowError> {
    match format {
        QueryFormat::Table => {
            let table = arrow::util::pretty::pretty_format_batches_with_schema(
                std::sync::Arc::clone(schema),
                batches,
            )?;
            writeln!(out, "{table}")?;
        }
        QueryFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(std::sync::Arc::clone(schema)))?;
            }
            for b in batches {
                w.write(b)?;
            }
        }
        QueryFormat::Parquet => {
            super::write_parquet(schema, batches, out)
                .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        }
        QueryFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            drop(w);
            if batches.iter().all(|b| b.num_rows() == 0) {
                // The writer prints nothing for no rows; an empty array is still valid JSON.
                writeln!(out, "[]")?;
            } else {
                writeln!(out)?;
            }
        }
    }
    Ok(())
}
