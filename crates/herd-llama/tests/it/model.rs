//! The model against itself under different batchings, and the two loaders against
//! each other; parity with llama.cpp lives in the golden tests of the `herd` crate.

use herd_llama::config::{Config, Llama3Scaling, RopeScaling};
use herd_llama::loader::{Bytes, Layer, Weight, Weights};
use herd_llama::model::{Batch, KvCache, Model, Scratch};
use herd_llama::testdata::nmse;
use herd_tensor::DType;
use herd_tensor::quant::quantize_row;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::sync::Arc;

pub fn tiny_config() -> Config {
    Config {
        dim: 64,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 1,
        head_dim: 16,
        ffn_dim: 96,
        vocab_size: 300,
        norm_eps: 1e-5,
        rope_theta: 500000.0,
        rope_scaling: RopeScaling::Llama3(Llama3Scaling {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 64.0,
        }),
        max_ctx: 256,
        tied_embeddings: false,
    }
}

fn weight(rng: &mut StdRng, dtype: DType, rows: usize, cols: usize, std: f32) -> Weight {
    let mut bytes = Vec::new();
    for _ in 0..rows {
        let row: Vec<f32> = (0..cols).map(|_| rng.random_range(-std..std)).collect();
        bytes.extend(quantize_row(dtype, &row).expect("simple dtype"));
    }
    Weight { dtype, rows, cols, bytes: Bytes::Owned(Arc::new(bytes)) }
}

pub fn random_weights(c: &Config, dtype: DType, seed: u64) -> Weights {
    let mut rng = StdRng::seed_from_u64(seed);
    let norm = |rng: &mut StdRng, n| (0..n).map(|_| rng.random_range(0.8..1.2)).collect::<Vec<f32>>();
    let (qd, kvd) = (c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
    let layers = (0..c.n_layers)
        .map(|_| Layer {
            attn_norm: norm(&mut rng, c.dim),
            wq: weight(&mut rng, dtype, qd, c.dim, 0.3),
            wk: weight(&mut rng, dtype, kvd, c.dim, 0.3),
            wv: weight(&mut rng, dtype, kvd, c.dim, 0.3),
            wo: weight(&mut rng, dtype, c.dim, qd, 0.2),
            ffn_norm: norm(&mut rng, c.dim),
            w_gate: weight(&mut rng, dtype, c.ffn_dim, c.dim, 0.3),
            w_up: weight(&mut rng, dtype, c.ffn_dim, c.dim, 0.3),
            w_down: weight(&mut rng, dtype, c.dim, c.ffn_dim, 0.2),
        })
        .collect();
    Weights {
        token_embd: weight(&mut rng, dtype, c.vocab_size, c.dim, 1.0),
        layers,
        output_norm: norm(&mut rng, c.dim),
        output: Some(weight(&mut rng, dtype, c.vocab_size, c.dim, 0.3)),
    }
}

fn prompt(n: usize) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 37 + 11) % 300).collect()
}

#[test]
fn prefill_in_one_batch_equals_token_by_token_decode() {
    let c = tiny_config();
    for dtype in [DType::F32, DType::Q8_0, DType::Q4_1, DType::F16, DType::BF16] {
        let model = Model::new(c.clone(), random_weights(&c, dtype, 1), 2);
        let toks = prompt(40);
        // All logits from one batch.
        let mut kv = KvCache::new(&c, 64, 1).expect("kv");
        let mut s = Scratch::new(&c, 64, 64);
        let mut b = Batch::default();
        for (i, t) in toks.iter().enumerate() {
            b.push(*t, i, 0, true);
        }
        let all = model.forward(&b, &mut kv, &mut s).expect("forward").to_vec();
        // One token at a time through the KV cache.
        let mut kv2 = KvCache::new(&c, 64, 1).expect("kv");
        let mut s2 = Scratch::new(&c, 1, 1);
        for (i, t) in toks.iter().enumerate() {
            b.clear();
            b.push(*t, i, 0, true);
            let one = model.forward(&b, &mut kv2, &mut s2).expect("forward");
            let want = &all[i * c.vocab_size..(i + 1) * c.vocab_size];
            // Multi-row batches sum attention scores in llama.cpp's prefill order, single
            // rows in its decode order (see herd_tensor::attention), and half, Q8_0, Q4_0
            // and Q4_1 weights' products on AMX in the tile order; with f32 weights that
            // is float noise, with quantized weights 8-bit activation rounding can amplify
            // it. A KV-cache mistake would show as an NMSE near 1.
            let budget = if dtype == DType::F32 { 1e-8 } else { 5e-3 };
            let e = nmse(one, want);
            assert!(e < budget, "{dtype:?} position {i}: nmse {e}");
        }
    }
}

/// A prompt batch long enough that its per-row loops run on the pool gives the bits of
/// one thread, however the threads split it.
#[test]
fn a_batch_gives_the_same_bits_on_any_number_of_threads() {
    let c = tiny_config();
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for dtype in [DType::F32, DType::Q8_0] {
        let weights = random_weights(&c, dtype, 5);
        let logits = |threads: usize| {
            let model = Model::new(c.clone(), weights.clone(), threads);
            let mut kv = KvCache::new(&c, 64, 1).expect("kv");
            let mut s = Scratch::new(&c, 64, 64);
            let mut b = Batch::default();
            for (i, t) in prompt(61).iter().enumerate() {
                b.push(*t, i, 0, true);
            }
            bits(model.forward(&b, &mut kv, &mut s).expect("forward"))
        };
        let one = logits(1);
        assert_eq!(one, logits(2), "{dtype:?}: 2 threads");
        assert_eq!(one, logits(3), "{dtype:?}: 3 threads");
    }
}

/// Continuous batching stays deterministic: a prompt split into chunks of several rows
/// gives the bits of one chunk, and a decode row computes the same bits alone and beside
/// another sequence's prompt chunk. (A row's sums never depend on the other rows; where
/// prompt rows take another order than decode rows, half, Q8_0, Q4_0 and Q4_1 weights
/// on AMX and attention scores, that is decided per sequence.)
#[test]
fn a_rows_bits_do_not_depend_on_the_rest_of_its_batch() {
    let c = tiny_config();
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let v = c.vocab_size;
    for dtype in [DType::F32, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::F16, DType::BF16] {
        let model = Model::new(c.clone(), random_weights(&c, dtype, 9), 2);
        let toks = prompt(25);
        let mut b = Batch::default();
        // The prompt (all but its last token) in one chunk, then its last token alone.
        let mut kv = KvCache::new(&c, 64, 2).expect("kv");
        let mut s = Scratch::new(&c, 64, 64);
        for (i, t) in toks[..24].iter().enumerate() {
            b.push(*t, i, 0, true);
        }
        let whole = bits(model.forward(&b, &mut kv, &mut s).expect("forward"));
        b.clear();
        b.push(toks[24], 24, 0, true);
        let alone = bits(model.forward(&b, &mut kv, &mut s).expect("forward"));
        // The prompt in two chunks, then its last token beside another prompt's chunk.
        let mut kv = KvCache::new(&c, 64, 2).expect("kv");
        let mut chunks = Vec::new();
        for range in [0..10, 10..24] {
            b.clear();
            for i in range {
                b.push(toks[i], i, 0, true);
            }
            chunks.extend(bits(model.forward(&b, &mut kv, &mut s).expect("forward")));
        }
        assert_eq!(chunks, whole, "{dtype:?}: a prompt in two chunks");
        b.clear();
        b.push(toks[24], 24, 0, true);
        for (i, t) in prompt(40)[20..37].iter().enumerate() {
            b.push(*t, i, 1, true);
        }
        let shared = bits(model.forward(&b, &mut kv, &mut s).expect("forward"));
        assert_eq!(shared[..v], alone[..], "{dtype:?}: a decode row beside a prompt chunk");
    }
}

#[test]
fn two_sequences_in_one_batch_do_not_see_each_other() {
    let c = tiny_config();
    let model = Model::new(c.clone(), random_weights(&c, DType::F32, 2), 2);
    let (a, bt) = (prompt(12), prompt(20)[8..].to_vec());
    let alone = |toks: &[u32]| {
        let mut kv = KvCache::new(&c, 32, 1).expect("kv");
        let mut s = Scratch::new(&c, 32, 1);
        let mut b = Batch::default();
        for (i, t) in toks.iter().enumerate() {
            b.push(*t, i, 0, i + 1 == toks.len());
        }
        model.forward(&b, &mut kv, &mut s).expect("forward").to_vec()
    };
    let mut kv = KvCache::new(&c, 32, 2).expect("kv");
    let mut s = Scratch::new(&c, 64, 2);
    let mut b = Batch::default();
    for (i, t) in a.iter().enumerate() {
        b.push(*t, i, 0, i + 1 == a.len());
    }
    for (i, t) in bt.iter().enumerate() {
        b.push(*t, i, 1, i + 1 == bt.len());
    }
    let both = model.forward(&b, &mut kv, &mut s).expect("forward").to_vec();
    let v = c.vocab_size;
    assert!(nmse(&both[..v], &alone(&a)) < 1e-12);
    assert!(nmse(&both[v..], &alone(&bt)) < 1e-12);
}

/// The block pool: a prefix shared by two sequences is held once, a write into a
/// shared block copies it first (the other sequence keeps its bits), and truncating
/// gives blocks back. Every answer equals the same tokens run in a cache of their own.
#[test]
fn a_shared_prefix_is_held_once_and_copied_on_write() {
    use herd_llama::model::KV_BLOCK;
    let c = tiny_config();
    let model = Model::new(c.clone(), random_weights(&c, DType::Q8_0, 4), 2);
    let p = prompt(70);
    let mut q = p[..66].to_vec();
    q.extend([7, 8, 9, 10]);
    // Runs positions `from..` of `toks` for `seq`, one batch up to each of `ends`,
    // returning the last logits.
    let run = |kv: &mut KvCache, seq: usize, toks: &[u32], from: usize, ends: &[usize]| {
        let mut s = Scratch::new(&c, 128, 1);
        let mut b = Batch::default();
        let (mut last, mut start) = (Vec::new(), from);
        for &end in ends {
            b.clear();
            for i in start..end {
                b.push(toks[i], i, seq, i + 1 == end);
            }
            last = model.forward(&b, kv, &mut s).expect("forward").to_vec();
            start = end;
        }
        last
    };
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let mut kv = KvCache::new(&c, 128, 3).expect("kv");
    let p_logits = run(&mut kv, 0, &p, 0, &[70]);
    assert_eq!(kv.blocks_in_use(), 70usize.div_ceil(KV_BLOCK));
    kv.share_prefix(0, 1, 66).expect("share");
    assert_eq!(kv.blocks_in_use(), 3, "sharing holds no new block");
    assert_eq!(kv.table(1), kv.table(0));
    let q_logits = run(&mut kv, 1, &q, 66, &[70]);
    assert_eq!(kv.blocks_in_use(), 4, "the write into the shared third block copied it");
    assert_ne!(kv.table(1)[2], kv.table(0)[2]);
    assert_eq!(kv.table(1)[..2], kv.table(0)[..2]);
    // Alone: each in a cache of its own, the prefix in the same chunks.
    let mut alone = KvCache::new(&c, 128, 1).expect("kv");
    assert_eq!(bits(&q_logits), bits(&run(&mut alone, 0, &q, 0, &[66, 70])));
    let mut alone = KvCache::new(&c, 128, 1).expect("kv");
    assert_eq!(bits(&p_logits), bits(&run(&mut alone, 0, &p, 0, &[70])));
    // Sequence 0 goes on after sequence 1's write: its third block is untouched.
    let mut p2 = p.clone();
    p2.push(42);
    let next = run(&mut kv, 0, &p2, 70, &[71]);
    let mut alone = KvCache::new(&c, 128, 1).expect("kv");
    assert_eq!(bits(&next), bits(&run(&mut alone, 0, &p2, 0, &[70, 71])));
    kv.truncate(1, 0);
    assert_eq!(kv.blocks_in_use(), 3, "the copy went back; the shared blocks stay with sequence 0");
    kv.truncate(0, 33);
    assert_eq!(kv.blocks_in_use(), 2);
    assert!(kv.share_prefix(0, 2, 100).is_err(), "sharing more than the source holds");
}

#[test]
fn bad_batches_are_errors_not_panics() {
    let c = tiny_config();
    let model = Model::new(c.clone(), random_weights(&c, DType::F32, 3), 1);
    let mut kv = KvCache::new(&c, 8, 1).expect("kv");
    let mut s = Scratch::new(&c, 4, 1);
    let mut b = Batch::default();
    b.push(5000, 0, 0, true);
    assert!(model.forward(&b, &mut kv, &mut s).expect_err("token").to_string().contains("vocabulary"));
    b.clear();
    b.push(1, 8, 0, true);
    assert!(model.forward(&b, &mut kv, &mut s).expect_err("pos").to_string().contains("context"));
    b.clear();
    b.push(1, 0, 1, true);
    assert!(model.forward(&b, &mut kv, &mut s).is_err());
    b.clear();
    for i in 0..5 {
        b.push(1, i, 0, false);
    }
    assert!(model.forward(&b, &mut kv, &mut s).is_err());
}
