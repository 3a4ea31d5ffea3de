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
/// pages, and the mappings of our own executable that still equal the file (code and
/// read-only data: parsing, launching), which the kernel maps back from the page cache if
/// they are ever used again. A shim idles for the container's whole life, one per
/// container, so its resident set is what a host pays per container. Called just before
/// the shim blocks: the kernel maps code back 64 KiB around each page touched, so the less
/// runs between here and the wait, the less comes back.
pub fn shed_startup_memory() {
    let here = 0u8;
    let stack_pointer = std::ptr::addr_of!(here) as usize;
    // The plan lives on the stack: from the trim on, nothing here calls malloc or free,
    // whose code would only fault back in.
    let plan = ShedPlan::read();
    // SAFETY: malloc_trim only returns free heap pages to the kernel; no live allocation
    // moves.
    unsafe {
        libc::malloc_trim(0);
    }
    if let Some(plan) = plan {
        for &(start, end) in &plan.clean_code[..plan.clean_count] {
            // SAFETY: [start, end) is a private, non-writable, file-backed mapping of our
            // own executable with no anonymous (copied-on-write) page, read from smaps: its
            // pages equal the file's, so MADV_DONTNEED only drops page-table entries and
            // the next access faults the same bytes back in. Nothing is lost.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
        if let Some(stack) = plan.stack {
            shed_stack_below(stack, stack_pointer);
        }
    }
}

/// The ranges `shed_startup_memory` may drop, from /proc/self/smaps.
struct ShedPlan {
    /// An executable has four or five mappings; more are left alone.
    clean_code: [(usize, usize); 8],
    clean_count: usize,
    stack: Option<(usize, usize)>,
}

impl ShedPlan {
    fn read() -> Option<ShedPlan> {
        let exe = std::fs::read_link("/proc/self/exe").ok()?;
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut plan = ShedPlan {
            clean_code: [(0, 0); 8],
            clean_count: 0,
            stack: None,
        };
        // The mapping being read: its range, and whether it may still be dropped.
        let mut current: Option<((usize, usize), bool)> = None;
        let mut finish = |current: Option<((usize, usize), bool)>| {
            if let (Some((range, true)), Some(slot)) =
                (current, plan.clean_code.get_mut(plan.clean_count))
            {
                *slot = range;
                plan.clean_count += 1;
            }
        };
        for line in smaps.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let Some(range) = fields.first().and_then(|f| parse_range(f)) {
                finish(current.take());
                let path = fields.get(5).copied();
                if path == Some("[stack]") {
                    plan.stack = Some(range);
                }
                let ours = path.is_some_and(|p| std::path::Path::new(p) == exe);
                let read_only = fields.get(1).is_some_and(|p| !p.contains('w'));
                current = Some((range, ours && read_only));
                continue;
            }
            // A page written since the mapping was made (relocated RELRO) is an anonymous
            // copy that differs from the file: such a mapping is kept whole. (Dirty alone
            // says nothing: a just-built binary's page cache is dirty until written back.)
            let written = fields.first() == Some(&"Anonymous:") && fields.get(1) != Some(&"0");
            if written {
                if let Some((_, droppable)) = current.as_mut() {
                    *droppable = false;
                }
            }
        }
        finish(current.take());
        Some(plan)
    }
}

fn parse_range(field: &str) -> Option<(usize, usize)> {
    let (start, end) = field.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    Some((start, end))
}

/// Drops the stack pages start-up used below where the stack is now (`[stack]` range
/// `range`, `stack_pointer` the address of a local of the caller's caller).
fn shed_stack_below((start, _): (usize, usize), stack_pointer: usize) {
    const PAGE: usize = 4096;
    // Frames the calls from here may still use: they refault as zero pages if deeper.
    const MARGIN: usize = 2 * PAGE;
    let end = (stack_pointer & !(PAGE - 1)).saturating_sub(MARGIN);
    if end <= start {
        return;
    }
    // SAFETY: [start, end) lies in our main thread's stack, more than 2 pages below the
    // current frame: no live frame is there (the x86-64 red zone is 128 bytes), and the
    // shim installs no signal handler that could run on it (signals come by signalfd).
    // MADV_DONTNEED makes those pages zero-fill on the next touch.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
    }
}
