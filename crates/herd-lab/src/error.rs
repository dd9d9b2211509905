//! The one error type of herd-lab: each message names the file, the line and what to change.

use std::path::PathBuf;

/// Errors of the lab tools. Messages are written for the person who made the input file:
/// where the problem is, what it is, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A file could not be read or written.
    // The cause is in the message and not also returned as `source()`: the CLI prints
    // the whole chain, which would say it twice.
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
    /// A CSV input is malformed; `line` is 1-based (0 when the problem is the whole file).
    #[error("{}", csv_message(path, *line, msg))]
    Csv { path: String, line: usize, msg: String },
    /// The data are well formed but cannot be fitted (no minimum, too few points, ...).
    #[error("{0}")]
    Fit(String),
    /// An argument is out of range (a negative budget, a confidence level of 2, ...).
    #[error("{0}")]
    Invalid(String),
    /// A JSON input (a saved fit) does not parse.
    #[error("{path}: {msg}")]
    Json { path: String, msg: String },
    /// A data file (corpus, benchmark, results log, n-gram index) is malformed; `line`
    /// is 1-based (0 when the problem is not on one line).
    #[error("{}", csv_message(path, *line, msg))]
    Data { path: String, line: usize, msg: String },
    /// An evaluation backend (the engine or an HTTP endpoint) failed a request.
    #[error("{0}")]
    Backend(String),
}

fn csv_message(path: &str, line: usize, msg: &str) -> String {
    if line == 0 { format!("{path}: {msg}") } else { format!("{path}:{line}: {msg}") }
}
