//! `commit`: a container's upper dir becomes one more layer on top of its image, and
//! with it a new image.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::add::{add_image, oci_manifest, AddError, ImageBlobs, LayerBlob, LayerEvent};
use super::inspect::{self, InspectError};
use super::layer;
use super::manifest::{OCI_LAYER, OCI_MANIFEST};
use super::reference::{Reference, ReferenceError};
use crate::store::blobs::BlobError;
use crate::store::images::ImageRecord;
use crate::store::{io_error, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Add(#[from] AddError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("upper dir {path}: {source}")]
    Diff {
        path: String,
        source: layer::DiffError,
    },
    #[error("image {image}: {problem}")]
    Config { image: String, problem: String },
}

/// What a commit records besides the layer.
#[derive(Debug, Default, Clone)]
pub struct CommitOptions {
    pub tag: Option<String>,
    pub author: Option<String>,
    pub comment: Option<String>,
    /// The history line: what made the layer.
    pub created_by: Option<String>,
    /// Replaces the image's `config` object when given (the container's config).
    pub config: Option<Value>,
}

/// Writes `upper` as a new layer over image `base` and records the new image.
pub fn commit(
    store: &mut Store,
    base: &ImageRecord,
    upper: &Path,
    options: &CommitOptions,
) -> Result<ImageRecord, CommitError> {
    let tag = options.tag.as_deref().map(Reference::parse).transpose()?;
    let mut config = inspect::config(store, base)?;
    let base_layers = store.image_layers(&base.id)?;
    let _adding = store.adding()?;
    // The tar goes to a temp file under the blob store, then in under its digest.
    let staging = store.root().join("blobs").join("ingest").join(format!(
        "commit-{}-{}",
        std::process::id(),
        crate::time::now_unix()
    ));
    let diffed = {
        let file = File::create(&staging).map_err(io_error(&staging))?;
        let mut out = BufWriter::new(file);
        let diffed = layer::diff(upper, &mut out).map_err(|source| CommitError::Diff {
            path: upper.display().to_string(),
            source,
        });
        out.flush().map_err(io_error(&staging))?;
        diffed
    };
    let diffed = match diffed {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(e);
        }
    };
    let mut tar = File::open(&staging).map_err(io_error(&staging))?;
    let stored = store.blobs.put(&mut tar);
    let _ = std::fs::remove_file(&staging);
    let (layer_digest, layer_size) = stored?;
    let created = crate::time::rfc3339(crate::time::now_unix());
    let problem = |p: &str| CommitError::Config {
        image: base.id.clone(),
        problem: p.to_string(),
    };
    let object = config
        .as_object_mut()
        .ok_or_else(|| problem("its config is not a JSON object"))?;
    object.insert("created".into(), json!(created));
    if let Some(author) = &options.author {
        object.insert("author".into(), json!(author));
    }
    // The image's own comment (what `inspect` shows), besides its history line's.
    match &options.comment {
        Some(comment) => object.insert("comment".into(), json!(comment)),
        None => object.remove("comment"),
    };
    if let Some(container_config) = &options.config {
        object.insert("config".into(), container_config.clone());
    }
    object
        .get_mut("rootfs")
        .and_then(|r| r.get_mut("diff_ids"))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| problem("its config has no rootfs.diff_ids"))?
        .push(json!(diffed.diff_id.to_string()));
    let history = object.entry("history").or_insert_with(|| json!([]));
    if let Value::Array(entries) = history {
        let mut entry = json!({ "created": created, "created_by": options.created_by.clone().unwrap_or_default() });
        if let Some(comment) = &options.comment {
            entry["comment"] = json!(comment);
        }
        if let Some(author) = &options.author {
            entry["author"] = json!(author);
        }
        entries.push(entry);
    }
    let config_bytes = serde_json::to_vec(&config).map_err(|e| problem(&e.to_string()))?;
    let (config_digest, config_size) = store.blobs.put_bytes(&config_bytes)?;
    let mut layers: Vec<LayerBlob> = base_layers
        .iter()
        .map(|l| {
            Ok(LayerBlob {
                digest: super::reference::Digest::parse(&l.blob_digest)
                    .map_err(|_| problem("a layer blob digest does not parse"))?,
                media_type: l.blob_media_type.clone(),
                size: l.blob_size,
            })
        })
        .collect::<Result<_, CommitError>>()?;
    layers.push(LayerBlob {
        digest: layer_digest,
        media_type: OCI_LAYER.to_string(),
        size: layer_size,
    });
    let manifest_bytes = oci_manifest(&config_digest, config_size, &layers);
    let (manifest_digest, _) = store.blobs.put_bytes(&manifest_bytes)?;
    let blobs = ImageBlobs {
        config: config_digest,
        manifest: manifest_digest,
        manifest_media_type: OCI_MANIFEST.to_string(),
        layers,
    };
    let tags: Vec<Reference> = tag.into_iter().collect();
    Ok(add_image(
        store,
        &blobs,
        &tags,
        None,
        &mut |_: LayerEvent| {},
    )?)
}
