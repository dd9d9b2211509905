//! f32 dot product and axpy with AVX2+FMA chosen at run time, and a portable fallback.
//!
//! The fallback sums in 8 independent lanes, the same association order as the AVX2
//! path, so both give bit-identical results on the same input; the tests below check
//! that, and check both against an f64 reference.

/// `sum(a[i] * b[i])`. Panics if the lengths differ.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above),
            // and both slices have the same length (asserted above).
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// The scalar reference: eight lanes, then a pairwise reduction of the lanes. This
/// is also the order of llama.cpp's tinyBLAS f16 kernel (one 8-lane accumulator),
/// which the attention follows for multi-row batches.
#[inline(always)]
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let n8 = a.len() / 8 * 8;
    for (ca, cb) in a[..n8].chunks_exact(8).zip(b[..n8].chunks_exact(8)) {
        for l in 0..8 {
            acc[l] = ca[l].mul_add(cb[l], acc[l]);
        }
    }
    let mut s = reduce8(acc);
    for i in n8..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// The pairwise sum of 8 lanes in the order of an AVX2 horizontal add (halves,
/// then pairs), shared by every 8-lane kernel so their results agree bit for bit.
#[inline(always)]
pub fn reduce8(acc: [f32; 8]) -> f32 {
    let q = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    let h = [q[0] + q[2], q[1] + q[3]];
    h[0] + h[1]
}

/// Asks for the cache lines of the `len` bytes at `p` to be brought into L1, one
/// prefetch per 64 bytes: the weight-streaming kernels' way of running ahead of the
/// hardware prefetchers, which stop at each 4 KiB page. `p` may be any address (past
/// the weights it only wastes a slot): it is computed, never dereferenced.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn prefetch_lines(p: *const u8, len: usize) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    for off in (0..len).step_by(64) {
        // SAFETY: a prefetch reads nothing architecturally and never faults (SSE,
        // on every x86-64 CPU); the address is only arithmetic (`wrapping_add`).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off) as *const i8) };
    }
}

/// Asks for the cache lines holding the bytes `p..p + len` to be brought in for
/// writing (`prefetchw`, which takes a line exclusive, so the stores that follow do not
/// wait for a read-for-ownership). `p` may be any address: it is computed, never
/// dereferenced.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn prefetch_for_write(p: *const u8, len: usize) {
    let line = |a: *const u8| {
        // SAFETY: a prefetch reads and writes nothing architecturally and never faults;
        // CPUs without PRFCHW (before Broadwell) run this encoding as a no-op.
        unsafe { std::arch::asm!("prefetchw [{0}]", in(reg) a, options(nostack, readonly, preserves_flags)) };
    };
    for off in (0..len).step_by(64) {
        line(p.wrapping_add(off));
    }
    // The last byte's line, where `p` is not aligned.
    line(p.wrapping_add(len.max(1) - 1));
}

/// How far ahead of the weight bytes being read a one-token dot asks for the
/// next ones. A decode step streams every weight once, and the hardware
/// prefetchers stop at each 4 KiB page: a small model's rows are a few hundred
/// bytes, so without help each new page costs a full miss (and a page walk) with
/// nothing else in flight. Measured on a 2-core Sapphire Rapids guest, 135M
/// model, 1 thread: Q4_1 37 -> 76 tokens/s, Q8_0 34 -> 51 (512 bytes ahead did half
/// as well). The quad kernels' first pass over a row (a decode step of a few
/// streams) is bound the same way: with these prefetches a 4-stream step of the 135M
/// Q4_1 model at 2 threads took 12 ms instead of 15 (16 streams: 33 instead of 38).
/// Why 8 KiB: the lead must cover the memory latency under load at the rate the
/// kernels consume (~11 GB/s a core), and that latency grows as both cores stream.
/// With the weights in huge pages, 2 -> 4 -> 8 KiB ahead (alternating runs, tokens/s
/// at 1/2 threads): 8B Q4_K_M 2.14/4.32 -> 2.30/4.81 -> 2.35/4.36, 1B Q4_K_M
/// 13.9/25.4 -> 14.9/27.7 -> 15.1/28.6, 135M Q4_1 90/164 -> 97/183 -> 106/184, 1B F16
/// the same (rows of 4 KiB); 16 KiB no better than 8. The streaming-read benchmark
/// (`stream_sum`) reads the same with any of them: it computes nothing.
#[cfg(target_arch = "x86_64")]
const PREFETCH_AHEAD: usize = 8192;

/// Asks for the cache lines `PREFETCH_AHEAD` bytes past `b` (a block being read
/// now), one per 64 bytes of `b`: called for every block in order, that touches
/// every line of the stream once it is `PREFETCH_AHEAD` bytes ahead.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn prefetch_ahead(b: &[u8]) {
    prefetch_lines(b.as_ptr().wrapping_add(PREFETCH_AHEAD), b.len());
}

/// The wrapping sum of `words`, read as the weight-streaming kernels read their rows:
/// each 64-byte line asked for `PREFETCH_AHEAD` bytes ahead. The loop of a
/// streaming-read benchmark: without the prefetches it measures the hardware
/// prefetchers alone (on a KVM guest 75-85% as much: 9-11 against 12 GB/s at one
/// thread), less than an 8B decode step pulled, whose roofline over it read above 100%.
pub fn stream_sum(words: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    let mut lines = words.chunks_exact(8);
    for line in &mut lines {
        #[cfg(target_arch = "x86_64")]
        prefetch_lines((line.as_ptr() as *const u8).wrapping_add(PREFETCH_AHEAD), 64);
        for (a, w) in acc.iter_mut().zip(line) {
            *a = a.wrapping_add(*w);
        }
    }
    let rest = lines.remainder().iter().fold(0u64, |a, w| a.wrapping_add(*w));
    acc.iter().fold(rest, |a, w| a.wrapping_add(*w))
}

/// Whether the AVX2+FMA+F16C kernels can run on this CPU (checked once).
#[cfg(target_arch = "x86_64")]
pub fn has_avx2_fma() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
    })
}

/// Whether the AVX-512 kernels can run on this CPU (checked once): AVX-512 F, BW and
/// VL besides AVX2, FMA and F16C (Skylake-X and later Xeons, Zen 4). Setting
/// `HERD_NO_AVX512=1` keeps herd on its AVX2 kernels, to compare the two on one machine.
#[cfg(target_arch = "x86_64")]
pub fn has_avx512() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        has_avx2_fma()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && std::env::var_os("HERD_NO_AVX512").is_none_or(|v| v.is_empty() || v == "0")
    })
}

/// Whether the AVX-512 VNNI kernels can run on this CPU: `has_avx512` and VNNI (Ice
/// Lake and later Xeons, Zen 4).
#[cfg(target_arch = "x86_64")]
pub fn has_avx512_vnni() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| has_avx512() && is_x86_feature_detected!("avx512vnni"))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n8 = a.len() / 8 * 8;
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i < n8 {
        // SAFETY: i + 8 <= n8 <= len of both slices, so the unaligned 8-float loads
        // stay in bounds.
        let (va, vb) = unsafe { (_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i))) };
        acc = _mm256_fmadd_ps(va, vb, acc);
        i += 8;
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` is 8 f32 = 32 writable bytes.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    let mut s = reduce8(lanes);
    for j in n8..a.len() {
        s += a[j] * b[j];
    }
    s
}

/// `sum(a[i] * b[i])` in the association order of ggml's f16 dot product on AVX2:
/// four 8-lane accumulators fed round-robin by 8-value slices, combined as
/// `(acc0 + acc2) + (acc1 + acc3)`, then the 8 lanes summed as two halves and two
/// horizontal adds. The inputs are taken as zero-padded to a multiple of 32, as
/// llama.cpp pads its KV cache views, so no element takes the scalar tail path.
/// Used for the attention products against the f16 KV cache, where llama.cpp uses
/// this kernel, so that rounding (which the next 8-bit quantization can amplify)
/// agrees with it.
#[inline(always)]
pub fn dot_ggml_f16_order(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: lengths differ");
    let mut acc = [0f32; 32];
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let lane = ggml_f16_lane(i);
        acc[lane] = x.mul_add(*y, acc[lane]);
    }
    reduce_ggml_f16_lanes(&acc)
}

/// Which of the 4 x 8 accumulator lanes of `dot_ggml_f16_order` element `i` feeds.
#[inline(always)]
pub fn ggml_f16_lane(i: usize) -> usize {
    ((i / 8) % 4) * 8 + i % 8
}

/// The final reduction of `dot_ggml_f16_order` over its 4 x 8 accumulator lanes
/// (`acc[j * 8 + l]`), for callers that fill the lanes themselves.
#[inline(always)]
pub fn reduce_ggml_f16_lanes(acc: &[f32]) -> f32 {
    let mut x0 = [0f32; 8];
    for l in 0..8 {
        x0[l] = (acc[l] + acc[16 + l]) + (acc[8 + l] + acc[24 + l]);
    }
    // Halves, then two horizontal adds: (t0 + t1) + (t2 + t3), not `reduce8`'s order.
    let t0 = [x0[0] + x0[4], x0[1] + x0[5], x0[2] + x0[6], x0[3] + x0[7]];
    (t0[0] + t0[1]) + (t0[2] + t0[3])
}

/// `reduce_ggml_f16_lanes` in vectors, for the kernels that keep ggml's four 8-lane
/// accumulators in registers (the half-weight dots, attention's decode scores): the
/// same additions in the same order, so the same bits.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    /// The first step: the four accumulators added lane by lane,
    /// `(acc0 + acc2) + (acc1 + acc3)`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) fn combine_ggml_f16(acc: [__m256; 4]) -> __m256 {
        _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]))
    }

    /// The rest on a combined vector: halves, then two horizontal adds,
    /// `((x0 + x4) + (x1 + x5)) + ((x2 + x6) + (x3 + x7))`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) fn reduce_ggml_f16_x0(x0: __m256) -> f32 {
        let t0 = _mm_add_ps(_mm256_castps256_ps128(x0), _mm256_extractf128_ps::<1>(x0));
        let h = _mm_hadd_ps(t0, t0);
        _mm_cvtss_f32(_mm_hadd_ps(h, h))
    }

    /// The whole reduction of four accumulators.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) fn reduce_ggml_f16(acc: [__m256; 4]) -> f32 {
        reduce_ggml_f16_x0(combine_ggml_f16(acc))
    }
}

/// The NEON building blocks the AArch64 kernels share (`qdot/neon.rs`, attention):
/// exact half-to-f32 conversions, bounded loads, and `reduce_ggml_f16_lanes` and
/// `reduce8` in vectors (the same additions in the same order). The functions carry
/// `target_feature(enable = "neon")` only so that the intrinsics are safe to call:
/// NEON is part of every AArch64 target.
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon {
    use std::arch::aarch64::*;

    /// Four f16 bit patterns as f32, exactly (`fcvtl`, which ARMv8.0's FP/SIMD has;
    /// its Rust intrinsic takes the unstable `f16` vector type, so it is written here).
    #[inline]
    #[target_feature(enable = "neon")]
    pub(crate) fn f16x4(h: uint16x4_t) -> float32x4_t {
        let out: float32x4_t;
        // SAFETY: one register-to-register conversion; no memory, flags or stack.
        unsafe {
            std::arch::asm!("fcvtl {0:v}.4s, {1:v}.4h", out(vreg) out, in(vreg) h, options(pure, nomem, nostack))
        };
        out
    }

    /// Four f32 rounded to f16 (to nearest, ties to even, as `half`'s conversion) and
    /// back: `fcvtn` then `fcvtl`, where `half` checks for the FP16 extension and calls
    /// out of line for each value.
    #[inline]
    #[target_feature(enable = "neon")]
    pub(crate) fn round_f16x4(x: float32x4_t) -> float32x4_t {
        let out: float32x4_t;
        // SAFETY: two register-to-register conversions; no memory, flags or stack.
        unsafe {
            std::arch::asm!(
                "fcvtn {t:v}.4h, {x:v}.4s",
                "fcvtl {o:v}.4s, {t:v}.4h",
                x = in(vreg) x,
                t = out(vreg) _,
                o = out(vreg) out,
                options(pure, nomem, nostack)
            )
        };
        out
    }

    /// Four u16 from the start of `h` (panics if shorter).
    #[inline]
    #[target_feature(enable = "neon")]
    pub(crate) fn load_u16x4(h: &[u16]) -> uint16x4_t {
        let h = &h[..4];
        // SAFETY: `h` is 4 readable u16 (sliced above).
        unsafe { vld1_u16(h.as_ptr()) }
    }

    /// Four f32 from the start of `x` (panics if shorter).
    #[inline]
    #[target_feature(enable = "neon")]
    pub(crate) fn load_f32(x: &[f32]) -> float32x4_t {
        let x = &x[..4];
        // SAFETY: `x` is 4 readable f32 (sliced above).
        unsafe { vld1q_f32(x.as_ptr()) }
    }

    /// `super::reduce_ggml_f16_lanes` of ggml's 32 lanes held as eight vectors (lane
    /// `4k + m` is lane `m` of `acc[k]`, so lanes `l` and `l + 4` of ggml's accumulator
    /// `j` are vectors `2j` and `2j + 1`): per lane `(acc0 + acc2) + (acc1 + acc3)`,
    /// then halves, then `(t0 + t1) + (t2 + t3)`.
    #[inline]
    #[target_feature(enable = "neon")]
    pub(crate) fn reduce_ggml_f16(acc: &[float32x4_t; 8]) -> f32 {
        let lo = vaddq_f32(vaddq_f32(acc[0], acc[4]), vaddq_f32(acc[2], acc[6]));
        let hi = vaddq_f32(vaddq_f32(acc[1], acc[5]), vaddq_f32(acc[3], acc[7]));
        let t = vaddq_f32(lo, hi);
        let p = vpaddq_f32(t, t);
        vgetq_lane_f32::<0>(p) + vgetq_lane_f32::<1>(p)
    }

    /// `super::reduce8` of the eight lanes `lo` (0-3) and `hi` (4-7): halves, then pairs.
    #[inline]
    #[target_feature(enable = "neon")]
    pub(crate) fn reduce8(lo: float32x4_t, hi: float32x4_t) -> f32 {
        // q = [a0 + a4, a1 + a5, a2 + a6, a3 + a7], h = [q0 + q2, q1 + q3]
        let q = vaddq_f32(lo, hi);
        let h = vadd_f32(vget_low_f32(q), vget_high_f32(q));
        vget_lane_f32::<0>(h) + vget_lane_f32::<1>(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// The streaming benchmark's sum is every word's, wrapping, whatever the length
    /// (whole lines, a rest, less than a line).
    #[test]
    fn stream_sum_adds_every_word() {
        let mut rng = StdRng::seed_from_u64(3);
        for n in [0usize, 1, 7, 8, 9, 63, 64, 1000, 4099] {
            let w: Vec<u64> = (0..n).map(|_| rng.random()).collect();
            assert_eq!(stream_sum(&w), w.iter().fold(0u64, |a, v| a.wrapping_add(*v)), "n={n}");
        }
    }

    #[test]
    fn dot_matches_f64_and_portable_bitwise() {
        let mut rng = StdRng::seed_from_u64(7);
        for n in [0usize, 1, 7, 8, 9, 63, 64, 576, 1000, 4096] {
            let a: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let fast = dot(&a, &b);
            assert!((fast as f64 - want).abs() <= 1e-5 * (n as f64).sqrt().max(1.0));
            assert_eq!(fast.to_bits(), dot_portable(&a, &b).to_bits(), "n={n}");
            let g = dot_ggml_f16_order(&a, &b);
            assert!((g as f64 - want).abs() <= 1e-5 * (n as f64).sqrt().max(1.0), "n={n}: {g}");
        }
    }
}
