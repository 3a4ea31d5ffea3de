//! Keeps the runtime binary unwritable from inside a container
//! (CVE-2019-5736 class).
//!
//! Every process that enters a container starts as a copy of the runtime,
//! so `/proc/<pid>/exe` of the init, of an exec'd process before its
//! execve, and of the runtime itself names the runtime binary on the host.
//! A container process allowed to open that link (CAP_SYS_PTRACE, or a
//! dumpable runtime process) can hold the file and write to it once no
//! runtime runs it any more, replacing what the host runs as root next.
//!
//! Instead of copying the binary into a sealed memfd on every call (several
//! milliseconds for youki and runc 1.1), the runtime re-executes itself once
//! through a detached, read-only bind mount of its own file (open_tree +
//! mount_setattr + execveat): no mount namespace to create or leave, no
//! copy. Its exe link then goes through that read-only mount, and opening
//! it for writing fails with EROFS however it is reached. When the binary
//! already lives on a read-only mount nothing is done at all. Needs Linux
//! 5.12 (mount_setattr).

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use nix::sys::statvfs::{statvfs, FsFlags};

use crate::error::{Error, IoContext, Result, SysContext};
use crate::sys;

/// Makes sure the running binary is reached only through a read-only mount,
/// re-executing the process (same arguments, environment and fds) if not.
/// Call it first thing, before the process has done anything it could not
/// do again.
pub fn ensure_sealed() -> Result<()> {
    let flags = statvfs("/proc/self/exe").ctx(|| "statvfs of /proc/self/exe".to_string())?;
    if flags.flags().contains(FsFlags::ST_RDONLY) {
        return Ok(());
    }
    let exe =
        std::fs::read_link("/proc/self/exe").io_ctx(|| "reading /proc/self/exe".to_string())?;
    let exe_c = CString::new(exe.as_os_str().as_bytes()).map_err(|_| {
        Error::io(
            format!("sealing the runtime binary {}", exe.display()),
            std::io::ErrorKind::InvalidInput.into(),
        )
    })?;
    let sealed = sys::open_tree_clone(&exe_c, false)
        .ctx(|| format!("sealing the runtime binary: open_tree of {}", exe.display()))?;
    sys::make_mount_read_only(sealed.as_fd())
        .ctx(|| "sealing the runtime binary: making its bind mount read-only".to_string())?;

    let to_c = |s: std::ffi::OsString| CString::new(s.as_bytes()).ok();
    let argv: Vec<CString> = std::env::args_os().filter_map(to_c).collect();
    let envp: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut entry = k;
            entry.push("=");
            entry.push(v);
            to_c(entry)
        })
        .collect();
    let argv: Vec<&std::ffi::CStr> = argv.iter().map(|a| a.as_c_str()).collect();
    let envp: Vec<&std::ffi::CStr> = envp.iter().map(|e| e.as_c_str()).collect();
    let errno = sys::execute_fd(sealed.as_fd(), &argv, &envp);
    Err(Error::sys(
        format!(
            "re-executing {} from its read-only bind mount",
            exe.display()
        ),
        errno,
    ))
}
