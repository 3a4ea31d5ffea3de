//! An overlay upper dir written as an OCI layer tar, the reverse of `unpack`: overlay
//! whiteouts become `.wh.` entries, opaque directories a `.wh..wh..opq` entry.
//!
//! The walk is by name under an fd of the upper dir with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS`: a container still running could swap a directory for a symlink
//! while it is walked, and no such swap may make `diff` read a host file into the layer.
//! No fd is held per level, so however deep the container nested its directories the walk
//! cannot run out of descriptors, and it is a loop, not a recursion, for the same reason.
//!
//! The order is deterministic: names sorted bytewise, each directory followed by its
//! opaque marker and then its contents. Times are whole seconds (negative ones as 0).

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::Dir;
use nix::fcntl::{openat2, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, fstatat, major, minor, FileStat, Mode, SFlag};
use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

use super::error::DiffError;
use super::meter::{sha256_digest, HashingWriter};
use super::path::{shown, OPAQUE_MARKER, WHITEOUT_PREFIX};
use super::xattr::{self, Source};
use super::Diffed;

const OVERLAY_XATTRS: [&[u8]; 2] = [b"trusted.overlay.", b"user.overlay."];
const OPAQUE_XATTR: &std::ffi::CStr = c"trusted.overlay.opaque";

/// Writes the layer tar of `upper` to `out` (uncompressed: the caller compresses).
pub fn diff(upper: &Path, out: impl Write) -> Result<Diffed, DiffError> {
    let upper_error = |source: nix::Error| DiffError::Read {
        path: upper.display().to_string(),
        op: "opening the upper dir",
        source: source.into(),
    };
    let root = nix::fcntl::open(
        upper,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(upper_error)?;
    let mut walk = Walk {
        root,
        builder: tar::Builder::new(HashingWriter {
            inner: out,
            hasher: Sha256::new(),
            written: 0,
        }),
        links: HashMap::new(),
    };
    // Each level: its path (empty for the upper dir) and the children not yet written.
    let mut stack = vec![(Vec::new(), walk.children(b"")?.into_iter())];
    while let Some((dir, children)) = stack.last_mut() {
        let Some((name, stat)) = children.next() else {
            stack.pop();
            continue;
        };
        let path = child_path(dir, &name);
        if walk.entry(&path, &stat)? {
            let children = walk.children(&path)?;
            stack.push((path, children.into_iter()));
        }
    }
    let writer = walk
        .builder
        .into_inner()
        .map_err(|source| DiffError::Write {
            path: "the end-of-archive blocks".into(),
            source,
        })?;
    Ok(Diffed {
        diff_id: sha256_digest(writer.hasher),
        size: writer.written,
    })
}

fn child_path(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = dir.to_vec();
    if !path.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

fn as_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

fn file_type(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT
}

struct Walk<W: Write> {
    root: OwnedFd,
    builder: tar::Builder<HashingWriter<W>>,
    /// The first path of every inode with more than one link: later ones become links.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> Walk<W> {
    fn read_error(&self, path: &[u8], op: &'static str) -> impl FnOnce(io::Error) -> DiffError {
        let path = shown(path);
        move |source| DiffError::Read { path, op, source }
    }

    /// Opens `path` under the upper dir, no symlink followed anywhere on the way.
    fn open(&self, path: &[u8], flags: OFlag) -> io::Result<OwnedFd> {
        let path = if path.is_empty() {
            b".".as_slice()
        } else {
            path
        };
        let how = OpenHow::new()
            .flags(flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        openat2(self.root.as_fd(), path, how).map_err(io::Error::from)
    }

    /// The entries of the directory `path`, sorted by name, with their lstat.
    fn children(&self, path: &[u8]) -> Result<Vec<(Vec<u8>, FileStat)>, DiffError> {
        let dir = self
            .open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(self.read_error(path, "opening the directory"))?;
        let stat_fd =
            nix::unistd::dup(&dir).map_err(|e| self.read_error(path, "listing")(e.into()))?;
        let mut listing =
            Dir::from_fd(dir).map_err(|e| self.read_error(path, "listing")(e.into()))?;
        let mut children = Vec::new();
        for entry in listing.iter() {
            let entry = entry.map_err(|e| self.read_error(path, "listing")(e.into()))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let stat = fstatat(&stat_fd, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| self.read_error(&child_path(path, name), "lstat")(e.into()))?;
            children.push((name.to_vec(), stat));
        }
        children.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(children)
    }

    /// Writes one entry; true for a directory whose contents come next.
    fn entry(&mut self, path: &[u8], stat: &FileStat) -> Result<bool, DiffError> {
        let kind = file_type(stat);
        let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&b""[..], path),
        };
        if name.starts_with(WHITEOUT_PREFIX) {
            // In a tar this name is a whiteout (or AUFS metadata): written as it is, it
            // would unpack as something else, so the layer is refused instead.
            return Err(DiffError::Unrepresentable {
                path: shown(path),
                problem: "a name starting with '.wh.' reads as a whiteout in a layer".into(),
            });
        }
        if kind == SFlag::S_IFCHR && stat.st_rdev == 0 {
            let mut whiteout_name = WHITEOUT_PREFIX.to_vec();
            whiteout_name.extend_from_slice(name);
            self.marker(&child_path(parent, &whiteout_name), stat)?;
            return Ok(false);
        }
        if kind == SFlag::S_IFSOCK {
            // A socket cannot be put in a tar (Docker leaves them out too).
            return Ok(false);
        }
        let mut header = Header::new_gnu();
        header.set_mode(stat.st_mode & 0o7777);
        header.set_uid(stat.st_uid.into());
        header.set_gid(stat.st_gid.into());
        header.set_mtime(u64::try_from(stat.st_mtime).unwrap_or(0));
        header.set_size(0);
        if kind != SFlag::S_IFDIR && stat.st_nlink > 1 {
            let key = (stat.st_dev, stat.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                header.set_entry_type(EntryType::Link);
                return self.append_link(&mut header, path, &first).map(|()| false);
            }
            self.links.insert(key, path.to_vec());
        }
        match kind {
            SFlag::S_IFREG => {
                let fd = self
                    .open(path, OFlag::O_RDONLY)
                    .map_err(self.read_error(path, "opening the file"))?;
                self.same_file(path, &fd, stat)?;
                let xattrs = self.xattrs(path, Source::Fd(fd.as_fd()))?;
                self.append_xattrs(path, &xattrs)?;
                header.set_entry_type(EntryType::Regular);
                header.set_size(u64::try_from(stat.st_size).unwrap_or(0));
                let data = Exact {
                    inner: File::from(fd).take(header.entry_size().unwrap_or(0)),
                    left: header.entry_size().unwrap_or(0),
                };
                self.builder
                    .append_data(&mut header, as_path(path), data)
                    .map_err(self.write_error(path))?;
                Ok(false)
            }
            SFlag::S_IFDIR => {
                let fd = self
                    .open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                    .map_err(self.read_error(path, "opening the directory"))?;
                self.same_file(path, &fd, stat)?;
                let xattrs = self.xattrs(path, Source::Fd(fd.as_fd()))?;
                let opaque =
                    matches!(xattr::get(Source::Fd(fd.as_fd()), OPAQUE_XATTR), Ok(v) if v == b"y");
                self.append_xattrs(path, &xattrs)?;
                header.set_entry_type(EntryType::Directory);
                let mut dir_name = path.to_vec();
                dir_name.push(b'/');
                self.builder
                    .append_data(&mut header, as_path(&dir_name), io::empty())
                    .map_err(self.write_error(path))?;
                if opaque {
                    self.marker(&child_path(path, OPAQUE_MARKER), stat)?;
                }
                Ok(true)
            }
            _ => {
                // Not opened (a device must not be, a symlink cannot be without O_PATH):
                // its attributes by name inside its parent's fd.
                let parent_fd = self
                    .open(parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
                    .map_err(self.read_error(path, "opening its directory"))?;
                let at = xattr::at_path(parent_fd.as_fd(), name)
                    .map_err(self.read_error(path, "naming it"))?;
                let xattrs = self.xattrs(path, Source::Path(&at))?;
                self.append_xattrs(path, &xattrs)?;
                if kind == SFlag::S_IFLNK {
                    let target = readlinkat(&parent_fd, name)
                        .map_err(|e| self.read_error(path, "reading the symlink")(e.into()))?;
                    header.set_entry_type(EntryType::Symlink);
                    return self
                        .append_link(&mut header, path, target.as_bytes())
                        .map(|()| false);
                }
                let entry_type = match kind {
                    SFlag::S_IFCHR => EntryType::Char,
                    SFlag::S_IFBLK => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                header.set_entry_type(entry_type);
                if entry_type != EntryType::Fifo {
                    let device = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
                    header
                        .set_device_major(device(major(stat.st_rdev)))
                        .map_err(self.write_error(path))?;
                    header
                        .set_device_minor(device(minor(stat.st_rdev)))
                        .map_err(self.write_error(path))?;
                }
                self.builder
                    .append_data(&mut header, as_path(path), io::empty())
                    .map_err(self.write_error(path))?;
                Ok(false)
            }
        }
    }

    fn write_error(&self, path: &[u8]) -> impl FnOnce(io::Error) -> DiffError {
        let path = shown(path);
        move |source| DiffError::Write { path, source }
    }

    /// The file opened is the one listed (not swapped between the listing and the open).
    fn same_file(&self, path: &[u8], fd: &OwnedFd, listed: &FileStat) -> Result<(), DiffError> {
        let now = fstat(fd).map_err(|e| self.read_error(path, "fstat")(e.into()))?;
        if now.st_ino != listed.st_ino || now.st_dev != listed.st_dev {
            return Err(DiffError::Unrepresentable {
                path: shown(path),
                problem: "it was replaced while the upper dir was read".into(),
            });
        }
        Ok(())
    }

    /// A whiteout or opaque marker: an empty regular file, as Docker writes them.
    fn marker(&mut self, path: &[u8], stat: &FileStat) -> Result<(), DiffError> {
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(u64::try_from(stat.st_mtime).unwrap_or(0));
        header.set_size(0);
        self.builder
            .append_data(&mut header, as_path(path), io::empty())
            .map_err(self.write_error(path))
    }

    fn append_link(
        &mut self,
        header: &mut Header,
        path: &[u8],
        target: &[u8],
    ) -> Result<(), DiffError> {
        self.builder
            .append_link(header, as_path(path), as_path(target))
            .map_err(self.write_error(path))
    }

    /// The file's xattrs but overlay's own, sorted, as PAX record keys.
    fn xattrs(&self, path: &[u8], source: Source<'_>) -> Result<Vec<(String, Vec<u8>)>, DiffError> {
        let mut names = xattr::list(source).map_err(self.read_error(path, "listing xattrs"))?;
        names.sort();
        let mut out = Vec::new();
        for name in names {
            if OVERLAY_XATTRS.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let text = String::from_utf8(name.clone()).map_err(|_| DiffError::Unrepresentable {
                path: shown(path),
                problem: format!(
                    "xattr name {:?} is not UTF-8 (a PAX key must be)",
                    shown(&name)
                ),
            })?;
            let c_name = CString::new(name).map_err(|_| DiffError::Unrepresentable {
                path: shown(path),
                problem: "an xattr name holds a NUL byte".into(),
            })?;
            let value = match xattr::get(source, &c_name) {
                Ok(value) => value,
                // Removed between the listing and the read.
                Err(e) if e.raw_os_error() == Some(nix::libc::ENODATA) => continue,
                Err(e) => return Err(self.read_error(path, "reading an xattr")(e)),
            };
            out.push((format!("SCHILY.xattr.{text}"), value));
        }
        Ok(out)
    }

    fn append_xattrs(
        &mut self,
        path: &[u8],
        xattrs: &[(String, Vec<u8>)],
    ) -> Result<(), DiffError> {
        self.builder
            .append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(self.write_error(path))
    }
}

/// A file's data, exactly the size its header was given: a file that shrinks while it is
/// read must fail the diff, not leave a tar whose header and data disagree.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file shrank while it was read ({} bytes missing)",
                    self.left
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
