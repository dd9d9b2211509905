//! Parquet corpus files: the string column named by `--text-field`, one document per non-null row.

use super::corpus::{BATCH_BYTES, Batch};
use crate::error::LabError;
use parquet::basic::Type as PhysicalType;
use parquet::column::reader::ColumnReader;
use parquet::data_type::ByteArray;
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::path::Path;

/// Rows read per call to the column reader.
const ROWS: usize = 1024;

/// Reads column `field` of every row group and emits its texts in batches.
pub fn read(path: &Path, field: &str, emit: &mut dyn FnMut(Batch) -> Result<(), LabError>) -> Result<(), LabError> {
    let shown = path.display().to_string();
    let bad = |msg: String| LabError::Data { path: shown.clone(), line: 0, msg };
    let file = std::fs::File::open(path).map_err(|e| LabError::Io { path: path.to_path_buf(), err: e })?;
    let reader = SerializedFileReader::new(file).map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let col = (0..schema.num_columns())
        .find(|&i| schema.column(i).path().parts() == [field.to_string()])
        .ok_or_else(|| bad(format!("no top-level column {field:?} (pass the text column with --text-field)")))?;
    let desc = schema.column(col);
    if desc.physical_type() != PhysicalType::BYTE_ARRAY || desc.max_rep_level() != 0 {
        return Err(bad(format!("column {field:?} is not a plain string column")));
    }
    let mut texts = Vec::new();
    let mut bytes = 0usize;
    let mut values: Vec<ByteArray> = Vec::with_capacity(ROWS);
    let mut defs: Vec<i16> = Vec::with_capacity(ROWS);
    for g in 0..reader.num_row_groups() {
        let rg = reader.get_row_group(g).map_err(|e| bad(format!("row group {g}: {e}")))?;
        let ColumnReader::ByteArrayColumnReader(mut cr) =
            rg.get_column_reader(col).map_err(|e| bad(format!("row group {g}: {e}")))?
        else {
            return Err(bad(format!("column {field:?} is not a string column")));
        };
        loop {
            values.clear();
            defs.clear();
            let (records, _, _) = cr
                .read_records(ROWS, Some(&mut defs), None, &mut values)
                .map_err(|e| bad(format!("row group {g}: {e}")))?;
            if records == 0 {
                break;
            }
            for v in &values {
                let t = String::from_utf8_lossy(v.data()).into_owned();
                bytes += t.len();
                texts.push(t);
            }
            if bytes >= BATCH_BYTES {
                let starts = texts.len();
                emit(Batch::Texts { texts: std::mem::take(&mut texts), starts })?;
                bytes = 0;
            }
        }
    }
    if !texts.is_empty() {
        let starts = texts.len();
        emit(Batch::Texts { texts, starts })?;
    }
    Ok(())
}
