//! Tool execution for the agent loop: runs a parsed tool call and returns the text the model reads.
//!
//! The model asks for a tool with a [`ToolCall`] (parsed by `herd_llama::llama31`); a
//! [`Toolbox`] says which tools are enabled and runs the call. Every outcome, including
//! every failure, is a [`ToolOutput`]: `ok` for the caller, `text` for the model (it goes
//! back as the `ipython` message). [`Toolbox::call`] never panics and never hangs.
//!
//! - `code_interpreter` (`arguments["code"]`): [`run_python`] runs the code with
//!   `python3 -I -u` in a sandbox built from util-linux `unshare`, `setpriv`, `prlimit`
//!   and `mount` (no network, read-only file system except private tmpfs, limits on CPU,
//!   memory, file size, processes, wall time and output; see [`sandbox`]). When the
//!   sandbox cannot be built, the code is not run: [`sandbox_check`] says why and how to
//!   fix it. The text follows Meta's `ToolResponseGenerator`: `completed` or
//!   `failed: <reason>`, then optional `[stdout]`…`[/stdout]` and `[stderr]`…`[/stderr]`
//!   blocks.
//! - `brave_search` / `wolfram_alpha` (`arguments["query"]`): [`brave_search`] and
//!   [`wolfram_alpha`] call the real services when `BRAVE_API_KEY` / `WOLFRAM_APP_ID` is
//!   set, with a 10 s bound; see [`web`].
//! - custom tools: [`run_custom`] runs a configured command with the JSON arguments on
//!   stdin and returns its stdout; see [`custom`].
//!
//! The helper [`run_capped`] shared by the sandbox and custom tools spawns a process,
//! feeds its stdin, reads stdout and stderr in threads up to a byte cap, and kills the
//! process when it passes the cap or the wall-clock limit.

pub mod custom;
pub mod sandbox;
pub mod web;

pub use custom::{CustomTool, run_custom};
pub use herd_llama::llama31::ToolCall;
pub use sandbox::{SANDBOX_UIDS, SandboxInfo, SandboxLimits, SandboxMode, run_python, sandbox_check};
pub use web::{brave_search, wolfram_alpha};

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The result of a tool call as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// Whether the tool did its job (the code completed, the search answered, ...).
    pub ok: bool,
    /// What the model reads as the `ipython` message.
    pub text: String,
}

impl ToolOutput {
    /// A successful result.
    pub fn ok(text: impl Into<String>) -> Self {
        Self { ok: true, text: text.into() }
    }

    /// A failure the model can read.
    pub fn failed(text: impl Into<String>) -> Self {
        Self { ok: false, text: text.into() }
    }
}

/// Errors of tool execution that the caller may want to tell apart from a tool's own
/// failure (which is a [`ToolOutput`] with `ok == false`).
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The code sandbox cannot be built here; the code was not run.
    #[error("the code sandbox is unavailable: {0}")]
    SandboxUnavailable(String),
    /// A process could not be started or watched.
    #[error("{what}: {source}")]
    Process { what: String, source: std::io::Error },
}

/// The tools enabled for a conversation, and how they run.
#[derive(Debug, Clone, Default)]
pub struct Toolbox {
    /// Python in the sandbox (`Environment: ipython`).
    pub code_interpreter: bool,
    pub brave_search: bool,
    pub wolfram_alpha: bool,
    /// User-configured commands, called by name.
    pub custom: Vec<CustomTool>,
    /// Limits for `code_interpreter`.
    pub limits: SandboxLimits,
}

impl Toolbox {
    /// The names of the enabled tools, built-ins first.
    pub fn available(&self) -> Vec<String> {
        let builtins = [
            (self.code_interpreter, "code_interpreter"),
            (self.brave_search, "brave_search"),
            (self.wolfram_alpha, "wolfram_alpha"),
        ];
        let mut names: Vec<String> = builtins.iter().filter(|(on, _)| *on).map(|(_, n)| (*n).to_string()).collect();
        names.extend(self.custom.iter().map(|t| t.name.clone()));
        names
    }

    /// Runs one tool call. Every failure (unknown tool, bad arguments, sandbox missing,
    /// network down, timeout, even a bug here) comes back as `ok == false` with a text
    /// the model can read.
    pub fn call(&self, call: &ToolCall) -> ToolOutput {
        // Belt and braces: the code below is written not to panic, but a tool call must
        // never take the agent loop down with it.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.dispatch(call)))
            .unwrap_or_else(|_| ToolOutput::failed(format!("tool {} failed: internal error", call.tool_name)))
    }

    fn dispatch(&self, call: &ToolCall) -> ToolOutput {
        let name = call.tool_name.as_str();
        let args = &call.arguments;
        match name {
            "code_interpreter" if self.code_interpreter => match string_arg(name, args, "code") {
                Ok(code) => match run_python(code, &self.limits) {
                    Ok(out) => out,
                    Err(e) => ToolOutput::failed(format!(
                        "failed: code_interpreter is unavailable, the code was not run: {e}"
                    )),
                },
                Err(out) => out,
            },
            "brave_search" if self.brave_search => string_arg(name, args, "query").map_or_else(|o| o, brave_search),
            "wolfram_alpha" if self.wolfram_alpha => string_arg(name, args, "query").map_or_else(|o| o, wolfram_alpha),
            _ => match self.custom.iter().find(|t| t.name == name) {
                Some(tool) => run_custom(tool, args),
                None => {
                    let available = self.available();
                    let list = if available.is_empty() { "none".to_string() } else { available.join(", ") };
                    ToolOutput::failed(format!("tool {name} is not available; available tools: {list}"))
                }
            },
        }
    }
}

/// The string argument `key` of a call, or a failure that names the tool and argument.
fn string_arg<'a>(
    tool: &str,
    args: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<&'a str, ToolOutput> {
    match args.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(other) => Err(ToolOutput::failed(format!("tool {tool} needs a string argument \"{key}\", got {other}"))),
        None => Err(ToolOutput::failed(format!("tool {tool} needs a string argument \"{key}\""))),
    }
}

/// Renders a byte count for messages: `64 KiB`, `16 MiB`, `1000 bytes`.
pub(crate) fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    if n >= KIB * KIB && n.is_multiple_of(KIB * KIB) {
        format!("{} MiB", n / (KIB * KIB))
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// How to stop a process that must end early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KillScope {
    /// SIGKILL the child only: the sandbox's `unshare --kill-child` takes its whole pid
    /// namespace down with it.
    Child,
    /// The child leads a new process group; SIGKILL the group, so helpers it started die too.
    ProcessGroup,
}

/// What [`run_capped`] should do with a command.
pub(crate) struct RunSpec {
    /// Bytes written to the child's stdin, which is then closed.
    pub stdin: Vec<u8>,
    /// Wall-clock limit from spawn; past it the process is killed.
    pub wall: Duration,
    /// Cap per stream (stdout, stderr); past it reading stops and the process is killed.
    pub output_bytes: usize,
    pub kill: KillScope,
}

/// How a capped run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Exited(ExitStatus),
    /// Killed at the wall-clock limit.
    WallTimeout,
    /// Killed because stdout or stderr passed the cap.
    OutputCap,
}

/// Bytes read from one stream, at most the cap.
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured {
    pub bytes: Vec<u8>,
    /// The stream had more than the cap; the rest was not read.
    pub truncated: bool,
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// The outcome of [`run_capped`].
#[derive(Debug)]
pub(crate) struct Finished {
    pub ending: Ending,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// How often the supervisor looks at the child; also the worst-case extra latency.
const POLL: Duration = Duration::from_millis(10);
/// How long to wait for the reader threads once the child is gone: a grandchild that
/// escaped the kill may still hold a pipe open, and we must not hang on it.
const READER_GRACE: Duration = Duration::from_secs(1);

/// A spawned child that is killed and reaped if we leave early (error or panic).
struct Running {
    child: Child,
    scope: KillScope,
    reaped: bool,
}

impl Running {
    fn kill(&mut self) {
        if self.scope == KillScope::ProcessGroup {
            // std has no killpg and unsafe code is denied here, so ask the shell's kill,
            // which takes a negative pid as a process group (dash's kill has no `--`).
            let _ = Command::new("/bin/sh")
                .args(["-c", "kill -KILL -\"$1\" 2>/dev/null", "sh"])
                .arg(self.child.id().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
        }
    }
}

/// Spawns `cmd`, feeds it `spec.stdin`, and collects at most `spec.output_bytes` of its
/// stdout and of its stderr, killing it at the wall-clock limit or when a stream passes
/// the cap. Memory use is bounded by the caps whatever the child writes.
pub(crate) fn run_capped(mut cmd: Command, spec: RunSpec) -> Result<Finished, ToolError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if spec.kill == KillScope::ProcessGroup {
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    let child = cmd.spawn().map_err(|source| ToolError::Process { what: format!("cannot start {program}"), source })?;
    let mut run = Running { child, scope: spec.kill, reaped: false };
    let thread_err = |source| ToolError::Process { what: "cannot start a thread".into(), source };

    let (over_tx, over_rx) = mpsc::channel();
    if let Some(stdin) = run.child.stdin.take() {
        spawn_feeder(stdin, spec.stdin).map_err(thread_err)?;
    }
    let mut readers = Vec::new();
    for stream in [
        run.child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        run.child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ] {
        let reader = match stream {
            Some(s) => Some(spawn_reader(s, spec.output_bytes, over_tx.clone()).map_err(thread_err)?),
            None => None,
        };
        readers.push(reader);
    }
    drop(over_tx);

    let ending = supervise(&mut run, spec.wall, &over_rx)?;
    let deadline = Instant::now() + READER_GRACE;
    let mut streams = readers.into_iter().map(|r| match r {
        Some((handle, buf)) => {
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            buf.lock().unwrap_or_else(PoisonError::into_inner).clone()
        }
        None => Captured::default(),
    });
    let stdout = streams.next().unwrap_or_default();
    let stderr = streams.next().unwrap_or_default();
    Ok(Finished { ending, stdout, stderr })
}

/// Waits for the child to exit, for a reader to report an overflow, or for the deadline.
fn supervise(run: &mut Running, wall: Duration, over: &Receiver<()>) -> Result<Ending, ToolError> {
    let deadline = Instant::now() + wall;
    loop {
        // An overflow is reported before an exit: the truncation is what the caller must know.
        if over.try_recv().is_ok() {
            run.kill();
            return Ok(Ending::OutputCap);
        }
        match run.child.try_wait() {
            Ok(Some(status)) => {
                run.reaped = true;
                if over.try_recv().is_ok() {
                    return Ok(Ending::OutputCap);
                }
                return Ok(Ending::Exited(status));
            }
            Ok(None) => {}
            Err(source) => {
                run.kill();
                return Err(ToolError::Process { what: "cannot wait for the child".into(), source });
            }
        }
        let now = Instant::now();
        if now >= deadline {
            run.kill();
            return Ok(Ending::WallTimeout);
        }
        // Sleep until the next poll, waking early if a reader reports an overflow.
        if over.recv_timeout(POLL.min(deadline - now)).is_ok() {
            run.kill();
            return Ok(Ending::OutputCap);
        }
    }
}

/// Writes `bytes` to the child's stdin in a thread (a child that does not read must not
/// block us), then closes it. A child that exits early makes the write fail: ignored.
fn spawn_feeder(mut stdin: ChildStdin, bytes: Vec<u8>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("herd-tool-stdin".into()).spawn(move || {
        let _ = stdin.write_all(&bytes);
    })
}

type Reader = (JoinHandle<()>, Arc<Mutex<Captured>>);

/// Reads a stream into a shared buffer up to `cap` bytes; past the cap it marks the
/// buffer truncated, tells the supervisor, and stops reading (closing the pipe).
fn spawn_reader(mut src: Box<dyn Read + Send>, cap: usize, over: Sender<()>) -> std::io::Result<Reader> {
    let buf = Arc::new(Mutex::new(Captured::default()));
    let shared = Arc::clone(&buf);
    let handle = std::thread::Builder::new().name("herd-tool-output".into()).spawn(move || {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match src.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let mut captured = shared.lock().unwrap_or_else(PoisonError::into_inner);
            let room = cap.saturating_sub(captured.bytes.len());
            captured.bytes.extend_from_slice(&chunk[..n.min(room)]);
            if n > room {
                captured.truncated = true;
                let _ = over.send(());
                return;
            }
        }
    })?;
    Ok((handle, buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_the_largest_exact_unit() {
        assert_eq!(human_bytes(64 * 1024), "64 KiB");
        assert_eq!(human_bytes(16 * 1024 * 1024), "16 MiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }

    #[test]
    fn unknown_tool_lists_the_available_ones() {
        let tb = Toolbox { brave_search: true, ..Toolbox::default() };
        let call = ToolCall { tool_name: "photogen".into(), arguments: serde_json::Map::new() };
        let out = tb.call(&call);
        assert!(!out.ok);
        assert_eq!(out.text, "tool photogen is not available; available tools: brave_search");
    }

    #[test]
    fn disabled_builtin_is_not_available() {
        let tb = Toolbox::default();
        let mut args = serde_json::Map::new();
        args.insert("code".into(), "print(1)".into());
        let out = tb.call(&ToolCall { tool_name: "code_interpreter".into(), arguments: args });
        assert!(!out.ok);
        assert_eq!(out.text, "tool code_interpreter is not available; available tools: none");
    }

    #[test]
    fn missing_or_mistyped_argument_is_a_readable_failure() {
        let tb = Toolbox { wolfram_alpha: true, ..Toolbox::default() };
        let mut call = ToolCall { tool_name: "wolfram_alpha".into(), arguments: serde_json::Map::new() };
        assert_eq!(tb.call(&call).text, "tool wolfram_alpha needs a string argument \"query\"");
        call.arguments.insert("query".into(), 3.into());
        assert_eq!(tb.call(&call).text, "tool wolfram_alpha needs a string argument \"query\", got 3");
    }
}
