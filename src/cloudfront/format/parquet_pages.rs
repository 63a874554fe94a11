//! What a Parquet object's pages declare, read before any page is decoded.
//!
//! A Parquet reader decompresses each page into a buffer of the size the page's own header
//! declares (up to 2 GiB), and the footer's sizes are not checked against the pages. So a
//! small hostile object could make the reader allocate gigabytes. Here the page headers of
//! every column chunk are walked (Thrift compact protocol, the few fields needed: the
//! uncompressed and compressed sizes) and their sizes added up, so that an object is refused
//! for what it would expand to before the reader sees it. The `parquet` crate keeps its
//! header decoding private; this reads no more of the format than that.

use parquet::file::metadata::ParquetMetaData;

/// Deepest nesting of Thrift structs followed inside a page header.
const MAX_DEPTH: u32 = 16;

/// The uncompressed bytes each row group's pages declare, summed over its columns, and the
/// largest page; an `Err` when a header cannot be read or the pages do not fill their column
/// chunk exactly.
pub fn declared_sizes(file: &[u8], metadata: &ParquetMetaData) -> Result<Declared, String> {
    let mut declared = Declared::default();
    for (g, group) in metadata.row_groups().iter().enumerate() {
        let mut group_bytes = 0u64;
        for (c, column) in group.columns().iter().enumerate() {
            let at = |what: &str| format!("row group {g}, column {c}: {what}");
            let data = column.data_page_offset();
            let start = match column.dictionary_page_offset() {
                Some(dictionary) if dictionary > 0 && dictionary < data => dictionary,
                _ => data,
            };
            let start = usize::try_from(start).map_err(|_| at("a negative page offset"))?;
            let length = usize::try_from(column.compressed_size())
                .map_err(|_| at("a negative chunk size"))?;
            let end = start
                .checked_add(length)
                .filter(|end| *end <= file.len())
                .ok_or_else(|| at("its pages lie outside the file"))?;
            let mut pos = start;
            while pos < end {
                let mut reader = Compact {
                    bytes: &file[..end],
                    pos,
                };
                let (uncompressed, compressed) = reader
                    .page_header()
                    .map_err(|e| at(&format!("page header at byte {pos}: {e}")))?;
                declared.largest_page = declared.largest_page.max(uncompressed);
                group_bytes = group_bytes.saturating_add(uncompressed);
                pos = usize::try_from(compressed)
                    .ok()
                    .and_then(|compressed| reader.pos.checked_add(compressed))
                    .ok_or_else(|| at("a page size out of range"))?;
            }
            if pos != end {
                return Err(at("its pages do not fill the column chunk"));
            }
        }
        declared.row_groups.push(group_bytes);
    }
    Ok(declared)
}

/// The sizes an object's pages declare.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Uncompressed bytes of each row group's pages (all columns).
    pub row_groups: Vec<u64>,
    /// The largest page, uncompressed.
    pub largest_page: u64,
}

impl Declared {
    /// All row groups' bytes.
    pub fn total(&self) -> u64 {
        self.row_groups
            .iter()
            .fold(0u64, |sum, bytes| sum.saturating_add(*bytes))
    }
}

/// A cursor over Thrift compact-protocol bytes.
struct Compact<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.pos).ok_or("ends early")?;
        self.pos += 1;
        Ok(b)
    }

    fn advance(&mut self, n: u64) -> Result<(), String> {
        let n = usize::try_from(n).map_err(|_| "a length out of range")?;
        self.pos = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or("ends early")?;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 64 bits".to_string())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// A `PageHeader`: its fields 2 (`uncompressed_page_size`) and 3
    /// (`compressed_page_size`), both required i32 that must not be negative.
    fn page_header(&mut self) -> Result<(u64, u64), String> {
        let (mut uncompressed, mut compressed) = (None, None);
        let mut last_id = 0i64;
        loop {
            let header = self.byte()?;
            if header == 0 {
                break;
            }
            let kind = header & 0x0f;
            let id = match header >> 4 {
                0 => self.zigzag()?,
                delta => last_id + i64::from(delta),
            };
            last_id = id;
            match (id, kind) {
                (2 | 3, 5) => {
                    let size = u64::try_from(self.zigzag()?)
                        .map_err(|_| "a negative page size".to_string())?;
                    if id == 2 {
                        uncompressed = Some(size);
                    } else {
                        compressed = Some(size);
                    }
                }
                _ => self.skip(kind, 1)?,
            }
        }
        match (uncompressed, compressed) {
            (Some(u), Some(c)) => Ok((u, c)),
            _ => Err("no page sizes".to_string()),
        }
    }

    /// Skips a value of compact type `kind` (as a struct field).
    fn skip(&mut self, kind: u8, depth: u32) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".to_string());
        }
        match kind {
            // Booleans live in the field header.
            1 | 2 => Ok(()),
            3 => self.advance(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.advance(8),
            8 => {
                let n = self.varint()?;
                self.advance(n)
            }
            9 | 10 => {
                let header = self.byte()?;
                let n = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                for _ in 0..n {
                    self.skip_element(header & 0x0f, depth + 1)?;
                }
                Ok(())
            }
            11 => {
                let n = self.varint()?;
                if n > 0 {
                    let kinds = self.byte()?;
                    for _ in 0..n {
                        self.skip_element(kinds >> 4, depth + 1)?;
                        self.skip_element(kinds & 0x0f, depth + 1)?;
                    }
                }
                Ok(())
            }
            12 => self.skip_struct(depth + 1),
            other => Err(format!("unknown field type {other}")),
        }
    }

    /// Skips a list, set or map element: booleans there take a byte each.
    fn skip_element(&mut self, kind: u8, depth: u32) -> Result<(), String> {
        match kind {
            1 | 2 => self.advance(1),
            kind => self.skip(kind, depth),
        }
    }

    fn skip_struct(&mut self, depth: u32) -> Result<(), String> {
        loop {
            let header = self.byte()?;
            if header == 0 {
                return Ok(());
            }
            if header >> 4 == 0 {
                self.zigzag()?;
            }
            self.skip(header & 0x0f, depth)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ArrowReaderMetadata;
    use parquet::file::properties::WriterProperties;

    use super::*;

    fn file(rows: usize, properties: WriterProperties) -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, true)]));
        let values: StringArray = (0..rows).map(|i| Some(format!("value {i:06}"))).collect();
        let batch =
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(values) as _]).expect("batch");
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, schema, Some(properties)).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        out
    }

    fn metadata(bytes: &[u8]) -> Arc<ParquetMetaData> {
        let data = bytes::Bytes::copy_from_slice(bytes);
        Arc::clone(
            ArrowReaderMetadata::load(&data, Default::default())
                .expect("metadata")
                .metadata(),
        )
    }

    #[test]
    fn the_pages_add_up_to_what_the_footer_says() {
        let properties = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(100)
            .set_max_row_group_row_count(Some(400))
            .build();
        let bytes = file(1000, properties);
        let meta = metadata(&bytes);
        let declared = declared_sizes(&bytes, &meta).expect("declared");
        assert_eq!(declared.row_groups.len(), 3);
        // Each plain page of 100 rows: 100 values of 12 bytes, each with a 4-byte length,
        // and the definition levels (all 1) as one RLE run: a 4-byte length, the run's
        // header (100 << 1 as a 2-byte varint) and its value (1 byte).
        assert_eq!(declared.largest_page, 100 * 16 + 4 + 2 + 1);
        for (g, group) in meta.row_groups().iter().enumerate() {
            // The footer's uncompressed size also counts the page headers.
            let footer = u64::try_from(group.column(0).uncompressed_size()).expect("size");
            assert!(declared.row_groups[g] < footer, "{declared:?}");
            assert!(footer - declared.row_groups[g] < 200, "{declared:?}");
        }
    }

    #[test]
    fn a_damaged_page_header_is_an_error_not_a_guess() {
        let bytes = file(50, WriterProperties::default());
        let meta = metadata(&bytes);
        let start =
            usize::try_from(meta.row_group(0).column(0).data_page_offset()).expect("offset");
        let start = match meta.row_group(0).column(0).dictionary_page_offset() {
            Some(d) => usize::try_from(d).expect("offset"),
            None => start,
        };
        let mut damaged = bytes.clone();
        // An unknown field type (13) where the header's first field is.
        damaged[start] = 0x1d;
        let error = declared_sizes(&damaged, &meta).expect_err("damaged");
        assert_eq!(
            error,
            format!("row group 0, column 0: page header at byte {start}: unknown field type 13")
        );
    }
}
