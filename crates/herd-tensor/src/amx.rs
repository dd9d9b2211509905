//! Prompt matmuls of k-quant weights on Intel AMX (Sapphire Rapids and later Xeons).
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
    qs: [u8; QK_K * TILE_TOKENS],
    d: [f32; TILE_TOKENS],
    bp: [i16; 4 * TILE_TOKENS * 2],
}

impl Default for Packed {
    fn default() -> Self {
        Packed { qs: [0; QK_K * TILE_TOKENS], d: [0.0; TILE_TOKENS], bp: [0; 4 * TILE_TOKENS * 2] }
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

/// Quantizes one token tile straight into AMX's layout: `x` holds up to 16 tokens'
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
        // Each sub-block's scale (16 values apiece for Q6_K, 32 for Q4_K/Q5_K).
        let mut sc = [0i16; 16];
        if dtype == DType::Q6K {
            sc.iter_mut().zip(&b[192..208]).for_each(|(s, v)| *s = (*v as i8) as i16);
            u.d[r] = half::f16::from_le_bytes([b[208], b[209]]).to_f32();
        } else {
            let mut mn = [0u32; 4];
            for j in 0..8 {
                let (s, m) = scale_min_k4(j, &b[4..16]);
                sc[j] = s as i16;
                mn[j / 2] |= (m as u32) << (16 * (j % 2));
            }
            for (jj, m) in mn.into_iter().enumerate() {
                u.mn[jj * TILE_ROWS + r] = m as i32;
            }
            u.d[r] = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
            u.dmin[r] = half::f16::from_le_bytes([b[2], b[3]]).to_f32();
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: only reached through `dot_rows`, after `runs` checked AVX-512 BW;
        // `b` is one whole super-block of `dtype`, r < 16.
        unsafe {
            x86::unpack_values(dtype, b, &sc, r, u)
        };
    }
}

thread_local! {
    /// Each worker's decoded weight rows, reused from call to call.
    static SCRATCH: std::cell::RefCell<Vec<Unpacked>> = const { std::cell::RefCell::new(Vec::new()) };
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
    mut put: impl FnMut(usize, &[f32; TILE_ROWS]),
) {
    assert!(runs(dtype), "amx::dot_rows: no AMX kernel for {dtype:?} here");
    assert!(!rows.is_empty() && rows.len() <= TILE_ROWS, "amx::dot_rows: {} rows", rows.len());
    let blocks = rows[0].len() / dtype.row_bytes(QK_K).expect("a k-quant");
    assert!(rows.iter().all(|r| r.len() == rows[0].len()), "amx::dot_rows: rows of different lengths");
    let tiles = packed_tiles(n_tok);
    assert_eq!(packed.len(), tiles * blocks, "amx::dot_rows: packed activations for another shape");
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
            x86::dot_tiles(dtype, &w[..blocks], packed, tiles, n_tok.div_ceil(TILE_TOKENS), |t, v| {
                if t < n_tok {
                    put(t, v)
                }
            })
        };
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Packed, TILE_ROWS, TILE_TOKENS, Unpacked};
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

    /// Every tile is 16 rows of 64 bytes: tmm0..tmm3 the sums (high and low bytes'
    /// products for two token tiles), tmm4 the high and tmm7 the low weight bytes of one
    /// run of 64 values, tmm5 and tmm6 the two token tiles' activations of that run.
    /// (Palette 1 has eight tiles; the entries of the other eight must be zero.)
    const CONFIG: TileConfig = TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
        rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
    };

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
    /// of 16 tokens (`packed`, tile-major, an even number) of which the first `real`
    /// hold tokens: `put(t, v)` with token t's dots with the 16 rows, for the tokens of
    /// the real tiles. A pair whose second tile is padding (16 tokens: a decode step of
    /// 16 streams) multiplies and sums only its first: half the tile work.
    ///
    /// # Safety
    /// AMX-INT8 and AVX-512 F/BW/VL/VNNI must be present and the tile state granted;
    /// `packed.len() == tiles * w.len()`, `tiles` even, `real <= tiles`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn dot_tiles(
        dtype: DType,
        w: &[Unpacked],
        packed: &[Packed],
        tiles: usize,
        real: usize,
        mut put: impl FnMut(usize, &[f32; TILE_ROWS]),
    ) {
        let q6 = dtype == DType::Q6K;
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
                let mut m = [[0f32; TILE_TOKENS]; TILE_ROWS];
                for (r, s) in sum.iter().enumerate() {
                    // SAFETY: 16 writable f32.
                    unsafe { _mm512_storeu_ps(m[r].as_mut_ptr(), *s) };
                }
                for t in 0..TILE_TOKENS {
                    put((2 * pair + tt) * TILE_TOKENS + t, &std::array::from_fn(|r| m[r][t]));
                }
            }
        }
        // SAFETY: gives the tile state back; nothing reads the tiles after this.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

#[cfg(test)]
mod tests {
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
}
