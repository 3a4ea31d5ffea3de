//! Image records: an image is its config (its id is the config's digest), a manifest
//! for it, its layers in order, and any number of names (tags) and repository digests.

use std::collections::HashSet;
use std::fs;

use rusqlite::{params, OptionalExtension, Row};

use super::layers::{remove_tree, Layer};
use super::{io_error, Store, StoreError};
use crate::image::reference::{Digest, Reference};

/// An image as `berth images` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub id: String,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub created: Option<String>,
    pub size: u64,
    pub added_at: i64,
    /// Full names, `docker.io/library/busybox:latest`, sorted.
    pub tags: Vec<String>,
    /// `docker.io/library/busybox@sha256:…`, sorted.
    pub repo_digests: Vec<String>,
}

/// One layer of an image: the unpacked layer and the blob it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    pub layer: Layer,
    pub blob_digest: String,
    pub blob_media_type: String,
    pub blob_size: u64,
}

/// What is recorded for a new image; its layers are in the store already.
pub struct NewImage {
    pub id: Digest,
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub created: Option<String>,
    pub layers: Vec<ImageLayer>,
}

fn record_row(row: &Row<'_>) -> rusqlite::Result<ImageRecord> {
    Ok(ImageRecord {
        id: row.get(0)?,
        manifest_digest: row.get(1)?,
        manifest_media_type: row.get(2)?,
        created: row.get(3)?,
        size: row.get::<_, i64>(4)? as u64,
        added_at: row.get(5)?,
        tags: Vec::new(),
        repo_digests: Vec::new(),
    })
}

const RECORD_COLUMNS: &str = "id, manifest_digest, manifest_media_type, created, size, added_at";

impl Store {
    /// Records `image` (or refreshes the record of the same id) and points `tags` and
    /// `repo_digest` at it, in one transaction. A tag that named another image moves;
    /// that image stays, untagged, as Docker's does.
    pub fn add_image(
        &mut self,
        image: &NewImage,
        tags: &[Reference],
        repo_digest: Option<(&Reference, &Digest)>,
    ) -> Result<(), StoreError> {
        let sql = self.db.errors();
        let size: u64 = image.layers.iter().map(|l| l.layer.size).sum();
        let tx = self.db.write()?;
        let id = image.id.to_string();
        tx.execute(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, created, size, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET manifest_digest = ?2, manifest_media_type = ?3",
            params![
                id,
                image.manifest_digest.to_string(),
                image.manifest_media_type,
                image.created,
                size as i64,
                crate::time::now_unix()
            ],
        )
        .map_err(&sql)?;
        tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [&id])
            .map_err(&sql)?;
        for (position, layer) in image.layers.iter().enumerate() {
            tx.execute(
                "INSERT INTO image_layers (image_id, position, layer_id, blob_digest, blob_media_type, blob_size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    position as i64,
                    layer.layer.id,
                    layer.blob_digest,
                    layer.blob_media_type,
                    layer.blob_size as i64
                ],
            )
            .map_err(&sql)?;
        }
        for tag in tags {
            tx.execute(
                "INSERT INTO tags (name, image_id) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET image_id = ?2",
                params![tag.to_string(), id],
            )
            .map_err(&sql)?;
        }
        if let Some((name, digest)) = repo_digest {
            tx.execute(
                "INSERT INTO repo_digests (name, digest, image_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name, digest) DO UPDATE SET image_id = ?3",
                params![name.name(), digest.to_string(), id],
            )
            .map_err(&sql)?;
        }
        tx.commit().map_err(&sql)?;
        Ok(())
    }

    fn with_names(&self, mut record: ImageRecord) -> Result<ImageRecord, StoreError> {
        let sql = self.db.errors();
        let conn = self.db.conn();
        let mut stmt = conn
            .prepare_cached("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")
            .map_err(&sql)?;
        record.tags = stmt
            .query_map([&record.id], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(&sql)?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT name || '@' || digest FROM repo_digests WHERE image_id = ?1 ORDER BY 1",
            )
            .map_err(&sql)?;
        record.repo_digests = stmt
            .query_map([&record.id], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(&sql)?;
        Ok(record)
    }

    pub fn image(&self, id: &str) -> Result<Option<ImageRecord>, StoreError> {
        let sql = self.db.errors();
        let record = self
            .db
            .conn()
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM images WHERE id = ?1"),
                [id],
                record_row,
            )
            .optional()
            .map_err(&sql)?;
        record.map(|r| self.with_names(r)).transpose()
    }

    /// Every image, newest first, as `docker images` orders them.
    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let sql = self.db.errors();
        let records: Vec<ImageRecord> = {
            let mut stmt = self
                .db
                .conn()
                .prepare(&format!(
                    "SELECT {RECORD_COLUMNS} FROM images ORDER BY created DESC, added_at DESC, id"
                ))
                .map_err(&sql)?;
            let rows = stmt.query_map([], record_row).map_err(&sql)?;
            rows.collect::<Result<_, _>>().map_err(&sql)?
        };
        // One query per table rather than per image: `images` with 500 images stays
        // three statements.
        let mut by_id: std::collections::HashMap<String, ImageRecord> =
            records.iter().map(|r| (r.id.clone(), r.clone())).collect();
        for (query, tags) in [
            ("SELECT image_id, name FROM tags ORDER BY name", true),
            (
                "SELECT image_id, name || '@' || digest FROM repo_digests ORDER BY 2",
                false,
            ),
        ] {
            let mut stmt = self.db.conn().prepare(query).map_err(&sql)?;
            let rows = stmt
                .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))
                .map_err(&sql)?;
            for row in rows {
                let (id, name) = row.map_err(&sql)?;
                if let Some(record) = by_id.get_mut(&id) {
                    if tags {
                        record.tags.push(name);
                    } else {
                        record.repo_digests.push(name);
                    }
                }
            }
        }
        Ok(records
            .into_iter()
            .filter_map(|r| by_id.remove(&r.id))
            .collect())
    }

    /// The image a tag names.
    pub fn image_by_tag(&self, reference: &Reference) -> Result<Option<String>, StoreError> {
        let sql = self.db.errors();
        self.db
            .conn()
            .query_row(
                "SELECT image_id FROM tags WHERE name = ?1",
                [reference.to_string()],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| sql(e).into())
    }

    /// The image a `name@digest` names: by a repository digest it was pulled by, or by
    /// its own id.
    pub fn image_by_digest(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Option<String>, StoreError> {
        let sql = self.db.errors();
        let found: Option<String> = self
            .db
            .conn()
            .query_row(
                "SELECT image_id FROM repo_digests WHERE name = ?1 AND digest = ?2",
                params![reference.name(), digest.to_string()],
                |row| row.get(0),
            )
            .optional()
            .map_err(&sql)?;
        Ok(found)
    }

    /// Image ids starting with `prefix` (hex, without the algorithm).
    pub fn images_by_id_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let sql = self.db.errors();
        let mut stmt = self
            .db
            .conn()
            .prepare("SELECT id FROM images WHERE substr(id, 8, ?2) = ?1 AND id LIKE 'sha256:%'")
            .map_err(&sql)?;
        let rows = stmt
            .query_map(params![prefix, prefix.len() as i64], |row| row.get(0))
            .map_err(&sql)?;
        rows.collect::<Result<_, _>>().map_err(|e| sql(e).into())
    }

    pub fn image_layers(&self, id: &str) -> Result<Vec<ImageLayer>, StoreError> {
        let sql = self.db.errors();
        let mut stmt = self
            .db
            .conn()
            .prepare_cached(
                "SELECT l.id, l.diff_id, l.size, il.blob_digest, il.blob_media_type, il.blob_size
                 FROM image_layers il JOIN layers l ON l.id = il.layer_id
                 WHERE il.image_id = ?1 ORDER BY il.position",
            )
            .map_err(&sql)?;
        let rows = stmt
            .query_map([id], |row| {
                Ok(ImageLayer {
                    layer: Layer {
                        id: row.get(0)?,
                        diff_id: row.get(1)?,
                        size: row.get::<_, i64>(2)? as u64,
                    },
                    blob_digest: row.get(3)?,
                    blob_media_type: row.get(4)?,
                    blob_size: row.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(&sql)?;
        rows.collect::<Result<_, _>>().map_err(|e| sql(e).into())
    }

    /// Points the tag `reference` at image `id`.
    pub fn tag(&mut self, id: &str, reference: &Reference) -> Result<(), StoreError> {
        let sql = self.db.errors();
        self.db
            .conn()
            .execute(
                "INSERT INTO tags (name, image_id) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET image_id = ?2",
                params![reference.to_string(), id],
            )
            .map_err(&sql)?;
        Ok(())
    }

    /// Removes the name `name` (a tag, or a `repo@digest`); whether it existed.
    pub fn untag(&mut self, name: &str) -> Result<bool, StoreError> {
        let sql = self.db.errors();
        let conn = self.db.conn();
        let mut removed = conn
            .execute("DELETE FROM tags WHERE name = ?1", [name])
            .map_err(&sql)?;
        if let Some((repo, digest)) = name.split_once('@') {
            removed += conn
                .execute(
                    "DELETE FROM repo_digests WHERE name = ?1 AND digest = ?2",
                    [repo, digest],
                )
                .map_err(&sql)?;
        }
        Ok(removed > 0)
    }

    /// Containers (ids) recorded as using image `id`.
    pub fn containers_using(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let sql = self.db.errors();
        let mut stmt = self
            .db
            .conn()
            .prepare("SELECT id FROM containers WHERE image_id = ?1 ORDER BY id")
            .map_err(&sql)?;
        let rows = stmt.query_map([id], |row| row.get(0)).map_err(&sql)?;
        rows.collect::<Result<_, _>>().map_err(|e| sql(e).into())
    }

    /// Forgets image `id` and every name it has. Its layers and blobs stay until
    /// [`Store::collect_garbage`].
    pub fn forget_image(&mut self, id: &str) -> Result<(), StoreError> {
        let sql = self.db.errors();
        let tx = self.db.write()?;
        for table in ["tags", "repo_digests", "image_layers"] {
            tx.execute(&format!("DELETE FROM {table} WHERE image_id = ?1"), [id])
                .map_err(&sql)?;
        }
        tx.execute("DELETE FROM images WHERE id = ?1", [id])
            .map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(())
    }

    /// Removes the layers and blobs no image names any more: the layers removed.
    pub fn collect_garbage(&mut self) -> Result<Vec<Layer>, StoreError> {
        let _gc = self.collecting()?;
        let layers = self.remove_unused_layers()?;
        let sql = self.db.errors();
        let wanted: HashSet<String> = {
            let mut stmt = self
                .db
                .conn()
                .prepare(
                    "SELECT id FROM images UNION SELECT manifest_digest FROM images
                     UNION SELECT blob_digest FROM image_layers UNION SELECT digest FROM repo_digests",
                )
                .map_err(&sql)?;
            let rows = stmt.query_map([], |row| row.get(0)).map_err(&sql)?;
            rows.collect::<Result<_, _>>().map_err(&sql)?
        };
        for algorithm in ["sha256", "sha512"] {
            let dir = self.root().join("blobs").join(algorithm);
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io_error(&dir))?;
                let digest = format!("{algorithm}:{}", entry.file_name().to_string_lossy());
                if !wanted.contains(&digest) {
                    remove_tree(&entry.path())?;
                }
            }
        }
        Ok(layers)
    }
}
