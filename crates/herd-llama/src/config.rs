//! Model hyper-parameters, read from GGUF metadata or a Hugging Face config.json, and
//! the RoPE frequency table they imply (with Llama 3.1's "llama3" scaling).

use crate::error::{LlamaError, Result};
use crate::gguf::GgufFile;
use serde::Serialize;

/// Llama 3.1's "llama3" RoPE frequency scaling (Meta's `apply_scaling`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Llama3Scaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: f64,
}

/// How RoPE frequencies are adjusted beyond the plain `theta^(-2i/d)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RopeScaling {
    None,
    /// From config.json `rope_scaling` with `rope_type: llama3`.
    Llama3(Llama3Scaling),
    /// Per-frequency divisors from a GGUF `rope_freqs.weight` tensor (how llama.cpp's
    /// converter stores the llama3 scaling): `freq_i' = freq_i / factors[i]`.
    Factors(Vec<f32>),
    /// Linear position interpolation (`rope_scaling.type: linear`): positions / factor.
    Linear(f64),
}

/// The hyper-parameters of a Llama-architecture model.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub ffn_dim: usize,
    pub vocab_size: usize,
    pub norm_eps: f32,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    /// The context length the model was trained for.
    pub max_ctx: usize,
    pub tied_embeddings: bool,
}

fn bad(msg: impl Into<String>) -> LlamaError {
    LlamaError::Config(msg.into())
}

impl Config {
    /// Checks the invariants the model relies on, so a wrong file is an error, never
    /// a panic or a silently different model.
    pub fn validate(&self) -> Result<()> {
        let c = self;
        if c.dim == 0 || c.n_layers == 0 || c.n_heads == 0 || c.n_kv_heads == 0 || c.vocab_size == 0 || c.ffn_dim == 0 {
            return Err(bad(format!("zero-sized dimension in {c:?}")));
        }
        if !c.n_heads.is_multiple_of(c.n_kv_heads) {
            return Err(bad(format!("{} attention heads is not a multiple of {} KV heads", c.n_heads, c.n_kv_heads)));
        }
        if c.head_dim == 0 || !c.head_dim.is_multiple_of(2) || c.head_dim > 1024 {
            return Err(bad(format!("head dim {} must be even and at most 1024", c.head_dim)));
        }
        if c.dim > 1 << 16 || c.ffn_dim > 1 << 18 || c.n_layers > 1024 || c.n_heads > 1024 || c.vocab_size > 1 << 22 {
            return Err(bad(format!("implausible dimensions: {c:?}")));
        }
        if !(c.norm_eps > 0.0 && c.norm_eps < 1.0) {
            return Err(bad(format!("rms norm eps {} out of range", c.norm_eps)));
        }
        if !(c.rope_theta > 0.0 && c.rope_theta.is_finite()) {
            return Err(bad(format!("rope theta {} out of range", c.rope_theta)));
        }
        if let RopeScaling::Factors(f) = &c.rope_scaling
            && (f.len() != c.head_dim / 2 || f.iter().any(|v| !(v.is_finite() && *v > 0.0)))
        {
            return Err(bad(format!("rope_freqs has {} entries, want {} positive factors", f.len(), c.head_dim / 2)));
        }
        Ok(())
    }

    /// Per-pair divisors of the rotation angle (llama.cpp's "freq factors"): the
    /// `rope_freqs` tensor as stored, or for a config.json llama3 scaling the ratio of
    /// the plain to the scaled frequency (what llama.cpp's converter writes). 1.0 when
    /// unscaled.
    pub fn rope_divisors(&self) -> Vec<f32> {
        let d = self.head_dim as f64;
        (0..self.head_dim / 2)
            .map(|i| match &self.rope_scaling {
                RopeScaling::Factors(fs) => fs[i],
                RopeScaling::Llama3(s) => {
                    let f = 1.0 / self.rope_theta.powf(2.0 * i as f64 / d);
                    (f / llama3_scale(f, s)) as f32
                }
                RopeScaling::None | RopeScaling::Linear(_) => 1.0,
            })
            .collect()
    }

    /// Linear position scaling (1.0 unless `rope_scaling.type` is linear).
    pub fn rope_freq_scale(&self) -> f32 {
        match self.rope_scaling {
            RopeScaling::Linear(f) => (1.0 / f) as f32,
            _ => 1.0,
        }
    }

    /// From GGUF metadata (`{arch}.*` keys; arch must be `llama`).
    pub fn from_gguf(g: &GgufFile) -> Result<Self> {
        let arch = g
            .get("general.architecture")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("general.architecture missing"))?;
        if arch != "llama" {
            return Err(bad(format!("architecture {arch:?} is not supported (herd runs the Llama architecture)")));
        }
        let u = |k: &str| -> Result<usize> {
            g.get(&format!("llama.{k}"))
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .ok_or_else(|| bad(format!("llama.{k} missing or not an integer")))
        };
        let dim = u("embedding_length")?;
        let n_heads = u("attention.head_count")?;
        let n_kv_heads = u("attention.head_count_kv").unwrap_or(n_heads);
        let head_dim = match u("attention.key_length") {
            Ok(k) => k,
            Err(_) if n_heads > 0 => dim / n_heads,
            Err(e) => return Err(e),
        };
        let rope_dims = u("rope.dimension_count").unwrap_or(head_dim);
        if rope_dims != head_dim {
            return Err(bad(format!("partial RoPE ({rope_dims} of {head_dim} dims) is not Llama; not supported")));
        }
        let tok = g.tensor("token_embd.weight").ok_or_else(|| bad("tensor token_embd.weight missing"))?;
        let vocab_size = match u("vocab_size") {
            Ok(v) => v,
            Err(_) => tok.rows(),
        };
        let f = |k: &str| g.get(&format!("llama.{k}")).and_then(|v| v.as_f64());
        let rope_scaling = if let Some(t) = g.tensor("rope_freqs.weight") {
            if t.dtype != herd_tensor::DType::F32 {
                return Err(bad("rope_freqs.weight must be F32"));
            }
            let b = g.tensor_bytes(t);
            RopeScaling::Factors(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        } else {
            match g.get("llama.rope.scaling.type").and_then(|v| v.as_str()) {
                None | Some("none") => RopeScaling::None,
                Some("linear") => RopeScaling::Linear(f("rope.scaling.factor").unwrap_or(1.0)),
                Some(other) => return Err(bad(format!("RoPE scaling type {other:?} is not supported"))),
            }
        };
        let cfg = Config {
            dim,
            n_layers: u("block_count")?,
            n_heads,
            n_kv_heads,
            head_dim,
            ffn_dim: u("feed_forward_length")?,
            vocab_size,
            norm_eps: f("attention.layer_norm_rms_epsilon").unwrap_or(1e-5) as f32,
            rope_theta: f("rope.freq_base").unwrap_or(10000.0),
            rope_scaling,
            max_ctx: u("context_length").unwrap_or(4096),
            tied_embeddings: g.tensor("output.weight").is_none(),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// From a Hugging Face `config.json`.
    pub fn from_hf_json(json: &[u8]) -> Result<Self> {
        let v: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| bad(format!("config.json is not valid JSON: {e}")))?;
        let archs = v.get("architectures").and_then(|a| a.as_array());
        let model_type = v.get("model_type").and_then(|m| m.as_str()).unwrap_or("");
        let is_llama =
            model_type == "llama" || archs.is_some_and(|a| a.iter().any(|x| x.as_str() == Some("LlamaForCausalLM")));
        if !is_llama {
            return Err(bad(format!(
                "config.json model_type {model_type:?} is not llama (herd runs the Llama architecture)"
            )));
        }
        let u = |k: &str| -> Result<usize> {
            v.get(k)
                .and_then(|x| x.as_u64())
                .map(|x| x as usize)
                .ok_or_else(|| bad(format!("config.json: {k} missing or not an integer")))
        };
        let dim = u("hidden_size")?;
        let n_heads = u("num_attention_heads")?;
        let head_dim = match v.get("head_dim").and_then(|x| x.as_u64()) {
            Some(h) => h as usize,
            None if n_heads > 0 => dim / n_heads,
            None => 0,
        };
        let rope_scaling = match v.get("rope_scaling") {
            None | Some(serde_json::Value::Null) => RopeScaling::None,
            Some(rs) => {
                let ty = rs.get("rope_type").or_else(|| rs.get("type")).and_then(|t| t.as_str()).unwrap_or("");
                let g = |k: &str| -> Result<f64> {
                    rs.get(k)
                        .and_then(|x| x.as_f64())
                        .ok_or_else(|| bad(format!("config.json: rope_scaling.{k} missing")))
                };
                match ty {
                    "llama3" => RopeScaling::Llama3(Llama3Scaling {
                        factor: g("factor")?,
                        low_freq_factor: g("low_freq_factor")?,
                        high_freq_factor: g("high_freq_factor")?,
                        original_max_position_embeddings: g("original_max_position_embeddings")?,
                    }),
                    "linear" => RopeScaling::Linear(g("factor")?),
                    "default" => RopeScaling::None,
                    other => return Err(bad(format!("rope_scaling type {other:?} is not supported"))),
                }
            }
        };
        if let RopeScaling::Llama3(s) = &rope_scaling
            && !(s.factor > 0.0
                && s.high_freq_factor > s.low_freq_factor
                && s.low_freq_factor > 0.0
                && s.original_max_position_embeddings > 0.0)
        {
            return Err(bad(format!("rope_scaling llama3 parameters out of range: {s:?}")));
        }
        let cfg = Config {
            dim,
            n_layers: u("num_hidden_layers")?,
            n_heads,
            n_kv_heads: u("num_key_value_heads").unwrap_or(n_heads),
            head_dim,
            ffn_dim: u("intermediate_size")?,
            vocab_size: u("vocab_size")?,
            norm_eps: v.get("rms_norm_eps").and_then(|x| x.as_f64()).unwrap_or(1e-6) as f32,
            rope_theta: v.get("rope_theta").and_then(|x| x.as_f64()).unwrap_or(10000.0),
            rope_scaling,
            max_ctx: u("max_position_embeddings").unwrap_or(4096),
            tied_embeddings: v.get("tie_word_embeddings").and_then(|x| x.as_bool()).unwrap_or(false),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Meta's `apply_scaling` for one frequency: keep high frequencies, divide low ones by
/// `factor`, blend linearly (in 1/wavelength) in between.
pub fn llama3_scale(freq: f64, s: &Llama3Scaling) -> f64 {
    let low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
    let high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
    let wavelen = 2.0 * std::f64::consts::PI / freq;
    if wavelen < high_wavelen {
        freq
    } else if wavelen > low_wavelen {
        freq / s.factor
    } else {
        let smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor)
            / (s.high_freq_factor - s.low_freq_factor);
        (1.0 - smooth) * freq / s.factor + smooth * freq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama31_8b() -> Config {
        Config {
            dim: 4096,
            n_layers: 32,
            n_heads: 32,
            n_kv_heads: 8,
            head_dim: 128,
            ffn_dim: 14336,
            vocab_size: 128256,
            norm_eps: 1e-5,
            rope_theta: 500000.0,
            rope_scaling: RopeScaling::Llama3(Llama3Scaling {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192.0,
            }),
            max_ctx: 131072,
            tied_embeddings: false,
        }
    }

    #[test]
    fn llama3_scaling_matches_the_spec_boundary_examples() {
        // spec/llama3.md §1.3: i=29 -> 2.166571e-3, i=34 -> 1.785078e-4; 0..=28 kept,
        // 35.. divided by 8.
        let c = llama31_8b();
        let div = c.rope_divisors();
        let base = |i: usize| 1.0 / 500000f64.powf(2.0 * i as f64 / 128.0);
        let f = |i: usize| base(i) / div[i] as f64;
        assert!((f(29) - 2.166571e-3).abs() < 1e-9, "{}", f(29));
        assert!((f(34) - 1.785078e-4).abs() < 1e-9, "{}", f(34));
        for i in 0..=28 {
            assert_eq!(div[i], 1.0);
        }
        for i in 35..64 {
            assert_eq!(div[i], 8.0);
        }
    }
}
