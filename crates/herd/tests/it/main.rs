//! herd end to end: the CLI's interfaces, and parity with independent references
//! through the golden files under tests/fixtures (made by scripts/golden/).

mod cli;
mod contamination;
mod eval;
mod quantize;
mod scaling;
mod serve;
mod smollm2;
mod tiny_llama31;
mod tools;
