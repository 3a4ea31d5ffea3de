//! What went wrong while unpacking or diffing a layer, and where.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::path::NameProblem;

/// Where in the stream an error happened: at an entry, or in the headers after one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// The first header, before any entry was read.
    Start,
    /// An entry (its name as the tar gives it).
    Entry(String),
    /// The headers that follow this entry.
    After(String),
    /// The end of the archive: its padding and trailing blocks.
    End,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Start => write!(f, "the first header"),
            At::Entry(name) => write!(f, "entry {name:?}"),
            At::After(name) => write!(f, "the header after entry {name:?}"),
            At::End => write!(f, "the end of the archive"),
        }
    }
}

/// A limit of [`super::Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `max_bytes`: of the uncompressed tar, or of the file content it expands to.
    Bytes(u64),
    /// `max_entries`.
    Entries(u64),
    /// `max_path_len`: bytes of one entry's name or link target.
    PathLen(usize),
    /// `max_header_bytes`: headers and PAX / GNU long-name records before one entry.
    HeaderBytes(u64),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Bytes(n) => write!(f, "max_bytes ({n} bytes uncompressed)"),
            Limit::Entries(n) => write!(f, "max_entries ({n} entries)"),
            Limit::PathLen(n) => write!(f, "max_path_len ({n} bytes in a name)"),
            Limit::HeaderBytes(n) => {
                write!(f, "max_header_bytes ({n} bytes of headers for one entry)")
            }
        }
    }
}

/// Why a layer did not unpack. The destination then holds a partial tree: the caller
/// discards it (`unpack` never touches anything outside it).
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer destination {path}: {source}")]
    Dest { path: PathBuf, source: io::Error },
    #[error("layer destination {path} is not an empty directory")]
    NotEmpty { path: PathBuf },
    /// The stream itself: a corrupt gzip or zstd stream, a garbage tar header, a stream
    /// cut short. `offset` counts bytes of the uncompressed tar.
    #[error("layer stream unreadable at byte {offset} of the uncompressed tar ({at}): {source}")]
    Stream {
        offset: u64,
        at: At,
        source: io::Error,
    },
    #[error("layer goes over its limit {limit} at {at}")]
    Limit { limit: Limit, at: At },
    #[error("layer entry {entry:?}: {problem}")]
    Entry { entry: String, problem: Problem },
}

/// What is wrong with one entry.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("{0}")]
    Name(NameProblem),
    #[error("hard link target {target:?}: {problem}")]
    LinkName {
        target: String,
        problem: NameProblem,
    },
    #[error("a {0} entry cannot name the layer root")]
    Root(&'static str),
    #[error("its header declares {declared} bytes of data, the stream ended after {got}")]
    Truncated { declared: u64, got: u64 },
    #[error("tar entry type {0:?} is not supported")]
    Unsupported(char),
    #[error("unreadable header field: {0}")]
    Header(io::Error),
    #[error("malformed PAX record: {0}")]
    Pax(String),
    #[error("{op}: {source}")]
    Io { op: &'static str, source: io::Error },
    #[error("hard link to {target:?}: {source}")]
    HardLink { target: String, source: io::Error },
    #[error("xattr {name:?}: {source}")]
    Xattr { name: String, source: io::Error },
}

/// Why an upper directory did not become a layer tar.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("upper dir {path:?}: {op}: {source}")]
    Read {
        path: String,
        op: &'static str,
        source: io::Error,
    },
    #[error("upper dir {path:?}: {problem}")]
    Unrepresentable { path: String, problem: String },
    #[error("writing the layer tar at {path:?}: {source}")]
    Write { path: String, source: io::Error },
}
