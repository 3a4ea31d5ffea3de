//! Extended attributes by fd, or by a name inside a directory fd: nix has no xattr calls,
//! so these are the only `unsafe` of the layer code, each a thin wrapper over one call.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::libc;

/// `/proc/self/fd/<dir>/<name>`: the directory pinned by its fd, `name` looked up in it.
/// With the `l*xattr` calls the last component is not followed, so a symlink or device
/// node is reached without opening it and without a path walk an entry could redirect.
/// `name` is one component (no `/`), already created by us in that directory.
pub(super) fn at_path(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<CString> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name);
    CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(ret: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

pub(super) fn fset(fd: impl AsFd, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated, `value` is valid for `value.len()` bytes, the fd
    // is borrowed for the call.
    let ret = unsafe {
        libc::fsetxattr(
            fd.as_fd().as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    check(ret as libc::ssize_t).map(drop)
}

pub(super) fn lset(path: &CStr, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated, `value` is valid for `value.len()` bytes.
    let ret = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    check(ret as libc::ssize_t).map(drop)
}

/// Where the attributes of a file are read from: an fd, or a path from [`at_path`].
#[derive(Clone, Copy)]
pub(super) enum Source<'a> {
    Fd(BorrowedFd<'a>),
    Path(&'a CStr),
}

/// Every attribute name of a file (raw bytes, without their NULs).
pub(super) fn list(source: Source<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes; the path is NUL-terminated
        // and the fd borrowed for the call.
        let ret = unsafe {
            match source {
                Source::Fd(fd) => {
                    libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                }
                Source::Path(path) => {
                    libc::llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
                }
            }
        };
        match check(ret) {
            Ok(n) => {
                return Ok(buf[..n]
                    .split(|&b| b == 0)
                    .filter(|n| !n.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect())
            }
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) && buf.len() < 1 << 24 => {
                buf.resize(buf.len() * 4, 0);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    }
}

/// One attribute's value.
pub(super) fn get(source: Source<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: as in `list`; `name` is NUL-terminated.
        let ret = unsafe {
            match source {
                Source::Fd(fd) => libc::fgetxattr(
                    fd.as_raw_fd(),
                    name.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                ),
                Source::Path(path) => libc::lgetxattr(
                    path.as_ptr(),
                    name.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                ),
            }
        };
        match check(ret) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            // Values are at most 64 KiB (XATTR_SIZE_MAX); a file that grows one between
            // two calls makes us try again with room for the largest.
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) && buf.len() < 1 << 17 => {
                buf.resize(1 << 17, 0);
            }
            Err(e) => return Err(e),
        }
    }
}
