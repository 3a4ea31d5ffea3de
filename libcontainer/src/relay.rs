//! A container process in the foreground (runc's `run` and `exec` without
//! `--detach`): signals sent to the caller are relayed to the process and,
//! when the caller owns the process's terminal, the pty is copied to and
//! from the caller's own stdio, with the window size kept in step.
//!
//! Signals are blocked and read from a signalfd from before the container is
//! cloned, so a container that exits at once is never missed (its SIGCHLD
//! waits in the signalfd).

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::error::{Result, SysContext};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Signals blocked and read from a signalfd from before the container
/// process is cloned (so its SIGCHLD is never missed), then relayed.
pub struct SignalRelay {
    signals: SignalFd,
}

impl SignalRelay {
    /// Blocks signals for the relay. With `subreaper` (run's default, as
    /// runc's), processes orphaned in a container that shares our PID
    /// namespace are re-parented to us, not to the host's init, and reaped
    /// here while we wait.
    pub fn block(subreaper: bool) -> Result<SignalRelay> {
        if subreaper {
            nix::sys::prctl::set_child_subreaper(true)
                .ctx(|| "prctl(PR_SET_CHILD_SUBREAPER)".to_string())?;
        }
        let mut mask = SigSet::all();
        mask.remove(Signal::SIGKILL);
        mask.remove(Signal::SIGSTOP);
        // Faults must stay fatal to us, not be queued.
        for fault in [
            Signal::SIGSEGV,
            Signal::SIGBUS,
            Signal::SIGILL,
            Signal::SIGFPE,
        ] {
            mask.remove(fault);
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
            .ctx(|| "blocking signals".to_string())?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC)
            .ctx(|| "creating a signalfd".to_string())?;
        Ok(SignalRelay { signals })
    }

    /// Runs until `child` (the container's init, or an exec'd process; our
    /// child either way) exits; returns its shell-style status.
    pub fn wait(self, child: Pid, master: Option<OwnedFd>) -> Result<i32> {
        let stdin = std::io::stdin();
        let raw = master.as_ref().and_then(|_| RawMode::enter(stdin.as_fd()));
        if let Some(master) = &master {
            copy_window_size(stdin.as_fd(), master.as_fd());
        }
        let mut stdin_open = master.is_some();
        let mut master_open = master.is_some();
        let mut buf = [0u8; 8192];
        let status = loop {
            let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            if let Some(master) = master.as_ref().filter(|_| master_open) {
                fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
            }
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Err(Errno::EINTR) => continue,
                other => {
                    other
                        .ctx(|| "waiting for the container process or its terminal".to_string())?;
                }
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            if ready[0] {
                if let Some(status) = self.handle_signal(child, master.as_ref(), &stdin)? {
                    break status;
                }
            }
            let mut index = 1;
            if let Some(master) = master.as_ref().filter(|_| master_open) {
                if ready[index] {
                    master_open = pump(master.as_fd(), &mut std::io::stdout(), &mut buf);
                }
                index += 1;
            }
            if stdin_open && ready[index] {
                if let Some(master) = &master {
                    stdin_open = pump_into(&mut stdin.lock(), master.as_fd(), &mut buf);
                }
            }
        };
        // What the container wrote just before exiting is still in the pty.
        if let Some(master) = &master {
            let _ = nix::fcntl::fcntl(
                master,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            );
            while pump(master.as_fd(), &mut std::io::stdout(), &mut buf) {}
        }
        drop(raw);
        Ok(status)
    }

    fn handle_signal(
        &self,
        child: Pid,
        master: Option<&OwnedFd>,
        stdin: &std::io::Stdin,
    ) -> Result<Option<i32>> {
        let Some(info) = self
            .signals
            .read_signal()
            .ctx(|| "reading the signalfd".to_string())?
        else {
            return Ok(None);
        };
        let signal = info.ssi_signo as i32;
        if signal == libc::SIGCHLD {
            return try_wait(child);
        }
        if signal == libc::SIGWINCH {
            if let Some(master) = master {
                copy_window_size(stdin.as_fd(), master.as_fd());
            }
            return Ok(None);
        }
        // The child may be exiting: a failed relay is not our error. It is
        // our child and not yet reaped, so its pid cannot have been reused.
        if let Ok(signal) = Signal::try_from(signal) {
            let _ = nix::sys::signal::kill(child, signal);
        }
        Ok(None)
    }
}

/// The child's shell-style status once it has exited (128+N for signal N).
/// Every other child that has exited (an orphan we adopted as subreaper)
/// is reaped on the way.
fn try_wait(child: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => {
                return Ok(Some(128 + signal as i32))
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e).ctx(|| "waiting for the container process".to_string()),
        }
    }
}

/// Copies one read from `from` to `to`; false once `from` is finished (a pty
/// master reads EIO when the last slave closes).
fn pump(from: BorrowedFd<'_>, to: &mut impl Write, buf: &mut [u8]) -> bool {
    match nix::unistd::read(from, buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let _ = to.write_all(&buf[..n]);
            let _ = to.flush();
            true
        }
    }
}

fn pump_into(from: &mut impl Read, to: BorrowedFd<'_>, buf: &mut [u8]) -> bool {
    match from.read(buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => nix::unistd::write(to, &buf[..n]).is_ok(),
    }
}

fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok((rows, cols)) = crate::console::window_size(from) {
        let _ = crate::console::set_window_size(to, rows, cols);
    }
}

/// Our terminal in raw mode for as long as the container has it, restored
/// on drop.
struct RawMode {
    fd: i32,
    saved: Termios,
}

impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> Option<RawMode> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode {
            fd: fd.as_raw_fd(),
            saved,
        })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: fd is our stdin, open for the whole life of the process.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &self.saved);
    }
}
