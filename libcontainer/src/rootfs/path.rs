//! Paths inside the container's rootfs, resolved by the kernel as if the
//! rootfs were `/` (openat2 RESOLVE_IN_ROOT): a symlink in the image, even
//! `../../..` or `/etc`, can never lead outside it. Mounts then go onto the
//! resolved fd (`/proc/self/fd/N`), never onto a path joined as a string.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// The path through which a mount(2) call reaches the file behind `fd`.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `path` as components relative to the root, without `.` and leading `/`.
fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| {
            !matches!(
                c,
                Component::RootDir | Component::CurDir | Component::Prefix(_)
            )
        })
        .collect()
}

/// Opens `path` beneath `root` with `flags`, symlinks resolved inside root.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let rel = relative(path);
    let rel = if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    loop {
        // EAGAIN: a concurrent rename inside root; the kernel asks to retry.
        match openat2(root, &rel, how) {
            Err(Errno::EAGAIN) => continue,
            other => return other,
        }
    }
}

/// Opens `path` beneath `root` as O_PATH, creating what is missing: the
/// parents as directories and the last component as `kind`. Every creation
/// happens relative to an fd of an already-resolved parent.
pub fn ensure_in_root(root: BorrowedFd<'_>, path: &Path, kind: Kind) -> Result<OwnedFd> {
    ensure_bounded(root, path, kind, 0)
}

/// How many dangling symlinks one path may lead through, like the kernel's
/// own limit on nested links.
const MAX_LINK_DEPTH: usize = 40;

fn ensure_bounded(root: BorrowedFd<'_>, path: &Path, kind: Kind, depth: usize) -> Result<OwnedFd> {
    let rel = relative(path);
    let parts: Vec<Component> = rel.components().collect();
    let fail = |errno: Errno, what: &str, at: &Path| {
        Error::sys(
            format!(
                "{what} {} inside the rootfs",
                Path::new("/").join(at).display()
            ),
            errno,
        )
    };
    if parts.is_empty() {
        return open_in_root(root, Path::new("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(|e| fail(e, "opening", Path::new("")));
    }
    let mut prefix = PathBuf::new();
    let mut parent = open_in_root(root, Path::new("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(|e| fail(e, "opening", Path::new("")))?;
    for (i, part) in parts.iter().enumerate() {
        prefix.push(part);
        let last = i + 1 == parts.len();
        let want = if last { kind } else { Kind::Dir };
        match open_in_root(root, &prefix, OFlag::O_PATH) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(fail(e, "resolving", &prefix)),
        }
        let Component::Normal(name) = part else {
            return Err(fail(Errno::ENOENT, "resolving", &prefix));
        };
        let created = match want {
            Kind::Dir => mkdirat(parent.as_fd(), *name, Mode::from_bits_truncate(0o755)),
            Kind::File => openat(
                parent.as_fd(),
                *name,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map(drop),
        };
        match created {
            Ok(()) => {}
            // A dangling symlink: create what it points at, read as a path
            // inside root, then resolve through it.
            Err(Errno::EEXIST) => {
                if depth >= MAX_LINK_DEPTH {
                    return Err(fail(Errno::ELOOP, "resolving", &prefix));
                }
                let target = nix::fcntl::readlinkat(parent.as_fd(), *name)
                    .map_err(|e| fail(e, "reading link", &prefix))?;
                let target = Path::new(&target);
                let target_in_root = if target.is_absolute() {
                    target.to_path_buf()
                } else {
                    prefix.parent().unwrap_or(Path::new("")).join(target)
                };
                ensure_bounded(root, &target_in_root, want, depth + 1)?;
            }
            Err(e) => return Err(fail(e, "creating", &prefix)),
        }
        parent = open_in_root(root, &prefix, OFlag::O_PATH)
            .map_err(|e| fail(e, "resolving", &prefix))?;
    }
    Ok(parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn temp_root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-path-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root")).unwrap();
        dir
    }

    #[test]
    fn symlink_to_host_path_resolves_inside_root() {
        let dir = temp_root("escape");
        let outside = dir.join("outside");
        std::fs::create_dir(&outside).unwrap();
        symlink(&outside, dir.join("root/evil")).unwrap();
        symlink("../../../..", dir.join("root/up")).unwrap();
        let root: OwnedFd = std::fs::File::open(dir.join("root")).unwrap().into();
        ensure_in_root(root.as_fd(), Path::new("/evil/target"), Kind::Dir).unwrap();
        ensure_in_root(root.as_fd(), Path::new("/up/file"), Kind::File).unwrap();
        // The absolute symlink target was re-created under root, not used.
        assert!(dir
            .join("root")
            .join(outside.strip_prefix("/").unwrap())
            .join("target")
            .is_dir());
        assert!(!outside.join("target").exists());
        assert!(dir.join("root/file").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn existing_paths_open_without_creation() {
        let dir = temp_root("plain");
        std::fs::create_dir_all(dir.join("root/a/b")).unwrap();
        let root: OwnedFd = std::fs::File::open(dir.join("root")).unwrap().into();
        let fd = ensure_in_root(root.as_fd(), Path::new("/a/./b"), Kind::Dir).unwrap();
        let target = std::fs::read_link(fd_path(fd.as_fd())).unwrap();
        assert_eq!(target, dir.join("root/a/b"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
