//! The quantizers against llama.cpp's own output (bit for bit) and against their inverse.

use base64::Engine;
use herd_tensor::DType;
use herd_tensor::quant::dequantize_row;
use herd_tensor::quantize::{quantize_row, quantize_row_into};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn b64(s: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s.as_str().expect("base64 string")).expect("base64")
}

fn dtype_named(name: &str) -> DType {
    (0..40).filter_map(DType::from_ggml).find(|d| d.name() == name).unwrap_or_else(|| panic!("unknown type {name}"))
}

/// Every row of tests/fixtures/quantize.json (scripts/golden/quantize.py: llama.cpp's
/// `ggml_quantize_chunk`, the path llama-quantize takes) quantized by herd to the same
/// bytes, for every type herd writes.
#[test]
fn quantize_equals_llama_cpp_bit_for_bit() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/quantize.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut checked = std::collections::BTreeSet::new();
    for case in v["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let x: Vec<f32> =
            b64(&case["f32_le_b64"]).chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        for (ty, want) in case["quants"].as_object().expect("quants") {
            let dtype = dtype_named(ty);
            let want = b64(want);
            let got = quantize_row(dtype, &x).expect("whole blocks");
            assert_eq!(got.len(), want.len(), "{name} {ty}: length");
            if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
                let bb = dtype.block_bytes();
                panic!(
                    "{name} {ty}: first difference at byte {i} (block {}, offset {})\n herd {:02x?}\n  ref {:02x?}",
                    i / bb,
                    i % bb,
                    &got[i / bb * bb..(i / bb + 1) * bb],
                    &want[i / bb * bb..(i / bb + 1) * bb]
                );
            }
            checked.insert(dtype.name());
        }
    }
    for t in ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q4_K", "Q5_K", "Q6_K"] {
        assert!(checked.contains(t), "{t} has no golden case");
    }
}

fn nmse(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((*x - *y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    num / den.max(1e-30)
}

/// Weight-like data (Gaussian with a few outliers) through quantize -> dequantize, with
/// budgets from the bits per weight: each extra bit divides the error by about four.
#[test]
fn quantize_round_trips_weight_like_rows_within_per_type_budgets() {
    let mut rng = StdRng::seed_from_u64(17);
    // A sum of four uniforms is close enough to the bell shape of trained weights.
    let mut x: Vec<f32> = (0..4096).map(|_| (0..4).map(|_| rng.random_range(-0.02f32..0.02)).sum()).collect();
    for i in (0..x.len()).step_by(509) {
        x[i] *= 8.0;
    }
    for (dtype, budget) in [
        (DType::F32, 0.0),
        (DType::F16, 1e-7),
        (DType::BF16, 5e-6),
        (DType::Q8_0, 1e-4),
        (DType::Q6K, 8e-4),
        (DType::Q5_0, 4e-3),
        (DType::Q5K, 2.5e-3),
        (DType::Q4_0, 1.5e-2),
        (DType::Q4_1, 1e-2),
        (DType::Q4K, 8e-3),
    ] {
        let q = quantize_row(dtype, &x).expect("whole blocks");
        assert_eq!(Some(q.len()), dtype.row_bytes(x.len()), "{dtype:?}: size");
        let mut y = vec![0f32; x.len()];
        dequantize_row(dtype, &q, &mut y);
        let e = nmse(&y, &x);
        eprintln!("{dtype:?}: nmse {e:.3e}");
        assert!(e <= budget, "{dtype:?}: nmse {e:e} > {budget:e}");
    }
}

/// A row that is not a whole number of blocks is an error naming the type, not a panic
/// or a silently short row.
#[test]
fn ragged_rows_are_refused() {
    let x = vec![0.5f32; 576];
    let mut out = Vec::new();
    let e = quantize_row_into(DType::Q4K, &x, &mut out).expect_err("576 is not a multiple of 256");
    assert!(e.to_string().contains("576"), "{e}");
    assert!(out.is_empty());
    assert!(quantize_row(DType::Q4_0, &x[..33]).is_none());
    assert!(quantize_row(DType::Q4_0, &x).is_some());
}

/// All-zero and constant rows give finite blocks that decode exactly.
#[test]
fn zero_and_constant_rows_decode_exactly() {
    for dtype in [DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q4K, DType::Q5K, DType::Q6K] {
        let zeros = vec![0f32; 512];
        let q = quantize_row(dtype, &zeros).expect("whole blocks");
        let mut y = vec![1f32; 512];
        dequantize_row(dtype, &q, &mut y);
        assert!(y.iter().all(|v| *v == 0.0), "{dtype:?}: zeros decode to {:?}", &y[..4]);
    }
    // 0.25 is exact in every scale format, so symmetric and affine types keep it.
    for dtype in [DType::Q8_0, DType::Q4_1, DType::Q4K] {
        let c = vec![0.25f32; 512];
        let mut y = vec![0f32; 512];
        dequantize_row(dtype, &quantize_row(dtype, &c).expect("whole blocks"), &mut y);
        let e = nmse(&y, &c);
        assert!(e < 1e-4, "{dtype:?}: constant row nmse {e}");
    }
}
