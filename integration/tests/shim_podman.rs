//! podman 4.3 (Debian's) with its container monitor swapped: every check runs twice, once
//! with conmon (`podman --conmon /usr/bin/conmon`) and once with berth-shim (`podman --conmon
//! SHIM`), with the same assertions: test `<check>::conmon` and `<check>::berth_shim`. The
//! conmon half is the reference: it shows that the assertions encode what podman really does.
//!
//! The shim under test is `$BERTH_SHIM` (an absolute path) or
//! `<workspace>/target/debug/berth-shim`; the runtime is the one every engine test uses
//! (`$BERTH_RUNTIME`, see `integration::engines`). Each check also proves that the monitor
//! podman started is the one asked for (its `/proc/PID/exe`): podman falls back to a conmon of
//! its own when it dislikes the one it is given, and the shim's half would then test conmon.
//!
//! Terminals (`run -it`, `exec -it`) are driven through tmux, on a server of the test's own
//! (`tmux -S T/tmux.sock`), killed by pid at the end.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use integration::engines::Engine;
use integration::{pid_alive, stderr, stdout, wait_until};

/// One `#[test]` per monitor for a check `fn check(monitor: Monitor)`.
macro_rules! per_monitor {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            use super::*;
            #[test]
            fn conmon() {
                $check(Monitor::Conmon)
            }
            #[test]
            fn berth_shim() {
                $check(Monitor::BerthShim)
            }
        }
    )*};
}

per_monitor!(
    run_rm_prints_and_exits_with_its_code,
    run_detached_output_reaches_logs,
    logs_follow_shows_new_lines_and_ends_with_the_container,
    attach_streams_output_and_takes_stdin,
    attach_to_a_terminal_then_detach,
    exec_passes_output_and_exit_code,
    exec_it_runs_a_shell_in_a_terminal,
    run_it_runs_a_shell_in_a_resizable_terminal,
    stop_after_sigterm_records_143,
    stop_of_a_container_ignoring_sigterm_records_137,
    rm_removes_the_container_and_its_monitor,
);

/// How long a container's output may take to show up anywhere.
const SHOW_UP: Duration = Duration::from_secs(20);

/// The container monitor podman is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// Debian's conmon 2.1.
    Conmon,
    /// berth-shim, the monitor under test.
    BerthShim,
}

impl Monitor {
    fn tag(self) -> &'static str {
        match self {
            Monitor::Conmon => "c",
            Monitor::BerthShim => "s",
        }
    }

    /// The monitor's binary; None (the test passes, saying why) only for a missing conmon.
    fn path(self) -> Option<PathBuf> {
        match self {
            Monitor::Conmon => {
                let p = PathBuf::from("/usr/bin/conmon");
                if p.exists() {
                    Some(p)
                } else {
                    eprintln!("skipped: conmon not installed (apt-get install conmon)");
                    None
                }
            }
            Monitor::BerthShim => {
                let p = shim_bin();
                assert!(
                    p.is_file(),
                    "berth-shim {} not found: build it (cargo build -p berth-shim) or set BERTH_SHIM",
                    p.display()
                );
                Some(p)
            }
        }
    }
}

/// The shim under test: `$BERTH_SHIM` or the workspace's debug build.
fn shim_bin() -> PathBuf {
    match std::env::var_os("BERTH_SHIM") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/berth-shim"),
    }
}

/// podman with `monitor`, in a temp dir named after `what` (short: podman refuses a runroot
/// path of 50 characters or more).
fn start(m: Monitor, what: &str) -> Option<Engine> {
    let monitor = m.path()?;
    Engine::start_podman(&format!("pm{}-{what}", m.tag()), &monitor)
}

/// `podman run --detach --name NAME [extra...] IMAGE cmd...`; the container's name.
#[track_caller]
fn run_detached(e: &Engine, name: &str, extra: &[&str], cmd: &[&str]) -> String {
    let mut a = vec![
        "run",
        "--detach",
        "--name",
        name,
        "--cgroup-parent",
        &e.cgroup_parent,
    ];
    a.extend_from_slice(extra);
    a.push(&e.image);
    a.extend_from_slice(cmd);
    e.ok(&e.cli(&a));
    name.to_string()
}

fn inspect(e: &Engine, name: &str, format: &str) -> String {
    e.ok(&e.cli(&["inspect", "--format", format, name]))
        .trim()
        .to_string()
}

/// The pid of the container's monitor, after checking it runs the binary podman was given.
#[track_caller]
fn monitor_pid(e: &Engine, name: &str) -> i32 {
    let pid: i32 = inspect(e, name, "{{.State.ConmonPid}}")
        .parse()
        .unwrap_or(0);
    assert!(pid > 0, "podman reports no monitor pid for {name}");
    let exe = fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap_or_else(|err| panic!("monitor {pid} of {name}: /proc/{pid}/exe: {err}"));
    let want = e.conmon.as_deref().expect("started with a monitor");
    assert_eq!(
        exe,
        want,
        "podman runs {name} under {} instead of the monitor it was given",
        exe.display()
    );
    pid
}

fn exit_code(e: &Engine, name: &str) -> Option<i32> {
    inspect(e, name, "{{.State.ExitCode}}").parse().ok()
}

#[track_caller]
fn assert_exited_with(e: &Engine, name: &str, code: i32) {
    let mut status = String::new();
    let exited = wait_until(SHOW_UP, || {
        status = inspect(e, name, "{{.State.Status}}");
        status == "exited"
    });
    assert!(exited, "{name} still {status}");
    assert_eq!(exit_code(e, name), Some(code), "exit code of {name}");
}

#[track_caller]
fn assert_gone(pid: i32, what: &str) {
    assert!(
        wait_until(SHOW_UP, || !pid_alive(pid)),
        "{what} (pid {pid}) still running"
    );
}

// ---- checks ----

/// `run --rm` in the foreground: stdout and stderr come back apart, the exit code is the
/// container's, and nothing is left.
fn run_rm_prints_and_exits_with_its_code(m: Monitor) {
    let Some(e) = start(m, "rm") else { return };
    let o = e.cli(&[
        "run",
        "--rm",
        "--name",
        "fg",
        "--cgroup-parent",
        &e.cgroup_parent,
        &e.image,
        "sh",
        "-c",
        "echo hi; echo oops >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{m:?}: {}", describe(&o));
    assert_eq!(stdout(&o), "hi\n", "{m:?}: {}", describe(&o));
    assert_eq!(stderr(&o), "oops\n", "{m:?}: {}", describe(&o));
    assert!(
        wait_until(SHOW_UP, || e.containers().is_empty()),
        "{m:?}: left after run --rm: {:?}",
        e.containers()
    );
}

/// `run -d`: what the container prints goes to the k8s-file log (one CRI line per line,
/// stream named, `F` for full lines) and `logs` gives it back, stdout and stderr apart.
fn run_detached_output_reaches_logs(m: Monitor) {
    let Some(e) = start(m, "logs") else { return };
    let name = run_detached(
        &e,
        "d",
        &[],
        &[
            "sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2; printf no-newline; sleep 300",
        ],
    );
    monitor_pid(&e, &name);
    let mut o = None;
    let complete = wait_until(SHOW_UP, || {
        let got = e.cli(&["logs", &name]);
        let done = stdout(&got).contains("no-newline") && stderr(&got).contains("to-stderr");
        o = Some(got);
        done
    });
    let o = o.expect("logs ran");
    assert!(complete, "{m:?}: logs incomplete: {}", describe(&o));
    // podman gives a partial last line back as it is, without a newline.
    assert_eq!(
        stdout(&o),
        "to-stdout\nno-newline",
        "{m:?}: {}",
        describe(&o)
    );
    assert_eq!(stderr(&o), "to-stderr\n", "{m:?}: {}", describe(&o));

    let path = inspect(&e, &name, "{{.HostConfig.LogConfig.Path}}");
    let log = fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    let records: Vec<(&str, &str, &str)> = log
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            assert_eq!(f.len(), 4, "{m:?}: not a CRI log line: {l:?}");
            assert!(
                f[0].len() > 20 && f[0].contains('T'),
                "{m:?}: no RFC 3339 time first: {l:?}"
            );
            (f[1], f[2], f[3])
        })
        .collect();
    // A chunk without its newline is a partial record (P), a full line is closed by F. The
    // two streams are read apart: only the order within each is fixed.
    let of = |stream: &str| -> Vec<(&str, &str)> {
        records
            .iter()
            .filter(|r| r.0 == stream)
            .map(|r| (r.1, r.2))
            .collect()
    };
    assert_eq!(
        of("stdout"),
        [("F", "to-stdout"), ("P", "no-newline")],
        "{m:?}: {path}:\n{log}"
    );
    assert_eq!(of("stderr"), [("F", "to-stderr")], "{m:?}: {path}:\n{log}");
    assert_eq!(records.len(), 3, "{m:?}: {path}:\n{log}");
}

/// `logs -f` shows a line printed after it started, and returns when the container exits.
fn logs_follow_shows_new_lines_and_ends_with_the_container(m: Monitor) {
    let Some(e) = start(m, "logsf") else { return };
    let sync = e.dir().join("sync");
    fs::create_dir(&sync).expect("sync dir");
    let volume = format!("{}:/sync", sync.display());
    let name = run_detached(
        &e,
        "f",
        &["--volume", &volume],
        &[
            "sh",
            "-c",
            "echo first; while [ ! -e /sync/go ]; do sleep 0.05; done; echo second; exit 0",
        ],
    );
    monitor_pid(&e, &name);
    let mut follow = Streamed::spawn(e.command(&["logs", "--follow", &name]), false);
    follow.expect_line("first", SHOW_UP);
    fs::write(sync.join("go"), "").expect("touch go");
    follow.expect_line("second", SHOW_UP);
    let status = follow.wait(SHOW_UP);
    assert_eq!(
        status,
        Some(0),
        "{m:?}: logs -f did not end with the container"
    );
    assert_exited_with(&e, &name, 0);
}

/// `attach` to a container started with `-i`: its live output arrives, what the client writes
/// reaches its stdin, and attach returns when the container exits (its stdin still open:
/// the monitor closes the socket). podman 4.3's attach itself exits 0 either way.
fn attach_streams_output_and_takes_stdin(m: Monitor) {
    let Some(e) = start(m, "att") else { return };
    let name = run_detached(
        &e,
        "a",
        &["--interactive"],
        &[
            "sh",
            "-c",
            "while read l; do echo \"got $l\"; [ \"$l\" = bye ] && exit 5; done",
        ],
    );
    monitor_pid(&e, &name);
    let mut attach = Streamed::spawn(e.command(&["attach", &name]), true);
    attach.write("hello\n");
    attach.expect_line("got hello", SHOW_UP);
    attach.write("bye\n");
    attach.expect_line("got bye", SHOW_UP);
    assert!(
        attach.wait(SHOW_UP).is_some(),
        "{m:?}: attach still running after the container exited"
    );
    assert_exited_with(&e, &name, 5);
}

/// `attach` in a terminal to a container started with `-it`: what is typed runs in its shell
/// at the terminal's size, and the detach keys (ctrl-p ctrl-q) leave it running.
fn attach_to_a_terminal_then_detach(m: Monitor) {
    let Some(e) = start(m, "atty") else { return };
    let name = run_detached(&e, "t", &["--interactive", "--tty"], &["sh"]);
    let monitor = monitor_pid(&e, &name);
    let term = Tmux::start(&e, &["attach", &name]);
    // Typed before podman is attached, a line reaches the shell before the terminal's size.
    term.type_line("echo ready-$((1 + 1))");
    term.wait_for(&["ready-2"]);
    term.type_line("echo $((6 * 7))-size=$(stty size)=");
    let (rows, cols) = term.size();
    term.wait_for(&[&format!("42-size={rows} {cols}=")]);
    // Two keystrokes, as typed: podman 4.3 misses the sequence when both come in one read.
    term.keys(&["C-p"]);
    thread::sleep(Duration::from_millis(200));
    term.keys(&["C-q"]);
    assert_eq!(term.exit_code(), 0, "{m:?}: attach's exit code on detach");
    assert_eq!(
        inspect(&e, &name, "{{.State.Status}}"),
        "running",
        "{m:?}: detaching stopped the container"
    );
    assert!(pid_alive(monitor), "{m:?}: the monitor ended on detach");
    // Attached again, the same shell answers.
    drop(term);
    let term = Tmux::start(&e, &["attach", &name]);
    term.type_line("echo again-$((6 * 7))");
    term.wait_for(&["again-42"]);
    term.type_line("exit 6");
    assert_eq!(term.exit_code(), 0, "{m:?}: attach's exit code");
    assert_exited_with(&e, &name, 6);
}

/// `exec`: the process's stdout and stderr come back apart and its exit code is exec's.
fn exec_passes_output_and_exit_code(m: Monitor) {
    let Some(e) = start(m, "exec") else { return };
    let name = run_detached(&e, "x", &[], &["sleep", "300"]);
    monitor_pid(&e, &name);
    let o = e.cli(&["exec", &name, "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{m:?}: {}", describe(&o));
    assert_eq!(stdout(&o), "out\n", "{m:?}: {}", describe(&o));
    assert_eq!(stderr(&o), "err\n", "{m:?}: {}", describe(&o));
    let o = e.cli(&["exec", &name, "true"]);
    assert_eq!(o.status.code(), Some(0), "{m:?}: {}", describe(&o));
}

/// `exec -it` in a terminal: a shell with a tty runs what is typed, and its exit code is
/// exec's.
fn exec_it_runs_a_shell_in_a_terminal(m: Monitor) {
    let Some(e) = start(m, "eit") else { return };
    let name = run_detached(&e, "t", &[], &["sleep", "300"]);
    monitor_pid(&e, &name);
    let term = Tmux::start(&e, &["exec", "--interactive", "--tty", &name, "sh"]);
    term.wait_for(&["# "]);
    term.type_line("echo $((6 * 7))-$(tty)");
    term.wait_for(&["42-/dev/pts/"]);
    term.type_line("exit 3");
    assert_eq!(term.exit_code(), 3, "{m:?}: exec -it's exit code");
}

/// `run -it` in a terminal: the shell sees the terminal's size, follows a resize, runs what
/// is typed, and `exit` ends podman with the shell's code.
fn run_it_runs_a_shell_in_a_resizable_terminal(m: Monitor) {
    let Some(e) = start(m, "rit") else { return };
    let term = Tmux::start(
        &e,
        &[
            "run",
            "--interactive",
            "--tty",
            "--name",
            "it",
            "--cgroup-parent",
            &e.cgroup_parent,
            &e.image,
            "sh",
        ],
    );
    // The prompt shows once the shell runs; only then is the container surely podman's.
    term.wait_for(&["# "]);
    monitor_pid(&e, "it");
    term.type_line("echo size=$(stty size)=");
    let (rows, cols) = term.size();
    term.wait_for(&[&format!("size={rows} {cols}=")]);
    term.resize(81, 23);
    let (rows, cols) = term.size();
    assert_eq!(cols, 81, "tmux did not resize");
    term.type_line("clear; echo size=$(stty size)=");
    term.wait_for(&[&format!("size={rows} {cols}=")]);
    term.type_line("exit 4");
    assert_eq!(term.exit_code(), 4, "{m:?}: run -it's exit code");
    assert_exited_with(&e, "it", 4);
}

/// `stop` of a container that exits on SIGTERM: podman records the code it exited with.
fn stop_after_sigterm_records_143(m: Monitor) {
    let Some(e) = start(m, "s143") else { return };
    // As PID 1 of its namespace the shell dies of no signal it does not handle.
    let name = run_detached(
        &e,
        "s",
        &[],
        &[
            "sh",
            "-c",
            "trap 'exit 143' TERM; while :; do sleep 0.05; done",
        ],
    );
    let monitor = monitor_pid(&e, &name);
    let init: i32 = inspect(&e, &name, "{{.State.Pid}}").parse().unwrap_or(0);
    assert!(
        wait_until(SHOW_UP, || catches_sigterm(init)),
        "{m:?}: the container's shell (pid {init}) never set its TERM trap"
    );
    let o = e.cli(&["stop", "--time", "30", &name]);
    e.ok(&o);
    assert_exited_with(&e, &name, 143);
    assert_gone(monitor, "the monitor of a stopped container");
}

/// `stop` of a container that ignores SIGTERM: after the timeout it is killed, and the code
/// is 128 + SIGKILL.
fn stop_of_a_container_ignoring_sigterm_records_137(m: Monitor) {
    let Some(e) = start(m, "s137") else { return };
    let name = run_detached(&e, "k", &[], &["sleep", "300"]);
    let monitor = monitor_pid(&e, &name);
    let o = e.cli(&["stop", "--time", "1", &name]);
    e.ok(&o);
    assert_exited_with(&e, &name, 137);
    assert_gone(monitor, "the monitor of a killed container");
}

/// `rm` of a stopped container and `rm --force` of a running one: podman forgets them, and
/// no monitor is left running.
fn rm_removes_the_container_and_its_monitor(m: Monitor) {
    let Some(e) = start(m, "rm2") else { return };
    let stopped = run_detached(&e, "a", &[], &["sh", "-c", "exit 2"]);
    assert_exited_with(&e, &stopped, 2);
    e.ok(&e.cli(&["rm", &stopped]));
    assert!(!e.exists(&stopped), "{m:?}: {stopped} still known after rm");

    let running = run_detached(&e, "b", &[], &["sleep", "300"]);
    let monitor = monitor_pid(&e, &running);
    e.ok(&e.cli(&["rm", "--force", "--time", "0", &running]));
    assert!(
        !e.exists(&running),
        "{m:?}: {running} still known after rm --force"
    );
    assert_gone(monitor, "the monitor of a removed container");
    assert!(e.containers().is_empty(), "left: {:?}", e.containers());
}

// ---- helpers ----

fn describe(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    )
}

/// True once `pid` has a handler for SIGTERM (SigCgt in /proc/PID/status).
fn catches_sigterm(pid: i32) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
}

/// A client command whose stdout is read line by line as it comes (and whose stdin may be
/// written); killed by pid if still running when dropped.
struct Streamed {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Streamed {
    fn spawn(mut cmd: Command, with_stdin: bool) -> Streamed {
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        if with_stdin {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().unwrap_or_else(|err| panic!("{cmd:?}: {err}"));
        let out = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Streamed {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    #[track_caller]
    fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("spawned with stdin");
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|err| panic!("writing {text:?} to the client: {err}"));
    }

    /// Waits for a line equal to `want`, printed after the lines seen so far.
    #[track_caller]
    fn expect_line(&mut self, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line == want;
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line {want:?} within {timeout:?}; got {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the client's output ended without {want:?}; got {:?} ({:?})",
                    self.seen,
                    self.child.try_wait()
                ),
            }
        }
    }

    /// The client's exit code once it exits by itself within `timeout` (its stdin, if any,
    /// still open).
    fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A terminal: a tmux server of the test's own running one podman command in a window; the
/// command's exit code lands in a file. The server is killed by pid when dropped.
struct Tmux {
    socket: PathBuf,
    rc_file: PathBuf,
    server: i32,
}

const SESSION: &str = "berth";

impl Tmux {
    /// Starts `podman ARGS` (this engine's podman: its environment and global flags) in a
    /// 100×30 window.
    fn start(e: &Engine, args: &[&str]) -> Tmux {
        let socket = e.dir().join("tmux.sock");
        let rc_file = e.dir().join("tty.rc");
        let script = e.dir().join("tty.sh");
        let podman = shell_line(&e.command(args));
        fs::write(
            &script,
            format!(
                "#!/bin/sh\n{podman}\necho \"exit=$?\" > {rc}.tmp && mv {rc}.tmp {rc}\n",
                rc = shell_quote(&rc_file.to_string_lossy())
            ),
        )
        .expect("tty.sh");
        let mut t = Tmux {
            socket,
            rc_file,
            server: 0,
        };
        let o = t.tmux(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "100",
            "-y",
            "30",
            "sh",
            &script.to_string_lossy(),
        ]);
        assert!(o.status.success(), "tmux new-session: {}", describe(&o));
        let pid = t.tmux(&["display-message", "-p", "-t", SESSION, "#{pid}"]);
        t.server = stdout(&pid).trim().parse().unwrap_or(0);
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env("TERM", "xterm")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| {
                panic!("tmux {args:?}: {err} (apt-get install tmux, or make prereqs)")
            })
    }

    fn screen(&self) -> String {
        stdout(&self.tmux(&["capture-pane", "-p", "-J", "-t", SESSION]))
    }

    /// Types `text` and Enter.
    fn type_line(&self, text: &str) {
        let o = self.tmux(&["send-keys", "-t", SESSION, "-l", text]);
        assert!(o.status.success(), "tmux send-keys: {}", describe(&o));
        self.tmux(&["send-keys", "-t", SESSION, "Enter"]);
    }

    /// Sends tmux key names (`C-p`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        let o = self.tmux(&args);
        assert!(o.status.success(), "tmux send-keys: {}", describe(&o));
    }

    /// Waits until the screen shows every one of `needles`.
    #[track_caller]
    fn wait_for(&self, needles: &[&str]) {
        let mut screen = String::new();
        let shown = wait_until(SHOW_UP, || {
            screen = self.screen();
            needles.iter().all(|n| screen.contains(n))
        });
        assert!(shown, "{needles:?} not on the screen:\n{screen}");
    }

    /// The pane's (rows, columns).
    fn size(&self) -> (u32, u32) {
        let o = self.tmux(&[
            "display-message",
            "-p",
            "-t",
            SESSION,
            "#{pane_height} #{pane_width}",
        ]);
        let s = stdout(&o);
        let mut f = s.split_whitespace().map(|v| v.parse().unwrap_or(0));
        (f.next().unwrap_or(0), f.next().unwrap_or(0))
    }

    fn resize(&self, cols: u32, rows: u32) {
        let o = self.tmux(&[
            "resize-window",
            "-t",
            SESSION,
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]);
        assert!(o.status.success(), "tmux resize-window: {}", describe(&o));
    }

    /// The exit code of the podman command, once it has exited.
    #[track_caller]
    fn exit_code(&self) -> i32 {
        let mut rc = String::new();
        let done = wait_until(SHOW_UP, || {
            rc = fs::read_to_string(&self.rc_file).unwrap_or_default();
            !rc.is_empty()
        });
        assert!(done, "podman still running; screen:\n{}", self.screen());
        rc.trim()
            .strip_prefix("exit=")
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad exit record {rc:?}"))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        if self.server > 0 && wait_until(Duration::from_secs(5), || !pid_alive(self.server)) {
            return;
        }
        if self.server > 0 {
            // SAFETY: kill by pid of the tmux server this test started on its own socket.
            unsafe { libc::kill(self.server, libc::SIGKILL) };
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `cmd` as one line of sh: its environment settings, program and arguments, quoted.
fn shell_line(cmd: &Command) -> String {
    let mut line = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            line += &format!(
                "export {}={}; ",
                k.to_string_lossy(),
                shell_quote(&v.to_string_lossy())
            );
        }
    }
    line += &shell_quote(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        line.push(' ');
        line += &shell_quote(&a.to_string_lossy());
    }
    line
}
