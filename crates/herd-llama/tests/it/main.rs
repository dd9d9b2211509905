//! herd-llama integration tests: hostile files, loaders, the model, tokenizers.

mod convert;
mod gguf;
mod llama31;
mod model;
mod safetensors;
mod tokenizer;
