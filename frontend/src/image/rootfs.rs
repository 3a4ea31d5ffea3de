//! A container's copy-on-write root: an overlay mount with the image's layers as lower
//! dirs and a fresh upper and work dir of its own.
//!
//! mount(2) takes all of overlay's options in one page. Each lower dir is named as
//! `/proc/self/fd/<fd of layers/>/<base-36 id>` rather than by its full path: that is
//! at most ~22 bytes a layer whatever `--root` is, so 128 layers need ~2.8 KiB. Docker's
//! overlay2 gets the same effect with short symlinks and a chdir, which a process with
//! other threads (the API daemon) cannot do safely.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;

use crate::store::layers::{dir_name, remove_tree};
use crate::store::{Store, StoreError};

/// overlay's mount data must fit in one page, with its terminating NUL.
const MOUNT_DATA_MAX: usize = 4095;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image {image}: not in the store")]
    NoImage { image: String },
    #[error("image {image}: {layers} layers do not fit in one overlay mount ({bytes} bytes of options, at most {MOUNT_DATA_MAX})")]
    TooManyLayers {
        image: String,
        layers: usize,
        bytes: usize,
    },
    #[error("{path}: {what}: {errno}")]
    Sys {
        path: PathBuf,
        what: &'static str,
        errno: nix::Error,
    },
}

/// The directories of a mounted rootfs, all under the directory it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    pub merged: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
}

impl Rootfs {
    pub fn in_dir(dir: &Path) -> Rootfs {
        Rootfs {
            merged: dir.join("merged"),
            upper: dir.join("upper"),
            work: dir.join("work"),
        }
    }
}

fn sys_error<'p>(
    path: &'p Path,
    what: &'static str,
) -> impl FnOnce(nix::Error) -> RootfsError + 'p {
    move |errno| RootfsError::Sys {
        path: path.to_path_buf(),
        what,
        errno,
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd, RootfsError> {
    open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys_error(path, "open"))
}

/// The overlay options for lower dirs `layer_ids` (base first) under the open layers
/// dir, with upper and work under the open container dir.
fn overlay_options(layers_fd: i32, layer_ids: &[i64], dir_fd: i32, empty_lower: bool) -> String {
    let lower: Vec<String> = if empty_lower {
        vec![format!("/proc/self/fd/{dir_fd}/lower")]
    } else {
        // overlay stacks lower dirs top first, and refuses one dir twice (ELOOP). A
        // layer that comes again higher up holds all the lower copy holds, so only its
        // topmost place is kept.
        let mut seen = std::collections::HashSet::new();
        layer_ids
            .iter()
            .rev()
            .filter(|id| seen.insert(**id))
            .map(|id| format!("/proc/self/fd/{layers_fd}/{}", dir_name(*id)))
            .collect()
    };
    format!(
        "lowerdir={},upperdir=/proc/self/fd/{dir_fd}/upper,workdir=/proc/self/fd/{dir_fd}/work",
        lower.join(":")
    )
}

/// Mounts image `image_id`'s rootfs in `dir/merged`, with `dir/upper` and `dir/work`
/// made fresh (an upper dir left from before is kept: a stopped container's changes
/// live there). A `volatile` mount never syncs the upper dir, not even when it is
/// unmounted (which otherwise syncs the whole filesystem under it): for a container
/// that is removed when it exits (`--rm`), as podman mounts those, whose changes no
/// crash needs to find again.
pub fn mount_rootfs(
    store: &Store,
    image_id: &str,
    dir: &Path,
    volatile: bool,
) -> Result<Rootfs, RootfsError> {
    if store.image(image_id)?.is_none() {
        return Err(RootfsError::NoImage {
            image: image_id.to_string(),
        });
    }
    let layer_ids: Vec<i64> = store
        .image_layers(image_id)?
        .iter()
        .map(|l| l.layer.id)
        .collect();
    let rootfs = Rootfs::in_dir(dir);
    // An image without layers (`FROM scratch` with nothing added) still needs one
    // lower dir: an empty one.
    let empty_lower = layer_ids.is_empty();
    let mut dirs = vec![&rootfs.merged, &rootfs.upper, &rootfs.work];
    let lower = dir.join("lower");
    if empty_lower {
        dirs.push(&lower);
    }
    for path in dirs {
        fs::create_dir_all(path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
    }
    let layers_fd = open_dir(&store.layers_dir())?;
    let dir_fd = open_dir(dir)?;
    let options = overlay_options(
        layers_fd.as_raw_fd(),
        &layer_ids,
        dir_fd.as_raw_fd(),
        empty_lower,
    );
    if options.len() > MOUNT_DATA_MAX {
        return Err(RootfsError::TooManyLayers {
            image: image_id.to_string(),
            layers: layer_ids.len(),
            bytes: options.len(),
        });
    }
    let mount_overlay = |options: &str| {
        mount(
            Some("overlay"),
            &rootfs.merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(options),
        )
    };
    let mounted = if volatile {
        // Kernels before 5.10 do not know the option: without it, it only costs a sync.
        match mount_overlay(&format!("{options},volatile")) {
            Err(nix::Error::EINVAL) => mount_overlay(&options),
            other => other,
        }
    } else {
        mount_overlay(&options)
    };
    mounted.map_err(sys_error(&rootfs.merged, "mount overlay"))?;
    Ok(rootfs)
}

/// Unmounts the rootfs in `dir` (if mounted) and removes `dir` with its upper dir.
pub fn remove_rootfs(dir: &Path) -> Result<(), RootfsError> {
    unmount_rootfs(dir)?;
    remove_tree(dir)?;
    Ok(())
}

/// Unmounts the rootfs in `dir`, keeping its upper dir; not mounted is fine.
pub fn unmount_rootfs(dir: &Path) -> Result<(), RootfsError> {
    let merged = dir.join("merged");
    match umount2(&merged, MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) => {
            // A volatile mount leaves this mark for the next mount to refuse, in case
            // the host crashed meanwhile; this unmount was a clean one.
            match fs::remove_dir_all(dir.join("work").join("work").join("incompat")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io {
                    path: dir.join("work/work/incompat"),
                    source: e,
                }
                .into()),
                _ => Ok(()),
            }
        }
        Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => Ok(()),
        // Still in use by a process we do not own: let go of it anyway; the kernel
        // frees it once the last user is gone.
        Err(nix::Error::EBUSY) => {
            umount2(&merged, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW)
                .map_err(sys_error(&merged, "unmount"))
        }
        Err(errno) => Err(sys_error(&merged, "unmount")(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_dirs_are_listed_top_first_by_short_name() {
        let options = overlay_options(7, &[1, 2, 37], 9, false);
        assert_eq!(
            options,
            "lowerdir=/proc/self/fd/7/11:/proc/self/fd/7/2:/proc/self/fd/7/1,\
             upperdir=/proc/self/fd/9/upper,workdir=/proc/self/fd/9/work"
        );
    }

    #[test]
    fn a_repeated_layer_is_mounted_once_at_its_topmost_place() {
        let options = overlay_options(7, &[1, 2, 1], 9, false);
        assert!(options.starts_with("lowerdir=/proc/self/fd/7/1:/proc/self/fd/7/2,"));
    }

    #[test]
    fn a_128_layer_image_fits_in_one_mount() {
        let ids: Vec<i64> = (100_000..100_128).collect();
        let options = overlay_options(1023, &ids, 1024, false);
        assert!(options.len() <= MOUNT_DATA_MAX, "{}", options.len());
    }
}
