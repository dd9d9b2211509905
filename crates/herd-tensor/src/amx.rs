//! Prompt matmuls of k-quant, Q8_0, Q4_0, Q4_1 and half weights on Intel AMX (Sapphire
//! Rapids and later Xeons).
//!
//! An AMX tile multiply (`tdpbusd`/`tdpbssd`) takes a 16-row tile of weight bytes and a
//! tile of activation bytes for 16 tokens and adds 16 x 16 exact i32 dot products of 64
//! values in one instruction: far more integer multiply-adds per cycle than AVX-512
//! VNNI. The sums are the integers the vector kernels make, so the results stay
//! bit-identical to `qdot::dot_kquant_portable` for every token, whatever the batch:
//! - each k-quant sub-block has its own small integer scale. Multiplying it into the
//!   weights when they are decoded (`sc * q`: up to 945 for Q4_K, 1953 for Q5_K, ±4064
//!   for Q6_K) gives one integer weight per value, too wide for a byte, so each is split
//!   into a high and a low byte, `w = 2^s * hi + lo`, and a super-block's
//!   `sum(scale * isum)` is `2^s * (hi · y) + (lo · y)`: two tile products over its 256
//!   values, the same integer, with no per-sub-block work in vector registers (scaling
//!   each sub-block's sums there ran at a fifth of the tile unit's pace);
//! - Q4_K/Q5_K's minimums pair with the activation sums per 32 (`bsums`), by `vpdpwssd`;
//! - the float expression per super-block and token is the portable one, in lanes.
//!
//! Written by hand because the kernels are the product. The tile instructions are inline
//! assembly (Rust's AMX intrinsics are not stable); the operating system must grant the
//! process the tile state first (`arch_prctl(ARCH_REQ_XCOMP_PERM)` on Linux), which
//! `available` asks for once. `HERD_NO_AMX=1` keeps herd on its AVX-512 kernels.
//!
//! Layouts, per super-block of 256 values (four runs of 64, one tile product each):
//! - activations (`Packed`), 16 tokens: `qs[k4][t][4]`, the four values `4*k4..4*k4+4`
//!   of token t side by side, AMX's layout for the right-hand tile (run q is then the
//!   contiguous rows `16q..16q+16`); the scales `d[t]`; Q4_K/Q5_K's activation sums
//!   per 32 as i16 pairs `bp[jj][t][2]` (sub-blocks 2jj and 2jj+1) for `vpdpwssd`;
//! - weights (`Unpacked`), 16 rows: the high and low bytes by run (`hi[q][r][64]`),
//!   the minimums as i16 pairs (`mn[jj][r]`) and the f16 block scales as f32.
//!
//! Q8_0, Q4_0 and Q4_1 (`dot_q8_rows`) have a float scale per 32 values, which no
//! integer folds in: one tile product per block (16 rows of 32 weight bytes, the 4-bit
//! values widened to signed bytes, by 32 values of 16 tokens), each block's exact sums
//! then scaled into f32 in vector registers (and Q4_1's minimum terms summed apart).
//! That is not ggml's order (it adds a block's products as eight partial sums), so only
//! prompt rows take it.

use crate::dtype::{DType, QK_K};
use crate::qdot::q8k_block;
use crate::quant::scale_min_k4;

/// Tokens per tile: the columns of an AMX accumulator tile (16 i32 of 64 bytes).
pub const TILE_TOKENS: usize = 16;
/// Weight rows per tile: the rows of an AMX tile.
pub const TILE_ROWS: usize = 16;

/// One super-block of 16 tokens' activations in AMX's layout (see the module doc).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Packed {
    pub(crate) qs: [u8; QK_K * TILE_TOKENS],
    pub(crate) d: [f32; TILE_TOKENS],
    pub(crate) bp: [i16; 4 * TILE_TOKENS * 2],
    /// The activation sums per 16 as i16 pairs `b16[m][t][2]` (16s 2m and 2m+1): the
    /// `-32` of Q6_K's values on the VNNI path (`crate::vnni`), which multiplies the
    /// stored unsigned values.
    pub(crate) b16: [i16; 8 * TILE_TOKENS * 2],
}

impl Default for Packed {
    fn default() -> Self {
        Packed {
            qs: [0; QK_K * TILE_TOKENS],
            d: [0.0; TILE_TOKENS],
            bp: [0; 4 * TILE_TOKENS * 2],
            b16: [0; 8 * TILE_TOKENS * 2],
        }
    }
}

/// One super-block of 16 weight rows, decoded for the tiles (see the module doc).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Unpacked {
    hi: [u8; QK_K * TILE_ROWS],
    lo: [u8; QK_K * TILE_ROWS],
    mn: [i32; 4 * TILE_ROWS],
    d: [f32; TILE_ROWS],
    dmin: [f32; TILE_ROWS],
}

impl Default for Unpacked {
    fn default() -> Self {
        Unpacked {
            hi: [0; QK_K * TILE_ROWS],
            lo: [0; QK_K * TILE_ROWS],
            mn: [0; 4 * TILE_ROWS],
            d: [0.0; TILE_ROWS],
            dmin: [0.0; TILE_ROWS],
        }
    }
}

/// The bits of the low byte of a decoded weight (`w = 2^LO_BITS * hi + lo`): 5 for
/// Q4_K/Q5_K (unsigned, hi at most 61), 6 for Q6_K (hi signed, -64..=63).
#[cfg(target_arch = "x86_64")]
fn lo_bits(dtype: DType) -> u32 {
    if dtype == DType::Q6K { 6 } else { 5 }
}

/// Token tiles `matmul` packs for `n_tok` tokens: whole pairs (the kernel runs two tiles
/// against each weight tile it loads; a missing one is zeros).
pub fn packed_tiles(n_tok: usize) -> usize {
    n_tok.div_ceil(TILE_TOKENS).next_multiple_of(2)
}

/// Whether `matmul` should take `dtype` through the AMX kernels here: a k-quant, and
/// a CPU and operating system that run them.
pub fn runs(dtype: DType) -> bool {
    matches!(dtype, DType::Q4K | DType::Q5K | DType::Q6K) && available()
}

/// Whether this CPU has AMX-INT8 (with the AVX-512 VNNI the kernels also use), the
/// operating system granted the tile state, and `HERD_NO_AMX` is not set. Asked once.
pub fn available() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            let off = std::env::var_os("HERD_NO_AMX").is_some_and(|v| !v.is_empty() && v != "0");
            // CPUID leaf 7: EDX bit 24 is AMX-TILE, bit 25 AMX-INT8.
            let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
            let cpu = edx >> 24 & 1 == 1 && edx >> 25 & 1 == 1 && crate::simd::has_avx512_vnni();
            !off && cpu && request_tile_state()
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        false
    })
}

/// Linux hands out the 8 KiB of tile registers only on request (since 5.16); without
/// it the first tile instruction faults.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_state() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with ARCH_REQ_XCOMP_PERM takes a feature number and only
    // changes what the kernel lets this process use; no memory is passed.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
}

/// Quantizes one token tile straight into AMX's layout (which `crate::vnni` reads too): `x` holds up to 16 tokens'
/// activations (`cols` each, whole super-blocks), each block by `qdot::q8k_block` as the
/// other k-quant paths take it; the tile's other columns are zeros, whose sums are
/// never read. `out` gets one `Packed` per super-block.
pub fn pack_tile(x: &[f32], cols: usize, out: &mut [Packed]) {
    let n = x.len() / cols.max(1);
    assert!(n <= TILE_TOKENS && n * cols == x.len(), "pack_tile: {} values of {cols} columns", x.len());
    assert_eq!(out.len() * QK_K, cols, "pack_tile: {} super-blocks for {cols} columns", out.len());
    for (i, p) in out.iter_mut().enumerate() {
        if n < TILE_TOKENS {
            *p = Packed::default();
        }
        for t in 0..n {
            let y = q8k_block(&x[t * cols + i * QK_K..][..QK_K]);
            for (k4, q) in y.qs.chunks_exact(4).enumerate() {
                for (b, v) in p.qs[(k4 * TILE_TOKENS + t) * 4..][..4].iter_mut().zip(q) {
                    *b = *v as u8;
                }
            }
            p.d[t] = y.d;
            for j in 0..8 {
                p.bp[(j / 2 * TILE_TOKENS + t) * 2 + j % 2] = y.bsums[2 * j] + y.bsums[2 * j + 1];
            }
            for (g, s) in y.bsums.iter().enumerate() {
                p.b16[(g / 2 * TILE_TOKENS + t) * 2 + g % 2] = *s;
            }
        }
    }
}

/// Decodes super-block `i` of up to 16 weight rows into `u` (missing rows zero): the
/// scalars here, the values in vectors (`x86::unpack_values`).
fn unpack(dtype: DType, rows: &[&[u8]], i: usize, u: &mut Unpacked) {
    if rows.len() < TILE_ROWS {
        *u = Unpacked::default();
    }
    let bb = dtype.row_bytes(QK_K).expect("a k-quant super-block");
    for (r, row) in rows.iter().enumerate() {
        let b = &row[i * bb..(i + 1) * bb];
        // The same super-block sixteen rows on, the next task's (a matrix's rows are
        // contiguous), is asked for while this one is unpacked: the unpacking reads
        // sixteen rows a super-block at a time, which the hardware prefetchers do not
        // follow (1B Q4_K_M, 2 threads: a 16-stream decode step +16%, pp32 +16%).
        #[cfg(target_arch = "x86_64")]
        crate::simd::prefetch_lines(b.as_ptr().wrapping_add(TILE_ROWS * row.len()), bb);
        let k = KScalars::of(dtype, b);
        for (jj, m) in k.mins.into_iter().enumerate() {
            u.mn[jj * TILE_ROWS + r] = m;
        }
        (u.d[r], u.dmin[r]) = (k.d, k.dmin);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: only reached through `dot_rows`, after `runs` checked AVX-512 BW;
        // `b` is one whole super-block of `dtype`, r < 16.
        unsafe {
            x86::unpack_values(dtype, b, &k.sc, r, u)
        };
    }
}

/// The scalars of one k-quant super-block, as the tile paths (`amx`, `crate::vnni`)
/// decode them.
pub(crate) struct KScalars {
    /// Each sub-block's scale (16 of 16 values for Q6_K, signed; 8 of 32 for Q4_K/Q5_K).
    pub sc: [i16; 16],
    /// Q4_K/Q5_K: the mins of sub-blocks 2jj and 2jj+1 as one i32 lane of two i16, as
    /// `vpdpwssd` pairs them with the activation sums (zero for Q6_K).
    pub mins: [i32; 4],
    pub d: f32,
    /// Q4_K/Q5_K's scale of the mins (zero for Q6_K).
    pub dmin: f32,
}

impl KScalars {
    pub fn of(dtype: DType, b: &[u8]) -> KScalars {
        let f16 = |o: usize| half::f16::from_le_bytes([b[o], b[o + 1]]).to_f32();
        let mut k = KScalars { sc: [0; 16], mins: [0; 4], d: 0.0, dmin: 0.0 };
        if dtype == DType::Q6K {
            k.sc.iter_mut().zip(&b[192..208]).for_each(|(s, v)| *s = (*v as i8) as i16);
            k.d = f16(208);
        } else {
            for j in 0..8 {
                let (s, m) = scale_min_k4(j, &b[4..16]);
                k.sc[j] = s as i16;
                k.mins[j / 2] |= ((m as u32) << (16 * (j % 2))) as i32;
            }
            (k.d, k.dmin) = (f16(0), f16(2));
        }
        k
    }
}

thread_local! {
    /// Each worker's decoded weight rows, reused from call to call.
    static SCRATCH: std::cell::RefCell<Vec<Unpacked>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The argument checks of the entry points below and `crate::vnni`'s (`name`, as
/// `amx::dot_rows`, in their messages): their kernel `runs` here for `dtype`; 1-16 rows of one length, in whole units of `unit`
/// bytes (a super-block, a block, 32 half values); `packed` entries, `per_unit` a unit
/// for each tile of 16 of the `n_tok` tokens. Returns the units a row and the tiles.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_rows(
    name: &str,
    runs: bool,
    dtype: DType,
    rows: &[&[u8]],
    unit: usize,
    packed: usize,
    per_unit: usize,
    n_tok: usize,
) -> (usize, usize) {
    assert!(runs, "{name}: no kernel for {dtype:?} here");
    assert!(!rows.is_empty() && rows.len() <= TILE_ROWS, "{name}: {} rows", rows.len());
    let units = rows[0].len() / unit;
    assert!(rows.iter().all(|r| r.len() == units * unit), "{name}: rows of other lengths or ragged");
    let tiles = packed_tiles(n_tok);
    assert_eq!(packed, tiles * units * per_unit, "{name}: packed activations for another shape");
    (units, tiles)
}

/// `put(t, v)` with `v[r] = dot(rows[r], token t)` for up to 16 weight rows of `dtype`
/// (whole super-blocks; `v` is zero past them) and every token of `packed`
/// (`packed_tiles(n_tok)` token tiles, one `Packed` per super-block each, tile-major),
/// stopping at `n_tok` tokens.
///
/// # Panics
/// If `available()` is false, or the sizes disagree.
pub fn dot_rows(
    dtype: DType,
    rows: &[&[u8]],
    packed: &[Packed],
    n_tok: usize,
    put: impl FnMut(usize, &[f32; TILE_ROWS]),
) {
    let unit = dtype.row_bytes(QK_K).expect("a k-quant");
    let (blocks, tiles) = check_rows("amx::dot_rows", runs(dtype), dtype, rows, unit, packed.len(), 1, n_tok);
    // Off x86 `check_rows` has panicked already (no AMX there).
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (tiles, put);
    SCRATCH.with_borrow_mut(|w| {
        if w.len() < blocks {
            w.resize(blocks, Unpacked::default());
        }
        for (i, u) in w[..blocks].iter_mut().enumerate() {
            unpack(dtype, rows, i, u);
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `runs` checked AMX-INT8, AVX-512 F/BW/VL/VNNI and the tile permission;
        // the tiles are configured for `dtype` inside, and `w`/`packed` hold `blocks`
        // super-blocks per tile (asserted above).
        unsafe {
            x86::dot_tiles(dtype, &w[..blocks], packed, tiles, n_tok, put)
        };
    });
}

/// Whether `MatMul::matmul_prompt` takes half weights (F16, BF16) through AMX-BF16 tile
/// multiplies here (see `dot_half_rows`), a CPU with AMX-BF16 besides `available`.
pub fn runs_half(dtype: DType) -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    matches!(dtype, DType::F16 | DType::BF16)
        && *HAS.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                // CPUID leaf 7: EDX bit 22 is AMX-BF16.
                available() && std::arch::x86_64::__cpuid_count(7, 0).edx >> 22 & 1 == 1
            }
            #[cfg(not(target_arch = "x86_64"))]
            false
        })
}

/// The bf16 parts a half value is split into for the tiles: an f16 value (11
/// significant bits) is its top 8 bits (`hi`, the f32's upper half) plus the rest (`lo`,
/// at most 3 significant bits), both exact bf16 values; a bf16 value is itself.
fn half_parts(dtype: DType) -> usize {
    if dtype == DType::F16 { 2 } else { 1 }
}

/// `u16`s of one tile of 16 tokens' activations packed by `pack_half_tile`.
pub fn half_tile_len(dtype: DType, cols: usize) -> usize {
    half_parts(dtype) * cols * TILE_TOKENS
}

/// Packs up to 16 tokens' activations (`x`, `cols` each, a multiple of 32) for
/// `dot_half_rows`: each value rounded to `dtype` as `qdot::round_half_into` rounds it
/// (the vec_dot type llama.cpp gives half weights), split into its bf16 parts, in AMX's
/// layout for the right-hand tile: part p, run q of 32 values, pair kk, token t:
/// `out[((p * runs + q) * 16 + kk) * 32 + 2t + j]` holds value `32q + 2kk + j`. Missing
/// tokens are zeros.
pub fn pack_half_tile(dtype: DType, x: &[f32], cols: usize, out: &mut [u16]) {
    let n = x.len() / cols.max(1);
    assert!(cols.is_multiple_of(32) && n <= TILE_TOKENS && n * cols == x.len(), "pack_half_tile: {} values", x.len());
    assert_eq!(out.len(), half_tile_len(dtype, cols), "pack_half_tile: wrong output length");
    if n < TILE_TOKENS {
        out.fill(0);
    }
    let runs = cols / 32;
    let mut rounded = [0f32; 32];
    for t in 0..n {
        for q in 0..runs {
            crate::qdot::round_half_into(dtype, &x[t * cols + 32 * q..][..32], &mut rounded);
            for (k, v) in rounded.iter().enumerate() {
                let (hi, lo) = split_bf16(*v);
                let at = (q * 16 + k / 2) * 32 + 2 * t + k % 2;
                out[at] = hi;
                if dtype == DType::F16 {
                    out[at + runs * 512] = lo;
                }
            }
        }
    }
}

/// `v`'s upper 16 bits, and those of what remains (exactly `v` for an f16 or bf16 value;
/// see `half_parts`).
fn split_bf16(v: f32) -> (u16, u16) {
    let hi = v.to_bits() >> 16;
    let lo = v - f32::from_bits(hi << 16);
    (hi as u16, (lo.to_bits() >> 16) as u16)
}

thread_local! {
    /// Each worker's bf16 parts of its half weight rows, reused from call to call.
    static HALF_SCRATCH: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `put(t, v)` with `v[r] = dot(rows[r], token t)` for up to 16 F16 or BF16 weight rows
/// (`v` is zero past them) and every token of `packed` (`packed_tiles(n_tok)` tiles
/// of `half_tile_len` values from `pack_half_tile`), stopping at `n_tok` tokens.
///
/// Each product of a weight and an activation is exact (the products of their bf16
/// parts are, and together they are the product), summed in f32 in the tile unit's
/// order: not the one-token kernel's order, so a token's last bits differ from
/// `qdot::vec_dot_half`'s (the test below bounds the difference against an f64 sum);
/// `MatMul` takes this path only for prompt rows.
///
/// # Panics
/// If `runs_half(dtype)` is false, or the sizes disagree.
pub fn dot_half_rows(
    dtype: DType,
    rows: &[&[u8]],
    packed: &[u16],
    n_tok: usize,
    put: impl FnMut(usize, &[f32; TILE_ROWS]),
) {
    let per_run = half_tile_len(dtype, 32);
    let (runs32, tiles) =
        check_rows("amx::dot_half_rows", runs_half(dtype), dtype, rows, 64, packed.len(), per_run, n_tok);
    // Off x86 `check_rows` has panicked already (no AMX there).
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (tiles, put);
    let cols = 32 * runs32;
    HALF_SCRATCH.with_borrow_mut(|w| {
        let len = half_parts(dtype) * cols * TILE_ROWS;
        if w.len() < len {
            w.resize(len, 0);
        }
        let w = &mut w[..len];
        if rows.len() < TILE_ROWS {
            w.fill(0);
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `runs_half` checked AMX-BF16 and AVX-512 F/BW/VL and the tile
        // permission; `w` holds the parts of 16 rows of `cols` values and `packed`
        // `tiles` tiles of them (asserted above), `cols` a multiple of 32.
        unsafe {
            for (r, row) in rows.iter().enumerate() {
                x86::split_half_row(dtype == DType::F16, row, r, w);
            }
            x86::dot_half_tiles(dtype == DType::F16, w, packed, cols, tiles, n_tok, put)
        };
    });
}

/// One block of 32 values of 16 tokens' 8-bit activations for `dot_q8_rows`: the
/// values in AMX's layout for the right-hand tile (`qs[k][4t + i]` is value `4k + i` of
/// token t: 8 rows of 64 bytes), each token's scale and its scaled sum (Q8_1's `s`,
/// which Q4_1's minimum multiplies).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct PackedQ8 {
    pub(crate) qs: [[i8; 64]; 8],
    pub(crate) d: [f32; TILE_TOKENS],
    pub(crate) s: [f32; TILE_TOKENS],
    /// Each token's sum of its 32 values, exact: `crate::vnni` multiplies the weights
    /// as unsigned bytes and takes their offset back with it.
    pub(crate) isum: [i32; TILE_TOKENS],
}

impl Default for PackedQ8 {
    fn default() -> Self {
        PackedQ8 { qs: [[0; 64]; 8], d: [0.0; TILE_TOKENS], s: [0.0; TILE_TOKENS], isum: [0; TILE_TOKENS] }
    }
}

/// One block of 32 values of 16 weight rows for the tiles: the values as signed bytes
/// row by row (the left-hand tile, 16 rows of 32 bytes), the rows' scales and (Q4_1)
/// minimums.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct UnpackedQ8 {
    qs: [[i8; 32]; TILE_ROWS],
    d: [f32; TILE_ROWS],
    m: [f32; TILE_ROWS],
}

impl Default for UnpackedQ8 {
    fn default() -> Self {
        UnpackedQ8 { qs: [[0; 32]; TILE_ROWS], d: [0.0; TILE_ROWS], m: [0.0; TILE_ROWS] }
    }
}

/// Whether `MatMul::matmul_prompt` takes weights of `dtype` (Q8_0, Q4_0, Q4_1) through
/// AMX-INT8 tile multiplies here (see `dot_q8_rows`).
pub fn runs_q8(dtype: DType) -> bool {
    matches!(dtype, DType::Q8_0 | DType::Q4_0 | DType::Q4_1) && available()
}

/// Block `b` of `dtype` (Q8_0, Q4_0 or Q4_1; Q5_0 for the tests) as row `r` of `u`: its 32 values as signed
/// bytes in order (a 4-bit block's low nibbles are values 0-15, its high nibbles 16-31;
/// Q4_0's less 8), its scale and minimum.
fn unpack_block(dtype: DType, b: &[u8], r: usize, u: &mut UnpackedQ8) {
    let f16 = |o: usize| half::f16::from_le_bytes([b[o], b[o + 1]]).to_f32();
    u.d[r] = f16(0);
    let q = &mut u.qs[r];
    let nibbles = |q: &mut [i8; 32], bytes: &[u8], bias: i8| {
        let (lo, hi) = q.split_at_mut(16);
        for ((l, h), v) in lo.iter_mut().zip(hi).zip(bytes) {
            (*l, *h) = ((v & 0x0F) as i8 - bias, (v >> 4) as i8 - bias);
        }
    };
    match dtype {
        DType::Q8_0 => q.iter_mut().zip(&b[2..34]).for_each(|(q, v)| *q = *v as i8),
        DType::Q4_0 => nibbles(q, &b[2..18], 8),
        // No AMX kernel takes Q5_0 (`runs_q8`); the tests' reference decodes it here
        // for `crate::vnni`'s.
        DType::Q5_0 => *q = crate::qdot::q5_0_values(b),
        DType::Q4_1 => {
            u.m[r] = f16(2);
            nibbles(q, &b[4..20], 0);
        }
        _ => unreachable!("unpack_block: {dtype:?} is not a 32-value block type"),
    }
}

/// Quantizes up to 16 tokens' activations (`x`, `cols` each, a multiple of 32) as 8-bit
/// blocks with their scaled and integer sums (`qdot::q8_block`, as the vector kernels quantize them
/// for Q8_0, Q4_0 and Q4_1 weights) into AMX's layout, one `PackedQ8` per block; missing
/// tokens are zeros.
pub fn pack_q8_tile(x: &[f32], cols: usize, out: &mut [PackedQ8]) {
    let n = x.len() / cols.max(1);
    assert!(cols.is_multiple_of(32) && n <= TILE_TOKENS && n * cols == x.len(), "pack_q8_tile: {} values", x.len());
    assert_eq!(out.len(), cols / 32, "pack_q8_tile: not one entry per block");
    if n < TILE_TOKENS {
        out.fill(PackedQ8::default());
    }
    for t in 0..n {
        for (p, blk) in out.iter_mut().zip(x[t * cols..(t + 1) * cols].chunks_exact(32)) {
            let b = crate::qdot::q8_block(blk);
            (p.d[t], p.s[t]) = (b.d, b.s);
            p.isum[t] = b.qs.iter().map(|q| *q as i32).sum();
            for (k, q) in b.qs.chunks_exact(4).enumerate() {
                p.qs[k][4 * t..4 * t + 4].copy_from_slice(q);
            }
        }
    }
}

thread_local! {
    /// Each worker's decoded weight rows, reused from call to call.
    static Q8_SCRATCH: std::cell::RefCell<Vec<UnpackedQ8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `put(t, v)` with `v[r] = dot(rows[r], token t)` for up to 16 weight rows of `dtype`
/// (Q8_0, Q4_0, Q4_1; `v` is zero past them) and every token of `packed`
/// (`packed_tiles(n_tok)` tiles of one `PackedQ8` per block, from `pack_q8_tile`),
/// stopping at `n_tok` tokens.
///
/// A block's 32 products are summed exactly by the tile unit, then taken into the
/// token's f32 sum as `fma(isum, dw * dx, sum)`, block after block, and Q4_1's minimum
/// terms into their own sum as `fma(m, s, msum)`, added last: ggml sums a block's
/// products in eight partial sums and adds those as floats, so a token's last bits
/// differ from `qdot::vec_dot`'s (the test below holds the kernel to a scalar loop of
/// its order bit for bit, and to `vec_dot` within 1e-5);
/// `MatMul` takes this path only for prompt rows.
///
/// # Panics
/// If `runs_q8(dtype)` is false, or the sizes disagree.
pub fn dot_q8_rows(
    dtype: DType,
    rows: &[&[u8]],
    packed: &[PackedQ8],
    n_tok: usize,
    put: impl FnMut(usize, &[f32; TILE_ROWS]),
) {
    let bb = dtype.block_bytes();
    let (blocks, tiles) = check_rows("amx::dot_q8_rows", runs_q8(dtype), dtype, rows, bb, packed.len(), 1, n_tok);
    // Off x86 `check_rows` has panicked already (no AMX there).
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (tiles, put);
    Q8_SCRATCH.with_borrow_mut(|w| {
        // Zeroed whole every call, rows past `rows.len()` included: zeroing only when
        // fewer than 16 rows came, as the half path does, measured 5% slower (1B Q8_0
        // pp512 at 2 threads, 237 against 225 t/s): writing whole blocks first seems to
        // bring the scratch in for the row-by-row fill below.
        w.clear();
        w.resize(blocks, UnpackedQ8::default());
        for (r, row) in rows.iter().enumerate() {
            for (u, b) in w.iter_mut().zip(row.chunks_exact(bb)) {
                unpack_block(dtype, b, r, u);
            }
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `runs_q8` checked AMX-INT8, AVX-512 F/BW/VL/VNNI and the tile
        // permission; `w` holds `blocks` decoded blocks and `packed` `tiles` tiles of
        // them (asserted above), `n_tok <= 16 * tiles`.
        unsafe {
            if dtype == DType::Q4_1 {
                x86::dot_q8_tiles::<true>(w, packed, tiles, n_tok, put)
            } else {
                x86::dot_q8_tiles::<false>(w, packed, tiles, n_tok, put)
            }
        };
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Packed, PackedQ8, TILE_ROWS, TILE_TOKENS, Unpacked, UnpackedQ8};
    use crate::dtype::DType;
    use crate::qdot::avx2::{q6k_values, q45k_values};
    use std::arch::asm;
    use std::arch::x86_64::*;

    /// AMX's 64-byte tile configuration (palette 1).
    #[repr(C, align(64))]
    struct TileConfig {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        colsb: [u16; 16],
        rows: [u8; 16],
    }

    /// A palette-1 configuration of the first eight tiles (the entries of the other
    /// eight must be zero).
    const fn config(colsb: [u16; 8], rows: [u8; 8]) -> TileConfig {
        let mut c = TileConfig { palette: 1, start_row: 0, reserved: [0; 14], colsb: [0; 16], rows: [0; 16] };
        let mut i = 0;
        while i < 8 {
            c.colsb[i] = colsb[i];
            c.rows[i] = rows[i];
            i += 1;
        }
        c
    }

    /// `put(t, v)` for the tokens of a tile's sums (`sum[r]` lane t: row r, token
    /// `first + t`) below `n_tok`, each token's 16 rows together.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn put_tile(sum: &[__m512; TILE_ROWS], first: usize, n_tok: usize, put: &mut impl FnMut(usize, &[f32; TILE_ROWS])) {
        let mut m = [[0f32; TILE_TOKENS]; TILE_ROWS];
        for (r, s) in sum.iter().enumerate() {
            // SAFETY: 16 writable f32.
            unsafe { _mm512_storeu_ps(m[r].as_mut_ptr(), *s) };
        }
        put_rows(&m, first, n_tok, put);
    }

    /// `put(t, v)` for the tokens of a tile's sums in memory (`m[r][t]`: row r, token
    /// `first + t`) below `n_tok`.
    fn put_rows(
        m: &[[f32; TILE_TOKENS]; TILE_ROWS],
        first: usize,
        n_tok: usize,
        put: &mut impl FnMut(usize, &[f32; TILE_ROWS]),
    ) {
        for t in 0..TILE_TOKENS.min(n_tok - first) {
            put(first + t, &std::array::from_fn(|r| m[r][t]));
        }
    }

    /// Every tile is 16 rows of 64 bytes: tmm0..tmm3 the sums (high and low bytes'
    /// products for two token tiles), tmm4 the high and tmm7 the low weight bytes of one
    /// run of 64 values, tmm5 and tmm6 the two token tiles' activations of that run.
    const CONFIG: TileConfig = config([64; 8], [16; 8]);

    /// One run of 64 values for 16 weight rows and two token tiles: tmm0/tmm1 += high
    /// bytes at `hi` · activations at `x0`/`x1`, tmm2/tmm3 += low bytes at `lo` · the
    /// same (tiles of 16 rows, 64 bytes apart). The high bytes are signed (`tdpbssd`)
    /// for Q6_K, unsigned otherwise; the low bytes are always unsigned.
    macro_rules! run64 {
        ($hi_op:literal, $hi:expr, $lo:expr, $x0:expr, $x1:expr) => {
            asm!(
                "tileloadd tmm4, [{hi} + {s64}*1]",
                "tileloadd tmm5, [{x0} + {s64}*1]",
                "tileloadd tmm6, [{x1} + {s64}*1]",
                "tileloadd tmm7, [{lo} + {s64}*1]",
                concat!($hi_op, " tmm0, tmm4, tmm5"),
                concat!($hi_op, " tmm1, tmm4, tmm6"),
                "tdpbusd tmm2, tmm7, tmm5",
                "tdpbusd tmm3, tmm7, tmm6",
                hi = in(reg) $hi,
                lo = in(reg) $lo,
                x0 = in(reg) $x0,
                x1 = in(reg) $x1,
                s64 = in(reg) 64usize,
                options(nostack, readonly),
            )
        };
        // The first token tile only (the pair's second is padding): tmm0 and tmm2.
        ($hi_op:literal, $hi:expr, $lo:expr, $x0:expr) => {
            asm!(
                "tileloadd tmm4, [{hi} + {s64}*1]",
                "tileloadd tmm5, [{x0} + {s64}*1]",
                "tileloadd tmm7, [{lo} + {s64}*1]",
                concat!($hi_op, " tmm0, tmm4, tmm5"),
                "tdpbusd tmm2, tmm7, tmm5",
                hi = in(reg) $hi,
                lo = in(reg) $lo,
                x0 = in(reg) $x0,
                s64 = in(reg) 64usize,
                options(nostack, readonly),
            )
        };
    }

    /// Run `q` of row `r`: its 64 scaled values (two vectors of 32 i16) split into
    /// high (shifted right by `shift`, arithmetically where `signed`) and low bytes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn store_split(w: [__m512i; 2], signed: bool, shift: u32, u: &mut Unpacked, q: usize, r: usize) {
        let mask = _mm512_set1_epi16((1 << shift) - 1);
        let sh = _mm_cvtsi32_si128(shift as i32);
        let at = (q * TILE_ROWS + r) * 64;
        for (h, w) in w.into_iter().enumerate() {
            let hi = if signed { _mm512_sra_epi16(w, sh) } else { _mm512_srl_epi16(w, sh) };
            let lo = _mm512_and_si512(w, mask);
            // SAFETY: 32 writable bytes at `at + 32h` of each 4 KiB array (q < 4, r < 16).
            unsafe {
                _mm256_storeu_si256(u.hi[at + 32 * h..].as_mut_ptr() as *mut __m256i, _mm512_cvtepi16_epi8(hi));
                _mm256_storeu_si256(u.lo[at + 32 * h..].as_mut_ptr() as *mut __m256i, _mm512_cvtepi16_epi8(lo));
            }
        }
    }

    /// Row `r` of `u`: the 256 values of super-block `b` (decoded by `qdot::avx2`'s
    /// `q45k_values`/`q6k_values`, in the portable code's value order) times their
    /// sub-block scales `sc`, split into high and low bytes (see the module doc).
    ///
    /// # Safety
    /// AVX-512 F and BW must be present; `b` is one super-block of `dtype`, `r < 16`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn unpack_values(dtype: DType, b: &[u8], sc: &[i16; 16], r: usize, u: &mut Unpacked) {
        let wide = |v: __m256i| _mm512_cvtepu8_epi16(v);
        // 32 values of one scale, or 16 and 16 of two.
        let scale = |a: i16, b: i16| _mm512_inserti64x4::<1>(_mm512_set1_epi16(a), _mm256_set1_epi16(b));
        let shift = super::lo_bits(dtype);
        if dtype == DType::Q6K {
            let b32 = _mm512_set1_epi16(32);
            for h in 0..2 {
                let v = q6k_values(&b[h * 64..h * 64 + 64], &b[128 + h * 32..128 + h * 32 + 32]);
                for s in 0..2 {
                    let q = 2 * h + s;
                    let w = [0, 1].map(|k| {
                        let g = 4 * q + 2 * k;
                        _mm512_mullo_epi16(_mm512_sub_epi16(wide(v[2 * s + k]), b32), scale(sc[g], sc[g + 1]))
                    });
                    store_split(w, true, shift, u, q, r);
                }
            }
            return;
        }
        let q5 = dtype == DType::Q5K;
        let (qh, qs) = if q5 { (&b[16..48], &b[48..176]) } else { (&b[0..0], &b[16..144]) };
        // SAFETY: Q5_K's 32 high-bit bytes (only read for Q5_K).
        let hbits =
            if q5 { unsafe { _mm256_loadu_si256(qh.as_ptr() as *const __m256i) } } else { _mm256_setzero_si256() };
        for c in 0..4 {
            let (lo, hi) = if q5 { q45k_values::<true>(qs, hbits, c) } else { q45k_values::<false>(qs, hbits, c) };
            let w = [(lo, sc[2 * c]), (hi, sc[2 * c + 1])].map(|(v, s)| _mm512_mullo_epi16(wide(v), scale(s, s)));
            store_split(w, false, shift, u, c, r);
        }
    }

    /// The dots of 16 decoded weight rows (`w`, one per super-block) with `tiles` tiles
    /// of 16 tokens (`packed`, tile-major, an even number) holding `n_tok` tokens:
    /// `put(t, v)` with token t's dots with the 16 rows, for each t < n_tok. A pair
    /// whose second tile is padding (16 tokens: a decode step of 16 streams)
    /// multiplies and sums only its first: half the tile work.
    ///
    /// # Safety
    /// AMX-INT8 and AVX-512 F/BW/VL/VNNI must be present and the tile state granted;
    /// `packed.len() == tiles * w.len()`, `tiles` even, `n_tok <= 16 * tiles`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn dot_tiles(
        dtype: DType,
        w: &[Unpacked],
        packed: &[Packed],
        tiles: usize,
        n_tok: usize,
        mut put: impl FnMut(usize, &[f32; TILE_ROWS]),
    ) {
        let q6 = dtype == DType::Q6K;
        let real = n_tok.div_ceil(TILE_TOKENS);
        let shift = _mm_cvtsi32_si128(super::lo_bits(dtype) as i32);
        // SAFETY: a valid palette-1 configuration; the caller guarantees AMX and the
        // tile permission.
        unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
        // The four sum tiles of one super-block: [high, low][token tile][row][token].
        let mut cbuf = [[[[0i32; TILE_TOKENS]; TILE_ROWS]; 2]; 2];
        let blocks = w.len();
        for pair in 0..tiles / 2 {
            // Token tiles of this pair that hold tokens (1 or 2).
            let n = real.saturating_sub(2 * pair).min(2);
            let mut sum = [[_mm512_setzero_ps(); TILE_ROWS]; 2];
            for (i, u) in w.iter().enumerate() {
                let ps = [&packed[2 * pair * blocks + i], &packed[(2 * pair + 1) * blocks + i]];
                // SAFETY: tile instructions on configured tiles only.
                unsafe {
                    asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem))
                };
                for q in 0..4 {
                    let (hi, lo) = (u.hi[q * 1024..].as_ptr(), u.lo[q * 1024..].as_ptr());
                    let (x0, x1) = (ps[0].qs[q * 1024..].as_ptr(), ps[1].qs[q * 1024..].as_ptr());
                    // SAFETY: each pointer starts 1 KiB (16 rows of 64 bytes) of run q.
                    unsafe {
                        match (q6, n == 2) {
                            (true, true) => run64!("tdpbssd", hi, lo, x0, x1),
                            (false, true) => run64!("tdpbusd", hi, lo, x0, x1),
                            (true, false) => run64!("tdpbssd", hi, lo, x0),
                            (false, false) => run64!("tdpbusd", hi, lo, x0),
                        }
                    }
                }
                let c = cbuf.as_mut_ptr() as *mut u8;
                // SAFETY: cbuf is 4 KiB: the four 1 KiB tiles in order, [high, low] x
                // [token tile]; the second token tile's sums only where it holds tokens.
                unsafe {
                    asm!(
                        "tilestored [{c} + {s64}*1], tmm0",
                        "tilestored [{c2} + {s64}*1], tmm2",
                        c = in(reg) c,
                        c2 = in(reg) c.add(2048),
                        s64 = in(reg) 64usize,
                        options(nostack),
                    );
                    if n == 2 {
                        asm!(
                            "tilestored [{c1} + {s64}*1], tmm1",
                            "tilestored [{c3} + {s64}*1], tmm3",
                            c1 = in(reg) c.add(1024),
                            c3 = in(reg) c.add(3072),
                            s64 = in(reg) 64usize,
                            options(nostack),
                        );
                    }
                };
                for (tt, p) in ps.iter().enumerate().take(n) {
                    // SAFETY: 16 readable f32.
                    let yd = unsafe { _mm512_loadu_ps(p.d.as_ptr()) };
                    let bp: [__m512i; 4] = std::array::from_fn(|jj| {
                        // SAFETY: 32 readable i16 (sub-blocks 2jj and 2jj+1 of 16 tokens).
                        unsafe { _mm512_loadu_si512(p.bp[jj * 32..].as_ptr() as *const __m512i) }
                    });
                    for r in 0..TILE_ROWS {
                        // SAFETY: row r of the high and low sums of token tile tt.
                        let (h, l) = unsafe {
                            (
                                _mm512_loadu_si512(cbuf[0][tt][r].as_ptr() as *const __m512i),
                                _mm512_loadu_si512(cbuf[1][tt][r].as_ptr() as *const __m512i),
                            )
                        };
                        let tot = _mm512_add_epi32(_mm512_sll_epi32(h, shift), l);
                        // `d * y.d * total as f32`, in that order, as the portable code.
                        let x = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(u.d[r]), yd), _mm512_cvtepi32_ps(tot));
                        let x = if q6 {
                            x
                        } else {
                            let mut mins = _mm512_setzero_si512();
                            for (jj, v) in bp.iter().enumerate() {
                                mins = _mm512_dpwssd_epi32(mins, *v, _mm512_set1_epi32(u.mn[jj * TILE_ROWS + r]));
                            }
                            let dm = _mm512_mul_ps(_mm512_set1_ps(u.dmin[r]), yd);
                            _mm512_sub_ps(x, _mm512_mul_ps(dm, _mm512_cvtepi32_ps(mins)))
                        };
                        sum[tt][r] = _mm512_add_ps(sum[tt][r], x);
                    }
                }
            }
            for (tt, sum) in sum.iter().enumerate().take(n) {
                put_tile(sum, (2 * pair + tt) * TILE_TOKENS, n_tok, &mut put);
            }
        }
        // SAFETY: gives the tile state back; nothing reads the tiles after this.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }

    /// Every tile is 16 rows of 64 bytes: tmm0 and tmm1 the f32 sums of two token
    /// tiles; tmm2 and tmm3 the weights' high and low bf16 parts for a run of 32 values;
    /// tmm4/tmm5 and tmm6/tmm7 the two token tiles' high and low parts of that run.
    macro_rules! half_run {
        // F16, two token tiles: the four products of the parts into each sum.
        (f16 2, $ah:expr, $al:expr, $b0h:expr, $b0l:expr, $b1h:expr, $b1l:expr) => {
            asm!(
                "tileloadd tmm2, [{ah} + {s64}*1]",
                "tileloadd tmm4, [{b0h} + {s64}*1]",
                "tileloadd tmm6, [{b1h} + {s64}*1]",
                "tdpbf16ps tmm0, tmm2, tmm4",
                "tileloadd tmm5, [{b0l} + {s64}*1]",
                "tdpbf16ps tmm1, tmm2, tmm6",
                "tileloadd tmm7, [{b1l} + {s64}*1]",
                "tdpbf16ps tmm0, tmm2, tmm5",
                "tileloadd tmm3, [{al} + {s64}*1]",
                "tdpbf16ps tmm1, tmm2, tmm7",
                "tdpbf16ps tmm0, tmm3, tmm4",
                "tdpbf16ps tmm1, tmm3, tmm6",
                "tdpbf16ps tmm0, tmm3, tmm5",
                "tdpbf16ps tmm1, tmm3, tmm7",
                ah = in(reg) $ah, al = in(reg) $al,
                b0h = in(reg) $b0h, b0l = in(reg) $b0l, b1h = in(reg) $b1h, b1l = in(reg) $b1l,
                s64 = in(reg) 64usize,
                options(nostack, readonly),
            )
        };
        (f16 1, $ah:expr, $al:expr, $b0h:expr, $b0l:expr) => {
            asm!(
                "tileloadd tmm2, [{ah} + {s64}*1]",
                "tileloadd tmm4, [{b0h} + {s64}*1]",
                "tileloadd tmm5, [{b0l} + {s64}*1]",
                "tileloadd tmm3, [{al} + {s64}*1]",
                "tdpbf16ps tmm0, tmm2, tmm4",
                "tdpbf16ps tmm0, tmm2, tmm5",
                "tdpbf16ps tmm0, tmm3, tmm4",
                "tdpbf16ps tmm0, tmm3, tmm5",
                ah = in(reg) $ah, al = in(reg) $al, b0h = in(reg) $b0h, b0l = in(reg) $b0l,
                s64 = in(reg) 64usize,
                options(nostack, readonly),
            )
        };
        // BF16: one part each.
        (bf16 2, $ah:expr, $b0h:expr, $b1h:expr) => {
            asm!(
                "tileloadd tmm2, [{ah} + {s64}*1]",
                "tileloadd tmm4, [{b0h} + {s64}*1]",
                "tileloadd tmm6, [{b1h} + {s64}*1]",
                "tdpbf16ps tmm0, tmm2, tmm4",
                "tdpbf16ps tmm1, tmm2, tmm6",
                ah = in(reg) $ah, b0h = in(reg) $b0h, b1h = in(reg) $b1h,
                s64 = in(reg) 64usize,
                options(nostack, readonly),
            )
        };
        (bf16 1, $ah:expr, $b0h:expr) => {
            asm!(
                "tileloadd tmm2, [{ah} + {s64}*1]",
                "tileloadd tmm4, [{b0h} + {s64}*1]",
                "tdpbf16ps tmm0, tmm2, tmm4",
                ah = in(reg) $ah, b0h = in(reg) $b0h,
                s64 = in(reg) 64usize,
                options(nostack, readonly),
            )
        };
    }

    /// Row `r` of `w` (see `super::dot_half_rows`'s scratch): a weight row's values as
    /// bf16 parts, part p of run q at `((p * runs + q) * 16 + r) * 32`, the left-hand
    /// tile's layout (a tile row is a weight row's 32 values of the run). An f16 value
    /// is widened exactly to f32, its upper half is `hi` and what remains, exact, `lo`
    /// (as `super::split_bf16`); a bf16 value is copied.
    ///
    /// # Safety
    /// AVX-512 F and BW must be present; `row` holds a multiple of 32 values of 2 bytes,
    /// `r < 16` and `w` the parts of 16 such rows.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn split_half_row(f16: bool, row: &[u8], r: usize, w: &mut [u16]) {
        let runs = row.len() / 64;
        assert!(w.len() >= (1 + usize::from(f16)) * runs * 512 && r < 16, "split_half_row: scratch too small");
        let top = _mm512_set1_epi32(0xffff_0000u32 as i32);
        for q in 0..runs {
            let at = (q * 16 + r) * 32;
            // SAFETY: 64 readable bytes of run q; 64 writable bytes at `at` (and at
            // `at + runs * 512` for the low parts), inside `w` (asserted).
            unsafe {
                let src = row.as_ptr().add(64 * q);
                if !f16 {
                    _mm512_storeu_si512(
                        w.as_mut_ptr().add(at) as *mut __m512i,
                        _mm512_loadu_si512(src as *const __m512i),
                    );
                    continue;
                }
                for h in 0..2 {
                    let x = _mm512_cvtph_ps(_mm256_loadu_si256(src.add(32 * h) as *const __m256i));
                    let hi = _mm512_and_si512(_mm512_castps_si512(x), top);
                    let lo = _mm512_sub_ps(x, _mm512_castsi512_ps(hi));
                    let dst = w.as_mut_ptr().add(at + 16 * h);
                    _mm256_storeu_si256(dst as *mut __m256i, _mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(hi)));
                    let lo = _mm512_srli_epi32::<16>(_mm512_castps_si512(lo));
                    _mm256_storeu_si256(dst.add(runs * 512) as *mut __m256i, _mm512_cvtepi32_epi16(lo));
                }
            }
        }
    }

    /// The dots of 16 weight rows (`w`, from `split_half_row`) with `tiles` tiles of 16
    /// tokens (`packed`, from `pack_half_tile`, an even number) holding `n_tok` tokens:
    /// `put(t, v)` with token t's dots with the 16 rows, for each t < n_tok. A pair
    /// whose second tile is padding multiplies only its first.
    ///
    /// # Safety
    /// AMX-BF16 and AVX-512 F must be present and the tile state granted; `w` holds
    /// the parts of 16 rows of `cols` values, `packed` `tiles` tiles of them, `cols` a
    /// multiple of 32, `tiles` even and `n_tok <= 16 * tiles`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_half_tiles(
        f16: bool,
        w: &[u16],
        packed: &[u16],
        cols: usize,
        tiles: usize,
        n_tok: usize,
        mut put: impl FnMut(usize, &[f32; TILE_ROWS]),
    ) {
        let runs = cols / 32;
        let real = n_tok.div_ceil(TILE_TOKENS);
        let tile_len = (1 + usize::from(f16)) * runs * 512;
        assert!(w.len() >= tile_len && packed.len() >= tiles * tile_len, "dot_half_tiles: short buffers");
        // SAFETY: a valid palette-1 configuration; the caller guarantees AMX and the
        // tile permission.
        unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
        let mut c = [[[0f32; TILE_TOKENS]; TILE_ROWS]; 2];
        let lo = runs * 512;
        for pair in 0..tiles / 2 {
            let n = real.saturating_sub(2 * pair).min(2);
            let (x0, x1) = (packed[2 * pair * tile_len..].as_ptr(), packed[(2 * pair + 1) * tile_len..].as_ptr());
            // SAFETY: tile instructions on configured tiles only.
            unsafe { asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem)) };
            for q in 0..runs {
                let (a, b0, b1) = (w[q * 512..].as_ptr(), x0.wrapping_add(q * 512), x1.wrapping_add(q * 512));
                // SAFETY: each pointer starts 1 KiB (16 rows of 64 bytes) of run q's
                // part inside `w` or its token tile (lengths asserted above).
                unsafe {
                    match (f16, n == 2) {
                        (true, true) => {
                            half_run!(f16 2, a, a.add(lo), b0, b0.add(lo), b1, b1.add(lo))
                        }
                        (true, false) => half_run!(f16 1, a, a.add(lo), b0, b0.add(lo)),
                        (false, true) => half_run!(bf16 2, a, b0, b1),
                        (false, false) => half_run!(bf16 1, a, b0),
                    }
                }
            }
            let cp = c.as_mut_ptr() as *mut u8;
            // SAFETY: `c` is two 1 KiB tiles of 16 rows of 64 bytes.
            unsafe {
                asm!(
                    "tilestored [{c0} + {s64}*1], tmm0",
                    "tilestored [{c1} + {s64}*1], tmm1",
                    c0 = in(reg) cp,
                    c1 = in(reg) cp.add(1024),
                    s64 = in(reg) 64usize,
                    options(nostack),
                )
            };
            for (tt, c) in c.iter().enumerate().take(n) {
                put_rows(c, (2 * pair + tt) * TILE_TOKENS, n_tok, &mut put);
            }
        }
        // SAFETY: gives the tile state back; nothing reads the tiles after this.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }

    /// The Q8_0 tiles: tmm0 and tmm1 the sums of two blocks (16 rows by 16 tokens),
    /// tmm2 and tmm3 their weights (16 rows of 32 bytes), tmm4 and tmm5 their
    /// activations (8 rows of 64 bytes: 32 values of 16 tokens).
    const CONFIG_Q8: TileConfig = config([64, 64, 32, 32, 64, 64, 0, 0], [16, 16, 16, 16, 8, 8, 0, 0]);

    /// One Q8_0 block's tile product into sum tile `$c` (zeroed first), from weights
    /// `$a` (16 rows of 32 bytes at `$wa`) and activations `$b` (8 rows of 64 bytes at
    /// `$xb`), stored as 16 rows of 64 bytes at `$out`.
    macro_rules! q8_block {
        ($c:literal, $a:literal, $b:literal, $wa:expr, $xb:expr, $out:expr) => {
            asm!(
                concat!("tilezero ", $c),
                concat!("tileloadd ", $a, ", [{wa} + {s32}*1]"),
                concat!("tileloadd ", $b, ", [{xb} + {s64}*1]"),
                concat!("tdpbssd ", $c, ", ", $a, ", ", $b),
                concat!("tilestored [{out} + {s64}*1], ", $c),
                wa = in(reg) $wa,
                xb = in(reg) $xb,
                out = in(reg) $out,
                s32 = in(reg) 32usize,
                s64 = in(reg) 64usize,
                options(nostack),
            )
        };
    }

    /// The dots of 16 decoded weight rows (`w`, one entry per block) with `tiles` tiles
    /// of 16 tokens (`packed`, tile-major) holding `n_tok` tokens: `put(t, v)` with
    /// token t's dots with the 16 rows, for each t < n_tok; with `MIN`, plus each
    /// block's minimum times the token's scaled sum (Q4_1). Two blocks a round,
    /// in two sum tiles, both stored before either's sums are scaled, so the tile unit
    /// works while the vector units scale (one block a round: 1B Q8_0 pp512 at 2
    /// threads 4% slower, 135M no different).
    ///
    /// # Safety
    /// AMX-INT8 and AVX-512 F/BW/VL must be present and the tile state granted;
    /// `packed.len() == tiles * w.len()`, `n_tok <= 16 * tiles`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn dot_q8_tiles<const MIN: bool>(
        w: &[UnpackedQ8],
        packed: &[PackedQ8],
        tiles: usize,
        n_tok: usize,
        mut put: impl FnMut(usize, &[f32; TILE_ROWS]),
    ) {
        let blocks = w.len();
        let real = n_tok.div_ceil(TILE_TOKENS).min(tiles);
        // SAFETY: a valid palette-1 configuration; the caller guarantees AMX and the
        // tile permission.
        unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG_Q8, options(nostack, readonly)) };
        // Two blocks' sums: [block][row][token].
        let mut cbuf = [[[0i32; TILE_TOKENS]; TILE_ROWS]; 2];
        for tile in 0..real {
            let ps = &packed[tile * blocks..(tile + 1) * blocks];
            let mut sum = [_mm512_setzero_ps(); TILE_ROWS];
            let mut msum = [_mm512_setzero_ps(); TILE_ROWS];
            let mut i = 0;
            while i < blocks {
                let two = i + 1 < blocks;
                let c = cbuf.as_mut_ptr() as *mut u8;
                // SAFETY: tile instructions on configured tiles; each weight block is 16
                // rows of 32 bytes and each packed block 8 rows of 64; cbuf is 2 KiB,
                // one 1 KiB tile of sums per block.
                unsafe {
                    q8_block!("tmm0", "tmm2", "tmm4", w[i].qs.as_ptr(), ps[i].qs.as_ptr(), c);
                    if two {
                        q8_block!("tmm1", "tmm3", "tmm5", w[i + 1].qs.as_ptr(), ps[i + 1].qs.as_ptr(), c.add(1024));
                    }
                }
                for (k, c) in cbuf.iter().enumerate().take(if two { 2 } else { 1 }) {
                    let (u, p) = (&w[i + k], &ps[i + k]);
                    // SAFETY: 16 readable f32.
                    let xd = unsafe { _mm512_loadu_ps(p.d.as_ptr()) };
                    for (r, s) in sum.iter_mut().enumerate() {
                        // SAFETY: row r of the block's sums, 16 i32.
                        let isum = unsafe { _mm512_loadu_si512(c[r].as_ptr() as *const __m512i) };
                        // `dw * dx` rounded once, as ggml's scale of a block pair.
                        let d = _mm512_mul_ps(_mm512_set1_ps(u.d[r]), xd);
                        *s = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), d, *s);
                    }
                    if MIN {
                        // SAFETY: 16 readable f32.
                        let xs = unsafe { _mm512_loadu_ps(p.s.as_ptr()) };
                        for (r, m) in msum.iter_mut().enumerate() {
                            *m = _mm512_fmadd_ps(_mm512_set1_ps(u.m[r]), xs, *m);
                        }
                    }
                }
                i += 2;
            }
            if MIN {
                for (s, m) in sum.iter_mut().zip(&msum) {
                    *s = _mm512_add_ps(*s, *m);
                }
            }
            put_tile(&sum, tile * TILE_TOKENS, n_tok, &mut put);
        }
        // SAFETY: gives the tile state back; nothing reads the tiles after this.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::qdot::dot_kquant_portable;

    /// A deterministic byte stream (no rand in this crate's unit tests).
    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 33) as u8
            })
            .collect()
    }

    /// Random k-quant rows with sane f16 scales (small positive, so no NaN/inf).
    fn rows(dtype: DType, n: usize, blocks: usize, seed: u64) -> Vec<Vec<u8>> {
        let bb = dtype.row_bytes(QK_K).expect("a k-quant");
        (0..n)
            .map(|r| {
                let mut v = bytes(seed + r as u64, bb * blocks);
                for b in v.chunks_exact_mut(bb) {
                    let at: &[usize] = if dtype == DType::Q6K { &[208] } else { &[0, 2] };
                    for &o in at {
                        let d = half::f16::from_f32(0.001 + b[o] as f32 / 4096.0);
                        b[o..o + 2].copy_from_slice(&d.to_le_bytes());
                    }
                }
                v
            })
            .collect()
    }

    #[test]
    fn amx_dots_equal_the_portable_kquant_dots_bit_for_bit() {
        if !available() {
            eprintln!("skipped: no AMX here");
            return;
        }
        let blocks = 3;
        for dtype in [DType::Q4K, DType::Q5K, DType::Q6K] {
            for (n_rows, n_tok) in [(16, 16usize), (5, 37), (16, 1)] {
                let w = rows(dtype, n_rows, blocks, 7);
                let cols = QK_K * blocks;
                let x: Vec<f32> = bytes(100, n_tok * cols).iter().map(|b| (*b as f32 - 128.0) / 37.0).collect();
                let tiles = packed_tiles(n_tok);
                let mut packed = vec![Packed::default(); tiles * blocks];
                for (tile, out) in packed.chunks_exact_mut(blocks).enumerate() {
                    let tokens = (tile * TILE_TOKENS).min(n_tok)..((tile + 1) * TILE_TOKENS).min(n_tok);
                    pack_tile(&x[tokens.start * cols..tokens.end * cols], cols, out);
                }
                let acts: Vec<Vec<_>> =
                    x.chunks_exact(cols).map(|x| x.chunks_exact(QK_K).map(q8k_block).collect()).collect();
                let refs: Vec<&[u8]> = w.iter().map(|r| &r[..]).collect();
                let mut seen = 0;
                dot_rows(dtype, &refs, &packed, n_tok, |t, v| {
                    for (r, v) in v.iter().take(n_rows).enumerate() {
                        let want = dot_kquant_portable(dtype, &w[r], &acts[t]);
                        assert_eq!(v.to_bits(), want.to_bits(), "{dtype:?} row {r} token {t}: {v} vs {want}");
                        seen += 1;
                    }
                });
                assert_eq!(seen, n_rows * n_tok, "{dtype:?}: every (token, row) once");
            }
        }
    }

    /// The half kernel's sums against f64 sums of the same rounded activations: within
    /// a few f32 roundings of the sum of the products' magnitudes, every row and token.
    #[test]
    fn amx_half_dots_are_the_dots_of_the_rounded_activations() {
        if !runs_half(DType::F16) {
            eprintln!("skipped: no AMX-BF16 here");
            return;
        }
        let cols = 96;
        for dtype in [DType::F16, DType::BF16] {
            for (n_rows, n_tok) in [(16, 16usize), (5, 37), (16, 1), (3, 32)] {
                let vals = |seed: u64, n: usize| -> Vec<f32> {
                    bytes(seed, n).iter().map(|b| (*b as f32 - 127.5) / 41.0 * (1.0 + *b as f32 / 97.0)).collect()
                };
                let w: Vec<Vec<u8>> = (0..n_rows)
                    .map(|r| {
                        let mut row = Vec::new();
                        for v in vals(3 + r as u64, cols) {
                            let b = if dtype == DType::F16 {
                                half::f16::from_f32(v).to_le_bytes()
                            } else {
                                half::bf16::from_f32(v).to_le_bytes()
                            };
                            row.extend_from_slice(&b);
                        }
                        row
                    })
                    .collect();
                let x = vals(100, n_tok * cols);
                let tiles = packed_tiles(n_tok);
                let len = half_tile_len(dtype, cols);
                let mut packed = vec![0u16; tiles * len];
                for (tile, out) in packed.chunks_exact_mut(len).enumerate() {
                    let tokens = (tile * TILE_TOKENS).min(n_tok)..((tile + 1) * TILE_TOKENS).min(n_tok);
                    pack_half_tile(dtype, &x[tokens.start * cols..tokens.end * cols], cols, out);
                }
                let refs: Vec<&[u8]> = w.iter().map(|r| &r[..]).collect();
                let mut seen = 0;
                dot_half_rows(dtype, &refs, &packed, n_tok, |t, v| {
                    let mut xr = vec![0f32; cols];
                    crate::qdot::round_half_into(dtype, &x[t * cols..(t + 1) * cols], &mut xr);
                    for (r, v) in v.iter().take(n_rows).enumerate() {
                        let mut wr = vec![0f32; cols];
                        crate::quant::dequantize_row(dtype, &w[r], &mut wr);
                        let exact: f64 = wr.iter().zip(&xr).map(|(a, b)| *a as f64 * *b as f64).sum();
                        let mag: f64 = wr.iter().zip(&xr).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
                        let err = (*v as f64 - exact).abs();
                        assert!(err <= 8.0 * f32::EPSILON as f64 * mag, "{dtype:?} row {r} token {t}: {v} vs {exact}");
                        seen += 1;
                    }
                    assert!(v[n_rows..].iter().all(|v| *v == 0.0), "rows past the weights are zero");
                });
                assert_eq!(seen, n_rows * n_tok, "{dtype:?}: every (token, row) once");
            }
        }
    }

    /// The 32-value block kernel (Q8_0, Q4_0, Q4_1): each block's exact integer sum
    /// scaled into the token's sum, `fma(isum, dw * dx, sum)` block after block, and
    /// Q4_1's `fma(m, s, msum)` added last, bit for bit (a scalar loop of that order),
    /// for 1-16 rows and tokens in one, two and three tiles, an odd number of blocks;
    /// and within a few f32 roundings of the one-token kernel's dot.
    #[test]
    fn amx_q8_dots_scale_each_blocks_exact_sum_into_the_token_sum() {
        for dtype in [DType::Q8_0, DType::Q4_0, DType::Q4_1] {
            if !runs_q8(dtype) {
                eprintln!("skipped: no AMX here");
                return;
            }
            block_dots_in_kernel_order(dtype, &|rows, packed, n_tok, put| dot_q8_rows(dtype, rows, packed, n_tok, put));
        }
    }

    /// A tile path's dots of Q8_0/Q4_0/Q4_1 rows (`amx::dot_q8_rows`' arguments).
    pub(crate) type DotQ8<'a> = dyn Fn(&[&[u8]], &[PackedQ8], usize, &mut dyn FnMut(usize, &[f32; TILE_ROWS])) + 'a;

    /// Holds `dot` to a scalar loop of its order bit for bit (each block's exact sum
    /// taken into the token's sum by `fma(isum, dw * dx, sum)`, Q4_1's minimum terms in
    /// their own sum, added last), and to `qdot::vec_dot` within 1e-5.
    pub(crate) fn block_dots_in_kernel_order(dtype: DType, dot: &DotQ8<'_>) {
        let bb = dtype.block_bytes();
        let min = dtype == DType::Q4_1;
        for (n_rows, n_tok, blocks) in [(16, 16usize, 3usize), (5, 37, 18), (16, 1, 1), (3, 32, 2)] {
            let cols = 32 * blocks;
            let w: Vec<Vec<u8>> = (0..n_rows)
                .map(|r| {
                    let mut v = bytes(7 + r as u64, bb * blocks);
                    for b in v.chunks_exact_mut(bb) {
                        let d = half::f16::from_f32(0.001 + b[0] as f32 / 2048.0);
                        b[..2].copy_from_slice(&d.to_le_bytes());
                        if min {
                            let m = half::f16::from_f32((b[2] as f32 - 128.0) / 1024.0);
                            b[2..4].copy_from_slice(&m.to_le_bytes());
                        }
                    }
                    v
                })
                .collect();
            let x: Vec<f32> = bytes(100, n_tok * cols).iter().map(|b| (*b as f32 - 128.0) / 37.0).collect();
            let tiles = packed_tiles(n_tok);
            let mut packed = vec![PackedQ8::default(); tiles * blocks];
            for (tile, out) in packed.chunks_exact_mut(blocks).enumerate() {
                let tokens = (tile * TILE_TOKENS).min(n_tok)..((tile + 1) * TILE_TOKENS).min(n_tok);
                pack_q8_tile(&x[tokens.start * cols..tokens.end * cols], cols, out);
            }
            let refs: Vec<&[u8]> = w.iter().map(|r| &r[..]).collect();
            let mut seen = 0;
            dot(&refs, &packed, n_tok, &mut |t, v| {
                let xt = &x[t * cols..(t + 1) * cols];
                let mut acts = crate::qdot::QuantActs::default();
                crate::qdot::quantize_acts(crate::qdot::act_format(dtype), xt, &mut acts);
                for (r, v) in v.iter().take(n_rows).enumerate() {
                    let (mut want, mut msum) = (0f32, 0f32);
                    for (b, blk) in w[r].chunks_exact(bb).zip(xt.chunks_exact(32)) {
                        let y = crate::qdot::q8_block(blk);
                        let mut u = UnpackedQ8::default();
                        unpack_block(dtype, b, 0, &mut u);
                        let isum: i32 = u.qs[0].iter().zip(&y.qs).map(|(w, a)| *w as i32 * *a as i32).sum();
                        want = (isum as f32).mul_add(u.d[0] * y.d, want);
                        msum = u.m[0].mul_add(y.s, msum);
                    }
                    if min {
                        want += msum;
                    }
                    assert_eq!(v.to_bits(), want.to_bits(), "{dtype:?} row {r} token {t}: {v} vs {want}");
                    let one = crate::qdot::vec_dot(dtype, &w[r], &acts);
                    assert!((v - one).abs() <= 1e-5 * one.abs().max(1.0), "{dtype:?} row {r} token {t}: {v} vs {one}");
                    seen += 1;
                }
                assert!(v[n_rows..].iter().all(|v| *v == 0.0), "rows past the weights are zero");
            });
            assert_eq!(seen, n_rows * n_tok, "every (token, row) once");
        }
    }
}
