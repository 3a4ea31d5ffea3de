//! Writes to the container's /proc (sysctls) through a handle that is
//! checked to be procfs and resolved without symlinks or mount crossings
//! (CVE-2025-52881 class): a config or image that puts a bind mount or a
//! symlink over `/proc/sys/...` cannot turn the write into a write to some
//! other file, on the host or elsewhere.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use crate::error::{Error, Result, SysContext};

pub struct ProcFs {
    root: OwnedFd,
}

fn is_procfs(fd: BorrowedFd<'_>) -> nix::Result<bool> {
    Ok(fstatfs(fd)?.filesystem_type() == PROC_SUPER_MAGIC)
}

impl ProcFs {
    /// The `/proc` of the current root, refused unless it is procfs.
    pub fn open() -> Result<ProcFs> {
        let root = nix::fcntl::open(
            "/proc",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ctx(|| "opening /proc".to_string())?;
        if !is_procfs(root.as_fd()).ctx(|| "statfs of /proc".to_string())? {
            return Err(Error::NotProcfs(Path::new("/proc").to_path_buf()));
        }
        Ok(ProcFs { root })
    }

    /// Writes `value` to `relative` (e.g. `sys/net/ipv4/ip_forward`),
    /// refusing any path that leaves this procfs mount.
    pub fn write(&self, relative: &Path, value: &[u8]) -> Result<()> {
        let shown = || format!("/proc/{}", relative.display());
        let how = OpenHow::new()
            .flags(OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS
                    | ResolveFlag::RESOLVE_NO_XDEV,
            );
        let file =
            openat2(self.root.as_fd(), relative, how).ctx(|| format!("opening {}", shown()))?;
        if !is_procfs(file.as_fd()).ctx(|| format!("statfs of {}", shown()))? {
            return Err(Error::NotProcfs(Path::new("/proc").join(relative)));
        }
        nix::unistd::write(&file, value).ctx(|| format!("writing {}", shown()))?;
        Ok(())
    }
}
