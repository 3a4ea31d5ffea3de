//! The seam between the container's set-up and the kernel: the calls that
//! shape a container (mounts, root, namespaces, device nodes, names and
//! identity) go through [`Kernel`], so that which of them are made, in which
//! order and with which flags can be checked by unit tests without root,
//! against [`Recorder`]. [`Linux`] is the real kernel. Everything else
//! (reads, opens, fd plumbing) stays direct: the seam is kept thin.

use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};

pub trait Kernel {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;
    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()>;
    fn chroot(&self, path: &Path) -> nix::Result<()>;
    fn setns(&self, namespace: BorrowedFd<'_>, typ: CloneFlags) -> nix::Result<()>;
    fn unshare(&self, flags: CloneFlags) -> nix::Result<()>;
    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: libc::dev_t) -> nix::Result<()>;
    fn sethostname(&self, name: &str) -> nix::Result<()>;
    fn setdomainname(&self, name: &str) -> nix::Result<()>;
    /// Real, effective and saved ids alike.
    fn setresuid(&self, uid: Uid) -> nix::Result<()>;
    fn setresgid(&self, gid: Gid) -> nix::Result<()>;
    fn setgroups(&self, groups: &[Gid]) -> nix::Result<()>;
}

/// The running kernel.
pub struct Linux;

impl Kernel for Linux {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        nix::mount::umount2(target, flags)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chroot(&self, path: &Path) -> nix::Result<()> {
        nix::unistd::chroot(path)
    }

    fn setns(&self, namespace: BorrowedFd<'_>, typ: CloneFlags) -> nix::Result<()> {
        nix::sched::setns(namespace, typ)
    }

    fn unshare(&self, flags: CloneFlags) -> nix::Result<()> {
        nix::sched::unshare(flags)
    }

    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: libc::dev_t) -> nix::Result<()> {
        nix::sys::stat::mknod(path, kind, perm, dev)
    }

    fn sethostname(&self, name: &str) -> nix::Result<()> {
        nix::unistd::sethostname(name)
    }

    fn setdomainname(&self, name: &str) -> nix::Result<()> {
        crate::sys::setdomainname(name.as_bytes())
    }

    fn setresuid(&self, uid: Uid) -> nix::Result<()> {
        nix::unistd::setresuid(uid, uid, uid)
    }

    fn setresgid(&self, gid: Gid) -> nix::Result<()> {
        nix::unistd::setresgid(gid, gid, gid)
    }

    fn setgroups(&self, groups: &[Gid]) -> nix::Result<()> {
        nix::unistd::setgroups(groups)
    }
}

/// One call as the recorder saw it. Paths of the form `/proc/self/fd/N`
/// (how set-up names what it has opened) are recorded as what the fd
/// points at, so a test can name them.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mount {
        source: Option<std::path::PathBuf>,
        target: std::path::PathBuf,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    Umount(std::path::PathBuf, MntFlags),
    PivotRoot(std::path::PathBuf, std::path::PathBuf),
    Chroot(std::path::PathBuf),
    Setns(CloneFlags),
    Unshare(CloneFlags),
    Mknod(std::path::PathBuf, SFlag, u32, libc::dev_t),
    Sethostname(String),
    Setdomainname(String),
    Setresuid(u32),
    Setresgid(u32),
    Setgroups(Vec<u32>),
}

/// Which calls a [`Recorder`] refuses, and with what.
#[cfg(test)]
pub type Refusal = (fn(&Call) -> bool, nix::errno::Errno);

/// A kernel that records each call and makes none; `refuse` makes the
/// calls it matches fail with its errno instead. One stand-in: mknod leaves
/// an empty file where the node would be, so that the steps after it (a
/// chown, a later open) find something.
#[cfg(test)]
#[derive(Default)]
pub struct Recorder {
    pub calls: std::cell::RefCell<Vec<Call>>,
    pub refuse: Option<Refusal>,
}

#[cfg(test)]
impl Recorder {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    fn record(&self, call: Call) -> nix::Result<()> {
        let refused = self.refuse.filter(|(matches, _)| matches(&call));
        self.calls.borrow_mut().push(call);
        match refused {
            Some((_, errno)) => Err(errno),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
fn resolved(path: &Path) -> std::path::PathBuf {
    // "/", "proc", "self", "fd", N
    let fd_link: std::path::PathBuf = path.components().take(5).collect();
    if fd_link.starts_with("/proc/self/fd") && fd_link.components().count() == 5 {
        if let Ok(target) = std::fs::read_link(&fd_link) {
            return match path.strip_prefix(&fd_link) {
                Ok(rest) if !rest.as_os_str().is_empty() => target.join(rest),
                _ => target,
            };
        }
    }
    path.to_path_buf()
}

#[cfg(test)]
impl Kernel for Recorder {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        self.record(Call::Mount {
            source: source.map(resolved),
            target: resolved(target),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        })
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        self.record(Call::Umount(resolved(target), flags))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()> {
        self.record(Call::PivotRoot(resolved(new_root), resolved(put_old)))
    }

    fn chroot(&self, path: &Path) -> nix::Result<()> {
        self.record(Call::Chroot(resolved(path)))
    }

    fn setns(&self, _namespace: BorrowedFd<'_>, typ: CloneFlags) -> nix::Result<()> {
        self.record(Call::Setns(typ))
    }

    fn unshare(&self, flags: CloneFlags) -> nix::Result<()> {
        self.record(Call::Unshare(flags))
    }

    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: libc::dev_t) -> nix::Result<()> {
        self.record(Call::Mknod(resolved(path), kind, perm.bits(), dev))?;
        std::fs::write(path, b"")
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }

    fn sethostname(&self, name: &str) -> nix::Result<()> {
        self.record(Call::Sethostname(name.to_string()))
    }

    fn setdomainname(&self, name: &str) -> nix::Result<()> {
        self.record(Call::Setdomainname(name.to_string()))
    }

    fn setresuid(&self, uid: Uid) -> nix::Result<()> {
        self.record(Call::Setresuid(uid.as_raw()))
    }

    fn setresgid(&self, gid: Gid) -> nix::Result<()> {
        self.record(Call::Setresgid(gid.as_raw()))
    }

    fn setgroups(&self, groups: &[Gid]) -> nix::Result<()> {
        self.record(Call::Setgroups(groups.iter().map(|g| g.as_raw()).collect()))
    }
}
