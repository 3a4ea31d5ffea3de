//! `tmpcopyup`: a tmpfs mounted over a directory of the image starts with
//! that directory's content (podman `run --read-only` mounts /run, /tmp and
//! /var/tmp this way). Both trees are walked through directory fds, never
//! by path: the source is the image's directory as it was before the tmpfs
//! covered it, and nothing in it (a symlink least of all) is followed.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, mknodat, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

/// How deep the copied tree may be: bounds the recursion on a hostile image.
const MAX_DEPTH: usize = 128;

/// Copies everything below the directory `from` into the directory `to`:
/// directories, regular files, symlinks and device nodes, with their mode and
/// owner. Sockets are skipped (they mean nothing without their listener).
pub fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), String> {
    copy_dir(from, to, 0, &mut Vec::new())
}

fn copy_dir(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    depth: usize,
    at: &mut Vec<String>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{}: deeper than {MAX_DEPTH} levels", shown(at)));
    }
    let fail = |what: &str, at: &[String], e: Errno| format!("{what} {}: {e}", shown(at));
    // A Dir of its own: reading it moves the offset of the fd it owns.
    let listing = openat(
        from,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail("opening", at, e))?;
    let mut dir = Dir::from_fd(listing).map_err(|e| fail("reading", at, e))?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(|e| fail("reading", at, e))?;
        let name = entry.file_name().to_owned();
        if name.as_bytes() != b"." && name.as_bytes() != b".." {
            names.push(name);
        }
    }
    for name in names {
        at.push(name.to_string_lossy().into_owned());
        let st = fstatat(from, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| fail("inspecting", at, e))?;
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let (uid, gid) = (
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        );
        // Links and nodes: the entry itself, never what a link points at.
        let chown_entry = || {
            owned(fchownat(
                to,
                name.as_c_str(),
                uid,
                gid,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ))
        };
        match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFDIR => {
                mkdirat(to, name.as_c_str(), Mode::from_bits_truncate(0o700))
                    .map_err(|e| fail("creating directory", at, e))?;
                let src = open_dir(from, &name).map_err(|e| fail("opening", at, e))?;
                let dst = open_dir(to, &name).map_err(|e| fail("opening copy of", at, e))?;
                copy_dir(src.as_fd(), dst.as_fd(), depth + 1, at)?;
                // Mode and owner last: a read-only directory is still filled.
                owned(fchown(dst.as_fd(), uid, gid)).map_err(|e| fail("chown of", at, e))?;
                fchmod(dst.as_fd(), mode).map_err(|e| fail("chmod of", at, e))?;
            }
            SFlag::S_IFREG => copy_file(from, to, &name, mode, st.st_uid, st.st_gid)
                .map_err(|e| format!("copying {}: {e}", shown(at)))?,
            SFlag::S_IFLNK => {
                let target =
                    readlinkat(from, name.as_c_str()).map_err(|e| fail("reading link", at, e))?;
                symlinkat(target.as_os_str(), to, name.as_c_str())
                    .map_err(|e| fail("creating link", at, e))?;
                chown_entry().map_err(|e| fail("chown of link", at, e))?;
            }
            kind @ (SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO) => {
                mknodat(to, name.as_c_str(), kind, mode, st.st_rdev)
                    .map_err(|e| fail("creating node", at, e))?;
                chown_entry().map_err(|e| fail("chown of", at, e))?;
            }
            _ => {}
        }
        at.pop();
    }
    Ok(())
}

fn open_dir(parent: BorrowedFd<'_>, name: &std::ffi::CStr) -> nix::Result<OwnedFd> {
    openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn copy_file(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    mode: Mode,
    uid: u32,
    gid: u32,
) -> std::io::Result<()> {
    let src = openat(
        from,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let dst = openat(
        to,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?;
    let (mut src, mut dst) = (File::from(src), File::from(dst));
    std::io::copy(&mut src, &mut dst)?;
    owned(fchown(
        dst.as_fd(),
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
    ))?;
    // After chown, which clears setuid and setgid bits.
    fchmod(dst.as_fd(), mode)?;
    Ok(())
}

/// A copy keeps the owner of the original where it can; in a user
/// namespace an owner the namespace does not map (EINVAL), or may not give
/// (EPERM), leaves the copy to the container's root instead.
fn owned(result: nix::Result<()>) -> nix::Result<()> {
    match result {
        Err(Errno::EINVAL | Errno::EPERM) => Ok(()),
        other => other,
    }
}

fn shown(at: &[String]) -> String {
    if at.is_empty() {
        "the directory".to_string()
    } else {
        at.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
    use std::path::PathBuf;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-copyup-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("from")).unwrap();
        fs::create_dir_all(dir.join("to")).unwrap();
        dir
    }

    fn dir_fd(path: PathBuf) -> OwnedFd {
        File::open(path).unwrap().into()
    }

    #[test]
    fn files_dirs_links_and_modes_are_copied() {
        let dir = temp("tree");
        let from = dir.join("from");
        fs::create_dir_all(from.join("sub/deeper")).unwrap();
        fs::write(from.join("top"), "top\n").unwrap();
        fs::write(from.join("sub/deeper/file"), "deep\n").unwrap();
        fs::set_permissions(from.join("top"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::set_permissions(from.join("sub"), fs::Permissions::from_mode(0o1777)).unwrap();
        symlink("/etc/passwd", from.join("link")).unwrap();

        copy_tree(dir_fd(from.clone()).as_fd(), dir_fd(dir.join("to")).as_fd()).unwrap();

        let to = dir.join("to");
        assert_eq!(fs::read_to_string(to.join("top")).unwrap(), "top\n");
        assert_eq!(
            fs::read_to_string(to.join("sub/deeper/file")).unwrap(),
            "deep\n"
        );
        let mode = |p: PathBuf| fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(to.join("top")), 0o640);
        assert_eq!(mode(to.join("sub")), 0o1777);
        // The link is copied as a link, not followed.
        assert_eq!(
            fs::read_link(to.join("link")).unwrap(),
            PathBuf::from("/etc/passwd")
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_existing_name_in_the_target_is_an_error_naming_it() {
        let dir = temp("clash");
        fs::write(dir.join("from/name"), "a").unwrap();
        fs::write(dir.join("to/name"), "b").unwrap();
        let err = copy_tree(
            dir_fd(dir.join("from")).as_fd(),
            dir_fd(dir.join("to")).as_fd(),
        )
        .unwrap_err();
        assert!(err.contains("name"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
