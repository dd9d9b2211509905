//! herd-llama integration tests: hostile files, loaders, the model, tokenizers.

mod gguf;
mod llama31;
mod model;
mod safetensors;
mod tokenizer;
