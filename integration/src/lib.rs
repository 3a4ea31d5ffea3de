//! Harness for berth-runtime's end-to-end tests.
//!
//! The tests drive a runc-compatible runtime binary as root on real bundles built from
//! Debian's static busybox. The binary is `$BERTH_RUNTIME` (an absolute path) or, when that
//! is unset, `<workspace>/target/debug/berth-runtime` (`target/release` if only that one
//! exists). Run the suite against runc with `BERTH_RUNTIME=/usr/sbin/runc` to check that the
//! tests encode runc's behaviour.
//!
//! Each test starts with `let Some(t) = Test::new("name") else { return };`: it skips (and
//! passes) when not root or without busybox, and the returned [`Test`] owns everything the
//! test creates (temp dir, state root, containers, cgroups, helper processes, host mounts)
//! and removes it on drop, also when the test panics.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

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

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    if !Path::new("/bin/busybox").exists() {
        return Some("/bin/busybox missing (apt-get install busybox-static)".into());
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

/// Wraps the runtime binary with one `--root` state dir. Every invocation runs with stdin
/// from /dev/null and stdout/stderr into files (a detached container inherits them and keeps
/// writing), under [`COMMAND_TIMEOUT`].
pub struct Runtime {
    /// The binary.
    pub bin: PathBuf,
    /// The `--root` state directory of this test.
    pub root: PathBuf,
    logs: PathBuf,
    ids: RefCell<Vec<String>>,
    inits: RefCell<Vec<i32>>,
    container_out: RefCell<HashMap<String, (PathBuf, PathBuf)>>,
}

impl Runtime {
    fn new(bin: PathBuf, root: PathBuf, logs: PathBuf) -> Self {
        Runtime {
            bin,
            root,
            logs,
            ids: RefCell::new(Vec::new()),
            inits: RefCell::new(Vec::new()),
            container_out: RefCell::new(HashMap::new()),
        }
    }

    /// `RUNTIME --root ROOT ARGS...` with stdin null, ready for [`Runtime::output`].
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `cmd` with stdout/stderr redirected to fresh files and returns what they got.
    pub fn output(&self, cmd: Command) -> Output {
        self.output_to(cmd).0
    }

    fn output_to(&self, mut cmd: Command) -> (Output, PathBuf, PathBuf) {
        let n = next();
        let out = self.logs.join(format!("{n}.stdout"));
        let err = self.logs.join(format!("{n}.stderr"));
        cmd.stdout(File::create(&out).expect("stdout file"));
        cmd.stderr(File::create(&err).expect("stderr file"));
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let status = wait_child(&mut child, COMMAND_TIMEOUT)
            .unwrap_or_else(|| panic!("{cmd:?} did not finish in {COMMAND_TIMEOUT:?}"));
        let o = Output {
            status,
            stdout: fs::read(&out).unwrap_or_default(),
            stderr: fs::read(&err).unwrap_or_default(),
        };
        (o, out, err)
    }

    /// Any runtime subcommand.
    pub fn exec(&self, args: &[&str]) -> Output {
        self.output(self.command(args))
    }

    fn track(&self, id: &str) {
        let mut ids = self.ids.borrow_mut();
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    fn remember_init(&self, id: &str) {
        if let Some(pid) = self.state_pid(id) {
            self.inits.borrow_mut().push(pid);
        }
    }

    /// `create [EXTRA...] --bundle BUNDLE ID`. The container's stdio are files, read them with
    /// [`Runtime::container_stdout`]. On success the init pid is remembered for reaping.
    pub fn create_with(&self, id: &str, bundle: &Path, extra: &[&str]) -> Output {
        self.track(id);
        let mut args = vec!["create"];
        args.extend_from_slice(extra);
        let b = bundle.to_string_lossy();
        args.extend_from_slice(&["--bundle", &b, id]);
        self.create_from(id, self.command(&args))
    }

    /// Runs a hand-built `create` command for `id` (e.g. with a `current_dir` or a
    /// `pre_exec`), tracked like [`Runtime::create_with`].
    pub fn create_from(&self, id: &str, cmd: Command) -> Output {
        self.track(id);
        let (o, out, err) = self.output_to(cmd);
        if o.status.success() {
            self.container_out
                .borrow_mut()
                .insert(id.to_string(), (out, err));
            self.remember_init(id);
        }
        o
    }

    /// `create --bundle BUNDLE ID`.
    pub fn create(&self, id: &str, bundle: &Path) -> Output {
        self.create_with(id, bundle, &[])
    }

    /// `run [EXTRA...] --bundle BUNDLE ID`, in the foreground unless EXTRA has `-d`.
    pub fn run_with(&self, id: &str, bundle: &Path, extra: &[&str]) -> Output {
        self.run_cmd(id, bundle, extra, |_| {})
    }

    /// Like [`Runtime::run_with`], with a hook to adjust the command (e.g. `pre_exec`).
    pub fn run_cmd(
        &self,
        id: &str,
        bundle: &Path,
        extra: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Output {
        self.track(id);
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        let b = bundle.to_string_lossy();
        args.extend_from_slice(&["--bundle", &b, id]);
        let mut cmd = self.command(&args);
        adjust(&mut cmd);
        let (o, out, err) = self.output_to(cmd);
        if extra.contains(&"-d") || extra.contains(&"--detach") {
            self.container_out
                .borrow_mut()
                .insert(id.to_string(), (out, err));
            if o.status.success() {
                self.remember_init(id);
            }
        }
        o
    }

    /// `run --bundle BUNDLE ID` in the foreground: the container's exit code and output.
    pub fn run(&self, id: &str, bundle: &Path) -> Output {
        self.run_with(id, bundle, &[])
    }

    /// What a created or detached container wrote on stdout so far.
    pub fn container_stdout(&self, id: &str) -> String {
        let m = self.container_out.borrow();
        let (out, _) = m
            .get(id)
            .unwrap_or_else(|| panic!("no detached output for {id}"));
        fs::read_to_string(out).unwrap_or_default()
    }

    /// `start ID`.
    pub fn start(&self, id: &str) -> Output {
        self.exec(&["start", id])
    }

    /// `state ID`.
    pub fn state(&self, id: &str) -> Output {
        self.exec(&["state", id])
    }

    /// `state ID` parsed; panics if it fails or is not JSON.
    #[track_caller]
    pub fn state_json(&self, id: &str) -> Value {
        let o = self.state(id);
        let s = ok(&o);
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("state {id}: not JSON ({e}): {s}"))
    }

    /// The `status` field of `state ID`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state_json(id)["status"]
            .as_str()
            .expect("status is a string")
            .to_string()
    }

    fn state_pid(&self, id: &str) -> Option<i32> {
        let o = self.state(id);
        let v: Value = serde_json::from_slice(&o.stdout).ok()?;
        v["pid"].as_i64().map(|p| p as i32)
    }

    /// Waits up to 10 s for `state ID` to report `status`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) {
        let mut last = String::new();
        let reached = wait_until(Duration::from_secs(10), || {
            let o = self.state(id);
            last = stdout(&o) + &stderr(&o);
            serde_json::from_slice::<Value>(&o.stdout)
                .map(|v| v["status"] == status)
                .unwrap_or(false)
        });
        assert!(reached, "{id} never became {status}; last state: {last}");
    }

    /// `kill ID [SIGNAL]`.
    pub fn kill(&self, id: &str, signal: Option<&str>) -> Output {
        match signal {
            Some(s) => self.exec(&["kill", id, s]),
            None => self.exec(&["kill", id]),
        }
    }

    /// `delete ID`.
    pub fn delete(&self, id: &str) -> Output {
        self.exec(&["delete", id])
    }

    /// `delete --force ID`.
    pub fn delete_force(&self, id: &str) -> Output {
        self.exec(&["delete", "--force", id])
    }

    /// `list [EXTRA...]`.
    pub fn list(&self, extra: &[&str]) -> Output {
        let mut args = vec!["list"];
        args.extend_from_slice(extra);
        self.exec(&args)
    }

    /// `spec [EXTRA...]`.
    pub fn spec(&self, extra: &[&str]) -> Output {
        let mut args = vec!["spec"];
        args.extend_from_slice(extra);
        self.exec(&args)
    }

    /// Entries under the state root (empty if it does not exist).
    pub fn state_entries(&self) -> Vec<String> {
        match fs::read_dir(&self.root) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Reaps a container init pid (the test process is its subreaper) within `timeout` and
    /// forgets it, so cleanup never waits on a pid that may have been reused since.
    pub fn reap_init(&self, pid: i32, timeout: Duration) -> Option<i32> {
        let status = reap(pid, timeout);
        if status.is_some() {
            self.inits.borrow_mut().retain(|p| *p != pid);
        }
        status
    }

    /// Force-deletes every container this wrapper created and reaps their init pids (only
    /// the ones recorded while alive and not reaped yet: a stale pid may belong to a
    /// process another test is waiting for).
    fn cleanup(&self) {
        for id in self.ids.borrow().iter() {
            let o = self.delete_force(id);
            if !o.status.success() && self.state(id).status.success() {
                eprintln!("cleanup: delete --force {id} failed: {}", stderr(&o));
            }
        }
        for pid in self.inits.borrow_mut().drain(..) {
            reap(pid, Duration::from_secs(5));
        }
    }
}

fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        sleep(Duration::from_millis(5));
    }
}

/// One test's resources. Dropping it deletes its containers (`delete --force`), reaps their
/// inits, kills helper processes, detaches the host mounts it made, removes the cgroup dirs
/// named after its ids and its temp dir.
pub struct Test {
    /// Short name, used in ids and the temp dir.
    pub name: String,
    /// The test's temp dir (bundles, state root, logs, host dirs).
    pub dir: PathBuf,
    /// The runtime under test, with its own `--root`.
    pub rt: Runtime,
    ids: RefCell<Vec<String>>,
    helpers: RefCell<Vec<Child>>,
    mounts: RefCell<Vec<PathBuf>>,
    seq: Cell<u32>,
}

impl Test {
    /// Sets up a test, or prints "skipped: ..." and returns None when not root or without
    /// busybox. Panics if the runtime binary is missing.
    pub fn new(name: &str) -> Option<Test> {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {name}: {why}");
            return None;
        }
        let bin = runtime_bin();
        assert!(
            bin.is_file(),
            "runtime binary {} not found: build it (cargo build -p berth-runtime) or set BERTH_RUNTIME",
            bin.display()
        );
        become_subreaper();
        *LIVE_TESTS.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let short: String = name.chars().take(40).collect();
        let dir = std::env::temp_dir().join(format!(
            "berth-it-{short}-{}-{}",
            std::process::id(),
            next()
        ));
        fs::create_dir_all(dir.join("logs")).expect("create test dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod test dir");
        let rt = Runtime::new(bin, dir.join("state"), dir.join("logs"));
        Some(Test {
            name: short,
            dir,
            rt,
            ids: RefCell::new(Vec::new()),
            helpers: RefCell::new(Vec::new()),
            mounts: RefCell::new(Vec::new()),
            seq: Cell::new(0),
        })
    }

    /// A fresh container id, unique across tests and processes: `<name>-<pid>-<n>`.
    pub fn id(&self) -> String {
        let n = self.seq.get();
        self.seq.set(n + 1);
        let id = format!("{}-{}-{}", self.name, std::process::id(), n);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A new bundle dir under the test dir with a busybox rootfs, a config.json made by
    /// `RUNTIME spec` and the harness defaults (see [`Bundle`]), with a fresh id.
    pub fn bundle(&self) -> Bundle {
        let id = self.id();
        let path = self.dir.join(format!("bundle-{}", self.seq.get()));
        fs::create_dir_all(&path).expect("bundle dir");
        make_rootfs(&path.join("rootfs"));
        let o = self.rt.spec(&["--bundle", &path.to_string_lossy()]);
        ok(&o);
        let mut b = Bundle {
            config: read_json(&path.join("config.json")),
            id,
            path,
        };
        b.apply_defaults();
        b.save();
        b
    }

    /// A host directory under the test dir, mode 0777 so any container user can write it.
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        fs::create_dir_all(&p).expect("host dir");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).expect("chmod host dir");
        p
    }

    /// Spawns a helper process on the host; it is killed (by pid) and reaped at cleanup.
    pub fn spawn_helper(&self, mut cmd: Command) -> u32 {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let pid = child.id();
        self.helpers.borrow_mut().push(child);
        pid
    }

    /// Mounts a tmpfs on `target` (under the test dir) on the host; detached at cleanup.
    pub fn host_tmpfs(&self, target: &Path) {
        assert!(
            target.starts_with(&self.dir),
            "host mounts stay inside the test dir"
        );
        fs::create_dir_all(target).expect("mount point");
        let src = CString::new("tmpfs").unwrap();
        let tgt = CString::new(target.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid C strings; the mount is ours and detached in Drop.
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                tgt.as_ptr(),
                src.as_ptr(),
                0,
                c"size=1m".as_ptr().cast(),
            )
        };
        assert_eq!(
            r,
            0,
            "mount tmpfs on {}: {}",
            target.display(),
            std::io::Error::last_os_error()
        );
        self.mounts.borrow_mut().push(target.to_path_buf());
    }

    /// Runs the bundle's container in the foreground to completion (`run`, stdin null).
    pub fn run(&self, b: &Bundle) -> Output {
        self.rt.run(&b.id, &b.path)
    }

    /// Runs `sh -c SCRIPT` in the bundle and returns stdout, panicking if the exit is not 0.
    #[track_caller]
    pub fn sh(&self, b: Bundle, script: &str) -> String {
        let b = b.sh(script);
        ok(&self.run(&b))
    }
}

impl Drop for Test {
    fn drop(&mut self) {
        self.rt.cleanup();
        for child in self.helpers.borrow_mut().iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for m in self.mounts.borrow().iter().rev() {
            detach(m);
        }
        for id in self.ids.borrow().iter() {
            for_each_cgroup_controller(|c| {
                let _ = fs::remove_dir(c.join(CGROUP_PARENT).join(id));
            });
        }
        // Mounts a buggy runtime left on the host under our dir: detach before removing,
        // and never recurse into another filesystem.
        let mut leaked = host_mount_points_under(&self.dir);
        leaked.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for m in &leaked {
            eprintln!("cleanup: detaching leaked host mount {}", m.display());
            detach(m);
        }
        if host_mount_points_under(&self.dir).is_empty() {
            if let Err(e) = remove_tree_same_fs(&self.dir) {
                eprintln!("cleanup: removing {}: {e}", self.dir.display());
            }
        } else {
            eprintln!(
                "cleanup: left {} in place: mounts remain under it",
                self.dir.display()
            );
        }
        let mut live = LIVE_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        *live -= 1;
        if *live == 0 {
            for_each_cgroup_controller(|c| {
                let _ = fs::remove_dir(c.join(CGROUP_PARENT));
            });
        }
    }
}

fn for_each_cgroup_controller(mut f: impl FnMut(&Path)) {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        f(base);
        return;
    }
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.flatten() {
            f(&e.path());
        }
    }
}

fn detach(path: &Path) {
    if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: valid C string; only paths under this test's own dir get here.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

fn host_mount_points_under(dir: &Path) -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect()
}

fn remove_tree_same_fs(dir: &Path) -> std::io::Result<()> {
    let dev = fs::symlink_metadata(dir)?.dev();
    fn walk(p: &Path, dev: u64) -> std::io::Result<()> {
        for e in fs::read_dir(p)? {
            let e = e?;
            let md = fs::symlink_metadata(e.path())?;
            if md.is_dir() {
                if md.dev() != dev {
                    return Err(std::io::Error::other(format!(
                        "{} is another filesystem",
                        e.path().display()
                    )));
                }
                walk(&e.path(), dev)?;
                fs::remove_dir(e.path())?;
            } else {
                fs::remove_file(e.path())?;
            }
        }
        Ok(())
    }
    walk(dir, dev)?;
    fs::remove_dir(dir)
}

fn make_rootfs(root: &Path) {
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(root.join(d)).expect("rootfs dir");
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).expect("applet link");
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    fs::write(root.join("etc/group"), "root:x:0:\n").expect("group");
}

/// Reads and parses a JSON file.
pub fn read_json(path: &Path) -> Value {
    let s = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// A bundle dir: `rootfs/` (busybox) and `config.json`, generated by `RUNTIME spec`, then
/// given these defaults: `process.terminal=false`, `root.readonly=false`, no
/// `linux.resources` (cgroup limits are out of scope), no `/sys/fs/cgroup` mount, and
/// `linux.cgroupsPath=/berth-test/<id>` so the container gets its own cgroup. Builder
/// methods edit the config and write it back at once.
pub struct Bundle {
    /// The container id reserved for this bundle (also names its cgroup).
    pub id: String,
    /// Absolute bundle path.
    pub path: PathBuf,
    config: Value,
}

impl Bundle {
    fn apply_defaults(&mut self) {
        let id = self.id.clone();
        let c = &mut self.config;
        c["process"]["terminal"] = json!(false);
        c["root"]["readonly"] = json!(false);
        if let Some(l) = c["linux"].as_object_mut() {
            l.remove("resources");
        }
        c["linux"]["cgroupsPath"] = json!(format!("/{CGROUP_PARENT}/{id}"));
        if let Some(m) = c["mounts"].as_array_mut() {
            m.retain(|m| m["destination"] != "/sys/fs/cgroup");
        }
    }

    /// The rootfs dir.
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    /// The config, for direct edits; call [`Bundle::save`] afterwards.
    pub fn config_mut(&mut self) -> &mut Value {
        &mut self.config
    }

    /// The config as it is in memory.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// Writes config.json.
    pub fn save(&self) {
        let s = serde_json::to_string_pretty(&self.config).expect("serialize config");
        fs::write(self.path.join("config.json"), s).expect("write config.json");
    }

    /// Edits the config with `f` and writes it.
    pub fn edit(mut self, f: impl FnOnce(&mut Value)) -> Self {
        f(&mut self.config);
        self.save();
        self
    }

    /// `process.args`.
    pub fn args(self, args: &[&str]) -> Self {
        self.edit(|c| c["process"]["args"] = json!(args))
    }

    /// `process.args = ["sh", "-c", script]`.
    pub fn sh(self, script: &str) -> Self {
        self.args(&["sh", "-c", script])
    }

    /// Appends `KEY=VALUE` to `process.env`.
    pub fn env(self, kv: &str) -> Self {
        self.edit(|c| push(&mut c["process"]["env"], json!(kv)))
    }

    /// `process.cwd`.
    pub fn cwd(self, cwd: &str) -> Self {
        self.edit(|c| c["process"]["cwd"] = json!(cwd))
    }

    /// `hostname`.
    pub fn hostname(self, h: &str) -> Self {
        self.edit(|c| c["hostname"] = json!(h))
    }

    /// `root.readonly`.
    pub fn readonly(self, ro: bool) -> Self {
        self.edit(|c| c["root"]["readonly"] = json!(ro))
    }

    /// Appends an entry to `mounts`.
    pub fn mount(self, m: Value) -> Self {
        self.edit(|c| push(&mut c["mounts"], m))
    }

    /// Appends a bind mount of host `src` on `dst` with `options` (add "bind"/"rbind").
    pub fn bind(self, src: &Path, dst: &str, options: &[&str]) -> Self {
        self.mount(json!({"destination": dst, "type": "bind", "source": src, "options": options}))
    }

    /// Adds (or replaces) a namespace of `kind`, joined by `path` when given.
    pub fn namespace(self, kind: &str, path: Option<&str>) -> Self {
        self.edit(|c| {
            let ns = &mut c["linux"]["namespaces"];
            if let Some(a) = ns.as_array_mut() {
                a.retain(|n| n["type"] != kind);
            }
            let mut n = json!({ "type": kind });
            if let Some(p) = path {
                n["path"] = json!(p);
            }
            push(ns, n);
        })
    }

    /// Removes the namespace of `kind`.
    pub fn without_namespace(self, kind: &str) -> Self {
        self.edit(|c| {
            if let Some(a) = c["linux"]["namespaces"].as_array_mut() {
                a.retain(|n| n["type"] != kind);
            }
        })
    }

    /// Adds a hook `{path, args, env?, timeout?}` under `hooks.<stage>`.
    pub fn hook(self, stage: &str, hook: Value) -> Self {
        self.edit(|c| push(&mut c["hooks"][stage], hook))
    }
}

fn push(v: &mut Value, item: Value) {
    if !v.is_array() {
        *v = json!([]);
    }
    v.as_array_mut().expect("array").push(item);
}

/// A unix socket listening for the runtime's `--console-socket` connection.
pub struct ConsoleSocket {
    /// Socket path to pass as `--console-socket`.
    pub path: PathBuf,
    fd: OwnedFd,
}

impl ConsoleSocket {
    /// Binds and listens on `path`.
    pub fn bind(path: &Path) -> ConsoleSocket {
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_un is plain old data; zeroed is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_os_str().as_bytes();
        assert!(
            bytes.len() < addr.sun_path.len(),
            "socket path too long: {}",
            path.display()
        );
        for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: addr is a valid sockaddr_un of size len.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        assert_eq!(
            r,
            0,
            "bind {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        // SAFETY: listening on our own socket.
        let r = unsafe { libc::listen(fd.as_raw_fd(), 1) };
        assert_eq!(r, 0, "listen: {}", std::io::Error::last_os_error());
        ConsoleSocket {
            path: path.to_path_buf(),
            fd,
        }
    }

    /// Accepts one connection and receives the pty master sent with SCM_RIGHTS.
    pub fn recv_master(&self, timeout: Duration) -> OwnedFd {
        assert!(
            poll_in(self.fd.as_raw_fd(), timeout),
            "no connection on the console socket"
        );
        // SAFETY: accept on our listening socket.
        let conn = unsafe {
            libc::accept4(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        assert!(conn >= 0, "accept: {}", std::io::Error::last_os_error());
        // SAFETY: conn is a fresh fd we own.
        let conn = unsafe { OwnedFd::from_raw_fd(conn) };
        assert!(
            poll_in(conn.as_raw_fd(), timeout),
            "nothing received on the console socket"
        );
        let mut data = [0u8; 4096];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut cbuf = [0u64; 64];
        // SAFETY: msghdr is plain old data; the pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        // SAFETY: msg points at valid buffers.
        let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
        // SAFETY: walking the control messages the kernel filled in msg.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const RawFd);
                    return OwnedFd::from_raw_fd(fd);
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        panic!("no SCM_RIGHTS fd in the console socket message");
    }
}

fn poll_in(fd: RawFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) };
    r > 0
}

/// Reads a pty master until the slave side is closed (EIO) or `timeout` passes.
pub fn read_pty(master: &OwnedFd, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut f = File::from(master.try_clone().expect("dup master"));
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        if !poll_in(f.as_raw_fd(), Duration::from_millis(100)) {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Makes a pipe (both ends close-on-exec) and returns (read, write).
pub fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds are fresh and owned here.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// Writes `text` to `path` with mode 0755 (for hook scripts and such).
pub fn write_executable(path: &Path, text: &str) {
    let mut f = File::create(path).expect("create script");
    f.write_all(text.as_bytes()).expect("write script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod script");
}
