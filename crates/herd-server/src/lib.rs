//! herd-server: the OpenAI-compatible HTTP server. Its routes arrive with the
//! `herd serve` issue; until then the crate only fixes its place in the dependency
//! order (tensor <- llama <- engine <- server <- cli).
