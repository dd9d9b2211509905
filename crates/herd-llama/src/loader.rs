//! The weight name map: GGUF, Hugging Face and Meta checkpoints in, one normalized
//! set of weights out (GGUF names, ggml row layout, interleaved RoPE rows).
//!
//! This is the only place that knows about naming conventions and Q/K layouts, so the
//! model sees one kind of weight whatever the file format.

use crate::config::Config;
use crate::error::{LlamaError, Result};
use crate::gguf::{GgufFile, Value};
use crate::safetensors_dir::SafetensorsDir;
use crate::tokenizer::{GgufVocab, Tokenizer};
use herd_tensor::mmap::{Mapping, Mmap};
use herd_tensor::quant::dequantize_row;
use herd_tensor::{DType, WeightRef};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Weight bytes: borrowed from a mapped file, or owned when the loader had to
/// rearrange rows (HF Q/K).
#[derive(Debug, Clone)]
pub enum Bytes {
    Mapped { map: Arc<Mmap>, start: usize, end: usize },
    Owned(Arc<Vec<u8>>),
}

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped { map, start, end } => &map[*start..*end],
            Bytes::Owned(v) => v,
        }
    }
}

/// A 2-D weight of any dtype: `rows` output features, each a row of `cols` inputs.
#[derive(Debug, Clone)]
pub struct Weight {
    pub dtype: DType,
    pub rows: usize,
    pub cols: usize,
    pub bytes: Bytes,
}

impl Weight {
    pub fn view(&self) -> WeightRef<'_> {
        WeightRef { dtype: self.dtype, rows: self.rows, cols: self.cols, data: self.bytes.as_slice() }
    }
}

/// One transformer block's weights.
#[derive(Debug, Clone)]
pub struct Layer {
    pub attn_norm: Vec<f32>, // [dim]
    pub wq: Weight,          // [n_heads*head_dim, dim], RoPE rows interleaved
    pub wk: Weight,          // [n_kv_heads*head_dim, dim], RoPE rows interleaved
    pub wv: Weight,          // [n_kv_heads*head_dim, dim]
    pub wo: Weight,          // [dim, n_heads*head_dim]
    pub ffn_norm: Vec<f32>,  // [dim]
    pub w_gate: Weight,      // [ffn_dim, dim]
    pub w_up: Weight,        // [ffn_dim, dim]
    pub w_down: Weight,      // [dim, ffn_dim]
}

/// All weights of a Llama model, normalized.
#[derive(Debug, Clone)]
pub struct Weights {
    pub token_embd: Weight, // [vocab, dim]
    pub layers: Vec<Layer>,
    pub output_norm: Vec<f32>, // [dim]
    /// [vocab, dim]; `None` when the output projection is tied to `token_embd`.
    pub output: Option<Weight>,
}

impl Weights {
    /// Every 2-D weight with its GGUF name (`blk.N.attn_q`, ...), in file order.
    pub fn named(&self) -> Vec<(String, &Weight)> {
        let mut v = vec![("token_embd".to_string(), &self.token_embd)];
        for (i, l) in self.layers.iter().enumerate() {
            for (n, t) in [
                ("attn_q", &l.wq),
                ("attn_k", &l.wk),
                ("attn_v", &l.wv),
                ("attn_output", &l.wo),
                ("ffn_gate", &l.w_gate),
                ("ffn_up", &l.w_up),
                ("ffn_down", &l.w_down),
            ] {
                v.push((format!("blk.{i}.{n}"), t));
            }
        }
        if let Some(o) = &self.output {
            v.push(("output".to_string(), o));
        }
        v
    }

    /// Parameters, norms included (a tied output counts once).
    pub fn n_params(&self) -> usize {
        let norms =
            self.output_norm.len() + self.layers.iter().map(|l| l.attn_norm.len() + l.ffn_norm.len()).sum::<usize>();
        self.named().iter().map(|(_, w)| w.rows * w.cols).sum::<usize>() + norms
    }

    /// Bytes of the 2-D weights as stored (the quantized size).
    pub fn bytes(&self) -> usize {
        self.named().iter().map(|(_, w)| w.bytes.as_slice().len()).sum()
    }

    /// Bytes of weights one decode step reads: all of them but the embedding table,
    /// of which a token reads one row, unless the output projection is tied to it
    /// (then every row is read for the logits). The numerator of a roofline.
    pub fn decode_bytes(&self) -> usize {
        let embd = self.token_embd.bytes.as_slice().len();
        let row = embd / self.token_embd.rows.max(1);
        if self.output.is_some() { self.bytes() - embd + row } else { self.bytes() }
    }
}

/// Everything a loaded model file gives: config, weights, tokenizer, chat template.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub path: PathBuf,
    pub format: &'static str,
    pub config: Config,
    pub weights: Weights,
    pub tokenizer: Tokenizer,
    pub chat_template: Option<String>,
    pub bos_token: String,
    pub eos_token: String,
}

/// A tensor as the file stores it, before layout normalization.
struct Raw {
    dtype: DType,
    rows: usize,
    cols: usize,
    bytes: Bytes,
}

enum Source<'a> {
    Gguf(&'a GgufFile),
    /// A safetensors folder and whether it uses Hugging Face names (true) or Meta's.
    St(&'a SafetensorsDir, bool),
}

fn missing(name: &str) -> LlamaError {
    LlamaError::Model(format!("tensor {name} is missing from the model file"))
}

impl Source<'_> {
    /// The file's name for a canonical (GGUF) tensor name.
    fn file_name(&self, canon: &str) -> String {
        let hf = match self {
            Source::Gguf(_) => return canon.to_string(),
            Source::St(_, hf) => *hf,
        };
        let (layer, rest) = match canon.strip_prefix("blk.") {
            Some(r) => match r.split_once('.') {
                Some((i, rest)) => (Some(i), rest),
                None => (None, canon),
            },
            None => (None, canon),
        };
        match (hf, layer) {
            (true, None) => match canon {
                "token_embd.weight" => "model.embed_tokens.weight".into(),
                "output_norm.weight" => "model.norm.weight".into(),
                "output.weight" => "lm_head.weight".into(),
                other => other.into(),
            },
            (false, None) => match canon {
                "token_embd.weight" => "tok_embeddings.weight".into(),
                "output_norm.weight" => "norm.weight".into(),
                other => other.into(),
            },
            (true, Some(i)) => {
                let suffix = match rest {
                    "attn_norm.weight" => "input_layernorm.weight",
                    "attn_q.weight" => "self_attn.q_proj.weight",
                    "attn_k.weight" => "self_attn.k_proj.weight",
                    "attn_v.weight" => "self_attn.v_proj.weight",
                    "attn_output.weight" => "self_attn.o_proj.weight",
                    "ffn_norm.weight" => "post_attention_layernorm.weight",
                    "ffn_gate.weight" => "mlp.gate_proj.weight",
                    "ffn_up.weight" => "mlp.up_proj.weight",
                    "ffn_down.weight" => "mlp.down_proj.weight",
                    other => other,
                };
                format!("model.layers.{i}.{suffix}")
            }
            (false, Some(i)) => {
                let suffix = match rest {
                    "attn_norm.weight" => "attention_norm.weight",
                    "attn_q.weight" => "attention.wq.weight",
                    "attn_k.weight" => "attention.wk.weight",
                    "attn_v.weight" => "attention.wv.weight",
                    "attn_output.weight" => "attention.wo.weight",
                    "ffn_norm.weight" => "ffn_norm.weight",
                    "ffn_gate.weight" => "feed_forward.w1.weight",
                    "ffn_up.weight" => "feed_forward.w3.weight",
                    "ffn_down.weight" => "feed_forward.w2.weight",
                    other => other,
                };
                format!("layers.{i}.{suffix}")
            }
        }
    }

    fn get(&self, canon: &str) -> Result<Option<Raw>> {
        let name = self.file_name(canon);
        match self {
            Source::Gguf(g) => Ok(g.tensor(&name).map(|t| Raw {
                dtype: t.dtype,
                rows: t.rows(),
                cols: t.cols(),
                bytes: Bytes::Mapped { map: g.map.clone(), start: t.offset, end: t.offset + t.size },
            })),
            Source::St(d, _) => {
                let Some(e) = d.tensors.get(&name) else { return Ok(None) };
                let (rows, cols) = match e.shape.as_slice() {
                    [n] => (1, *n),
                    [r, c] => (*r, *c),
                    s => return Err(LlamaError::Model(format!("tensor {name} has shape {s:?}, want 1-D or 2-D"))),
                };
                Ok(Some(Raw {
                    dtype: e.dtype,
                    rows,
                    cols,
                    bytes: Bytes::Mapped { map: d.shards[e.shard].1.clone(), start: e.start, end: e.end },
                }))
            }
        }
    }

    fn weight(&self, canon: &str, rows: usize, cols: usize) -> Result<Weight> {
        let r = self.get(canon)?.ok_or_else(|| missing(canon))?;
        if r.rows != rows || r.cols != cols {
            return Err(LlamaError::Model(format!(
                "tensor {} has shape [{}, {}], the config implies [{rows}, {cols}]",
                self.file_name(canon),
                r.rows,
                r.cols
            )));
        }
        WeightRef::new(r.dtype, r.rows, r.cols, r.bytes.as_slice())?;
        Ok(Weight { dtype: r.dtype, rows, cols, bytes: r.bytes })
    }

    fn vector(&self, canon: &str, n: usize) -> Result<Vec<f32>> {
        let r = self.get(canon)?.ok_or_else(|| missing(canon))?;
        if r.rows * r.cols != n {
            return Err(LlamaError::Model(format!(
                "tensor {} has {} values, want {n}",
                self.file_name(canon),
                r.rows * r.cols
            )));
        }
        WeightRef::new(r.dtype, 1, n, r.bytes.as_slice())?;
        let mut out = vec![0f32; n];
        dequantize_row(r.dtype, r.bytes.as_slice(), &mut out);
        Ok(out)
    }

    /// Hugging Face checkpoints store Q and K rows permuted for the rotate-half RoPE
    /// (`transformers`' conversion script splits each head into halves); undo it so
    /// every head is in Meta's interleaved pair layout, which the model uses.
    fn qk_weight(&self, canon: &str, heads: usize, head_dim: usize, cols: usize) -> Result<Weight> {
        let w = self.weight(canon, heads * head_dim, cols)?;
        if !matches!(self, Source::St(_, true)) {
            return Ok(w);
        }
        let rb = w.dtype.row_bytes(cols).unwrap_or(0);
        let src = w.bytes.as_slice();
        let mut out = vec![0u8; src.len()];
        let half = head_dim / 2;
        for h in 0..heads {
            for i in 0..half {
                for (pair, hf_row) in [(0usize, i), (1, half + i)] {
                    let dst = h * head_dim + 2 * i + pair;
                    let s = h * head_dim + hf_row;
                    out[dst * rb..(dst + 1) * rb].copy_from_slice(&src[s * rb..(s + 1) * rb]);
                }
            }
        }
        Ok(Weight { bytes: Bytes::Owned(Arc::new(out)), ..w })
    }

    fn weights(&self, c: &Config) -> Result<Weights> {
        let (dim, hd, q_dim, kv_dim) = (c.dim, c.head_dim, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
        let mut layers = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(Layer {
                attn_norm: self.vector(&n("attn_norm"), dim)?,
                wq: self.qk_weight(&n("attn_q"), c.n_heads, hd, dim)?,
                wk: self.qk_weight(&n("attn_k"), c.n_kv_heads, hd, dim)?,
                wv: self.weight(&n("attn_v"), kv_dim, dim)?,
                wo: self.weight(&n("attn_output"), dim, q_dim)?,
                ffn_norm: self.vector(&n("ffn_norm"), dim)?,
                w_gate: self.weight(&n("ffn_gate"), c.ffn_dim, dim)?,
                w_up: self.weight(&n("ffn_up"), c.ffn_dim, dim)?,
                w_down: self.weight(&n("ffn_down"), dim, c.ffn_dim)?,
            });
        }
        let output = if self.get("output.weight")?.is_some() {
            Some(self.weight("output.weight", c.vocab_size, dim)?)
        } else {
            None
        };
        Ok(Weights {
            token_embd: self.weight("token_embd.weight", c.vocab_size, dim)?,
            layers,
            output_norm: self.vector("output_norm.weight", dim)?,
            output,
        })
    }
}

/// The string array at `key`, moved out of the header (a 128K-token vocabulary is
/// ~8 MB as parsed values; cloning it doubled that in the load's peak memory).
fn take_str_array(g: &mut GgufFile, key: &str) -> Result<Vec<String>> {
    match g.header.metadata.remove(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(LlamaError::Tokenizer(format!("{key} holds a non-string"))),
            })
            .collect(),
        Some(_) => Err(LlamaError::Tokenizer(format!("{key} is not an array"))),
    }
}

/// The vocabulary, its arrays moved out of the header (see `take_str_array`).
fn take_gguf_vocab(g: &mut GgufFile) -> Result<GgufVocab> {
    let token_types = match g.header.metadata.remove("tokenizer.ggml.token_type") {
        Some(Value::Array(a)) => a.iter().map(|v| v.as_i64().unwrap_or(1) as i32).collect(),
        _ => Vec::new(),
    };
    let tokens = take_str_array(g, "tokenizer.ggml.tokens")?;
    let merges = take_str_array(g, "tokenizer.ggml.merges")?;
    let id = |k: &str| g.get(k).and_then(|v| v.as_u64()).map(|v| v as u32);
    let find = |t: &str| tokens.iter().position(|x| x == t).map(|p| p as u32);
    let pre = g.get("tokenizer.ggml.pre").and_then(|v| v.as_str()).unwrap_or("default").to_string();
    Ok(GgufVocab {
        model: g
            .get("tokenizer.ggml.model")
            .and_then(|v| v.as_str())
            .ok_or_else(|| LlamaError::Tokenizer("tokenizer.ggml.model missing: the file has no vocabulary".into()))?
            .to_string(),
        merges,
        token_types,
        bos: id("tokenizer.ggml.bos_token_id"),
        eos: id("tokenizer.ggml.eos_token_id"),
        eot: id("tokenizer.ggml.eot_token_id").or_else(|| find("<|eot_id|>")).or_else(|| find("<|im_end|>")),
        eom: id("tokenizer.ggml.eom_token_id").or_else(|| find("<|eom_id|>")),
        // Absent, llama.cpp's default depends on the pre-tokenizer.
        add_bos: g
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.as_bool())
            .unwrap_or_else(|| GgufVocab::default_add_bos(&pre)),
        pre,
        tokens,
    })
}

/// Loads a GGUF file, mapped as `how` says.
fn load_gguf(path: &Path, how: Mapping) -> Result<ModelFiles> {
    let mut g = GgufFile::open_mapped(path, how)?;
    let config = Config::from_gguf(&g)?;
    let weights = Source::Gguf(&g).weights(&config)?;
    let vocab = take_gguf_vocab(&mut g)?;
    let chat_template = g.get("tokenizer.chat_template").and_then(|v| v.as_str()).map(str::to_string);
    // The header goes before the tokenizer is built: the load's peak memory is there.
    drop(g);
    let tokenizer = Tokenizer::from_gguf_vocab(vocab)?;
    let tok_text = |id: Option<u32>| {
        id.map(|i| String::from_utf8_lossy(tokenizer.token_bytes(i)).into_owned()).unwrap_or_default()
    };
    Ok(ModelFiles {
        path: path.to_path_buf(),
        format: "gguf",
        chat_template,
        bos_token: tok_text(tokenizer.bos_id()),
        eos_token: tok_text(tokenizer.eos_id()),
        config,
        weights,
        tokenizer,
    })
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LlamaError::io(path, e)),
    }
}

/// A special token in tokenizer_config.json: a string or `{"content": ...}`.
fn token_str(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        o => o.get("content").and_then(|c| c.as_str()).map(str::to_string),
    }
}

/// Loads a Hugging Face checkpoint folder.
fn load_hf_dir(dir: &Path, how: Mapping) -> Result<ModelFiles> {
    let cfg_path = dir.join("config.json");
    let cfg_bytes = std::fs::read(&cfg_path).map_err(|e| LlamaError::io(&cfg_path, e))?;
    let config = Config::from_hf_json(&cfg_bytes)?;
    let raw: serde_json::Value = serde_json::from_slice(&cfg_bytes).unwrap_or_default();
    for flag in ["attention_bias", "mlp_bias"] {
        if raw.get(flag).and_then(|v| v.as_bool()) == Some(true) {
            return Err(LlamaError::Config(format!("config.json: {flag} = true is not Llama; not supported")));
        }
    }
    let st = SafetensorsDir::open_mapped(dir, how)?;
    let hf_names = st.tensors.contains_key("model.embed_tokens.weight");
    let weights = Source::St(&st, hf_names).weights(&config)?;
    let tj_path = dir.join("tokenizer.json");
    let tj = read_opt(&tj_path)?.ok_or_else(|| {
        LlamaError::Tokenizer(format!(
            "{}: missing (herd reads tokenizer.json in a checkpoint folder)",
            tj_path.display()
        ))
    })?;
    let tc = read_opt(&dir.join("tokenizer_config.json"))?;
    let tokenizer = Tokenizer::from_hf_json(&tj, tc.as_deref())?;
    let tcv: serde_json::Value = tc.as_deref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
    let chat_template = match tcv.get("chat_template") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .or_else(|| a.first())
            .and_then(|t| t.get("template"))
            .and_then(|t| t.as_str())
            .map(str::to_string),
        _ => read_opt(&dir.join("chat_template.jinja"))?.map(|b| String::from_utf8_lossy(&b).into_owned()),
    };
    let tok_text = |id: Option<u32>| {
        id.map(|i| String::from_utf8_lossy(tokenizer.token_bytes(i)).into_owned()).unwrap_or_default()
    };
    Ok(ModelFiles {
        path: dir.to_path_buf(),
        format: "safetensors",
        chat_template,
        bos_token: token_str(tcv.get("bos_token")).unwrap_or_else(|| tok_text(tokenizer.bos_id())),
        eos_token: token_str(tcv.get("eos_token")).unwrap_or_else(|| tok_text(tokenizer.eos_id())),
        config,
        weights,
        tokenizer,
    })
}

/// Loads a model from a GGUF file or a Hugging Face checkpoint folder, its files
/// mapped as they are (for reading its header or converting it: `herd info`, `herd
/// quantize`).
pub fn load(path: &Path) -> Result<ModelFiles> {
    load_mapped(path, Mapping::Plain)
}

/// [`load`] for running the model: the weights in huge pages where that pays
/// (`Mapping::Inference`), since every generated token reads all of them.
pub fn load_for_inference(path: &Path) -> Result<ModelFiles> {
    load_mapped(path, Mapping::Inference)
}

/// [`load`] with the files mapped as `how` says.
pub fn load_mapped(path: &Path, how: Mapping) -> Result<ModelFiles> {
    if path.is_dir() {
        load_hf_dir(path, how)
    } else if path.exists() {
        load_gguf(path, how)
    } else {
        Err(LlamaError::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder")))
    }
}
