//! The one error type of herd-llama; every message names the file part at fault.

/// Everything that can go wrong turning files into a model or text into tokens.
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("gguf: {0}")]
    Gguf(String),
    #[error("safetensors: {0}")]
    Safetensors(String),
    #[error("config: {0}")]
    Config(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("model: {0}")]
    Model(String),
    #[error(transparent)]
    Tensor(#[from] herd_tensor::TensorError),
}

pub type Result<T, E = LlamaError> = std::result::Result<T, E>;

impl LlamaError {
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        LlamaError::Io { path: path.as_ref().display().to_string(), source }
    }
}
