//! Turns blobs in the store (a config, a manifest, layer tarballs) into an image:
//! every layer unpacked once and checked against the config's diff_ids, then one
//! transaction that makes the image and its names visible. Pull, load, import and
//! commit all end here.

use std::fs::File;
use std::io::BufReader;

use oci_spec::image::MediaType;
use serde_json::Value;

use super::layer::{self, Limits};
use super::manifest::{layer_compression, ManifestError};
use super::reference::{Digest, Reference};
use crate::store::images::{ImageLayer, ImageRecord, NewImage};
use crate::store::layers::{LayerError, UnpackedLayer};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("image config {digest}: {problem}")]
    Config { digest: String, problem: String },
    #[error("layer {digest}: {source}")]
    Compression {
        digest: String,
        source: ManifestError,
    },
}

/// A layer blob as a manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// An image whose blobs are all in the store.
pub struct ImageBlobs {
    pub config: Digest,
    pub manifest: Digest,
    pub manifest_media_type: String,
    pub layers: Vec<LayerBlob>,
}

/// What happens to each layer, for progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerEvent {
    Extracting { blob: Digest },
    Extracted { blob: Digest, size: u64 },
    AlreadyThere { blob: Digest },
}

fn config_error(digest: &Digest, problem: impl Into<String>) -> AddError {
    AddError::Config {
        digest: digest.to_string(),
        problem: problem.into(),
    }
}

/// The diff_ids and `created` of the config blob `digest`.
fn read_config(store: &Store, digest: &Digest) -> Result<(Vec<Digest>, Option<String>), AddError> {
    let path = store.blobs.path(digest);
    let bytes = std::fs::read(&path)
        .map_err(|e| config_error(digest, format!("{}: {e}", path.display())))?;
    let config: Value = serde_json::from_slice(&bytes)
        .map_err(|e| config_error(digest, format!("not JSON: {e}")))?;
    let diff_ids = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| config_error(digest, "no rootfs.diff_ids"))?
        .iter()
        .map(|d| {
            d.as_str()
                .and_then(|d| Digest::parse(d).ok())
                .ok_or_else(|| {
                    config_error(digest, format!("rootfs.diff_ids: {d} is not a digest"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let created = config
        .get("created")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((diff_ids, created))
}

/// Unpacks what is missing and records the image with `tags` (and the digest it was
/// pulled by). The caller holds the store's add lock from before it wrote the blobs.
pub fn add_image(
    store: &mut Store,
    blobs: &ImageBlobs,
    tags: &[Reference],
    repo_digest: Option<(&Reference, &Digest)>,
    progress: &mut dyn FnMut(LayerEvent),
) -> Result<ImageRecord, AddError> {
    let (diff_ids, created) = read_config(store, &blobs.config)?;
    if diff_ids.len() != blobs.layers.len() {
        return Err(config_error(
            &blobs.config,
            format!(
                "{} diff_ids for the manifest's {} layers",
                diff_ids.len(),
                blobs.layers.len()
            ),
        ));
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (blob, diff_id) in blobs.layers.iter().zip(&diff_ids) {
        let compression =
            layer_compression(&MediaType::from(blob.media_type.as_str())).map_err(|source| {
                AddError::Compression {
                    digest: blob.digest.to_string(),
                    source,
                }
            })?;
        let path = store.blobs.path(&blob.digest);
        let mut extracting = false;
        let (layer, _) = store.ensure_layer(diff_id, |dir| {
            extracting = true;
            progress(LayerEvent::Extracting {
                blob: blob.digest.clone(),
            });
            let file = File::open(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let unpacked =
                layer::unpack(BufReader::new(file), compression, dir, &Limits::default())?;
            Ok(UnpackedLayer {
                diff_id: unpacked.diff_id,
                size: unpacked.size,
            })
        })?;
        progress(if extracting {
            LayerEvent::Extracted {
                blob: blob.digest.clone(),
                size: layer.size,
            }
        } else {
            LayerEvent::AlreadyThere {
                blob: blob.digest.clone(),
            }
        });
        layers.push(ImageLayer {
            layer,
            blob_digest: blob.digest.to_string(),
            blob_media_type: blob.media_type.clone(),
            blob_size: blob.size,
        });
    }
    let image = NewImage {
        id: blobs.config.clone(),
        manifest_digest: blobs.manifest.clone(),
        manifest_media_type: blobs.manifest_media_type.clone(),
        created,
        layers,
    };
    store.add_image(&image, tags, repo_digest)?;
    let id = image.id.to_string();
    store
        .image(&id)?
        .ok_or_else(|| config_error(&blobs.config, "the image vanished as it was recorded"))
}
