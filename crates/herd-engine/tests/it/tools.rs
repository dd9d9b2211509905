//! Tool execution: what the code sandbox refuses and allows, custom tools, unconfigured and unreachable web tools.

use herd_engine::tools::web::{Endpoint, brave_search_with, wolfram_alpha_with};
use herd_engine::tools::{
    CustomTool, SANDBOX_UIDS, SandboxInfo, SandboxLimits, SandboxMode, ToolCall, ToolOutput, Toolbox, run_custom,
    run_python, sandbox_check,
};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A call that takes longer than this has hung: the limits under test are seconds, and
/// the bound is loose so a loaded CI machine does not fail it. It checks "never hangs",
/// not speed.
const HANG: Duration = Duration::from_secs(30);

/// The sandbox must work on developer machines and CI; a missing sandbox fails loudly.
fn sandbox() -> SandboxInfo {
    match sandbox_check() {
        Ok(info) => info,
        Err(e) => panic!("the code sandbox must be available for these tests: {e}"),
    }
}

/// Small limits so that every test ends in a few seconds.
fn quick() -> SandboxLimits {
    SandboxLimits { cpu_secs: 2, wall_secs: 5, ..SandboxLimits::default() }
}

fn python(code: &str, limits: &SandboxLimits) -> ToolOutput {
    sandbox();
    match run_python(code, limits) {
        Ok(out) => out,
        Err(e) => panic!("run_python refused to run: {e}"),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:016x}", std::process::id(), rand::random::<u64>())
}

#[test]
fn sandbox_check_reports_a_real_python() {
    let info = sandbox();
    assert!(info.python.is_absolute(), "{info:?}");
    assert!(!info.python.to_string_lossy().contains("shims"), "{info:?}");
}

#[test]
fn print_completes_with_stdout() {
    let out = python("print(2**10)", &quick());
    assert_eq!(out, ToolOutput { ok: true, text: "completed\n[stdout]\n1024\n[/stdout]".into() });
}

#[test]
fn exception_fails_with_traceback() {
    let out = python("x = 1\n1 / 0\n", &quick());
    assert!(!out.ok);
    assert!(out.text.starts_with("failed: exit status 1\n[stderr]\nTraceback"), "{}", out.text);
    assert!(out.text.contains("ZeroDivisionError: division by zero"), "{}", out.text);
    assert!(out.text.ends_with("[/stderr]"), "{}", out.text);
}

#[test]
fn files_can_be_written_in_the_cwd_and_the_env_is_clean() {
    let code = r#"
import os
with open("out.txt", "w") as f:
    f.write("hello")
print(open("out.txt").read(), os.getcwd() == os.environ["HOME"], sorted(os.environ))
"#;
    let out = python(code, &quick());
    assert_eq!(out.text, "completed\n[stdout]\nhello True ['HOME', 'LANG', 'PATH']\n[/stdout]");
}

#[test]
fn network_connections_fail() {
    // A listener on the host's loopback: reachable from any process that shares the
    // host's network namespace.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
    let port = listener.local_addr().expect("listener address").port();
    let code = format!(
        r#"
import socket
for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 53)]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        print("CONNECTED", host)
    except OSError as e:
        print("BLOCKED", host, e.errno)
"#
    );
    let out = python(&code, &quick());
    assert!(out.ok, "{}", out.text);
    assert!(out.text.contains("BLOCKED 127.0.0.1"), "{}", out.text);
    assert!(out.text.contains("BLOCKED 1.1.1.1"), "{}", out.text);
    assert!(!out.text.contains("CONNECTED"), "{}", out.text);
    listener.set_nonblocking(true).expect("nonblocking listener");
    assert!(listener.accept().is_err(), "the sandbox reached the host's listener");
}

#[test]
fn writes_outside_the_temp_dir_do_not_reach_the_host() {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
    let targets = [
        Path::new("/tmp").join(unique("herd-escape")),
        Path::new("/var/tmp").join(unique("herd-escape")),
        Path::new("/dev/shm").join(unique("herd-escape")),
        home.join(unique("herd-escape")),
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("herd-escape")),
    ];
    let list: Vec<String> = targets.iter().map(|p| format!("{:?}", p.to_string_lossy())).collect();
    let code = format!(
        r#"
for p in [{}]:
    try:
        with open(p, "w") as f:
            f.write("escaped")
        print("wrote", p)
    except OSError as e:
        print("refused", p, e.strerror)
"#,
        list.join(", ")
    );
    let out = python(&code, &quick());
    assert!(out.ok, "{}", out.text);
    let leaked: Vec<&PathBuf> = targets.iter().filter(|t| t.exists()).collect();
    for target in &leaked {
        let _ = std::fs::remove_file(target);
    }
    assert!(leaked.is_empty(), "the sandbox wrote {leaked:?} on the host:\n{}", out.text);
}

/// Processes of the host whose real uid is `uid`.
fn processes_of(uid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("status")).ok())
        .filter(|status| {
            let real = status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1));
            real == Some(uid.to_string().as_str())
        })
        .count()
}

fn host_processes() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok()).count())
        .unwrap_or(0)
}

#[test]
fn fork_bomb_is_contained() {
    let info = sandbox();
    let limits = SandboxLimits { max_processes: 24, cpu_secs: 2, wall_secs: 3, ..SandboxLimits::default() };
    // First make sure the process limit holds, with children that only sleep, before
    // running anything that spins.
    let probe = r#"
import os, time
n = 0
for i in range(100):
    try:
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        n += 1
    except OSError:
        break
print("forked", n)
"#;
    let out = python(probe, &limits);
    let forked: Option<u32> =
        out.text.split_once("forked ").and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok());
    assert!(matches!(forked, Some(n) if n < 24), "process limit not enforced: {}", out.text);

    let before = host_processes();
    let bomb = r#"
import os
print(os.getuid(), flush=True)
while True:
    try:
        os.fork()
    except OSError:
        pass
"#;
    let start = Instant::now();
    let out = python(bomb, &limits);
    // The wall-clock limit on a small machine, the CPU limit where every process has a core.
    assert!(out.text.starts_with("failed: killed after "), "{}", out.text);
    assert!(start.elapsed() < HANG, "took {:?}: {}", start.elapsed(), out.text);
    // Every process of the bomb must be gone once the call returns.
    if info.mode == SandboxMode::Root {
        let uid: u32 = out
            .text
            .split_once("[stdout]\n")
            .and_then(|(_, rest)| rest.lines().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no uid in {}", out.text));
        assert!(SANDBOX_UIDS.contains(&uid), "ran as uid {uid}");
        assert_eq!(processes_of(uid), 0, "processes of uid {uid} survived the run");
    } else {
        let after = host_processes();
        assert!(after < before + 16, "host processes {before} -> {after}");
    }
}

#[test]
fn code_cannot_kill_the_sandbox_and_leaves_nothing_behind() {
    let info = sandbox();
    // kill(-1) reaches every process the code may signal; pid 1 is the setup shell. A
    // detached `sleep` would outlive the run without the pid namespace.
    let code = r#"
import os, signal, subprocess
print(os.getuid())
subprocess.Popen(["sleep", "30"], start_new_session=True)
os.kill(-1, signal.SIGKILL)
subprocess.Popen(["sleep", "30"], start_new_session=True)
try:
    os.kill(1, signal.SIGKILL)
except OSError as e:
    print("kill 1:", e.strerror)
print("alive")
"#;
    let out = python(code, &quick());
    assert!(out.ok && out.text.contains("\nalive\n"), "{}", out.text);
    if info.mode == SandboxMode::Root {
        let uid: u32 = out
            .text
            .split_once("[stdout]\n")
            .and_then(|(_, rest)| rest.lines().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no uid in {}", out.text));
        assert_eq!(processes_of(uid), 0, "processes of uid {uid} survived the run");
    }
}

#[test]
fn infinite_loop_is_killed_by_the_cpu_limit() {
    let limits = SandboxLimits { cpu_secs: 1, wall_secs: 10, ..SandboxLimits::default() };
    let start = Instant::now();
    let out = python("while True: pass", &limits);
    assert_eq!(out, ToolOutput::failed("failed: killed after 1 s of CPU time"));
    assert!(start.elapsed() < HANG, "took {:?}", start.elapsed());
}

#[test]
fn sleeping_code_is_killed_at_the_wall_clock_limit() {
    // Two seconds leave Python time to start and print even on a loaded machine.
    let limits = SandboxLimits { wall_secs: 2, ..SandboxLimits::default() };
    let start = Instant::now();
    let out = python("import time\nprint('start')\ntime.sleep(60)", &limits);
    assert_eq!(out, ToolOutput::failed("failed: killed after 2 s of wall-clock time\n[stdout]\nstart\n[/stdout]"));
    assert!(start.elapsed() < HANG, "took {:?}", start.elapsed());
}

#[test]
fn endless_output_is_capped_and_killed() {
    let limits = SandboxLimits { output_bytes: 64 << 10, wall_secs: 10, ..SandboxLimits::default() };
    let start = Instant::now();
    // 10 GB if nothing stops it.
    let out = python("for _ in range(10_000):\n    print('x' * 1_000_000)", &limits);
    assert!(!out.ok);
    assert!(
        out.text.starts_with("failed: killed after writing more than 64 KiB of output\n[stdout]\nxxx"),
        "{}",
        &out.text[..200.min(out.text.len())]
    );
    assert!(out.text.contains("[... truncated: stdout passed 64 KiB]"));
    // What herd holds is bounded by the cap, whatever the code printed.
    assert!(out.text.len() < (64 << 10) + 4096, "{} bytes kept", out.text.len());
    assert!(start.elapsed() < HANG, "took {:?}", start.elapsed());
}

#[test]
fn memory_limit_makes_allocation_fail() {
    let limits = SandboxLimits { memory_bytes: 256 << 20, ..quick() };
    let out = python("b = bytearray(1 << 30)", &limits);
    assert!(!out.ok);
    assert!(out.text.contains("MemoryError"), "{}", out.text);
}

#[test]
fn file_size_limit_stops_large_files() {
    let limits = SandboxLimits { file_bytes: 1 << 20, ..quick() };
    let out = python("open('big', 'wb').write(b'x' * (4 << 20))", &limits);
    assert!(!out.ok);
    assert!(out.text.contains("File too large"), "{}", out.text);
}

#[test]
fn toolbox_runs_code_and_refuses_unknown_tools() {
    sandbox();
    let tb = Toolbox { code_interpreter: true, limits: quick(), ..Toolbox::default() };
    let mut arguments = serde_json::Map::new();
    arguments.insert("code".into(), "print('hi')".into());
    let call = ToolCall { tool_name: "code_interpreter".into(), arguments };
    assert_eq!(tb.call(&call), ToolOutput::ok("completed\n[stdout]\nhi\n[/stdout]"));
    let call = ToolCall { tool_name: "brave_search".into(), arguments: serde_json::Map::new() };
    assert_eq!(
        tb.call(&call),
        ToolOutput::failed("tool brave_search is not available; available tools: code_interpreter")
    );
}

fn tool(command: &[&str], timeout_secs: u64) -> CustomTool {
    CustomTool { name: "t".into(), command: command.iter().map(|s| (*s).to_string()).collect(), timeout_secs }
}

fn args(json: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(json).expect("test arguments are a JSON object")
}

#[test]
fn custom_tool_gets_the_arguments_on_stdin() {
    let out = run_custom(&tool(&["sh", "-c", "cat"], 5), &args(r#"{"n": 10, "genre": "all"}"#));
    assert_eq!(out, ToolOutput::ok(r#"{"n":10,"genre":"all"}"#));
}

#[test]
fn custom_tool_failure_reports_status_and_stderr() {
    let out = run_custom(&tool(&["sh", "-c", "echo oops >&2; exit 3"], 5), &args("{}"));
    assert_eq!(out, ToolOutput::failed("tool t failed: exit status: 3; stderr: oops"));
    let out = run_custom(&tool(&["/nonexistent/herd-tool"], 5), &args("{}"));
    assert!(!out.ok && out.text.starts_with("tool t failed: cannot start /nonexistent/herd-tool"), "{}", out.text);
    let out = run_custom(&tool(&[], 5), &args("{}"));
    assert_eq!(out, ToolOutput::failed("tool t failed: its command is empty"));
}

/// Host processes whose command line contains `needle` as one argument.
fn processes_with_arg(needle: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.split(|b| *b == 0).any(|arg| arg == needle.as_bytes()))
        .count()
}

#[test]
fn custom_tool_is_killed_at_its_timeout_with_its_children() {
    // A duration no other process uses, to find the children afterwards.
    let marker = format!("30.{}", std::process::id());
    let script = format!("sleep {marker} & sleep {marker}");
    let start = Instant::now();
    let out = run_custom(&tool(&["sh", "-c", &script], 1), &args("{}"));
    assert_eq!(out, ToolOutput::failed("tool t failed: timed out after 1 s and was killed"));
    assert!(start.elapsed() < HANG, "took {:?}", start.elapsed());
    // The background sleep is killed with its process group, not left behind.
    assert_eq!(processes_with_arg(&marker), 0, "children of the tool survived");
}

#[test]
fn custom_tool_output_is_capped() {
    let out = run_custom(&tool(&["yes"], 5), &args("{}"));
    assert_eq!(out, ToolOutput::failed("tool t failed: it wrote more than 64 KiB and was killed"));
}

#[test]
fn web_tools_without_a_key_say_how_to_configure_them() {
    let never = Endpoint { url: "http://127.0.0.1:9".into(), timeout: Duration::from_secs(1) };
    for key in [None, Some("")] {
        assert_eq!(
            brave_search_with("gold price", key, &never),
            ToolOutput::failed("brave_search is not configured: set BRAVE_API_KEY")
        );
        assert_eq!(
            wolfram_alpha_with("2+2", key, &never),
            ToolOutput::failed("wolfram_alpha is not configured: set WOLFRAM_APP_ID")
        );
    }
}

#[test]
fn unreachable_web_service_is_a_bounded_failure() {
    // A server that accepts and never answers: only the timeout ends the request.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let endpoint = Endpoint { url, timeout: Duration::from_secs(1) };
    let start = Instant::now();
    let out = wolfram_alpha_with("2+2", Some("SECRET-APPID"), &endpoint);
    assert!(!out.ok);
    assert!(out.text.starts_with("wolfram_alpha failed: "), "{}", out.text);
    assert!(!out.text.contains("SECRET-APPID"), "{}", out.text);
    assert!(start.elapsed() < HANG, "took {:?}", start.elapsed());
    drop(listener);

    // Nothing listening at all.
    let free = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", free.local_addr().expect("addr"));
    drop(free);
    let out = brave_search_with("q", Some("KEY"), &Endpoint { url, timeout: Duration::from_secs(1) });
    assert!(!out.ok && out.text.starts_with("brave_search failed: "), "{}", out.text);
}

#[test]
fn brave_search_sends_the_key_and_compacts_the_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/res/v1/web/search", listener.local_addr().expect("addr"));
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let body = r#"{"web":{"results":[{"title":"Gold","url":"https://g.example","description":"<strong>$2,400</strong> an ounce"}]}}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.write_all(response.as_bytes());
        String::from_utf8_lossy(&request).into_owned()
    });
    let out = brave_search_with("gold price", Some("KEY123"), &Endpoint { url, timeout: Duration::from_secs(5) });
    let request = server.join().expect("server thread");
    assert!(request.starts_with("GET /res/v1/web/search?q=gold%20price&count=5 "), "{request}");
    assert!(request.to_ascii_lowercase().contains("x-subscription-token: key123\r\n"), "{request}");
    assert_eq!(
        out,
        ToolOutput::ok(
            r#"{"query":"gold price","top_k":[{"title":"Gold","url":"https://g.example","description":"$2,400 an ounce"}]}"#
        )
    );
}
