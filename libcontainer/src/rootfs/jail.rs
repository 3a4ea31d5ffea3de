//! Making the rootfs the container's `/`, and the propagation of that `/`.
//!
//! Three ways, as in runc: pivot_root in the container's own mount namespace;
//! `--no-pivot` (MS_MOVE onto `/` and chroot, for a rootfs on a ramdisk,
//! where pivot_root is refused); and a plain chroot when the container shares
//! the caller's mount namespace, where neither moving nor detaching anything
//! is ours to do.

use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::unistd::chdir;
use oci_spec::runtime::Spec;

use super::mountinfo::{self, MountInfo};
use crate::error::{IoContext, Result, SysContext};
use crate::kernel::Kernel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jail {
    PivotRoot,
    /// `--no-pivot`.
    MoveRoot,
    /// No mount namespace of the container's own.
    Chroot,
}

impl Jail {
    pub fn choose(own_mount_namespace: bool, no_pivot: bool) -> Jail {
        match (own_mount_namespace, no_pivot) {
            (false, _) => Jail::Chroot,
            (true, true) => Jail::MoveRoot,
            (true, false) => Jail::PivotRoot,
        }
    }
}

/// Step 4: make the rootfs `/`.
pub fn enter(kernel: &dyn Kernel, rootfs: &Path, jail: Jail) -> Result<()> {
    let here = Path::new(".");
    chdir(rootfs).ctx(|| format!("chdir to rootfs {}", rootfs.display()))?;
    match jail {
        Jail::PivotRoot => pivot(kernel, rootfs)?,
        Jail::MoveRoot => {
            let mounts = mountinfo::read().io_ctx(|| "reading /proc/self/mountinfo".to_string())?;
            for target in full_proc_and_sys_outside(&mounts, rootfs) {
                detach_or_cover(kernel, target)?;
            }
            kernel
                .mount(Some(here), Path::new("/"), None, MsFlags::MS_MOVE, None)
                .ctx(|| "moving the rootfs onto / (--no-pivot)".to_string())?;
            kernel
                .chroot(here)
                .ctx(|| "chroot into the rootfs".to_string())?;
        }
        Jail::Chroot => kernel
            .chroot(here)
            .ctx(|| "chroot into the rootfs".to_string())?,
    }
    chdir("/").ctx(|| "chdir to the new /".to_string())
}

/// pivot_root(".", ".") stacks the old root under the new one, where it is
/// detached without needing a directory in the image for it.
fn pivot(kernel: &dyn Kernel, rootfs: &Path) -> Result<()> {
    let here = Path::new(".");
    let old_root = nix::fcntl::open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| "opening the old root".to_string())?;
    kernel
        .pivot_root(here, here)
        .ctx(|| format!("pivot_root into {}", rootfs.display()))?;
    // "." must name the old root, now stacked over the new one: only it
    // becomes a slave and goes, the container's own mounts keep the
    // propagation they were given.
    nix::unistd::fchdir(&old_root).ctx(|| "fchdir to the old root".to_string())?;
    // Keep the unmount of the old root from propagating to the host.
    kernel
        .mount(None, here, None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
        .ctx(|| "making the old root a slave".to_string())?;
    kernel
        .umount(here, MntFlags::MNT_DETACH)
        .ctx(|| "detaching the old root".to_string())
}

/// The host's complete proc and sysfs mounts that a chroot would leave in the
/// container's mount namespace. While one is there, the kernel lets a
/// process of the container that makes its own user namespace mount a new,
/// unmasked proc or sysfs (it only refuses when no full instance is visible):
/// `--no-pivot` must not be a way out of maskedPaths (runc detaches them too).
fn full_proc_and_sys_outside<'a>(mounts: &'a [MountInfo], rootfs: &Path) -> Vec<&'a Path> {
    mounts
        .iter()
        .filter(|m| m.fs_type == "proc" || m.fs_type == "sysfs")
        .filter(|m| m.root == Path::new("/"))
        .filter(|m| !m.mount_point.starts_with(rootfs))
        .map(|m| m.mount_point.as_path())
        .collect()
}

fn detach_or_cover(kernel: &dyn Kernel, target: &Path) -> Result<()> {
    // Only our copy of the host's mount goes: its unmount must not
    // propagate back to the host.
    match kernel.mount(
        None,
        target,
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    ) {
        Ok(()) => {}
        // Gone with a mount detached before it (a sysfs below a proc).
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(crate::error::Error::sys(
                format!("--no-pivot: making the host's {} a slave", target.display()),
                e,
            ))
        }
    }
    match kernel.umount(target, MntFlags::MNT_DETACH) {
        Ok(()) => Ok(()),
        // Locked in a user namespace: hide it under an empty tmpfs instead.
        Err(Errno::EINVAL | Errno::EPERM) => kernel
            .mount(
                Some(Path::new("tmpfs")),
                target,
                Some("tmpfs"),
                MsFlags::empty(),
                None,
            )
            .ctx(|| format!("--no-pivot: covering the host's {}", target.display())),
        Err(e) => Err(crate::error::Error::sys(
            format!("--no-pivot: detaching the host's {}", target.display()),
            e,
        )),
    }
}

/// Propagation of `/` while the rootfs is set up: the container's mount
/// namespace is cut off from the host's events unless `shared` was asked
/// for. `unbindable` waits for [`apply_root_propagation`]: an unbindable `/`
/// would refuse the bind of the rootfs itself.
pub fn setup_propagation(requested: Option<MsFlags>) -> MsFlags {
    match requested {
        None => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Some(flags) if flags.contains(MsFlags::MS_UNBINDABLE) => {
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        }
        Some(flags) => flags,
    }
}

/// The propagation `linux.rootfsPropagation` asks of the container's `/`,
/// once it is `/` and fully built (unbindable would refuse the binds of
/// masked and read-only paths): `shared` and `unbindable` only. The setup
/// gave `/` slave or private already, but the rootfs bind was made private
/// for pivot_root, so `shared` must be given again.
pub fn final_propagation(requested: Option<MsFlags>) -> Option<MsFlags> {
    requested.filter(|f| f.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE))
}

pub fn requested_propagation(spec: &Spec) -> Option<MsFlags> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(super::options::propagation)
}

/// Step 6, last of all the mounts: [`final_propagation`] on `/`.
pub fn apply_root_propagation(kernel: &dyn Kernel, spec: &Spec) -> Result<()> {
    let Some(flags) = final_propagation(requested_propagation(spec)) else {
        return Ok(());
    };
    kernel
        .mount(None, Path::new("/"), None, flags, None)
        .ctx(|| format!("linux.rootfsPropagation: setting {flags:?} on the container's /"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn info(mount_point: &str, root: &str, fs_type: &str) -> MountInfo {
        MountInfo {
            root: PathBuf::from(root),
            mount_point: PathBuf::from(mount_point),
            optional: String::new(),
            fs_type: fs_type.to_string(),
            super_options: String::new(),
        }
    }

    #[test]
    fn only_full_proc_and_sysfs_outside_the_rootfs_are_detached() {
        let mounts = [
            info("/", "/", "ext4"),
            info("/proc", "/", "proc"),
            info("/sys", "/", "sysfs"),
            info("/srv/proc-sys", "/sys", "proc"),
            info("/bundle/rootfs/proc", "/", "proc"),
            info("/run", "/", "tmpfs"),
        ];
        let found = full_proc_and_sys_outside(&mounts, Path::new("/bundle/rootfs"));
        assert_eq!(found, [Path::new("/proc"), Path::new("/sys")]);
    }

    #[test]
    fn unbindable_root_waits_until_the_rootfs_is_bound() {
        let unbindable = Some(MsFlags::MS_UNBINDABLE);
        assert_eq!(
            setup_propagation(unbindable),
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        );
        assert_eq!(final_propagation(unbindable), unbindable);
    }

    #[test]
    fn shared_root_is_applied_again_after_the_pivot() {
        let shared = Some(MsFlags::MS_SHARED | MsFlags::MS_REC);
        assert_eq!(
            setup_propagation(shared),
            MsFlags::MS_SHARED | MsFlags::MS_REC
        );
        assert_eq!(final_propagation(shared), shared);
    }

    #[test]
    fn slave_and_private_are_done_during_setup() {
        for flags in [MsFlags::MS_SLAVE | MsFlags::MS_REC, MsFlags::MS_PRIVATE] {
            assert_eq!(setup_propagation(Some(flags)), flags);
            assert_eq!(final_propagation(Some(flags)), None);
        }
        assert_eq!(setup_propagation(None), MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(final_propagation(None), None);
    }

    #[test]
    fn no_mount_namespace_means_chroot_even_with_no_pivot() {
        assert_eq!(Jail::choose(false, true), Jail::Chroot);
        assert_eq!(Jail::choose(true, true), Jail::MoveRoot);
        assert_eq!(Jail::choose(true, false), Jail::PivotRoot);
    }
}
