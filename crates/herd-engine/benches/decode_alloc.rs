//! Heap allocations in a decode step, counted by a global allocator: the design asks
//! for none (buffers are allocated once). Runs the default model (or the GGUF given as
//! the first argument), warms up, then counts every allocation on every thread during
//! 64 decode steps. Exits 1 if any step allocated.
//!
//!     cargo bench -p herd-engine --bench decode_alloc [-- MODEL.gguf]

use herd_engine::Generator;
use herd_tensor::alloc_count::{CountingAlloc, counts};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(herd_llama::testdata::default_model);
    let files = herd_llama::loader::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let steps: Vec<u32> = (0..64u32).map(|i| (i * 7919 + 13) % files.config.vocab_size as u32).collect();
    for threads in [1, 2] {
        let mut g = Generator::new(&files, 256, threads).expect("generator");
        // Warm-up: thread pools start, lazily made buffers are made.
        g.time_decode(&[], &steps).expect("warm-up");
        let (a0, b0) = counts();
        g.time_decode(&[], &steps).expect("decode");
        let (a1, b1) = counts();
        let (a, b) = (a1 - a0, b1 - b0);
        println!("{}: {threads} thread(s), {} decode steps: {a} allocations ({b} bytes)", path.display(), steps.len());
        if a > 0 {
            eprintln!("decode_alloc: a decode step allocated; the design asks for none");
            std::process::exit(1);
        }
    }
}
