//! Tars made in the tests, scratch directories with a sentinel outside the destination,
//! and snapshots of unpacked trees.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

use super::xattr::{self, Source};
use super::{unpack, Limits, UnpackError, Unpacked};
use crate::image::manifest::Compression;

pub const MTIME: u64 = 1_600_000_000;

/// A tar written entry by entry, names as raw bytes (the tar crate's own path setters
/// refuse `..` and absolute names, which is what hostile layers are made of).
pub struct Tar {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Tar {
    fn default() -> Self {
        Tar::new()
    }
}

impl Tar {
    pub fn new() -> Tar {
        Tar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// One entry; `edit` may change the header before its checksum is set.
    pub fn entry(
        mut self,
        kind: EntryType,
        name: &str,
        link: &str,
        data: &[u8],
        edit: impl FnOnce(&mut Header),
    ) -> Tar {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(MTIME);
        header.set_size(data.len() as u64);
        let old = header.as_old_mut();
        assert!(
            name.len() <= 100 && link.len() <= 100,
            "use pax() for long names"
        );
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        edit(&mut header);
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    pub fn file(self, name: &str, data: &[u8]) -> Tar {
        self.entry(EntryType::Regular, name, "", data, |_| {})
    }

    pub fn dir(self, name: &str) -> Tar {
        self.entry(EntryType::Directory, name, "", b"", |_| {})
    }

    pub fn symlink(self, name: &str, target: &str) -> Tar {
        self.entry(EntryType::Symlink, name, target, b"", |_| {})
    }

    pub fn hardlink(self, name: &str, target: &str) -> Tar {
        self.entry(EntryType::Link, name, target, b"", |_| {})
    }

    /// A PAX extended header for the next entry.
    pub fn pax(mut self, records: &[(&str, &[u8])]) -> Tar {
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    /// The archive with its end-of-archive blocks.
    pub fn bytes(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }

    /// The archive cut right after its last entry (no end blocks), to append raw bytes.
    pub fn open_bytes(self) -> Vec<u8> {
        let mut bytes = self.bytes();
        bytes.truncate(bytes.len() - 1024);
        bytes
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// `dest` (empty) and `outside` (a sentinel) side by side in one temp dir.
pub struct Scratch {
    pub tmp: tempfile::TempDir,
    pub dest: PathBuf,
    pub outside: PathBuf,
    secret_mode: u32,
}

impl Scratch {
    pub fn new() -> Scratch {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        let outside = tmp.path().join("outside");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), b"host secret").unwrap();
        let secret_mode = fs::metadata(outside.join("secret")).unwrap().mode();
        Scratch {
            tmp,
            dest,
            outside,
            secret_mode,
        }
    }

    pub fn unpack(&self, tar: &[u8]) -> Result<Unpacked, UnpackError> {
        self.unpack_with(tar, &Limits::default())
    }

    pub fn unpack_with(&self, tar: &[u8], limits: &Limits) -> Result<Unpacked, UnpackError> {
        unpack(tar, Compression::None, &self.dest, limits)
    }

    /// `outside` as an absolute path without its leading `/`, for names in tars.
    pub fn outside_abs(&self) -> String {
        self.outside.display().to_string()
    }

    /// Nothing next to `dest` changed: only `dest` and `outside`, the sentinel alone and
    /// intact in `outside`, with a single link.
    pub fn assert_outside_untouched(&self) {
        let mut siblings: Vec<_> = fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        siblings.sort();
        assert_eq!(siblings, ["dest", "outside"]);
        let inside: Vec<_> = fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(inside, ["secret"]);
        let secret = self.outside.join("secret");
        assert_eq!(fs::read(&secret).unwrap(), b"host secret");
        let meta = fs::symlink_metadata(&secret).unwrap();
        assert_eq!(meta.nlink(), 1);
        assert_eq!(meta.mode(), self.secret_mode, "the sentinel's mode changed");
        assert_eq!(meta.uid(), 0, "the sentinel's owner changed");
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dest.join(name)
    }
}

/// Asserts an error names `entry` and returns its text.
pub fn names(error: &UnpackError, entry: &str) -> String {
    let text = error.to_string();
    assert!(text.contains(entry), "{text:?} does not name {entry:?}");
    assert!(!text.contains('\n'), "{text:?} is more than one line");
    text
}

/// The xattrs of a path (not followed), overlay's included.
pub fn xattrs_of(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    xattr::list(Source::Path(&c_path))
        .unwrap()
        .into_iter()
        .map(|name| {
            let c_name = CString::new(name.clone()).unwrap();
            let value = xattr::get(Source::Path(&c_path), &c_name).unwrap();
            (String::from_utf8(name).unwrap(), value)
        })
        .collect()
}

/// Everything observable of one file in an unpacked tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub content: Vec<u8>,
    pub link: Option<PathBuf>,
    pub rdev: u64,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// The first path (in sorted order) of the same inode, for hard links.
    pub same_as: Option<String>,
}

/// The tree under `root`, by relative path, the root itself as "".
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    let mut paths = vec![PathBuf::new()];
    let mut all = Vec::new();
    while let Some(rel) = paths.pop() {
        let full = root.join(&rel);
        let meta = fs::symlink_metadata(&full).unwrap();
        if meta.is_dir() {
            for entry in fs::read_dir(&full).unwrap() {
                paths.push(rel.join(entry.unwrap().file_name()));
            }
        }
        all.push((rel, meta));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    for (rel, meta) in all {
        let full = root.join(&rel);
        let t = meta.file_type();
        let kind = if t.is_dir() {
            "dir"
        } else if t.is_symlink() {
            "symlink"
        } else if t.is_char_device() {
            "char"
        } else if t.is_block_device() {
            "block"
        } else if t.is_fifo() {
            "fifo"
        } else {
            "file"
        };
        let name = rel.display().to_string();
        let same_as = if !t.is_dir() && meta.nlink() > 1 {
            let first = inodes.entry(meta.ino()).or_insert_with(|| name.clone());
            (*first != name).then(|| first.clone())
        } else {
            None
        };
        out.insert(
            name,
            Node {
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                mtime: meta.mtime(),
                content: if t.is_file() {
                    fs::read(&full).unwrap()
                } else {
                    Vec::new()
                },
                link: t.is_symlink().then(|| fs::read_link(&full).unwrap()),
                rdev: meta.rdev(),
                xattrs: xattrs_of(&full),
                same_as,
            },
        );
    }
    out
}
