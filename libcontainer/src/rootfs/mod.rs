//! The container's root filesystem, built inside its new mount namespace
//! (or, without one, in the caller's, as runc does): propagation, the rootfs
//! bind, each mount of config.json (targets resolved inside the rootfs),
//! /dev, the console, pivot_root, then masked and read-only paths, a
//! read-only root and the propagation of the new `/`.

pub mod bind_source;
pub mod cgroup;
mod copyup;
pub mod devices;
mod error;
pub mod jail;
pub mod mountinfo;
pub mod options;
pub mod path;
#[cfg(test)]
mod tests;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{fstat, SFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use oci_spec::runtime::{Mount, Spec};

use crate::error::{Error, IoContext, Result, SysContext};
use crate::kernel::Kernel;
use crate::sys;
pub use error::RootfsError;
use options::MountOptions;
use path::{ensure_in_root, fd_path, open_in_root, Kind};

/// Propagation of `linux.rootfsPropagation`; None if the value is unknown.
pub fn propagation_flags(value: &str) -> Option<MsFlags> {
    options::propagation(value)
}

/// What the init knows about its situation when building the rootfs.
pub struct Context<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    /// mknod and some mounts are not allowed in a user namespace.
    pub in_user_ns: bool,
    /// Host paths to bind for a `cgroup` mount, computed before the cgroup
    /// namespace was unshared.
    pub cgroup_sources: &'a [cgroup::Source],
    /// Bind sources the runtime took for a user namespace.
    pub bind_sources: &'a bind_source::BindSources,
    /// Where every mount goes (see [`crate::kernel`]).
    pub kernel: &'a dyn Kernel,
}

fn mount_at(
    kernel: &dyn Kernel,
    source: Option<&Path>,
    target: BorrowedFd<'_>,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    kernel.mount(source, &fd_path(target), fstype, flags, data)
}

/// Step 1, in the container's own mount namespace only: cut it off from the
/// host's (so nothing we mount propagates there), unless `shared` was asked.
pub fn prepare(kernel: &dyn Kernel, spec: &Spec) -> Result<()> {
    let propagation = jail::setup_propagation(jail::requested_propagation(spec));
    kernel
        .mount(None, Path::new("/"), None, propagation, None)
        .ctx(|| "setting propagation of / in the container's mount namespace".to_string())
}

pub fn bind_rootfs(kernel: &dyn Kernel, rootfs: &Path) -> Result<OwnedFd> {
    // pivot_root refuses a new root whose parent mount is shared.
    make_parent_mount_private(kernel, rootfs)?;
    kernel
        .mount(
            Some(rootfs),
            rootfs,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .ctx(|| format!("bind-mounting rootfs {}", rootfs.display()))?;
    nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("opening rootfs {}", rootfs.display()))
}

fn make_parent_mount_private(kernel: &dyn Kernel, rootfs: &Path) -> Result<()> {
    let mounts = mountinfo::read().io_ctx(|| "reading /proc/self/mountinfo".to_string())?;
    let parent = mounts
        .iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len());
    if let Some(parent) = parent.filter(|m| m.optional.contains("shared:")) {
        kernel
            .mount(None, &parent.mount_point, None, MsFlags::MS_PRIVATE, None)
            .ctx(|| format!("making {} private", parent.mount_point.display()))?;
    }
    Ok(())
}

/// Step 2: every mount of config.json, in order.
pub fn mount_all(root: BorrowedFd<'_>, ctx: &Context<'_>) -> Result<()> {
    for (index, entry) in ctx
        .spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        mount_entry(root, ctx, index, entry).map_err(|e| RootfsError::Mount {
            index,
            destination: entry.destination().clone(),
            cause: Box::new(e),
        })?;
    }
    Ok(())
}

fn is_bind(entry: &Mount, opts: &MountOptions) -> bool {
    opts.is_bind() || entry.typ().as_deref() == Some("bind")
}

fn source_path(ctx: &Context<'_>, entry: &Mount) -> Option<PathBuf> {
    entry.source().as_ref().map(|s| ctx.bundle.join(s))
}

fn mount_entry(root: BorrowedFd<'_>, ctx: &Context<'_>, index: usize, entry: &Mount) -> Result<()> {
    let opts = options::parse(entry.options().as_deref().unwrap_or_default());
    let dest = entry.destination();
    let typ = entry.typ().as_deref().unwrap_or_default();

    if is_bind(entry, &opts) {
        mount_bind(root, ctx, index, entry, &opts)?;
    } else if typ == "cgroup" || typ == "cgroup2" {
        cgroup::mount_hierarchies(ctx.kernel, root, dest, &opts, ctx.cgroup_sources)?;
    } else {
        mount_filesystem(root, ctx, entry, typ, &opts)?;
    }
    // Read-only and the recursive attributes of a /dev filesystem wait for
    // finalize: its devices and links are made first (as in runc).
    let dev_filesystem = is_dev(entry) && !is_bind(entry, &opts);
    let recursive_now = !dev_filesystem && !opts.recursive.is_empty();
    if opts.propagation.is_empty() && !recursive_now {
        return Ok(());
    }
    let mounted =
        open_in_root(root, dest, OFlag::O_PATH).ctx(|| "reopening the mount target".to_string())?;
    apply_propagation(ctx.kernel, mounted.as_fd(), &opts)?;
    if recursive_now {
        apply_recursive(mounted.as_fd(), &opts)?;
    }
    Ok(())
}

fn is_dev(entry: &Mount) -> bool {
    entry.destination() == Path::new("/dev")
}

fn mount_bind(
    root: BorrowedFd<'_>,
    ctx: &Context<'_>,
    index: usize,
    entry: &Mount,
    opts: &MountOptions,
) -> Result<()> {
    let dest = entry.destination();
    let kernel = ctx.kernel;
    if let Some(detached) = ctx.bind_sources.get(index) {
        let stat = fstat(detached).ctx(|| "stat of the bind source".to_string())?;
        let kind = if stat.st_mode & libc::S_IFMT == libc::S_IFDIR {
            Kind::Dir
        } else {
            Kind::File
        };
        let target = ensure_in_root(root, dest, kind)?;
        sys::move_mount_onto(detached, target.as_fd())
            .ctx(|| "attaching the bind source the runtime opened".to_string())?;
        let mounted = open_in_root(root, dest, OFlag::O_PATH)
            .ctx(|| "reopening the mount target".to_string())?;
        return remount_bind(ctx.kernel, mounted.as_fd(), opts);
    }
    let source = source_path(ctx, entry)
        .ok_or_else(|| Error::field(format!("mounts[{index}].source"), "missing"))?;
    let kind = match std::fs::metadata(&source) {
        Ok(meta) if meta.is_dir() => Kind::Dir,
        Ok(_) => Kind::File,
        Err(e) => {
            return Err(Error::field(
                format!("mounts[{index}].source"),
                format!("{}: {e}", source.display()),
            ))
        }
    };
    let target = ensure_in_root(root, dest, kind)?;
    mount_at(
        kernel,
        Some(&source),
        target.as_fd(),
        None,
        MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC),
        None,
    )
    .ctx(|| format!("bind-mounting {}", source.display()))?;
    let mounted =
        open_in_root(root, dest, OFlag::O_PATH).ctx(|| "reopening the mount target".to_string())?;
    remount_bind(ctx.kernel, mounted.as_fd(), opts)
}

/// A filesystem of its own (tmpfs, proc, ...). A tmpfs is mounted writable
/// and made read-only once its content is in place (`tmpcopyup`), as runc
/// does.
fn mount_filesystem(
    root: BorrowedFd<'_>,
    ctx: &Context<'_>,
    entry: &Mount,
    typ: &str,
    opts: &MountOptions,
) -> Result<()> {
    let dest = entry.destination();
    let kernel = ctx.kernel;
    if typ == "proc" || typ == "sysfs" {
        refuse_unless_plain_dir(root, dest, typ)?;
    }
    let target = ensure_in_root(root, dest, Kind::Dir)?;
    let copy_from = if typ == "tmpfs" && opts.copy_up {
        // Opened before the tmpfs covers it: the fd still reaches the
        // image's directory afterwards.
        Some(
            open_in_root(root, dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .ctx(|| format!("tmpcopyup: opening {}", dest.display()))?,
        )
    } else {
        None
    };
    let write_first = typ == "tmpfs" || is_dev(entry);
    let source = entry.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let data = opts.data_string();
    let mut flags = opts.flags & !MsFlags::MS_REMOUNT;
    if write_first {
        flags.remove(MsFlags::MS_RDONLY);
    }
    match mount_at(
        kernel,
        Some(&source),
        target.as_fd(),
        Some(typ),
        flags,
        data.as_deref(),
    ) {
        Ok(()) => {}
        // Without a network (or IPC) namespace of our own user namespace the
        // kernel refuses a new sysfs (mqueue): show the host's instead.
        Err(Errno::EPERM) if ctx.in_user_ns && (typ == "sysfs" || typ == "mqueue") => {
            let host = if typ == "sysfs" {
                "/sys"
            } else {
                "/dev/mqueue"
            };
            mount_at(
                kernel,
                Some(Path::new(host)),
                target.as_fd(),
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .ctx(|| format!("bind-mounting host {host}"))?;
            let mounted = open_in_root(root, dest, OFlag::O_PATH)
                .ctx(|| "reopening the mount target".to_string())?;
            return remount_bind(ctx.kernel, mounted.as_fd(), opts);
        }
        Err(e) => {
            return Err(Error::sys(
                format!("mounting {typ} from {}", source.display()),
                e,
            ))
        }
    }
    if let Some(from) = copy_from {
        let onto = open_in_root(root, dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .ctx(|| "tmpcopyup: opening the new tmpfs".to_string())?;
        copyup::copy_tree(from.as_fd(), onto.as_fd()).map_err(RootfsError::CopyUp)?;
    }
    if write_first && !is_dev(entry) && opts.flags.contains(MsFlags::MS_RDONLY) {
        let mounted = open_in_root(root, dest, OFlag::O_PATH)
            .ctx(|| "reopening the mount target".to_string())?;
        remount_readonly(ctx.kernel, mounted.as_fd(), opts)?;
    }
    Ok(())
}

/// A filesystem mounted writable for set-up, made read-only with the
/// per-mount flags it was given (MS_BIND: the superblock is left alone).
fn remount_readonly(
    kernel: &dyn Kernel,
    target: BorrowedFd<'_>,
    opts: &MountOptions,
) -> Result<()> {
    let per_mount = opts.flags
        & (MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC
            | MsFlags::MS_NOATIME
            | MsFlags::MS_NODIRATIME
            | MsFlags::MS_RELATIME
            | MsFlags::MS_STRICTATIME);
    mount_at(
        kernel,
        None,
        target,
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | per_mount,
        None,
    )
    .ctx(|| "remounting read-only".to_string())
}

/// `rro`, `rnosuid`, ...: one mount_setattr(AT_RECURSIVE) for the mount and
/// everything below it, never passed to the filesystem as data.
fn apply_recursive(target: BorrowedFd<'_>, opts: &MountOptions) -> Result<()> {
    if opts.recursive.is_empty() {
        return Ok(());
    }
    let attr = sys::MountAttr {
        attr_set: opts.recursive.set,
        attr_clr: opts.recursive.clear,
        ..sys::MountAttr::default()
    };
    sys::mount_setattr(target, true, &attr).ctx(|| {
        format!(
            "setting recursive mount attributes (set {:#x}, clear {:#x}; mount_setattr needs Linux 5.12)",
            attr.attr_set, attr.attr_clr
        )
    })
}

/// proc and sysfs go only onto a directory of the image itself, never through a
/// symlink: a `/proc` that links to `/` would otherwise cover the container's whole
/// root and fail later with a misleading error (and it has been the first step of
/// attacks on runtimes that resolved it on the host). A missing destination is fine:
/// it is created as a directory.
fn refuse_unless_plain_dir(root: BorrowedFd<'_>, dest: &Path, typ: &str) -> Result<()> {
    let found = match open_in_root(root, dest, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => fstat(fd.as_fd()).map_err(|e| {
            Error::sys(
                format!("inspecting {} inside the rootfs", dest.display()),
                e,
            )
        })?,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(Error::sys(
                format!("resolving {} inside the rootfs", dest.display()),
                e,
            ))
        }
    };
    let what = match SFlag::from_bits_truncate(found.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => return Ok(()),
        SFlag::S_IFLNK => "a symlink",
        _ => "not a directory",
    };
    // mount_all names the entry (index and destination) around this.
    Err(RootfsError::NotADirectory {
        found: what,
        fs_type: typ.to_string(),
    }
    .into())
}

/// The flags a bind mount inherits from its source and that an unprivileged
/// remount may not drop (they are locked in a user namespace).
fn inherited_flags(target: BorrowedFd<'_>) -> Result<MsFlags> {
    let stat = fstatvfs(target).ctx(|| "statvfs of the mount".to_string())?;
    let pairs = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    Ok(pairs
        .iter()
        .filter(|(st, _)| stat.flags().contains(*st))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
}

/// A bind mount ignores every flag but MS_REC; the others take a remount.
fn remount_bind(kernel: &dyn Kernel, target: BorrowedFd<'_>, opts: &MountOptions) -> Result<()> {
    let wanted = opts.flags
        & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT | MsFlags::MS_SILENT);
    if wanted.is_empty() {
        return Ok(());
    }
    let keep = inherited_flags(target)? & !opts.cleared;
    mount_at(
        kernel,
        None,
        target,
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | wanted | keep,
        None,
    )
    .ctx(|| format!("remounting bind mount with {wanted:?}"))
}

fn apply_propagation(
    kernel: &dyn Kernel,
    target: BorrowedFd<'_>,
    opts: &MountOptions,
) -> Result<()> {
    for flags in &opts.propagation {
        mount_at(kernel, None, target, None, *flags, None)
            .ctx(|| format!("setting propagation {flags:?}"))?;
    }
    Ok(())
}

/// Step 3: /dev. Skipped when /dev is bound from the host, as in runc.
pub fn setup_dev(root: BorrowedFd<'_>, ctx: &Context<'_>) -> Result<()> {
    let dev_is_bind = ctx
        .spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|m| {
            m.destination() == Path::new("/dev")
                && is_bind(
                    m,
                    &options::parse(m.options().as_deref().unwrap_or_default()),
                )
        });
    if dev_is_bind {
        return Ok(());
    }
    let mut nodes = devices::default_devices();
    let spec_devices = ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default();
    for (index, device) in spec_devices.iter().enumerate() {
        let node = devices::from_spec(index, device)?;
        nodes.retain(|n| n.path != node.path);
        nodes.push(node);
    }
    for node in &nodes {
        devices::create(ctx.kernel, root, node, ctx.in_user_ns)?;
    }
    devices::create_links(root)
}

/// The container's /dev/null, opened before pivot and checked to be the
/// null device (1:3): masking binds this fd, never the path `/dev/null`,
/// which a volume, a mount or a racing process may have swapped for
/// another file by then (CVE-2025-31133 class). The fd pins the checked
/// inode; it lives in the rootfs mount tree, so it can be bound after pivot.
pub fn open_null(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let null = open_in_root(
        root,
        Path::new("/dev/null"),
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
    )
    .ctx(|| "maskedPaths: opening /dev/null in the container".to_string())?;
    let stat = nix::sys::stat::fstat(null.as_fd()).ctx(|| "stat of /dev/null".to_string())?;
    let is_null = stat.st_mode & libc::S_IFMT == libc::S_IFCHR
        && stat.st_rdev == nix::sys::stat::makedev(1, 3);
    if !is_null {
        return Err(RootfsError::NullIsNotNull.into());
    }
    Ok(null)
}

/// Step 5, after pivot: masked paths, read-only paths, read-only root.
/// ([`jail::apply_root_propagation`] comes last.)
/// `null` is [`open_null`], needed when there are masked paths.
pub fn finalize(kernel: &dyn Kernel, spec: &Spec, null: Option<BorrowedFd<'_>>) -> Result<()> {
    let linux = spec.linux().as_ref();
    let root = open_in_root_dir()?;
    finish_dev(kernel, spec, root.as_fd())?;
    for path in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or_default()
    {
        make_readonly(kernel, root.as_fd(), Path::new(path))?;
    }
    for path in linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default()
    {
        let null = null.ok_or(RootfsError::NoNull)?;
        mask(kernel, root.as_fd(), Path::new(path), null)?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let keep = inherited_flags(root.as_fd())?;
        kernel
            .mount(
                None,
                Path::new("/"),
                None,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | keep,
                None,
            )
            .ctx(|| "remounting / read-only (root.readonly)".to_string())?;
    }
    Ok(())
}

/// The read-only flag and recursive attributes of a `/dev` filesystem, held
/// back while its devices, links and console were made.
fn finish_dev(kernel: &dyn Kernel, spec: &Spec, root: BorrowedFd<'_>) -> Result<()> {
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    let Some((index, entry)) = mounts.iter().enumerate().rev().find(|(_, m)| is_dev(m)) else {
        return Ok(());
    };
    let opts = options::parse(entry.options().as_deref().unwrap_or_default());
    if is_bind(entry, &opts) {
        return Ok(());
    }
    let named = |e: Error| RootfsError::Mount {
        index,
        destination: PathBuf::from("/dev"),
        cause: Box::new(e),
    };
    let dev = open_in_root(root, Path::new("/dev"), OFlag::O_PATH)
        .ctx(|| "reopening /dev".to_string())
        .map_err(named)?;
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        remount_readonly(kernel, dev.as_fd(), &opts).map_err(named)?;
    }
    Ok(apply_recursive(dev.as_fd(), &opts).map_err(named)?)
}

fn open_in_root_dir() -> Result<OwnedFd> {
    nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| "opening /".to_string())
}

fn make_readonly(kernel: &dyn Kernel, root: BorrowedFd<'_>, path: &Path) -> Result<()> {
    let target = match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(Error::sys(
                format!("readonlyPaths: opening {}", path.display()),
                e,
            ))
        }
    };
    mount_at(
        kernel,
        Some(&fd_path(target.as_fd())),
        target.as_fd(),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .ctx(|| format!("readonlyPaths: binding {}", path.display()))?;
    let mounted = open_in_root(root, path, OFlag::O_PATH)
        .ctx(|| format!("readonlyPaths: reopening {}", path.display()))?;
    let keep = inherited_flags(mounted.as_fd())?;
    mount_at(
        kernel,
        None,
        mounted.as_fd(),
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_REC | keep,
        None,
    )
    .ctx(|| format!("readonlyPaths: remounting {} read-only", path.display()))
}

fn mask(
    kernel: &dyn Kernel,
    root: BorrowedFd<'_>,
    path: &Path,
    null: BorrowedFd<'_>,
) -> Result<()> {
    let target = match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(Error::sys(
                format!("maskedPaths: opening {}", path.display()),
                e,
            ))
        }
    };
    let is_dir = nix::sys::stat::fstat(target.as_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .ctx(|| format!("maskedPaths: stat {}", path.display()))?;
    let result = if is_dir {
        mount_at(
            kernel,
            Some(Path::new("tmpfs")),
            target.as_fd(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        )
    } else {
        mount_at(
            kernel,
            Some(&fd_path(null)),
            target.as_fd(),
            None,
            MsFlags::MS_BIND,
            None,
        )
    };
    result.ctx(|| format!("maskedPaths: masking {}", path.display()))
}
