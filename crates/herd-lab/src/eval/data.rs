//! Benchmark data in its upstream formats: the Hugging Face dataset exports (Parquet,
//! JSONL) under `--data DIR`, or a file a package on PyPI ships (HumanEval's gzipped
//! JSONL). Rows become JSON objects whatever the file format, so tasks read fields by
//! their upstream names.

use crate::LabError;
use flate2::read::GzDecoder;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

fn bad(path: &Path, line: usize, msg: impl Into<String>) -> LabError {
    LabError::Data { path: path.display().to_string(), line, msg: msg.into() }
}

/// The rows of one file: `.parquet`, `.jsonl`, `.jsonl.gz`, or `.json` (an array).
pub fn read_rows(path: &Path) -> Result<Vec<Value>, LabError> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let io = |e| LabError::Io { path: path.to_path_buf(), err: e };
    if name.ends_with(".parquet") {
        let f = std::fs::File::open(path).map_err(io)?;
        let r = SerializedFileReader::new(f).map_err(|e| bad(path, 0, format!("not a readable Parquet file: {e}")))?;
        let rows = r.get_row_iter(None).map_err(|e| bad(path, 0, e.to_string()))?;
        return rows.map(|row| row.map(|r| r.to_json_value()).map_err(|e| bad(path, 0, e.to_string()))).collect();
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn Read> = if name.ends_with(".gz") { Box::new(GzDecoder::new(file)) } else { Box::new(file) };
    if name.ends_with(".json") {
        let v: Value = serde_json::from_reader(reader).map_err(|e| bad(path, 0, format!("not JSON: {e}")))?;
        return match v {
            Value::Array(rows) => Ok(rows),
            _ => Err(bad(path, 0, "expected a JSON array of rows (or use JSONL)")),
        };
    }
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        rows.push(serde_json::from_str(&line).map_err(|e| bad(path, i + 1, format!("not a JSON row: {e}")))?);
    }
    Ok(rows)
}

fn data_file(p: &Path) -> bool {
    let n = p.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    [".parquet", ".jsonl", ".jsonl.gz", ".json"].iter().any(|e| n.ends_with(e))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if data_file(&p) {
            out.push(p);
        }
    }
}

/// The files of `dataset`'s `split` under `root`: `root/<dataset>.{jsonl,...}`, or the
/// files below `root/<dataset>/` whose path mentions the split (Hugging Face exports
/// name them `test-00000-of-00001.parquet`, `main/test.jsonl`, ...), optionally only
/// below the `subset` folder.
pub fn find_split(root: &Path, dataset: &str, subset: Option<&str>, split: &str) -> Result<Vec<PathBuf>, LabError> {
    for ext in ["jsonl", "jsonl.gz", "json", "parquet"] {
        let p = root.join(format!("{dataset}.{ext}"));
        if p.is_file() {
            return Ok(vec![p]);
        }
    }
    let base = root.join(dataset);
    let mut files = Vec::new();
    walk(&base, &mut files);
    files.retain(|p| {
        let rel = p.strip_prefix(&base).map(|r| r.to_string_lossy().to_lowercase()).unwrap_or_default();
        rel.contains(split) && subset.is_none_or(|s| rel.split('/').any(|c| c == s.to_lowercase()))
    });
    if files.is_empty() {
        return Err(LabError::Invalid(format!(
            "no {split} data for {dataset} under {}: put the Hugging Face export there (e.g. {}/{}{split}-00000-of-00001.parquet or {}.jsonl)",
            root.display(),
            base.display(),
            subset.map(|s| format!("{s}/")).unwrap_or_default(),
            base.display(),
        )));
    }
    Ok(files)
}

/// All rows of `dataset`'s `split`.
pub fn load_split(root: &Path, dataset: &str, subset: Option<&str>, split: &str) -> Result<Vec<Value>, LabError> {
    let mut rows = Vec::new();
    for f in find_split(root, dataset, subset, split)? {
        rows.extend(read_rows(&f)?);
    }
    Ok(rows)
}
