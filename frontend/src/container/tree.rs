//! A tree read through fds, never by joining host paths: the walk of a container's rootfs
//! or upper dir for `diff`, `export` and `cp`, and the tar writer over it.
//!
//! Every directory and file is opened under the fd of the tree's top with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`: a running container may swap a directory for
//! a symlink while it is walked, and no such swap may make berth read a host file into
//! the tar (the CVE-2019-14271 / CVE-2018-15664 class of `docker cp`). No fd is held per
//! level, so however deeply a container nests directories the walk cannot run out of
//! descriptors, and it is a loop, not a recursion.
//!
//! Children are visited in bytewise name order, each directory before its contents.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::Dir;
use nix::fcntl::{openat2, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, fstatat, major, minor, FileStat, Mode, SFlag};
use tar::{EntryType, Header};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {op}: {source}")]
pub struct TreeError {
    pub path: String,
    pub op: &'static str,
    #[source]
    pub source: io::Error,
}

fn tree_error(path: &[u8], op: &'static str) -> impl FnOnce(io::Error) -> TreeError {
    let path = String::from_utf8_lossy(path).into_owned();
    move |source| TreeError { path, op, source }
}

/// One entry of a directory, not followed.
pub struct Child {
    pub name: Vec<u8>,
    pub stat: FileStat,
    /// A symlink's target, read while its directory was open.
    pub link: Option<Vec<u8>>,
}

pub fn kind(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT
}

pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = dir.to_vec();
    if !path.is_empty() && !name.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// A tree under an fd (any kind of fd of a directory or of a single entry).
pub struct Tree {
    top: OwnedFd,
}

impl Tree {
    pub fn new(top: OwnedFd) -> Tree {
        Tree { top }
    }

    /// The tree at a trusted host path, the last component not followed.
    pub fn open_path(path: &Path) -> Result<Tree, TreeError> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| tree_error(path.as_os_str().as_bytes(), "opening")(e.into()))?;
        Ok(Tree { top: fd })
    }

    pub fn top_stat(&self) -> Result<FileStat, TreeError> {
        fstat(&self.top).map_err(|e| tree_error(b"", "stat")(e.into()))
    }

    /// Opens `rel` (empty: the top) under the top, no symlink followed anywhere.
    pub fn open(&self, rel: &[u8], flags: OFlag) -> io::Result<OwnedFd> {
        if rel.is_empty() {
            // Reopening the top through its own fd: it is the very inode resolved before.
            let proc = format!("/proc/self/fd/{}", self.top.as_raw_fd());
            return Ok(nix::fcntl::open(
                proc.as_str(),
                flags | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?);
        }
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
            .resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        Ok(openat2(self.top.as_fd(), rel, how)?)
    }

    /// The entries of directory `rel`, sorted by name.
    pub fn children(&self, rel: &[u8]) -> Result<Vec<Child>, TreeError> {
        let dir = self
            .open(rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(tree_error(rel, "opening the directory"))?;
        // The listing reads through its own copy of the fd; the lookups below use `dir`
        // (a dup shares the offset, which only the listing moves).
        let copy = dir
            .try_clone()
            .map_err(tree_error(rel, "duplicating the fd"))?;
        let mut listing = Dir::from_fd(copy).map_err(|e| tree_error(rel, "listing")(e.into()))?;
        let dir_fd = dir.as_fd();
        let mut children = Vec::new();
        for entry in listing.iter() {
            let entry = entry.map_err(|e| tree_error(rel, "listing")(e.into()))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let path = join(rel, name);
            let stat = match fstatat(dir_fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                // Gone since it was listed (a running container): not part of the tree.
                Err(nix::Error::ENOENT) => continue,
                Err(e) => return Err(tree_error(&path, "stat")(e.into())),
            };
            let link = if kind(&stat) == SFlag::S_IFLNK {
                let target = readlinkat(dir_fd, name)
                    .map_err(|e| tree_error(&path, "reading the link")(e.into()))?;
                Some(target.as_bytes().to_vec())
            } else {
                None
            };
            children.push(Child {
                name: name.to_vec(),
                stat,
                link,
            });
        }
        children.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(children)
    }

    /// Visits every entry below the top in order; `visit` says whether to enter a directory.
    pub fn walk(
        &self,
        mut visit: impl FnMut(&[u8], &Child) -> Result<bool, TreeError>,
    ) -> Result<(), TreeError> {
        let mut stack = vec![(Vec::new(), self.children(b"")?.into_iter())];
        while let Some((dir, children)) = stack.last_mut() {
            let Some(child) = children.next() else {
                stack.pop();
                continue;
            };
            let path = join(dir, &child.name);
            if visit(&path, &child)? && kind(&child.stat) == SFlag::S_IFDIR {
                let children = self.children(&path)?;
                stack.push((path, children.into_iter()));
            }
        }
        Ok(())
    }
}

/// How the tar's entries are owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// As in the tree.
    Keep,
    /// Every entry as this uid:gid.
    Set(u32, u32),
}

/// Writes `tree` to `builder`: the top itself named `name` (and what it holds under
/// `name/`), or with an empty `name` only what the top directory holds.
pub fn write_tar<W: Write>(
    tree: &Tree,
    name: &[u8],
    link: Option<&[u8]>,
    owner: Owner,
    builder: &mut tar::Builder<W>,
) -> Result<(), TreeError> {
    let mut writer = TarWriter {
        tree,
        owner,
        builder,
        links: HashMap::new(),
    };
    let top = tree.top_stat()?;
    if !name.is_empty() {
        let child = Child {
            name: name.to_vec(),
            stat: top,
            link: link.map(<[u8]>::to_vec),
        };
        writer.entry(b"", name, &child)?;
        if kind(&top) != SFlag::S_IFDIR {
            return Ok(());
        }
    } else if kind(&top) != SFlag::S_IFDIR {
        return Err(tree_error(b"", "writing its contents")(io::Error::from(
            io::ErrorKind::NotADirectory,
        )));
    }
    tree.walk(|rel, child| {
        let tar_name = join(name, rel);
        writer.entry(rel, &tar_name, child)
    })
}

struct TarWriter<'a, W: Write> {
    tree: &'a Tree,
    owner: Owner,
    builder: &'a mut tar::Builder<W>,
    /// The first name of every inode with more than one link: later ones become links.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> TarWriter<'_, W> {
    /// Writes one entry; whether to enter it.
    fn entry(&mut self, rel: &[u8], tar_name: &[u8], child: &Child) -> Result<bool, TreeError> {
        let stat = &child.stat;
        let write_error = tree_error(tar_name, "writing the tar");
        let mut header = Header::new_gnu();
        header.set_mode(stat.st_mode & 0o7777);
        let (uid, gid) = match self.owner {
            Owner::Keep => (stat.st_uid, stat.st_gid),
            Owner::Set(uid, gid) => (uid, gid),
        };
        header.set_uid(uid.into());
        header.set_gid(gid.into());
        header.set_mtime(stat.st_mtime.max(0) as u64);
        header.set_size(0);
        let path = Path::new(OsStr::from_bytes(tar_name));
        let file_kind = kind(stat);
        if file_kind != SFlag::S_IFDIR && stat.st_nlink > 1 {
            let key = (stat.st_dev, stat.st_ino);
            if let Some(first) = self.links.get(&key) {
                header.set_entry_type(EntryType::Link);
                let target = Path::new(OsStr::from_bytes(first));
                self.builder
                    .append_link(&mut header, path, target)
                    .map_err(write_error)?;
                return Ok(false);
            }
            self.links.insert(key, tar_name.to_vec());
        }
        match file_kind {
            SFlag::S_IFDIR => {
                header.set_entry_type(EntryType::Directory);
                let mut dir_name = tar_name.to_vec();
                dir_name.push(b'/');
                let path = Path::new(OsStr::from_bytes(&dir_name));
                self.builder
                    .append_data(&mut header, path, io::empty())
                    .map_err(write_error)?;
                return Ok(true);
            }
            SFlag::S_IFREG => {
                let file = self
                    .tree
                    .open(rel, OFlag::O_RDONLY)
                    .map_err(tree_error(tar_name, "opening"))?;
                let file = File::from(file);
                // The size of the inode opened: a file swapped since its listing is read
                // as it is now, and one that shrinks while read is padded to its size.
                let size = file.metadata().map_err(tree_error(tar_name, "stat"))?.len();
                header.set_size(size);
                header.set_entry_type(EntryType::Regular);
                let data = file.take(size).chain(io::repeat(0)).take(size);
                self.builder
                    .append_data(&mut header, path, data)
                    .map_err(write_error)?;
            }
            SFlag::S_IFLNK => {
                header.set_entry_type(EntryType::Symlink);
                let target = child.link.as_deref().unwrap_or_default();
                self.builder
                    .append_link(&mut header, path, Path::new(OsStr::from_bytes(target)))
                    .map_err(write_error)?;
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                header.set_entry_type(match file_kind {
                    SFlag::S_IFCHR => EntryType::Char,
                    SFlag::S_IFBLK => EntryType::Block,
                    _ => EntryType::Fifo,
                });
                if file_kind != SFlag::S_IFIFO {
                    let rdev = stat.st_rdev;
                    header
                        .set_device_major(major(rdev) as u32)
                        .map_err(tree_error(tar_name, "device number"))?;
                    header
                        .set_device_minor(minor(rdev) as u32)
                        .map_err(tree_error(tar_name, "device number"))?;
                }
                self.builder
                    .append_data(&mut header, path, io::empty())
                    .map_err(write_error)?;
            }
            // Sockets have no tar form; Docker leaves them out too.
            _ => {}
        }
        Ok(false)
    }
}
