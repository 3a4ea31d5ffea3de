//! [`Runtime`]: the binary under test, with one `--root` per test.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{next, ok, reap, stderr, stdout, wait_until, COMMAND_TIMEOUT};

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
    pub(crate) fn new(bin: PathBuf, root: PathBuf, logs: PathBuf) -> Self {
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
        runtime_command(&self.bin, &self.root, args)
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

    /// What a created or detached container wrote on stderr so far.
    pub fn container_stderr(&self, id: &str) -> String {
        let m = self.container_out.borrow();
        let (_, err) = m
            .get(id)
            .unwrap_or_else(|| panic!("no detached output for {id}"));
        fs::read_to_string(err).unwrap_or_default()
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

    /// A handle on the same binary and `--root` that other threads can use.
    pub fn remote(&self) -> crate::Remote {
        crate::Remote {
            bin: self.bin.clone(),
            root: self.root.clone(),
            logs: self.logs.clone(),
        }
    }

    /// Registers `id`, created by other means (e.g. a [`crate::Remote`]), for
    /// `delete --force` at cleanup.
    pub fn adopt(&self, id: &str) {
        self.track(id);
    }

    /// Forgets `id` (deleted already): cleanup will not run `delete --force` on it.
    pub fn disown(&self, id: &str) {
        self.ids.borrow_mut().retain(|i| i != id);
    }

    /// Registers an init pid (a child of the test process) to reap at cleanup.
    pub fn adopt_init(&self, pid: i32) {
        self.inits.borrow_mut().push(pid);
    }

    /// Force-deletes every container this wrapper created and reaps their init pids (only
    /// the ones recorded while alive and not reaped yet: a stale pid may belong to a
    /// process another test is waiting for).
    pub(crate) fn cleanup(&self) {
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

/// Waits for `child` up to `timeout`; kills (by pid) and reaps it past that
/// and returns None.
pub(crate) fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
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

/// `BIN --root ROOT ARGS...` with stdin null.
pub(crate) fn runtime_command(bin: &Path, root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.arg("--root").arg(root).args(args).stdin(Stdio::null());
    c
}
