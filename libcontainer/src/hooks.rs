//! Running OCI hooks: the container state on stdin, the hook's own args and
//! env, a timeout after which it is killed, and its output in the error.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{pipe2, Pid};
use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// At most this much of a hook's output is kept for the error message; the
/// rest is drained and dropped so a flooding hook can neither block on a full
/// pipe nor exhaust memory.
const OUTPUT_LIMIT: usize = 16 * 1024;

/// Where the container's init runs its own hooks (createContainer,
/// startContainer), as runc's does: in a given directory (the rootfs for
/// createContainer, the process's cwd for startContainer), and with the
/// container process's environment when the hook names none of its own.
pub struct InContainer<'a> {
    pub cwd: &'a Path,
    pub env: &'a [String],
}

/// Runs each hook in order in the container's init; the first failure
/// stops the list.
pub fn run_all(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &[u8],
    place: &InContainer<'_>,
) -> Result<()> {
    hooks.iter().enumerate().try_for_each(|(index, hook)| {
        run_watched(kind, (index, hook), state_json, Some(place), None)
    })
}

/// [`run_all`], telling `started` each hook's pid before the hook may run
/// (create and start journal it). If `started` fails, that hook never runs
/// and its error is returned.
pub fn run_all_watched(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &[u8],
    started: &mut dyn FnMut(Pid) -> Result<()>,
) -> Result<()> {
    hooks.iter().enumerate().try_for_each(|(index, hook)| {
        run_watched(kind, (index, hook), state_json, None, Some(&mut *started))
    })
}

/// Runs the hook at `index` of its list.
pub fn run(kind: &'static str, index: usize, hook: &Hook, state_json: &[u8]) -> Result<()> {
    run_watched(kind, (index, hook), state_json, None, None)
}

fn run_watched(
    kind: &'static str,
    (index, hook): (usize, &Hook),
    state_json: &[u8],
    place: Option<&InContainer<'_>>,
    started: Option<&mut dyn FnMut(Pid) -> Result<()>>,
) -> Result<()> {
    let fail = |message: String| Error::Hook {
        hook: kind,
        index,
        path: hook.path().clone(),
        message,
    };
    let env = hook.env().as_deref().or(place.map(|p| p.env));
    let mut command = command_for(hook.path(), hook.args().as_deref(), env);
    if let Some(place) = place {
        command.current_dir(place.cwd);
    }
    // Its own process group, so a timeout kills what it forked too.
    command
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawned = match started {
        Some(started) => spawn_gated(&mut command, started)?,
        None => command.spawn(),
    };
    let mut child = spawned.map_err(|e| fail(format!("cannot start: {e}")))?;
    let pid = Pid::from_raw(child.id() as i32);

    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: EPIPE is not a failure.
        let _ = stdin.write_all(state_json);
    }
    let deadline = hook
        .timeout()
        .map(|secs| Instant::now() + Duration::from_secs(secs as u64));
    let (output, timed_out) = collect_output(&mut child, deadline);
    if timed_out {
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = child.wait();
        return Err(fail(format!(
            "timed out after {} s{}",
            hook.timeout().unwrap_or_default(),
            describe_output(&output)
        )));
    }
    let status = child.wait().map_err(|e| fail(format!("wait: {e}")))?;
    if status.success() {
        return Ok(());
    }
    let how = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    };
    Err(fail(format!("{how}{}", describe_output(&output))))
}

/// Spawns `command` so that its program runs only once `started` has been
/// told its pid and returned Ok: create journals the pid first, so no hook
/// ever runs unrecorded. Between fork and exec the child waits on a pipe
/// only this process can write; if `started` fails or this process dies, the
/// child reads end-of-file and exits without running anything. The outer
/// error is `started`'s, the inner one the spawn's.
fn spawn_gated(
    command: &mut Command,
    started: &mut dyn FnMut(Pid) -> Result<()>,
) -> Result<std::io::Result<Child>> {
    let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe for a hook's start", e));
    let (pid_read, pid_write) = pipe()?;
    let (gate_read, gate_write) = pipe()?;
    let child_ends = GateChildEnds {
        pid_write: pid_write.as_raw_fd(),
        gate_read: gate_read.as_raw_fd(),
        parent_ends: [pid_read.as_raw_fd(), gate_write.as_raw_fd()],
    };
    // SAFETY: the closure runs in the child between fork and exec and makes
    // only async-signal-safe system calls (getpid, write, read, close) on
    // descriptors the child inherited; it allocates nothing.
    unsafe { command.pre_exec(move || child_ends.wait_for_gate()) };
    std::thread::scope(|scope| {
        // spawn() returns only after exec, which waits for the gate: it runs
        // on its own thread while this one reads the pid and opens the gate.
        let spawner = scope.spawn(move || {
            let spawned = command.spawn();
            // Ours closes only now, after the fork: a spawn that failed
            // before forking then gives the reader end-of-file.
            drop(pid_write);
            spawned
        });
        let join = |spawner: std::thread::ScopedJoinHandle<'_, std::io::Result<Child>>| {
            spawner
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        let mut pid_bytes = [0u8; 4];
        if std::fs::File::from(pid_read)
            .read_exact(&mut pid_bytes)
            .is_err()
        {
            drop(gate_write);
            return Ok(join(spawner));
        }
        let outcome = started(Pid::from_raw(i32::from_ne_bytes(pid_bytes)));
        if outcome.is_ok() {
            // If this write fails the child sees end-of-file: spawn fails.
            let _ = nix::unistd::write(&gate_write, &[1]);
        }
        drop(gate_write);
        drop(gate_read);
        let spawned = join(spawner);
        outcome.map(|()| spawned)
    })
}

/// The descriptors a gated child uses between fork and exec (raw: they are
/// copied into the child, which closes or keeps them itself).
#[derive(Clone, Copy)]
struct GateChildEnds {
    pid_write: RawFd,
    gate_read: RawFd,
    /// The parent's ends, closed in the child: the gate's write end must be
    /// held by the parent alone for its death to show as end-of-file.
    parent_ends: [RawFd; 2],
}

impl GateChildEnds {
    /// In the child: sends its pid, waits for the gate's byte. Only raw
    /// system calls, as between fork and exec nothing else is safe.
    fn wait_for_gate(self) -> std::io::Result<()> {
        // SAFETY: close(2) and getpid(2) on the child's own copies; write(2)
        // and read(2) of a 4-byte and a 1-byte buffer on the stack.
        unsafe {
            for fd in self.parent_ends {
                libc::close(fd);
            }
            let pid = libc::getpid().to_ne_bytes();
            if libc::write(self.pid_write, pid.as_ptr().cast(), pid.len()) != pid.len() as isize {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(self.pid_write);
            let mut byte = 0u8;
            loop {
                match libc::read(self.gate_read, (&mut byte as *mut u8).cast(), 1) {
                    1 => return Ok(()),
                    -1 if *libc::__errno_location() == libc::EINTR => continue,
                    _ => return Err(std::io::Error::from_raw_os_error(libc::ECANCELED)),
                }
            }
        }
    }
}

fn command_for(path: &Path, args: Option<&[String]>, env: Option<&[String]>) -> Command {
    let mut command = Command::new(path);
    if let Some((argv0, rest)) = args.and_then(|a| a.split_first()) {
        command.arg0(argv0).args(rest);
    }
    command.env_clear();
    for entry in env.unwrap_or_default() {
        match entry.split_once('=') {
            Some((key, value)) => command.env(key, value),
            None => command.env(entry, ""),
        };
    }
    command
}

fn describe_output(output: &[u8]) -> String {
    // One error line, whatever the hook printed.
    let text = String::from_utf8_lossy(output);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// Reads stdout and stderr until both close or the deadline passes. Returns
/// the kept output and whether the deadline passed.
fn collect_output(child: &mut std::process::Child, deadline: Option<Instant>) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut buf = [0u8; 4096];
    while stdout.is_some() || stderr.is_some() {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (kept, true);
                }
                PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = Vec::with_capacity(2);
        if let Some(out) = &stdout {
            fds.push(PollFd::new(out.as_fd(), PollFlags::POLLIN));
        }
        if let Some(err) = &stderr {
            fds.push(PollFd::new(err.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let ready: Vec<bool> = fds.iter().map(|fd| fd.any().unwrap_or(true)).collect();
        drop(fds);
        let mut index = 0;
        for stream in [&mut stdout as &mut dyn ReadSlot, &mut stderr] {
            if !stream.present() {
                continue;
            }
            if ready[index] {
                match stream.read_into(&mut buf) {
                    Some(0) | None => stream.close(),
                    Some(n) => {
                        let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            index += 1;
        }
    }
    (kept, false)
}

/// One of a child's output pipes, which may already be closed.
trait ReadSlot {
    fn present(&self) -> bool;
    fn read_into(&mut self, buf: &mut [u8]) -> Option<usize>;
    fn close(&mut self);
}

impl<R: Read> ReadSlot for Option<R> {
    fn present(&self) -> bool {
        self.is_some()
    }
    fn read_into(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.as_mut()?.read(buf).ok()
    }
    fn close(&mut self) {
        *self = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    fn sh(script: &str, timeout: Option<i64>) -> Hook {
        let mut builder = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".into(), "-c".into(), script.into()])
            .env(vec!["GREETING=hello".to_string()]);
        if let Some(t) = timeout {
            builder = builder.timeout(t);
        }
        builder.build().unwrap()
    }

    #[test]
    fn hook_reads_state_and_env() {
        let hook = sh(
            r#"read line; [ "$line" = '{"id":"x"}' ] && [ "$GREETING" = hello ]"#,
            None,
        );
        run("poststop", 0, &hook, b"{\"id\":\"x\"}\n").unwrap();
    }

    #[test]
    fn failing_hook_reports_status_and_stderr() {
        let hook = sh("echo broken >&2; exit 3", None);
        let err = run("createRuntime", 0, &hook, b"{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("createRuntime"), "{err}");
        assert!(err.contains("exit status 3"), "{err}");
        assert!(err.contains("broken"), "{err}");
    }

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-hooks-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_watched_hook_runs_only_after_its_pid_is_recorded() {
        let dir = scratch_dir("watched");
        let record = dir.join("recorded");
        // The hook checks that its own pid was recorded before it ran.
        let hook = sh(
            &format!(r#"[ "$(cat {})" = "$$" ]"#, record.display()),
            Some(10),
        );
        let mut seen = Vec::new();
        run_all_watched("createRuntime", &[hook.clone(), hook], b"{}", &mut |pid| {
            // A slow journal: an ungated hook would have run by now.
            std::thread::sleep(Duration::from_millis(200));
            std::fs::write(&record, pid.to_string()).unwrap();
            seen.push(pid);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_watched_hook_whose_record_fails_never_runs() {
        let dir = scratch_dir("unrecorded");
        let ran = dir.join("ran");
        let hook = sh(&format!("touch {}", ran.display()), Some(10));
        let err = run_all_watched("prestart", &[hook], b"{}", &mut |_| {
            Err(Error::Init("journal full".into()))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "journal full");
        assert!(!ran.exists(), "the hook ran unrecorded");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_watched_hook_that_cannot_start_says_so() {
        let hook = HookBuilder::default()
            .path("/nonexistent/berth-hook")
            .build()
            .unwrap();
        let err = run_all_watched("prestart", &[hook], b"{}", &mut |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot start"), "{err}");
        assert!(err.contains("/nonexistent/berth-hook"), "{err}");
    }

    #[test]
    fn hanging_hook_is_killed_at_timeout() {
        let hook = sh("exec sleep 30", Some(1));
        let started = Instant::now();
        let err = run("prestart", 0, &hook, b"{}").unwrap_err().to_string();
        assert!(err.contains("timed out"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn flooding_hook_does_not_block() {
        let hook = sh("head -c 10000000 /dev/zero; exit 1", None);
        let err = run("poststart", 0, &hook, b"{}").unwrap_err().to_string();
        assert!(err.len() < OUTPUT_LIMIT + 512);
    }

    #[test]
    fn missing_hook_binary_is_an_error() {
        let hook = HookBuilder::default()
            .path("/nonexistent/hook")
            .build()
            .unwrap();
        let err = run("poststop", 0, &hook, b"{}").unwrap_err().to_string();
        assert!(err.contains("/nonexistent/hook"), "{err}");
    }
}
