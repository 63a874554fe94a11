//! [`Columns`]: typed access to the columns of a query's result, so that every reader of a
//! result (the scores, `explain`, the empty-window check) names the query and the column
//! when the SQL and the code disagree, instead of each writing its own downcasts.

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampSecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampSecondType, UInt64Type};

use crate::error::{Error, Result};

/// The columns of one result batch of `query` (named in errors, e.g. `queries/score.sql`).
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    batch: &'a RecordBatch,
    query: &'a str,
}

impl<'a> Columns<'a> {
    /// The columns of `batch`, a result of `query`.
    pub fn new(batch: &'a RecordBatch, query: &'a str) -> Self {
        Columns { batch, query }
    }

    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    fn column(&self, name: &str) -> Result<&'a dyn Array> {
        self.batch
            .column_by_name(name)
            .map(|c| c.as_ref())
            .ok_or_else(|| self.shape(name))
    }

    fn shape(&self, name: &str) -> Error {
        Error::Other(format!(
            "{} returned column `{name}` missing or of an unexpected type",
            self.query
        ))
    }

    /// A text column (`Utf8`).
    pub fn text(&self, name: &str) -> Result<&'a StringArray> {
        self.column(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| self.shape(name))
    }

    /// A text column of any string type, as `Utf8` (`CAST(NULL AS VARCHAR)` may come as a
    /// string view).
    pub fn any_text(&self, name: &str) -> Result<StringArray> {
        let cast = arrow::compute::cast(self.column(name)?, &DataType::Utf8)
            .map_err(|_| self.shape(name))?;
        cast.as_string_opt::<i32>()
            .cloned()
            .ok_or_else(|| self.shape(name))
    }

    /// A `DOUBLE` column.
    pub fn f64s(&self, name: &str) -> Result<&'a Float64Array> {
        self.column(name)?
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| self.shape(name))
    }

    /// A `BIGINT` column.
    pub fn i64s(&self, name: &str) -> Result<&'a Int64Array> {
        self.column(name)?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| self.shape(name))
    }

    /// A key column (`UInt64`, as the reader hashes `pair_key` and the like).
    pub fn keys(&self, name: &str) -> Result<&'a UInt64Array> {
        self.column(name)?
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| self.shape(name))
    }

    /// A timestamp column, in seconds.
    pub fn times(&self, name: &str) -> Result<&'a TimestampSecondArray> {
        self.column(name)?
            .as_primitive_opt::<TimestampSecondType>()
            .ok_or_else(|| self.shape(name))
    }

    /// A `BOOLEAN` column.
    pub fn bools(&self, name: &str) -> Result<&'a BooleanArray> {
        self.column(name)?
            .as_boolean_opt()
            .ok_or_else(|| self.shape(name))
    }
}
