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

/// Gives back the memory start-up used and the long wait does not: the heap's free
/// pages, and the mappings of our own code (parsing, launching), which the kernel maps
/// back from the page cache if they are ever run again. A shim idles for the container's
/// whole life, one per container, so its resident set is what a host pays per container.
pub fn shed_startup_memory() {
    // SAFETY: malloc_trim only returns free heap pages to the kernel; no live allocation
    // moves.
    unsafe {
        libc::malloc_trim(0);
    }
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let here = 0u8;
    let stack_pointer = std::ptr::addr_of!(here) as usize;
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.last() == Some(&"[stack]") {
            shed_stack_below(fields[0], stack_pointer);
            continue;
        }
        // Only our executable's read-only code: never a writable or anonymous mapping.
        if fields.len() < 6 || fields[1] != "r-xp" || std::path::Path::new(fields[5]) != exe {
            continue;
        }
        let Some((start, end)) = fields[0].split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        // SAFETY: the range is a private, read-only, file-backed mapping of our own
        // executable (checked above): MADV_DONTNEED drops its page-table entries and the
        // next access faults the same bytes back in from the file. Nothing is lost.
        // MADV_RANDOM turns off fault-around for the mapping: a page run again comes back
        // alone, not with the 15 pages beside it.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_RANDOM);
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// Drops the stack pages start-up used below where the stack is now (`[stack]` range
/// `range`, `stack_pointer` the address of a local of the caller's caller).
fn shed_stack_below(range: &str, stack_pointer: usize) {
    const PAGE: usize = 4096;
    // Frames the calls from here may still use: they refault as zero pages if deeper.
    const MARGIN: usize = 4 * PAGE;
    let Some(start) = range
        .split_once('-')
        .and_then(|(s, _)| usize::from_str_radix(s, 16).ok())
    else {
        return;
    };
    let end = (stack_pointer & !(PAGE - 1)).saturating_sub(MARGIN);
    if end <= start {
        return;
    }
    // SAFETY: [start, end) lies in our main thread's stack, more than 4 pages below the
    // current frame: no live frame is there (the x86-64 red zone is 128 bytes), and the
    // shim installs no signal handler that could run on it (signals come by signalfd).
    // MADV_DONTNEED makes those pages zero-fill on the next touch.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
    }
}
