//! herd-tensor: bytes and math. The dtypes and quantization blocks of GGUF and
//! safetensors, the op set a Llama forward pass needs (matmul over quantized rows,
//! RMSNorm, RoPE, SiLU*mul, softmax), a scalar reference for every op, and the fast
//! CPU kernels (SIMD chosen at run time, with a portable fallback).
//!
//! This is the only crate of herd allowed `unsafe`; every block carries a
//! `// SAFETY:` comment.
#![allow(unsafe_code)]

pub mod alloc_count;
pub mod amx;
pub mod attention;
pub mod dtype;
pub mod half_prompt;
pub mod matmul;
pub mod mmap;
pub mod ops;
pub mod pool;
pub mod qdot;
pub mod quant;
pub mod quantize;
pub mod simd;
pub mod vnni;

pub use dtype::DType;
pub use matmul::{MatMul, WeightRef};

/// Errors of this crate: a tensor whose byte length does not match its shape.
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    #[error("tensor of type {dtype:?}: a row of {cols} values is not a whole number of {block}-value blocks")]
    RaggedRow { dtype: DType, cols: usize, block: usize },
    #[error("tensor of type {dtype:?} and shape {rows}x{cols} needs {want} bytes, has {have}")]
    WrongLength { dtype: DType, rows: usize, cols: usize, want: usize, have: usize },
}
