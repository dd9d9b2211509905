//! `herd serve` end to end: the real binary on the default model, driven by the official
//! OpenAI Python client through scripts/server-tests (chat, streaming, tools, constrained
//! output, logprobs, usage, embeddings, every error, a load test), then a graceful SIGTERM.
#![cfg(unix)]

use herd_llama::testdata::{default_model, herd_home};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "herd-test-key";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// pytest's whole run; each of its requests has its own 60 s limit too.
const PYTEST_TIMEOUT: Duration = Duration::from_secs(300);
const SHUTDOWN_GRACE_S: u64 = 5;

/// A `herd serve` child, killed when dropped; its output goes to `log`.
pub(crate) struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    pub(crate) fn start(dir: &Path, name: &str, port: u16, key: Option<&str>, args: &[&str]) -> Server {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create the server log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herd"));
        cmd.arg("serve")
            .arg(default_model())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup the log"))
            .stderr(out);
        // `--api-key` is also read from HERD_API_KEY: set it only where a key is meant.
        match key {
            Some(k) => cmd.env("HERD_API_KEY", k),
            None => cmd.env_remove("HERD_API_KEY"),
        };
        let child = cmd.spawn().expect("spawn herd serve");
        Server { child, port, log }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `GET /health` until it answers 200 (the model is loaded); before that it
    /// may only answer 503 (loading), or not yet listen.
    pub(crate) fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("herd serve on port {} exited with {status} before it was ready:\n{}", self.port, self.log());
            }
            match http_status(self.port, "/health") {
                Some(200) => return,
                None | Some(503) => {}
                Some(other) => panic!("GET /health answered {other} while loading (expected 503):\n{}", self.log()),
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "herd serve on port {} not ready after {READY_TIMEOUT:?}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit.
    fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        wait_timeout(&mut self.child, within)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn wait_timeout(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// `n` distinct free loopback ports (all held open until all are picked).
pub(crate) fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port")).collect();
    held.iter().map(|l| l.local_addr().expect("local addr").port()).collect()
}

/// The status code of a plain HTTP/1.1 GET, or None if the server does not answer.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// The venv python that scripts/setup-test-data.sh fills, with the server tests' packages.
fn venv_python() -> PathBuf {
    let py = herd_home().join("venv/bin/python");
    let how = "run scripts/setup-test-data.sh (it installs scripts/server-tests/requirements.txt there)";
    assert!(py.exists(), "{} is missing: {how}", py.display());
    let ok = Command::new(&py)
        .args(["-c", "import openai, jsonschema, pytest"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{} lacks the server tests' packages (openai, jsonschema, pytest): {how}", py.display());
    py
}

#[test]
fn serve_passes_the_openai_client_suite_and_shuts_down_gracefully() {
    let python = venv_python();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = free_ports(2);
    let grace = SHUTDOWN_GRACE_S.to_string();
    // The main server (with a key, so it also serves the 401 checks), and a small one for
    // the context-length and queue-full errors.
    let mut main = Server::start(dir.path(), "main", ports[0], Some(API_KEY), &["--shutdown-grace", &grace]);
    let mut small =
        Server::start(dir.path(), "small", ports[1], None, &["--ctx", "256", "--parallel", "1", "--queue", "1"]);
    main.wait_ready();
    small.wait_ready();

    let report = dir.path().join("pytest.out");
    let out = File::create(&report).expect("create the pytest log");
    // HERD_SERVER_TESTS_ARGS: more pytest arguments, split on whitespace (`-k stream`).
    let extra = std::env::var("HERD_SERVER_TESTS_ARGS").unwrap_or_default();
    let mut pytest = Command::new(&python)
        .args(["-m", "pytest", "scripts/server-tests", "-q", "-x", "--tb=short", "--durations=5"])
        .args(["-p", "no:cacheprovider"])
        .args(extra.split_whitespace())
        .current_dir(&root)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("HERD_URL", main.url())
        .env("HERD_API_KEY", API_KEY)
        .env("HERD_URL_KEY", main.url())
        .env("HERD_URL_SMALLCTX", small.url())
        .env("HERD_URL_TINYQUEUE", small.url())
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup the log"))
        .stderr(out)
        .spawn()
        .expect("run pytest");
    let status = wait_timeout(&mut pytest, PYTEST_TIMEOUT);
    if status.is_none() {
        let _ = pytest.kill();
        let _ = pytest.wait();
    }
    let output = std::fs::read_to_string(&report).unwrap_or_default();
    let passed = status.is_some_and(|s| s.success());
    assert!(
        passed,
        "scripts/server-tests failed ({}):\n{output}\n--- main server log ---\n{}\n--- small server log ---\n{}",
        status.map_or_else(|| format!("timed out after {PYTEST_TIMEOUT:?}"), |s| s.to_string()),
        main.log(),
        small.log(),
    );
    println!("{output}");

    // Graceful shutdown: SIGTERM, then exit 0 within the grace period (plus slack).
    let within = Duration::from_secs(SHUTDOWN_GRACE_S + 10);
    let exit = main.terminate(within);
    assert!(
        exit.is_some_and(|s| s.success()),
        "after SIGTERM herd serve gave {exit:?} (expected exit 0 within {within:?}):\n{}",
        main.log()
    );
    assert_eq!(http_status(main.port, "/health"), None, "the port still answers after shutdown");
}

/// The chat page in headless Chromium (crates/herd-server/tests/browser/chat_page.mjs,
/// playwright-core): a question streams an answer, Stop ends a generation and keeps its
/// text, and after a reload the conversation is still there.
#[test]
fn chat_page_streams_stops_and_remembers_in_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let browser = root.join("crates/herd-server/tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `bash scripts/setup-browser.sh` (scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_ports(1)[0];
    let mut server = Server::start(dir.path(), "page", port, None, &[]);
    server.wait_ready();
    let out = Command::new("node")
        .arg("chat_page.mjs")
        .arg(server.url())
        .current_dir(&browser)
        .stdin(Stdio::null())
        .output()
        .expect("run node (install Node.js 20+)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the chat page test failed:\n{text}\n--- server log ---\n{}", server.log());
    println!("{text}");
}
