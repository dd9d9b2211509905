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

/// `gate[i] = silu(gate[i]) * up[i]`: the SwiGLU product, written into `gate`, as
/// ggml's `x / (1 + e^-x)` with [`exp`].
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
        unsafe { silu_mul_fma(gate, up) };
        return;
    }
    silu_mul_body(gate, up)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn silu_mul_fma(gate: &mut [f32], up: &[f32]) {
    silu_mul_body(gate, up)
}

#[inline(always)]
fn silu_mul_body(gate: &mut [f32], up: &[f32]) {
    for (g, u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + exp(-*g)) * u;
    }
}

/// `e^x` in f32 within about one unit in the last place, NaN for NaN, 0 below about
/// -103.97 and infinity above about 88.72, with the subnormals in between.
///
/// Why not `f32::exp`: it is a library call per value, which took a third of the
/// attention of a long prompt (softmax) and 4% of every forward pass (SiLU). This one
/// is straight-line arithmetic, so a loop over a slice compiles to vector code; and
/// it is written once with `mul_add`, so the vector loops built with FMA and the
/// portable ones (where `mul_add` is a correctly rounded library call) give the same
/// bits. llama.cpp has its own vector exponential; neither is the correctly rounded
/// one, so the two can differ in the last bit (the parity tests allow for that).
///
/// Method: `x = n ln2 + r` with `n` the nearest integer to `x / ln2` and `|r| <= ln2/2`
/// (ln 2 split in two so that `n * LN2_HI` is exact, Cody and Waite's reduction);
/// `e^r` by its Taylor series to degree 7 (the first omitted term is under 1e-8 of the
/// result); then `2^n` applied as two exact powers of two, so that results in the
/// subnormal range are rounded once and large `x` overflows to infinity on its own.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with 16 significant bits (n needs at most 8).
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 * 2^23: adding it rounds to an integer (ties to even) in the low bits.
    const SHIFT: f32 = 12_582_912.0;
    // 1/k! for k = 7 down to 2.
    const C: [f32; 6] = [1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 1.0 / 2.0];
    // A NaN stays NaN through the clamp and every step after it.
    let xc = x.clamp(-104.0, 89.0);
    let kf = xc.mul_add(LOG2_E, SHIFT);
    let n = kf - SHIFT;
    let ni = kf.to_bits() as i32 - SHIFT.to_bits() as i32;
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, xc));
    let mut p = C[0];
    for c in &C[1..] {
        p = p.mul_add(r, *c);
    }
    p = p.mul_add(r, 1.0).mul_add(r, 1.0);
    // 2^n as 2^(n/2) * 2^(n - n/2): each factor a normal f32 for n in [-150, 128].
    let n1 = ni >> 1;
    let pow2 = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    p * pow2(n1) * pow2(ni - n1)
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

/// Softmax as ggml's `soft_max` computes it: exponentials in f32 ([`exp`]), summed
/// eight at a time in f32 (pairwise) and those partial sums in f64, the tail one by one
/// in f64, then one multiplication by the f32-rounded reciprocal.
pub fn softmax_f64_sum(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU supports AVX-512 F, AVX2 and FMA (checked at run time).
        unsafe { softmax_f64_sum_avx512(x) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
        unsafe { softmax_f64_sum_fma(x) };
        return;
    }
    softmax_f64_sum_body(x)
}

/// The same body with 16-lane vectors for the maximum and `exp` (lane-wise, so the same
/// bits): attention's softmax over a long context took a sixth of its time in 8 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn softmax_f64_sum_avx512(x: &mut [f32]) {
    softmax_f64_sum_body(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_f64_sum_fma(x: &mut [f32]) {
    softmax_f64_sum_body(x)
}

#[inline(always)]
fn softmax_f64_sum_body(x: &mut [f32]) {
    // The maximum in 32 running lanes, so that it compiles to vector code with
    // independent chains (one 8-lane chain took half the softmax: `max` is a compare
    // and a blend); a maximum is exact in any order, and `max` skips NaN either way.
    let mut m = [f32::NEG_INFINITY; 32];
    let mut c = x.chunks_exact(32);
    for c in &mut c {
        for (m, v) in m.iter_mut().zip(c) {
            *m = m.max(*v);
        }
    }
    let max = c.remainder().iter().chain(&m).fold(f32::NEG_INFINITY, |a, b| a.max(*b));
    x.iter_mut().for_each(|v| *v = exp(*v - max));
    let mut sum = 0f64;
    let mut c = x.chunks_exact(8);
    for c in &mut c {
        let r = [c[0] + c[4], c[1] + c[5], c[2] + c[6], c[3] + c[7]];
        sum += ((r[0] + r[2]) + (r[1] + r[3])) as f64;
    }
    for v in c.remainder() {
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

    /// Distance in units in the last place, across the f32 number line.
    fn ulps(a: f32, b: f32) -> u32 {
        let key = |x: f32| if x.is_sign_negative() { -(x.to_bits() as i64 & 0x7fff_ffff) } else { x.to_bits() as i64 };
        (key(a) - key(b)).unsigned_abs() as u32
    }

    /// Against the f64 exponential rounded to f32, over every 97th f32 of the range where
    /// the result is neither zero nor infinite (subnormal results included), plus the
    /// edges.
    #[test]
    fn exp_is_within_one_ulp_over_its_range() {
        let (mut worst, mut at, mut n) = (0u32, 0f32, 0usize);
        let mut check = |x: f32| {
            let want = (x as f64).exp() as f32;
            let e = ulps(exp(x), want);
            if e > worst {
                (worst, at) = (e, x);
            }
            n += 1;
        };
        let (lo, hi) = ((-103.9f32).to_bits(), 88.72f32.to_bits());
        // Negative values have bits above 0x8000_0000, growing in magnitude.
        (0x8000_0000u32..=lo).step_by(97).chain((0..=hi).step_by(97)).for_each(|b| check(f32::from_bits(b)));
        [0.0, -0.0, 1.0, -1.0, 88.72, -87.33, -103.9, f32::MIN_POSITIVE].into_iter().for_each(&mut check);
        assert!(n > 20_000_000, "{n} values");
        assert!(worst <= 1, "{worst} ulps at {at:e}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-104.5), 0.0);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(88.73), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
    }

    /// The vector builds (AVX2 and FMA where this CPU has them) and the portable loops
    /// give the same bits, NaN, infinities and tails included.
    #[test]
    fn softmax_and_silu_dispatch_equal_their_portable_bodies() {
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for n in [1usize, 7, 8, 9, 64, 77, 1200] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1013) as f32 / 9.0 - 60.0).collect();
            let (mut a, mut b) = (x.clone(), x.clone());
            softmax_f64_sum(&mut a);
            softmax_f64_sum_body(&mut b);
            assert_eq!(bits(&a), bits(&b), "softmax n {n}");
            assert!((a.iter().map(|v| *v as f64).sum::<f64>() - 1.0).abs() < 1e-5);
            let mut g: Vec<f32> = x.iter().map(|v| v * 2.0).collect();
            g[0] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -200.0][n % 4];
            let u: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let (mut a, mut b) = (g.clone(), g.clone());
            silu_mul(&mut a, &u);
            silu_mul_body(&mut b, &u);
            assert_eq!(bits(&a), bits(&b), "silu n {n}");
            for i in 1..n {
                let want = g[i] as f64 / (1.0 + (-g[i] as f64).exp()) * u[i] as f64;
                assert!(
                    (a[i] as f64 - want).abs() <= 1e-6 * want.abs().max(1e-30),
                    "silu({}) {} vs {want}",
                    g[i],
                    a[i]
                );
            }
        }
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
