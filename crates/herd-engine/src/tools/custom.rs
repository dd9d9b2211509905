//! Custom tools: a user-configured command gets the call's JSON arguments on stdin and answers on stdout.
//!
//! These commands are trusted (the user wrote the configuration), so they run as herd
//! itself, with herd's environment and working directory, not in the code sandbox. They
//! are still bounded: a wall-clock timeout and an output cap, past which the command's
//! whole process group is killed.

use super::{Ending, KillScope, RunSpec, ToolOutput, human_bytes, run_capped};
use std::process::Command;
use std::time::Duration;

/// Bytes kept of a custom tool's stdout and of its stderr.
pub const CUSTOM_OUTPUT_BYTES: usize = 64 << 10;
/// How much of stderr a failure message quotes.
const STDERR_QUOTE_CHARS: usize = 2000;

/// A command the model can call by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomTool {
    /// The name the model uses in its call.
    pub name: String,
    /// Program and arguments, run directly (no shell unless the command is one).
    pub command: Vec<String>,
    /// Wall-clock limit; then the command and its children are killed.
    pub timeout_secs: u64,
}

/// Runs `tool` with `arguments` as one JSON object on stdin. `ok` with the command's
/// stdout when it exits 0; otherwise `ok == false` with a message saying what went wrong
/// (exit status and stderr, timeout, too much output, command not startable).
pub fn run_custom(tool: &CustomTool, arguments: &serde_json::Map<String, serde_json::Value>) -> ToolOutput {
    let name = &tool.name;
    let Some((program, args)) = tool.command.split_first() else {
        return ToolOutput::failed(format!("tool {name} failed: its command is empty"));
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    let stdin = serde_json::Value::Object(arguments.clone()).to_string().into_bytes();
    let spec = RunSpec {
        stdin,
        wall: Duration::from_secs(tool.timeout_secs),
        output_bytes: CUSTOM_OUTPUT_BYTES,
        kill: KillScope::ProcessGroup,
    };
    let run = match run_capped(cmd, spec) {
        Ok(run) => run,
        Err(e) => return ToolOutput::failed(format!("tool {name} failed: {e}")),
    };
    let stderr = run.stderr.text();
    let stderr: String = stderr.trim().chars().take(STDERR_QUOTE_CHARS).collect();
    let with_stderr = |msg: String| {
        if stderr.is_empty() { msg } else { format!("{msg}; stderr: {stderr}") }
    };
    match run.ending {
        Ending::Exited(status) if status.success() => {
            let out = run.stdout.text();
            ToolOutput::ok(out.strip_suffix('\n').unwrap_or(&out))
        }
        Ending::Exited(status) => ToolOutput::failed(with_stderr(format!("tool {name} failed: {status}"))),
        Ending::WallTimeout => ToolOutput::failed(with_stderr(format!(
            "tool {name} failed: timed out after {} s and was killed",
            tool.timeout_secs
        ))),
        Ending::OutputCap => ToolOutput::failed(format!(
            "tool {name} failed: it wrote more than {} and was killed",
            human_bytes(CUSTOM_OUTPUT_BYTES as u64)
        )),
    }
}
