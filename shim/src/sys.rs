//! The few calls the shim makes that Rust cannot check: each one a small wrapper with the
//! reason it is sound.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid};

/// Which side of [`fork_daemon`] we are on.
pub enum Forked {
    /// The caller's side: the shim's pid.
    Parent(Pid),
    Child,
}

/// Forks the shim away from its caller.
pub fn fork_daemon() -> nix::Result<Forked> {
    // SAFETY: called from `main` before any thread is started (the shim never starts
    // one), so the child may run arbitrary code, allocation included.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        ForkResult::Child => Ok(Forked::Child),
    }
}

/// The runtime child dies with the shim: a `create` left running by a killed shim would
/// hold the container half-made with nobody to report to.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure only calls prctl(2), which is async-signal-safe and allocates
    // nothing; it runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            Ok(())
        });
    }
}

nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

/// Sets the window size of the pty whose master is `fd`.
pub fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which lives on our stack
    // for the call; a non-tty fd fails with ENOTTY and changes nothing.
    unsafe { tiocswinsz(fd.as_raw_fd(), &size) }.map(drop)
}

/// Adopts an fd number inherited from the caller (`_OCI_SYNCPIPE=3`), or `None` when
/// that number is not an open fd.
pub fn adopt_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only reads the fd's flags; a number that is not open fails (EBADF).
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: the fd is open (checked above) and the caller handed it to us through the
    // environment for our use alone; nothing else in the shim owns this number.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}
