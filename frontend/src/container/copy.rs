//! `cp`: files between a container and the host (or a tar on stdin/stdout), with
//! Docker's rules for what lands where:
//!
//! | source            | destination exists as a dir | exists, not a dir | missing            |
//! | ----------------- | --------------------------- | ----------------- | ------------------ |
//! | file              | `DEST/name`                 | replaced          | made as `DEST`     |
//! | dir               | `DEST/name`                 | error             | made as `DEST`     |
//! | dir ending `/.`   | its contents into `DEST`    | error             | made as `DEST`     |
//!
//! A destination ending in `/` must be a directory. Container-side paths are resolved
//! inside the rootfs only (RESOLVE_IN_ROOT); the source's last symlink is followed only
//! with `-L`. Without `-a` files land owned by root in the container and by the calling
//! user on the host; with `-a` they keep the source's uid and gid.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, SFlag};

use super::access::{open_root, resolve_in_root, FilesError};
use super::copy_in::unpack_into;
use super::lifecycle::{Container, Containers};
use super::tree::{kind, write_tar, Owner, Tree};

/// What `cp` was asked, either direction.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// `-a`: keep the source's uid and gid.
    pub archive: bool,
    /// `-L`: follow a symlink that is the source itself.
    pub follow_link: bool,
}

/// Where a copy's tar goes: the top named `name` (empty: only a directory's contents)
/// unpacked in the directory `into`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub into_parent: bool,
    pub name: Vec<u8>,
}

/// Docker's rules (the table above). `dest_is_dir`: `None` when the destination is
/// missing.
pub fn place(
    src: &[u8],
    src_is_dir: bool,
    dest: &[u8],
    dest_is_dir: Option<bool>,
) -> Result<Placement, &'static str> {
    let contents_only = src.ends_with(b"/.");
    let dest_asserts_dir = dest.ends_with(b"/") || dest.ends_with(b"/.");
    let src_name = base_name(src);
    let dest_name = base_name(dest);
    match dest_is_dir {
        Some(true) if src_is_dir && contents_only => Ok(Placement {
            into_parent: false,
            name: Vec::new(),
        }),
        Some(true) => Ok(Placement {
            into_parent: false,
            name: src_name,
        }),
        Some(false) if src_is_dir => Err("cannot copy directory"),
        Some(false) if dest_asserts_dir => Err("not a directory"),
        Some(false) => Ok(Placement {
            into_parent: true,
            name: dest_name,
        }),
        None if dest_asserts_dir && !src_is_dir => Err("no such directory"),
        None => Ok(Placement {
            into_parent: true,
            name: dest_name,
        }),
    }
}

/// The last component of `path`, `/.` and trailing slashes ignored.
fn base_name(path: &[u8]) -> Vec<u8> {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_suffix(b"/.") {
            p = rest;
        } else if let Some(rest) = p.strip_suffix(b"/") {
            p = rest;
        } else {
            break;
        }
    }
    let name = p.rsplit(|&b| b == b'/').next().unwrap_or(p);
    if name.is_empty() || name == b"." {
        // `/` or `.` as a whole: the contents.
        Vec::new()
    } else {
        name.to_vec()
    }
}

/// `path` without its last component (`/` for a top-level name), for the container side.
fn parent_of(path: &[u8]) -> Vec<u8> {
    let mut trimmed = path;
    while let Some(rest) = trimmed.strip_suffix(b"/") {
        trimmed = rest;
    }
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/".to_vec(),
        Some(i) => trimmed[..i].to_vec(),
    }
}

fn is_dir_fd(fd: &OwnedFd) -> bool {
    fstat(fd).is_ok_and(|s| kind(&s) == SFlag::S_IFDIR)
}

fn copy_error(path: &[u8], problem: &str) -> FilesError {
    FilesError::Copy {
        path: String::from_utf8_lossy(path).into_owned(),
        problem: problem.to_string(),
    }
}

/// Where `cp` from a container writes.
pub enum HostDest<'a> {
    Path(&'a Path),
    /// `-`: the tar itself.
    Tar(&'a mut dyn Write),
}

/// What `cp` into a container reads.
pub enum HostSource<'a> {
    Path(&'a Path),
    /// `-`: a tar, unpacked into the destination directory.
    Tar(&'a mut dyn Read),
}

impl Containers {
    /// `cp CONTAINER:SRC DEST`; the bytes of tar copied (what Docker reports).
    pub fn copy_from(
        &self,
        container: &Container,
        src: &str,
        dest: HostDest<'_>,
        options: &CopyOptions,
    ) -> Result<u64, FilesError> {
        self.with_rootfs(container, |rootfs| {
            let root = open_root(rootfs)?;
            let src_bytes = src.as_bytes();
            let not_found = || FilesError::NoSuchPath {
                container: container.row.name.clone(),
                path: src.to_string(),
            };
            let top = resolve_in_root(&root, src_bytes, options.follow_link, OFlag::O_PATH)
                .map_err(|e| match e {
                    nix::Error::ENOENT | nix::Error::ENOTDIR => not_found(),
                    e => FilesError::Io {
                        path: src.to_string(),
                        source: e.into(),
                    },
                })?;
            let src_is_dir = is_dir_fd(&top);
            if !src_is_dir && (src.ends_with('/') || src.ends_with("/.")) {
                return Err(copy_error(src_bytes, "not a directory"));
            }
            let link = if src_is_dir {
                None
            } else {
                nix::fcntl::readlinkat(&top, "")
                    .ok()
                    .map(|t| t.as_bytes().to_vec())
            };
            let tree = Tree::new(top);
            match dest {
                HostDest::Tar(out) => {
                    let name = base_name(src_bytes);
                    let name = if name.is_empty() && !src.ends_with("/.") {
                        b".".to_vec()
                    } else {
                        name
                    };
                    let mut builder = tar::Builder::new(Counting::new(out));
                    write_tar(&tree, &name, link.as_deref(), Owner::Keep, &mut builder)
                        .map_err(FilesError::tree(container))?;
                    let counted = builder.into_inner().map_err(|source| FilesError::Io {
                        path: "-".to_string(),
                        source,
                    })?;
                    Ok(counted.bytes)
                }
                HostDest::Path(dest) => {
                    let dest_bytes = dest.as_os_str().as_bytes();
                    let dest_is_dir = match std::fs::metadata(dest) {
                        Ok(m) => Some(m.is_dir()),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                        Err(source) => {
                            return Err(FilesError::Io {
                                path: dest.display().to_string(),
                                source,
                            })
                        }
                    };
                    let placement = place(src_bytes, src_is_dir, dest_bytes, dest_is_dir)
                        .map_err(|p| copy_error(dest_bytes, p))?;
                    let into = if placement.into_parent {
                        let parent = match dest.parent() {
                            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                            _ => PathBuf::from("."),
                        };
                        if !parent.is_dir() {
                            return Err(copy_error(
                                parent.as_os_str().as_bytes(),
                                "no such directory",
                            ));
                        }
                        parent
                    } else {
                        dest.to_path_buf()
                    };
                    let name = placement.name;
                    let archive = options.archive;
                    through_pipe(
                        |w| {
                            let mut builder = tar::Builder::new(w);
                            write_tar(&tree, &name, link.as_deref(), Owner::Keep, &mut builder)
                                .map_err(FilesError::tree(container))?;
                            builder.finish().map_err(|source| FilesError::Io {
                                path: "a pipe".to_string(),
                                source,
                            })
                        },
                        |r| {
                            let mut tar = tar::Archive::new(r);
                            tar.set_preserve_permissions(true);
                            tar.set_preserve_ownerships(archive);
                            tar.set_overwrite(true);
                            tar.unpack(&into).map_err(|source| FilesError::Io {
                                path: into.display().to_string(),
                                source,
                            })
                        },
                    )
                }
            }
        })
    }

    /// `cp SRC CONTAINER:DEST`; the bytes of tar copied.
    pub fn copy_to(
        &self,
        container: &Container,
        src: HostSource<'_>,
        dest: &str,
        options: &CopyOptions,
    ) -> Result<u64, FilesError> {
        if container.host.readonly_rootfs {
            return Err(FilesError::ReadOnly);
        }
        let owner = if options.archive {
            Owner::Keep
        } else {
            Owner::Set(0, 0)
        };
        self.with_rootfs(container, |rootfs| {
            let root = open_root(rootfs)?;
            let dest_bytes = dest.as_bytes();
            let dest_fd = match resolve_in_root(&root, dest_bytes, true, OFlag::O_PATH) {
                Ok(fd) => Some(fd),
                Err(nix::Error::ENOENT) => None,
                Err(e) => {
                    return Err(FilesError::Io {
                        path: dest.to_string(),
                        source: e.into(),
                    })
                }
            };
            let dest_is_dir = dest_fd.as_ref().map(is_dir_fd);
            let missing_dir = || FilesError::NoSuchPath {
                container: container.row.name.clone(),
                path: dest.to_string(),
            };
            let in_dir = |fd: Option<OwnedFd>, path: &[u8]| -> Result<OwnedFd, FilesError> {
                match fd {
                    Some(fd) if is_dir_fd(&fd) => Ok(fd),
                    Some(_) => Err(copy_error(path, "not a directory")),
                    None => Err(missing_dir()),
                }
            };
            match src {
                HostSource::Tar(input) => {
                    let dir = in_dir(dest_fd, dest_bytes)?;
                    let mut input = Counting::new(input);
                    let result = unpack_into(&dir, &mut input, owner);
                    // The rest of the stream is read, so a writer on the other end of a
                    // pipe is not killed by SIGPIPE.
                    let _ = io::copy(&mut input, &mut io::sink());
                    result.map_err(|e| copy_error(dest_bytes, &e.to_string()))?;
                    Ok(input.bytes)
                }
                HostSource::Path(src) => {
                    let src_bytes = src.as_os_str().as_bytes();
                    let tree = if options.follow_link {
                        nix::fcntl::open(
                            src,
                            OFlag::O_PATH | OFlag::O_CLOEXEC,
                            nix::sys::stat::Mode::empty(),
                        )
                        .map(Tree::new)
                        .map_err(|e| FilesError::Io {
                            path: src.display().to_string(),
                            source: e.into(),
                        })?
                    } else {
                        Tree::open_path(src).map_err(|e| FilesError::Io {
                            path: src.display().to_string(),
                            source: e.source,
                        })?
                    };
                    let top = tree.top_stat().map_err(FilesError::tree(container))?;
                    let src_is_dir = kind(&top) == SFlag::S_IFDIR;
                    if !src_is_dir && (src_bytes.ends_with(b"/") || src_bytes.ends_with(b"/.")) {
                        return Err(copy_error(src_bytes, "not a directory"));
                    }
                    let link = if kind(&top) == SFlag::S_IFLNK {
                        std::fs::read_link(src)
                            .ok()
                            .map(|t| t.as_os_str().as_bytes().to_vec())
                    } else {
                        None
                    };
                    let placement = place(src_bytes, src_is_dir, dest_bytes, dest_is_dir)
                        .map_err(|p| copy_error(dest_bytes, p))?;
                    let dir = if placement.into_parent {
                        let parent = parent_of(dest_bytes);
                        let fd = resolve_in_root(&root, &parent, true, OFlag::O_PATH).ok();
                        in_dir(fd, &parent)?
                    } else {
                        in_dir(dest_fd, dest_bytes)?
                    };
                    let name = placement.name;
                    through_pipe(
                        |w| {
                            let mut builder = tar::Builder::new(w);
                            write_tar(&tree, &name, link.as_deref(), Owner::Keep, &mut builder)
                                .map_err(FilesError::tree(container))?;
                            builder.finish().map_err(|source| FilesError::Io {
                                path: "a pipe".to_string(),
                                source,
                            })
                        },
                        |r| {
                            unpack_into(&dir, r, owner)
                                .map_err(|e| copy_error(dest_bytes, &e.to_string()))
                        },
                    )
                }
            }
        })
    }
}

/// Runs `produce` writing a tar into a pipe on a thread of its own while `consume`
/// reads it: neither side holds the whole tar in memory. The consumer's error comes
/// first; the reader is drained so the producer never meets a closed pipe.
fn through_pipe(
    produce: impl FnOnce(&mut File) -> Result<(), FilesError> + Send,
    consume: impl FnOnce(&mut Counting<File>) -> Result<(), FilesError>,
) -> Result<u64, FilesError> {
    let (read, write) = nix::unistd::pipe().map_err(|e| FilesError::Io {
        path: "a pipe".to_string(),
        source: e.into(),
    })?;
    let mut reader = Counting::new(File::from(read));
    let mut writer = File::from(write);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let result = produce(&mut writer);
            drop(writer);
            result
        });
        let consumed = consume(&mut reader);
        let _ = io::copy(&mut reader, &mut io::sink());
        let produced = producer.join().unwrap_or_else(|_| {
            Err(FilesError::Copy {
                path: "a pipe".to_string(),
                problem: "the tar writer panicked".to_string(),
            })
        });
        consumed.and(produced).map(|()| reader.bytes)
    })
}

/// A reader or writer that counts the bytes through it.
struct Counting<T> {
    inner: T,
    bytes: u64,
}

impl<T> Counting<T> {
    fn new(inner: T) -> Counting<T> {
        Counting { inner, bytes: 0 }
    }
}

impl<T: Read> Read for Counting<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<T: Write> Write for Counting<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(src: &str, src_dir: bool, dest: &str, dest_dir: Option<bool>) -> (bool, String) {
        let p = place(src.as_bytes(), src_dir, dest.as_bytes(), dest_dir).expect("placed");
        (p.into_parent, String::from_utf8_lossy(&p.name).into_owned())
    }

    #[test]
    fn a_file_into_a_dir_keeps_its_name() {
        assert_eq!(
            placed("/etc/hosts", false, "/tmp", Some(true)),
            (false, "hosts".into())
        );
    }

    #[test]
    fn a_file_onto_a_missing_name_takes_that_name() {
        assert_eq!(
            placed("/etc/hosts", false, "/tmp/h2", None),
            (true, "h2".into())
        );
    }

    #[test]
    fn a_dir_ending_in_dot_copies_its_contents() {
        assert_eq!(
            placed("/etc/.", true, "/tmp", Some(true)),
            (false, String::new())
        );
        assert_eq!(
            placed("/etc", true, "/tmp", Some(true)),
            (false, "etc".into())
        );
    }

    #[test]
    fn docker_refuses_what_it_refuses() {
        assert!(place(b"/etc", true, b"/tmp/file", Some(false)).is_err());
        assert!(place(b"/etc/hosts", false, b"/tmp/nope/", None).is_err());
    }

    #[test]
    fn parents_and_names() {
        assert_eq!(parent_of(b"/tmp/evil/x"), b"/tmp/evil");
        assert_eq!(parent_of(b"/x"), b"/");
        assert_eq!(base_name(b"/etc/"), b"etc");
        assert_eq!(base_name(b"/"), b"");
    }
}
