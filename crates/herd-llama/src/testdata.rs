//! Where the test suites of all herd crates find their inputs (shared so that the
//! location rule is written once): `$HERD_TEST_DATA`, else
//! `${HERD_HOME:-~/.cache/herd}/testdata`, filled by `scripts/setup-test-data.sh`.

use std::path::PathBuf;

/// herd's cache folder, as `herd pull` uses it (`$HERD_HOME`, `$XDG_CACHE_HOME/herd`,
/// `~/.cache/herd`).
pub fn herd_home() -> PathBuf {
    if let Some(h) = std::env::var_os("HERD_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(x).join("herd");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("herd")
}

pub fn dir() -> PathBuf {
    match std::env::var_os("HERD_TEST_DATA").filter(|h| !h.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => herd_home().join("testdata"),
    }
}

/// A required test input. Panics with the fix when it is missing: a test never
/// passes silently without its input.
pub fn require(rel: &str) -> PathBuf {
    let p = dir().join(rel);
    assert!(
        p.exists(),
        "test input {} is missing: run `bash scripts/setup-test-data.sh` (or set HERD_TEST_DATA)",
        p.display()
    );
    p
}

/// The default model as `herd pull` caches it.
pub fn default_model() -> PathBuf {
    let p = herd_home().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(p.exists(), "the default model {} is missing: run `herd pull` (or scripts/test.sh)", p.display());
    p
}

/// The repository's `tests/fixtures` folder (golden files).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Normalized squared error `|a-b|² / |b|²`.
pub fn nmse(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "nmse: lengths differ");
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((*x - *y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    num / den.max(1e-30)
}
