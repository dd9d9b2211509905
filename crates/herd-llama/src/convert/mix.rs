//! Which ggml type each tensor gets for a file type: llama.cpp's `llama_tensor_get_type` for the Llama architecture.
//!
//! llama.cpp does not quantize every weight to the named type. Even for Q4_0, Q4_1 and
//! Q8_0 the output projection (or a tied embedding, which serves as one) goes to Q6_K;
//! Q4_K_M additionally gives attn_v and ffn_down Q6_K on the "use more bits" layers;
//! and a row width that is not a multiple of the type's block falls back to a smaller
//! block type. herd follows the same rules, so a herd file and a llama-quantize file
//! of the same model have the same tensor types (checked by scripts/bench/quantize_check.sh).

use herd_tensor::DType;

/// The file types `herd quantize` writes, with llama.cpp's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    /// Q4_K for most weights, Q6_K where llama.cpp's "medium" mix puts it.
    Q4KM,
}

impl FileType {
    pub const ALL: [FileType; 7] =
        [FileType::F32, FileType::F16, FileType::BF16, FileType::Q8_0, FileType::Q4_0, FileType::Q4_1, FileType::Q4KM];

    /// llama-quantize's name (`Q4_K_M`, ...); parsing ignores case.
    pub fn name(self) -> &'static str {
        match self {
            FileType::F32 => "F32",
            FileType::F16 => "F16",
            FileType::BF16 => "BF16",
            FileType::Q8_0 => "Q8_0",
            FileType::Q4_0 => "Q4_0",
            FileType::Q4_1 => "Q4_1",
            FileType::Q4KM => "Q4_K_M",
        }
    }

    pub fn parse(s: &str) -> Option<FileType> {
        FileType::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(s))
    }

    /// `general.file_type`: llama.h's `enum llama_ftype`.
    pub fn llama_ftype(self) -> u32 {
        match self {
            FileType::F32 => 0,
            FileType::F16 => 1,
            FileType::Q4_0 => 2,
            FileType::Q4_1 => 3,
            FileType::Q8_0 => 7,
            FileType::Q4KM => 15,
            FileType::BF16 => 32,
        }
    }

    /// The type of the bulk of the weights (`llama_ftype_get_default_type`).
    pub fn base(self) -> DType {
        match self {
            FileType::F32 => DType::F32,
            FileType::F16 => DType::F16,
            FileType::BF16 => DType::BF16,
            FileType::Q8_0 => DType::Q8_0,
            FileType::Q4_0 => DType::Q4_0,
            FileType::Q4_1 => DType::Q4_1,
            FileType::Q4KM => DType::Q4K,
        }
    }
}

/// What a 2-D weight is, as far as the mix cares (llama.cpp's `tensor_category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    TokenEmbd,
    Output,
    AttnQ,
    AttnK,
    AttnV,
    AttnOutput,
    FfnGate,
    FfnUp,
    FfnDown,
}

/// The model-wide facts the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub n_layers: usize,
    /// No `output.weight`: the token embedding is also the output projection.
    pub tied: bool,
    /// llama.cpp's LLM_TYPE_70B (80 layers, grouped-query attention): attn_v gets Q5_K.
    pub is_70b: bool,
}

/// A chosen type, and the type the rules wanted when the row width forced a fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub dtype: DType,
    pub wanted: Option<DType>,
}

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every
/// third layer in between.
fn use_more_bits(layer: usize, n_layers: usize) -> bool {
    let (i, n) = (layer as i64, n_layers as i64);
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// The type of the weight `role` of `layer` (ignored for the embedding and output),
/// `cols` values per row.
pub fn choose(ft: FileType, role: Role, layer: usize, cols: usize, shape: &Shape) -> Choice {
    let base = ft.base();
    // Plain-float file types convert every 2-D weight; nothing to fall back from.
    if !base.is_quantized() {
        return Choice { dtype: base, wanted: None };
    }
    let mut t = base;
    let q4km = ft == FileType::Q4KM;
    match role {
        Role::Output | Role::TokenEmbd if role == Role::Output || shape.tied => {
            if !cols.is_multiple_of(base.block_len()) {
                t = DType::Q8_0;
            } else if base != DType::Q8_0 {
                t = DType::Q6K;
            }
        }
        Role::AttnV => {
            if q4km && use_more_bits(layer, shape.n_layers) {
                t = DType::Q6K;
            }
            if shape.is_70b && t == DType::Q4K {
                t = DType::Q5K;
            }
        }
        Role::FfnDown if q4km && use_more_bits(layer, shape.n_layers) => t = DType::Q6K,
        _ => {}
    }
    fallback(t, cols)
}

/// llama.cpp's `tensor_type_fallback` for rows that are not whole blocks. Its Q5_K
/// fallback is Q5_1, which herd does not implement; Q5_0 (5.5 instead of 6 bits per
/// weight) is the nearest type herd has. A width that is not a multiple of 32 gets F16.
fn fallback(t: DType, cols: usize) -> Choice {
    if cols.is_multiple_of(t.block_len()) {
        return Choice { dtype: t, wanted: None };
    }
    let mut f = match t {
        DType::Q4K | DType::Q5K => DType::Q5_0,
        DType::Q6K => DType::Q8_0,
        other => other,
    };
    if !cols.is_multiple_of(f.block_len()) {
        f = DType::F16;
    }
    Choice { dtype: f, wanted: Some(t) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA_8B: Shape = Shape { n_layers: 32, tied: false, is_70b: false };
    const SMOLLM2: Shape = Shape { n_layers: 30, tied: true, is_70b: false };

    #[test]
    fn use_more_bits_matches_llama_cpp_for_32_layers() {
        // n/8 = 4: layers 0-3, 28-31, and 4 + 3k + 2 = 6, 9, ..., 27.
        let more: Vec<usize> = (0..32).filter(|&i| use_more_bits(i, 32)).collect();
        assert_eq!(more, [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
    }

    #[test]
    fn q4_k_m_on_llama_8b_is_llama_cpps_mix() {
        let c = |role, layer| choose(FileType::Q4KM, role, layer, 4096, &LLAMA_8B).dtype;
        assert_eq!(c(Role::Output, 0), DType::Q6K);
        assert_eq!(c(Role::TokenEmbd, 0), DType::Q4K);
        assert_eq!(c(Role::AttnV, 0), DType::Q6K);
        assert_eq!(c(Role::AttnV, 4), DType::Q4K);
        assert_eq!(c(Role::AttnQ, 0), DType::Q4K);
        assert_eq!(choose(FileType::Q4KM, Role::FfnDown, 6, 14336, &LLAMA_8B).dtype, DType::Q6K);
        assert_eq!(choose(FileType::Q4KM, Role::FfnDown, 7, 14336, &LLAMA_8B).dtype, DType::Q4K);
    }

    #[test]
    fn narrow_rows_fall_back_as_llama_cpp_does() {
        // SmolLM2: 576-wide rows are not whole 256-blocks.
        let c = |ft, role, layer, cols| choose(ft, role, layer, cols, &SMOLLM2);
        assert_eq!(c(FileType::Q4KM, Role::TokenEmbd, 0, 576), Choice { dtype: DType::Q8_0, wanted: None });
        assert_eq!(c(FileType::Q4KM, Role::AttnQ, 5, 576), Choice { dtype: DType::Q5_0, wanted: Some(DType::Q4K) });
        assert_eq!(c(FileType::Q4KM, Role::AttnV, 0, 576), Choice { dtype: DType::Q8_0, wanted: Some(DType::Q6K) });
        assert_eq!(c(FileType::Q4KM, Role::FfnDown, 0, 1536).dtype, DType::Q6K);
        assert_eq!(c(FileType::Q4KM, Role::FfnDown, 4, 1536).dtype, DType::Q4K);
        // Q4_0: the tied embedding wants Q6_K and gets Q8_0; other weights stay Q4_0.
        assert_eq!(c(FileType::Q4_0, Role::TokenEmbd, 0, 576), Choice { dtype: DType::Q8_0, wanted: Some(DType::Q6K) });
        assert_eq!(c(FileType::Q4_0, Role::AttnV, 0, 576).dtype, DType::Q4_0);
        assert_eq!(c(FileType::Q8_0, Role::TokenEmbd, 0, 576).dtype, DType::Q8_0);
        assert_eq!(c(FileType::F16, Role::TokenEmbd, 0, 576).dtype, DType::F16);
        assert_eq!(c(FileType::Q4_0, Role::AttnQ, 0, 40).dtype, DType::F16);
    }

    #[test]
    fn names_round_trip() {
        for f in FileType::ALL {
            assert_eq!(FileType::parse(f.name()), Some(f));
            assert_eq!(FileType::parse(&f.name().to_lowercase()), Some(f));
        }
        assert_eq!(FileType::parse("q4_k"), None);
    }
}
