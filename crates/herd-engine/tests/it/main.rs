//! herd-engine integration tests: tool execution (sandbox, custom tools, web tools) and
//! the continuous-batching engine.

mod scheduler;
mod tools;
