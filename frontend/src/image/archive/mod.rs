//! Image archives: `save` writes, `load` reads docker-archive (`docker save`, old and
//! new) and oci-archive (an OCI image layout in a tar, as podman and skopeo write).

mod load;
mod save;

pub use load::{load, LoadedImage};
pub use save::save;

use crate::image::add::AddError;
use crate::image::local::LocalError;
use crate::image::reference::ReferenceError;
use crate::store::blobs::BlobError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Add(#[from] AddError),
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("reading the archive: {0}")]
    Read(std::io::Error),
    #[error("writing the archive: {0}")]
    Write(std::io::Error),
    #[error("archive: {what}: {problem}")]
    Invalid { what: String, problem: String },
}

impl ArchiveError {
    pub(crate) fn write(e: std::io::Error) -> ArchiveError {
        ArchiveError::Write(e)
    }

    pub(crate) fn json(e: serde_json::Error) -> ArchiveError {
        ArchiveError::Write(e.into())
    }

    pub(crate) fn invalid(what: impl Into<String>, problem: impl Into<String>) -> ArchiveError {
        ArchiveError::Invalid {
            what: what.into(),
            problem: problem.into(),
        }
    }
}
