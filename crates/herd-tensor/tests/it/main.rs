//! Every kernel against its scalar reference, by normalized squared error with a
//! budget per dtype.

use herd_tensor::matmul::matmul_reference;
use herd_tensor::quant::{dequantize_row, quantize_row};
use herd_tensor::{DType, MatMul, WeightRef};
use rand::{Rng, SeedableRng, rngs::StdRng};

mod quantize;

fn nmse(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((*x - *y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    num / den.max(1e-30)
}

fn random_blocks(dtype: DType, rows: usize, cols: usize, rng: &mut StdRng) -> Vec<u8> {
    // Random bytes are valid blocks of every type once the f16 scale fields are
    // forced finite and modest; patch them per type.
    let rb = dtype.row_bytes(cols).expect("whole blocks");
    let mut data: Vec<u8> = (0..rb * rows).map(|_| rng.random()).collect();
    let bb = dtype.block_bytes();
    let scale_offsets: &[usize] = match dtype {
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 => &[0],
        DType::Q4_1 | DType::Q4K | DType::Q5K => &[0, 2],
        DType::Q6K => &[208],
        DType::F16 => &[0],
        DType::BF16 | DType::F32 => &[],
    };
    for blk in data.chunks_exact_mut(bb) {
        for &o in scale_offsets {
            let v = half::f16::from_f32(rng.random_range(-0.05..0.05));
            blk[o..o + 2].copy_from_slice(&v.to_le_bytes());
        }
    }
    if dtype == DType::F32 {
        for c in data.chunks_exact_mut(4) {
            c.copy_from_slice(&rng.random_range(-1.0f32..1.0).to_le_bytes());
        }
    }
    if dtype == DType::BF16 {
        for c in data.chunks_exact_mut(2) {
            c.copy_from_slice(&half::bf16::from_f32(rng.random_range(-1.0f32..1.0)).to_le_bytes());
        }
    }
    data
}

const ALL: [DType; 10] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::Q4_0,
    DType::Q4_1,
    DType::Q5_0,
    DType::Q8_0,
    DType::Q4K,
    DType::Q5K,
    DType::Q6K,
];

#[test]
fn threaded_matmul_matches_scalar_reference_for_every_dtype() {
    let mut rng = StdRng::seed_from_u64(42);
    let mm = MatMul::new(2);
    for dtype in ALL {
        let (rows, cols) = (67, 512);
        let data = random_blocks(dtype, rows, cols, &mut rng);
        let w = WeightRef::new(dtype, rows, cols, &data).expect("valid weight");
        for n_tok in [1usize, 5] {
            let x: Vec<f32> = (0..n_tok * cols).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut out = vec![0f32; n_tok * rows];
            mm.matmul(w, &x, n_tok, &mut out);
            let want = matmul_reference(w, &x, n_tok);
            // The kernels quantize activations as llama.cpp does (8-bit blocks for
            // quantized weights, f16/bf16 for half weights); the budget is that
            // quantization's error.
            let budget = match dtype {
                DType::F32 => 1e-10,
                DType::F16 => 1e-6,
                DType::BF16 => 1e-4,
                _ => 1e-3,
            };
            let e = nmse(&out, &want);
            assert!(e < budget, "{dtype:?} n_tok={n_tok}: nmse {e} > {budget}");
        }
    }
}

/// The vector activation quantizer writes the portable one's blocks, bit for bit:
/// random scales, an all-zero block, subnormals, values at a rounding tie, and blocks
/// with a NaN or an infinity (which take the portable path).
#[test]
fn simd_activation_quantizer_equals_portable() {
    use herd_tensor::qdot::{ActFormat, QuantActs, q8_block_portable, quantize_acts};
    let mut rng = StdRng::seed_from_u64(23);
    let mut x: Vec<f32> = Vec::new();
    for k in 0..200 {
        let scale = 10f32.powi(rng.random_range(-6..4));
        x.extend((0..32).map(|_| rng.random_range(-1.0f32..1.0) * scale));
        if k % 50 == 0 {
            x.extend([0.0f32; 32]);
            x.extend((0..32).map(|i| f32::from_bits(i as u32 + 1)));
            // 127/amax = 1: every k + 0.5 is a tie that must round to even.
            x.extend((0..32).map(|i| if i == 0 { 127.0 } else { (i % 7) as f32 + 0.5 - 3.0 }));
            x.extend((0..32).map(|i| if i == 5 { f32::NAN } else { i as f32 }));
            x.extend((0..32).map(|i| if i == 9 { f32::NEG_INFINITY } else { i as f32 }));
        }
    }
    let mut acts = QuantActs::default();
    for fmt in [ActFormat::Q8_0, ActFormat::Q8_1] {
        quantize_acts(fmt, &x, &mut acts);
        for (i, (got, blk)) in acts.q8.iter().zip(x.chunks_exact(32)).enumerate() {
            let want = q8_block_portable(blk);
            assert_eq!(got.qs, want.qs, "{fmt:?} block {i}");
            assert_eq!((got.d.to_bits(), got.s.to_bits()), (want.d.to_bits(), want.s.to_bits()), "{fmt:?} block {i}");
        }
    }
}

/// A token's output does not depend on the batch it came in: every token count,
/// whatever mix of four-token groups (the quad kernels, tiled) and leftover tokens it
/// makes, gives each token exactly the bits of a one-token `vec_dot`. (For the half
/// types: row pairs by tiles of four to six tokens, the leftover tokens, and an odd
/// last row.)
#[test]
fn batched_matmul_equals_one_token_dots_bit_for_bit() {
    use herd_tensor::qdot::{QuantActs, act_format, quantize_acts, vec_dot};
    let mut rng = StdRng::seed_from_u64(17);
    let mm = MatMul::new(2);
    // 100 columns: the half types' last partial 32 (zero-padded in ggml's order); 36
    // rows: every row in a pair, so the half path keeps no activations in order.
    let half = [(DType::F16, 100, 37), (DType::BF16, 100, 37), (DType::F16, 256, 36), (DType::BF16, 100, 36)];
    for (dtype, cols, rows) in ALL.into_iter().map(|d| (d, 256, 37)).chain(half) {
        let data = random_blocks(dtype, rows, cols, &mut rng);
        let w = WeightRef::new(dtype, rows, cols, &data).expect("valid weight");
        for n_tok in [1usize, 3, 4, 6, 8, 12, 37, 71] {
            let x: Vec<f32> = (0..n_tok * cols).map(|_| rng.random_range(-2.0..2.0)).collect();
            let mut out = vec![0f32; n_tok * rows];
            mm.matmul(w, &x, n_tok, &mut out);
            let mut acts = QuantActs::default();
            for t in 0..n_tok {
                quantize_acts(act_format(dtype), &x[t * cols..(t + 1) * cols], &mut acts);
                for r in 0..rows {
                    let want = vec_dot(dtype, w.row(r), &acts);
                    let got = out[t * rows + r];
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{dtype:?} n_tok={n_tok} token {t} row {r}: {got} vs {want}"
                    );
                }
            }
        }
    }
}

/// Weights that share an input (Q, K and V; gate and up) give each output exactly the
/// bits `matmul` gives it alone: one type (one quantization of the input, one loop over
/// every weight's rows, with row counts that end tasks mid-way and odd last rows) and
/// mixed types (which go one by one), for one token, quads and leftover tokens.
#[test]
fn shared_input_matmuls_equal_separate_ones_bit_for_bit() {
    let mut rng = StdRng::seed_from_u64(29);
    let mm = MatMul::new(2);
    let cols = 256;
    let same = ALL.map(|d| [(d, 200), (d, 37), (d, 64)]);
    let mixed = [
        [(DType::Q4K, 96), (DType::Q4K, 32), (DType::Q6K, 32)],
        [(DType::Q8_0, 40), (DType::F16, 33), (DType::Q4_1, 17)],
    ];
    for shapes in same.into_iter().chain(mixed) {
        let data: Vec<Vec<u8>> = shapes.iter().map(|&(d, rows)| random_blocks(d, rows, cols, &mut rng)).collect();
        let ws: Vec<WeightRef<'_>> = shapes
            .iter()
            .zip(&data)
            .map(|(&(d, rows), b)| WeightRef::new(d, rows, cols, b).expect("valid weight"))
            .collect();
        for n_tok in [1usize, 4, 9, 20] {
            let x: Vec<f32> = (0..n_tok * cols).map(|_| rng.random_range(-2.0..2.0)).collect();
            for k in [2, 3] {
                let mut outs: Vec<Vec<f32>> = ws[..k].iter().map(|w| vec![f32::NAN; n_tok * w.rows]).collect();
                let mut jobs: Vec<(WeightRef<'_>, &mut [f32])> =
                    ws[..k].iter().copied().zip(outs.iter_mut().map(|o| &mut o[..])).collect();
                mm.matmul_many(&mut jobs, &x, n_tok);
                for (j, w) in ws[..k].iter().enumerate() {
                    let mut alone = vec![0f32; n_tok * w.rows];
                    mm.matmul(*w, &x, n_tok, &mut alone);
                    let (got, want): (Vec<u32>, Vec<u32>) =
                        outs[j].iter().zip(&alone).map(|(a, b)| (a.to_bits(), b.to_bits())).unzip();
                    assert_eq!(got, want, "{shapes:?} n_tok={n_tok}: weight {j} of {k}");
                }
            }
        }
    }
}

#[test]
fn quantize_then_dequantize_round_trips_within_budget() {
    let mut rng = StdRng::seed_from_u64(3);
    let x: Vec<f32> = (0..1024).map(|_| rng.random_range(-2.0..2.0)).collect();
    for (dtype, budget) in [
        (DType::F32, 0.0),
        (DType::F16, 1e-6),
        (DType::BF16, 1e-4),
        (DType::Q8_0, 1e-4),
        (DType::Q4_0, 1e-2),
        (DType::Q4_1, 1e-2),
        (DType::Q5_0, 3e-3),
        (DType::Q4K, 1e-2),
        (DType::Q5K, 3e-3),
        (DType::Q6K, 1e-3),
    ] {
        let q = quantize_row(dtype, &x).expect("whole blocks quantize");
        let mut y = vec![0f32; x.len()];
        dequantize_row(dtype, &q, &mut y);
        let e = nmse(&y, &x);
        assert!(e <= budget, "{dtype:?}: nmse {e} > {budget}");
    }
}

#[test]
fn known_q4_1_block_decodes_to_hand_computed_values() {
    // d = 0.5, m = -1.0, nibbles: value j (low) and 15-j (high).
    let mut b = Vec::new();
    b.extend_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
    b.extend_from_slice(&half::f16::from_f32(-1.0).to_le_bytes());
    for j in 0..16u8 {
        b.push(j | ((15 - j) << 4));
    }
    let mut y = vec![0f32; 32];
    dequantize_row(DType::Q4_1, &b, &mut y);
    for j in 0..16 {
        assert_eq!(y[j], j as f32 * 0.5 - 1.0);
        assert_eq!(y[j + 16], (15 - j) as f32 * 0.5 - 1.0);
    }
}

#[test]
fn weight_ref_rejects_wrong_lengths() {
    assert!(WeightRef::new(DType::Q4_0, 2, 32, &[0u8; 35]).is_err());
    assert!(WeightRef::new(DType::Q4_0, 2, 33, &[0u8; 36]).is_err());
    assert!(WeightRef::new(DType::Q4_0, 2, 32, &[0u8; 36]).is_ok());
}

/// Dequantization against the `gguf` package (llama.cpp's own Python
/// implementation), bit for bit, on random blocks made by scripts/golden/quants.py.
#[test]
fn dequantization_equals_gguf_reference_bit_for_bit() {
    use base64::Engine;
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/quants.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut checked = Vec::new();
    for case in v["cases"].as_array().expect("cases") {
        let ty = case["ggml_type"].as_u64().expect("type") as u32;
        // Types herd does not read (Q5_1, Q2_K, Q3_K) are refused by the GGUF
        // reader with an error naming them; nothing to compare.
        let Some(dtype) = DType::from_ggml(ty) else { continue };
        let data = b64.decode(case["data_b64"].as_str().expect("data")).expect("b64");
        let want: Vec<f32> = b64
            .decode(case["f32_le_b64"].as_str().expect("f32"))
            .expect("b64")
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut got = vec![0f32; want.len()];
        dequantize_row(dtype, &data, &mut got);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{dtype:?} value {i}: {g} vs {w}");
        }
        checked.push(dtype);
    }
    // Every stored type but F32 (which needs no dequantization) has a golden case.
    for d in ALL.into_iter().filter(|d| *d != DType::F32) {
        assert!(checked.contains(&d), "{d:?} has no golden case");
    }
}

/// The quantized dot products against dequantize-then-f64 of both operands: they
/// differ only by float rounding of the final sums.
#[test]
fn quantized_dots_equal_dequantized_reference() {
    use herd_tensor::qdot::{QuantActs, act_format, quantize_acts, vec_dot};
    let mut rng = StdRng::seed_from_u64(11);
    for dtype in ALL {
        let cols = 512;
        let data = random_blocks(dtype, 3, cols, &mut rng);
        let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut acts = QuantActs::default();
        quantize_acts(act_format(dtype), &x, &mut acts);
        // The activations as the kernel sees them.
        let xa: Vec<f64> = if !acts.f32s.is_empty() {
            acts.f32s.iter().map(|v| *v as f64).collect()
        } else if !acts.q8.is_empty() {
            acts.q8.iter().flat_map(|b| b.qs.iter().map(move |q| *q as f64 * b.d as f64)).collect()
        } else {
            acts.q8k.iter().flat_map(|b| b.qs.iter().map(move |q| *q as f64 * b.d as f64)).collect()
        };
        let rb = dtype.row_bytes(cols).expect("row");
        for r in 0..3 {
            let row = &data[r * rb..(r + 1) * rb];
            let mut w = vec![0f32; cols];
            dequantize_row(dtype, row, &mut w);
            let mut want: f64 = w.iter().zip(&xa).map(|(a, b)| *a as f64 * b).sum();
            if dtype == DType::Q4_1 {
                // Q4_1's minimum term uses the f16-rounded block sum `s`, as ggml does.
                let exact_m: f64 = (0..cols / 32)
                    .map(|b| {
                        let m = half::f16::from_le_bytes([row[b * 20 + 2], row[b * 20 + 3]]).to_f64();
                        m * (acts.q8[b].s as f64 - xa[b * 32..b * 32 + 32].iter().sum::<f64>())
                    })
                    .sum();
                want += exact_m;
            }
            let got = vec_dot(dtype, row, &acts) as f64;
            let scale: f64 = w.iter().zip(&xa).map(|(a, b)| (*a as f64 * b).abs()).sum::<f64>().max(1e-30);
            assert!((got - want).abs() / scale < 1e-5, "{dtype:?} row {r}: {got} vs {want}");
        }
    }
}

/// The AVX2 block dots are bit-identical to the portable ones.
#[test]
fn simd_block_dots_equal_portable_bit_for_bit() {
    use herd_tensor::qdot::{QuantActs, act_format, dot_kquant_portable, dot_q32_portable, quantize_acts, vec_dot};
    let mut rng = StdRng::seed_from_u64(5);
    for dtype in [DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0, DType::Q4K, DType::Q5K, DType::Q6K] {
        for _ in 0..20 {
            let cols = dtype.block_len() * rng.random_range(1..12);
            let data = random_blocks(dtype, 1, cols, &mut rng);
            let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-3.0..3.0)).collect();
            let mut acts = QuantActs::default();
            quantize_acts(act_format(dtype), &x, &mut acts);
            let fast = vec_dot(dtype, &data, &acts);
            let slow = if dtype.block_len() == 32 {
                dot_q32_portable(dtype, &data, &acts.q8)
            } else {
                dot_kquant_portable(dtype, &data, &acts.q8k)
            };
            assert_eq!(fast.to_bits(), slow.to_bits(), "{dtype:?} cols {cols}: {fast} vs {slow}");
        }
    }
}

/// Every kernel set this CPU runs (AVX2, AVX-512 VNNI) gives the portable code's bits
/// for the 32-value block types, one token at a time and batched in quads (one, two
/// and four groups of four): random bytes reach Q8_0's -128 and every nibble, and activations
/// of ±127 with it reach the largest integer pair sums.
#[test]
fn every_isa_gives_the_portable_block_dots_bit_for_bit() {
    use herd_tensor::qdot::{
        Isa, Q8Quad, dot_q32_portable, dot_q32_rows_with, dot_q32_with, q8_block, vec_dot_quads_with,
    };
    let mut rng = StdRng::seed_from_u64(41);
    let isas = Isa::available();
    eprintln!("kernel sets on this CPU: {isas:?}");
    for dtype in [DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0] {
        for case in 0..12 {
            let blocks = rng.random_range(1..20);
            let cols = 32 * blocks;
            let row = random_blocks(dtype, 1, cols, &mut rng);
            // Sixteen tokens; in the last cases one value per block at the block's
            // maximum, so its quantized value is exactly ±127.
            let acts: Vec<Vec<_>> = (0..16)
                .map(|_| {
                    let mut x: Vec<f32> = (0..cols).map(|_| rng.random_range(-3.0..3.0)).collect();
                    if case >= 8 {
                        x.chunks_exact_mut(32)
                            .for_each(|b| b[rng.random_range(0..32)] = if case % 2 == 0 { 9.0 } else { -9.0 });
                    }
                    x.chunks_exact(32).map(q8_block).collect()
                })
                .collect();
            let want: Vec<f32> = acts.iter().map(|a| dot_q32_portable(dtype, &row, a)).collect();
            // A second row for the two-row kernels.
            let row2 = random_blocks(dtype, 1, cols, &mut rng);
            let want2: Vec<f32> = acts.iter().map(|a| dot_q32_portable(dtype, &row2, a)).collect();
            let quads: Vec<Vec<Q8Quad>> = (0..4)
                .map(|g| {
                    (0..blocks)
                        .map(|i| {
                            let mut q = Q8Quad::default();
                            (0..4).for_each(|j| q.set(j, acts[4 * g + j][i]));
                            q
                        })
                        .collect()
                })
                .collect();
            for &isa in &isas {
                for (t, a) in acts.iter().enumerate() {
                    let got = dot_q32_with(isa, dtype, &row, a);
                    assert_eq!(got.to_bits(), want[t].to_bits(), "{isa:?} {dtype:?} case {case} token {t}");
                    let [g1, g2] = dot_q32_rows_with(isa, dtype, [&row, &row2], a);
                    assert_eq!(g1.to_bits(), want[t].to_bits(), "{isa:?} {dtype:?} case {case} token {t}, two rows");
                    assert_eq!(g2.to_bits(), want2[t].to_bits(), "{isa:?} {dtype:?} case {case} token {t}, row two");
                }
                if !isa.has_quads() {
                    continue;
                }
                let mut four = [[0f32; 4]; 4];
                vec_dot_quads_with::<4>(
                    isa,
                    dtype,
                    &row,
                    [&quads[0], &quads[1], &quads[2], &quads[3]],
                    &mut four,
                    true,
                );
                let mut two = [[0f32; 4]; 2];
                vec_dot_quads_with::<2>(isa, dtype, &row, [&quads[0], &quads[1]], &mut two, false);
                let mut one = [[0f32; 4]; 1];
                vec_dot_quads_with::<1>(isa, dtype, &row, [&quads[1]], &mut one, true);
                for t in 0..16 {
                    let got = four[t / 4][t % 4];
                    assert_eq!(got.to_bits(), want[t].to_bits(), "{isa:?} {dtype:?} case {case} four quads, token {t}");
                }
                for t in 0..8 {
                    let got = two[t / 4][t % 4];
                    assert_eq!(got.to_bits(), want[t].to_bits(), "{isa:?} {dtype:?} case {case} quads, token {t}");
                }
                for j in 0..4 {
                    assert_eq!(one[0][j].to_bits(), want[4 + j].to_bits(), "{isa:?} {dtype:?} case {case} one quad");
                }
            }
        }
    }
}

/// The k-quant kernels of every kernel set this CPU runs give the portable code's
/// bits, one token at a time, four and eight at once.
#[test]
fn every_isa_gives_the_portable_kquant_dots_bit_for_bit() {
    use herd_tensor::qdot::{Isa, Q8KBlock, dot_kquant_portable, q8k_block, vec_dot_kquant_rows_with};
    let mut rng = StdRng::seed_from_u64(47);
    for dtype in [DType::Q4K, DType::Q5K, DType::Q6K] {
        // Rows of 1 to 20 super-blocks (the 1B shape's are 8 and 32, the 8B's 16 and
        // 56): the one-token Q4_K kernel takes runs of eight, then the rest one by one.
        for blocks in [1, 2, 5, 7, 8, 9, 11, 16, 17, 20] {
            let cols = 256 * blocks;
            let row = random_blocks(dtype, 1, cols, &mut rng);
            let acts: Vec<Vec<Q8KBlock>> = (0..8)
                .map(|_| {
                    let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-3.0..3.0)).collect();
                    x.chunks_exact(256).map(q8k_block).collect()
                })
                .collect();
            let want: Vec<f32> = acts.iter().map(|a| dot_kquant_portable(dtype, &row, a)).collect();
            for isa in Isa::available() {
                for (t, a) in acts.iter().enumerate() {
                    let mut one = [0f32; 1];
                    vec_dot_kquant_rows_with::<1>(isa, dtype, &row, [a], &mut one);
                    assert_eq!(one[0].to_bits(), want[t].to_bits(), "{isa:?} {dtype:?} token {t}");
                }
                let mut eight = [0f32; 8];
                vec_dot_kquant_rows_with::<8>(isa, dtype, &row, std::array::from_fn(|t| &acts[t][..]), &mut eight);
                for t in 0..8 {
                    assert_eq!(eight[t].to_bits(), want[t].to_bits(), "{isa:?} {dtype:?} eight, token {t}");
                }
                let mut four = [0f32; 4];
                vec_dot_kquant_rows_with::<4>(isa, dtype, &row, std::array::from_fn(|t| &acts[t + 2][..]), &mut four);
                for t in 0..4 {
                    assert_eq!(four[t].to_bits(), want[t + 2].to_bits(), "{isa:?} {dtype:?} four, token {t}");
                }
            }
        }
    }
}

/// The vector Q8_K quantizer (k-quant activations) writes the portable one's blocks,
/// bit for bit: random scales, the largest magnitude held twice with both signs (the
/// first sets the sign), an all-zero block, subnormals, rounding ties, and blocks with a
/// NaN or an infinity (which take the portable path).
#[test]
fn simd_q8k_quantizer_equals_portable() {
    use herd_tensor::qdot::{q8k_block, q8k_block_portable};
    let mut rng = StdRng::seed_from_u64(29);
    let mut blocks: Vec<Vec<f32>> = Vec::new();
    for k in 0..300 {
        let scale = 10f32.powi(rng.random_range(-8..5));
        let mut b: Vec<f32> = (0..256).map(|_| rng.random_range(-1.0f32..1.0) * scale).collect();
        if k % 3 == 0 {
            let (i, j) = (rng.random_range(0..256), rng.random_range(0..256));
            (b[i], b[j]) = (2.0 * scale, -2.0 * scale);
        }
        blocks.push(b);
    }
    blocks.push(vec![0.0; 256]);
    blocks.push((0..256).map(|i| f32::from_bits(i as u32 + 1)).collect());
    // -127/max = 1: every k + 0.5 is a tie that must round to even.
    blocks.push((0..256).map(|i| if i == 7 { -127.0 } else { (i % 9) as f32 + 0.5 - 4.0 }).collect());
    blocks.push((0..256).map(|i| if i == 100 { f32::NAN } else { i as f32 }).collect());
    blocks.push((0..256).map(|i| if i == 3 { f32::INFINITY } else { i as f32 }).collect());
    for (n, b) in blocks.iter().enumerate() {
        let (got, want) = (q8k_block(b), q8k_block_portable(b));
        assert_eq!(got.qs, want.qs, "block {n}");
        assert_eq!(got.q4k, want.q4k, "block {n}");
        // The Q4_K-order copy: runs of 32 in the order 0, 2, 1, 3 within each 128.
        let order = |q: &[i8; 256], r: usize| q[32 * r..32 * r + 32].to_vec();
        for (to, from) in [0, 2, 1, 3, 4, 6, 5, 7].into_iter().enumerate() {
            assert_eq!(order(&got.q4k, to), order(&got.qs, from), "block {n}, run {to}");
        }
        assert_eq!(got.bsums, want.bsums, "block {n}");
        assert_eq!(got.d.to_bits(), want.d.to_bits(), "block {n}");
    }
}

/// Both two-row half kernels (AVX2 on grouped half activations, AVX-512 on f32 ones
/// in order; each falls back to one row at a time where its CPU features are
/// missing) give `vec_dot_half`'s bits for every row, for every tile size and for a
/// row with a last partial 32. Only one of them runs inside `matmul` on a given CPU,
/// so this is what keeps the other honest.
#[test]
fn two_row_half_kernels_equal_one_row_dots_bit_for_bit() {
    use herd_tensor::qdot::{
        group_half_acts, round_half_into, vec_dot_half, vec_dot_half_pair, vec_dot_half_pair_in_order,
    };
    let mut rng = StdRng::seed_from_u64(29);
    for dtype in [DType::F16, DType::BF16] {
        for cols in [8usize, 64, 100, 576, 1536] {
            let data = random_blocks(dtype, 2, cols, &mut rng);
            let rows = [&data[..2 * cols], &data[2 * cols..]];
            let acts: Vec<Vec<f32>> = (0..12)
                .map(|_| {
                    let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-2.0..2.0)).collect();
                    let mut a = vec![0f32; cols];
                    round_half_into(dtype, &x, &mut a);
                    a
                })
                .collect();
            let grouped: Vec<Vec<u16>> = acts
                .iter()
                .map(|a| {
                    let mut g = vec![0u16; cols];
                    group_half_acts(dtype, a, &mut g);
                    g
                })
                .collect();
            for n in 1..=12 {
                let xs: Vec<&[f32]> = acts[..n].iter().map(|a| a.as_slice()).collect();
                let gs: Vec<&[u16]> = grouped[..n].iter().map(|g| g.as_slice()).collect();
                let mut want = [vec![0f32; n], vec![0f32; n]];
                for (row, w) in rows.iter().zip(&mut want) {
                    vec_dot_half(dtype, row, &xs, w);
                }
                let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
                vec_dot_half_pair_in_order(dtype, rows, &xs, [&mut a, &mut b]);
                let (mut c, mut d) = (vec![0f32; n], vec![0f32; n]);
                vec_dot_half_pair(dtype, rows, &gs, [&mut c, &mut d]);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                for (name, got) in [("in order", [&a, &b]), ("grouped", [&c, &d])] {
                    for r in 0..2 {
                        assert_eq!(bits(got[r]), bits(&want[r]), "{dtype:?} cols {cols}, {n} tokens, row {r}, {name}");
                    }
                }
            }
        }
    }
}

/// F16 activations rounded in vectors equal the `half` crate's rounding, bit for bit,
/// across normal, subnormal, overflowing and halfway values.
#[test]
fn f16_activation_rounding_equals_half_crate() {
    let mut rng = StdRng::seed_from_u64(23);
    let mut x: Vec<f32> = (0..4099).map(|_| rng.random_range(-70000.0f32..70000.0)).collect();
    x.extend((0..2000).map(|_| rng.random_range(-1e-4f32..1e-4)));
    x.extend((0..2000).map(|i| half::f16::from_bits(i as u16).to_f32() + f32::EPSILON * (i % 3) as f32));
    // Exactly halfway between two f16 values: ties go to even.
    x.extend((0..500).map(|i| {
        (half::f16::from_bits(0x3c00 + 2 * i).to_f32() + half::f16::from_bits(0x3c01 + 2 * i).to_f32()) / 2.0
    }));
    x.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, 65519.0, 65520.0, -65520.0, 1e-8, -1e-8]);
    let mut fast = vec![0f32; x.len()];
    herd_tensor::qdot::round_f16_into(&x, &mut fast);
    for (v, f) in x.iter().zip(&fast) {
        let want = half::f16::from_f32(*v).to_f32();
        assert_eq!(f.to_bits(), want.to_bits(), "{v:e}: {f:e} vs {want:e}");
    }
}

/// The AVX2 half-float row dots are bit-identical to the portable path, which is
/// ggml's f16 dot order over the converted row, and so is the portable dot over the
/// activations grouped for the two-row kernel.
#[test]
fn simd_half_dots_equal_portable_bit_for_bit() {
    use herd_tensor::qdot::{QuantActs, act_format, quantize_acts, vec_dot};
    let mut rng = StdRng::seed_from_u64(9);
    for dtype in [DType::F16, DType::BF16] {
        for cols in [8usize, 64, 72, 100, 576, 4096] {
            let data = random_blocks(dtype, 1, cols, &mut rng);
            let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-2.0..2.0)).collect();
            let mut acts = QuantActs::default();
            quantize_acts(act_format(dtype), &x, &mut acts);
            let fast = vec_dot(dtype, &data, &acts);
            // The portable path: ggml's f16 order over the converted row.
            let mut w = vec![0f32; cols];
            herd_tensor::quant::dequantize_row(dtype, &data, &mut w);
            let slow = herd_tensor::simd::dot_ggml_f16_order(&w, &acts.f32s);
            let portable = herd_tensor::qdot::dot_half_portable(dtype, &data, &acts.f32s);
            assert_eq!(slow.to_bits(), portable.to_bits(), "{dtype:?} cols {cols}: portable {portable}");
            // The same dot on the activations grouped for the two-row kernel.
            let mut grouped = vec![0u16; cols];
            herd_tensor::qdot::group_half_acts(dtype, &acts.f32s, &mut grouped);
            let from_grouped = herd_tensor::qdot::dot_half_grouped_portable(dtype, &data, &grouped);
            assert_eq!(from_grouped.to_bits(), portable.to_bits(), "{dtype:?} cols {cols}: grouped {from_grouped}");
            assert_eq!(fast.to_bits(), slow.to_bits(), "{dtype:?} cols {cols}: {fast} vs {slow}");
        }
    }
}
