//! Signals and children: SIGCHLD and the termination signals arrive through a signalfd
//! (the poll loop sees them as one more fd), and every child, re-parented orphans
//! included, is reaped here. The shim is a child subreaper, and PID 1 on some hosts reaps
//! only every few seconds: nothing may stay a zombie waiting for it.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Statuses kept for pids nobody asked about yet: an exec'd process can exit before the
/// runtime that started it has written its pid file.
const KEEP: usize = 64;

pub struct Reaper {
    signals: SignalFd,
    reaped: VecDeque<(Pid, WaitStatus)>,
}

impl Reaper {
    /// Blocks the signals the shim handles and opens the signalfd that reports them.
    /// (Children get an empty mask again: std's Command resets it before exec.)
    pub fn new() -> nix::Result<Reaper> {
        let mut mask = SigSet::empty();
        for s in [
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGQUIT,
            Signal::SIGHUP,
        ] {
            mask.add(s);
        }
        mask.thread_block()?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Reaper {
            signals,
            reaped: VecDeque::new(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.signals.as_fd()
    }

    /// Reads the pending signals; returns the termination signals among them (SIGCHLD
    /// only means: call [`reap`]).
    pub fn take_signals(&mut self) -> Vec<Signal> {
        let mut terminations = Vec::new();
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) | Err(_) => {}
                Ok(signal) => terminations.push(signal),
            }
        }
        terminations
    }

    /// Reaps every child that has ended.
    pub fn reap(&mut self) {
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(status) => {
                    if let Some(pid) = status.pid() {
                        if self.reaped.len() == KEEP {
                            self.reaped.pop_front();
                        }
                        self.reaped.push_back((pid, status));
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    }

    /// The status of `pid` if it has been reaped (once: it is forgotten then).
    pub fn take(&mut self, pid: Pid) -> Option<WaitStatus> {
        let at = self.reaped.iter().position(|(p, _)| *p == pid)?;
        self.reaped.remove(at).map(|(_, s)| s)
    }
}
