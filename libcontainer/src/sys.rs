//! The few system calls that nix does not wrap, each in one small function
//! with its safety argument. Everything else goes through nix.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// What `clone3` returned in the calling process.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// clone3 without a new stack: fork semantics, with namespace flags applied
/// atomically to the child (a new PID namespace can only be entered this
/// way), and optionally born in a cgroup2 cgroup (CLONE_INTO_CGROUP).
///
/// The caller must be single-threaded: the child continues on a copy of the
/// caller's stack and heap.
pub fn clone3_fork(flags: u64, into_cgroup: Option<BorrowedFd<'_>>) -> nix::Result<Forked> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args: libc::clone_args = unsafe_zeroed_clone_args();
    args.flags = flags;
    args.exit_signal = libc::SIGCHLD as u64;
    if let Some(cgroup) = into_cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cgroup.as_raw_fd() as u64;
    }
    // SAFETY: args is a valid clone_args of the size passed; without a stack
    // and without CLONE_VM the child gets a copy of our address space, exactly
    // like fork(2). The runtime is single-threaded, so no lock is held by a
    // thread that does not exist in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

fn unsafe_zeroed_clone_args() -> libc::clone_args {
    // SAFETY: clone_args is a plain C struct of integers; all-zero is its
    // documented "nothing requested" value.
    unsafe { std::mem::zeroed() }
}

pub fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> nix::Result<()> {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// Marks every fd from `first` on close-on-exec, so that the container gets
/// nothing of the runtime's but what is below `first` (CVE-2024-21626 class:
/// a leaked host directory fd lets the container escape through /proc/self/fd).
///
/// close_range where it works; where the kernel lacks it (before 5.11) or a
/// seccomp filter around the runtime denies it, each fd /proc/self/fd lists.
pub fn cloexec_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range only changes fd flags; no memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    match Errno::result(ret) {
        Ok(_) => Ok(()),
        Err(Errno::ENOSYS | Errno::EPERM | Errno::EINVAL) => cloexec_listed_from(first),
        Err(e) => Err(e),
    }
}

fn cloexec_listed_from(first: u32) -> nix::Result<()> {
    let listing = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    // Collected first: the listing's own fd is among them while it is open.
    let fds: Vec<RawFd> = listing
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd: &RawFd| fd >= first as RawFd)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on an fd number passes no memory; an fd that has
        // been closed since the listing (the listing's own) gives EBADF.
        let ret = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        match Errno::result(ret) {
            Ok(_) | Err(Errno::EBADF) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Joins a new anonymous-named session keyring, so the container does not
/// share the caller's (runc does the same unless --no-new-keyring).
pub fn join_session_keyring(name: &CStr) -> nix::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    // SAFETY: name is a valid NUL-terminated string for the call's duration.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    Errno::result(ret).map(drop)
}

pub fn setdomainname(name: &[u8]) -> nix::Result<()> {
    // SAFETY: the pointer and length describe a live byte slice.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}

/// Opens the pty slave that belongs to `master` without a path lookup
/// (TIOCGPTPEER), so a /dev/pts swapped by the image cannot be substituted.
pub fn open_pty_peer(master: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let ret = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh fd from the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ret) })
}

pub fn unlock_pty(master: BorrowedFd<'_>) -> nix::Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer, which is live.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(ret).map(drop)
}

pub fn pty_number(master: BorrowedFd<'_>) -> nix::Result<u32> {
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int to the pointer, which is live.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) };
    Errno::result(ret).map(|_| number)
}

pub fn set_controlling_terminal(tty: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument by value.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(ret).map(drop)
}

pub fn set_window_size(tty: BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is live.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    Errno::result(ret).map(drop)
}

pub fn window_size(tty: BorrowedFd<'_>) -> nix::Result<(u16, u16)> {
    // SAFETY: winsize is plain integers; zero is a valid value.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize to the pointer, which is live.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    Errno::result(ret).map(|_| (size.ws_row, size.ws_col))
}

/// Leaves the process with exactly `code`, skipping Rust's exit path: in a
/// forked child the parent's buffered output and destructors are not ours.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// A detached bind mount of `path` (open_tree OPEN_TREE_CLONE), attached
/// nowhere: only the returned fd reaches it. With `recursive`, the mounts
/// below `path` come along (AT_RECURSIVE, as for an rbind).
pub fn open_tree_clone(path: &CStr, recursive: bool) -> nix::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: path is a valid C string for the call; flags are plain ints.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh fd from the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Attaches the detached mount `from` (from [`open_tree_clone`]) onto the
/// file behind `onto` (move_mount with both paths empty).
pub fn move_mount_onto(from: BorrowedFd<'_>, onto: BorrowedFd<'_>) -> nix::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: both paths are "" (static C strings) and name the fds
    // themselves; the fds are live for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            onto.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

/// struct mount_attr of <linux/mount.h>: attributes to set and clear, and
/// a propagation type (MS_SHARED, MS_SLAVE, ... or 0 to leave it).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// mount_setattr(2) on the mount behind `fd`, and with `recursive` on every
/// mount below it too (AT_RECURSIVE).
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> nix::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: attr is a live mount_attr of the size passed; "" with
    // AT_EMPTY_PATH names the fd itself.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// Makes the mount behind `fd` read-only (mount_setattr MOUNT_ATTR_RDONLY).
pub fn make_mount_read_only(fd: BorrowedFd<'_>) -> nix::Result<()> {
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        ..MountAttr::default()
    };
    mount_setattr(fd, false, &attr)
}

/// execveat(fd, "", AT_EMPTY_PATH): runs the file behind `fd`. Returns only
/// on failure.
pub fn execute_fd(fd: BorrowedFd<'_>, argv: &[&CStr], envp: &[&CStr]) -> Errno {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    // SAFETY: both arrays are NULL-terminated and point at C strings that
    // outlive the call; execveat only returns on error.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Errno::last()
}

/// Brings the loopback interface of the calling process's network namespace up, as
/// runc does for a new one: a fresh namespace has `lo` down, and a container then
/// cannot reach even 127.0.0.1.
pub fn loopback_up() -> nix::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is a plain C struct (a name and a union of integers and
    // addresses); all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of the ifreq,
    // which lives for the call.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) };
    nix::errno::Errno::result(ret)?;
    // SAFETY: the kernel just filled ifru_flags, the union member SIOCGIFFLAGS uses.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads the name and flags of the ifreq, which lives for
    // the call.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &request) };
    nix::errno::Errno::result(ret).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proc_listing_marks_inherited_fds_close_on_exec() {
        let file = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: dup of a live fd; the copy is owned below.
        let inherited = unsafe { OwnedFd::from_raw_fd(libc::dup(file.as_raw_fd())) };
        let flags = |fd: RawFd| unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_eq!(flags(inherited.as_raw_fd()) & libc::FD_CLOEXEC, 0);
        cloexec_listed_from(inherited.as_raw_fd() as u32).unwrap();
        assert_ne!(flags(inherited.as_raw_fd()) & libc::FD_CLOEXEC, 0);
    }
}
