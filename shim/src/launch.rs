//! Bringing the container (or an exec) into being: the stdio it gets — pipes, a pty from
//! the runtime's console socket, or the caller's own fds — and the runtime's `create` or
//! `exec -d`, whose pid file names the process the shim then watches.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::WaitStatus;
use nix::unistd::{pipe2, Pid};

use crate::console::ConsoleSocket;
use crate::reaper::Reaper;
use crate::runtime::{failure_text, RuntimeCall};
use crate::sys;

/// Pipe buffers as large as an unprivileged process may ask: fewer wake-ups under a flood.
const PIPE_SIZE: i32 = 1 << 20;

/// The shim's ends of the container's stdio.
#[derive(Default)]
pub struct ContainerIo {
    /// stdout, or the pty master.
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// The stdin pipe's write end, or (a dup of) the pty master.
    pub stdin: Option<OwnedFd>,
    pub pty: bool,
}

/// A launch that failed, with the text the caller gets on the sync pipe.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LaunchError {
    pub message: String,
    /// For an exec whose process already exited: its exit code.
    pub exec_status: Option<i32>,
}

fn fail(message: impl Into<String>) -> LaunchError {
    LaunchError {
        message: message.into(),
        exec_status: None,
    }
}

/// The caller's stdio, kept for the passthrough driver.
pub struct Passthrough {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

fn pipe() -> Result<(OwnedFd, OwnedFd), LaunchError> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| fail(format!("pipe: {e}")))?;
    let _ = fcntl(r.as_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    Ok((r, w))
}

fn nonblocking(fd: &OwnedFd) {
    if let Ok(flags) = fcntl(fd.as_fd(), FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        let _ = fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags));
    }
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd, LaunchError> {
    fd.try_clone().map_err(|e| fail(format!("dup: {e}")))
}

/// Runs the runtime's create (or exec) and returns the container's pid and stdio.
pub fn launch(
    call: &RuntimeCall,
    want_stdin: bool,
    passthrough: Option<&Passthrough>,
    reaper: &mut Reaper,
) -> Result<(Pid, ContainerIo), LaunchError> {
    let mut io = ContainerIo::default();
    let console = if call.terminal {
        Some(ConsoleSocket::bind().map_err(|e| fail(e.to_string()))?)
    } else {
        None
    };
    // The runtime's stderr is a pipe of ours in every mode: its error text is read from
    // there when it has no JSON log.
    let (err_r, err_w) = pipe()?;
    let (child_in, child_out, child_err): (Stdio, Stdio, Stdio) = match (passthrough, &console) {
        (Some(p), _) => (
            dup(&p.stdin)?.into(),
            dup(&p.stdout)?.into(),
            dup(&p.stderr)?.into(),
        ),
        (None, Some(_)) => (Stdio::null(), Stdio::null(), err_w.into()),
        (None, None) => {
            let stdin = if want_stdin {
                let (r, w) = pipe()?;
                io.stdin = Some(w);
                r.into()
            } else {
                Stdio::null()
            };
            let (out_r, out_w) = pipe()?;
            io.stdout = Some(out_r);
            (stdin, out_w.into(), err_w.into())
        }
    };
    nonblocking(&err_r);
    let log = call.json_log();
    let log_offset = log
        .as_ref()
        .and_then(|p| fs::metadata(p).ok())
        .map_or(0, |m| m.len());

    let mut cmd = Command::new(&call.runtime);
    cmd.args(call.create_args(console.as_ref().map(|c| c.path())))
        .stdin(child_in)
        .stdout(child_out)
        .stderr(child_err);
    sys::die_with_parent(&mut cmd);
    let child = cmd
        .spawn()
        .map_err(|e| fail(format!("{}: {e}", call.runtime.display())))?;
    // The child's ends are closed with `cmd`: only the runtime and the container hold them.
    drop(cmd);
    let runtime_pid = Pid::from_raw(child.id() as i32);
    drop(child);

    let mut master = None;
    let status = loop {
        if let (Some(console), None) = (&console, &master) {
            master = console.try_receive().map_err(|e| fail(e.to_string()))?;
        }
        reaper.reap();
        if let Some(status) = reaper.take(runtime_pid) {
            break status;
        }
        let mut fds = vec![PollFd::new(reaper.fd(), PollFlags::POLLIN)];
        if let (Some(console), None) = (&console, &master) {
            fds.push(PollFd::new(console.listener(), PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, PollTimeout::from(1000u16));
        for signal in reaper.take_signals() {
            // Stopping the shim mid-create stops the create.
            let _ = nix::sys::signal::kill(runtime_pid, signal);
        }
    };
    if let (Some(console), None) = (&console, &master) {
        master = console.try_receive().map_err(|e| fail(e.to_string()))?;
    }

    if !matches!(status, WaitStatus::Exited(_, 0)) {
        let mut stderr = Vec::new();
        let _ = fs::File::from(err_r).read_to_end(&mut stderr);
        let log_text = log.as_deref().and_then(|p| read_from(p, log_offset));
        let mut message = failure_text(log_text.as_deref(), &stderr);
        if message.is_empty() {
            message = format!(
                "{} {} failed: {status:?}",
                call.runtime.display(),
                if call.exec_spec.is_some() {
                    "exec"
                } else {
                    "create"
                }
            );
        }
        return Err(fail(message));
    }

    if call.terminal {
        let master = master.ok_or_else(|| fail("the runtime did not set up the terminal"))?;
        nonblocking(&master);
        io.stdin = Some(dup(&master)?);
        io.stdout = Some(master);
        io.pty = true;
    }
    io.stderr = Some(err_r);
    if let Some(fd) = &io.stdout {
        nonblocking(fd);
    }
    if let Some(fd) = &io.stdin {
        nonblocking(fd);
    }

    let text = fs::read_to_string(&call.pid_file)
        .map_err(|e| fail(format!("pid file {}: {e}", call.pid_file.display())))?;
    let pid: i32 = text.trim().parse().map_err(|_| {
        fail(format!(
            "pid file {}: expected a pid, found {text:?}",
            call.pid_file.display()
        ))
    })?;
    Ok((Pid::from_raw(pid), io))
}

/// The part of `path` past `offset`: what the runtime logged during this call.
fn read_from(path: &Path, offset: u64) -> Option<Vec<u8>> {
    let mut file = fs::File::open(path).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut text = Vec::new();
    file.take(1 << 20).read_to_end(&mut text).ok()?;
    Some(text)
}

/// Runs one runtime command to its end (`start`, `delete --force`); the error text if it
/// failed.
pub fn run_command(call: &RuntimeCall, args: &[&str], timeout: Duration) -> Result<(), String> {
    let mut child = call
        .command(args)
        .spawn()
        .map_err(|e| format!("{}: {e}", call.runtime.display()))?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                return Err(format!(
                    "{} {}: {status}: {}",
                    call.runtime.display(),
                    args.join(" "),
                    stderr.trim()
                ));
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} {}: timed out",
                    call.runtime.display(),
                    args.join(" ")
                ));
            }
        }
    }
}
