//! One head's attention over a long cached context (SmolLM2's head size, 1200 positions),
//! in both of llama.cpp's summation orders: a single decode row, and a row of a prompt
//! chunk; then SmolLM2's three query heads that share a KV head, one call a head and one
//! call for the group; last, a decode row over a whole model's cache, which does not fit
//! the CPU's caches. `cargo bench -p herd-tensor --bench attention` prints µs per head
//! (median of 7 rounds of 2000 calls) and per token; compare builds on the same idle
//! machine.

use half::f16;
use herd_tensor::attention::{HeadView, attend_head, attend_heads};
use std::time::Instant;

fn median_us(per_round: usize, mut f: impl FnMut()) -> f64 {
    let mut rounds: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..2000 {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / (2000 * per_round) as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[3]
}

fn main() {
    let (hd, len, group) = (64usize, 1200usize, 3usize);
    // One KV head's cache in blocks of 32 positions, in order (the values need no
    // layout: only the speed is measured).
    // A cache line between blocks, as the model's KV cache has.
    let block_size = 32 * hd + 32;
    let n = len.div_ceil(32) * block_size;
    let k: Vec<f16> = (0..n).map(|i| f16::from_f32(((i * 7919) % 113) as f32 / 50.0 - 1.0)).collect();
    let v: Vec<f16> = (0..n).map(|i| f16::from_f32(((i * 104729) % 97) as f32 / 40.0 - 1.0)).collect();
    let blocks: Vec<u32> = (0..len.div_ceil(32) as u32).collect();
    let q: Vec<f32> = (0..group * hd).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut out = vec![0f32; group * hd];
    for (name, multi_row) in [("decode row", false), ("prompt-chunk row", true)] {
        let h = HeadView {
            k: &k,
            v: &v,
            base: 0,
            channel: 0,
            stride: hd,
            block_size,
            blocks: &blocks,
            block_shift: 5,
            len,
            scale: 0.125,
            multi_row,
        };
        let us = median_us(1, || attend_head(&q[..hd], &h, &mut out[..hd]));
        println!("attention, head size {hd}, {len} positions, {name}: {us:.1} µs per head");
        let us = median_us(group, || attend_heads(&q, hd, &h, &mut out));
        println!("  the same, {group} query heads on one KV head in one call: {us:.1} µs per head");
    }
    std::hint::black_box(&out);
    whole_cache(hd, len, group);
}

/// A decode row over a whole model's cache, as the model lays it out (SmolLM2: 30
/// layers, 3 KV heads of 64 channels interleaved per position, blocks of 32 positions
/// and a cache line): 28 MB at 1200 positions, far past the caches, so this times the
/// memory traffic that the in-cache figures above leave out. Before each layer, 3 MB of
/// other data is read (a layer's Q4_1 weights), as the matmuls do, so that nothing of
/// the cache is left in L2 from the layer before; only the attention calls are timed.
fn whole_cache(hd: usize, len: usize, group: usize) {
    let (layers, kv_heads) = (30usize, 3usize);
    let stride = kv_heads * hd;
    let block_size = 32 * stride + 32;
    let n_blocks = len.div_ceil(32);
    let n = layers * n_blocks * block_size;
    let k: Vec<f16> = (0..n).map(|i| f16::from_f32(((i * 7919) % 113) as f32 / 50.0 - 1.0)).collect();
    let v: Vec<f16> = (0..n).map(|i| f16::from_f32(((i * 104729) % 97) as f32 / 40.0 - 1.0)).collect();
    let blocks: Vec<u32> = (0..n_blocks as u32).collect();
    let q: Vec<f32> = (0..group * hd).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut out = vec![0f32; group * hd];
    // A layer's Q4_1 weights, in u64s.
    const LAYER: usize = 3_000_000 / 8;
    let weights: Vec<u64> = (0..layers * LAYER).map(|i| i as u64).collect();
    let mut rounds: Vec<f64> = (0..7)
        .map(|_| {
            let mut attention = 0.0;
            for _ in 0..20 {
                for l in 0..layers {
                    let w = &weights[l * LAYER..][..LAYER];
                    // One value of each cache line.
                    std::hint::black_box(w.iter().step_by(8).fold(0u64, |a, x| a.wrapping_add(*x)));
                    let t = Instant::now();
                    for kvh in 0..kv_heads {
                        let h = HeadView {
                            k: &k,
                            v: &v,
                            base: l * n_blocks * block_size,
                            channel: kvh * hd,
                            stride,
                            block_size,
                            blocks: &blocks,
                            block_shift: 5,
                            len,
                            scale: 0.125,
                            multi_row: false,
                        };
                        attend_heads(&q, hd, &h, &mut out);
                    }
                    attention += t.elapsed().as_secs_f64();
                }
            }
            attention * 1e6 / 20.0
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    let shape = format!("{layers}-layer cache ({kv_heads} KV heads x {group} query heads, {len} positions)");
    println!("decode row over a {shape}: {:.0} µs per token", rounds[3]);
    std::hint::black_box(&out);
}
