//! A hardened GGUF (v2, v3) reader over a byte slice or an mmap-ed file.
//!
//! Written by hand because a reader that never trusts a count is the point: every
//! length and count is checked against the bytes that remain before anything is
//! allocated, so a hostile header cannot make herd allocate more than the file's own
//! size, and every tensor is checked to lie inside the file.

use crate::error::{LlamaError, Result};
use herd_tensor::DType;
use herd_tensor::mmap::Mapping;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"GGUF";
/// ggml's GGML_MAX_DIMS.
const MAX_DIMS: u32 = 4;
/// Arrays of arrays are legal GGUF but no real file nests deeper than this.
const MAX_DEPTH: usize = 4;
const DEFAULT_ALIGNMENT: u64 = 32;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// Any integer type that fits in u64.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v as i64),
            Value::I16(v) => Some(v as i64),
            Value::I32(v) => Some(v as i64),
            Value::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One entry of the tensor table.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the innermost (contiguous) dimension.
    pub dims: Vec<u64>,
    pub dtype: DType,
    /// Absolute byte offset of the tensor's data in the file.
    pub offset: usize,
    pub size: usize,
}

impl TensorInfo {
    /// Elements in all dims but the first (the number of rows of a 2-D weight).
    pub fn rows(&self) -> usize {
        self.dims.iter().skip(1).product::<u64>() as usize
    }
    pub fn cols(&self) -> usize {
        self.dims.first().copied().unwrap_or(1) as usize
    }
}

/// The parsed header of a GGUF file: version, metadata, tensor table.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: usize,
}

/// A GGUF file kept open as an mmap, with its parsed header.
#[derive(Debug, Clone)]
pub struct GgufFile {
    pub header: GgufHeader,
    pub map: Arc<herd_tensor::mmap::Mmap>,
    pub path: String,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_mapped(path, Mapping::Plain)
    }

    /// Opens the file mapped as `how` says.
    pub fn open_mapped(path: &Path, how: Mapping) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| LlamaError::io(path, e))?;
        let map = how.map(&file).map_err(|e| LlamaError::io(path, e))?;
        let header = GgufHeader::parse(&map)?;
        Ok(GgufFile { header, map: Arc::new(map), path: path.display().to_string() })
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.header.tensors.iter().find(|t| t.name == name)
    }

    /// The bytes of a tensor (bounds were checked when the header was parsed).
    pub fn tensor_bytes(&self, t: &TensorInfo) -> &[u8] {
        &self.map[t.offset..t.offset + t.size]
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.header.metadata.get(key)
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(LlamaError::Gguf(msg.into()))
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return err(format!(
                "file truncated: {what} needs {n} bytes at offset {}, only {} remain",
                self.pos,
                self.remaining()
            ));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    /// A count that must be satisfiable by the remaining bytes at `min_each` bytes per
    /// item: the guard that keeps absurd counts from becoming huge allocations.
    fn count(&mut self, what: &str, min_each: usize) -> Result<usize> {
        let n = self.u64(what)?;
        let max = (self.remaining() / min_each.max(1)) as u64;
        if n > max {
            return err(format!("{what} is {n}, but only {} bytes remain (at most {max} items fit)", self.remaining()));
        }
        Ok(n as usize)
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.count(what, 1)?;
        let s = self.take(n, what)?;
        String::from_utf8(s.to_vec()).map_err(|_| LlamaError::Gguf(format!("{what} is not valid UTF-8")))
    }
}

/// Minimum encoded size of one value of a GGUF type id (for count guards).
fn min_size(ty: u32) -> Option<usize> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 => 8,
        9 => 12,
        10..=12 => 8,
        _ => return None,
    })
}

fn read_value(c: &mut Cursor<'_>, ty: u32, key: &str, depth: usize) -> Result<Value> {
    let what = |s: &str| format!("{s} of key {key}");
    Ok(match ty {
        0 => Value::U8(c.arr::<1>(&what("u8"))?[0]),
        1 => Value::I8(c.arr::<1>(&what("i8"))?[0] as i8),
        2 => Value::U16(u16::from_le_bytes(c.arr(&what("u16"))?)),
        3 => Value::I16(i16::from_le_bytes(c.arr(&what("i16"))?)),
        4 => Value::U32(c.u32(&what("u32"))?),
        5 => Value::I32(i32::from_le_bytes(c.arr(&what("i32"))?)),
        6 => Value::F32(f32::from_le_bytes(c.arr(&what("f32"))?)),
        7 => match c.arr::<1>(&what("bool"))?[0] {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            v => return err(format!("key {key}: bool byte is {v}, not 0 or 1")),
        },
        8 => Value::String(c.string(&what("string length"))?),
        9 => {
            if depth >= MAX_DEPTH {
                return err(format!("key {key}: arrays nested deeper than {MAX_DEPTH}"));
            }
            let ety = c.u32(&what("array type"))?;
            let min = min_size(ety)
                .ok_or_else(|| LlamaError::Gguf(format!("key {key}: unknown array element type {ety}")))?;
            let n = c.count(&what("array length"), min)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(read_value(c, ety, key, depth + 1)?);
            }
            Value::Array(v)
        }
        10 => Value::U64(c.u64(&what("u64"))?),
        11 => Value::I64(i64::from_le_bytes(c.arr(&what("i64"))?)),
        12 => Value::F64(f64::from_le_bytes(c.arr(&what("f64"))?)),
        _ => return err(format!("key {key}: unknown value type {ty}")),
    })
}

impl GgufHeader {
    /// Parse and validate the header and tensor table of a whole GGUF file.
    pub fn parse(b: &[u8]) -> Result<Self> {
        let mut c = Cursor { b, pos: 0 };
        let magic = c.take(4, "magic")?;
        if magic != MAGIC {
            return err(format!("not a GGUF file (magic {magic:02x?}, want \"GGUF\")"));
        }
        let version = c.u32("version")?;
        if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
            return err("big-endian GGUF files are not supported");
        }
        if version != 2 && version != 3 {
            return err(format!("unsupported GGUF version {version} (herd reads 2 and 3)"));
        }
        // Minimum tensor info: name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
        let n_tensors = c.count("tensor count", 32)?;
        let n_kv = c.count("metadata count", 13)?;
        let mut metadata = BTreeMap::new();
        for i in 0..n_kv {
            let key = c.string(&format!("metadata key #{i}"))?;
            let ty = c.u32(&format!("type of key {key}"))?;
            let v = read_value(&mut c, ty, &key, 0)?;
            if metadata.insert(key.clone(), v).is_some() {
                return err(format!("duplicate metadata key {key}"));
            }
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
                _ => return err(format!("general.alignment {v:?} is not a power of two")),
            },
        };
        let mut raw = Vec::with_capacity(n_tensors);
        for i in 0..n_tensors {
            let name = c.string(&format!("name of tensor #{i}"))?;
            let n_dims = c.u32(&format!("dimension count of tensor {name}"))?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return err(format!("tensor {name} has {n_dims} dimensions (1..={MAX_DIMS} allowed)"));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64(&format!("dimensions of tensor {name}"))?);
            }
            let ty = c.u32(&format!("type of tensor {name}"))?;
            let dtype = DType::from_ggml(ty).ok_or_else(|| {
                LlamaError::Gguf(format!(
                    "tensor {name} has ggml type {ty}, which herd does not support \
                     (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K)"
                ))
            })?;
            let offset = c.u64(&format!("offset of tensor {name}"))?;
            raw.push((name, dims, dtype, offset));
        }
        let data_offset = (c.pos as u64).div_ceil(alignment) * alignment;
        let data_offset = usize::try_from(data_offset).map_err(|_| LlamaError::Gguf("data offset overflows".into()))?;
        let mut tensors = Vec::with_capacity(raw.len());
        let mut names = std::collections::HashSet::new();
        for (name, dims, dtype, offset) in raw {
            if !names.insert(name.clone()) {
                return err(format!("duplicate tensor name {name}"));
            }
            let size = tensor_size(&name, &dims, dtype)?;
            if offset % alignment != 0 {
                return err(format!("tensor {name} offset {offset} is not aligned to {alignment}"));
            }
            let start = (data_offset as u64).checked_add(offset);
            let end = start.and_then(|s| s.checked_add(size as u64));
            match (start, end) {
                (Some(s), Some(e)) if e <= b.len() as u64 => {
                    tensors.push(TensorInfo { name, dims, dtype, offset: s as usize, size })
                }
                _ => {
                    return err(format!(
                        "tensor {name} ends at {}, past the file's {} bytes (truncated file?)",
                        end.map_or("overflow".to_string(), |e| e.to_string()),
                        b.len()
                    ));
                }
            }
        }
        Ok(GgufHeader { version, metadata, tensors, alignment, data_offset })
    }
}

fn tensor_size(name: &str, dims: &[u64], dtype: DType) -> Result<usize> {
    let mut n: u64 = 1;
    for &d in dims {
        n = n.checked_mul(d).ok_or_else(|| LlamaError::Gguf(format!("tensor {name}: element count overflows")))?;
    }
    let cols = dims[0];
    if !cols.is_multiple_of(dtype.block_len() as u64) {
        return err(format!(
            "tensor {name}: first dimension {cols} is not a multiple of the {} block size {}",
            dtype.name(),
            dtype.block_len()
        ));
    }
    let bytes = (n / dtype.block_len() as u64)
        .checked_mul(dtype.block_bytes() as u64)
        .ok_or_else(|| LlamaError::Gguf(format!("tensor {name}: byte size overflows")))?;
    usize::try_from(bytes).map_err(|_| LlamaError::Gguf(format!("tensor {name}: too large")))
}

/// A minimal GGUF writer (v3): used by tests and tools to build files; the model files
/// users run come from elsewhere.
#[derive(Debug, Default)]
pub struct GgufWriter {
    kv: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<u64>, DType, Vec<u8>)>,
}

fn type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(a) => {
            let ety = a.first().map_or(4, type_id);
            out.extend_from_slice(&ety.to_le_bytes());
            out.extend_from_slice(&(a.len() as u64).to_le_bytes());
            a.iter().for_each(|e| write_value(out, e));
        }
    }
}

impl GgufWriter {
    pub fn kv(&mut self, key: &str, v: Value) -> &mut Self {
        self.kv.push((key.to_string(), v));
        self
    }
    /// `dims` in ggml order; `data` already encoded in `dtype`.
    pub fn tensor(&mut self, name: &str, dims: &[u64], dtype: DType, data: Vec<u8>) -> &mut Self {
        self.tensors.push((name.to_string(), dims.to_vec(), dtype, data));
        self
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        let infos: Vec<TensorHeader> = self
            .tensors
            .iter()
            .map(|(name, dims, dtype, data)| TensorHeader {
                name: name.clone(),
                dims: dims.clone(),
                dtype: *dtype,
                size: data.len(),
            })
            .collect();
        let mut out = header_bytes(&self.kv, &infos);
        for (_, _, _, data) in &self.tensors {
            out.extend_from_slice(data);
            out.resize(aligned(out.len() as u64) as usize, 0);
        }
        out
    }
}

/// The alignment herd writes GGUF data with (the format's default, so no
/// `general.alignment` key is needed).
pub const WRITE_ALIGNMENT: u64 = DEFAULT_ALIGNMENT;

/// `n` rounded up to [`WRITE_ALIGNMENT`].
pub fn aligned(n: u64) -> u64 {
    n.div_ceil(WRITE_ALIGNMENT) * WRITE_ALIGNMENT
}

/// One tensor-table entry for [`header_bytes`]: `dims` in ggml order, `size` in bytes.
#[derive(Debug, Clone)]
pub struct TensorHeader {
    pub name: String,
    pub dims: Vec<u64>,
    pub dtype: DType,
    pub size: usize,
}

/// A GGUF v3 header: magic, counts, metadata, the tensor table with each tensor at the
/// next aligned offset after the one before, padded so the data section starts aligned.
/// A writer streams the tensors after it in table order, each padded with
/// [`aligned`]; that is how a multi-gigabyte file is written without holding it.
pub fn header_bytes(kv: &[(String, Value)], tensors: &[TensorHeader]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (k, v) in kv {
        write_value(&mut out, &Value::String(k.clone()));
        out.extend_from_slice(&type_id(v).to_le_bytes());
        write_value(&mut out, v);
    }
    let mut offset = 0u64;
    for t in tensors {
        write_value(&mut out, &Value::String(t.name.clone()));
        out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        t.dims.iter().for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
        out.extend_from_slice(&t.dtype.ggml_id().to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset = aligned(offset + t.size as u64);
    }
    out.resize(aligned(out.len() as u64) as usize, 0);
    out
}
