//! Harness for berth-shim's end-to-end tests: the shim started the way podman starts
//! conmon, and driven through conmon's contract only.
//!
//! The shim is `$BERTH_SHIM` (e.g. `/usr/bin/conmon`, to check that a test encodes
//! conmon's behaviour) or `<workspace>/target/debug/berth-shim`. Under it runs the runtime
//! under test ([`crate::runtime_bin`]), with the test's own `--root` passed as
//! `--runtime-arg`s.
//!
//! [`ShimRun`] owns one shim: its socketpairs (`_OCI_SYNCPIPE`, `_OCI_STARTPIPE`,
//! `_OCI_ATTACHPIPE` as fds 3, 4, 5), its dir (exit dir, persist dir, logs, pid files) and
//! its container. Dropping it, also when the test panics, kills the shim by the pid it
//! wrote, force-deletes the container through the runtime and reaps whatever was
//! re-parented to the test process; [`crate::Test`] removes the dirs and cgroups after.

mod attach;
mod logs;
mod watch;

pub use attach::{Attach, Received, MAX_PACKET, STDERR, STDOUT};
pub use logs::*;
pub use watch::DirWatch;

use std::cell::{Cell, RefCell};
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{proc_parent_and_state, reap, shim_bin, wait_until, Bundle, Test};

/// How long the harness waits for anything the shim should do promptly.
pub const SHIM_TIMEOUT: Duration = Duration::from_secs(20);

/// True when the shim under test is conmon itself (its `--version` does not name
/// berth-shim).
pub fn shim_is_conmon() -> bool {
    static IS_CONMON: OnceLock<bool> = OnceLock::new();
    *IS_CONMON.get_or_init(|| {
        Command::new(shim_bin())
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map(|o| !String::from_utf8_lossy(&o.stdout).contains("berth-shim"))
            .unwrap_or(false)
    })
}

/// Skips the rest of a test under conmon, for a berth-only feature. Returns true (and
/// prints why) when the caller should return.
pub fn skip_under_conmon(why: &str) -> bool {
    if shim_is_conmon() {
        eprintln!("skipped under conmon: {why}");
        return true;
    }
    false
}

/// How a [`ShimRun`] is started; build with [`Test::shim`] or [`Test::exec_shim`].
pub struct ShimBuilder<'t> {
    t: &'t Test,
    cid: String,
    cuuid: String,
    bundle: PathBuf,
    dir: PathBuf,
    args: Vec<String>,
    logs: Vec<(String, PathBuf)>,
    full_attach: bool,
    persist: bool,
    kind: Kind,
    via_caller: bool,
}

/// What the shim runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Container,
    /// An exec session; `attach`: with `--exec-attach` and `_OCI_ATTACHPIPE`.
    Exec {
        attach: bool,
    },
}

impl Test {
    /// A shim for the bundle's container: `-c ID -u ID -b BUNDLE --full-attach`, an exit dir
    /// of its own, no log until [`ShimBuilder::log`] adds one.
    pub fn shim(&self, b: &Bundle) -> ShimBuilder<'_> {
        let dir = self.dir.join(format!("shim-{}", b.id));
        ShimBuilder::new(self, &b.id, &b.id, b.path.clone(), dir, Kind::Container)
    }

    /// A shim for an exec session in the running container `container` (as podman does it:
    /// `-e --exec-process-spec FILE`, a bundle dir of the session's own), running
    /// `process` (a config.json `process` object).
    pub fn exec_shim(
        &self,
        container: &ShimRun<'_>,
        session: &str,
        process: &Value,
    ) -> ShimBuilder<'_> {
        let dir = self.dir.join(format!("exec-{session}"));
        let bundle = dir.join("bundle");
        fs::create_dir_all(&bundle).expect("exec bundle dir");
        let spec = dir.join("process.json");
        fs::write(&spec, process.to_string()).expect("write process.json");
        let kind = Kind::Exec { attach: false };
        let mut b = ShimBuilder::new(self, &container.cid, session, bundle, dir, kind);
        b.args
            .extend(["-e".into(), "--exec-process-spec".into(), path_arg(&spec)]);
        b
    }
}

impl<'t> ShimBuilder<'t> {
    fn new(t: &'t Test, cid: &str, cuuid: &str, bundle: PathBuf, dir: PathBuf, kind: Kind) -> Self {
        fs::create_dir_all(dir.join("exits")).expect("shim dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod shim dir");
        ShimBuilder {
            t,
            cid: cid.to_string(),
            cuuid: cuuid.to_string(),
            bundle,
            dir,
            args: Vec::new(),
            logs: Vec::new(),
            full_attach: true,
            persist: false,
            kind,
            via_caller: false,
        }
    }

    /// Extra command-line arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// `-t`: a pty (the bundle's `process.terminal` must be true as well).
    pub fn terminal(self) -> Self {
        self.args(&["-t"])
    }

    /// `-i`: a stdin for the container, fed from attach clients.
    pub fn stdin(self) -> Self {
        self.args(&["-i"])
    }

    /// `-l DRIVER:<shim dir>/DRIVER.log`; read it with [`ShimRun::log_file`].
    pub fn log(mut self, driver: &str) -> Self {
        let path = self.dir.join(format!("{driver}.log"));
        self.args
            .extend(["-l".into(), format!("{driver}:{}", path.display())]);
        self.logs.push((driver.to_string(), path));
        self
    }

    /// `--persist-dir <shim dir>/persist`.
    pub fn persist(mut self) -> Self {
        self.persist = true;
        self
    }

    /// The attach socket under `--socket-dir-path <shim dir>/sock`, as
    /// `<dir>/<cuuid>/attach`, instead of `--full-attach`'s `<bundle>/attach`.
    pub fn socket_dir(mut self) -> Self {
        self.full_attach = false;
        self
    }

    /// `--exec-attach` with `_OCI_ATTACHPIPE` (exec sessions only): the runtime is started
    /// only after [`ShimRun::attach_exec`] sends the second start message.
    pub fn exec_attach(mut self) -> Self {
        assert!(
            self.kind != Kind::Container,
            "--exec-attach is for exec sessions"
        );
        self.kind = Kind::Exec { attach: true };
        self.args(&["--exec-attach"])
    }

    /// Starts the shim from a caller process (`sh`, which then sleeps) that holds the
    /// pipes as podman would; [`ShimRun::kill_caller`] kills it with SIGKILL.
    pub fn via_caller(mut self) -> Self {
        self.via_caller = true;
        self
    }

    fn command_line(&self, runtime: &Path) -> Vec<String> {
        let d = |name: &str| path_arg(&self.dir.join(name));
        let mut a: Vec<String> = vec![
            "--api-version".into(),
            "1".into(),
            "-c".into(),
            self.cid.clone(),
            "-u".into(),
            self.cuuid.clone(),
            "-n".into(),
            self.cuuid.clone(),
            "-r".into(),
            path_arg(runtime),
            "-b".into(),
            path_arg(&self.bundle),
            "-p".into(),
            d("pidfile"),
            "--exit-dir".into(),
            d("exits"),
            "--conmon-pidfile".into(),
            d("shim.pid"),
            "--log-level".into(),
            "debug".into(),
        ];
        for r in [
            "--root".to_string(),
            path_arg(&self.t.rt.root),
            "--log-format=json".into(),
            "--log".into(),
            d("oci-log"),
        ] {
            a.push("--runtime-arg".into());
            a.push(r);
        }
        if self.persist {
            a.extend(["--persist-dir".into(), d("persist")]);
        }
        if self.full_attach {
            a.push("--full-attach".into());
        } else {
            a.extend(["--socket-dir-path".into(), d("sock")]);
        }
        if self.logs.is_empty() && !self.args.iter().any(|x| x == "-l") {
            a.extend(["-l".into(), "none".into()]);
        }
        a.extend(self.args.iter().cloned());
        a
    }

    /// Spawns the shim as podman does, writes the start message and waits for the first
    /// process to exit (it daemonizes) and for `--conmon-pidfile`.
    #[track_caller]
    pub fn spawn(self) -> ShimRun<'t> {
        // The test's runtime (`t.rt`) starts and deletes the container: the same binary.
        let args = self.command_line(&self.t.rt.bin);
        if self.persist {
            fs::create_dir_all(self.dir.join("persist")).expect("persist dir");
        }
        fs::create_dir_all(self.dir.join("sock")).expect("socket dir");
        let (sync, sync_child) = seqpacket_pair();
        let (start, start_child) = seqpacket_pair();
        let (attach_pipe, attach_child) = match self.kind {
            Kind::Exec { attach: true } => {
                let (a, b) = seqpacket_pair();
                (Some(a), Some(b))
            }
            _ => (None, None),
        };
        let mut cmd = if self.via_caller {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg("\"$@\"; exec sleep 600").arg("caller");
            c.arg(shim_bin());
            c
        } else {
            Command::new(shim_bin())
        };
        cmd.args(&args)
            .env("_OCI_SYNCPIPE", "3")
            .env("_OCI_STARTPIPE", "4")
            .stdin(Stdio::null())
            .stdout(File::create(self.dir.join("launch.stdout")).expect("stdout file"))
            .stderr(File::create(self.dir.join("launch.stderr")).expect("stderr file"));
        let mut child_ends = vec![sync_child.as_raw_fd(), start_child.as_raw_fd()];
        if let Some(a) = &attach_child {
            cmd.env("_OCI_ATTACHPIPE", "5");
            child_ends.push(a.as_raw_fd());
        }
        // SAFETY: the hook only calls fcntl and dup2, which are async-signal-safe.
        unsafe { cmd.pre_exec(move || place_fds_from_3(&child_ends)) };
        let mut launcher = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", shim_bin().display()));
        drop((sync_child, start_child, attach_child));
        let run = ShimRun {
            t: self.t,
            cid: self.cid,
            cuuid: self.cuuid,
            bundle: self.bundle,
            dir: self.dir,
            logs: self.logs,
            full_attach: self.full_attach,
            is_exec: self.kind != Kind::Container,
            args,
            sync: RefCell::new(Some(sync)),
            start: RefCell::new(Some(start)),
            attach_pipe,
            pending: RefCell::new(Vec::new()),
            pid: Cell::new(None),
            container_pid: Cell::new(None),
            caller: RefCell::new(None),
            launch_status: Cell::new(None),
        };
        if !run.is_exec {
            self.t.rt.adopt(&run.cid);
        }
        run.send_start();
        if self.via_caller {
            *run.caller.borrow_mut() = Some(launcher);
        } else {
            let status = crate::runtime::wait_child(&mut launcher, SHIM_TIMEOUT);
            run.launch_status.set(status);
            assert!(
                status.is_some_and(|s| s.success()),
                "the shim's first process: {status:?}\n{}",
                run.diagnostics()
            );
        }
        let pidfile = run.dir.join("shim.pid");
        let found = wait_until(SHIM_TIMEOUT, || read_pid(&pidfile).is_some());
        assert!(found, "no --conmon-pidfile written\n{}", run.diagnostics());
        run.pid.set(read_pid(&pidfile));
        run
    }
}

/// One shim and its container (or exec session).
pub struct ShimRun<'t> {
    t: &'t Test,
    /// `-c`: the container id.
    pub cid: String,
    /// `-u`: names the attach socket's dir (the exec session id for an exec).
    pub cuuid: String,
    /// `-b`.
    pub bundle: PathBuf,
    /// The shim's own dir: `exits/`, `persist/`, `sock/`, logs, pid files.
    pub dir: PathBuf,
    logs: Vec<(String, PathBuf)>,
    full_attach: bool,
    is_exec: bool,
    /// The shim's command line (for messages).
    pub args: Vec<String>,
    sync: RefCell<Option<OwnedFd>>,
    start: RefCell<Option<OwnedFd>>,
    attach_pipe: Option<OwnedFd>,
    pending: RefCell<Vec<u8>>,
    pid: Cell<Option<i32>>,
    container_pid: Cell<Option<i32>>,
    caller: RefCell<Option<Child>>,
    launch_status: Cell<Option<ExitStatus>>,
}

impl ShimRun<'_> {
    /// The daemonized shim's pid, from `--conmon-pidfile`.
    pub fn pid(&self) -> i32 {
        self.pid.get().expect("the shim wrote its pid")
    }

    /// The caller's pid ([`ShimBuilder::via_caller`]).
    pub fn caller_pid(&self) -> i32 {
        self.caller
            .borrow()
            .as_ref()
            .expect("started via a caller")
            .id() as i32
    }

    /// SIGKILLs the caller process ([`ShimBuilder::via_caller`]) and drops the test's own
    /// ends of the pipes, so that nothing of the caller is left.
    pub fn kill_caller(&self) {
        if let Some(mut c) = self.caller.borrow_mut().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.sync.borrow_mut().take();
        self.start.borrow_mut().take();
    }

    fn send_start(&self) {
        let start = self.start.borrow();
        let fd = start.as_ref().expect("start pipe open");
        // podman writes a single byte; the message means "you are in your cgroup, go".
        // SAFETY: one byte from a valid buffer to our own socket.
        let n = unsafe { libc::send(fd.as_raw_fd(), [0u8].as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
        assert_eq!(n, 1, "start pipe: {}", std::io::Error::last_os_error());
    }

    /// The next `{"data": N, ...}` message on the sync pipe, or None at EOF.
    #[track_caller]
    pub fn try_sync_message(&self, timeout: Duration) -> Option<Value> {
        let guard = self.sync.borrow();
        let fd = guard.as_ref().expect("sync pipe open").as_raw_fd();
        let deadline = Instant::now() + timeout;
        loop {
            let mut pending = self.pending.borrow_mut();
            if let Some(nl) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=nl).collect();
                let text = String::from_utf8_lossy(&line);
                return Some(
                    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
                        panic!("sync pipe message is not JSON ({e}): {text:?}")
                    }),
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                attach::poll_in(fd, left),
                "no message on the sync pipe within {timeout:?}\n{}",
                self.diagnostics()
            );
            let mut buf = [0u8; 65536];
            // SAFETY: recv into a valid buffer of its size.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            assert!(n >= 0, "sync pipe: {}", std::io::Error::last_os_error());
            if n == 0 {
                if pending.is_empty() {
                    return None;
                }
                let rest = String::from_utf8_lossy(&pending).into_owned();
                panic!("sync pipe closed after a partial message {rest:?}");
            }
            pending.extend_from_slice(&buf[..n as usize]);
        }
    }

    /// The next sync pipe message; panics at EOF.
    #[track_caller]
    pub fn sync_message(&self) -> Value {
        self.try_sync_message(SHIM_TIMEOUT)
            .unwrap_or_else(|| panic!("sync pipe closed\n{}", self.diagnostics()))
    }

    /// Waits for `{"data": PID}` (the container or exec process created) and returns PID.
    #[track_caller]
    pub fn created(&self) -> i32 {
        let m = self.sync_message();
        let pid = m["data"].as_i64().unwrap_or(-1);
        assert!(
            pid > 0,
            "expected a pid on the sync pipe, got {m}\n{}",
            self.diagnostics()
        );
        self.container_pid.set(Some(pid as i32));
        pid as i32
    }

    /// `RUNTIME start CID`, as podman runs it once the shim reported the pid.
    #[track_caller]
    pub fn start(&self) {
        crate::ok(&self.t.rt.start(&self.cid));
    }

    /// [`ShimRun::created`] then [`ShimRun::start`]; returns the container's pid.
    #[track_caller]
    pub fn run(&self) -> i32 {
        let pid = self.created();
        self.start();
        pid
    }

    /// The exit file `<exit dir>/<cid>`.
    pub fn exit_file(&self) -> PathBuf {
        self.dir.join("exits").join(&self.cid)
    }

    /// The `--persist-dir`.
    pub fn persist_dir(&self) -> PathBuf {
        self.dir.join("persist")
    }

    /// Waits for the exit file and returns the code in it.
    #[track_caller]
    pub fn exit_code(&self, timeout: Duration) -> i32 {
        let f = self.exit_file();
        let written = wait_until(timeout, || f.exists());
        assert!(
            written,
            "no exit file {} within {timeout:?}\n{}",
            f.display(),
            self.diagnostics()
        );
        let text = fs::read_to_string(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("exit file {} holds {text:?}, not a number", f.display()))
    }

    /// Reaps the shim (a child of the test process, its subreaper, once it daemonized);
    /// true if it exited within `timeout`.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let pid = self.pid();
        if reap_own_child(pid, timeout).is_some() {
            return true;
        }
        !crate::pid_alive(pid) && proc_parent_and_state(pid).is_none()
    }

    /// The attach socket's path (`<bundle>/attach` with `--full-attach`).
    pub fn attach_path(&self) -> PathBuf {
        if self.full_attach {
            self.bundle.join("attach")
        } else {
            self.dir.join("sock").join(&self.cuuid).join("attach")
        }
    }

    /// Connects to the attach socket (waiting for it to appear).
    #[track_caller]
    pub fn attach(&self) -> Attach {
        let path = self.attach_path();
        let there = wait_until(SHIM_TIMEOUT, || path.exists());
        assert!(
            there,
            "no attach socket {}\n{}",
            path.display(),
            self.diagnostics()
        );
        Attach::connect(&path)
    }

    /// For `--exec-attach`: waits for `{"data": 0}` on the attach pipe (the socket
    /// listens), connects, then sends the second start message that lets the exec run.
    #[track_caller]
    pub fn attach_exec(&self) -> Attach {
        let fd = self
            .attach_pipe
            .as_ref()
            .expect("--exec-attach")
            .as_raw_fd();
        assert!(
            attach::poll_in(fd, SHIM_TIMEOUT),
            "nothing on the attach pipe\n{}",
            self.diagnostics()
        );
        let mut buf = [0u8; 4096];
        // SAFETY: recv into a valid buffer of its size.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        assert!(n > 0, "attach pipe closed\n{}", self.diagnostics());
        let text = String::from_utf8_lossy(&buf[..n as usize]);
        let m: Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("attach pipe message is not JSON ({e}): {text:?}"));
        assert_eq!(m["data"], 0, "attach pipe message: {m}");
        let a = self.attach();
        self.send_start();
        a
    }

    /// Writes one line to the `<bundle>/ctl` fifo, e.g. `"1 30 100"` (resize).
    #[track_caller]
    pub fn ctl(&self, line: &str) {
        self.write_fifo("ctl", line);
    }

    /// Writes one line to the `<bundle>/winsz` fifo, e.g. `"30 100"`.
    #[track_caller]
    pub fn winsz(&self, line: &str) {
        self.write_fifo("winsz", line);
    }

    #[track_caller]
    fn write_fifo(&self, name: &str, line: &str) {
        let path = self.bundle.join(name);
        let there = wait_until(SHIM_TIMEOUT, || path.exists());
        assert!(there, "no {} fifo\n{}", path.display(), self.diagnostics());
        // Non-blocking: a shim that does not read its fifo fails the test, never hangs it.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {} for writing: {e}", path.display()));
        f.write_all(format!("{line}\n").as_bytes())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// The log file of `driver` added with [`ShimBuilder::log`].
    pub fn log_file(&self, driver: &str) -> PathBuf {
        self.logs
            .iter()
            .find(|(d, _)| d == driver)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("no {driver} log was asked for"))
    }

    /// The container's pid as the runtime last wrote it to `-p` (it changes on restart).
    pub fn container_pidfile_pid(&self) -> Option<i32> {
        read_pid(&self.dir.join("pidfile"))
    }

    /// The shim's peak resident set in KiB (VmHWM), while it runs.
    pub fn peak_rss_kb(&self) -> Option<u64> {
        status_field_kb(self.pid(), "VmHWM:")
    }

    /// What is known about the shim, for failure messages: its command line, whether it
    /// lives, its stderr from before it daemonized, the runtime's log.
    pub fn diagnostics(&self) -> String {
        let read = |n: &str| fs::read_to_string(self.dir.join(n)).unwrap_or_default();
        format!(
            "shim: {} {}\nshim pid {:?} alive: {}; launcher exit: {:?}\nlaunch stderr: {}\nruntime log: {}",
            shim_bin().display(),
            self.args.join(" "),
            self.pid.get(),
            self.pid.get().is_some_and(crate::pid_alive),
            self.launch_status.get(),
            read("launch.stderr"),
            read("oci-log"),
        )
    }
}

impl Drop for ShimRun<'_> {
    fn drop(&mut self) {
        if let Some(mut c) = self.caller.borrow_mut().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(pid) = self.pid.get() {
            if crate::pid_alive(pid)
                && proc_parent_and_state(pid).is_some_and(|(pp, _)| pp == own_pid())
            {
                // SAFETY: kill by the pid the shim wrote, and only while it is our child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            reap_own_child(pid, Duration::from_secs(5));
        }
        if !self.is_exec {
            let _ = self.t.rt.delete_force(&self.cid);
        }
        let pids = [self.container_pid.get(), self.container_pidfile_pid()];
        for pid in pids.into_iter().flatten() {
            reap_own_child(pid, Duration::from_secs(2));
        }
    }
}

/// Reaps `pid` only if it is a child of the test process (checked through /proc first:
/// a pid that is not ours may be another test's process, or reused).
pub fn reap_own_child(pid: i32, timeout: Duration) -> Option<i32> {
    match proc_parent_and_state(pid) {
        Some((ppid, _)) if ppid == own_pid() => reap(pid, timeout),
        _ => None,
    }
}

fn own_pid() -> i32 {
    std::process::id() as i32
}

/// A `/proc/PID/status` field in kB, e.g. `VmHWM:`.
pub fn status_field_kb(pid: i32, field: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// Children of `pid` (from /proc): (pid, state letter).
pub fn children_of(pid: i32) -> Vec<(i32, char)> {
    crate::all_pids()
        .into_iter()
        .filter_map(|p| match proc_parent_and_state(p) {
            Some((pp, st)) if pp == pid => Some((p, st)),
            _ => None,
        })
        .collect()
}

/// Children of `pid` that are zombies.
pub fn zombie_children_of(pid: i32) -> Vec<i32> {
    children_of(pid)
        .into_iter()
        .filter(|(_, st)| *st == 'Z')
        .map(|(p, _)| p)
        .collect()
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors socketpair fills in.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0, "socketpair: {}", std::io::Error::last_os_error());
    // SAFETY: both fds are fresh and owned here.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// In the forked child before exec: `ends[i]` becomes fd `3 + i`, without close-on-exec.
/// First moved above 64 so that no end is overwritten by another's dup2.
fn place_fds_from_3(ends: &[RawFd]) -> std::io::Result<()> {
    let mut high = [-1; 3];
    for (h, fd) in high.iter_mut().zip(ends) {
        // SAFETY: fcntl on an fd open in this process.
        *h = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 64) };
        if *h < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for (i, h) in high.iter().take(ends.len()).enumerate() {
        // SAFETY: dup2 onto a fixed low fd; the copy it makes has no close-on-exec.
        if unsafe { libc::dup2(*h, 3 + i as RawFd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
