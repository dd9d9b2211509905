//! `herd quantize`: a GGUF file or Hugging Face folder (or a random model of a given shape) to a GGUF file of a llama.cpp file type.

use anyhow::{Context, Result, bail};
use clap::Args;
use herd_llama::convert::{self, FileType, Options, Progress, Summary};
use herd_tensor::MatMul;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
herd quantize ./Llama-3.1-8B-Instruct llama3.1-8b.Q4_K_M.gguf Q4_K_M\n  \
herd quantize model.F16.gguf model.Q8_0.gguf Q8_0\n  \
herd quantize --random-init llama3.1-8b --tokenizer tokenizer.json bench-8b.gguf Q4_K_M")]
pub struct QuantizeArgs {
    /// IN OUT TYPE, or OUT TYPE with --random-init. IN is a GGUF file or a Hugging Face
    /// folder; TYPE one of F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K_M (llama.cpp's mixes:
    /// the output projection gets Q6_K, Q4_K_M gives attn_v/ffn_down Q6_K on some
    /// layers, rows that are not whole blocks fall back to Q5_0/Q8_0/F16).
    #[arg(num_args = 2..=3, value_names = ["IN", "OUT", "TYPE"], required = true)]
    pub paths: Vec<String>,
    /// Write random weights instead: a preset (llama3.1-8b, llama3.2-1b, smollm2-135m)
    /// or a config.json in Hugging Face form.
    #[arg(long, value_name = "CONFIG")]
    pub random_init: Option<String>,
    /// With --random-init: the vocabulary to embed (tokenizer.json, with the
    /// tokenizer_config.json beside it, or a Llama 3 tokenizer.model). Without it a
    /// byte-level stand-in vocabulary is written.
    #[arg(long, value_name = "PATH", requires = "random_init")]
    pub tokenizer: Option<PathBuf>,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads (0: one per core).
    #[arg(long, short = 't', default_value_t = 0)]
    pub threads: usize,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn bar() -> ProgressBar {
    let b = ProgressBar::new(0);
    b.set_style(
        ProgressStyle::with_template("{msg:32} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b
}

pub fn quantize(a: QuantizeArgs) -> Result<()> {
    let (input, out, ty) = match (a.random_init.is_some(), a.paths.as_slice()) {
        (false, [i, o, t]) => (Some(i.as_str()), o, t),
        (true, [o, t]) => (None, o, t),
        (false, _) => bail!("expected IN OUT TYPE"),
        (true, _) => bail!("with --random-init, give OUT TYPE (no IN)"),
    };
    let ft = FileType::parse(ty).with_context(|| {
        let names: Vec<&str> = FileType::ALL.iter().map(|f| f.name()).collect();
        format!("unknown TYPE {ty:?} (one of {})", names.join(", "))
    })?;
    let out = Path::new(out);
    let pool = MatMul::new(a.threads);
    let opts = Options { file_type: ft, pool: &pool, seed: a.seed };
    let b = bar();
    let mut progress = |p: Progress<'_>| {
        b.set_length(p.bytes_total);
        b.set_position(p.bytes_done);
        b.set_message(p.tensor.to_string());
    };
    let (summary, source) = match (input, &a.random_init) {
        (Some(i), _) => {
            let path = super::resolve_model(Some(i))?;
            let files = herd_llama::loader::load(&path).with_context(|| format!("cannot load {}", path.display()))?;
            let s = convert::quantize_model(&files, out, opts, &mut progress)
                .with_context(|| format!("cannot write {}", out.display()))?;
            (s, path.display().to_string())
        }
        (None, Some(cfg)) => {
            let spec = convert::random::spec(cfg)?;
            let s = convert::random_model(&spec, a.tokenizer.as_deref(), out, opts, &mut progress)
                .with_context(|| format!("cannot write {}", out.display()))?;
            (s, format!("random {cfg} (seed {}, f32 size)", a.seed))
        }
        (None, None) => bail!("expected IN OUT TYPE"),
    };
    b.finish_and_clear();
    report(&summary, &source, a.json);
    Ok(())
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn report(s: &Summary, source: &str, json: bool) {
    if json {
        let types: serde_json::Map<String, serde_json::Value> =
            s.types.iter().map(|(k, (n, b))| (k.to_string(), serde_json::json!({ "count": n, "bytes": b }))).collect();
        let v = serde_json::json!({
            "path": s.path, "type": s.file_type.name(), "elements": s.n_elements,
            "bytes_in": s.bytes_in, "bytes_out": s.bytes_out, "file_bytes": s.file_bytes,
            "bpw_in": s.bpw_in(), "bpw_out": s.bpw_out(), "tensor_types": types, "fallbacks": s.fallbacks,
        });
        println!("{v}");
        return;
    }
    println!("wrote {} ({})", s.path.display(), s.file_type.name());
    println!("  source  {source}: {:9.2} MiB, {:.2} bits per weight", mib(s.bytes_in), s.bpw_in());
    println!(
        "  output  {:9.2} MiB of tensors, {:.2} bits per weight ({:.2} MiB file)",
        mib(s.bytes_out),
        s.bpw_out(),
        mib(s.file_bytes)
    );
    for (t, (n, b)) in &s.types {
        println!("  {t:>6}  {n:4} tensors {:9.2} MiB", mib(*b));
    }
    if !s.fallbacks.is_empty() {
        println!(
            "  {} tensors fell back to another type (row width not a whole number of blocks), as llama.cpp does; first: {}",
            s.fallbacks.len(),
            s.fallbacks[0]
        );
    }
}
