//! Our own terminal while attached to a pty container: raw mode (restored by a guard),
//! its size, and SIGWINCH as a readable fd for the poll loop.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::termios::{self, SetArg, Termios};

/// The terminal as it was, put back when this drops (every return path of the attach,
/// errors included).
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawMode<'a> {
    /// Keys reach the container as typed: no echo, no line editing, ctrl-c as a byte.
    pub fn enter(fd: BorrowedFd<'a>) -> nix::Result<RawMode<'a>> {
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw)?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}

nix::ioctl_read_bad!(tiocgwinsz, nix::libc::TIOCGWINSZ, nix::libc::winsize);

/// The terminal's size as (rows, cols).
pub fn window_size(fd: BorrowedFd<'_>) -> nix::Result<(u16, u16)> {
    let mut size = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, to our stack value.
    unsafe { tiocgwinsz(fd.as_raw_fd(), &mut size) }?;
    Ok((size.ws_row, size.ws_col))
}

/// The write end of the SIGWINCH pipe, for the handler (-1 before the first watch).
static WINCH_WRITE: AtomicI32 = AtomicI32::new(-1);
/// The read end; the pipe lives as long as the process, so the handler never writes to
/// an fd number that was closed and reused.
static WINCH_PIPE: OnceLock<nix::Result<(OwnedFd, OwnedFd)>> = OnceLock::new();

extern "C" fn on_winch(_: nix::libc::c_int) {
    let fd = WINCH_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let saved = Errno::last_raw();
        // SAFETY: write(2) is async-signal-safe; `fd` is the pipe's write end, open for
        // the rest of the process. A full pipe (EAGAIN) already says "resized".
        unsafe { nix::libc::write(fd, [0u8].as_ptr().cast(), 1) };
        Errno::set_raw(saved);
    }
}

/// SIGWINCH as a readable fd. A self-pipe and not a signalfd: a signalfd sees the signal
/// only if every thread blocks it, and the process may have threads we do not own.
/// The handler stays installed once set (SIGWINCH is otherwise ignored); one attach per
/// process is expected to watch at a time.
pub struct WinchWatch {
    read: &'static OwnedFd,
}

impl WinchWatch {
    pub fn start() -> Result<WinchWatch, Errno> {
        let pipe = WINCH_PIPE.get_or_init(|| {
            let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
            let action = SigAction::new(
                SigHandler::Handler(on_winch),
                SaFlags::SA_RESTART,
                SigSet::empty(),
            );
            WINCH_WRITE.store(w.as_raw_fd(), Ordering::Relaxed);
            // SAFETY: the handler only loads an atomic and calls write(2), both
            // async-signal-safe.
            unsafe { sigaction(Signal::SIGWINCH, &action) }?;
            Ok((r, w))
        });
        let (read, _) = pipe.as_ref().map_err(|e| *e)?;
        let watch = WinchWatch { read };
        watch.drain();
        Ok(watch)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Empties the pipe: any number of signals since the last call mean one resize.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = nix::unistd::read(self.read.as_fd(), &mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}
