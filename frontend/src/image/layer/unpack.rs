//! One layer tar into an empty directory that overlayfs can use as a lower dir.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, futimens, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};
use tar::EntryType;

use super::error::{At, Limit, Problem, UnpackError};
use super::meter::{Meter, Metered};
use super::path::{shown, InRoot, Target};
use super::root::{is_dir, lstat_at, remove_at, Root};
use super::xattr;
use super::{Limits, Unpacked};
use crate::image::manifest::Compression;

const PAX_XATTR: &[u8] = b"SCHILY.xattr.";
/// Attributes overlayfs reads as its own: from a layer they would forge whiteouts,
/// opaque dirs, redirects or metacopy origins. `user.overlay.` is the same set on
/// `userxattr` mounts.
const OVERLAY_XATTRS: [&[u8]; 2] = [b"trusted.overlay.", b"user.overlay."];
const OPAQUE_XATTR: &std::ffi::CStr = c"trusted.overlay.opaque";
const COPY_BUFFER: usize = 128 * 1024;

/// Unpacks one layer (see the module documentation of `image::layer`).
pub fn unpack(
    reader: impl Read,
    compression: Compression,
    dest: &Path,
    limits: &Limits,
) -> Result<Unpacked, UnpackError> {
    let dest_error = |source| UnpackError::Dest {
        path: dest.to_path_buf(),
        source,
    };
    let root = Root::open(dest).map_err(dest_error)?;
    if std::fs::read_dir(dest)
        .map_err(dest_error)?
        .next()
        .is_some()
    {
        return Err(UnpackError::NotEmpty {
            path: dest.to_path_buf(),
        });
    }
    let meter = Meter::new(limits.max_bytes);
    let stream: Box<dyn Read> = match compression {
        Compression::None => Box::new(reader),
        // Multi-member: a gzip stream may be several members back to back (pigz, and Go's
        // reader, which made the blobs Docker pushes, reads them all).
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Zstd => {
            Box::new(
                zstd::Decoder::new(reader).map_err(|source| UnpackError::Stream {
                    offset: 0,
                    at: At::Start,
                    source,
                })?,
            )
        }
    };
    let mut archive = tar::Archive::new(Metered {
        inner: stream,
        meter: &meter,
    });
    let mut unpacker = Unpacker {
        root,
        limits,
        meter: &meter,
        dir_times: HashMap::new(),
        size: 0,
        entries: 0,
        ignored_xattrs: 0,
        buffer: vec![0; COPY_BUFFER],
    };
    let stream_error = |meter: &Meter, at: At, source: io::Error| {
        if meter.tripped() {
            UnpackError::Limit {
                limit: Limit::Bytes(limits.max_bytes),
                at,
            }
        } else {
            UnpackError::Stream {
                offset: meter.total(),
                at,
                source: one_line(source),
            }
        }
    };
    {
        let mut entries = archive
            .entries()
            .map_err(|e| stream_error(&meter, At::Start, e))?;
        let mut last: Option<String> = None;
        loop {
            // The tar reader holds PAX and GNU long-name records in memory: a fence of its
            // own keeps one entry's headers from filling it.
            let header_fence = meter.total().saturating_add(limits.max_header_bytes);
            let header_limit = header_fence < limits.max_bytes;
            meter.set_fence(header_fence.min(limits.max_bytes));
            let next = entries.next();
            meter.set_fence(limits.max_bytes);
            let at = || last.clone().map_or(At::Start, At::After);
            let entry = match next {
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(_)) if meter.tripped() && header_limit => {
                    return Err(UnpackError::Limit {
                        limit: Limit::HeaderBytes(limits.max_header_bytes),
                        at: at(),
                    })
                }
                Some(Err(e)) => return Err(stream_error(&meter, at(), e)),
            };
            let name = shown(&entry.path_bytes());
            unpacker.entry(entry).map_err(|failure| match failure {
                Failure::Entry(problem) => UnpackError::Entry {
                    entry: name.clone(),
                    problem,
                },
                Failure::Limit(limit) => UnpackError::Limit {
                    limit,
                    at: At::Entry(name.clone()),
                },
                Failure::Stream(e) => stream_error(&meter, At::Entry(name.clone()), e),
            })?;
            last = Some(name);
        }
    }
    // The diff_id covers the whole stream: the end-of-archive blocks, the padding to
    // the record size and whatever else follows.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| stream_error(&meter, At::End, e))?;
    unpacker.set_dir_times()?;
    Ok(Unpacked {
        diff_id: meter.digest(),
        size: unpacker.size,
        entries: unpacker.entries,
        ignored_xattrs: unpacker.ignored_xattrs,
    })
}

struct Unpacker<'a> {
    root: Root,
    limits: &'a Limits,
    meter: &'a Meter,
    /// Directories' mtimes, set once everything in them is written (a later entry
    /// created in a directory would change its mtime again).
    dir_times: HashMap<InRoot, TimeSpec>,
    size: u64,
    entries: u64,
    ignored_xattrs: u64,
    buffer: Vec<u8>,
}

/// An entry's failure before it is given the entry's name.
enum Failure {
    Entry(Problem),
    Limit(Limit),
    /// Reading the entry's data failed (the stream, or the byte fence).
    Stream(io::Error),
}

impl From<Problem> for Failure {
    fn from(problem: Problem) -> Failure {
        Failure::Entry(problem)
    }
}

fn io_problem(op: &'static str) -> impl FnOnce(io::Error) -> Failure {
    move |source| Failure::Entry(Problem::Io { op, source })
}

fn nix_problem(op: &'static str) -> impl FnOnce(nix::Error) -> Failure {
    move |errno| {
        Failure::Entry(Problem::Io {
            op,
            source: errno.into(),
        })
    }
}

/// What the header and its PAX records say about an entry's metadata.
struct Meta {
    mode: Mode,
    uid: Uid,
    gid: Gid,
    mtime: TimeSpec,
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), Failure> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(Failure::Limit(Limit::Entries(self.limits.max_entries)));
        }
        let raw_name = entry.path_bytes().into_owned();
        let link_name = entry.link_name_bytes().map(|l| l.into_owned());
        let longest = raw_name.len().max(link_name.as_ref().map_or(0, Vec::len));
        if longest > self.limits.max_path_len {
            return Err(Failure::Limit(Limit::PathLen(self.limits.max_path_len)));
        }
        let declared = entry.size();
        let over = |so_far: u64| so_far.saturating_add(declared) > self.limits.max_bytes;
        // Refused on the header's word, before a byte of a bomb is read; a GNU sparse
        // entry's declared size is what it expands to on disk.
        if over(self.meter.total()) || over(self.size) {
            return Err(Failure::Limit(Limit::Bytes(self.limits.max_bytes)));
        }
        let mut kind = entry.header().entry_type();
        // A pre-POSIX tar marks a directory by its name's trailing `/` alone, with the old
        // regular type '\0' (read so by GNU tar and Go's archive/tar alike).
        if entry.header().as_old().linkflag[0] == 0 && raw_name.ends_with(b"/") {
            kind = EntryType::Directory;
        }
        if kind == EntryType::XGlobalHeader {
            // `git archive` writes one (the commit id); nothing in it applies to files.
            return self.drain(&mut entry);
        }
        let target = Target::parse(&raw_name).map_err(Problem::Name)?;
        let place = match target {
            Target::AufsMeta => return self.drain(&mut entry),
            Target::Whiteout(hidden) => {
                self.whiteout(&hidden)?;
                return self.drain(&mut entry);
            }
            Target::Opaque(dir) => {
                self.opaque(&dir)?;
                return self.drain(&mut entry);
            }
            Target::Plain(place) => place,
        };
        let meta = self.meta(&mut entry)?;
        let Some((parent_components, file_name)) = place.split_last() else {
            if kind != EntryType::Directory {
                return Err(Problem::Root(kind_name(kind)).into());
            }
            apply_to_fd(self.root.fd(), &meta, &mut self.ignored_xattrs)?;
            self.dir_times.insert(place.clone(), meta.mtime);
            return self.drain(&mut entry);
        };
        let parent = self.root.dir(parent_components).map_err(io_problem(
            "resolving its parent directory in the layer root",
        ))?;
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                // Read to its end: nothing is left to drain.
                return self.regular(&mut entry, &parent, file_name, &meta);
            }
            EntryType::Directory => {
                self.directory(&parent, file_name, &meta)?;
                self.dir_times.insert(place.clone(), meta.mtime);
            }
            EntryType::Symlink => {
                let target = link_name.unwrap_or_default();
                replace(&parent, file_name)?;
                // The target is stored as written: it is read in the container's root,
                // and every path this unpack resolves is held in the layer root anyway.
                symlinkat(target.as_slice(), &parent, file_name)
                    .map_err(nix_problem("creating the symlink"))?;
                apply_at(&parent, file_name, &meta, false, &mut self.ignored_xattrs)?;
            }
            EntryType::Link => {
                self.hard_link(&parent, file_name, link_name.as_deref().unwrap_or_default())?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (sflag, device) = match kind {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    _ => {
                        let number = |n: io::Result<Option<u32>>| {
                            n.map_err(header_problem)?
                                .ok_or(Problem::Header(io::Error::other(
                                    "no device numbers in a V7 header",
                                )))
                        };
                        let major = number(entry.header().device_major())?;
                        let minor = number(entry.header().device_minor())?;
                        let sflag = if kind == EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (sflag, makedev(major.into(), minor.into()))
                    }
                };
                replace(&parent, file_name)?;
                mknodat(
                    &parent,
                    file_name,
                    sflag,
                    Mode::from_bits_truncate(0o600),
                    device,
                )
                .map_err(nix_problem("creating the node"))?;
                apply_at(&parent, file_name, &meta, true, &mut self.ignored_xattrs)?;
            }
            other => {
                return Err(Problem::Unsupported(char::from(other.as_byte())).into());
            }
        }
        self.drain(&mut entry)
    }

    /// Reads what is left of an entry's data (a symlink or directory may carry some): the
    /// diff_id covers it, and a stream cut short inside it is an error, not an early end.
    fn drain<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), Failure> {
        let declared = entry.header().entry_size().map_err(header_problem)?;
        let mut got = 0u64;
        loop {
            let n = entry.read(&mut self.buffer).map_err(Failure::Stream)?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        if entry.header().entry_type() != EntryType::GNUSparse && got < declared {
            return Err(Problem::Truncated { declared, got }.into());
        }
        Ok(())
    }

    fn meta<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<Meta, Failure> {
        let header = entry.header();
        let old = header.as_old();
        let mode = numeric(header.mode().map(u64::from), &old.mode)?;
        let id = |n: io::Result<u64>, field: &[u8]| -> Result<u32, Problem> {
            let n = numeric(n, field)?;
            u32::try_from(n)
                .map_err(|_| Problem::Header(io::Error::other(format!("id {n} is over 32 bits"))))
        };
        let uid = id(header.uid(), &old.uid)?;
        let gid = id(header.gid(), &old.gid)?;
        let seconds = numeric(header.mtime(), &old.mtime)?;
        let mut mtime = TimeSpec::new(i64::try_from(seconds).unwrap_or(i64::MAX), 0);
        let mut xattrs = Vec::new();
        if let Some(records) = entry.pax_extensions().map_err(header_problem)? {
            for record in records {
                let record = record.map_err(|e| Problem::Pax(e.to_string()))?;
                let key = record.key_bytes();
                if key == b"mtime" {
                    if let Some(time) = pax_time(record.value_bytes()) {
                        mtime = time;
                    }
                } else if let Some(xattr_name) = key.strip_prefix(PAX_XATTR) {
                    if OVERLAY_XATTRS.iter().any(|p| xattr_name.starts_with(p)) {
                        self.ignored_xattrs += 1;
                        continue;
                    }
                    let c_name = CString::new(xattr_name).map_err(|_| {
                        Problem::Pax(format!(
                            "xattr name {:?} holds a NUL byte",
                            shown(xattr_name)
                        ))
                    })?;
                    xattrs.push((c_name, record.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta {
            mode: Mode::from_bits_truncate((mode & 0o7777) as u32),
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(gid),
            mtime,
            xattrs,
        })
    }

    fn regular<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: &OwnedFd,
        file_name: &[u8],
        meta: &Meta,
    ) -> Result<(), Failure> {
        // O_EXCL|O_NOFOLLOW: created here and now, never an existing file or a symlink's
        // target (an entry already there is removed first). Its permission bits are
        // given at creation, so that the common file needs no chmod after; setuid and
        // setgid come only after the owner is set.
        let create = || {
            openat(
                parent,
                file_name,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(meta.mode.bits() & 0o777),
            )
        };
        // Tried first, replaced only when something is in the way: most entries are new,
        // and a lookup per entry is work the kernel does for nothing.
        let fd = match create() {
            Err(nix::Error::EEXIST) => {
                replace(parent, file_name)?;
                create()
            }
            other => other,
        }
        .map_err(nix_problem("creating the file"))?;
        let mut file = File::from(fd);
        let declared = entry.size();
        let mut got = 0u64;
        let mut ends_in_hole = false;
        loop {
            let n = entry.read(&mut self.buffer).map_err(Failure::Stream)?;
            if n == 0 {
                break;
            }
            let chunk = &self.buffer[..n];
            // Runs of zeros become holes: a GNU sparse entry (or a file of zeros) takes
            // no more disk than it did where it was made.
            ends_in_hole = chunk.iter().all(|&b| b == 0);
            if ends_in_hole {
                file.seek(SeekFrom::Current(n as i64))
                    .map_err(io_problem("writing its data"))?;
            } else {
                file.write_all(chunk)
                    .map_err(io_problem("writing its data"))?;
            }
            got += n as u64;
        }
        if got < declared {
            return Err(Problem::Truncated { declared, got }.into());
        }
        // A trailing hole is made by the length alone.
        if ends_in_hole {
            file.set_len(got).map_err(io_problem("writing its data"))?;
        }
        self.size += got;
        apply_to_fd(file.as_fd(), meta, &mut self.ignored_xattrs)?;
        futimens(&file, &meta.mtime, &meta.mtime).map_err(nix_problem("setting its mtime"))?;
        Ok(())
    }

    fn directory(
        &mut self,
        parent: &OwnedFd,
        file_name: &[u8],
        meta: &Meta,
    ) -> Result<(), Failure> {
        let existing =
            lstat_at(parent, file_name).map_err(io_problem("looking at the existing entry"))?;
        match existing {
            // A directory over a directory keeps it (and what the layer put in it).
            Some(stat) if is_dir(&stat) => {}
            other => {
                if let Some(stat) = other {
                    remove_at(parent.as_fd(), file_name, &stat)
                        .map_err(io_problem("removing the entry it replaces"))?;
                }
                mkdirat(parent, file_name, Mode::from_bits_truncate(0o700))
                    .map_err(nix_problem("creating the directory"))?;
            }
        }
        let dir = openat(
            parent,
            file_name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(nix_problem("opening the directory"))?;
        apply_to_fd(dir.as_fd(), meta, &mut self.ignored_xattrs)
    }

    fn hard_link(
        &mut self,
        parent: &OwnedFd,
        file_name: &[u8],
        raw_target: &[u8],
    ) -> Result<(), Failure> {
        let target_name = shown(raw_target);
        let place = InRoot::parse(raw_target).map_err(|problem| Problem::LinkName {
            target: target_name.clone(),
            problem,
        })?;
        let link_error = |source: io::Error| {
            Failure::Entry(Problem::HardLink {
                target: target_name.clone(),
                source,
            })
        };
        // Resolved in the layer root with the last component not followed: a target of
        // `../../host/file`, `/etc/shadow` or a path through a planted symlink can only
        // name something this layer made, and a symlink is linked as itself, never its
        // target (the hard-link breakout of Docker's CVE-2014-6407 class).
        let target = self
            .root
            .resolve(place.components(), OFlag::O_PATH | OFlag::O_NOFOLLOW)
            .map_err(link_error)?;
        let target_stat = nix::sys::stat::fstat(&target).map_err(|e| link_error(e.into()))?;
        if let Some(existing) =
            lstat_at(parent, file_name).map_err(io_problem("looking at the existing entry"))?
        {
            if existing.st_dev == target_stat.st_dev && existing.st_ino == target_stat.st_ino {
                return Ok(());
            }
            remove_at(parent.as_fd(), file_name, &existing)
                .map_err(io_problem("removing the entry it replaces"))?;
        }
        // AT_EMPTY_PATH links the very inode the fd holds (this needs CAP_DAC_READ_SEARCH;
        // unpacking runs as root).
        linkat(&target, c"", parent, file_name, AtFlags::AT_EMPTY_PATH)
            .map_err(|e| link_error(e.into()))
    }

    /// `dir/.wh.name` becomes the overlay whiteout `dir/name`, a 0:0 character device.
    fn whiteout(&mut self, hidden: &InRoot) -> Result<(), Failure> {
        let Some((parent_components, file_name)) = hidden.split_last() else {
            return Err(Problem::Root("whiteout").into());
        };
        let parent = self.root.dir(parent_components).map_err(io_problem(
            "resolving its parent directory in the layer root",
        ))?;
        // A whiteout hides the lower layers' entry only (image-spec layer.md): when this
        // layer has its own entry of that name, that entry already hides the lower one.
        if lstat_at(&parent, file_name)
            .map_err(io_problem("looking at the existing entry"))?
            .is_some()
        {
            return Ok(());
        }
        mknodat(
            &parent,
            file_name,
            SFlag::S_IFCHR,
            Mode::empty(),
            makedev(0, 0),
        )
        .map_err(nix_problem("creating the overlay whiteout"))
    }

    /// `dir/.wh..wh..opq` becomes `trusted.overlay.opaque=y` on `dir`.
    fn opaque(&mut self, dir: &InRoot) -> Result<(), Failure> {
        let fd = if dir.is_root() {
            nix::unistd::dup(self.root.fd()).map_err(nix_problem("opening the layer root"))?
        } else {
            // Made when the layer lists the marker before (or without) its directory.
            self.root.dir(dir.components()).map_err(io_problem(
                "resolving the opaque directory in the layer root",
            ))?;
            self.root
                .resolve(dir.components(), OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .map_err(io_problem("opening the opaque directory"))?
        };
        xattr::fset(&fd, OPAQUE_XATTR, b"y").map_err(|source| {
            Failure::Entry(Problem::Xattr {
                name: "trusted.overlay.opaque".into(),
                source,
            })
        })
    }

    fn set_dir_times(&mut self) -> Result<(), UnpackError> {
        for (place, mtime) in &self.dir_times {
            let error = |source: io::Error| UnpackError::Entry {
                entry: shown(&InRoot::joined(place.components())),
                problem: Problem::Io {
                    op: "setting the directory's mtime",
                    source,
                },
            };
            let Some((parent_components, file_name)) = place.split_last() else {
                futimens(self.root.fd(), mtime, mtime).map_err(|e| error(e.into()))?;
                continue;
            };
            // Replaced by a later entry of another kind: that entry has its own mtime.
            let Ok(parent) = self
                .root
                .resolve(parent_components, OFlag::O_PATH | OFlag::O_DIRECTORY)
            else {
                continue;
            };
            match lstat_at(&parent, file_name) {
                Ok(Some(stat)) if is_dir(&stat) => {}
                _ => continue,
            }
            utimensat(
                &parent,
                file_name,
                mtime,
                mtime,
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(|e| error(e.into()))?;
        }
        Ok(())
    }
}

/// A later entry of the same name replaces an earlier one: whatever is there goes.
fn replace(parent: &OwnedFd, file_name: &[u8]) -> Result<(), Failure> {
    if let Some(stat) =
        lstat_at(parent, file_name).map_err(io_problem("looking at the existing entry"))?
    {
        remove_at(parent.as_fd(), file_name, &stat)
            .map_err(io_problem("removing the entry it replaces"))?;
    }
    Ok(())
}

/// Owner, xattrs and mode through an fd of the file itself. Owner first: chown clears
/// setuid/setgid and `security.capability`, so those are set after it.
/// What already holds (a root-owned file made with its mode, the common case) is not
/// set again: each change is an inode update the file system journals.
fn apply_to_fd(fd: BorrowedFd<'_>, meta: &Meta, ignored: &mut u64) -> Result<(), Failure> {
    let now = nix::sys::stat::fstat(fd).map_err(nix_problem("looking at what it made"))?;
    let chown = now.st_uid != meta.uid.as_raw() || now.st_gid != meta.gid.as_raw();
    if chown {
        fchown(fd, Some(meta.uid), Some(meta.gid)).map_err(nix_problem("setting its owner"))?;
    }
    for (name, value) in &meta.xattrs {
        set_xattr(xattr::fset(fd, name, value), name, ignored)?;
    }
    // After a chown the kernel may have cleared setuid/setgid: set the mode again.
    if chown || now.st_mode & 0o7777 != meta.mode.bits() {
        fchmod(fd, meta.mode).map_err(nix_problem("setting its mode"))?;
    }
    Ok(())
}

/// The same for an entry that cannot be opened for it (a symlink, a device, a fifo): by
/// its name in the parent fd, never following it.
fn apply_at(
    parent: &OwnedFd,
    file_name: &[u8],
    meta: &Meta,
    chmod: bool,
    ignored: &mut u64,
) -> Result<(), Failure> {
    fchownat(
        parent,
        file_name,
        Some(meta.uid),
        Some(meta.gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(nix_problem("setting its owner"))?;
    if !meta.xattrs.is_empty() {
        let path = xattr::at_path(parent.as_fd(), file_name)
            .map_err(io_problem("naming it for its xattrs"))?;
        for (name, value) in &meta.xattrs {
            set_xattr(xattr::lset(&path, name, value), name, ignored)?;
        }
    }
    if chmod {
        fchmodat(parent, file_name, meta.mode, FchmodatFlags::NoFollowSymlink)
            .map_err(nix_problem("setting its mode"))?;
    }
    utimensat(
        parent,
        file_name,
        &meta.mtime,
        &meta.mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(nix_problem("setting its mtime"))
}

/// An attribute the file system or the kind of file cannot hold (`user.*` on a symlink,
/// anything on a file system without xattrs) is skipped and counted, as containerd does;
/// any other failure is the entry's.
fn set_xattr(
    result: io::Result<()>,
    name: &std::ffi::CStr,
    ignored: &mut u64,
) -> Result<(), Failure> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(code) if code == nix::libc::ENOTSUP || code == nix::libc::EPERM) =>
        {
            *ignored += 1;
            Ok(())
        }
        Err(source) => Err(Problem::Xattr {
            name: name.to_string_lossy().into_owned(),
            source,
        }
        .into()),
    }
}

/// The tar reader's errors quote the bytes of a garbage header: escaped and cut, so the
/// error stays one short line whatever the stream holds.
fn one_line(error: io::Error) -> io::Error {
    let text = error.to_string();
    if text.len() <= 300 && !text.chars().any(char::is_control) {
        return error;
    }
    let mut tidy: String = text
        .chars()
        .take(300)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > 300 {
        tidy.push_str("...");
    }
    io::Error::new(error.kind(), tidy)
}

fn header_problem(error: io::Error) -> Problem {
    Problem::Header(one_line(error))
}

/// A numeric header field; one left blank (NULs or spaces) reads as 0, as Go's
/// archive/tar reads it, since some writers leave unused fields so.
fn numeric(parsed: io::Result<u64>, field: &[u8]) -> Result<u64, Problem> {
    match parsed {
        Ok(n) => Ok(n),
        Err(_) if field.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        Err(e) => Err(header_problem(e)),
    }
}

/// A PAX time, `seconds[.fraction]`, possibly negative.
fn pax_time(value: &[u8]) -> Option<TimeSpec> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let digits = &fraction[..fraction.len().min(9)];
    let nanos: i64 = if digits.is_empty() {
        0
    } else {
        digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32)
    };
    Some(if negative {
        if nanos == 0 {
            TimeSpec::new(-seconds, 0)
        } else {
            TimeSpec::new(-seconds - 1, 1_000_000_000 - nanos)
        }
    } else {
        TimeSpec::new(seconds, nanos)
    })
}

fn kind_name(kind: EntryType) -> &'static str {
    match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => "regular file",
        EntryType::Link => "hard link",
        EntryType::Symlink => "symlink",
        EntryType::Char => "character device",
        EntryType::Block => "block device",
        EntryType::Fifo => "fifo",
        EntryType::Directory => "directory",
        _ => "non-directory",
    }
}

#[cfg(test)]
mod tests;
