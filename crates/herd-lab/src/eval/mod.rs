//! `herd eval`: the Llama 3 paper's benchmarks with the paper's settings, for the
//! in-process engine or any OpenAI-compatible endpoint. Tasks (`tasks`) turn documents
//! (`data`: upstream formats) into requests; a backend (`backend`) answers them; the
//! runner (`run`) caches responses, scores with the scorers of `score` (checked against
//! the reference implementations), logs every sample and reports the paper's interval.

pub mod backend;
pub mod data;
pub mod run;
pub mod score;
pub mod tasks;
