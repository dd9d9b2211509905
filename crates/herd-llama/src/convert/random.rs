//! Random-weight models of a given shape: named presets, seeded normal rows that are the same whatever the thread count.
//!
//! Weights follow Hugging Face's Llama initialisation (`normal(0, initializer_range)`
//! for every projection and the embedding, ones for the norms), which keeps the
//! residual stream and the logits finite and O(1) at any size. Each row is generated
//! from its own counter-derived seed (SplitMix64), so a tensor can be produced row by
//! row, in parallel, in any order, and still be identical run to run.

use crate::config::Config;
use crate::error::{LlamaError, Result};

/// Hugging Face's default `initializer_range`.
const DEFAULT_STD: f64 = 0.02;

/// Named shapes, as their config.json files give them (weights are random).
const PRESETS: &[(&str, &str)] = &[
    (
        "llama3.1-8b",
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
        "intermediate_size": 14336, "num_attention_heads": 32, "num_key_value_heads": 8,
        "num_hidden_layers": 32, "head_dim": 128, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
        "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "max_position_embeddings": 131072, "tie_word_embeddings": false, "vocab_size": 128256,
        "initializer_range": 0.02}"#,
    ),
    (
        "llama3.2-1b",
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
        "intermediate_size": 8192, "num_attention_heads": 32, "num_key_value_heads": 8,
        "num_hidden_layers": 16, "head_dim": 64, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
        "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "max_position_embeddings": 131072, "tie_word_embeddings": true, "vocab_size": 128256,
        "initializer_range": 0.02}"#,
    ),
    (
        "smollm2-135m",
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
        "intermediate_size": 1536, "num_attention_heads": 9, "num_key_value_heads": 3,
        "num_hidden_layers": 30, "rms_norm_eps": 1e-05, "rope_theta": 100000,
        "max_position_embeddings": 8192, "tie_word_embeddings": true, "vocab_size": 49152,
        "initializer_range": 0.041666666666666664}"#,
    ),
];

/// The preset names, for help texts.
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

/// A random model's shape and initialisation.
#[derive(Debug, Clone)]
pub struct RandomSpec {
    /// The preset name or the config file's folder name (`general.name`).
    pub name: String,
    pub config: Config,
    /// Standard deviation of the projection and embedding weights.
    pub std: f32,
}

/// A preset name or the path of a config.json (Hugging Face form).
pub fn spec(preset_or_path: &str) -> Result<RandomSpec> {
    let (name, json) = match PRESETS.iter().find(|(n, _)| *n == preset_or_path) {
        Some((n, j)) => (n.to_string(), j.as_bytes().to_vec()),
        None => {
            let p = std::path::Path::new(preset_or_path);
            if !p.is_file() {
                return Err(LlamaError::Config(format!(
                    "{preset_or_path} is neither a preset ({}) nor a config.json file",
                    preset_names().join(", ")
                )));
            }
            let json = std::fs::read(p).map_err(|e| LlamaError::io(p, e))?;
            let dir = p.canonicalize().ok().and_then(|c| c.parent().and_then(|d| d.file_name()).map(|d| d.to_owned()));
            (dir.map_or_else(|| "random".to_string(), |d| d.to_string_lossy().into_owned()), json)
        }
    };
    let config = Config::from_hf_json(&json)?;
    let raw: serde_json::Value = serde_json::from_slice(&json).unwrap_or_default();
    let std = raw.get("initializer_range").and_then(|v| v.as_f64()).unwrap_or(DEFAULT_STD);
    if !(std > 0.0 && std < 10.0) {
        return Err(LlamaError::Config(format!("initializer_range {std} is out of range")));
    }
    Ok(RandomSpec { name: format!("{name} (random weights)"), config, std: std as f32 })
}

/// SplitMix64: a tiny, well-mixed generator; one per row, seeded from
/// (model seed, tensor, row).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1]: never 0, so the logarithm below is finite.
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

/// Fills `out` with `normal(0, std)` values for row `row` of tensor number `tensor`.
pub fn fill_row(seed: u64, tensor: usize, row: usize, std: f32, out: &mut [f32]) {
    let mut g = SplitMix(seed ^ (tensor as u64).wrapping_mul(0xD1B5_4A32_D192_ED03) ^ (row as u64).rotate_left(32));
    g.next();
    // Box-Muller: two independent normals per pair of uniforms.
    for pair in out.chunks_mut(2) {
        let r = (-2.0 * g.unit().ln()).sqrt();
        let theta = std::f64::consts::TAU * g.unit();
        pair[0] = (r * theta.cos()) as f32 * std;
        if let Some(second) = pair.get_mut(1) {
            *second = (r * theta.sin()) as f32 * std;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_have_their_published_shapes() {
        let c = spec("llama3.1-8b").expect("preset").config;
        assert_eq!((c.dim, c.n_layers, c.n_kv_heads, c.ffn_dim, c.vocab_size), (4096, 32, 8, 14336, 128256));
        assert!(!c.tied_embeddings);
        let c = spec("llama3.2-1b").expect("preset").config;
        assert_eq!((c.dim, c.n_layers, c.head_dim, c.vocab_size), (2048, 16, 64, 128256));
        assert!(c.tied_embeddings);
        let c = spec("smollm2-135m").expect("preset").config;
        assert_eq!((c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.ffn_dim), (576, 30, 9, 3, 1536));
        assert!(spec("llama-9000").is_err());
    }

    #[test]
    fn rows_are_seeded_normals() {
        let mut a = vec![0f32; 4096];
        fill_row(7, 3, 11, 0.02, &mut a);
        let mut b = vec![0f32; 4096];
        fill_row(7, 3, 11, 0.02, &mut b);
        assert_eq!(a, b);
        fill_row(7, 3, 12, 0.02, &mut b);
        assert_ne!(a, b);
        let mean = a.iter().map(|v| *v as f64).sum::<f64>() / a.len() as f64;
        let sd = (a.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64).sqrt();
        assert!(mean.abs() < 0.002 && (sd - 0.02).abs() < 0.002, "mean {mean} sd {sd}");
    }
}
