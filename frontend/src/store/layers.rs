//! Unpacked layers: each diff (by its diff_id) is unpacked once, into `layers/<id>`,
//! and shared by every image that has it. The directory name is the row's number in
//! base 36: an overlay mount lists every lower dir in one page of options, and short
//! names are what let a 128-layer image fit.
//!
//! A layer is unpacked into `layers/tmp-…` first and renamed into place in the same
//! transaction that records it, so a directory under its final name is always whole.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;
use rusqlite::{params, OptionalExtension};

use super::{io_error, lock, Store, StoreError};
use crate::image::reference::Digest;

/// A layer in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub id: i64,
    pub diff_id: String,
    /// Bytes of its files, as unpacked.
    pub size: u64,
}

/// Where a layer an image needs stands.
pub enum LayerSlot {
    Present(Layer),
    Staged(StagedLayer),
}

/// A layer this process is unpacking: its staging dir, and its lock.
pub struct StagedLayer {
    key: String,
    pub staging: PathBuf,
    lock_path: PathBuf,
    _lock: Flock<File>,
}

impl StagedLayer {
    pub fn diff_id(&self) -> &str {
        &self.key
    }

    /// Gives the layer up: what was unpacked is nobody's, the store stays as it was.
    pub fn abandon(self) {
        let _ = remove_tree(&self.staging);
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// What unpacking a layer gave: its diff_id as computed from the bytes, and its size.
#[derive(Debug)]
pub struct UnpackedLayer {
    pub diff_id: Digest,
    pub size: u64,
}

impl From<super::db::DbError> for LayerError {
    fn from(e: super::db::DbError) -> LayerError {
        LayerError::Store(e.into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("layer {expected}: its uncompressed content hashes to {got} (the image config's diff_id differs)")]
    WrongDiffId { expected: String, got: String },
    #[error("layer {diff_id}: {source:#}")]
    Unpack {
        diff_id: String,
        source: anyhow::Error,
    },
}

/// The name of layer `id`'s directory.
pub fn dir_name(id: i64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut n = id.unsigned_abs();
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    // Only ASCII digits and letters were pushed.
    String::from_utf8(out).unwrap_or_default()
}

impl Store {
    pub fn layers_dir(&self) -> PathBuf {
        self.root().join("layers")
    }

    pub fn layer_dir(&self, id: i64) -> PathBuf {
        self.layers_dir().join(dir_name(id))
    }

    pub fn layer(&self, diff_id: &str) -> Result<Option<Layer>, StoreError> {
        self.db
            .conn()
            .query_row(
                "SELECT id, diff_id, size FROM layers WHERE diff_id = ?1",
                [diff_id],
                |row| {
                    Ok(Layer {
                        id: row.get(0)?,
                        diff_id: row.get(1)?,
                        size: row.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.db.error(e).into())
    }

    /// The layer `diff_id` if the store has it, else a staging directory to unpack it
    /// into, with the layer's lock held until it is recorded or abandoned: a second
    /// process unpacking the same layer waits here, then finds it present. A process
    /// staging several layers must stage them in one order (by diff_id), or two of
    /// them could each hold a lock the other waits for.
    pub fn stage_layer(&self, diff_id: &Digest) -> Result<LayerSlot, LayerError> {
        let key = diff_id.to_string();
        if let Some(layer) = self.layer(&key)? {
            return Ok(LayerSlot::Present(layer));
        }
        let lock_path =
            self.layers_dir()
                .join(format!("lock-{}-{}", diff_id.algorithm(), diff_id.hex()));
        let lock = lock::lock(&lock_path, true).map_err(io_error(&lock_path))?;
        if let Some(layer) = self.layer(&key)? {
            return Ok(LayerSlot::Present(layer));
        }
        let staging =
            self.layers_dir()
                .join(format!("tmp-{}-{}", diff_id.hex(), std::process::id()));
        remove_tree(&staging)?;
        fs::create_dir(&staging).map_err(io_error(&staging))?;
        Ok(LayerSlot::Staged(StagedLayer {
            key,
            staging,
            lock_path,
            _lock: lock,
        }))
    }

    /// Records a layer unpacked into its staging dir: checked against its diff_id,
    /// renamed into place in the transaction that inserts its row.
    pub fn record_layer(
        &mut self,
        staged: StagedLayer,
        unpacked: UnpackedLayer,
    ) -> Result<Layer, LayerError> {
        let result = self.record_staged(&staged, unpacked);
        if result.is_err() {
            staged.abandon();
        } else {
            let _ = fs::remove_file(&staged.lock_path);
        }
        result
    }

    fn record_staged(
        &mut self,
        staged: &StagedLayer,
        unpacked: UnpackedLayer,
    ) -> Result<Layer, LayerError> {
        let key = &staged.key;
        if unpacked.diff_id.to_string() != *key {
            return Err(LayerError::WrongDiffId {
                expected: key.clone(),
                got: unpacked.diff_id.to_string(),
            });
        }
        let layers_dir = self.layers_dir();
        let sql = self.db.errors();
        let tx = self.db.write()?;
        let id = tx
            .query_row(
                "INSERT INTO layers (diff_id, size) VALUES (?1, ?2) RETURNING id",
                params![key, unpacked.size as i64],
                |row| row.get::<_, i64>(0),
            )
            .map_err(&sql)?;
        let dir = layers_dir.join(dir_name(id));
        // A directory under this name without a row is a leftover of a process that
        // died between rename and commit (the id was handed out again on rollback).
        remove_tree(&dir)?;
        fs::rename(&staged.staging, &dir).map_err(io_error(&dir))?;
        tx.commit().map_err(&sql)?;
        Ok(Layer {
            id,
            diff_id: key.clone(),
            size: unpacked.size,
        })
    }

    /// The layer `diff_id`, unpacked by `unpack` into the empty directory it is given
    /// if the store does not have it yet; whether it was unpacked now.
    pub fn ensure_layer(
        &mut self,
        diff_id: &Digest,
        unpack: impl FnOnce(&Path) -> anyhow::Result<UnpackedLayer>,
    ) -> Result<(Layer, bool), LayerError> {
        let staged = match self.stage_layer(diff_id)? {
            LayerSlot::Present(layer) => return Ok((layer, false)),
            LayerSlot::Staged(staged) => staged,
        };
        match unpack(&staged.staging) {
            Ok(unpacked) => self.record_layer(staged, unpacked).map(|l| (l, true)),
            Err(source) => {
                let diff_id = staged.key.clone();
                staged.abandon();
                Err(LayerError::Unpack { diff_id, source })
            }
        }
    }

    /// Removes layers no image names any more; returns how many. Call with the gc
    /// lock held.
    pub(crate) fn remove_unused_layers(&mut self) -> Result<Vec<Layer>, StoreError> {
        let sql = self.db.errors();
        let tx = self.db.write()?;
        let unused: Vec<Layer> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id, diff_id, size FROM layers
                     WHERE id NOT IN (SELECT layer_id FROM image_layers)",
                )
                .map_err(&sql)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok(Layer {
                        id: row.get(0)?,
                        diff_id: row.get(1)?,
                        size: row.get::<_, i64>(2)? as u64,
                    })
                })
                .map_err(&sql)?;
            rows.collect::<Result<_, _>>().map_err(&sql)?
        };
        tx.execute(
            "DELETE FROM layers WHERE id NOT IN (SELECT layer_id FROM image_layers)",
            [],
        )
        .map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        // Rows first, then files: a crash in between leaves a directory nothing names,
        // which the next collection removes, never a row naming a missing directory.
        for layer in &unused {
            remove_tree(&self.layer_dir(layer.id))?;
        }
        self.remove_orphan_layer_dirs()?;
        Ok(unused)
    }

    /// Layer directories that no row names: leftovers of crashed processes.
    fn remove_orphan_layer_dirs(&self) -> Result<(), StoreError> {
        let dir = self.layers_dir();
        let known: std::collections::HashSet<String> = {
            let mut stmt = self
                .db
                .conn()
                .prepare("SELECT id FROM layers")
                .map_err(|e| self.db.error(e))?;
            let ids = stmt
                .query_map([], |row| row.get::<_, i64>(0))
                .map_err(|e| self.db.error(e))?;
            ids.map(|id| id.map(dir_name))
                .collect::<Result<_, _>>()
                .map_err(|e| self.db.error(e))?
        };
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Staging dirs and lock files belong to writers, which the gc lock keeps
            // out; one left by a dead writer is removed with its name's owner gone.
            let stale_staging = name.starts_with("tmp-")
                && name
                    .rsplit('-')
                    .next()
                    .and_then(|pid| pid.parse::<i32>().ok())
                    .is_some_and(|pid| !process_alive(pid));
            if (!name.contains('-') && !known.contains(&name)) || stale_staging {
                remove_tree(&entry.path())?;
            }
        }
        Ok(())
    }
}

fn process_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes a tree that may hold read-only directories and whiteout devices (no
/// permission bit stops root), tolerating its absence.
pub(crate) fn remove_tree(path: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(path)(e)),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).map_err(io_error(path)),
        Ok(_) => fs::remove_file(path).map_err(io_error(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_are_base_36_and_short() {
        assert_eq!(dir_name(1), "1");
        assert_eq!(dir_name(35), "z");
        assert_eq!(dir_name(36), "10");
        assert_eq!(dir_name(36 * 36 * 36 * 36 - 1), "zzzz");
    }
}
