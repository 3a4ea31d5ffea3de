//! A tar unpacked into a directory of a container's rootfs, for `cp` into a container.
//!
//! The directory is held as an fd and every entry's parent is resolved under it with
//! `openat2(RESOLVE_IN_ROOT)`: neither a symlink already in the container nor one the tar
//! makes can send a write outside it (CVE-2018-15664 class). The last component is made
//! with `*at` calls on the resolved parent and never followed.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fstatat, makedev, mkdirat, mknodat, utimensat, Mode, SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use tar::EntryType;

use super::access::resolve_in_root;
use super::tree::{kind, Owner};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {op}: {source}")]
pub struct CopyInError {
    pub path: String,
    pub op: &'static str,
    #[source]
    pub source: io::Error,
}

fn fail(path: &[u8], op: &'static str) -> impl FnOnce(io::Error) -> CopyInError {
    let path = String::from_utf8_lossy(path).into_owned();
    move |source| CopyInError { path, op, source }
}

fn errno(path: &[u8], op: &'static str) -> impl FnOnce(Errno) -> CopyInError {
    let f = fail(path, op);
    move |e| f(e.into())
}

/// The components of a tar entry's name; `None` for a name that climbs (`..`).
fn components(name: &[u8]) -> Option<Vec<&[u8]>> {
    let mut parts = Vec::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            _ => parts.push(part),
        }
    }
    Some(parts)
}

/// Unpacks `tar` into the directory `dest` (an fd inside the container's rootfs).
pub fn unpack_into(dest: &OwnedFd, tar: impl Read, owner: Owner) -> Result<(), CopyInError> {
    let mut archive = tar::Archive::new(tar);
    let entries = archive.entries().map_err(fail(b"", "reading the tar"))?;
    for entry in entries {
        let mut entry = entry.map_err(fail(b"", "reading the tar"))?;
        let name = entry.path_bytes().into_owned();
        let parts = components(&name).ok_or_else(|| {
            fail(&name, "unpacking")(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the name climbs out of the destination",
            ))
        })?;
        let Some((last, dirs)) = parts.split_last() else {
            // The destination itself (`./`): nothing to make.
            continue;
        };
        let parent = parent_dir(dest, dirs).map_err(fail(&name, "resolving the parent"))?;
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let (uid, gid) = match owner {
            Owner::Keep => (
                header.uid().unwrap_or(0) as u32,
                header.gid().unwrap_or(0) as u32,
            ),
            Owner::Set(uid, gid) => (uid, gid),
        };
        let mtime = header.mtime().unwrap_or(0) as i64;
        let kind_of_entry = header.entry_type();
        let existing = fstatat(&parent, *last, AtFlags::AT_SYMLINK_NOFOLLOW).ok();
        let existing_is_dir = existing.is_some_and(|s| kind(&s) == SFlag::S_IFDIR);
        if kind_of_entry != EntryType::Directory {
            if existing_is_dir {
                return Err(fail(&name, "unpacking")(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "cannot overwrite a directory with a non-directory",
                )));
            }
            if existing.is_some() {
                unlinkat(&parent, *last, UnlinkatFlags::NoRemoveDir)
                    .map_err(errno(&name, "replacing"))?;
            }
        }
        let perm = Mode::from_bits_truncate(mode);
        match kind_of_entry {
            EntryType::Directory => {
                if existing.is_some() && !existing_is_dir {
                    unlinkat(&parent, *last, UnlinkatFlags::NoRemoveDir)
                        .map_err(errno(&name, "replacing"))?;
                }
                match mkdirat(&parent, *last, perm) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(errno(&name, "mkdir")(e)),
                }
                let dir = openat(
                    &parent,
                    *last,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno(&name, "opening"))?;
                chown_at(&parent, last, uid, gid).map_err(errno(&name, "chown"))?;
                fchmod(&dir, perm).map_err(errno(&name, "chmod"))?;
            }
            EntryType::Regular | EntryType::Continuous => {
                let fd = openat(
                    &parent,
                    *last,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(errno(&name, "creating"))?;
                let mut file = File::from(fd);
                io::copy(&mut entry, &mut file).map_err(fail(&name, "writing"))?;
                chown_at(&parent, last, uid, gid).map_err(errno(&name, "chown"))?;
                // After the chown, which clears set-id bits.
                fchmod(&file, perm).map_err(errno(&name, "chmod"))?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                symlinkat(OsStr::from_bytes(&target), &parent, *last)
                    .map_err(errno(&name, "symlink"))?;
                chown_at(&parent, last, uid, gid).map_err(errno(&name, "chown"))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target_parts = components(&target).unwrap_or_default();
                let Some((target_last, target_dirs)) = target_parts.split_last() else {
                    return Err(fail(&name, "link")(io::Error::from(
                        io::ErrorKind::InvalidInput,
                    )));
                };
                let target_parent =
                    parent_dir(dest, target_dirs).map_err(fail(&target, "resolving"))?;
                linkat(
                    &target_parent,
                    *target_last,
                    &parent,
                    *last,
                    AtFlags::empty(),
                )
                .map_err(errno(&name, "link"))?;
                continue;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (flag, dev) = match kind_of_entry {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    other => (
                        if other == EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        },
                        makedev(
                            header.device_major().ok().flatten().unwrap_or(0).into(),
                            header.device_minor().ok().flatten().unwrap_or(0).into(),
                        ),
                    ),
                };
                mknodat(&parent, *last, flag, perm, dev).map_err(errno(&name, "mknod"))?;
                chown_at(&parent, last, uid, gid).map_err(errno(&name, "chown"))?;
            }
            // PAX and GNU records are read by the tar crate; other kinds have no file.
            _ => continue,
        }
        let time = TimeSpec::new(mtime.max(0), 0);
        let _ = utimensat(
            &parent,
            *last,
            &time,
            &time,
            UtimensatFlags::NoFollowSymlink,
        );
    }
    Ok(())
}

fn chown_at(parent: &OwnedFd, name: &[u8], uid: u32, gid: u32) -> nix::Result<()> {
    fchownat(
        parent,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// The directory `dirs` under `dest`, resolved inside it, missing ones made 0755.
fn parent_dir(dest: &OwnedFd, dirs: &[&[u8]]) -> io::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    let mut dir = resolve_in_root(dest, b".", true, flags)?;
    let mut path = Vec::new();
    for part in dirs {
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(part);
        match resolve_in_root(dest, &path, true, flags) {
            Ok(fd) => dir = fd,
            Err(Errno::ENOENT) => {
                // Made in the resolved parent, then looked up again inside the root.
                match mkdirat(&dir, *part, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                dir = resolve_in_root(dest, &path, true, flags)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_climb_are_refused() {
        assert!(components(b"a/../../etc").is_none());
        assert_eq!(components(b"./a//b/").expect("fine"), vec![&b"a"[..], b"b"]);
    }
}
