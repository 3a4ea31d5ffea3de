//! /dev inside the container: the default devices every container gets, the
//! spec's `linux.devices`, and the standard links. Under a user namespace
//! mknod is not allowed, so the host's device node is bind-mounted onto an
//! empty file instead (what runc does too).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::path::{ensure_in_root, fd_path, Kind};
use crate::error::{Error, Result, SysContext};
use crate::kernel::Kernel;

/// A device node to create: path inside the container and its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

fn char_device(name: &str, major: u64, minor: u64) -> DeviceNode {
    DeviceNode {
        path: PathBuf::from("/dev").join(name),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    }
}

pub fn default_devices() -> Vec<DeviceNode> {
    vec![
        char_device("null", 1, 3),
        char_device("zero", 1, 5),
        char_device("full", 1, 7),
        char_device("random", 1, 8),
        char_device("urandom", 1, 9),
        char_device("tty", 5, 0),
    ]
}

pub fn from_spec(index: usize, device: &LinuxDevice) -> Result<DeviceNode> {
    let field = |name: &str| format!("linux.devices[{index}].{name}");
    let kind = match device.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::field(
                field("type"),
                "\"a\" is for cgroup rules; expected c, b, u or p",
            ))
        }
    };
    if !device.path().is_absolute() || !device.path().starts_with("/dev") {
        return Err(Error::field(
            field("path"),
            format!("{:?}: expected an absolute path under /dev", device.path()),
        ));
    }
    let number = |value: i64, name: &str| {
        u64::try_from(value).map_err(|_| Error::field(field(name), "must not be negative"))
    };
    Ok(DeviceNode {
        path: device.path().clone(),
        kind,
        major: number(device.major(), "major")?,
        minor: number(device.minor(), "minor")?,
        mode: device.file_mode().unwrap_or(0o666) & 0o7777,
        uid: device.uid().unwrap_or(0),
        gid: device.gid().unwrap_or(0),
    })
}

fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(super::RootfsError::DevicePath(path.to_path_buf()).into()),
    }
}

pub fn create(
    kernel: &dyn Kernel,
    root: BorrowedFd<'_>,
    node: &DeviceNode,
    bind_from_host: bool,
) -> Result<()> {
    let (parent_path, name) = split(&node.path)?;
    let parent = ensure_in_root(root, parent_path, Kind::Dir)?;
    let shown = node.path.display();
    if bind_from_host {
        let target = ensure_in_root(root, &node.path, Kind::File)?;
        return kernel
            .mount(
                Some(&node.path),
                &fd_path(target.as_fd()),
                None,
                MsFlags::MS_BIND,
                None,
            )
            .ctx(|| format!("bind-mounting host device {shown}"));
    }
    match unlinkat(parent.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys(format!("replacing {shown}"), e)),
    }
    // One component below the checked parent fd: nothing is followed.
    kernel
        .mknod(
            &fd_path(parent.as_fd()).join(name),
            node.kind,
            Mode::from_bits_truncate(node.mode),
            makedev(node.major, node.minor),
        )
        .ctx(|| format!("creating device {shown}"))?;
    fchownat(
        parent.as_fd(),
        name,
        Some(Uid::from_raw(node.uid)),
        Some(Gid::from_raw(node.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ctx(|| format!("chown of device {shown}"))
}

/// The links every /dev has; `/dev/ptmx` points at the container's own devpts.
pub fn create_links(root: BorrowedFd<'_>) -> Result<()> {
    let dev = ensure_in_root(root, Path::new("/dev"), Kind::Dir)?;
    let links = [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    for (target, name) in links {
        match symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("creating link /dev/{name}"), e)),
        }
    }
    if Path::new("/proc/kcore").exists() {
        match symlinkat("/proc/kcore", dev.as_fd(), "core") {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys("creating link /dev/core", e)),
        }
    }
    match unlinkat(dev.as_fd(), "ptmx", UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys("replacing /dev/ptmx", e)),
    }
    symlinkat("pts/ptmx", dev.as_fd(), "ptmx").ctx(|| "creating link /dev/ptmx".to_string())
}
