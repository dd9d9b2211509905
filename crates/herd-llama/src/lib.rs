//! herd-llama: weights and text in, logits and tokens out. Hardened GGUF and
//! safetensors readers over mmap, the model config, the weight name map that
//! normalizes GGUF / Hugging Face names and RoPE layouts, the one Llama model with its
//! KV cache, tokenizers (Llama 3 tiktoken, Hugging Face byte-level BPE, GGUF-embedded
//! vocabularies) and chat templates.
//!
//! Synchronous, no threads of its own beyond the matmul pool it is handed.

pub mod chat;
pub mod config;
pub mod convert;
pub mod dialog;
pub mod error;
pub mod gguf;
pub mod llama31;
pub mod loader;
pub mod model;
pub mod safetensors_dir;
pub mod testdata;
pub mod tokenizer;
pub mod toolcall;

pub use error::{LlamaError, Result};
