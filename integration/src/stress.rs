//! Helpers for the race, soak and hostile-input tests: runtime invocations that can run
//! on any thread and report their peak RSS, and probes of what a container can leave on
//! the host (processes, cgroup dirs, mounts, fds).

use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::{next, CGROUP_PARENT, COMMAND_TIMEOUT};

/// One finished runtime invocation.
#[derive(Debug)]
pub struct Invocation {
    /// Exit status and what it wrote (stdout/stderr went to files).
    pub output: Output,
    /// Peak resident set of the runtime process in KiB, for a measured invocation
    /// ([`Remote::run_measured`]); None otherwise.
    pub max_rss_kb: Option<i64>,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

/// A runtime invocation started and not yet waited for.
pub struct Pending {
    child: Child,
    what: String,
    started: Instant,
    out: PathBuf,
    err: PathBuf,
    rss: Option<PathBuf>,
}

impl Pending {
    /// The runtime process's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits (wait4, for the rusage) up to `timeout`. Past it the process is killed and
    /// reaped, and this panics: a runtime that hangs is a failure.
    #[track_caller]
    pub fn finish(self, timeout: Duration) -> Invocation {
        let pid = self.pid();
        let deadline = self.started + timeout;
        loop {
            let mut status = 0;
            // SAFETY: waitpid on our own child's pid, never -1 (other tests run as threads).
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                let elapsed = self.started.elapsed();
                // GNU time's report ends with the %M line.
                let max_rss_kb = self.rss.as_ref().and_then(|f| {
                    fs::read_to_string(f)
                        .ok()?
                        .lines()
                        .last()?
                        .trim()
                        .parse()
                        .ok()
                });
                return Invocation {
                    output: Output {
                        status: ExitStatus::from_raw(status),
                        stdout: fs::read(&self.out).unwrap_or_default(),
                        stderr: fs::read(&self.err).unwrap_or_default(),
                    },
                    max_rss_kb,
                    elapsed,
                };
            }
            assert!(
                r == 0,
                "waitpid({pid}) for {}: {}",
                self.what,
                std::io::Error::last_os_error()
            );
            if Instant::now() >= deadline {
                // SAFETY: our unreaped child: the pid cannot have been reused.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let mut status = 0;
                // SAFETY: as above, blocking reap of our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                panic!(
                    "{} did not finish in {timeout:?}; stderr so far: {}",
                    self.what,
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            sleep(Duration::from_millis(2));
        }
    }
}

/// What it takes to run the binary under test with a test's `--root`, from any thread
/// (the [`crate::Runtime`] of a [`crate::Test`] stays on the test's thread). Get one with
/// [`crate::Runtime::remote`]. Containers it creates are not tracked: register their ids
/// with [`crate::Runtime::adopt`] on the test's thread first, so cleanup deletes them.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The binary.
    pub bin: PathBuf,
    /// The `--root` state directory.
    pub root: PathBuf,
    /// Where each invocation's stdout/stderr files go.
    pub logs: PathBuf,
}

impl Remote {
    /// `RUNTIME --root ROOT ARGS...` with stdin null.
    pub fn command(&self, args: &[&str]) -> Command {
        crate::runtime::runtime_command(&self.bin, &self.root, args)
    }

    /// Starts `RUNTIME --root ROOT ARGS...` without waiting.
    pub fn spawn(&self, args: &[&str]) -> Pending {
        spawn_logged(self.command(args), &self.logs)
    }

    /// Runs `RUNTIME --root ROOT ARGS...` to the end (at most [`COMMAND_TIMEOUT`]).
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Invocation {
        self.spawn(args).finish(COMMAND_TIMEOUT)
    }

    /// Like [`Remote::spawn`], under GNU time for the runtime's peak RSS (when
    /// [`GNU_TIME`] is installed; else unmeasured). wait4's ru_maxrss of a process the
    /// test process spawns is no good for this: the execve records the test process's
    /// own peak as the child's, so the figure is the larger of the two.
    pub fn spawn_measured(&self, args: &[&str]) -> Pending {
        if !Path::new(GNU_TIME).exists() {
            return self.spawn(args);
        }
        let rss = self.logs.join(format!("r{}.rss", next()));
        let mut c = Command::new(GNU_TIME);
        c.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss)
            .arg(&self.bin)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null());
        let mut p = spawn_logged(c, &self.logs);
        p.rss = Some(rss);
        p
    }

    /// Like [`Remote::run`], with the runtime's peak RSS measured.
    #[track_caller]
    pub fn run_measured(&self, args: &[&str]) -> Invocation {
        self.spawn_measured(args).finish(COMMAND_TIMEOUT)
    }
}

/// GNU time (Debian package `time`), which measures a child it forks from its own
/// small image.
pub const GNU_TIME: &str = "/usr/bin/time";

/// Starts `cmd` with stdin null (unless set) and stdout/stderr into fresh files under
/// `logs` (a detached container inherits them and may write on).
pub fn spawn_logged(mut cmd: Command, logs: &Path) -> Pending {
    let n = next();
    let out = logs.join(format!("r{n}.stdout"));
    let err = logs.join(format!("r{n}.stderr"));
    cmd.stdout(File::create(&out).expect("stdout file"));
    cmd.stderr(File::create(&err).expect("stderr file"));
    let what = format!("{cmd:?}");
    let what = if what.len() > 300 {
        format!("{}...", what.chars().take(300).collect::<String>())
    } else {
        what
    };
    let started = Instant::now();
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    Pending {
        child,
        what,
        started,
        out,
        err,
        rss: None,
    }
}

/// A process as /proc/PID/stat shows it: (ppid, state letter), or None once it is gone.
pub fn proc_parent_and_state(pid: i32) -> Option<(i32, char)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut f = s.rsplit(')').next()?.split_ascii_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Every pid in /proc.
pub fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Children of the test process (it is their subreaper, so also orphaned container and
/// hook processes): (pid, state letter, comm). Zombies included.
pub fn children_of_self() -> Vec<(i32, char, String)> {
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let (ppid, state) = proc_parent_and_state(pid)?;
            (ppid == me).then(|| {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                (pid, state, comm.trim().to_string())
            })
        })
        .collect()
}

/// Live (non-zombie) processes whose cgroup, in any hierarchy, is
/// `/berth-test/<name>` or below it, or any `/berth-test/<prefix...>` when `name` ends
/// with `*`.
pub fn procs_in_test_cgroup(name: &str) -> Vec<i32> {
    let (stem, prefix) = match name.strip_suffix('*') {
        Some(stem) => (stem, true),
        None => (name, false),
    };
    let marker = format!("/{CGROUP_PARENT}/{stem}");
    all_pids()
        .into_iter()
        .filter(|&pid| matches!(proc_parent_and_state(pid), Some((_, s)) if s != 'Z' && s != 'X'))
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.splitn(3, ':').nth(2))
                .any(|path| match path.find(&marker) {
                    Some(i) => {
                        let rest = &path[i + marker.len()..];
                        prefix || rest.is_empty() || rest.starts_with('/')
                    }
                    None => false,
                })
        })
        .collect()
}

/// The hierarchies to look in: `/sys/fs/cgroup` itself on a pure cgroup2 host, else each
/// mounted hierarchy under it.
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return vec![base.to_path_buf()];
    }
    fs::read_dir(base)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Cgroup dirs `<hierarchy>/berth-test/<name>` that exist, in any hierarchy; with a
/// trailing `*` in `name`, every dir under `berth-test/` whose name starts with the rest.
pub fn test_cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for h in cgroup_hierarchies() {
        let parent = h.join(CGROUP_PARENT);
        match name.strip_suffix('*') {
            Some(prefix) => {
                if let Ok(rd) = fs::read_dir(&parent) {
                    found.extend(
                        rd.flatten()
                            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                            .filter(|e| e.path().is_dir())
                            .map(|e| e.path()),
                    );
                }
            }
            None => {
                let p = parent.join(name);
                if p.is_dir() {
                    found.push(p);
                }
            }
        }
    }
    found.sort();
    found
}

/// The test process's open fds, each as `N -> target`.
pub fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let target = fs::read_link(e.path())
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    format!("{} -> {target}", e.file_name().to_string_lossy())
                })
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds
}

/// The lines of /proc/self/mountinfo (the host's mount namespace).
pub fn mountinfo_lines() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The mount point (field 5) of a mountinfo line, unescaped.
pub fn mount_point(line: &str) -> PathBuf {
    PathBuf::from(
        line.split(' ')
            .nth(4)
            .unwrap_or_default()
            .replace("\\040", " ")
            .replace("\\011", "\t")
            .replace("\\012", "\n")
            .replace("\\134", "\\"),
    )
}

/// Names in a directory, sorted (empty if it cannot be read).
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether a failed runtime's output shows a Rust panic or a crash rather than an error.
pub fn looks_like_a_crash(o: &Output) -> bool {
    let err = String::from_utf8_lossy(&o.stderr);
    err.contains("panicked at") || o.status.code() == Some(101) || o.status.signal().is_some()
}

/// Reaps the zombie children of the test process (their subreaper) that belong to the
/// PID namespace of `init` (a live or exiting container init), as a shim would: a
/// namespace's init only finishes exiting once every other process of the namespace
/// has been reaped. Returns the pids reaped; `init` itself is left alone.
pub fn reap_strays_in_pid_ns_of(init: i32) -> Vec<i32> {
    let Ok(ns) = fs::read_link(format!("/proc/{init}/ns/pid")) else {
        return Vec::new();
    };
    let mut reaped = Vec::new();
    for (pid, state, _) in children_of_self() {
        if pid == init || state != 'Z' {
            continue;
        }
        if fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|n| n == ns) {
            let mut status = 0;
            // SAFETY: a zombie child of ours in that container's namespace.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                reaped.push(pid);
            }
        }
    }
    reaped
}

/// Whether `path` lies in another test's temp dir (`<tmp>/berth-it-*` but not under
/// `own_dir`): other test binaries may mount there meanwhile.
pub fn in_another_test_dir(path: &Path, own_dir: &Path) -> bool {
    let tmp = std::env::temp_dir();
    let other = path
        .strip_prefix(&tmp)
        .is_ok_and(|rest| rest.to_string_lossy().starts_with("berth-it-"));
    other && !path.starts_with(own_dir)
}

/// Points the bundle's cgroup at its own leaf `/<CGROUP_PARENT>/<id>`, so parallel
/// containers share one parent and nothing else.
pub fn retarget(bundle: &mut crate::Bundle, id: &str) {
    bundle.config_mut()["linux"]["cgroupsPath"] =
        serde_json::json!(format!("/{CGROUP_PARENT}/{id}"));
    bundle.save();
}

/// Runs one batch of container lives at once, one thread per bundle: each bundle gets a
/// fresh id (and its cgroup with it) and `life` runs that container from its thread.
/// Returns the ids with what each life returned, in bundle order. The ids stay tracked by
/// the test while the lives run, so a lane that panics is still cleaned up (its panic is
/// re-raised here); those that finished are let go.
pub fn run_lanes<T: Send>(
    t: &crate::Test,
    bundles: &mut [crate::Bundle],
    life: fn(&crate::Remote, &str, &Path) -> T,
) -> Vec<(String, T)> {
    let ids: Vec<String> = bundles
        .iter_mut()
        .map(|b| {
            let id = t.id();
            retarget(b, &id);
            t.rt.adopt(&id);
            id
        })
        .collect();
    let remote = t.rt.remote();
    let results: Vec<std::thread::Result<T>> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .zip(bundles.iter())
            .map(|(id, b)| {
                let remote = remote.clone();
                let path = b.path.clone();
                s.spawn(move || life(&remote, id, &path))
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    ids.into_iter()
        .zip(results)
        .map(|(id, result)| match result {
            Ok(value) => {
                t.rt.disown(&id);
                (id, value)
            }
            Err(panic) => std::panic::resume_unwind(panic),
        })
        .collect()
}
