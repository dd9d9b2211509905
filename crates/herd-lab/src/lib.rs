//! herd-lab: offline science from the Llama 3 paper. Benchmark contamination by n-gram
//! overlap with a training corpus (`contamination`), compute-optimal scaling laws and
//! the two-step accuracy forecast (`scaling`), and the small SVG plotter both draw their
//! figures with (`svg`), the evaluation harness (`eval`), and the serving load generator
//! (`serve_bench`). Data filtering arrives with its own issue.

pub mod contamination;
pub mod error;
pub mod eval;

pub mod scaling;
pub mod serve_bench;
pub mod svg;

pub use error::LabError;
