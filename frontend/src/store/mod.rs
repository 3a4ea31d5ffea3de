//! The store under `/var/lib/berth` (`--root`): content-addressed blobs, unpacked
//! layers, metadata.
//!
//! ```text
//! berth.db        SQLite: images, names, layers (db.rs)
//! store.lock      shared by whoever adds content, exclusive for removing it (gc)
//! blobs/          manifests, configs, layer tarballs by digest (blobs.rs)
//! layers/<id>     one unpacked layer each, an overlay lower dir (layers.rs)
//! ```

pub mod blobs;
pub mod containers;
pub mod db;
pub mod images;
pub mod layers;
mod lock;
pub mod networks;
mod spread;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;

use blobs::{BlobError, BlobStore};
use db::{Db, DbError};

pub const DEFAULT_ROOT: &str = "/var/lib/berth";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One open store.
pub struct Store {
    root: PathBuf,
    pub db: Db,
    pub blobs: BlobStore,
}

/// Held while content is being added: blobs and layers that no row names yet must
/// not be collected under the writer's feet.
pub struct AddGuard(#[allow(dead_code)] Flock<File>);

/// Held while unreferenced content is removed.
pub struct GcGuard(#[allow(dead_code)] Flock<File>);

impl Store {
    /// Opens the store at `root`, making what is missing.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for dir in [root.to_path_buf(), root.join("layers")] {
            fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        }
        // Each layer is a tree of its own, created after others were removed.
        spread::spread_subdirectories(&root.join("layers"));
        let db = Db::open(root)?;
        let blobs = BlobStore::open(root)?;
        Ok(Store {
            root: root.to_path_buf(),
            db,
            blobs,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock_path(&self) -> PathBuf {
        self.root.join("store.lock")
    }

    pub fn adding(&self) -> Result<AddGuard, StoreError> {
        let path = self.lock_path();
        lock::lock(&path, false)
            .map(AddGuard)
            .map_err(io_error(&path))
    }

    pub fn collecting(&self) -> Result<GcGuard, StoreError> {
        let path = self.lock_path();
        lock::lock(&path, true)
            .map(GcGuard)
            .map_err(io_error(&path))
    }
}
