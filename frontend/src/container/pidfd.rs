//! Waking as soon as a container ends, instead of on the next tick of a poll loop:
//! the shim's pidfd becomes readable when the shim exits, and an inotify watch on
//! the exits directory fires when the shim records an exit code there.

use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// Opens a pidfd for `pid`; `None` when it is already gone (or pidfds are missing).
pub(super) fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let ret = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if ret < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Sends `signal` to the process `pidfd` names: never to another that took its pid.
pub(super) fn pidfd_kill(pidfd: &OwnedFd, signal: nix::sys::signal::Signal) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal takes a pidfd we own, a signal number, no siginfo and
    // no flags; it touches no memory of ours.
    let ret = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as i32,
            std::ptr::null::<nix::libc::siginfo_t>(),
            0,
        )
    };
    ret == 0
}

/// What an exit wakes: the shim's end and new files in the exits directory. Either
/// may be missing (no shim, no inotify); the caller's timeout still paces it.
pub struct ExitWaker {
    shim: Option<OwnedFd>,
    exits: Option<Inotify>,
}

impl ExitWaker {
    pub fn new(shim_pid: Option<i32>, exits_dir: &Path) -> ExitWaker {
        let exits = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .filter(|i| {
                i.add_watch(
                    exits_dir,
                    AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE,
                )
                .is_ok()
            });
        ExitWaker {
            shim: shim_pid.and_then(pidfd_open),
            exits,
        }
    }

    /// Sleeps until something changed or `timeout` passed. A shim that has exited
    /// stays readable, so its fd is dropped once it fired.
    pub fn wait(&mut self, timeout: Duration) {
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
        let mut fds = Vec::with_capacity(2);
        if let Some(shim) = &self.shim {
            fds.push(PollFd::new(shim.as_fd(), PollFlags::POLLIN));
        }
        if let Some(exits) = &self.exits {
            fds.push(PollFd::new(exits.as_fd(), PollFlags::POLLIN));
        }
        if fds.is_empty() {
            std::thread::sleep(Duration::from_millis(millis as u64));
            return;
        }
        let ready = loop {
            match poll(&mut fds, timeout) {
                Ok(0) => return,
                Ok(_) => {
                    break fds
                        .iter()
                        .map(|f| f.any().unwrap_or(false))
                        .collect::<Vec<_>>()
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
        };
        let shim_fired = self.shim.is_some() && ready[0];
        if shim_fired {
            self.shim = None;
        }
        if let Some(exits) = &self.exits {
            // Drain the events; what changed is read from the files themselves.
            let _ = exits.read_events();
        }
    }
}
