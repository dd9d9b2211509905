//! One head's attention over a long cached context (SmolLM2's head size, 1200 positions),
//! in both of llama.cpp's summation orders: a single decode row, and a row of a prompt
//! chunk. `cargo bench -p herd-tensor --bench attention` prints µs per head (median of 7
//! rounds of 2000 calls); compare builds on the same idle machine.

use half::f16;
use herd_tensor::attention::{HeadView, attend_head};
use std::time::Instant;

fn main() {
    let (hd, len) = (64usize, 1200usize);
    let k: Vec<f16> = (0..len * hd).map(|i| f16::from_f32(((i * 7919) % 113) as f32 / 50.0 - 1.0)).collect();
    let v: Vec<f16> = (0..len * hd).map(|i| f16::from_f32(((i * 104729) % 97) as f32 / 40.0 - 1.0)).collect();
    let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut out = vec![0f32; hd];
    for (name, multi_row) in [("decode row", false), ("prompt-chunk row", true)] {
        let h = HeadView::contiguous(&k, &v, 0, hd, len, 0.125, multi_row);
        let mut rounds: Vec<f64> = (0..7)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..2000 {
                    attend_head(&q, &h, &mut out);
                }
                t.elapsed().as_secs_f64() * 1e6 / 2000.0
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        println!("attention, head size {hd}, {len} positions, {name}: {:.1} µs per head", rounds[3]);
    }
    std::hint::black_box(&out);
}
