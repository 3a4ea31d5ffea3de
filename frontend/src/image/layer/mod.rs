//! Layers: an OCI layer tar unpacked into a directory overlayfs uses as a lower dir, and
//! an overlay upper dir written back as a layer tar (for `commit`).
//!
//! Unpacking reads tars from registries, that is from anyone: every name is resolved by
//! the kernel inside the destination (`root.rs`), sizes and counts are bounded by
//! [`Limits`], and any input ends in `Ok` or an [`UnpackError`] that names the entry or
//! the byte offset. On error the destination holds a partial tree that the caller
//! removes; nothing outside it is created, written or linked.
//!
//! Whiteouts (image-spec layer.md): `dir/.wh.name` becomes the overlay whiteout
//! `dir/name` (a 0:0 character device) and `dir/.wh..wh..opq` the xattr
//! `trusted.overlay.opaque=y` on `dir`; `diff` does the reverse. Each layer is unpacked
//! alone into its own directory: no lower layer is looked at.
//!
//! Xattrs come from PAX `SCHILY.xattr.*` records (what Go's archive/tar, and so Docker and
//! BuildKit, write). `trusted.overlay.*` and `user.overlay.*` from a layer are skipped and
//! counted: overlayfs reads them as its own, so a layer could forge whiteouts, opaque
//! directories or redirects with them. The same names are left out by `diff`.

mod diff;
mod error;
mod meter;
mod path;
mod root;
mod unpack;
mod xattr;

#[cfg(test)]
mod test_support;

pub use diff::diff;
pub use error::{At, DiffError, Limit, Problem, UnpackError};
pub use path::NameProblem;
pub use unpack::unpack;

use crate::image::reference::Digest;

/// Bounds on what one layer may make `unpack` read and write.
///
/// Memory grows with the number of directory entries (their mtimes are set at the end),
/// and with `max_header_bytes` for one entry's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the uncompressed tar, and bytes of file content it may expand to
    /// (a GNU sparse entry's content can be far larger than its bytes in the tar).
    pub max_bytes: u64,
    /// Entries in the tar (PAX and GNU long-name records not counted).
    pub max_entries: u64,
    /// Bytes of one entry's name or link target.
    pub max_path_len: usize,
    /// Bytes of headers, PAX records and GNU long names read for one entry: the tar
    /// reader holds them in memory.
    pub max_header_bytes: u64,
}

impl Default for Limits {
    /// Far above any real image (the largest layers are a few GiB, a full distribution a
    /// few hundred thousand files), far below what would exhaust a host.
    fn default() -> Limits {
        Limits {
            max_bytes: 64 << 30,
            max_entries: 10_000_000,
            max_path_len: 4096,
            max_header_bytes: 16 << 20,
        }
    }
}

/// What `unpack` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar, read to its end (padding and all): the value the
    /// image config's `rootfs.diff_ids` lists, and `sha256sum` of the tar gives.
    pub diff_id: Digest,
    /// Bytes of regular file content written.
    pub size: u64,
    /// Entries read (PAX and GNU long-name records not counted).
    pub entries: u64,
    /// Xattrs not set: overlay's own names, and names the file system or the kind of
    /// file cannot hold.
    pub ignored_xattrs: u64,
}

/// What `diff` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diffed {
    /// sha256 of the tar written.
    pub diff_id: Digest,
    /// Bytes of the tar written (uncompressed).
    pub size: u64,
}
