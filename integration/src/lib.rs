//! Harness for berth-runtime's end-to-end tests.
//!
//! The tests drive a runc-compatible runtime binary as root on real bundles built from
//! Debian's static busybox. The binary is `$BERTH_RUNTIME` (an absolute path) or, when that
//! is unset, `<workspace>/target/debug/berth-runtime` (`target/release` if only that one
//! exists). Run the suite against runc with `BERTH_RUNTIME=/usr/sbin/runc` to check that the
//! tests encode runc's behaviour.
//!
//! The shim tests (`tests/shim_*.rs`, harness in [`shim`]) drive `$BERTH_SHIM` or
//! `<workspace>/target/debug/berth-shim` the way podman drives conmon; run them with
//! `BERTH_SHIM=/usr/bin/conmon` to check that they encode conmon's contract (`make
//! shim-under-conmon`; berth-only features skip there, saying so).
//!
//! Each test starts with `let Some(t) = Test::new("name") else { return };`: it fails,
//! saying why, when not root or without busybox (never passes by skipping), and the
//! returned [`Test`] owns everything the
//! test creates (temp dir, state root, containers, cgroups, helper processes, host mounts)
//! and removes it on drop, also when the test panics.

mod bundle;
mod console;
pub mod engines;
mod fixture;
pub mod registry;
mod runtime;
pub mod shim;
mod stress;

pub use bundle::{read_json, Bundle};
pub use console::{pipe, read_pty, ConsoleSocket};
pub use fixture::Test;
pub use runtime::Runtime;
pub use stress::*;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Busybox applets linked into every test rootfs.
pub const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "id", "hostname", "echo", "sleep", "true", "false", "grep", "stat",
    "readlink", "mount", "touch", "mkdir", "env", "pwd", "ps", "kill", "test", "head", "wc",
    "nproc", "tty", "stty", "sed", "tr", "sort", "cut", "rm", "ln", "chmod", "uname",
];

/// Parent of every test container's cgroup (`linux.cgroupsPath = /berth-test/<id>`).
pub const CGROUP_PARENT: &str = "berth-test";

/// How long one runtime invocation may take before the harness kills it and fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Tests alive in this process; the shared cgroup parent is removed when it drops to 0.
/// Held across the increment and the final rmdir so a starting test never races the rmdir.
static LIVE_TESTS: Mutex<u32> = Mutex::new(0);

fn next() -> u32 {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// The runtime binary under test.
pub fn runtime_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_RUNTIME") {
        return PathBuf::from(p);
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let debug = ws.join("target/debug/berth-runtime");
    let release = ws.join("target/release/berth-runtime");
    if !debug.exists() && release.exists() {
        release
    } else {
        debug
    }
}

/// The shim binary under test: `$BERTH_SHIM` (e.g. `/usr/bin/conmon`, to check that the
/// shim tests encode conmon's behaviour) or `<workspace>/target/debug/berth-shim`.
pub fn shim_bin() -> PathBuf {
    match std::env::var_os("BERTH_SHIM") {
        Some(p) if !p.is_empty() => return PathBuf::from(p),
        _ => {}
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/berth-shim")
}

/// True when the binary under test reports itself as runc (`--version` starts with "runc").
pub fn runtime_is_runc() -> bool {
    static IS_RUNC: OnceLock<bool> = OnceLock::new();
    *IS_RUNC.get_or_init(|| {
        Command::new(runtime_bin())
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).starts_with("runc"))
            .unwrap_or(false)
    })
}

/// Skips the rest of a test under runc only, for a behaviour runc 1.1.5 lacks.
/// Returns true (and prints why) when the caller should return.
pub fn skip_under_runc(why: &str) -> bool {
    if runtime_is_runc() {
        eprintln!("skipped under runc: {why}");
        return true;
    }
    false
}

/// What the tests need and is not there: they run real containers (root) from busybox
/// bundles.
fn missing_prerequisite() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    missing_of(unsafe { libc::geteuid() }, Path::new("/bin/busybox"))
}

fn missing_of(euid: u32, busybox: &Path) -> Option<String> {
    if euid != 0 {
        return Some("not root: the integration tests run real containers".into());
    }
    if !busybox.exists() {
        return Some(format!(
            "{} missing (apt-get install busybox-static)",
            busybox.display()
        ));
    }
    None
}

fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain prctl; orphaned container inits are re-parented to this process so
        // each test can reap its own init pid.
        let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(r, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
    });
}

/// Reaps `pid` if it is (or becomes within `timeout`) a zombie child of this process.
/// Returns its wait status, or None if it is not our child or did not exit in time.
pub fn reap(pid: i32, timeout: Duration) -> Option<i32> {
    if pid <= 0 {
        return None;
    }
    let deadline = Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: waitpid on one specific pid, never -1: other tests run as threads here.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Some(status);
        }
        if r < 0 || Instant::now() >= deadline {
            return None;
        }
        sleep(Duration::from_millis(10));
    }
}

/// True if a process with this pid exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !(state.starts_with('Z') || state.starts_with('X'))
        }
        Err(_) => false,
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns the last result.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(20));
    }
}

/// The test process's namespace link, e.g. `net:[4026531840]`.
pub fn host_ns(kind: &str) -> String {
    ns_of("self", kind)
}

/// Namespace link of `/proc/<pid>/ns/<kind>` (`pid` may be "self").
pub fn ns_of(pid: &str, kind: &str) -> String {
    let p = format!("/proc/{pid}/ns/{kind}");
    fs::read_link(&p)
        .unwrap_or_else(|e| panic!("readlink {p}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Stdout as a string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as a string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Panics with the command's stderr unless it succeeded; returns its stdout.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "expected success, got {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Panics unless the command exited with exactly `code`; returns its stderr.
#[track_caller]
pub fn fails_with(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    stderr(o)
}

/// Asserts a failed command printed exactly one non-empty line on stderr and returns it.
#[track_caller]
pub fn single_error_line(o: &Output) -> String {
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one error line on stderr, got:\n{err}"
    );
    lines[0].to_string()
}

/// Mount points in this process's mountinfo whose path or source contains `needle`.
pub fn host_mounts_mentioning(needle: &Path) -> Vec<String> {
    let n = needle.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(n.as_ref()))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_prerequisite_is_named() {
        let busybox = Path::new("/bin/busybox");
        assert!(missing_of(1000, busybox).unwrap().contains("not root"));
        let absent = Path::new("/no/such/busybox");
        assert!(missing_of(0, absent).unwrap().contains("/no/such/busybox"));
    }
}
