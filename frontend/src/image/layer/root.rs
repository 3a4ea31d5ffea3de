//! The layer root as a directory fd, and every path inside it resolved by the kernel with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: `..`, absolute symlinks and symlinks
//! that climb are all held inside the root, as they will be inside the container. Nothing
//! below ever joins a layer's name onto a host path.
//!
//! The last component of an entry is then created or changed with an `*at` call relative
//! to its resolved parent, never followed (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, `O_EXCL`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::path::InRoot;

/// How often a resolution is retried when the kernel reports a concurrent rename
/// (`EAGAIN` from `RESOLVE_IN_ROOT`); nothing else writes in a layer being unpacked.
const RESOLVE_RETRIES: usize = 16;
const ENOENT: i32 = Errno::ENOENT as i32;

pub(super) struct Root {
    fd: OwnedFd,
}

impl Root {
    pub(super) fn open(dest: &Path) -> io::Result<Root> {
        // The caller's path, trusted: only names from the layer are resolved in the root.
        let fd = nix::fcntl::open(
            dest,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd })
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `components` inside the root with `flags`.
    // Resolved in the layer root: a symlink planted by an earlier entry (`etc -> /etc`)
    // must not send a later write onto the host (CVE-2018-15664 / umoci CVE-2021-29136
    // class); `RESOLVE_NO_MAGICLINKS` keeps /proc-style links from jumping out too.
    pub(super) fn resolve(&self, components: &[Vec<u8>], flags: OFlag) -> io::Result<OwnedFd> {
        let path = InRoot::joined(components);
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let mut tries = 0;
        loop {
            match openat2(self.fd.as_fd(), path.as_slice(), how) {
                Err(Errno::EAGAIN) if tries < RESOLVE_RETRIES => tries += 1,
                result => return result.map_err(io::Error::from),
            }
        }
    }

    /// The directory `components` as an `O_PATH` fd, its missing ancestors made as
    /// root-owned 0755 directories (a layer may list `a/b/c` without `a/` and `a/b/`).
    pub(super) fn dir(&self, components: &[Vec<u8>]) -> io::Result<OwnedFd> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        match self.resolve(components, flags) {
            Err(e) if e.raw_os_error() == Some(ENOENT) => {}
            result => return result,
        }
        let mut dir = self.resolve(&[], flags)?;
        for depth in 1..=components.len() {
            let prefix = &components[..depth];
            match self.resolve(prefix, flags) {
                Ok(fd) => dir = fd,
                Err(e) if e.raw_os_error() == Some(ENOENT) => {
                    // `dir` is the resolved parent of this component: the new directory
                    // is made in it, and the lookup that follows is again in-root.
                    match mkdirat(
                        &dir,
                        prefix[depth - 1].as_slice(),
                        Mode::from_bits_truncate(0o755),
                    ) {
                        // It exists but did not resolve: a symlink to nowhere.
                        Err(Errno::EEXIST) => return Err(io::Error::from(Errno::ENOENT)),
                        other => other?,
                    }
                    dir = self.resolve(prefix, flags)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(dir)
    }
}

/// What is at `name` in `dir`, not followed.
pub(super) fn lstat_at(dir: impl AsFd, name: &[u8]) -> io::Result<Option<FileStat>> {
    match fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn is_dir(stat: &FileStat) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// Removes `name` from `dir`, a directory with all it holds (a later tar entry of another
/// kind replaces it, as in Docker).
pub(super) fn remove_at(dir: BorrowedFd<'_>, name: &[u8], stat: &FileStat) -> io::Result<()> {
    if is_dir(stat) {
        remove_tree_at(dir, name)
    } else {
        unlinkat(dir, name, UnlinkatFlags::NoRemoveDir).map_err(io::Error::from)
    }
}

/// Empties and removes the directory `name` of `dir`, without following any symlink in it
/// and holding two fds at any time, however deep the tree (a hostile layer may nest
/// thousands of levels; one fd per level could run out of descriptors).
fn remove_tree_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let open_dir = |at: BorrowedFd<'_>, name: &[u8]| {
        openat(
            at,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    };
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut current = open_dir(dir, name)?;
    loop {
        // Everything but directories goes now; the first directory is entered.
        let mut subdir = None;
        // A new open of `.`, not a dup: a dup would share the offset of the last listing.
        let mut listing = Dir::from_fd(open_dir(current.as_fd(), b".")?)?;
        for entry in listing.iter() {
            let entry = entry?;
            let child = entry.file_name().to_bytes();
            if child == b"." || child == b".." {
                continue;
            }
            let child_is_dir = match entry.file_type() {
                Some(kind) => kind == Type::Directory,
                None => lstat_at(&current, child)?.as_ref().is_some_and(is_dir),
            };
            if child_is_dir {
                subdir = Some(child.to_vec());
                break;
            }
            unlinkat(&current, child, UnlinkatFlags::NoRemoveDir)?;
        }
        drop(listing);
        if let Some(child) = subdir {
            current = open_dir(current.as_fd(), &child)?;
            names.push(child);
            continue;
        }
        let Some(emptied) = names.pop() else { break };
        // Back up one level: the tree is the layer's own, made by this unpack, so `..` of
        // an entered directory is the one we came from.
        current = open_dir(current.as_fd(), b"..")?;
        unlinkat(&current, emptied.as_slice(), UnlinkatFlags::RemoveDir)?;
    }
    drop(current);
    unlinkat(dir, name, UnlinkatFlags::RemoveDir).map_err(io::Error::from)
}
