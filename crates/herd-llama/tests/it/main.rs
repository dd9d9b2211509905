//! herd-llama integration tests: hostile files, loaders, the model, tokenizers.

mod gguf;
mod model;
mod safetensors;
mod tokenizer;
