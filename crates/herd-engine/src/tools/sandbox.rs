//! The code-interpreter sandbox: runs untrusted Python with no network, no writes outside private tmpfs, and hard limits.
//!
//! Built only from util-linux (`unshare`, `setpriv`, `prlimit`, `mount`) and `/bin/sh`,
//! because unsafe code (`pre_exec`, `setrlimit`) is denied in this crate and bubblewrap
//! is not everywhere. The command line, for root (uid 0) and for a normal user:
//!
//! ```text
//! unshare [--user --map-root-user] --net --mount --pid --fork --kill-child --mount-proc
//!         --ipc --uts --propagation private --
//!   /bin/sh -c SETUP herd-sandbox MOUNT WORKDIR OWNER TMPFS_BYTES must / must /dev ... --
//!   setpriv [--reuid=U --regid=U --clear-groups] --bounding-set=-all --inh-caps=-all
//!           --no-new-privs --
//!   prlimit --cpu=C:C+1 --as=MEM --fsize=FILE --nproc=N --nofile=256 --core=0 --
//!   python3 -I -u -        (the code comes on stdin)
//! ```
//!
//! - `--net`: a new network namespace with only a down loopback, so every connection
//!   fails, to the internet and to the host's 127.0.0.1 alike.
//! - `--pid --fork --kill-child --mount-proc`: the setup shell is pid 1 of a new pid
//!   namespace; when herd kills `unshare`, the kernel kills the shell (parent-death
//!   signal) and with it every process of the namespace, so nothing outlives a run. The
//!   shell stays pid 1 instead of exec'ing Python because a uid change clears the
//!   parent-death signal.
//! - `SETUP` (in the new mount namespace): remounts every mount read-only, mounts
//!   size-capped private tmpfs over `/tmp`, `/var/tmp`, `/dev/shm` and over the work dir
//!   (a fresh `tempfile` dir, also the cwd and `HOME`), owned by the sandbox uid, and
//!   raises `oom_score_adj` to 1000 so the OOM killer picks sandboxed code first. Files the
//!   code writes live in that tmpfs and vanish with the namespace.
//! - As root, `setpriv` drops to a fresh uid/gid from [`SANDBOX_UIDS`] (a uid of its own
//!   rather than `nobody`: `RLIMIT_NPROC` counts every process of a uid, so sandboxes
//!   sharing `nobody` would starve each other, and root ignores the limit). As a normal
//!   user, `--user --map-root-user` gives the setup shell root inside a user namespace;
//!   `setpriv` then drops every capability, and `RLIMIT_NPROC` counts the processes of
//!   the user namespace only.
//! - `prlimit` is innermost, so the limits bind Python and its children but not the setup.
//! - herd clears the environment (`PATH`, `HOME`, `LANG=C.UTF-8` only), caps stdout and
//!   stderr, and kills the namespace at the wall-clock limit ([`super::run_capped`]).
//!
//! Limits not enforced: total memory across processes (each has `RLIMIT_AS`; the total is
//! bounded by processes × memory, with the OOM killer aimed at the sandbox), and system
//! calls (no seccomp filter).

use super::{Captured, Ending, KillScope, RunSpec, ToolError, ToolOutput, human_bytes, run_capped};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Resource limits of one code run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLimits {
    /// CPU seconds per process (`RLIMIT_CPU`; SIGXCPU, then SIGKILL one second later).
    pub cpu_secs: u64,
    /// Wall-clock seconds for the whole run; then every process is killed.
    pub wall_secs: u64,
    /// Address space per process (`RLIMIT_AS`).
    pub memory_bytes: u64,
    /// Bytes kept of stdout and of stderr each; past it the run is killed.
    pub output_bytes: usize,
    /// Processes the code may have at once (`RLIMIT_NPROC`, the shell and Python included).
    pub max_processes: u64,
    /// Largest file the code may write (`RLIMIT_FSIZE`).
    pub file_bytes: u64,
    /// Size of each private tmpfs (the work dir, `/tmp`, `/var/tmp`, `/dev/shm`).
    pub disk_bytes: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            cpu_secs: 10,
            wall_secs: 15,
            memory_bytes: 1 << 30,
            output_bytes: 64 << 10,
            max_processes: 64,
            file_bytes: 16 << 20,
            disk_bytes: 64 << 20,
        }
    }
}

/// How the sandbox takes away the caller's privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// herd runs as root: namespaces directly, code runs as a fresh unprivileged uid.
    Root,
    /// herd runs as a normal user: an unprivileged user namespace, all capabilities dropped.
    UserNamespace,
}

/// What [`sandbox_check`] found: the programs the sandbox runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfo {
    pub mode: SandboxMode,
    /// The interpreter, symlinks resolved (a system Python, never a pyenv shim).
    pub python: PathBuf,
    pub unshare: PathBuf,
    pub setpriv: PathBuf,
    pub prlimit: PathBuf,
    pub mount: PathBuf,
}

/// The uids (and gids) that [`SandboxMode::Root`] runs code as, one picked at random per
/// run. High enough that no account or subordinate-id range normally uses them, below
/// 2^31 to stay clear of signed-integer trouble.
pub const SANDBOX_UIDS: std::ops::Range<u32> = 2_000_000_000..2_000_065_536;

/// The setup shell prints this and exits with [`SETUP_FAILED`] when it cannot build the
/// sandbox; the code has not run then.
const SETUP_MARKER: &str = "herd sandbox setup failed:";
const SETUP_FAILED: i32 = 125;

/// Runs as pid 1 of the new namespaces; see the module docs. Arguments: mount binary,
/// work dir, owner uid, tmpfs size, then `must PATH` / `try PATH` pairs to remount
/// read-only, `--`, and the command to run. A `must` mount that cannot be remounted is
/// fatal unless the shell cannot even see it (a mount inside another user's private
/// directory): then the code, which has no more rights than the shell, cannot reach it
/// either.
const SETUP: &str = r#"m=$1 w=$2 u=$3 sz=$4; shift 4
fail() { echo "herd sandbox setup failed: $*" >&2; exit 125; }
echo 1000 > /proc/self/oom_score_adj 2>/dev/null || :
while [ "$#" -gt 1 ] && [ "$1" != -- ]; do
  case $1 in
    must) "$m" -n -o remount,bind,ro "$2" 2>/dev/null || ! [ -e "$2" ] ||
      fail "cannot make $2 read-only" ;;
    *) "$m" -n -o remount,bind,ro "$2" 2>/dev/null || : ;;
  esac
  shift 2
done
[ "$1" = -- ] || fail "bad arguments"
shift
for d in /tmp /var/tmp /dev/shm; do
  [ -d "$d" ] || continue
  "$m" -n -t tmpfs -o "size=$sz,nr_inodes=16384,mode=1777,nosuid,nodev" tmpfs "$d" ||
    fail "cannot mount a private tmpfs on $d"
done
mkdir -p "$w" 2>/dev/null; [ -d "$w" ] || fail "cannot create the work dir $w"
"$m" -n -t tmpfs -o "size=$sz,nr_inodes=16384,mode=0700,uid=$u,gid=$u,nosuid,nodev" tmpfs "$w" ||
  fail "cannot mount a private tmpfs on the work dir $w"
cd "$w" || fail "cannot enter the work dir $w"
unset OLDPWD PWD
# dash prints "Killed" and the like to the stderr of a foreground command; run the
# code as a background job with the real stdin and stderr so that only the code writes
# there, and the shell's own notes go to /dev/null.
exec 3>&2 4<&0 2>/dev/null
"$@" <&4 4<&- 2>&3 3>&- &
wait $!
exit $?
"#;

/// Directories searched for the util-linux programs; PATH is not trusted for them.
const SYSTEM_DIRS: [&str; 5] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"];

/// Largest code accepted, far above what a model writes; keeps stdin bounded.
const MAX_CODE_BYTES: usize = 1 << 20;

/// Checks that the sandbox can be built here by running `print('ok')` in it. Returns what it
/// uses, or why not and how to fix it. A success is remembered for the process.
pub fn sandbox_check() -> Result<SandboxInfo, ToolError> {
    static CHECKED: OnceLock<SandboxInfo> = OnceLock::new();
    if let Some(info) = CHECKED.get() {
        return Ok(info.clone());
    }
    let info = find_programs()?;
    let limits = SandboxLimits { wall_secs: 10, ..SandboxLimits::default() };
    let probe = run_in_sandbox(&info, "print('ok')", &limits)?;
    let works = matches!(probe.ending, Ending::Exited(s) if s.success()) && probe.stdout.text().trim() == "ok";
    if !works {
        let detail = probe.stderr.text();
        let detail = detail.trim();
        return Err(ToolError::SandboxUnavailable(format!(
            "a test run failed ({}): {}; {}",
            describe_ending(&probe.ending),
            if detail.is_empty() { "no error output" } else { detail },
            fix_hint(info.mode),
        )));
    }
    Ok(CHECKED.get_or_init(|| info).clone())
}

/// How to make the namespaces work, for the error message.
fn fix_hint(mode: SandboxMode) -> &'static str {
    match mode {
        SandboxMode::Root => {
            "as root the sandbox needs to create namespaces (CAP_SYS_ADMIN); in a container, \
             run it with --cap-add SYS_ADMIN or --privileged"
        }
        SandboxMode::UserNamespace => {
            "without the host's root the sandbox needs unprivileged user namespaces: on Debian \
             `sysctl kernel.unprivileged_userns_clone=1`, on Ubuntu 23.10+ \
             `sysctl kernel.apparmor_restrict_unprivileged_userns=0`, and \
             `user.max_user_namespaces` above 0; in a container, allow the unshare system call"
        }
    }
}

/// Runs `code` with `python3 -I -u` in the sandbox. `Err` only when the sandbox cannot be
/// built (the code did not run: never fall back to running it unsandboxed); everything
/// the code does, including crashing or being killed, is an `Ok` [`ToolOutput`].
pub fn run_python(code: &str, limits: &SandboxLimits) -> Result<ToolOutput, ToolError> {
    if code.len() > MAX_CODE_BYTES {
        return Ok(ToolOutput::failed(format!(
            "failed: the code is {} bytes, more than the {} accepted",
            code.len(),
            human_bytes(MAX_CODE_BYTES as u64)
        )));
    }
    let info = sandbox_check()?;
    let run = run_in_sandbox(&info, code, limits)?;
    if matches!(run.ending, Ending::Exited(s) if s.code() == Some(SETUP_FAILED))
        && run.stderr.text().starts_with(SETUP_MARKER)
    {
        return Err(ToolError::SandboxUnavailable(run.stderr.text().trim().to_string()));
    }
    let status = match run.ending {
        Ending::Exited(s) if s.success() => "completed".to_string(),
        Ending::Exited(s) => format!("failed: {}", exit_reason(s, limits)),
        Ending::WallTimeout => {
            format!("failed: killed after {} s of wall-clock time", limits.wall_secs)
        }
        Ending::OutputCap => {
            format!("failed: killed after writing more than {} of output", human_bytes(limits.output_bytes as u64))
        }
    };
    let ok = status == "completed";
    let mut text = status;
    push_block(&mut text, "stdout", &run.stdout, limits.output_bytes);
    push_block(&mut text, "stderr", &run.stderr, limits.output_bytes);
    Ok(ToolOutput { ok, text })
}

/// Appends `\n[name]\n...\n[/name]` when the stream is not empty, with a note if it was cut.
fn push_block(text: &mut String, name: &str, captured: &Captured, cap: usize) {
    if captured.bytes.is_empty() {
        return;
    }
    let body = captured.text();
    text.push_str(&format!("\n[{name}]\n{}", body.strip_suffix('\n').unwrap_or(&body)));
    if captured.truncated {
        text.push_str(&format!("\n[... truncated: {name} passed {}]", human_bytes(cap as u64)));
    }
    text.push_str(&format!("\n[/{name}]"));
}

/// Why a run that exited did not succeed. The setup shell (pid 1) exits with 128 + n
/// when Python died of signal n.
fn exit_reason(status: std::process::ExitStatus, limits: &SandboxLimits) -> String {
    use std::os::unix::process::ExitStatusExt;
    let signal = match (status.code(), status.signal()) {
        (Some(code), _) if code > 128 => code - 128,
        (Some(code), _) => return format!("exit status {code}"),
        (None, Some(sig)) => sig,
        (None, None) => return "ended without a status".to_string(),
    };
    match signal {
        24 => format!("killed after {} s of CPU time", limits.cpu_secs),
        25 => format!("killed: wrote a file past {}", human_bytes(limits.file_bytes)),
        9 => "killed by SIGKILL (CPU time or memory limit)".to_string(),
        n => format!("killed by signal {n}"),
    }
}

fn describe_ending(ending: &Ending) -> String {
    match ending {
        Ending::Exited(s) => s.to_string(),
        Ending::WallTimeout => "timed out".to_string(),
        Ending::OutputCap => "too much output".to_string(),
    }
}

/// Builds the sandbox command line for one run and runs it.
fn run_in_sandbox(info: &SandboxInfo, code: &str, limits: &SandboxLimits) -> Result<super::Finished, ToolError> {
    let workdir = tempfile::Builder::new()
        .prefix("herd-tool-")
        .tempdir()
        .map_err(|source| ToolError::Process { what: "cannot create a temporary directory".into(), source })?;
    let work = workdir.path().to_string_lossy().into_owned();
    let mut cmd = Command::new(&info.unshare);
    if info.mode == SandboxMode::UserNamespace {
        cmd.args(["--user", "--map-root-user"]);
    }
    cmd.args(["--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]);
    cmd.args(["--ipc", "--uts", "--propagation", "private", "--", "/bin/sh", "-c", SETUP]);
    let uid = match info.mode {
        SandboxMode::Root => rand::random_range(SANDBOX_UIDS),
        SandboxMode::UserNamespace => 0,
    };
    cmd.arg("herd-sandbox").arg(&info.mount).arg(&work).arg(uid.to_string());
    cmd.arg(limits.disk_bytes.max(1 << 20).to_string());
    for (path, required) in mounts_to_protect() {
        cmd.arg(if required { "must" } else { "try" }).arg(path);
    }
    cmd.arg("--").arg(&info.setpriv);
    if info.mode == SandboxMode::Root {
        cmd.args([format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into()]);
    }
    cmd.args(["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"]);
    cmd.arg(&info.prlimit).args([
        format!("--cpu={}:{}", limits.cpu_secs, limits.cpu_secs.saturating_add(1)),
        format!("--as={}", limits.memory_bytes),
        format!("--fsize={}", limits.file_bytes),
        format!("--nproc={}", limits.max_processes),
        "--nofile=256".into(),
        "--core=0".into(),
        "--".into(),
    ]);
    cmd.arg(&info.python).args(["-I", "-u", "-"]);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &work)
        .env("LANG", "C.UTF-8")
        .current_dir("/");
    let spec = RunSpec {
        stdin: code.as_bytes().to_vec(),
        wall: Duration::from_secs(limits.wall_secs),
        output_bytes: limits.output_bytes,
        kill: KillScope::Child,
    };
    let finished = run_capped(cmd, spec);
    if info.mode == SandboxMode::Root {
        wait_until_no_process_of(uid);
    }
    // `workdir` is only the mount point (the files live in the sandbox's tmpfs); it is
    // removed here, after the namespace is gone.
    drop(workdir);
    finished
}

/// Waits, at most a second, until no process of `uid` is left. Reaping `unshare` does
/// not mean its pid namespace is gone: `--kill-child` kills the namespace's first
/// process when `unshare` dies, and the kernel then kills the rest, all asynchronously,
/// so a fork bomb's last processes can still be exiting when the call would return.
/// They would also count against the `RLIMIT_NPROC` of the next sandbox given this uid.
fn wait_until_no_process_of(uid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while processes_of(uid) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Processes whose real uid is `uid`, from `/proc`.
fn processes_of(uid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let uid = uid.to_string();
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("status")).ok())
        .filter(|status| {
            status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1)) == Some(&uid)
        })
        .count()
}

/// Finds the programs and picks the mode: [`SandboxMode::Root`] needs uid 0 and the
/// sandbox uids to exist in herd's user namespace. Root inside a container's user
/// namespace (rootless podman and the like) maps only a few uids, so it gets
/// [`SandboxMode::UserNamespace`] instead; there `RLIMIT_NPROC` still holds, since the
/// limit is waived only for the host's real root.
fn find_programs() -> Result<SandboxInfo, ToolError> {
    let uid_map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let mode = if effective_uid() == Some(0) && maps_sandbox_uids(&uid_map) {
        SandboxMode::Root
    } else {
        SandboxMode::UserNamespace
    };
    Ok(SandboxInfo {
        mode,
        python: find_python()?,
        unshare: find_system_program("unshare", "util-linux")?,
        setpriv: find_system_program("setpriv", "util-linux")?,
        prlimit: find_system_program("prlimit", "util-linux")?,
        mount: find_system_program("mount", "mount")?,
    })
}

/// The effective uid, from `/proc/self/status` (no libc: unsafe code is denied here).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Whether a `/proc/self/uid_map` maps all of [`SANDBOX_UIDS`].
fn maps_sandbox_uids(uid_map: &str) -> bool {
    uid_map.lines().any(|line| {
        let nums: Vec<u64> = line.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        matches!(nums[..], [inside, _, count]
            if inside <= u64::from(SANDBOX_UIDS.start)
                && inside + count >= u64::from(SANDBOX_UIDS.end))
    })
}

fn find_system_program(name: &str, package: &str) -> Result<PathBuf, ToolError> {
    SYSTEM_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| is_executable(p)).ok_or_else(|| {
        ToolError::SandboxUnavailable(format!(
            "`{name}` was not found in {}: install it (Debian: apt-get install {package})",
            SYSTEM_DIRS.join(", ")
        ))
    })
}

/// A real `python3` binary. System locations come first: a pyenv or virtualenv
/// `python3` on PATH is often a shell shim that needs its environment, or lives under a
/// home directory the sandbox uid cannot read. PATH is searched last, shims skipped.
fn find_python() -> Result<PathBuf, ToolError> {
    let system = ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"].map(PathBuf::from);
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("python3")).collect())
        .unwrap_or_default();
    system
        .into_iter()
        .chain(on_path)
        .filter(|p| !p.components().any(|c| c.as_os_str() == "shims"))
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            ToolError::SandboxUnavailable(
                "no python3 interpreter found in /usr/bin, /usr/local/bin, /bin or PATH: \
                 install one (Debian: apt-get install python3-minimal)"
                    .to_string(),
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// File systems whose read-only remount may fail without harm: kernel interfaces the
/// sandbox uid cannot write anyway.
const PSEUDO_FS: [&str; 13] = [
    "autofs",
    "binfmt_misc",
    "bpf",
    "configfs",
    "debugfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "nsfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "tracefs",
];

/// The mount points to remount read-only, each with whether failing is fatal. `/proc`
/// and below are skipped: the pid namespace gets its own `/proc`.
fn mounts_to_protect() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<(String, bool)> = Vec::new();
    for (path, fstype) in parse_mountinfo(&text) {
        if path == "/proc" || path.starts_with("/proc/") || out.iter().any(|(p, _)| *p == path) {
            continue;
        }
        out.push((path, !PSEUDO_FS.contains(&fstype.as_str())));
    }
    if !out.iter().any(|(p, _)| p == "/") {
        out.insert(0, ("/".to_string(), true));
    }
    out
}

/// (mount point, file system type) of each line of `/proc/self/mountinfo`.
fn parse_mountinfo(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let path = fields.nth(4)?;
            // Optional fields follow until a lone "-", then the fs type.
            let fstype = fields.skip_while(|f| *f != "-").nth(1)?;
            Some((unescape_octal(path), fstype.to_string()))
        })
        .collect()
}

/// Undoes the kernel's `\NNN` octal escaping of space, tab, newline and backslash.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let esc = bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match esc.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_path_and_type() {
        let text = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
                    28 27 0:25 / /mnt/my\\040disk ro,nosuid shared:5 master:1 - tmpfs x ro\n\
                    bad line\n";
        assert_eq!(
            parse_mountinfo(text),
            vec![("/".to_string(), "ext4".to_string()), ("/mnt/my disk".to_string(), "tmpfs".to_string())]
        );
    }

    #[test]
    fn root_mode_needs_the_sandbox_uids_mapped() {
        assert!(maps_sandbox_uids("         0          0 4294967295\n"));
        assert!(!maps_sandbox_uids("         0       1000          1\n"));
        assert!(!maps_sandbox_uids("0 100000 65536\n"));
        assert!(!maps_sandbox_uids(""));
    }

    #[test]
    fn octal_escapes_are_decoded_and_other_backslashes_kept() {
        assert_eq!(unescape_octal("a\\134b\\011c\\012"), "a\\b\tc\n");
        assert_eq!(unescape_octal("x\\9y\\"), "x\\9y\\");
    }

    #[test]
    fn blocks_drop_one_trailing_newline_and_note_truncation() {
        let mut text = "completed".to_string();
        push_block(&mut text, "stdout", &Captured { bytes: b"1024\n".to_vec(), truncated: false }, 8);
        push_block(&mut text, "stderr", &Captured::default(), 8);
        assert_eq!(text, "completed\n[stdout]\n1024\n[/stdout]");
        let mut text = String::new();
        push_block(&mut text, "stderr", &Captured { bytes: b"xx".to_vec(), truncated: true }, 2);
        assert_eq!(text, "\n[stderr]\nxx\n[... truncated: stderr passed 2 bytes]\n[/stderr]");
    }
}
