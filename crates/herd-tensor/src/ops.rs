//! The non-matmul ops of a Llama forward pass: RMSNorm, RoPE, SiLU*mul, softmax.
//!
//! These are cheap next to the matmuls, so each is written once, plainly, and serves
//! as its own reference.

/// `out = x * rsqrt(mean(x²) + eps) * weight`, as Meta's RMSNorm and llama.cpp's
/// `rms_norm` followed by `mul`: squares summed in f64, the mean rounded to f32, then
/// f32 throughout. Matching that rounding matters more than it seems: the next matmul
/// quantizes its input to 8 bits, and a last-bit difference can flip a rounding there.
pub fn rmsnorm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let n = x.len();
    let ss = (x.iter().map(|v| (v * v) as f64).sum::<f64>() / n as f64) as f32;
    let scale = 1.0 / (ss + eps).sqrt();
    for ((o, v), w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

/// Rotate one head vector in place with the **interleaved** RoPE convention (Meta's
/// `view_as_complex` over adjacent pairs `(x[2i], x[2i+1])`, llama.cpp's "normal"
/// mode). Loaders permute Hugging Face's half-split Q/K rows into this layout, so the
/// model has one convention. `cos_sin` holds `(cos, sin)` of `pos * freq_i` for
/// i in 0..head_dim/2.
///
/// The rotation is written with fused multiply-adds in the form GCC contracts
/// ggml's `x0*cos - x1*sin` into, which makes herd's Q and K bit-identical to
/// llama.cpp's.
pub fn rope_interleaved(head: &mut [f32], cos_sin: &[(f32, f32)]) {
    for (pair, &(c, s)) in head.chunks_exact_mut(2).zip(cos_sin) {
        let (a, b) = (pair[0], pair[1]);
        pair[0] = a.mul_add(c, -(b * s));
        pair[1] = a.mul_add(s, b * c);
    }
}

/// `gate[i] = silu(gate[i]) * up[i]`: the SwiGLU product, written into `gate`.
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// Numerically stable softmax in place.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Softmax as ggml's `soft_max` computes it: exponentials in f32, summed eight at a
/// time in f32 (pairwise) and those partial sums in f64, the tail one by one in f64,
/// then one multiplication by the f32-rounded reciprocal.
pub fn softmax_f64_sum(x: &mut [f32]) {
    let max = x.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    let n8 = x.len() / 8 * 8;
    for c in x[..n8].chunks_exact_mut(8) {
        for v in c.iter_mut() {
            *v = (*v - max).exp();
        }
        let r = [c[0] + c[4], c[1] + c[5], c[2] + c[6], c[3] + c[7]];
        sum += ((r[0] + r[2]) + (r[1] + r[3])) as f64;
    }
    for v in x[n8..].iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// `log(sum(exp(x)))`, in f64 around the maximum, so that log-probabilities and
/// perplexities built on it are accurate well below any parity budget.
pub fn log_sum_exp(x: &[f32]) -> f64 {
    let max = x.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = x.iter().map(|v| (*v as f64 - max).exp()).sum();
    max + sum.ln()
}

/// `log_softmax` into a fresh vector (see `log_sum_exp`).
pub fn log_softmax(x: &[f32]) -> Vec<f32> {
    let lse = log_sum_exp(x);
    x.iter().map(|v| (*v as f64 - lse) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmsnorm_of_constant_vector_is_weight() {
        let x = vec![3.0f32; 8];
        let w: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let mut out = vec![0.0; 8];
        rmsnorm(&x, &w, 0.0, &mut out);
        for (o, w) in out.iter().zip(&w) {
            assert!((o - w).abs() < 1e-6);
        }
    }

    #[test]
    fn rope_rotates_pairs_by_angle() {
        let mut h = vec![1.0, 0.0, 0.0, 1.0];
        let a = 0.5f32;
        rope_interleaved(&mut h, &[(a.cos(), a.sin()), (1.0, 0.0)]);
        assert!((h[0] - a.cos()).abs() < 1e-7 && (h[1] - a.sin()).abs() < 1e-7);
        assert_eq!(&h[2..], &[0.0, 1.0]);
    }

    #[test]
    fn softmax_and_log_softmax_agree() {
        let x = vec![1.0f32, 2.0, -3.0, 0.5];
        let mut p = x.clone();
        softmax(&mut p);
        let lp = log_softmax(&x);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for (a, b) in p.iter().zip(&lp) {
            assert!((a.ln() - b).abs() < 1e-5);
        }
    }
}
