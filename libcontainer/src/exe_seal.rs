//! Keeps the runtime binary unwritable from inside a container
//! (CVE-2019-5736 class).
//!
//! Every process that enters a container starts as a copy of the runtime,
//! so `/proc/<pid>/exe` of the init (and, through a `#!/proc/self/exe`
//! entrypoint, the container's first program itself) names the runtime
//! binary on the host. A container process that holds that file open can
//! write to it once no runtime runs it any more, and so replace the binary
//! the host will run as root next time.
//!
//! Instead of copying the binary into a sealed memfd on every call (several
//! milliseconds for youki and runc 1.1), the runtime re-executes itself once
//! from a read-only bind mount of its own file, made in a private mount
//! namespace, and returns to the caller's mount namespace at once. Its exe
//! link then goes through a read-only mount: opening it for writing fails
//! with EROFS, however it is reached. When the binary already lives on a
//! read-only mount (e.g. bind-mounted read-only at boot), nothing is done.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{statvfs, FsFlags};

use crate::error::{Error, IoContext, Result, SysContext};

/// Set for the re-executed runtime: the fd of the caller's mount namespace
/// and the caller's working directory, to go back to.
const ENV_MOUNT_NS_FD: &str = "_BERTH_SEAL_MNTNS_FD";
const ENV_CWD: &str = "_BERTH_SEAL_CWD";

/// Makes sure the running binary is reached only through a read-only mount,
/// re-executing the process if needed. Must be called early, while the
/// process is single-threaded and before it has done anything it could not
/// do again. Returns once the process runs sealed, in the caller's mount
/// namespace and working directory.
pub fn ensure_sealed() -> Result<()> {
    if let Some(fd) = std::env::var_os(ENV_MOUNT_NS_FD) {
        return return_to_caller(fd);
    }
    let flags = statvfs("/proc/self/exe").ctx(|| "statvfs of /proc/self/exe".to_string())?;
    if flags.flags().contains(FsFlags::ST_RDONLY) {
        return Ok(());
    }
    reexec_sealed()
}

fn reexec_sealed() -> Result<()> {
    let exe =
        std::fs::read_link("/proc/self/exe").io_ctx(|| "reading /proc/self/exe".to_string())?;
    if !exe.exists() {
        return Err(Error::Other(format!(
            "the runtime binary {} is gone (replaced while running?)",
            exe.display()
        )));
    }
    let cwd = std::env::current_dir().io_ctx(|| "reading the working directory".to_string())?;
    // Not close-on-exec: the re-executed runtime needs it to come back.
    let caller_ns = nix::fcntl::open("/proc/self/ns/mnt", OFlag::O_RDONLY, Mode::empty())
        .ctx(|| "opening /proc/self/ns/mnt".to_string())?;

    unshare(CloneFlags::CLONE_NEWNS)
        .ctx(|| "unsharing a mount namespace to seal the runtime binary".to_string())?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "making the sealing mount namespace a slave".to_string())?;
    mount(
        Some(&exe),
        &exe,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(|| format!("bind-mounting {}", exe.display()))?;
    mount(
        None::<&str>,
        &exe,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .ctx(|| format!("remounting {} read-only", exe.display()))?;

    let mut args = std::env::args_os();
    let argv0 = args
        .next()
        .unwrap_or_else(|| OsString::from("berth-runtime"));
    let error = std::process::Command::new(&exe)
        .arg0(argv0)
        .args(args)
        .env(ENV_MOUNT_NS_FD, caller_ns.as_raw_fd().to_string())
        .env(ENV_CWD, cwd)
        .exec();
    Err(Error::io(
        format!("re-executing {} sealed", exe.display()),
        error,
    ))
}

fn return_to_caller(fd: OsString) -> Result<()> {
    let fd: RawFd = fd
        .to_str()
        .and_then(|s| s.parse().ok())
        .filter(|fd| *fd > 2)
        .ok_or_else(|| Error::Other(format!("{ENV_MOUNT_NS_FD} is not an fd number")))?;
    // SAFETY: our own pre-exec self passed us this fd, open and not
    // close-on-exec, and nothing else in this process refers to it.
    let caller_ns = unsafe { OwnedFd::from_raw_fd(fd) };
    setns(&caller_ns, CloneFlags::CLONE_NEWNS)
        .ctx(|| "returning to the caller's mount namespace".to_string())?;
    drop(caller_ns);
    let cwd = std::env::var_os(ENV_CWD).map(PathBuf::from);
    // SAFETY (of the env calls): the runtime is single-threaded here.
    std::env::remove_var(ENV_MOUNT_NS_FD);
    std::env::remove_var(ENV_CWD);
    if let Some(cwd) = cwd {
        std::env::set_current_dir(&cwd).io_ctx(|| format!("returning to {}", cwd.display()))?;
    }
    Ok(())
}
