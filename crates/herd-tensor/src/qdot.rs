//! Dot products of quantized weight rows with quantized activations, the way
//! llama.cpp's CPU backend computes them.
//!
//! llama.cpp never multiplies a quantized weight by f32 activations: it first
//! quantizes the activations to the weight type's "vec_dot_type" (Q8_0 for Q4_0 and
//! Q8_0, Q8_1 for Q4_1, Q8_K for the k-quants, F16/BF16 for half weights) and then
//! takes integer dot products per block. herd does the same, for two reasons: it is
//! the fast path (integer multiply-adds on bytes), and it reproduces llama.cpp's
//! numbers to float rounding, which is what parity with it is measured against.
//! Rounding is half-to-even, as ggml's AVX2 quantizers and `nearest_int` do.

use crate::dtype::{DType, QK_K};
use crate::quant::scale_min_k4;
use half::{bf16, f16};

/// 32 activations quantized to 8 bits: `x ≈ d * qs`, `s = d * sum(qs)` (Q8_0 / Q8_1;
/// `d` and `s` already rounded through f16 as ggml stores them).
#[derive(Debug, Clone, Copy)]
pub struct Q8Block {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; 32],
}

/// Four activation rows' Q8 blocks of one column block, interleaved for the batched
/// kernels: their scales and sums side by side (one vector load each, one multiply
/// for all four products with the weight's scale), and each row's 32 values at a
/// 32-byte boundary, two rows' at a 64-byte one (no load straddles a cache line, as a
/// 40-byte `Q8Block` stride makes three loads in eight do).
///
/// `qu` holds the values again plus 128, as unsigned bytes: VNNI multiplies unsigned
/// by signed bytes, and with the activations unsigned the signed weights (Q4_0, Q5_0,
/// Q8_0) need no per-token sign trick; the AVX-512 kernel takes the excess, 128 times
/// each lane's weight sum, off once per weight block.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub struct Q8Quad {
    pub qu: [[u8; 32]; 4],
    pub qs: [[i8; 32]; 4],
    pub d: [f32; 4],
    pub s: [f32; 4],
}

impl Default for Q8Quad {
    fn default() -> Self {
        Q8Quad { qu: [[128; 32]; 4], qs: [[0; 32]; 4], d: [0.0; 4], s: [0.0; 4] }
    }
}

impl Q8Quad {
    /// Puts row `j`'s block.
    pub fn set(&mut self, j: usize, b: Q8Block) {
        (self.d[j], self.s[j], self.qs[j]) = (b.d, b.s, b.qs);
        self.qu[j] = b.qs.map(|q| (q as u8) ^ 0x80);
    }
}

/// 256 activations quantized for the k-quants: `x ≈ d * qs`, with sums of each run
/// of 16 (`bsums`) for the weight minimums. The values come first and the block is
/// 32-byte aligned, so no 32-byte load of them straddles a cache line (after `d`,
/// every other one did).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
pub struct Q8KBlock {
    pub qs: [i8; QK_K],
    /// `qs` again, each 128 values as their runs of 32 in the order 0, 2, 1, 3: the
    /// order of the AVX-512 Q4_K kernel's nibble vectors (a 64-byte load of Q4_K
    /// nibbles holds values 0..32 and 64..96 in its low nibbles, 32..64 and 96..128 in
    /// its high ones), so that kernel multiplies them as loaded instead of shuffling
    /// four 128-bit lanes per weight block and row. Written once per token, read by
    /// every row.
    pub q4k: [i8; QK_K],
    pub bsums: [i16; 16],
    pub d: f32,
}

/// One activation row in the vec_dot_type of some weight dtype.
#[derive(Debug, Clone, Default)]
pub struct QuantActs {
    pub f32s: Vec<f32>,
    pub q8: Vec<Q8Block>,
    pub q8k: Vec<Q8KBlock>,
}

/// Which kernels run the 32-value block dots: `Isa::best()` is what the dispatching
/// functions take; the others stay callable for tests (each against the portable
/// code, bit for bit) and for comparing them on one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Portable,
    /// AVX2, FMA and F16C: 256-bit vectors, `maddubs` + `madd` for byte products.
    Avx2,
    /// AVX-512 F/BW/VL with VNNI: `vpdpbusd` for byte products, and the batched
    /// kernel two tokens per 512-bit vector.
    Avx512Vnni,
    /// AArch64's NEON (every AArch64 CPU): `smull` and pairwise adds for byte
    /// products, 4-lane float vectors (`qdot/neon.rs`).
    Neon,
}

impl Isa {
    /// Every kernel set this CPU runs, portable first.
    pub fn available() -> Vec<Isa> {
        [Isa::Portable, Isa::Avx2, Isa::Avx512Vnni, Isa::Neon].into_iter().filter(|i| i.runs()).collect()
    }

    /// Whether this CPU runs these kernels (no allocation: the dispatch asks per row).
    pub fn runs(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => crate::simd::has_avx2_fma(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => crate::simd::has_avx512_vnni(),
            Isa::Neon => cfg!(target_arch = "aarch64"),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512Vnni => false,
        }
    }

    /// The fastest kernel set this CPU runs.
    pub fn best() -> Isa {
        [Isa::Avx512Vnni, Isa::Avx2, Isa::Neon].into_iter().find(|i| i.runs()).unwrap_or(Isa::Portable)
    }

    /// Whether this kernel set has the batched 32-value block kernel (`vec_dot_quads`).
    pub fn has_quads(self) -> bool {
        matches!(self, Isa::Avx2 | Isa::Avx512Vnni)
    }
}

/// The activation format llama.cpp pairs with each weight dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActFormat {
    F32,
    /// Activations rounded to f16 (F16 weights).
    F16,
    /// Activations rounded to bf16 (BF16 weights).
    BF16,
    Q8_0,
    Q8_1,
    Q8K,
}

pub fn act_format(w: DType) -> ActFormat {
    match w {
        DType::F32 => ActFormat::F32,
        DType::F16 => ActFormat::F16,
        DType::BF16 => ActFormat::BF16,
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 => ActFormat::Q8_0,
        DType::Q4_1 => ActFormat::Q8_1,
        DType::Q4K | DType::Q5K | DType::Q6K => ActFormat::Q8K,
    }
}

/// Round half to even, as ggml's quantizers do (`nearest_int`: no libm call per value).
#[inline]
fn round_even(v: f32) -> i32 {
    crate::quantize::nearest_int(v)
}

fn f16_round(v: f32) -> f32 {
    f16::from_f32(v).to_f32()
}

/// `out[i] = x[i]` rounded to f16 (to nearest even, as `half` and ggml's F16C path
/// do) and back to f32: the activations of an F16 weight. In vectors where the CPU
/// has F16C: it was 7% of an F16 prompt's time in scalar code.
pub fn round_f16_into(x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "round_f16_into: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: AVX2, FMA and F16C are present (checked at run time); the lengths
        // are equal (asserted).
        unsafe { avx2::round_f16_into(x, out) };
        return;
    }
    out.iter_mut().zip(x).for_each(|(o, v)| *o = f16_round(*v));
}

/// `out[i] = x[i]` rounded to `dtype`'s half type (F16 or BF16) and back to f32: the
/// activations of a half weight.
pub fn round_half_into(dtype: DType, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "round_half_into: lengths differ");
    match dtype {
        DType::F16 => round_f16_into(x, out),
        DType::BF16 => out.iter_mut().zip(x).for_each(|(o, v)| *o = bf16::from_f32(*v).to_f32()),
        _ => panic!("round_half_into: {dtype:?} is not a half type"),
    }
}

/// Quantizes `x` (a whole number of blocks) into `out`, replacing its contents.
pub fn quantize_acts(fmt: ActFormat, x: &[f32], out: &mut QuantActs) {
    out.q8.clear();
    out.q8k.clear();
    if matches!(fmt, ActFormat::F32 | ActFormat::F16 | ActFormat::BF16) {
        // Every value is written below: resizing without clearing first zeroes only
        // what grows (zeroing whole rows every call showed as memset in F16 prompts).
        out.f32s.resize(x.len(), 0.0);
    } else {
        out.f32s.clear();
    }
    match fmt {
        ActFormat::F32 => out.f32s.copy_from_slice(x),
        ActFormat::F16 => round_half_into(DType::F16, x, &mut out.f32s),
        ActFormat::BF16 => round_half_into(DType::BF16, x, &mut out.f32s),
        ActFormat::Q8_0 | ActFormat::Q8_1 => out.q8.extend(x.chunks_exact(32).map(q8_block)),
        ActFormat::Q8K => out.q8k.extend(x.chunks_exact(QK_K).map(q8k_block)),
    }
}

/// One block of 256 activations as Q8_K, in vectors where the CPU has them.
pub fn q8k_block(blk: &[f32]) -> Q8KBlock {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: AVX2, FMA and F16C are present (checked at run time); the vector code
        // asserts 256 values.
        if let Some(mut b) = unsafe { avx2::q8k_block(blk) } {
            set_q4k_order(&mut b);
            return b;
        }
    }
    q8k_block_portable(blk)
}

/// Fills `b.q4k` from `b.qs` (see `Q8KBlock::q4k`).
fn set_q4k_order(b: &mut Q8KBlock) {
    for h in (0..QK_K).step_by(128) {
        for (to, from) in [0, 2, 1, 3].into_iter().enumerate() {
            b.q4k[h + 32 * to..h + 32 * to + 32].copy_from_slice(&b.qs[h + 32 * from..h + 32 * from + 32]);
        }
    }
}

/// One block of 256 activations as Q8_K, the scalar reference (and the path for a
/// block with a NaN or an infinity): the scale from the value of largest magnitude
/// (the first such, with its sign), as ggml's `quantize_row_q8_K` takes it.
pub fn q8k_block_portable(blk: &[f32]) -> Q8KBlock {
    let mut max = 0f32;
    let mut amax = 0f32;
    for &v in blk {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    let mut b = Q8KBlock { d: 0.0, qs: [0; QK_K], q4k: [0; QK_K], bsums: [0; 16] };
    if amax != 0.0 {
        let iscale = -127.0 / max;
        for (q, v) in b.qs.iter_mut().zip(blk) {
            *q = round_even(iscale * v).min(127) as i8;
        }
        for (j, s) in b.bsums.iter_mut().enumerate() {
            *s = b.qs[j * 16..j * 16 + 16].iter().map(|q| *q as i16).sum();
        }
        b.d = 1.0 / iscale;
        set_q4k_order(&mut b);
    }
    b
}

/// One block of 32 activations as Q8_0/Q8_1 (the two differ only in which weights use
/// `s`), in vectors where the CPU has them.
pub fn q8_block(blk: &[f32]) -> Q8Block {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: AVX2, FMA and F16C are present (checked at run time); the vector code
        // asserts 32 values.
        if let Some(b) = unsafe { avx2::q8_block(blk) } {
            return b;
        }
    }
    q8_block_portable(blk)
}

/// A token's activations `x` quantized block by block (`q8_block`) into lane `j` of
/// `quads`, one quad per 32 values: one call per token, so that each block goes from
/// the quantizer's registers into its quad (a call per block returned it through the
/// stack, and reading it back stalled on the store: half of the quantizing pass).
pub fn quantize_into_quads(x: &[f32], quads: &mut [Q8Quad], j: usize) {
    assert_eq!(x.len(), quads.len() * 32, "quantize_into_quads: x is not one block per quad");
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: AVX2, FMA and F16C are present (checked at run time); x holds 32
        // values per quad (asserted).
        unsafe { avx2::quantize_into_quads(x, quads, j) };
        return;
    }
    for (q, blk) in quads.iter_mut().zip(x.chunks_exact(32)) {
        q.set(j, q8_block_portable(blk));
    }
}

/// One block of 32 activations as Q8_0/Q8_1, the scalar reference (and the path for a
/// block with a NaN or an infinity).
pub fn q8_block_portable(blk: &[f32]) -> Q8Block {
    let amax = blk.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    // ggml's AVX2 quantizer multiplies by 127/amax, not 1/d: the two can differ in the
    // last bit and so in a rounding.
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut qs = [0i8; 32];
    let mut sum = 0i32;
    for (q, v) in qs.iter_mut().zip(blk) {
        *q = round_even(v * id) as i8;
        sum += *q as i32;
    }
    Q8Block { d: f16_round(d), s: f16_round(sum as f32 * d), qs }
}

#[inline]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// `dot(weight_row, activations)`; `row` is one row of `dtype`, `a` the activations
/// quantized with `act_format(dtype)`.
pub fn vec_dot(dtype: DType, row: &[u8], a: &QuantActs) -> f32 {
    match dtype {
        DType::F32 => {
            let mut w = [0f32; 64];
            let mut s = 0f32;
            for (wc, xc) in row.chunks(256).zip(a.f32s.chunks(64)) {
                for (o, c) in w.iter_mut().zip(wc.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
                s += crate::simd::dot(&w[..xc.len()], xc);
            }
            s
        }
        DType::F16 | DType::BF16 => {
            let mut out = [0f32; 1];
            vec_dot_half(dtype, row, &[&a.f32s], &mut out);
            out[0]
        }
        DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q8_0 => dot_q32_with(Isa::best(), dtype, row, &a.q8),
        DType::Q4K | DType::Q5K | DType::Q6K => {
            let mut out = [0f32; 1];
            vec_dot_kquant_rows::<1>(dtype, row, [&a.q8k], &mut out);
            out[0]
        }
    }
}

/// At most this many tokens go through `vec_dot_tokens` at once: the largest of
/// `token_tile`'s tiles.
pub const TOKEN_TILE: usize = 16;

/// matmul's token tile for `dtype`, which stays in cache while a task runs down its
/// weight rows: 12 rows of f32 (27 KiB at 576 columns, six tokens per two-row half
/// kernel call), but 16 for the k-quants, whose activations take a quarter of the
/// space and whose kernel reduces eight tokens' sums together (12 went as eight and
/// a slower four: 1B-shaped Q4_K_M pp512 45 -> 48 t/s at 16).
pub fn token_tile(dtype: DType) -> usize {
    if matches!(dtype, DType::Q4K | DType::Q5K | DType::Q6K) { TOKEN_TILE } else { 12 }
}

/// Fills `out` eight tokens at a time by `eight(t, ..)` (tokens `t..t + 8`), then four
/// by `four`, and the last few one by one by `one(t)`.
fn in_eights_and_fours(
    out: &mut [f32],
    eight: impl Fn(usize, &mut [f32; 8]),
    four: impl Fn(usize, &mut [f32; 4]),
    one: impl Fn(usize) -> f32,
) {
    let mut t = 0;
    while t + 8 <= out.len() {
        eight(t, (&mut out[t..t + 8]).try_into().expect("8 outputs"));
        t += 8;
    }
    while t + 4 <= out.len() {
        four(t, (&mut out[t..t + 4]).try_into().expect("4 outputs"));
        t += 4;
    }
    for (t, o) in out.iter_mut().enumerate().skip(t) {
        *o = one(t);
    }
}

/// `out[t] = vec_dot(dtype, row, &acts[t])` for up to `TOKEN_TILE` tokens, through the
/// kernel that reads the row once for several of them where the type has one (the
/// k-quants eight then four; `matmul` gives half weights to `vec_dot_half`, on its own
/// aligned activations); bit-identical to one `vec_dot` per token, so a token's result
/// does not depend on its batch.
pub fn vec_dot_tokens(dtype: DType, row: &[u8], acts: &[QuantActs], out: &mut [f32]) {
    assert!(acts.len() <= TOKEN_TILE && out.len() == acts.len(), "vec_dot_tokens: {} tokens", acts.len());
    match dtype {
        DType::Q4K | DType::Q5K | DType::Q6K => {
            let ys = |t: usize| &acts[t].q8k[..];
            in_eights_and_fours(
                out,
                |t, v| vec_dot_kquant_rows::<8>(dtype, row, std::array::from_fn(|k| ys(t + k)), v),
                |t, v| vec_dot_kquant_rows::<4>(dtype, row, std::array::from_fn(|k| ys(t + k)), v),
                |t| vec_dot(dtype, row, &acts[t]),
            );
        }
        // No quad kernel here: a prompt's tokens go through the NEON kernel that decodes
        // each weight block once for them.
        #[cfg(target_arch = "aarch64")]
        DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q8_0 => {
            let ys = |t: usize| &acts[t].q8[..];
            in_eights_and_fours(
                out,
                // SAFETY: NEON is part of AArch64; the kernel checks the lengths itself.
                |t, v| *v = unsafe { neon::dot_q32_tokens::<8>(dtype, row, std::array::from_fn(|k| ys(t + k))) },
                // SAFETY: as above.
                |t, v| *v = unsafe { neon::dot_q32_tokens::<4>(dtype, row, std::array::from_fn(|k| ys(t + k))) },
                |t| vec_dot(dtype, row, &acts[t]),
            );
        }
        _ => {
            for (o, a) in out.iter_mut().zip(acts) {
                *o = vec_dot(dtype, row, a);
            }
        }
    }
}

/// Eight f32 lanes, each fed `d * (sum of 4 consecutive int products)` by a fused
/// multiply-add per block, summed pairwise at the end: exactly the association
/// order of ggml's AVX2 `vec_dot` for the 32-value block types, so herd's logits
/// match llama.cpp's to the last bit where the integer parts agree.
#[derive(Default)]
struct Lanes([f32; 8]);

impl Lanes {
    #[inline]
    fn add_block(&mut self, d: f32, prod: impl Fn(usize) -> i32) {
        for (k, acc) in self.0.iter_mut().enumerate() {
            let s = prod(4 * k) + prod(4 * k + 1) + prod(4 * k + 2) + prod(4 * k + 3);
            *acc = d.mul_add(s as f32, *acc);
        }
    }
    #[inline]
    fn sum(&self) -> f32 {
        crate::simd::reduce8(self.0)
    }
}

/// The 32 weight values of a Q4_0/Q4_1 block in value order: low nibbles are values
/// 0..16, high nibbles 16..32.
#[inline]
fn nibbles(qs: &[u8]) -> [u8; 32] {
    let mut v = [0u8; 32];
    for j in 0..16 {
        v[j] = qs[j] & 0x0F;
        v[j + 16] = qs[j] >> 4;
    }
    v
}

/// One Q4_0, Q4_1, Q5_0 or Q8_0 weight row against one activation row with the
/// kernels of `isa` (which this CPU must run: see `Isa::available`); every `isa`
/// gives the same bits.
pub fn dot_q32_with(isa: Isa, dtype: DType, row: &[u8], a: &[Q8Block]) -> f32 {
    let [x] = dot_q32_rows_with(isa, dtype, [row], a);
    x
}

/// `dot_q32_with` of `R` weight rows of one length against one activation row, in one
/// pass over the blocks (a decode row's matmul takes two: one row's chain of block FMAs
/// waits on their latency, two interleaved do not); each result has `dot_q32_with`'s
/// bits.
pub fn dot_q32_rows_with<const R: usize>(isa: Isa, dtype: DType, rows: [&[u8]; R], a: &[Q8Block]) -> [f32; R] {
    assert!(matches!(dtype, DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q8_0), "dot_q32: {dtype:?}");
    assert!(isa.runs(), "dot_q32: this CPU does not run {isa:?}");
    // SAFETY (every arm): the CPU runs `isa` (asserted); the rows hold whole blocks of
    // `dtype` (a `WeightRef` checks it) and the kernels assert that the rows' lengths
    // agree and `a` has a block per weight block.
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => unsafe { avx512::dot_q32_rows(dtype, rows, a) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::dot_q32_rows(dtype, rows, a) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => unsafe { neon::dot_q32_rows(dtype, rows, a) },
        _ => rows.map(|row| dot_q32_portable(dtype, row, a)),
    }
}

/// Whether a decode row's matmul should take `dtype` two rows at a time
/// (`dot_q32_rows_with`): the 4- and 5-bit block types, whose dots cost more
/// instructions per byte than streaming the row from memory. Q8_0 reads twice the
/// bytes per value and is bound by memory: two interleaved rows ran 8% slower there
/// (1B Q8_0 one thread, tg32 7.5 -> 6.9 t/s), against 135M Q4_1 +3-4% and Q4_K_M (its
/// Q5_0 rows) +6%.
pub fn two_rows_per_token(dtype: DType) -> bool {
    matches!(dtype, DType::Q4_0 | DType::Q4_1 | DType::Q5_0)
}

/// `out[g][j] = dot(row, row j of quad group g)` for `G` groups of four activation
/// rows (`quads[g]` holds one `Q8Quad` per block of the row), bit-identical to
/// `vec_dot` on each row. Only for Q4_0, Q4_1, Q5_0 and Q8_0 with AVX2 (see
/// `has_quad_kernel`).
///
/// `stream`: this is the first pass over `row` in the call that reads the weights
/// from memory (a server's decode step for a few streams reads each weight row once),
/// so the kernel asks for the bytes ahead as the one-token dots do; later passes find
/// the row in cache and skip the prefetches. The results are the same bits either way.
pub fn vec_dot_quads<const G: usize>(
    dtype: DType,
    row: &[u8],
    quads: [&[Q8Quad]; G],
    out: &mut [[f32; 4]; G],
    stream: bool,
) {
    vec_dot_quads_with::<G>(Isa::best(), dtype, row, quads, out, stream)
}

/// The 32-value block types in the order of the kernels' constant type index `T`
/// (`dot_q32_quads::<G, T>`, `dot_q32_typed::<V, T>`), which gives each type its own
/// loop.
#[cfg(target_arch = "x86_64")]
const Q32_TYPES: [DType; 4] = [DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0];

/// `$body` with the const `$T` set to the index of `$dtype` in `Q32_TYPES` (Q8_0 for
/// any other type), so that a kernel gets its weight type as a const generic: each
/// type's loop its own code, with no branch on the type inside.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_macros))]
macro_rules! with_q32_index {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            DType::Q4_0 => with_q32_index!(@ 0, $T, $body),
            DType::Q4_1 => with_q32_index!(@ 1, $T, $body),
            DType::Q5_0 => with_q32_index!(@ 2, $T, $body),
            _ => with_q32_index!(@ 3, $T, $body),
        }
    };
    (@ $n:literal, $T:ident, $body:expr) => {{
        const $T: u8 = $n;
        $body
    }};
}

/// `vec_dot_quads` with the kernels of `isa`, which must be a vector set this CPU runs.
pub fn vec_dot_quads_with<const G: usize>(
    isa: Isa,
    dtype: DType,
    row: &[u8],
    quads: [&[Q8Quad]; G],
    out: &mut [[f32; 4]; G],
    stream: bool,
) {
    if stream {
        quads_on::<G, true>(isa, dtype, row, quads, out)
    } else {
        quads_on::<G, false>(isa, dtype, row, quads, out)
    }
}

/// `vec_dot_quads_with` with `stream` as a constant, so that each kernel is compiled
/// with or without its prefetches.
fn quads_on<const G: usize, const STREAM: bool>(
    isa: Isa,
    dtype: DType,
    row: &[u8],
    quads: [&[Q8Quad]; G],
    out: &mut [[f32; 4]; G],
) {
    assert!(has_quad_kernel(dtype), "vec_dot_quads: no quad kernel for {dtype:?} on this CPU");
    assert!(isa.has_quads() && isa.runs(), "vec_dot_quads: this CPU does not run {isa:?}'s quad kernel");
    let blocks = row.len() / dtype.block_bytes();
    assert!(quads.iter().all(|q| q.len() >= blocks), "vec_dot_quads: fewer activation blocks than weight blocks");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU runs `isa` and the dtype is a 32-value block type (asserted
    // above, and by `has_quad_kernel`); every group has a block per weight block
    // (asserted above).
    unsafe {
        match isa {
            Isa::Avx512Vnni => with_q32_index!(dtype, T => avx512::dot_q32_quads::<G, T, STREAM>(row, quads, out)),
            _ => with_q32_index!(dtype, T => avx2::dot_q32_quads::<G, T, STREAM>(row, quads, out)),
        }
    };
    // Off x86 the asserts above have panicked (no quad kernel there).
    #[cfg(not(target_arch = "x86_64"))]
    let _ = out;
}

/// `out[t] = dot(row, ys[t])` for a Q4_K, Q5_K or Q6_K weight row and `T`
/// activation rows in Q8_K, decoding each super-block once for all of them;
/// bit-identical to `T` one-row dots.
pub fn vec_dot_kquant_rows<const T: usize>(dtype: DType, row: &[u8], ys: [&[Q8KBlock]; T], out: &mut [f32; T]) {
    vec_dot_kquant_rows_with::<T>(Isa::best(), dtype, row, ys, out)
}

/// `vec_dot_kquant_rows` with the kernels of `isa` (which this CPU must run); every
/// `isa` gives the same bits.
pub fn vec_dot_kquant_rows_with<const T: usize>(
    isa: Isa,
    dtype: DType,
    row: &[u8],
    ys: [&[Q8KBlock]; T],
    out: &mut [f32; T],
) {
    assert!(isa.runs(), "vec_dot_kquant_rows: this CPU does not run {isa:?}");
    assert!(matches!(dtype, DType::Q4K | DType::Q5K | DType::Q6K), "vec_dot_kquant_rows: {dtype:?} is not a k-quant");
    let blocks = row.len() / dtype.block_bytes();
    assert!(ys.iter().all(|y| y.len() >= blocks), "vec_dot_kquant_rows: fewer activation blocks than weight blocks");
    // SAFETY (every arm): the CPU runs `isa` (asserted above); the row holds whole
    // super-blocks (a `WeightRef` checks it) and every `ys[t]` one Q8_K block per
    // super-block (asserted above).
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => unsafe { avx512::dot_kquant_rows::<T>(dtype, row, ys, out) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::dot_kquant_rows::<T>(dtype, row, ys, out) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => unsafe { neon::dot_kquant_rows::<T>(dtype, row, ys, out) },
        _ => {
            for (o, y) in out.iter_mut().zip(ys) {
                *o = dot_kquant_portable(dtype, row, y);
            }
        }
    }
}

/// `out[t] = dot(row, xs[t])` for an F16 or BF16 weight row and up to `TOKEN_TILE`
/// activation rows (already rounded to the weight's half type, as `quantize_acts`
/// leaves them), each in the association order of ggml's f16 dot on AVX2
/// (`simd::dot_ggml_f16_order`: four 8-lane accumulators fed round-robin, a row taken
/// as zero-padded to a multiple of 32), which is how llama.cpp computes a half-weight
/// row for one token. Bit-identical whatever the number of rows, so a token's result
/// does not depend on its batch.
pub fn vec_dot_half(dtype: DType, row: &[u8], xs: &[&[f32]], out: &mut [f32]) {
    assert!(matches!(dtype, DType::F16 | DType::BF16), "vec_dot_half: {dtype:?} is not a half type");
    assert!(xs.len() <= TOKEN_TILE && out.len() == xs.len(), "vec_dot_half: {} rows, {} outputs", xs.len(), out.len());
    assert!(xs.iter().all(|x| 2 * x.len() == row.len()), "vec_dot_half: activation length differs from the row");
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: AVX2, FMA, F16C and AVX-512 F are present (checked at run time); at
        // most TOKEN_TILE rows, each with one value per 2 bytes of the row (asserted
        // above).
        unsafe { avx512::dot_half_row_tile(dtype == DType::BF16, row, xs, out) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: AVX2, FMA and F16C are present (checked at run time); at most
        // TOKEN_TILE rows, each with one value per 2 bytes of the row (asserted above).
        unsafe { avx2::dot_half_tile(dtype == DType::BF16, row, xs, out) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    for (o, x) in out.iter_mut().zip(xs) {
        // SAFETY: NEON is part of AArch64; the kernel checks the lengths itself.
        *o = unsafe { neon::dot_half(dtype == DType::BF16, row, x) };
    }
    #[cfg(not(target_arch = "aarch64"))]
    for (o, x) in out.iter_mut().zip(xs) {
        *o = dot_half_portable(dtype, row, x);
    }
}

/// The lane-group order `vec_dot_half_pair` reads activations in: of the whole 32s,
/// first values 32c .. 32c + 8 for every c, then 32c + 8 .. 32c + 16, and so on (ggml's
/// four accumulator lane groups, each contiguous); the last partial 32 stays at the
/// end as it is. Each value is rounded to `dtype` (F16 or BF16) as `quantize_acts`
/// rounds it and stored as its bits, which loses nothing more and halves what the
/// kernel reads.
pub fn group_half_acts(dtype: DType, x: &[f32], out: &mut [u16]) {
    assert_eq!(x.len(), out.len(), "group_half_acts: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if dtype == DType::F16 && crate::simd::has_avx2_fma() {
        // SAFETY: AVX2, FMA and F16C are present (checked at run time); the lengths
        // are equal (asserted).
        unsafe { avx2::group_f16_acts(x, out) };
        return;
    }
    let bits = |v: f32| if dtype == DType::BF16 { bf16::from_f32(v).to_bits() } else { f16::from_f32(v).to_bits() };
    let n32 = x.len() / 32 * 32;
    for (c, chunk) in x[..n32].chunks_exact(32).enumerate() {
        for (j, part) in chunk.chunks_exact(8).enumerate() {
            let at = j * n32 / 4 + 8 * c;
            out[at..at + 8].iter_mut().zip(part).for_each(|(o, v)| *o = bits(*v));
        }
    }
    out[n32..].iter_mut().zip(&x[n32..]).for_each(|(o, v)| *o = bits(*v));
}

/// Where `group_half_acts` puts value `i` of a row of `n` values.
fn grouped_index(i: usize, n: usize) -> usize {
    let n32 = n / 32 * 32;
    if i >= n32 { i } else { (i / 8 % 4) * n32 / 4 + i / 32 * 8 + i % 8 }
}

/// `vec_dot_half` for two weight rows at once, on activations grouped by
/// `group_half_acts`: `out[r][t] = dot(rows[r], xs[t])`, bit-identical to
/// `vec_dot_half` of each row on the activations in order, and faster for four
/// tokens or more (see `avx2::dot_half_pair`).
pub fn vec_dot_half_pair(dtype: DType, rows: [&[u8]; 2], xs: &[&[u16]], out: [&mut [f32]; 2]) {
    check_half_pair("vec_dot_half_pair", dtype, rows, xs.iter().map(|x| x.len()), &out);
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: AVX2, FMA and F16C are present (checked at run time); at most
        // TOKEN_TILE grouped activation rows, each with one value per 2 bytes of
        // either weight row, and an output per activation row (asserted above).
        unsafe { avx2::dot_half_pair_tile(dtype == DType::BF16, rows, xs, out) };
        return;
    }
    for (row, o) in rows.into_iter().zip(out) {
        for (x, o) in xs.iter().zip(o.iter_mut()) {
            *o = dot_half_grouped_portable(dtype, row, x);
        }
    }
}

/// The two-row half kernels' contract, which their unsafe kernels rely on: a half
/// type, rows of one length, at most `TOKEN_TILE` activation rows of one value per 2
/// bytes of a row (`x_lens`), and an output per activation row for each weight row.
fn check_half_pair(
    what: &str,
    dtype: DType,
    rows: [&[u8]; 2],
    x_lens: impl ExactSizeIterator<Item = usize>,
    out: &[&mut [f32]; 2],
) {
    assert!(matches!(dtype, DType::F16 | DType::BF16), "{what}: {dtype:?} is not a half type");
    assert!(rows[0].len() == rows[1].len(), "{what}: rows of different lengths");
    let n = x_lens.len();
    assert!(n <= TOKEN_TILE && out.iter().all(|o| o.len() == n), "{what}: {n} rows");
    let mut x_lens = x_lens;
    assert!(x_lens.all(|l| 2 * l == rows[0].len()), "{what}: activation length differs from the row");
}

/// Whether `matmul`'s two-row half-weight kernel takes its activations in order, as
/// f32 (`vec_dot_half_pair_in_order`, with AVX-512), rather than grouped as half bits
/// (`vec_dot_half_pair`).
pub fn half_pairs_in_order() -> bool {
    #[cfg(target_arch = "x86_64")]
    return crate::simd::has_avx512();
    // AArch64: one row at a time through the NEON `vec_dot_half`.
    #[cfg(target_arch = "aarch64")]
    return true;
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    return false;
}

/// `vec_dot_half_pair` on activations in order, as `quantize_acts` leaves them:
/// `out[r][t] = dot(rows[r], xs[t])`, bit-identical to `vec_dot_half` of each row
/// (see `avx512::dot_half_block`). Without AVX-512, one row at a time by `vec_dot_half`.
pub fn vec_dot_half_pair_in_order(dtype: DType, rows: [&[u8]; 2], xs: &[&[f32]], out: [&mut [f32]; 2]) {
    check_half_pair("vec_dot_half_pair_in_order", dtype, rows, xs.iter().map(|x| x.len()), &out);
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: AVX2, FMA, F16C and AVX-512 F are present (checked at run time); at
        // most TOKEN_TILE activation rows, each with one value per 2 bytes of either
        // weight row, and an output per activation row (asserted above).
        unsafe { avx512::dot_half_pair_tile(dtype == DType::BF16, rows, xs, out) };
        return;
    }
    for (row, o) in rows.into_iter().zip(out) {
        vec_dot_half(dtype, row, xs, o);
    }
}

/// `$body` with the const `$K` set to `$k`, a tile size of `pair_tiles` (1..=6), so
/// that the half kernels get their token count as a const generic.
#[cfg(target_arch = "x86_64")]
macro_rules! with_tile_size {
    ($k:expr, $K:ident => $body:block) => {
        with_tile_size!(@arms $k, $K, $body, [1, 2, 3, 4, 5, 6])
    };
    (@arms $k:expr, $K:ident, $body:block, [$($n:literal),*]) => {
        match $k {
            $($n => {
                const $K: usize = $n;
                $body
            })*
            k => unreachable!("pair_tiles gave a tile of {k} tokens"),
        }
    };
}

/// How the two-row half kernels split `n` tokens: into as few tiles of at most six
/// as will do, of near-equal sizes (seven go as four and three: eight accumulator
/// chains or more hide the FMA latency); `(first token, tokens)` each.
#[cfg(target_arch = "x86_64")]
fn pair_tiles(n: usize) -> impl Iterator<Item = (usize, usize)> {
    let tiles = n.div_ceil(6);
    (0..tiles).map(move |i| (i * n / tiles, (i + 1) * n / tiles - i * n / tiles))
}

/// `dot_half_portable` on activations grouped by `group_half_acts`.
pub fn dot_half_grouped_portable(dtype: DType, row: &[u8], x: &[u16]) -> f32 {
    let n = x.len();
    dot_half_by(dtype, row, n, |i| half_at(dtype, &x[grouped_index(i, n)].to_le_bytes()))
}

/// ggml's f16 dot order over a half row and `n` activations, activation `i` given by
/// `x_at(i)`: each product into lane `ggml_f16_lane(i)`, the vector code's zero padding
/// to a multiple of 32 (0 * 0 + (-0.0) is +0.0), the lanes reduced.
fn dot_half_by(dtype: DType, row: &[u8], n: usize, x_at: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [0f32; 32];
    for (i, c) in row.chunks_exact(2).take(n).enumerate() {
        let lane = crate::simd::ggml_f16_lane(i);
        acc[lane] = half_at(dtype, c).mul_add(x_at(i), acc[lane]);
    }
    for i in n..n.next_multiple_of(32) {
        let lane = crate::simd::ggml_f16_lane(i);
        acc[lane] = 0f32.mul_add(0.0, acc[lane]);
    }
    crate::simd::reduce_ggml_f16_lanes(&acc)
}

/// One F16 or BF16 value from its two little-endian bytes.
fn half_at(dtype: DType, c: &[u8]) -> f32 {
    if dtype == DType::F16 {
        f16::from_le_bytes([c[0], c[1]]).to_f32()
    } else {
        bf16::from_le_bytes([c[0], c[1]]).to_f32()
    }
}

/// The portable reference of the half-weight dot: `simd::dot_ggml_f16_order` of the
/// converted row with `x`, converting as it goes (no buffer to allocate).
pub fn dot_half_portable(dtype: DType, row: &[u8], x: &[f32]) -> f32 {
    dot_half_by(dtype, row, x.len(), |i| x[i])
}

/// Whether `vec_dot_quads` runs for `dtype` on this CPU.
pub fn has_quad_kernel(dtype: DType) -> bool {
    #[cfg(target_arch = "x86_64")]
    return matches!(dtype, DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q8_0) && crate::simd::has_avx2_fma();
    #[cfg(not(target_arch = "x86_64"))]
    return {
        let _ = dtype;
        false
    };
}

/// How many groups of four tokens `vec_dot_quads` takes at most per pass on this CPU:
/// with AVX-512's 32 registers four groups (16 tokens, eight accumulators) share each
/// weight block's decoding; AVX2's 16 hold two groups' (eight) at most.
pub fn quad_groups_per_pass() -> usize {
    if Isa::best() == Isa::Avx512Vnni { 4 } else { 2 }
}

/// The portable reference of the 32-value block dots (and the fallback without AVX2).
pub fn dot_q32_portable(dtype: DType, row: &[u8], a: &[Q8Block]) -> f32 {
    match dtype {
        DType::Q4_0 => dot_q4_0(row, a),
        DType::Q4_1 => dot_q4_1(row, a),
        DType::Q5_0 => dot_q5_0(row, a),
        DType::Q8_0 => dot_q8_0(row, a),
        _ => unreachable!("dot_q32_portable: {dtype:?} is not a 32-value block type"),
    }
}

fn dot_q4_0(row: &[u8], a: &[Q8Block]) -> f32 {
    let mut acc = Lanes::default();
    for (b, y) in row.chunks_exact(18).zip(a) {
        let v = nibbles(&b[2..18]);
        acc.add_block(f16_at(b, 0) * y.d, |i| (v[i] as i32 - 8) * y.qs[i] as i32);
    }
    acc.sum()
}

fn dot_q4_1(row: &[u8], a: &[Q8Block]) -> f32 {
    let mut acc = Lanes::default();
    let mut summs = 0f32;
    for (b, y) in row.chunks_exact(20).zip(a) {
        summs += f16_at(b, 2) * y.s;
        let v = nibbles(&b[4..20]);
        acc.add_block(f16_at(b, 0) * y.d, |i| v[i] as i32 * y.qs[i] as i32);
    }
    acc.sum() + summs
}

/// The 32 signed values of a Q5_0 block: nibble plus fifth bit from `qh`, minus 16.
#[inline]
pub(crate) fn q5_0_values(b: &[u8]) -> [i8; 32] {
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let n = nibbles(&b[6..22]);
    std::array::from_fn(|i| (n[i] | ((((qh >> i) & 1) as u8) << 4)) as i8 - 16)
}

fn dot_q5_0(row: &[u8], a: &[Q8Block]) -> f32 {
    let mut acc = Lanes::default();
    for (b, y) in row.chunks_exact(22).zip(a) {
        let v = q5_0_values(b);
        acc.add_block(f16_at(b, 0) * y.d, |i| v[i] as i32 * y.qs[i] as i32);
    }
    acc.sum()
}

fn dot_q8_0(row: &[u8], a: &[Q8Block]) -> f32 {
    let mut acc = Lanes::default();
    for (b, y) in row.chunks_exact(34).zip(a) {
        let w = &b[2..34];
        acc.add_block(f16_at(b, 0) * y.d, |i| (w[i] as i8) as i32 * y.qs[i] as i32);
    }
    acc.sum()
}

/// The portable reference of the k-quant dots (and the fallback without AVX2).
pub fn dot_kquant_portable(dtype: DType, row: &[u8], a: &[Q8KBlock]) -> f32 {
    match dtype {
        DType::Q4K => dot_q4k(row, a),
        DType::Q5K => dot_q5k(row, a),
        DType::Q6K => dot_q6k(row, a),
        _ => unreachable!("dot_kquant_portable: {dtype:?} is not a k-quant"),
    }
}

/// Sum over the 8 sub-blocks of 32 of `scale_j * dot(q_j, y_j)` and the min term
/// `sum_j min_j * (bsum of sub-block j)`, for Q4_K and Q5_K.
fn kquant_sums(vals: &[u8; QK_K], scales: &[u8], y: &Q8KBlock) -> (i32, i32) {
    let mut total = 0i32;
    let mut mins = 0i32;
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, scales);
        let isum: i32 =
            vals[j * 32..j * 32 + 32].iter().zip(&y.qs[j * 32..j * 32 + 32]).map(|(v, q)| *v as i32 * *q as i32).sum();
        total += sc as i32 * isum;
        mins += m as i32 * (y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32);
    }
    (total, mins)
}

fn dot_q4k(row: &[u8], a: &[Q8KBlock]) -> f32 {
    let mut sum = 0f32;
    let mut vals = [0u8; QK_K];
    for (b, y) in row.chunks_exact(144).zip(a) {
        let qs = &b[16..144];
        for c in 0..4 {
            for l in 0..32 {
                vals[c * 64 + l] = qs[c * 32 + l] & 0x0F;
                vals[c * 64 + 32 + l] = qs[c * 32 + l] >> 4;
            }
        }
        let (total, mins) = kquant_sums(&vals, &b[4..16], y);
        sum += f16_at(b, 0) * y.d * total as f32 - f16_at(b, 2) * y.d * mins as f32;
    }
    sum
}

fn dot_q5k(row: &[u8], a: &[Q8KBlock]) -> f32 {
    let mut sum = 0f32;
    let mut vals = [0u8; QK_K];
    for (b, y) in row.chunks_exact(176).zip(a) {
        let qh = &b[16..48];
        let qs = &b[48..176];
        for c in 0..4 {
            let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
            for l in 0..32 {
                vals[c * 64 + l] = (qs[c * 32 + l] & 0x0F) + if qh[l] & u1 != 0 { 16 } else { 0 };
                vals[c * 64 + 32 + l] = (qs[c * 32 + l] >> 4) + if qh[l] & u2 != 0 { 16 } else { 0 };
            }
        }
        let (total, mins) = kquant_sums(&vals, &b[4..16], y);
        sum += f16_at(b, 0) * y.d * total as f32 - f16_at(b, 2) * y.d * mins as f32;
    }
    sum
}

fn dot_q6k(row: &[u8], a: &[Q8KBlock]) -> f32 {
    let mut sum = 0f32;
    let mut vals = [0i8; QK_K];
    for (b, y) in row.chunks_exact(210).zip(a) {
        let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
        for h in 0..2 {
            let (ql, qh) = (&ql[h * 64..h * 64 + 64], &qh[h * 32..h * 32 + 32]);
            let v = &mut vals[h * 128..h * 128 + 128];
            for l in 0..32 {
                v[l] = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i8 - 32;
                v[l + 32] = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
                v[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
                v[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            }
        }
        let mut total = 0i32;
        for g in 0..16 {
            let isum: i32 = vals[g * 16..g * 16 + 16]
                .iter()
                .zip(&y.qs[g * 16..g * 16 + 16])
                .map(|(v, q)| *v as i32 * *q as i32)
                .sum();
            total += (sc[g] as i8) as i32 * isum;
        }
        sum += f16_at(b, 208) * y.d * total as f32;
    }
    sum
}

#[cfg(target_arch = "aarch64")]
mod neon;

/// AVX-512 VNNI versions of the 32-value block dots, bit-identical to the AVX2 ones
/// (and so to the portable code): the same integer lane sums, by `vpdpbusd`, and the
/// same float operations per token.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::avx2::{block_scales, dot_kquant_rows_body, dot_q32_rows_body, hsum, weight_block};
    use super::{Q8Block, Q8Quad};
    use crate::dtype::DType;
    use crate::simd::avx2::reduce_ggml_f16_x0;
    use std::arch::x86_64::*;

    /// i32 lanes of unsigned bytes `w` times signed bytes `x`, 4 per lane.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) fn dpbusd(w: __m256i, x: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, x)
    }

    /// `acc` plus the i32 sums of i16 pair products of `p` and `s`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) fn dpwssd(acc: __m256i, p: __m256i, s: __m256i) -> __m256i {
        _mm256_dpwssd_epi32(acc, p, s)
    }

    /// `avx2::dot_kquant_rows` with `vpdpwssd` for each scaled pair sum.
    ///
    /// # Safety
    /// As `avx2::dot_kquant_rows`, on a CPU with AVX-512 F, BW, VL and VNNI as well.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn dot_kquant_rows<const T: usize>(
        dtype: DType,
        row: &[u8],
        ys: [&[super::Q8KBlock]; T],
        out: &mut [f32; T],
    ) {
        if dtype == DType::Q4K {
            q4k_rows::<T>(row, ys, out)
        } else {
            dot_kquant_rows_body::<T, true>(dtype, row, ys, out)
        }
    }

    /// Q4_K as `avx2::q45k_rows`, in 64-byte vectors: the same integer sums (exact, so
    /// their order does not matter) and the same float expression per block, so the
    /// same bits. Why: an 8B Q4_K_M decode step reads its weights at ~73% of the
    /// streaming benchmark, and with the Q4_K arithmetic left out (a test build that
    /// only loads the blocks) at 85%: the instructions per byte, not the memory, hold
    /// it back. Half the products and scale multiply-adds per block (in cache, one
    /// token: 28.5-29.2 -> 30.7 GMAC/s; 8B Q4_K_M tg16: 2.22 -> 2.26 t/s at 1 thread,
    /// 4.02-4.09 -> 4.28-4.32 at 2; the rest is per-block overhead: scales, mins, sums):
    /// each nibble vector is used as loaded (the low nibbles of `qs[32c..32c + 32]`
    /// are values `64c..64c + 32`, the high ones the next 32, so the low nibbles of 64
    /// bytes are sub-blocks `4p` and `4p + 2`, the high ones `4p + 1` and `4p + 3`),
    /// against the activations stored once per token in that order
    /// (`Q8KBlock::q4k`). Before, four 128-bit-lane shuffles per block and row put the
    /// sub-blocks in value order (in cache, one token 29.2/31.0 -> 29.9/33.9 GMAC/s at
    /// 576x1536 / 512x4096, sixteen 53.0/50.4 -> 54.0/52.5, best of six; 8B Q4_K_M
    /// tg16 2.29/4.20 -> 2.32/4.59 t/s at 1/2 threads, means of five noisy rounds).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    fn q4k_rows<const T: usize>(row: &[u8], ys: [&[super::Q8KBlock]; T], out: &mut [f32; T]) {
        use super::avx2::{add_k4_block, scales_mins_k4};
        use crate::simd::prefetch_ahead;
        let m4 = _mm512_set1_epi8(0x0F);
        let mut sum = [0f32; T];
        for (i, b) in row.chunks_exact(144).enumerate() {
            prefetch_ahead(b);
            let (sc, mn) = scales_mins_k4(&b[4..16]);
            // The eight scale bytes in every 64-bit lane, for `Q4K_SCALE_QUADS`.
            let sc8 = _mm512_set1_epi64(sc as i64);
            let qs = &b[16..144];
            // SAFETY: `qs` is 128 readable bytes.
            let (q01, q23) = unsafe {
                (_mm512_loadu_si512(qs.as_ptr() as *const _), _mm512_loadu_si512(qs.as_ptr().add(64) as *const _))
            };
            let nibbles = |q: __m512i| (_mm512_and_si512(q, m4), _mm512_and_si512(_mm512_srli_epi16::<4>(q), m4));
            let ((l01, h01), (l23, h23)) = (nibbles(q01), nibbles(q23));
            // Against the activations in `Q8KBlock::q4k` order: vector k holds
            // sub-blocks (k / 2) * 4 + k % 2 in its low half and that + 2 in its high.
            let w = [l01, h01, l23, h23];
            let mut sumi = [_mm512_setzero_si512(); T];
            for (p, s) in Q4K_SCALE_QUADS.iter().enumerate() {
                let s = _mm512_shuffle_epi8(sc8, *s);
                for t in 0..T {
                    // SAFETY: values 64k..64k + 64 of a 256-value block, k < 4.
                    let y = |k: usize| unsafe { _mm512_loadu_si512(ys[t][i].q4k.as_ptr().add(64 * k) as *const _) };
                    // Four products a lane by `vpdpbusd` (|sum| <= 4 * 15 * 128, exact in
                    // the i16 pack), two vectors' sums packed into one for the scales'
                    // `vpdpwssd`: two multiply-adds fewer per block than `maddubs` and a
                    // `vpdpwssd` for each vector, which the same port runs (in cache, one
                    // token 26.8 -> 28.4-29.0 GMAC/s, four 43 -> 46-48, best of six).
                    let z = _mm512_setzero_si512();
                    let (a, b) = (
                        _mm512_dpbusd_epi32(z, w[2 * p], y(2 * p)),
                        _mm512_dpbusd_epi32(z, w[2 * p + 1], y(2 * p + 1)),
                    );
                    sumi[t] = _mm512_dpwssd_epi32(sumi[t], _mm512_packs_epi32(a, b), s);
                }
            }
            let half: [__m256i; T] = std::array::from_fn(|t| {
                _mm256_add_epi32(_mm512_castsi512_si256(sumi[t]), _mm512_extracti64x4_epi64::<1>(sumi[t]))
            });
            // SAFETY: this function carries AVX2, FMA and F16C.
            unsafe { add_k4_block(b, mn, &half, &ys, i, &mut sum) };
        }
        *out = sum;
    }

    /// Per 128-bit lane, a byte shuffle filling its i16 lanes with the scales (bytes
    /// zero-extended by a 0x80 control byte) of the lane sums `packs_epi32(a, b)` puts
    /// there in `q4k_rows`, for the vector pair `2p`, `2p + 1`: in each lane four of
    /// `a`'s (sub-block `4p` in the low 256 bits, `4p + 2` in the high), then four of
    /// `b`'s (`4p + 1`, `4p + 3`).
    const Q4K_SCALE_QUADS: [__m512i; 2] = [
        // SAFETY (both): [u8; 64] and __m512i have the same size, and every bit pattern is valid.
        unsafe { std::mem::transmute::<[u8; 64], __m512i>(q4k_pick(0)) },
        unsafe { std::mem::transmute::<[u8; 64], __m512i>(q4k_pick(1)) },
    ];

    /// `Q4K_SCALE_QUADS[p]`: byte `i` picks scale byte `4p + 2 * half + j` (`half` of
    /// the register, `j` 0 for `a`'s lanes and 1 for `b`'s) into the low byte of its
    /// i16 lane, 0x80 (zero) into the high one.
    const fn q4k_pick(p: usize) -> [u8; 64] {
        let mut m = [0u8; 64];
        let mut i = 0;
        while i < 64 {
            let j = if i % 16 >= 8 { 1 } else { 0 };
            let half = if i >= 32 { 1 } else { 0 };
            m[i] = if i % 2 == 0 { (4 * p + 2 * half + j) as u8 } else { 0x80 };
            i += 1;
        }
        m
    }

    /// `super::vec_dot_half`: `dot_half_block` on one row, the tokens split by
    /// `super::pair_tiles`. (A const-generic tile for one and two rows measured a
    /// third slower at decoding, 22 against 33 t/s on the 135M F16 file, with the same
    /// inner loop; kept apart.)
    ///
    /// # Safety
    /// As `dot_half_block`, for one row and any number of tokens up to `TOKEN_TILE`,
    /// with an output per token.
    #[target_feature(enable = "avx2,fma,f16c,avx512f")]
    pub unsafe fn dot_half_row_tile(bf: bool, row: &[u8], xs: &[&[f32]], out: &mut [f32]) {
        for (t, k) in super::pair_tiles(xs.len()) {
            let x = &xs[t..t + k];
            with_tile_size!(k, K => {
                let mut v = [[0f32; K]; 1];
                // SAFETY: forwarded from the caller; `x` holds exactly K rows.
                unsafe {
                    if bf { dot_half_block::<1, K, true>([row], x, &mut v) } else { dot_half_block::<1, K, false>([row], x, &mut v) }
                };
                out[t..t + K].copy_from_slice(&v[0]);
            });
        }
    }

    /// `super::vec_dot_half_pair_in_order`: `dot_half_block` on two rows, the tokens
    /// split by `super::pair_tiles`.
    ///
    /// # Safety
    /// As `dot_half_block`, for any number of tokens up to `TOKEN_TILE`, with an output
    /// per token in each of `out`.
    #[target_feature(enable = "avx2,fma,f16c,avx512f")]
    pub unsafe fn dot_half_pair_tile(bf: bool, rows: [&[u8]; 2], xs: &[&[f32]], out: [&mut [f32]; 2]) {
        let [o0, o1] = out;
        for (t, k) in super::pair_tiles(xs.len()) {
            let x = &xs[t..t + k];
            with_tile_size!(k, K => {
                let mut v = [[0f32; K]; 2];
                // SAFETY: forwarded from the caller; `x` holds exactly K rows.
                unsafe {
                    if bf { dot_half_block::<2, K, true>(rows, x, &mut v) } else { dot_half_block::<2, K, false>(rows, x, &mut v) }
                };
                o0[t..t + K].copy_from_slice(&v[0]);
                o1[t..t + K].copy_from_slice(&v[1]);
            });
        }
    }

    /// `R` weight rows (one or two) against `T` f32 activation rows (T <= 6) in
    /// ggml's f16 order on AVX2 (`simd::dot_ggml_f16_order`). That order gives each
    /// (row, token) four 8-lane accumulators, lane group j taking values 32c + 8j ..
    /// 32c + 8j + 8 of every 32: here they are two 16-lane ones, groups 0-1 and 2-3,
    /// so each 32 of a row is two conversions of 16 halves and each 32 of a token two
    /// plain loads, in place. Two rows by six tokens are 24 of the 32 registers: a
    /// conversion feeds six multiply-adds and a load two. (The AVX2 kernel has 16
    /// registers: one lane group per pass, and half activations grouped by lane group,
    /// converted like the weights, with as many conversions as multiply-adds on the
    /// same ports.) Each lane sees its values in ggml's order, the last partial 32
    /// zero-padded, and `(g0 + g2) + (g1 + g3)` is one 16-lane add and its halves'
    /// sum, so the bits are `avx2::dot_half_rows`'. One row by one token is a decode
    /// step, bound by reading the row: it prefetches ahead as the AVX2 kernel does, and
    /// with half the instructions per byte it measured a quarter faster (135M F16
    /// tg64, one thread: 26 -> 31-34 t/s). A few tokens (a decode step of a few
    /// streams) are bound the same way, so every row prefetches for any `T`: 135M F16,
    /// 2 threads, 4 streams 29 -> 19-20 ms a step, 8 streams 36-40 -> 27-28; prompts
    /// unchanged (pp512 within noise, the rows are in cache after the first tile).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C and AVX-512 F; the rows have the same
    /// length, every `xs[t]` holds `rows[0].len() / 2` values, and `T` is what `xs`
    /// holds.
    #[target_feature(enable = "avx2,fma,f16c,avx512f")]
    unsafe fn dot_half_block<const R: usize, const T: usize, const BF: bool>(
        rows: [&[u8]; R],
        xs: &[&[f32]],
        out: &mut [[f32; T]; R],
    ) {
        let n = rows[0].len() / 2;
        let n32 = n / 32 * 32;
        let wp: [*const u8; R] = std::array::from_fn(|r| rows[r].as_ptr());
        let xp: [*const f32; T] = std::array::from_fn(|t| xs[t].as_ptr());
        let mut acc = [[[_mm512_setzero_ps(); 2]; T]; R];
        let mut i = 0;
        while i < n32 {
            for row in rows {
                crate::simd::prefetch_ahead(&row[2 * i..2 * i + 64]);
            }
            // SAFETY: i + 32 <= n32 <= n, so 64 bytes at 2i are inside each row and 32
            // values at i inside each `xs[t]` (caller).
            unsafe {
                let w: [[__m512; 2]; R] = std::array::from_fn(|r| {
                    [half16_at::<BF>(wp[r].add(2 * i)), half16_at::<BF>(wp[r].add(2 * i + 32))]
                });
                for t in 0..T {
                    for h in 0..2 {
                        let x = _mm512_loadu_ps(xp[t].add(i + 16 * h));
                        for r in 0..R {
                            acc[r][t][h] = _mm512_fmadd_ps(w[r][h], x, acc[r][t][h]);
                        }
                    }
                }
            }
            i += 32;
        }
        if n32 < n {
            let mut w = [[0u8; 64]; R];
            for r in 0..R {
                w[r][..2 * (n - n32)].copy_from_slice(&rows[r][2 * n32..]);
            }
            for t in 0..T {
                let mut x = [0f32; 32];
                x[..n - n32].copy_from_slice(&xs[t][n32..]);
                for h in 0..2 {
                    // SAFETY: 64 bytes in each `w[r]`, 32 values in `x`.
                    unsafe {
                        let x = _mm512_loadu_ps(x.as_ptr().add(16 * h));
                        for r in 0..R {
                            let wh = half16_at::<BF>(w[r].as_ptr().add(32 * h));
                            acc[r][t][h] = _mm512_fmadd_ps(wh, x, acc[r][t][h]);
                        }
                    }
                }
            }
        }
        for r in 0..R {
            for t in 0..T {
                let s = _mm512_add_ps(acc[r][t][0], acc[r][t][1]);
                let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(s)));
                out[r][t] = reduce_ggml_f16_x0(_mm256_add_ps(_mm512_castps512_ps256(s), hi));
            }
        }
    }

    /// Sixteen half values at `p` as f32: F16 by the AVX-512 conversion, BF16 by
    /// moving its bits to the top of an f32.
    ///
    /// # Safety
    /// 32 bytes are readable at `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f")]
    unsafe fn half16_at<const BF: bool>(p: *const u8) -> __m512 {
        // SAFETY: forwarded from the caller.
        let h = unsafe { _mm256_loadu_si256(p as *const __m256i) };
        if BF { _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h))) } else { _mm512_cvtph_ps(h) }
    }

    /// `avx2::dot_q32_rows` with VNNI byte products: one token against `R` rows,
    /// 256-bit vectors. Two blocks per 512-bit vector would change the lanes' order of
    /// additions, and a token's result must not depend on whether it came alone or in a
    /// batch.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C and AVX-512 F, BW, VL and VNNI; the rows
    /// hold whole blocks of `dtype` (Q4_0, Q4_1, Q5_0 or Q8_0), and `a` at least as
    /// many blocks.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn dot_q32_rows<const R: usize>(dtype: DType, rows: [&[u8]; R], a: &[Q8Block]) -> [f32; R] {
        dot_q32_rows_body::<true, R>(dtype, rows, a)
    }

    /// `avx2::weight_block` broadcast to both 256-bit halves. A 4-bit block's sixteen
    /// bytes are loaded into all four 128-bit lanes at once and the odd lanes shifted to
    /// their high nibbles: three instructions where splitting the nibbles in 128-bit
    /// registers, joining them and broadcasting the result took six, four of them on
    /// the port the kernel's other shuffles need (a 4-token decode row spends half its
    /// time on the weight block).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    fn weight_block512(dtype: DType, b: &[u8]) -> __m512i {
        if !matches!(dtype, DType::Q4_0 | DType::Q4_1) {
            return _mm512_broadcast_i64x4(weight_block(dtype, b));
        }
        let off = if dtype == DType::Q4_1 { 4 } else { 2 };
        assert!(b.len() >= off + 16);
        // SAFETY: 16 readable bytes at `off` (asserted).
        let x = _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(b[off..].as_ptr() as *const __m128i) });
        // 16-bit elements 8-15 and 24-31: the second and fourth 128-bit lanes.
        let v = _mm512_and_si512(_mm512_mask_srli_epi16::<4>(x, 0xFF00_FF00, x), _mm512_set1_epi8(0x0F));
        if dtype == DType::Q4_0 { _mm512_sub_epi8(v, _mm512_set1_epi8(8)) } else { v }
    }

    /// `avx2::dot_q32_quads` two tokens per vector: lanes 0-7 carry one token's eight
    /// lane sums and lanes 8-15 the next token's, against the weight block broadcast
    /// to both halves; rows `2h` and `2h + 1` of a quad are adjacent 32-byte runs, one
    /// load. Per token every operation is the AVX2 kernel's (the same integers, `dw * d`
    /// rounded once, one FMA per block into its own eight lanes, the same reduction),
    /// so the results are bit-identical to it and to `dot_q32_rows`.
    ///
    /// # Safety
    /// As `dot_q32_rows`, with every `quads[g]` holding at least as many blocks as `row`.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn dot_q32_quads<const G: usize, const T: u8, const STREAM: bool>(
        row: &[u8],
        quads: [&[Q8Quad]; G],
        out: &mut [[f32; 4]; G],
    ) {
        let dtype = super::Q32_TYPES[T as usize];
        let bb = dtype.block_bytes();
        let q41 = T == 1;
        let mut acc = [[_mm512_setzero_ps(); 2]; G];
        let mut summs = [_mm_setzero_ps(); G];
        // Which of the four scale products each half takes: rows 0 and 1, rows 2 and 3.
        let pick = [
            _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
            _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2),
        ];
        for (c, blocks) in row.chunks(8 * bb).enumerate() {
            let ds = block_scales(blocks, bb, 0);
            let ms = if q41 { block_scales(blocks, bb, 2) } else { [0.0; 8] };
            for (k, b) in blocks.chunks_exact(bb).enumerate() {
                if STREAM {
                    crate::simd::prefetch_ahead(b);
                }
                let (qx, dw, mw, i) = (weight_block512(dtype, b), ds[k], ms[k], 8 * c + k);
                // Signed weights meet the activations plus 128 (`Q8Quad::qu`): each
                // lane's sum starts at -128 times its four weights' sum, so it ends as
                // the same integer as the signed products' (exact: no saturation in
                // `vpdpbusd`, and |sum| < 2^18).
                let start = if q41 {
                    _mm512_setzero_si512()
                } else {
                    let excess = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(0x80u8 as i8), qx);
                    _mm512_sub_epi32(_mm512_setzero_si512(), excess)
                };
                for g in 0..G {
                    // SAFETY: `quads[g]` has at least as many blocks as the row (caller).
                    let q = unsafe { quads[g].get_unchecked(i) };
                    // SAFETY: `d` and `s` are 4 f32 each.
                    let (dv, sv) = unsafe { (_mm_loadu_ps(q.d.as_ptr()), _mm_loadu_ps(q.s.as_ptr())) };
                    let p = _mm512_castps128_ps512(_mm_mul_ps(_mm_set1_ps(dw), dv));
                    if q41 {
                        summs[g] = _mm_add_ps(summs[g], _mm_mul_ps(_mm_set1_ps(mw), sv));
                    }
                    for h in 0..2 {
                        // SAFETY: rows 2h and 2h + 1 are 64 contiguous (aligned) bytes
                        // of `qs` and of `qu`.
                        let xy = unsafe {
                            if q41 {
                                let qy = _mm512_load_si512(q.qs[2 * h].as_ptr() as *const __m512i);
                                _mm512_dpbusd_epi32(_mm512_setzero_si512(), qx, qy)
                            } else {
                                let uy = _mm512_load_si512(q.qu[2 * h].as_ptr() as *const __m512i);
                                _mm512_dpbusd_epi32(start, uy, qx)
                            }
                        };
                        let scale = _mm512_permutexvar_ps(pick[h], p);
                        acc[g][h] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(xy), acc[g][h]);
                    }
                }
            }
        }
        for g in 0..G {
            let mut s = [0f32; 4];
            // SAFETY: `s` is 4 writable f32.
            unsafe { _mm_storeu_ps(s.as_mut_ptr(), summs[g]) };
            for h in 0..2 {
                let lo = _mm512_castps512_ps256(acc[g][h]);
                let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(acc[g][h])));
                for (j, half) in [(2 * h, lo), (2 * h + 1, hi)] {
                    out[g][j] = if q41 { hsum(half) + s[j] } else { hsum(half) };
                }
            }
        }
    }
}

/// AVX2 versions of the 32-value block dots: the same integer lane sums and the same
/// fused multiply-adds as `Lanes`, so results are bit-identical to the portable code.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::Q8Block;
    use crate::dtype::DType;
    use crate::simd::avx2::reduce_ggml_f16;
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn hsum(acc: __m256) -> f32 {
        let mut l = [0f32; 8];
        // SAFETY: `l` is 8 writable f32.
        unsafe { _mm256_storeu_ps(l.as_mut_ptr(), acc) };
        crate::simd::reduce8(l)
    }

    /// 16 bytes of nibbles to 32 values: low nibbles first, then high nibbles.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn nibbles(p: *const u8) -> __m256i {
        // SAFETY: callers pass a pointer to the 16 nibble bytes of a block.
        let q = unsafe { _mm_loadu_si128(p as *const __m128i) };
        let m = _mm_set1_epi8(0x0F);
        let lo = _mm_and_si128(q, m);
        let hi = _mm_and_si128(_mm_srli_epi16(q, 4), m);
        _mm256_set_m128i(hi, lo)
    }

    /// The weight block's 32 values as signed bytes (Q4_0, Q5_0, Q8_0) or unsigned
    /// nibbles (Q4_1); its scale comes from `block_dm` (one token) or `block_scales`
    /// (the batched kernel).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn weight_block(dtype: DType, b: &[u8]) -> __m256i {
        match dtype {
            DType::Q4_0 => _mm256_sub_epi8(nibbles(b[2..].as_ptr()), _mm256_set1_epi8(8)),
            DType::Q4_1 => nibbles(b[4..].as_ptr()),
            DType::Q5_0 => q5_0_values(b),
            _ => load32(&b[2..]),
        }
    }

    /// The two f16 at `b[0..4]` as f32 (a 32-value block's scale and Q4_1's minimum, or
    /// for the other types two bytes of values, unused; a k-quant's d and dmin),
    /// converted together with F16C (software half conversion would cost more than the
    /// block's arithmetic).
    ///
    /// The load is written in assembly, as a `vmovd` that writes the whole register:
    /// from the intrinsics the compiler narrows it, wherever one of the two values goes
    /// unused, into a 16-bit `vpinsrw` that keeps the rest of a register of its
    /// choosing, and it chose an accumulator, chaining each block's scale behind the
    /// previous block's sum (135M Q8_0 decode at one thread: 55 against 65 tokens/s).
    /// (Converting eight blocks' scales at once, as the batched kernel does, measured
    /// slower here: one token cannot hide the gather.)
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn block_dm(b: &[u8]) -> (f32, f32) {
        assert!(b.len() >= 4);
        let bits: __m128i;
        // SAFETY: reads the 4 bytes at `b` (asserted readable); writes only `bits`.
        unsafe {
            std::arch::asm!(
                "vmovd {bits}, dword ptr [{p}]",
                bits = out(xmm_reg) bits,
                p = in(reg) b.as_ptr(),
                options(pure, readonly, nostack, preserves_flags)
            )
        };
        let v = _mm_cvtph_ps(bits);
        (_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_movehdup_ps(v)))
    }

    /// The f16 at byte `off` of each of the first (up to) 8 blocks of `bb` bytes in
    /// `blocks`, as f32, converted by one vector instruction.
    ///
    /// For the batched kernel, which spends eight tokens' work on each block and so
    /// hides the gather; a whole vector written at once also carries nothing over
    /// from another register (see `block_dm`).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn block_scales(blocks: &[u8], bb: usize, off: usize) -> [f32; 8] {
        let mut h = [0u16; 8];
        for (v, b) in h.iter_mut().zip(blocks.chunks_exact(bb)) {
            *v = u16::from_le_bytes([b[off], b[off + 1]]);
        }
        let mut out = [0f32; 8];
        // SAFETY: `h` is 16 readable bytes and `out` 8 writable f32.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), _mm256_cvtph_ps(_mm_loadu_si128(h.as_ptr() as *const __m128i))) };
        out
    }

    /// A Q5_0 block's 32 signed values (`super::q5_0_values` in vectors): Q5_0 is what
    /// llama.cpp's Q4_K_M mix gives every tensor whose rows are not whole 256-value
    /// super-blocks (all the attention and FFN-up weights of a 576-wide model), so its
    /// decode is on the hot path. Byte i takes bit i of `qh` (a byte-shuffle spreads
    /// the four `qh` bytes over the eight bytes each covers, a mask picks each byte's
    /// bit); a clear bit turns the nibble into `nibble - 16` by setting the high four
    /// bits, a set bit leaves `nibble` (= nibble + 16 - 16).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn q5_0_values(b: &[u8]) -> __m256i {
        assert!(b.len() >= 22);
        let qh = i32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(qh),
            _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0),
        );
        let bit = _mm256_set1_epi64x(0x8040201008040201u64 as i64);
        let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
        _mm256_or_si256(nibbles(b[6..].as_ptr()), _mm256_andnot_si256(set, _mm256_set1_epi8(0xF0u8 as i8)))
    }

    /// Lane sums of one weight block with one activation block (`V`: by VNNI).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn block_lanes<const V: bool>(dtype: DType, qx: __m256i, y: &Q8Block) -> __m256 {
        let qy = load32(&y.qs);
        if dtype == DType::Q4_1 {
            // Nibbles are unsigned already: one product, no sign games.
            _mm256_cvtepi32_ps(madd_u8_i8_v::<V>(qx, qy))
        } else {
            // maddubs and vpdpbusd want an unsigned operand: |x| against y carrying
            // x's sign.
            _mm256_cvtepi32_ps(madd_u8_i8_v::<V>(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx)))
        }
    }

    /// `R` weight rows against one activation row, each in the order `Lanes` keeps
    /// (the batched `dot_q32_quads` reproduces it for every token).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; the rows hold whole blocks of `dtype`
    /// (Q4_0, Q4_1, Q5_0 or Q8_0), and `a` at least as many blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q32_rows<const R: usize>(dtype: DType, rows: [&[u8]; R], a: &[Q8Block]) -> [f32; R] {
        dot_q32_rows_body::<false, R>(dtype, rows, a)
    }

    /// `dot_q32_rows`, with its byte products by VNNI where `V` (the same integers:
    /// see `madd_u8_i8_v`). Inlined into each entry point, which carries the features.
    /// Each type gets its own loop: with the type a constant, decoding and prefetching
    /// a block carry no branches on it (a decode step runs this loop for every block of
    /// every weight, and it is bound by its instruction count: 135M Q8_0 at one thread
    /// ran a quarter of them on the type's branches). The rows' blocks are interleaved:
    /// a row's sum is one chain of dependent multiply-adds (one per block, in ggml's
    /// order), so one row alone waits on the FMA's latency; two rows' chains side by
    /// side fill that wait, and each row's result keeps its bits.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_q32_rows_body<const V: bool, const R: usize>(
        dtype: DType,
        rows: [&[u8]; R],
        a: &[Q8Block],
    ) -> [f32; R] {
        with_q32_index!(dtype, T => dot_q32_typed::<V, T, R>(rows, a))
    }

    /// `dot_q32_rows_body` for the type `Q32_TYPES[T]`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn dot_q32_typed<const V: bool, const T: u8, const R: usize>(rows: [&[u8]; R], a: &[Q8Block]) -> [f32; R] {
        let dtype = super::Q32_TYPES[T as usize];
        let bb = dtype.block_bytes();
        let mut acc = [_mm256_setzero_ps(); R];
        let mut summs = [0f32; R];
        let q41 = dtype == DType::Q4_1;
        assert!(rows.iter().all(|r| r.len() == rows[0].len()), "dot_q32: rows of different lengths");
        let n = rows[0].len() / bb;
        assert!(a.len() >= n, "dot_q32: fewer activation blocks than weight blocks");
        let mut blocks = rows.map(|r| r.chunks_exact(bb));
        for y in &a[..n] {
            for (r, row_blocks) in blocks.iter_mut().enumerate() {
                // Every row has `n` whole blocks (same lengths, asserted).
                let Some(b) = row_blocks.next() else { break };
                prefetch_ahead(b);
                let qx = weight_block(dtype, b);
                let (dw, mw) = block_dm(b);
                if q41 {
                    summs[r] += mw * y.s;
                }
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y.d), block_lanes::<V>(dtype, qx, y), acc[r]);
            }
        }
        std::array::from_fn(|r| if q41 { hsum(acc[r]) + summs[r] } else { hsum(acc[r]) })
    }

    /// `G` groups of four activation rows against one weight row: the weight block is
    /// decoded once for 4·G rows, the four scale products come from one multiply and
    /// the Q4_1 minimum terms from one multiply and one add. Each (row, activation)
    /// pair still sees exactly `dot_q32_rows`'s operations in its order (the same
    /// integer lanes, `dw * d` rounded once, one FMA per block into its own lanes,
    /// `summs + mw * s` per block, the same final reduction), so the results are
    /// bit-identical to it.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; `row` holds whole blocks of `dtype`
    /// (Q4_0, Q4_1, Q5_0 or Q8_0), and every `quads[g]` at least as many blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q32_quads<const G: usize, const T: u8, const STREAM: bool>(
        row: &[u8],
        quads: [&[super::Q8Quad]; G],
        out: &mut [[f32; 4]; G],
    ) {
        // The type as a constant, so that each type's loop is compiled without the
        // others' branches.
        let dtype = super::Q32_TYPES[T as usize];
        let bb = dtype.block_bytes();
        let q41 = T == 1;
        let mut acc = [[_mm256_setzero_ps(); 4]; G];
        let mut summs = [_mm_setzero_ps(); G];
        let lane = [_mm256_set1_epi32(0), _mm256_set1_epi32(1), _mm256_set1_epi32(2), _mm256_set1_epi32(3)];
        for (c, blocks) in row.chunks(8 * bb).enumerate() {
            let ds = block_scales(blocks, bb, 0);
            let ms = if q41 { block_scales(blocks, bb, 2) } else { [0.0; 8] };
            for (k, b) in blocks.chunks_exact(bb).enumerate() {
                if STREAM {
                    prefetch_ahead(b);
                }
                let (qx, dw, mw, i) = (weight_block(dtype, b), ds[k], ms[k], 8 * c + k);
                // Signed weights: |x| once per block, the sign moved onto each activation.
                let ax = _mm256_sign_epi8(qx, qx);
                for g in 0..G {
                    // SAFETY: `quads[g]` has at least as many blocks as the row (caller).
                    let q = unsafe { quads[g].get_unchecked(i) };
                    // SAFETY: `d` and `s` are 4 f32 each; `Q8Quad` is 32-byte aligned and
                    // its `qs` rows start at offsets 128, 160, 192 and 224.
                    let (dv, sv) = unsafe { (_mm_loadu_ps(q.d.as_ptr()), _mm_loadu_ps(q.s.as_ptr())) };
                    let p = _mm256_castps128_ps256(_mm_mul_ps(_mm_set1_ps(dw), dv));
                    if q41 {
                        summs[g] = _mm_add_ps(summs[g], _mm_mul_ps(_mm_set1_ps(mw), sv));
                    }
                    for j in 0..4 {
                        // SAFETY: as above: 32 aligned bytes.
                        let qy = unsafe { _mm256_load_si256(q.qs[j].as_ptr() as *const __m256i) };
                        let xy = if q41 { madd_u8_i8(qx, qy) } else { madd_u8_i8(ax, _mm256_sign_epi8(qy, qx)) };
                        let scale = _mm256_permutevar8x32_ps(p, lane[j]);
                        acc[g][j] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(xy), acc[g][j]);
                    }
                }
            }
        }
        for g in 0..G {
            let mut s = [0f32; 4];
            // SAFETY: `s` is 4 writable f32.
            unsafe { _mm_storeu_ps(s.as_mut_ptr(), summs[g]) };
            for j in 0..4 {
                out[g][j] = if q41 { hsum(acc[g][j]) + s[j] } else { hsum(acc[g][j]) };
            }
        }
    }

    /// `q8_block_portable` in vectors: the same maximum (exact in any order), the same
    /// scalar `127 / amax`, the same products rounded half to even (the conversion's
    /// default rounding), the same integer sum; so the same block. `None` for a block
    /// holding a NaN or an infinity, or so small that `127 / amax` overflows, which the
    /// portable code handles.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; `blk` holds at least 32 values.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn q8_block(blk: &[f32]) -> Option<super::Q8Block> {
        assert!(blk.len() >= 32);
        let p = blk.as_ptr();
        // SAFETY: 32 readable values (asserted).
        let v = unsafe {
            [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24))]
        };
        let sign = _mm256_set1_ps(-0.0);
        let a = v.map(|x| _mm256_andnot_ps(sign, x));
        // Unordered with itself: NaN; not below infinity: infinite.
        let inf = _mm256_set1_ps(f32::INFINITY);
        let bad = a.iter().fold(_mm256_setzero_ps(), |m, x| _mm256_or_ps(m, _mm256_cmp_ps::<_CMP_NLT_UQ>(*x, inf)));
        if _mm256_movemask_ps(bad) != 0 {
            return None;
        }
        let m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
        let m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        let amax = _mm_cvtss_f32(_mm_max_ss(m2, _mm_shuffle_ps::<1>(m2, m2)));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        if !id.is_finite() {
            // Subnormal inputs: products overflow, which the conversions treat apart.
            return None;
        }
        let id = _mm256_set1_ps(id);
        let q = v.map(|x| _mm256_cvtps_epi32(_mm256_mul_ps(x, id)));
        let sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        // |q| <= 127, so the narrowing packs never saturate; they interleave 128-bit
        // lanes, which the permute undoes.
        let bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        let mut qs = [0i8; 32];
        // SAFETY: `qs` is 32 writable bytes.
        unsafe { _mm256_storeu_si256(qs.as_mut_ptr() as *mut __m256i, bytes) };
        Some(super::Q8Block { d: super::f16_round(d), s: super::f16_round(sum as f32 * d), qs })
    }

    /// `super::quantize_into_quads`, with `q8_block` inlined.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; `x` holds at least 32 values per quad.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn quantize_into_quads(x: &[f32], quads: &mut [super::Q8Quad], j: usize) {
        for (q, blk) in quads.iter_mut().zip(x.chunks_exact(32)) {
            // SAFETY: the CPU features are the caller's promise; `blk` is 32 values.
            let b = unsafe { q8_block(blk) }.unwrap_or_else(|| super::q8_block_portable(blk));
            q.set(j, b);
        }
    }

    /// The sums of the 8 i32 lanes of `a` and of `b`, by two horizontal adds.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum2_i32(a: __m256i, b: __m256i) -> (i32, i32) {
        let h = _mm256_hadd_epi32(a, b);
        let q = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
        let p = _mm_hadd_epi32(q, q);
        (_mm_cvtsi128_si32(p), _mm_extract_epi32::<1>(p))
    }

    /// `super::q8k_block_portable` in vectors: the same largest magnitude and the
    /// same first value holding it (its sign sets the scale's), the same scalar
    /// `-127 / max`, the same products rounded half to even and capped at 127, the
    /// same 16-value sums; so the same block. `None` for a block holding a NaN or an
    /// infinity, or whose `-127 / max` overflows, which the portable code handles.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn q8k_block(blk: &[f32]) -> Option<super::Q8KBlock> {
        const N: usize = crate::dtype::QK_K;
        assert!(blk.len() >= N);
        let sign = _mm256_set1_ps(-0.0);
        let inf = _mm256_set1_ps(f32::INFINITY);
        let mut amax_v = _mm256_setzero_ps();
        let mut bad = 0;
        for k in 0..N / 8 {
            let a = _mm256_andnot_ps(sign, load8(&blk[8 * k..]));
            // Not less than infinity, or unordered: an infinity or a NaN.
            bad |= _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NLT_UQ>(a, inf));
            amax_v = _mm256_max_ps(amax_v, a);
        }
        if bad != 0 {
            return None;
        }
        let mut l = [0f32; 8];
        // SAFETY: `l` is 8 writable f32.
        unsafe { _mm256_storeu_ps(l.as_mut_ptr(), amax_v) };
        let amax = l.iter().fold(0f32, |a, v| a.max(*v));
        let mut b = super::Q8KBlock { d: 0.0, qs: [0; N], q4k: [0; N], bsums: [0; 16] };
        if amax == 0.0 {
            return Some(b);
        }
        let am = _mm256_set1_ps(amax);
        // (Loops, not closures, here: a closure does not inherit `target_feature`.)
        let mut first = 0;
        for k in 0..N / 8 {
            let m = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_andnot_ps(sign, load8(&blk[8 * k..])), am));
            if m != 0 {
                first = 8 * k + m.trailing_zeros() as usize;
                break;
            }
        }
        let iscale = -127.0 / blk[first];
        if !iscale.is_finite() {
            return None;
        }
        let (is, cap) = (_mm256_set1_ps(iscale), _mm256_set1_epi32(127));
        // Values 32k..32k+32 as four vectors of i32, then packed to bytes in order.
        for k in 0..N / 32 {
            let mut q = [_mm256_setzero_si256(); 4];
            for (j, qj) in q.iter_mut().enumerate() {
                // Rounds half to even: the conversion's default mode.
                *qj = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(is, load8(&blk[32 * k + 8 * j..]))), cap);
            }
            // Each 16 values' sum: two vectors added, then horizontal adds.
            let s01 = _mm256_hadd_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            let s = _mm256_hadd_epi32(s01, s01);
            let (lo, hi) = (_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
            let sums = _mm_add_epi32(lo, hi);
            b.bsums[2 * k] = _mm_cvtsi128_si32(sums) as i16;
            b.bsums[2 * k + 1] = _mm_extract_epi32::<1>(sums) as i16;
            // packs works within 128-bit halves; the permute puts the bytes back in
            // value order.
            let w = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            let w = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            // SAFETY: `qs[32k..32k+32]` is 32 writable bytes.
            unsafe { _mm256_storeu_si256(b.qs.as_mut_ptr().add(32 * k) as *mut __m256i, w) };
        }
        b.d = 1.0 / iscale;
        Some(b)
    }

    /// Sum of the 8 i32 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum_i32(v: __m256i) -> i32 {
        let mut l = [0i32; 8];
        // SAFETY: `l` is 8 writable i32.
        unsafe { _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, v) };
        l.iter().sum()
    }

    use crate::simd::prefetch_ahead;

    /// i32 lanes of unsigned weight bytes times signed activation bytes, 4 per lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn madd_u8_i8(w: __m256i, x: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1))
    }

    /// `madd_u8_i8`, by one `vpdpbusd` where `V`. The same integers: `maddubs`
    /// saturates its i16 pair sums, but no caller's pairs reach that (|w| <= 128 and
    /// |x| <= 127, at most 32,512).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn madd_u8_i8_v<const V: bool>(w: __m256i, x: __m256i) -> __m256i {
        if V {
            // SAFETY: `V` is true only in bodies inlined into `avx512`'s entry points,
            // which carry (and are dispatched on) AVX-512 VL and VNNI.
            unsafe { super::avx512::dpbusd(w, x) }
        } else {
            madd_u8_i8(w, x)
        }
    }

    /// Byte-sized element types a 32-byte vector can be loaded from.
    pub trait Byte: Copy {}
    impl Byte for u8 {}
    impl Byte for i8 {}

    /// The first 32 bytes of `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn load32<T: Byte>(p: &[T]) -> __m256i {
        assert!(p.len() >= 32);
        // SAFETY: at least 32 readable one-byte elements (asserted).
        unsafe { _mm256_loadu_si256(p.as_ptr() as *const __m256i) }
    }

    /// The k-quant dots of one weight row with `T` activation rows. Each super-block
    /// is decoded once for all `T`; per row the integer sums are accumulated in vector
    /// lanes (exact, so in any order: the same integers as the portable code) and the
    /// final float expression is the portable one, so results are bit-identical to it
    /// for every `T`.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; `row` holds whole super-blocks of
    /// `dtype` (Q4_K, Q5_K or Q6_K) and every `ys[t]` at least as many Q8_K blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_kquant_rows<const T: usize>(
        dtype: DType,
        row: &[u8],
        ys: [&[super::Q8KBlock]; T],
        out: &mut [f32; T],
    ) {
        dot_kquant_rows_body::<T, false>(dtype, row, ys, out)
    }

    /// `dot_kquant_rows`, with each scaled pair sum added by VNNI's `vpdpwssd` where
    /// `V` (the same integers: see `madd_i16_add`). Inlined into each entry point.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot_kquant_rows_body<const T: usize, const V: bool>(
        dtype: DType,
        row: &[u8],
        ys: [&[super::Q8KBlock]; T],
        out: &mut [f32; T],
    ) {
        match dtype {
            DType::Q6K => q6k_rows::<T, V>(row, ys, out),
            DType::Q5K => q45k_rows::<T, true, V>(row, ys, out),
            _ => q45k_rows::<T, false, V>(row, ys, out),
        }
    }

    /// `acc + madd(p, s)`: i16 pairs multiplied and summed into i32 lanes, then
    /// added; one `vpdpwssd` where `V`. Exact either way: no caller's sums come near
    /// the i32 range.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn madd_i16_add<const V: bool>(acc: __m256i, p: __m256i, s: __m256i) -> __m256i {
        if V {
            // SAFETY: `V` is true only in bodies inlined into `avx512`'s entry points,
            // which carry (and are dispatched on) AVX-512 VL and VNNI.
            unsafe { super::avx512::dpwssd(acc, p, s) }
        } else {
            _mm256_add_epi32(acc, _mm256_madd_epi16(p, s))
        }
    }

    /// Values `64c..64c + 32` and `64c + 32..64c + 64` of a Q4_K (`Q5 = false`) or Q5_K
    /// super-block, one byte each: the low and high nibbles of `qs[32c..32c + 32]`, plus
    /// 16 where Q5_K's bits `2c` and `2c + 1` of `hbits` (its 32 high-bit bytes) are set.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn q45k_values<const Q5: bool>(qs: &[u8], hbits: __m256i, c: usize) -> (__m256i, __m256i) {
        let m4 = _mm256_set1_epi8(0x0F);
        let q = load32(&qs[c * 32..]);
        let mut lo = _mm256_and_si256(q, m4);
        let mut hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if Q5 {
            let u1 = _mm256_set1_epi8((1u8 << (2 * c)) as i8);
            let u2 = _mm256_set1_epi8((2u8 << (2 * c)) as i8);
            let sixteen = _mm256_set1_epi8(16);
            lo = _mm256_add_epi8(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, u1), u1), sixteen));
            hi = _mm256_add_epi8(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, u2), u2), sixteen));
        }
        (lo, hi)
    }

    /// Q4_K (`Q5 = false`) and Q5_K: per 64 values, the low and high nibbles (plus
    /// the fifth bit) against the activations by `maddubs` (at most 31 * 127 * 2 per
    /// pair: no saturation), then a `madd` with the sub-block's 6-bit scale, summed in
    /// i32 lanes; the mins term from the activation block sums, as in the portable code.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn q45k_rows<const T: usize, const Q5: bool, const V: bool>(
        row: &[u8],
        ys: [&[super::Q8KBlock]; T],
        out: &mut [f32; T],
    ) {
        let bb = if Q5 { 176 } else { 144 };
        let mut sum = [0f32; T];
        for (i, b) in row.chunks_exact(bb).enumerate() {
            // For any `T`: a few streams' decode step reads the row from memory as one
            // stream's does (1B Q4_K_M, 2 threads, 4 streams: 100 -> 61-63 ms a step);
            // prompts of 16 tokens or more take the AMX or tiled paths.
            prefetch_ahead(b);
            let scales = &b[4..16];
            let (qh, qs) = if Q5 { (&b[16..48], &b[48..176]) } else { (&b[0..0], &b[16..144]) };
            let (sc, mn) = scales_mins_k4(scales);
            // The eight 6-bit scales as i16 in both halves; each sub-block's taken into
            // every lane by one shuffle (from the scalar bytes, two instructions each).
            let sc8 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(sc as i64)));
            let hbits = if Q5 { load32(qh) } else { _mm256_setzero_si256() };
            let mut sumi = [_mm256_setzero_si256(); T];
            for c in 0..4 {
                let (lo, hi) = q45k_values::<Q5>(qs, hbits, c);
                let s_lo = _mm256_shuffle_epi8(sc8, KQ_SCALE_SPLAT[2 * c]);
                let s_hi = _mm256_shuffle_epi8(sc8, KQ_SCALE_SPLAT[2 * c + 1]);
                for t in 0..T {
                    let y = &ys[t][i];
                    let p_lo = _mm256_maddubs_epi16(lo, load32(&y.qs[c * 64..]));
                    let p_hi = _mm256_maddubs_epi16(hi, load32(&y.qs[c * 64 + 32..]));
                    sumi[t] = madd_i16_add::<V>(madd_i16_add::<V>(sumi[t], p_lo, s_lo), p_hi, s_hi);
                }
            }
            // SAFETY: this function carries AVX2, FMA and F16C.
            unsafe { add_k4_block(b, mn, &sumi, &ys, i, &mut sum) };
        }
        *out = sum;
    }

    /// i16 element `e` of a 256-bit vector from byte `e / 2` of its 128-bit lane (which
    /// holds the eight mins in both lanes), the high byte zero.
    const MINS_TWICE: __m256i = {
        let mut m = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            m[i] = if i % 2 == 0 { (i / 4) as u8 } else { 0x80 };
            i += 1;
        }
        // SAFETY: [u8; 32] and __m256i have the same size, and every bit pattern is valid.
        unsafe { std::mem::transmute::<[u8; 32], __m256i>(m) }
    };

    /// Adds Q4_K/Q5_K super-block `b` (activation block `i`) to each token's sum, from
    /// the integer sums `sumi` of its scaled products and its packed mins `mn`
    /// (`scales_mins_k4`): the mins term against the tokens' 16-value activation sums,
    /// then the portable code's float expression, which fixes the bits. Shared by the
    /// 32- and 64-byte kernels.
    ///
    /// # Safety
    /// The CPU supports AVX2, FMA and F16C. (Not a `target_feature` function, so that it
    /// can be inlined always: at eight tokens, left as a call, its sums went through
    /// memory and it took a third of a 1B Q4_K_M prompt without AMX.)
    #[inline(always)]
    pub(super) unsafe fn add_k4_block<const T: usize>(
        b: &[u8],
        mn: u64,
        sumi: &[__m256i; T],
        ys: &[&[super::Q8KBlock]; T],
        i: usize,
        sum: &mut [f32; T],
    ) {
        // SAFETY (the intrinsics and helpers below): AVX2, FMA and F16C (caller).
        unsafe {
            // Each sub-block's min twice as i16, against the activation sums of its two 16s:
            // one byte shuffle of the eight bytes in every lane (zero-extending by a 0x80
            // control byte) instead of a widening, two unpacks and an insert.
            let mins16 = _mm256_shuffle_epi8(_mm256_set1_epi64x(mn as i64), MINS_TWICE);
            // |bsum| <= 16 * 127 and min <= 63: the pair sums fit an i32 lane. `bsums` is 16
            // readable i16.
            let mins: [__m256i; T] = std::array::from_fn(|t| {
                _mm256_madd_epi16(_mm256_loadu_si256(ys[t][i].bsums.as_ptr() as *const __m256i), mins16)
            });
            // One token's two sums by one pair of horizontal adds.
            let (totals, mins) = if T == 1 {
                let (a, m) = hsum2_i32(sumi[0], mins[0]);
                ([a; T], [m; T])
            } else {
                (lane_sums(sumi), lane_sums(&mins))
            };
            let (d, dmin) = block_dm(b);
            for t in 0..T {
                let yd = ys[t][i].d;
                sum[t] += d * yd * totals[t] as f32 - dmin * yd * mins[t] as f32;
            }
        }
    }

    /// The sum of each vector's eight i32 lanes: eight vectors at a time by a tree of
    /// horizontal adds (a quarter of the work of eight separate reductions: at eight
    /// tokens these were a third of a k-quant kernel), the rest two at a time.
    /// Integers, so any order gives the same sums.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn lane_sums<const T: usize>(v: &[__m256i; T]) -> [i32; T] {
        let mut out = [0i32; T];
        let mut t = 0;
        while t + 8 <= T {
            // SAFETY: 8 writable i32 at `t` (t + 8 <= T).
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(t) as *mut __m256i, lane_sums8(&v[t..t + 8])) };
            t += 8;
        }
        while t < T {
            if t + 1 < T {
                (out[t], out[t + 1]) = hsum2_i32(v[t], v[t + 1]);
            } else {
                out[t] = hsum_i32(v[t]);
            }
            t += 2;
        }
        out
    }

    /// Lane `t` of the result is the sum of the eight lanes of `v[t]` (eight vectors).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn lane_sums8(v: &[__m256i]) -> __m256i {
        let h = [
            _mm256_hadd_epi32(v[0], v[1]),
            _mm256_hadd_epi32(v[2], v[3]),
            _mm256_hadd_epi32(v[4], v[5]),
            _mm256_hadd_epi32(v[6], v[7]),
        ];
        // Each 128-bit half: v0..v3 (then v4..v7) partial sums, low lanes' in the low half.
        let g0 = _mm256_hadd_epi32(h[0], h[1]);
        let g1 = _mm256_hadd_epi32(h[2], h[3]);
        _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(g0, g1), _mm256_permute2x128_si256::<0x31>(g0, g1))
    }

    /// The 8 six-bit scales and 8 six-bit mins of a Q4_K/Q5_K super-block (byte j of
    /// each word is sub-block j's; `super::scale_min_k4` one at a time) from its 12
    /// packed bytes, as three 32-bit words `w0 w1 w2`: the low 6 bits of w0's bytes are
    /// scales 0-3 and of w1's mins 0-3; scales 4-7 are w2's low nibbles with w0's top
    /// two bits above them, mins 4-7 w2's high nibbles with w1's top two bits.
    #[inline]
    pub(super) fn scales_mins_k4(q: &[u8]) -> (u64, u64) {
        let w = |k: usize| u32::from_le_bytes([q[4 * k], q[4 * k + 1], q[4 * k + 2], q[4 * k + 3]]);
        let (w0, w1, w2) = (w(0), w(1), w(2));
        let (six, four, two) = (0x3f3f_3f3f, 0x0f0f_0f0f, 0x0303_0303);
        let sc_hi = (w2 & four) | (((w0 >> 6) & two) << 4);
        let mn_hi = ((w2 >> 4) & four) | (((w1 >> 6) & two) << 4);
        ((w0 & six) as u64 | (sc_hi as u64) << 32, (w1 & six) as u64 | (mn_hi as u64) << 32)
    }

    /// The 128 unsigned 6-bit values (0..=63) of one half of a Q6_K super-block from its
    /// 64 low-nibble bytes `ql` and 32 high-bit bytes `qh`, as four runs of 32 in value
    /// order (`super::dot_q6k`'s `v[l]`, `v[l + 32]`, `v[l + 64]`, `v[l + 96]`).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn q6k_values(ql: &[u8], qh: &[u8]) -> [__m256i; 4] {
        let (m4, m30) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x30));
        let (q0, q1, hq) = (load32(ql), load32(&ql[32..]), load32(qh));
        [
            _mm256_or_si256(_mm256_and_si256(q0, m4), _mm256_and_si256(_mm256_slli_epi16(hq, 4), m30)),
            _mm256_or_si256(_mm256_and_si256(q1, m4), _mm256_and_si256(_mm256_slli_epi16(hq, 2), m30)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q0, 4), m4), _mm256_and_si256(hq, m30)),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(q1, 4), m4),
                _mm256_and_si256(_mm256_srli_epi16(hq, 2), m30),
            ),
        ]
    }

    /// A byte shuffle (`vpshufb`, which stays within each 128-bit half) that fills the
    /// low half's i16 lanes with that half's element `lo` and the high half's with its
    /// element `hi`.
    const fn spread_i16(lo: usize, hi: usize) -> __m256i {
        let mut m = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            let e = if i < 16 { lo } else { hi };
            m[i] = (2 * e + i % 2) as u8;
            i += 1;
        }
        // SAFETY: [u8; 32] and __m256i have the same size, and every bit pattern is valid.
        unsafe { std::mem::transmute::<[u8; 32], __m256i>(m) }
    }

    /// Element `e` into every lane: a Q4_K/Q5_K sub-block's scale.
    const KQ_SCALE_SPLAT: [__m256i; 8] = [
        spread_i16(0, 0),
        spread_i16(1, 1),
        spread_i16(2, 2),
        spread_i16(3, 3),
        spread_i16(4, 4),
        spread_i16(5, 5),
        spread_i16(6, 6),
        spread_i16(7, 7),
    ];

    /// Elements `2k` and `2k + 1`: the scales of two Q6_K groups of 16.
    const Q6K_SCALE_PICK: [__m256i; 4] = [spread_i16(0, 1), spread_i16(2, 3), spread_i16(4, 5), spread_i16(6, 7)];

    /// The scales of `packs_epi32(a, b)`'s i16 lanes for Q6_K vectors `k = 2p` (`a`)
    /// and `2p + 1` (`b`): in the low half four of group `2k`'s then four of `2k + 2`'s,
    /// in the high half `2k + 1`'s and `2k + 3`'s (elements of the half's eight scales).
    const Q6K_SCALE_PAIR_PICK: [__m256i; 2] = [
        // SAFETY (both): [u8; 32] and __m256i have the same size, and every bit pattern is valid.
        unsafe { std::mem::transmute::<[u8; 32], __m256i>(q6k_pair_pick(0)) },
        unsafe { std::mem::transmute::<[u8; 32], __m256i>(q6k_pair_pick(1)) },
    ];

    /// `Q6K_SCALE_PAIR_PICK[p]`: per 128-bit lane four i16 lanes of `a`'s then four of
    /// `b`'s, so i16 scale `2k + h` for vector `k` in half `h` (of two) of the register.
    const fn q6k_pair_pick(p: usize) -> [u8; 32] {
        let mut m = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            let k = 2 * p + if i % 16 >= 8 { 1 } else { 0 };
            let e = 2 * k + if i >= 16 { 1 } else { 0 };
            m[i] = (2 * e + i % 2) as u8;
            i += 1;
        }
        m
    }

    /// Q6_K: the unsigned 6-bit values against the activations by `maddubs` (at most
    /// 63 * 127 * 2 per pair), then a `madd` with each 16-value group's signed scale,
    /// summed in i32 lanes; the offset of 32 comes off once per block as 32 times the
    /// sum of each group's scale times its activation sum (`bsums`), the same integer
    /// as subtracting it from every value. (Signed values need `vpsignb` twice per
    /// token, one more operation per 32 products than Q4_K.)
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn q6k_rows<const T: usize, const V: bool>(row: &[u8], ys: [&[super::Q8KBlock]; T], out: &mut [f32; T]) {
        let mut sum = [0f32; T];
        for (i, b) in row.chunks_exact(210).enumerate() {
            // For any `T`, as in `q45k_rows`.
            prefetch_ahead(b);
            let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
            // SAFETY: `sc` is 16 readable bytes.
            let sc16 = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(sc.as_ptr() as *const __m128i) });
            let mut acc = [_mm256_setzero_si256(); T];
            for h in 0..2 {
                let v = q6k_values(&ql[h * 64..h * 64 + 64], &qh[h * 32..h * 32 + 32]);
                // Groups 8h .. 8h + 8 (`sc16`'s 128-bit half h) in both halves, so that a
                // byte shuffle, which stays within its half, reaches any of them.
                let half = if h == 0 {
                    _mm256_permute2x128_si256::<0x00>(sc16, sc16)
                } else {
                    _mm256_permute2x128_si256::<0x11>(sc16, sc16)
                };
                if V {
                    // VNNI: four products a lane by `vpdpbusd` (|sum| <= 4 * 63 * 127, exact
                    // in i16), two vectors' lane sums packed into one for the scales'
                    // `vpdpwssd`: three multiply-adds per 64 values instead of four.
                    for (p, pick) in Q6K_SCALE_PAIR_PICK.iter().enumerate() {
                        let scales = _mm256_shuffle_epi8(half, *pick);
                        for t in 0..T {
                            let y = |k: usize| load32(&ys[t][i].qs[h * 128 + k * 32..]);
                            // SAFETY: `V` is true only in bodies inlined into `avx512`'s
                            // entry points, which carry (and are dispatched on) AVX-512
                            // VL and VNNI.
                            let (a, b) = unsafe {
                                (
                                    super::avx512::dpbusd(v[2 * p], y(2 * p)),
                                    super::avx512::dpbusd(v[2 * p + 1], y(2 * p + 1)),
                                )
                            };
                            acc[t] = madd_i16_add::<V>(acc[t], _mm256_packs_epi32(a, b), scales);
                        }
                    }
                    continue;
                }
                for (k, vk) in v.iter().enumerate() {
                    // i16 lanes 0..8 cover bytes 0..16 (group g = 8h + 2k), lanes 8..16
                    // group g + 1: one shuffle, where building them from the scale bytes
                    // (two broadcasts and an insert) had cost more than the products.
                    let scales = _mm256_shuffle_epi8(half, Q6K_SCALE_PICK[k]);
                    for t in 0..T {
                        let p = _mm256_maddubs_epi16(*vk, load32(&ys[t][i].qs[h * 128 + k * 32..]));
                        acc[t] = madd_i16_add::<V>(acc[t], p, scales);
                    }
                }
            }
            // |32 * scale * bsum| summed over 16 groups stays below 2^28.
            for (a, y) in acc.iter_mut().zip(&ys) {
                // SAFETY: `bsums` is 16 readable i16.
                let bsums = unsafe { _mm256_loadu_si256(y[i].bsums.as_ptr() as *const __m256i) };
                *a = _mm256_sub_epi32(*a, _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 5));
            }
            // The scale is the block's last f16: the pair ending there.
            let d = block_dm(&b[206..]).1;
            let totals = lane_sums(&acc);
            for t in 0..T {
                sum[t] += d * ys[t][i].d * totals[t] as f32;
            }
        }
        *out = sum;
    }

    /// Eight half values at `p` as f32: F16 by the F16C conversion, BF16 by moving
    /// its bits to the top of an f32.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn half8(bf: bool, p: &[u8]) -> __m256 {
        assert!(p.len() >= 16);
        // SAFETY: 16 readable bytes (asserted).
        unsafe { half8_at(bf, p.as_ptr()) }
    }

    /// `super::vec_dot_half` in vectors, three activation rows at a time: per 32
    /// values, four 8-value slices of the weight converted once and fed to four
    /// accumulators per row (ggml's f16 order; twelve accumulators in registers, so
    /// one row's FMA latency is hidden by the others'); a last partial 32 padded with
    /// zeros, as `simd::dot_ggml_f16_order` takes it; the lanes reduced as
    /// `simd::reduce_ggml_f16_lanes` does (`simd::avx2::reduce_ggml_f16`). So the bits are
    /// the portable code's.
    /// (Converting a chunk of the row to f32 once for a whole tile of rows measured
    /// slower: the staging and reductions cost more than the conversions saved.)
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; every `xs[t]` holds `row.len() / 2`
    /// values, and `out` has one value per row.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_half_tile(bf: bool, row: &[u8], xs: &[&[f32]], out: &mut [f32]) {
        let mut t = 0;
        while t < xs.len() {
            let k = (xs.len() - t).min(3);
            let (x, o) = (&xs[t..t + k], &mut out[t..t + k]);
            // SAFETY: forwarded from the caller.
            unsafe {
                match k {
                    3 => dot_half_rows::<3>(bf, row, x, o),
                    2 => dot_half_rows::<2>(bf, row, x, o),
                    _ => dot_half_rows::<1>(bf, row, x, o),
                }
            }
            t += k;
        }
    }

    /// `super::vec_dot_half_pair`, the tokens split by `super::pair_tiles`.
    ///
    /// # Safety
    /// As `dot_half_pair`, for any number of rows up to `TOKEN_TILE`, with an output
    /// per row in each of `out`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_half_pair_tile(bf: bool, rows: [&[u8]; 2], xs: &[&[u16]], out: [&mut [f32]; 2]) {
        let [o0, o1] = out;
        for (t, k) in super::pair_tiles(xs.len()) {
            let x = &xs[t..t + k];
            with_tile_size!(k, K => {
                let mut v = [[0f32; K]; 2];
                // SAFETY: forwarded from the caller; `x` holds exactly K rows.
                unsafe { dot_half_pair::<K>(bf, rows, x, &mut v) };
                o0[t..t + K].copy_from_slice(&v[0]);
                o1[t..t + K].copy_from_slice(&v[1]);
            });
        }
    }

    /// # Safety
    /// As `dot_half_tile`, with exactly `T` rows.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_half_rows<const T: usize>(bf: bool, row: &[u8], xs: &[&[f32]], out: &mut [f32]) {
        let n = row.len() / 2;
        let n32 = n / 32 * 32;
        let mut acc = [[_mm256_setzero_ps(); 4]; T];
        for i in (0..n32).step_by(32) {
            if T == 1 {
                prefetch_ahead(&row[2 * i..2 * i + 64]);
            }
            for j in 0..4 {
                let w = half8(bf, &row[2 * (i + 8 * j)..]);
                for t in 0..T {
                    // SAFETY: i + 8j + 8 <= n32 <= n == xs[t].len() (caller).
                    let x = unsafe { _mm256_loadu_ps(xs[t].as_ptr().add(i + 8 * j)) };
                    acc[t][j] = _mm256_fmadd_ps(w, x, acc[t][j]);
                }
            }
        }
        if n32 < n {
            let mut wp = [0u8; 64];
            wp[..2 * (n - n32)].copy_from_slice(&row[2 * n32..]);
            for t in 0..T {
                let mut xp = [0f32; 32];
                xp[..n - n32].copy_from_slice(&xs[t][n32..]);
                for j in 0..4 {
                    acc[t][j] = _mm256_fmadd_ps(half8(bf, &wp[16 * j..]), load8(&xp[8 * j..]), acc[t][j]);
                }
            }
        }
        for t in 0..T {
            out[t] = reduce_ggml_f16(acc[t]);
        }
    }

    /// Two weight rows against `T` activation rows (T <= 6) in ggml's f16 order,
    /// one accumulator lane group at a time. ggml's order gives each (row, token) four
    /// 8-lane accumulators, lane group j taking values 32c + 8j .. 32c + 8j + 8 of
    /// every 32; a register tile of one row by three tokens (`dot_half_rows`) is all
    /// that four accumulators each allow, and it converts a weight slice for every
    /// three multiply-adds and loads an activation slice for each one. Running the
    /// four lane groups as four passes over the row leaves one accumulator per
    /// (row, token), so two rows by six tokens fit the 16 registers: a weight slice is
    /// converted once for six multiply-adds and an activation slice loaded once for
    /// two. The activations come grouped by lane group (`group_half_acts`), so a pass
    /// reads them contiguously: read in place, a pass would take 32 bytes of every
    /// 128, and that stride measured up to half as fast at 2,048 columns. They come as
    /// half values too, converted like the weights: a tile of f32 activations
    /// outgrows the L1 cache at 1,536 columns, and the L2 cache cannot feed the
    /// multiply-adds six f32 slices per twelve. Each
    /// accumulator still sees its values in ggml's order (the last partial 32
    /// zero-padded at the end of its pass), so the bits are `dot_half_rows`'.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; both rows have the same length, every
    /// `xs[t]` holds `rows[0].len() / 2` values grouped by `group_half_acts`, and `T`
    /// is what `xs` holds.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_half_pair<const T: usize>(bf: bool, rows: [&[u8]; 2], xs: &[&[u16]], out: &mut [[f32; T]; 2]) {
        // SAFETY (the four passes): forwarded from the caller.
        // (Four calls rather than a loop into a zeroed array: that zeroing was a memset
        // of 1.5 KB per call, 3% of an F16 prompt.)
        let lanes = unsafe {
            [
                half_pass::<T>(bf, rows, xs, 0),
                half_pass::<T>(bf, rows, xs, 1),
                half_pass::<T>(bf, rows, xs, 2),
                half_pass::<T>(bf, rows, xs, 3),
            ]
        };
        for r in 0..2 {
            for t in 0..T {
                out[r][t] = reduce_ggml_f16([lanes[0][r][t], lanes[1][r][t], lanes[2][r][t], lanes[3][r][t]]);
            }
        }
    }

    /// Lane group `j`'s accumulators of `dot_half_pair`, `[row][token]`.
    ///
    /// # Safety
    /// As `dot_half_pair`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn half_pass<const T: usize>(bf: bool, rows: [&[u8]; 2], xs: &[&[u16]], j: usize) -> [[__m256; T]; 2] {
        let n = rows[0].len() / 2;
        let n32 = n / 32 * 32;
        let wp: [*const u8; 2] = [rows[0].as_ptr(), rows[1].as_ptr()];
        let xp: [*const u8; T] = std::array::from_fn(|t| xs[t].as_ptr() as *const u8);
        let mut acc = [[_mm256_setzero_ps(); T]; 2];
        // i walks the row's values of lane group j, k the same values in `xs`.
        let (mut i, mut k) = (8 * j, j * n32 / 4);
        while i < n32 {
            // SAFETY: i + 8 <= n32 <= n, so 16 bytes at 2i are inside each row, and
            // k + 8 <= (j + 1) * n32 / 4 <= n, so 16 bytes at 2k inside each `xs[t]`
            // (caller).
            unsafe {
                let w0 = half8_at(bf, wp[0].add(2 * i));
                let w1 = half8_at(bf, wp[1].add(2 * i));
                for t in 0..T {
                    let x = half8_at(bf, xp[t].add(2 * k));
                    acc[0][t] = _mm256_fmadd_ps(w0, x, acc[0][t]);
                    acc[1][t] = _mm256_fmadd_ps(w1, x, acc[1][t]);
                }
            }
            i += 32;
            k += 8;
        }
        if n32 < n {
            // The last partial 32 (left in place by the grouping), zero-padded: this
            // pass's 8 of it.
            let (lo, hi) = ((n32 + 8 * j).min(n), (n32 + 8 * j + 8).min(n));
            let mut w = [[0u8; 16]; 2];
            for r in 0..2 {
                w[r][..2 * (hi - lo)].copy_from_slice(&rows[r][2 * lo..2 * hi]);
            }
            let w = [half8(bf, &w[0]), half8(bf, &w[1])];
            for t in 0..T {
                let mut x = [0u8; 16];
                for (b, v) in x.chunks_exact_mut(2).zip(&xs[t][lo..hi]) {
                    b.copy_from_slice(&v.to_le_bytes());
                }
                let x = half8(bf, &x);
                for r in 0..2 {
                    acc[r][t] = _mm256_fmadd_ps(w[r], x, acc[r][t]);
                }
            }
        }
        acc
    }

    /// `half8` from a raw pointer, for the pass kernel's unchecked loop.
    ///
    /// # Safety
    /// 16 bytes are readable at `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn half8_at(bf: bool, p: *const u8) -> __m256 {
        // SAFETY: forwarded from the caller.
        let h = unsafe { _mm_loadu_si128(p as *const __m128i) };
        if bf { _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) } else { _mm256_cvtph_ps(h) }
    }

    /// `super::round_f16_into` in vectors: F16C's conversion rounds to nearest even,
    /// as the `half` crate does.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; `dst` is as long as `x`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn round_f16_into(x: &[f32], dst: &mut [f32]) {
        let n8 = x.len() / 8 * 8;
        for i in (0..n8).step_by(8) {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(load8(&x[i..]));
            // SAFETY: i + 8 <= n8 <= dst.len() (equal lengths: caller).
            unsafe { _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h)) };
        }
        for i in n8..x.len() {
            dst[i] = super::f16_round(x[i]);
        }
    }

    /// `super::group_half_acts` for F16, converting eight values at a time (the
    /// software conversion was 4% of an F16 prompt).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; `out` is as long as `x`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn group_f16_acts(x: &[f32], out: &mut [u16]) {
        let n32 = x.len() / 32 * 32;
        for (c, chunk) in x[..n32].chunks_exact(32).enumerate() {
            for j in 0..4 {
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(load8(&chunk[8 * j..]));
                let at = j * n32 / 4 + 8 * c;
                assert!(at + 8 <= out.len());
                // SAFETY: 8 writable u16 at `at` (asserted).
                unsafe { _mm_storeu_si128(out.as_mut_ptr().add(at) as *mut __m128i, h) };
            }
        }
        for (o, v) in out[n32..].iter_mut().zip(&x[n32..]) {
            *o = half::f16::from_f32(*v).to_bits();
        }
    }

    /// The first 8 values of `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn load8(p: &[f32]) -> __m256 {
        assert!(p.len() >= 8);
        // SAFETY: 8 readable f32 (asserted).
        unsafe { _mm256_loadu_ps(p.as_ptr()) }
    }
}
