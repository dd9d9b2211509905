//! A Hugging Face checkpoint folder: config.json, tokenizer files and one or more
//! `*.safetensors` shards (with or without `model.safetensors.index.json`).
//!
//! The safetensors header itself is validated by the `safetensors` crate (offsets,
//! sizes, overlaps); this module adds the folder logic and the dtype mapping.

use crate::error::{LlamaError, Result};
use herd_tensor::DType;
use herd_tensor::mmap::{Mapping, Mmap};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where one tensor lives: a shard and an absolute byte range in it.
#[derive(Debug, Clone)]
pub struct StEntry {
    pub shard: usize,
    pub dtype: DType,
    /// Row-major shape as safetensors gives it (outermost first).
    pub shape: Vec<usize>,
    pub start: usize,
    pub end: usize,
}

/// All shards of a checkpoint folder, mmap-ed, with a merged tensor index.
#[derive(Debug)]
pub struct SafetensorsDir {
    pub dir: PathBuf,
    pub shards: Vec<(PathBuf, Arc<Mmap>)>,
    pub tensors: BTreeMap<String, StEntry>,
}

fn bad(msg: impl Into<String>) -> LlamaError {
    LlamaError::Safetensors(msg.into())
}

fn shard_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let bytes = std::fs::read(&index).map_err(|e| LlamaError::io(&index, e))?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("{}: not valid JSON: {e}", index.display())))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad(format!("{}: no weight_map object", index.display())))?;
        let mut files = BTreeSet::new();
        for (name, f) in map {
            let f = f.as_str().ok_or_else(|| bad(format!("weight_map[{name}] is not a file name")))?;
            // A shard name with a path separator could point outside the folder.
            if f.contains('/') || f.contains('\\') || f.starts_with('.') {
                return Err(bad(format!("weight_map[{name}] = {f:?} is not a plain file name")));
            }
            files.insert(dir.join(f));
        }
        return Ok(files.into_iter().collect());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LlamaError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(bad(format!("{}: no *.safetensors files in the folder", dir.display())));
    }
    Ok(files)
}

fn map_dtype(name: &str, d: safetensors::Dtype) -> Result<DType> {
    Ok(match d {
        safetensors::Dtype::F32 => DType::F32,
        safetensors::Dtype::F16 => DType::F16,
        safetensors::Dtype::BF16 => DType::BF16,
        other => return Err(bad(format!("tensor {name} has dtype {other:?}; herd reads F32, F16 and BF16"))),
    })
}

/// Parses and validates one safetensors file's header (offsets inside the buffer,
/// sizes matching shapes, no overlaps: checked by the `safetensors` crate) and maps
/// its tensors to herd dtypes; `shard` is left 0.
pub fn parse_header(buf: &[u8]) -> Result<Vec<(String, StEntry)>> {
    let (n, meta) = safetensors::SafeTensors::read_metadata(buf).map_err(|e| bad(format!("{e:?}")))?;
    let base = 8 + n;
    let mut out = Vec::new();
    for (name, info) in meta.tensors() {
        let dtype = map_dtype(&name, info.dtype)?;
        let entry = StEntry {
            shard: 0,
            dtype,
            shape: info.shape.clone(),
            start: base + info.data_offsets.0,
            end: base + info.data_offsets.1,
        };
        out.push((name, entry));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

impl SafetensorsDir {
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_mapped(dir, Mapping::Plain)
    }

    /// Opens every shard mapped as `how` says.
    pub fn open_mapped(dir: &Path, how: Mapping) -> Result<Self> {
        let files = shard_files(dir)?;
        let mut shards = Vec::new();
        let mut tensors = BTreeMap::new();
        for (i, path) in files.into_iter().enumerate() {
            let file = std::fs::File::open(&path).map_err(|e| LlamaError::io(&path, e))?;
            let map = how.map(&file).map_err(|e| LlamaError::io(&path, e))?;
            let entries = parse_header(&map).map_err(|e| bad(format!("{}: {e}", path.display())))?;
            for (name, mut entry) in entries {
                entry.shard = i;
                if tensors.insert(name.clone(), entry).is_some() {
                    return Err(bad(format!("tensor {name} appears in more than one shard")));
                }
            }
            shards.push((path, Arc::new(map)));
        }
        Ok(SafetensorsDir { dir: dir.to_path_buf(), shards, tensors })
    }

    pub fn bytes(&self, e: &StEntry) -> &[u8] {
        &self.shards[e.shard].1[e.start..e.end]
    }
}
