//! herd-engine integration tests: tool execution (sandbox, custom tools, web tools).

mod tools;
