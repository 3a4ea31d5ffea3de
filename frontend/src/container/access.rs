//! A container's files for the commands that read or write them (`diff`, `export`,
//! `cp`, `commit`), running or stopped: the rootfs is mounted for the command when the
//! container's cleanup has unmounted it, and the container's lock is held throughout, so
//! a `start` or a cleanup never mounts or unmounts under the command.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};

use super::lifecycle::{is_mounted, Container, ContainerError, Containers};
use super::tree::TreeError;
use crate::image::rootfs::{unmount_rootfs, RootfsError};
use crate::store::layers::dir_name;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("container {container}: {source}")]
    Tree {
        container: String,
        source: TreeError,
    },
    #[error("Could not find the file {path} in container {container}")]
    NoSuchPath { container: String, path: String },
    #[error("container rootfs is marked read-only")]
    ReadOnly,
    #[error("{path}: {problem}")]
    Copy { path: String, problem: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl FilesError {
    pub fn tree(container: &Container) -> impl FnOnce(TreeError) -> FilesError + '_ {
        move |source| FilesError::Tree {
            container: container.row.name.clone(),
            source,
        }
    }
}

impl Containers {
    /// Runs `action` on the container's mounted rootfs (`merged/`), mounting it for the
    /// time of the action if it is not mounted, all under the container's lock.
    pub fn with_rootfs<T>(
        &self,
        container: &Container,
        action: impl FnOnce(&Path) -> Result<T, FilesError>,
    ) -> Result<T, FilesError> {
        let _lock = self.lock(&container.row.id)?;
        let paths = &container.paths;
        let mounted_here = !is_mounted(&paths.rootfs(), &paths.dir);
        if mounted_here {
            self.mount_rootfs_of(container)?;
        }
        let result = action(&paths.rootfs());
        if mounted_here {
            unmount_rootfs(&paths.dir)?;
        }
        result
    }

    /// Runs `action` under the container's lock (the upper dir stays as it is).
    pub fn locked<T>(
        &self,
        container: &Container,
        action: impl FnOnce() -> Result<T, FilesError>,
    ) -> Result<T, FilesError> {
        let _lock = self.lock(&container.row.id)?;
        action()
    }

    /// The directories of the container's image layers, topmost first.
    pub fn layer_dirs(&self, container: &Container) -> Result<Vec<PathBuf>, FilesError> {
        let layers = self.store.image_layers(&container.row.image_id)?;
        let base = self.store.layers_dir();
        Ok(layers
            .iter()
            .rev()
            .map(|l| base.join(dir_name(l.layer.id)))
            .collect())
    }
}

/// Opens `path` inside the tree at `root` as the container sees it: `..` and every
/// symlink, absolute or not, resolved by the kernel inside `root` (RESOLVE_IN_ROOT).
// A symlink the container made (`/tmp/evil -> /etc`) must not send berth to the host's
// /etc (CVE-2018-15664 / CVE-2019-14271 class); magic links (/proc/self/root) neither.
pub fn resolve_in_root(
    root: &OwnedFd,
    path: &[u8],
    follow_last: bool,
    flags: OFlag,
) -> nix::Result<OwnedFd> {
    let mut flags = flags | OFlag::O_CLOEXEC;
    if !follow_last {
        flags |= OFlag::O_NOFOLLOW;
    }
    let trimmed: &[u8] = {
        let t = path.trim_ascii_start();
        let t = t.strip_prefix(b"/").unwrap_or(t);
        if t.iter().all(|&b| b == b'/') {
            b"."
        } else {
            t
        }
    };
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut tries = 0;
    loop {
        match nix::fcntl::openat2(root, trimmed, how) {
            // A rename raced the lookup: the kernel asks for a retry.
            Err(nix::Error::EAGAIN) if tries < 16 => tries += 1,
            result => return result,
        }
    }
}

/// A trusted host directory, as an fd to resolve container paths under.
pub fn open_root(path: &Path) -> Result<OwnedFd, FilesError> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| FilesError::Io {
        path: path.display().to_string(),
        source: e.into(),
    })
}
