//! Models to GGUF files (`herd quantize`): weights converted to a llama.cpp file type, metadata llama.cpp loads, written tensor by tensor.
//!
//! The source is a loaded model (a GGUF file or a Hugging Face folder, already in
//! GGUF's names and interleaved-RoPE row layout thanks to the loader) or a random
//! model of a given shape. Either way the output is planned first (every tensor's name,
//! shape and type, so the header with all offsets can be written up front) and then
//! streamed: a bounded chunk of rows at a time is produced as f32, quantized in
//! parallel on the pool the caller hands in, and appended. Memory stays at a few
//! chunks whatever the model's size, so an 8B model never exists as f32 in memory.

mod mix;
pub mod random;
mod vocab;

pub use mix::{Choice, FileType, Role, Shape, choose};
pub use random::RandomSpec;

use crate::config::{Config, Llama3Scaling, RopeScaling};
use crate::error::{LlamaError, Result};
use crate::gguf::{GgufFile, TensorHeader, Value, aligned, header_bytes};
use crate::loader::{ModelFiles, Weight};
use herd_tensor::quant::dequantize_row;
use herd_tensor::quantize::quantize_row_into;
use herd_tensor::{DType, MatMul, TensorError};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Values per chunk of rows handed to the pool (16 MiB as f32): large enough to keep
/// every thread busy, small enough to keep memory flat.
const CHUNK_VALUES: usize = 1 << 22;

/// llama.cpp's `GGML_QNT_VERSION`, written as `general.quantization_version`.
const QUANTIZATION_VERSION: u32 = 2;

/// Metadata keys of a GGUF source that describe the old file, not the new one.
const REPLACED_KEYS: &[&str] = &["general.file_type", "general.quantization_version", "general.alignment"];

/// How to convert.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub file_type: FileType,
    /// The threads that quantize (herd-llama starts none of its own).
    pub pool: &'a MatMul,
    /// Seed of random weights (ignored for loaded models).
    pub seed: u64,
}

/// Where the conversion is, after each chunk of rows.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub tensor: &'a str,
    /// 0-based index of the tensor and the number of tensors.
    pub index: usize,
    pub count: usize,
    /// Tensor data written so far and in all.
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Summary {
    pub file_type: FileType,
    pub path: PathBuf,
    /// Values in all tensors.
    pub n_elements: u64,
    /// Bytes of the source's tensors as stored (random models: as f32).
    pub bytes_in: u64,
    /// Bytes of the written tensor data, and of the whole file.
    pub bytes_out: u64,
    pub file_bytes: u64,
    /// Tensor count and bytes per type written.
    pub types: BTreeMap<&'static str, (usize, u64)>,
    /// One line per tensor whose row width forced a different type than the mix
    /// wanted (`blk.0.attn_q.weight: 576 columns: Q4_K -> Q5_0`).
    pub fallbacks: Vec<String>,
}

impl Summary {
    pub fn bpw_in(&self) -> f64 {
        self.bytes_in as f64 * 8.0 / self.n_elements.max(1) as f64
    }
    pub fn bpw_out(&self) -> f64 {
        self.bytes_out as f64 * 8.0 / self.n_elements.max(1) as f64
    }
}

/// Where one tensor's values come from.
enum Src<'a> {
    /// A loaded weight of any type, dequantized a row at a time.
    Weight(&'a Weight),
    /// A vector (norms, RoPE factors): one row, written as F32.
    Values(Vec<f32>),
    /// Seeded `normal(0, std)` rows.
    Random(f32),
}

/// One output tensor: name, `rows` x `cols` (ggml dims `[cols, rows]`, or `[cols]`
/// for a vector), the type it is written in and the type the mix wanted.
struct Planned<'a> {
    name: String,
    rows: usize,
    cols: usize,
    vector: bool,
    choice: Choice,
    src: Src<'a>,
}

impl Planned<'_> {
    fn dims(&self) -> Vec<u64> {
        if self.vector { vec![self.cols as u64] } else { vec![self.cols as u64, self.rows as u64] }
    }
    fn size(&self) -> usize {
        self.rows * self.choice.dtype.row_bytes(self.cols).unwrap_or(0)
    }
}

/// The 2-D weights of a Llama model in GGUF order with their roles and shapes.
fn layer_weights(c: &Config, layer: usize) -> [(String, Role, usize, usize); 7] {
    let (q, kv) = (c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
    let n = |s: &str| format!("blk.{layer}.{s}.weight");
    [
        (n("attn_q"), Role::AttnQ, q, c.dim),
        (n("attn_k"), Role::AttnK, kv, c.dim),
        (n("attn_v"), Role::AttnV, kv, c.dim),
        (n("attn_output"), Role::AttnOutput, c.dim, q),
        (n("ffn_gate"), Role::FfnGate, c.ffn_dim, c.dim),
        (n("ffn_up"), Role::FfnUp, c.ffn_dim, c.dim),
        (n("ffn_down"), Role::FfnDown, c.dim, c.ffn_dim),
    ]
}

/// The source of each tensor of a plan.
trait Sources<'a> {
    /// The 2-D weight `role` of `layer` (the layer is ignored for embedding and output).
    fn weight(&self, role: Role, layer: usize) -> Result<Src<'a>>;
    /// `attn_norm` or `ffn_norm` of `layer`, or else `output_norm`.
    fn norm(&self, name: &str, layer: usize) -> Vec<f32>;
}

/// Every tensor of the output in file order: the embedding, the RoPE factors of a
/// scaled model, the blocks, the final norm and the untied output.
fn plan<'a>(c: &Config, tied: bool, ft: FileType, s: &impl Sources<'a>) -> Result<Vec<Planned<'a>>> {
    let shape = Shape { n_layers: c.n_layers, tied, is_70b: c.n_layers == 80 && c.n_heads != c.n_kv_heads };
    let f32_choice = Choice { dtype: DType::F32, wanted: None };
    let vector = |name: String, v: Vec<f32>| Planned {
        name,
        rows: 1,
        cols: v.len(),
        vector: true,
        choice: f32_choice,
        src: Src::Values(v),
    };
    let matrix = |name: String, role, layer, rows, cols| -> Result<Planned<'a>> {
        let src = s.weight(role, layer)?;
        Ok(Planned { choice: choose(ft, role, layer, cols, &shape), name, rows, cols, vector: false, src })
    };
    let mut out = vec![matrix("token_embd.weight".into(), Role::TokenEmbd, 0, c.vocab_size, c.dim)?];
    match &c.rope_scaling {
        RopeScaling::Llama3(l3) => out.push(vector("rope_freqs.weight".into(), llama3_factors(c, l3))),
        RopeScaling::Factors(f) => out.push(vector("rope_freqs.weight".into(), f.clone())),
        RopeScaling::None | RopeScaling::Linear(_) => {}
    }
    for i in 0..c.n_layers {
        let [q, k, v, o, gate, up, down] = layer_weights(c, i);
        out.push(vector(format!("blk.{i}.attn_norm.weight"), s.norm("attn_norm", i)));
        for (name, role, rows, cols) in [q, k, v, o] {
            out.push(matrix(name, role, i, rows, cols)?);
        }
        out.push(vector(format!("blk.{i}.ffn_norm.weight"), s.norm("ffn_norm", i)));
        for (name, role, rows, cols) in [gate, up, down] {
            out.push(matrix(name, role, i, rows, cols)?);
        }
    }
    out.push(vector("output_norm.weight".into(), s.norm("output_norm", 0)));
    if !tied {
        out.push(matrix("output.weight".into(), Role::Output, 0, c.vocab_size, c.dim)?);
    }
    Ok(out)
}

/// The `rope_freqs` divisors of a llama3-scaled model exactly as llama.cpp's converter
/// computes them: in f32 (torch float32 tensors), where herd's `Config::rope_divisors`
/// works in f64; the two differ in the last bit of a blended factor or two.
fn llama3_factors(c: &Config, s: &Llama3Scaling) -> Vec<f32> {
    let (base, dim) = (c.rope_theta as f32, c.head_dim as f32);
    let (factor, low, high, old) = (
        s.factor as f32,
        s.low_freq_factor as f32,
        s.high_freq_factor as f32,
        s.original_max_position_embeddings as f32,
    );
    let (low_wavelen, high_wavelen) = (
        s.original_max_position_embeddings / s.low_freq_factor,
        s.original_max_position_embeddings / s.high_freq_factor,
    );
    (0..c.head_dim / 2)
        .map(|i| {
            let freq = 1.0 / base.powf((2 * i) as f32 / dim);
            let wavelen = std::f32::consts::TAU / freq;
            if (wavelen as f64) < high_wavelen {
                1.0
            } else if wavelen as f64 > low_wavelen {
                factor
            } else {
                let smooth = (old / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            }
        })
        .collect()
}

/// A loaded model's weights as plan sources.
struct Loaded<'a>(&'a ModelFiles);

impl<'a> Sources<'a> for Loaded<'a> {
    fn weight(&self, role: Role, layer: usize) -> Result<Src<'a>> {
        let w = &self.0.weights;
        let l = w.layers.get(layer);
        let found = match role {
            Role::TokenEmbd => Some(&w.token_embd),
            Role::Output => w.output.as_ref(),
            Role::AttnQ => l.map(|l| &l.wq),
            Role::AttnK => l.map(|l| &l.wk),
            Role::AttnV => l.map(|l| &l.wv),
            Role::AttnOutput => l.map(|l| &l.wo),
            Role::FfnGate => l.map(|l| &l.w_gate),
            Role::FfnUp => l.map(|l| &l.w_up),
            Role::FfnDown => l.map(|l| &l.w_down),
        };
        found
            .map(Src::Weight)
            .ok_or_else(|| LlamaError::Model(format!("convert: the model has no {role:?} weight for layer {layer}")))
    }
    fn norm(&self, name: &str, layer: usize) -> Vec<f32> {
        let w = &self.0.weights;
        match (name, w.layers.get(layer)) {
            ("attn_norm", Some(l)) => l.attn_norm.clone(),
            ("ffn_norm", Some(l)) => l.ffn_norm.clone(),
            _ => w.output_norm.clone(),
        }
    }
}

/// Random weights as plan sources: normal projections, unit norms.
struct Random<'a>(&'a RandomSpec);

impl<'a> Sources<'a> for Random<'_> {
    fn weight(&self, _: Role, _: usize) -> Result<Src<'a>> {
        Ok(Src::Random(self.0.std))
    }
    fn norm(&self, _: &str, _: usize) -> Vec<f32> {
        vec![1.0; self.0.config.dim]
    }
}

/// The `general.*` and `llama.*` keys convert_hf_to_gguf.py writes for a Llama model.
fn llama_kv(c: &Config, name: &str, ft: FileType) -> Vec<(String, Value)> {
    let u = |v: usize| Value::U32(v as u32);
    let mut kv: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("llama".into())),
        ("general.type".into(), Value::String("model".into())),
        ("general.name".into(), Value::String(name.into())),
        ("llama.block_count".into(), u(c.n_layers)),
        ("llama.context_length".into(), u(c.max_ctx)),
        ("llama.embedding_length".into(), u(c.dim)),
        ("llama.feed_forward_length".into(), u(c.ffn_dim)),
        ("llama.attention.head_count".into(), u(c.n_heads)),
        ("llama.attention.head_count_kv".into(), u(c.n_kv_heads)),
        ("llama.rope.freq_base".into(), Value::F32(c.rope_theta as f32)),
        ("llama.attention.layer_norm_rms_epsilon".into(), Value::F32(c.norm_eps)),
        ("llama.attention.key_length".into(), u(c.head_dim)),
        ("llama.attention.value_length".into(), u(c.head_dim)),
        ("llama.vocab_size".into(), u(c.vocab_size)),
        ("llama.rope.dimension_count".into(), u(c.head_dim)),
    ];
    if let RopeScaling::Linear(f) = c.rope_scaling {
        kv.push(("llama.rope.scaling.type".into(), Value::String("linear".into())));
        kv.push(("llama.rope.scaling.factor".into(), Value::F32(f as f32)));
    }
    kv.extend(file_type_kv(ft));
    kv
}

fn file_type_kv(ft: FileType) -> [(String, Value); 2] {
    [
        ("general.file_type".into(), Value::U32(ft.llama_ftype())),
        ("general.quantization_version".into(), Value::U32(QUANTIZATION_VERSION)),
    ]
}

/// Converts a loaded model. A GGUF source keeps its metadata (as llama-quantize does,
/// with the file type replaced); a Hugging Face folder gets the metadata llama.cpp's
/// converter would write, its tokenizer.json turned into a GGUF vocabulary.
pub fn quantize_model(
    files: &ModelFiles,
    out: &Path,
    opts: Options<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Summary> {
    let c = &files.config;
    let kv = if files.format == "gguf" {
        let g = GgufFile::open(&files.path)?;
        let mut kv: Vec<(String, Value)> = g
            .header
            .metadata
            .iter()
            .filter(|(k, _)| !REPLACED_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        kv.extend(file_type_kv(opts.file_type));
        kv
    } else {
        let name = files.path.file_name().map_or("model".into(), |n| n.to_string_lossy().into_owned());
        let mut kv = llama_kv(c, &name, opts.file_type);
        kv.extend(vocab::from_file(&files.path.join("tokenizer.json"), c.vocab_size)?);
        kv
    };
    let tied = files.weights.output.is_none();
    let planned = plan(c, tied, opts.file_type, &Loaded(files))?;
    let norms: usize = planned.iter().filter(|p| p.vector).map(|p| 4 * p.cols).sum();
    let bytes_in = (files.weights.bytes() + norms) as u64;
    write_gguf(out, &kv, &planned, bytes_in, opts, progress)
}

/// Writes a random model of `spec`'s shape. With a tokenizer file (tokenizer.json
/// or a Llama 3 tokenizer.model) its vocabulary is embedded; without one, a
/// byte-level stand-in that herd and llama.cpp both load.
pub fn random_model(
    spec: &RandomSpec,
    tokenizer: Option<&Path>,
    out: &Path,
    opts: Options<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Summary> {
    let c = &spec.config;
    let mut kv = llama_kv(c, &spec.name, opts.file_type);
    kv.extend(match tokenizer {
        Some(t) => vocab::from_file(t, c.vocab_size)?,
        None => vocab::stand_in(c.vocab_size)?,
    });
    let planned = plan(c, c.tied_embeddings, opts.file_type, &Random(spec))?;
    let n: usize = planned.iter().map(|p| p.rows * p.cols).sum();
    write_gguf(out, &kv, &planned, 4 * n as u64, opts, progress)
}

/// `out` with `.partial` appended: the file is written there and renamed when
/// complete, so an interrupted run never leaves a truncated model under the name.
fn partial_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

fn write_gguf(
    out: &Path,
    kv: &[(String, Value)],
    planned: &[Planned<'_>],
    bytes_in: u64,
    opts: Options<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Summary> {
    let headers: Vec<TensorHeader> = planned
        .iter()
        .map(|p| TensorHeader { name: p.name.clone(), dims: p.dims(), dtype: p.choice.dtype, size: p.size() })
        .collect();
    let header = header_bytes(kv, &headers);
    let bytes_total: u64 = planned.iter().map(|p| aligned(p.size() as u64)).sum();
    let tmp = partial_path(out);
    let io = |e| LlamaError::io(&tmp, e);
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    w.write_all(&header).map_err(io)?;
    let mut s = Summary {
        file_type: opts.file_type,
        path: out.to_path_buf(),
        n_elements: 0,
        bytes_in,
        bytes_out: 0,
        file_bytes: header.len() as u64 + bytes_total,
        types: BTreeMap::new(),
        fallbacks: Vec::new(),
    };
    let mut done = 0u64;
    for (index, p) in planned.iter().enumerate() {
        let mut report = |d: u64| {
            progress(Progress { tensor: &p.name, index, count: planned.len(), bytes_done: done + d, bytes_total })
        };
        write_tensor(&mut w, p, index, opts, &tmp, &mut report)?;
        let size = p.size() as u64;
        w.write_all(&vec![0u8; (aligned(size) - size) as usize]).map_err(io)?;
        done += aligned(size);
        s.n_elements += (p.rows * p.cols) as u64;
        s.bytes_out += size;
        let e = s.types.entry(p.choice.dtype.name()).or_default();
        *e = (e.0 + 1, e.1 + size);
        if let Some(wanted) = p.choice.wanted {
            let (from, to) = (wanted.name(), p.choice.dtype.name());
            s.fallbacks.push(format!("{}: {} columns: {from} -> {to}", p.name, p.cols));
        }
    }
    w.flush().map_err(io)?;
    drop(w);
    std::fs::rename(&tmp, out).map_err(|e| LlamaError::io(out, e))?;
    Ok(s)
}

/// Produces, quantizes and appends one tensor, a chunk of rows at a time.
fn write_tensor(
    w: &mut impl Write,
    p: &Planned<'_>,
    index: usize,
    opts: Options<'_>,
    path: &Path,
    report: &mut dyn FnMut(u64),
) -> Result<()> {
    let dtype = p.choice.dtype;
    let rb = dtype.row_bytes(p.cols).ok_or(TensorError::RaggedRow { dtype, cols: p.cols, block: dtype.block_len() })?;
    let chunk_rows = (CHUNK_VALUES / p.cols.max(1)).max(1);
    let mut buf = Vec::with_capacity(chunk_rows.min(p.rows) * rb);
    for start in (0..p.rows).step_by(chunk_rows) {
        let n = chunk_rows.min(p.rows - start);
        // One slot per row, filled by whichever thread takes the row.
        let slots: Vec<OnceLock<Result<Vec<u8>, TensorError>>> = (0..n).map(|_| OnceLock::new()).collect();
        opts.pool.pool().run(n, &|i| {
            let row = start + i;
            let mut f = vec![0f32; p.cols];
            match &p.src {
                Src::Weight(wt) => dequantize_row(wt.dtype, wt.view().row(row), &mut f),
                Src::Values(v) => f.copy_from_slice(v),
                Src::Random(std) => random::fill_row(opts.seed, index, row, *std, &mut f),
            }
            let mut q = Vec::with_capacity(rb);
            let _ = slots[i].set(quantize_row_into(dtype, &f, &mut q).map(|()| q));
        });
        buf.clear();
        for slot in slots {
            let q = slot
                .into_inner()
                .ok_or_else(|| LlamaError::Model(format!("convert: {}: a row was skipped", p.name)))?;
            buf.extend_from_slice(&q?);
        }
        w.write_all(&buf).map_err(|e| LlamaError::io(path, e))?;
        report(((start + n) * rb) as u64);
    }
    Ok(())
}
