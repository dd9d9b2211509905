//! herd-lab: offline science from the Llama 3 paper. Benchmark contamination by n-gram
//! overlap with a training corpus (`contamination`), compute-optimal scaling laws and
//! the two-step accuracy forecast (`scaling`), and the small SVG plotter both draw their
//! figures with (`svg`). Evaluation and data filtering arrive with their own issues.

pub mod contamination;
pub mod error;
pub mod scaling;
pub mod serve_bench;
pub mod svg;

pub use error::LabError;
