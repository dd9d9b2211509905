//! Quantized matmul at the shapes of the default model (SmolLM2-135M: dim 576, ffn
//! 1536, 192-wide K/V, the 49,152-row Q8_0 output), for the token counts a server
//! step sees: 1 (one stream decoding), 4 and 16 (that many streams batched), 64 (a
//! prompt chunk), then the other weight types at one shape each. Q4_1 and Q8_0 are
//! also timed through the scalar reference on one shape, so the table shows what the
//! SIMD kernels buy. A second table puts half weights' prompt path (`matmul_prompt`,
//! AMX-BF16 tiles where the CPU has them) beside `matmul` at the 135M and 1B shapes.
//!
//! `cargo bench -p herd-tensor --bench matmul` prints GMAC/s (median of 5 rounds);
//! `HERD_BENCH_THREADS` sets the pool size (default 1). Compare builds on the same
//! idle machine.

use herd_tensor::dtype::DType;
use herd_tensor::matmul::{MatMul, WeightRef, matmul_reference};
use herd_tensor::quantize::quantize_row;
use std::time::Instant;

fn weights(dtype: DType, rows: usize, cols: usize) -> Vec<u8> {
    let mut data = Vec::new();
    let mut row = vec![0f32; cols];
    for r in 0..rows {
        for (c, v) in row.iter_mut().enumerate() {
            *v = (((r * 7919 + c * 104729) % 2003) as f32 / 1001.5 - 1.0) * 0.05;
        }
        data.extend(quantize_row(dtype, &row).expect("whole blocks"));
    }
    data
}

fn median_secs(mut f: impl FnMut(), min_calls: usize) -> f64 {
    f();
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..min_calls {
                f();
            }
            t.elapsed().as_secs_f64() / min_calls as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

/// Activations for `n` tokens of `cols` values.
fn acts(n: usize, cols: usize) -> Vec<f32> {
    (0..n * cols).map(|i| ((i * 31) % 97) as f32 / 48.5 - 1.0).collect()
}

/// GMAC/s of `run(x, out)` for `n` tokens through `w`, called often enough to do about
/// `macs` multiply-adds a round.
fn gmacs(w: WeightRef<'_>, n: usize, macs: f64, mut run: impl FnMut(&[f32], &mut [f32])) -> String {
    let x = acts(n, w.cols);
    let mut out = vec![0f32; n * w.rows];
    let per_call = (n * w.rows * w.cols) as f64;
    let s = median_secs(|| run(&x, &mut out), ((macs / per_call) as usize).max(1));
    std::hint::black_box(&out);
    format!("{:.1}", per_call / s / 1e9)
}

fn main() {
    let threads = std::env::var("HERD_BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mm = MatMul::new(threads);
    // The Q4_1 file's shapes, then the other types at one shape each: Q5_0 and Q6_K
    // are what Q4_K_M gives a 576-wide model, Q4_K needs 256-value rows (FFN down);
    // the 8B's rows are 16 and 56 Q4_K blocks.
    let shapes: [(&str, DType, usize, usize); 12] = [
        ("wq 576x576", DType::Q4_1, 576, 576),
        ("wk 192x576", DType::Q4_1, 192, 576),
        ("gate 1536x576", DType::Q4_1, 1536, 576),
        ("down 576x1536", DType::Q4_1, 576, 1536),
        ("output 49152x576", DType::Q8_0, 49152, 576),
        ("gate 1536x576", DType::Q5_0, 1536, 576),
        ("gate 1536x576", DType::F16, 1536, 576),
        ("down 576x1536", DType::F16, 576, 1536),
        ("down 576x1536", DType::Q4K, 576, 1536),
        ("down 512x4096", DType::Q4K, 512, 4096),
        ("down 576x1536", DType::Q6K, 576, 1536),
        ("down 576x1536", DType::Q8_0, 576, 1536),
    ];
    println!("matmul, {threads} thread(s), GMAC/s (median of 5 rounds)");
    println!("| weight | type | 1 tok | 4 tok | 16 tok | 64 tok |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, dtype, rows, cols) in shapes {
        let data = weights(dtype, rows, cols);
        let w = WeightRef::new(dtype, rows, cols, &data).expect("shape");
        let cells: Vec<String> =
            [1usize, 4, 16, 64].iter().map(|&n| gmacs(w, n, 2e8, |x, out| mm.matmul(w, x, n, out))).collect();
        println!("| {name} | {dtype:?} | {} |", cells.join(" | "));
    }
    // A prompt's rows (`matmul_prompt`): half weights through AMX-BF16 where the CPU
    // has it, beside `matmul`'s one-token order, at the 135M and 1B shapes.
    println!("| weight | type | 64 tok | 64 tok, prompt path | 256 tok | 256 tok, prompt path |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, dtype, rows, cols) in [
        ("gate 1536x576", DType::F16, 1536, 576),
        ("down 576x1536", DType::F16, 576, 1536),
        ("wq 2048x2048", DType::F16, 2048, 2048),
        ("down 2048x8192", DType::F16, 2048, 8192),
        ("wq 2048x2048", DType::BF16, 2048, 2048),
    ] {
        let data = weights(dtype, rows, cols);
        let w = WeightRef::new(dtype, rows, cols, &data).expect("shape");
        let mut cells = Vec::new();
        for n in [64usize, 256] {
            cells.push(gmacs(w, n, 2e9, |x, out| mm.matmul(w, x, n, out)));
            cells.push(gmacs(w, n, 2e9, |x, out| mm.matmul_prompt(w, x, n, out)));
        }
        println!("| {name} | {dtype:?} | {} |", cells.join(" | "));
    }
    for dtype in [DType::Q4_1, DType::Q8_0] {
        let (rows, cols, n) = (576, 576, 4);
        let data = weights(dtype, rows, cols);
        let w = WeightRef::new(dtype, rows, cols, &data).expect("shape");
        let x = acts(n, cols);
        let s = median_secs(|| drop(std::hint::black_box(matmul_reference(w, &x, n))), 3);
        println!(
            "scalar reference, {dtype:?} {rows}x{cols}, {n} tok: {:.2} GMAC/s",
            (n * rows * cols) as f64 / s / 1e9
        );
    }
}
