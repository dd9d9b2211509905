//! `herd pull`: fetch a catalogue model into the cache.

use super::pull_progress;
use anyhow::{Result, bail};
use clap::Args;
use herd_engine::catalog::{self, CATALOG};

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Catalogue name (default: the default model).
    pub name: Option<String>,
    /// List the catalogue and where each model is cached.
    #[arg(long)]
    pub list: bool,
}

pub fn pull(a: PullArgs) -> Result<()> {
    if a.list {
        for e in CATALOG {
            let p = catalog::model_path(e);
            let state = if p.exists() { "pulled" } else { "not pulled" };
            println!("{:<24} {} [{state}: {}]", e.name, e.description, p.display());
        }
        return Ok(());
    }
    let name = a.name.as_deref().unwrap_or(catalog::DEFAULT_MODEL);
    let Some(e) = catalog::find(name) else {
        bail!(
            "{name} is not in herd's catalogue (known: {}); to use your own model pass its path to `herd run`",
            CATALOG.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
        );
    };
    let path = catalog::pull(e, pull_progress())?;
    println!("{}", path.display());
    Ok(())
}
