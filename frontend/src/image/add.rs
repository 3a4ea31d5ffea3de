//! Turns blobs in the store (a config, a manifest, layer tarballs) into an image:
//! every layer unpacked once and checked against the config's diff_ids, then one
//! transaction that makes the image and its names visible. Pull, load, import and
//! commit all end here: load, import and commit through [`add_image`], with every
//! blob in the store; pull through its steps, [`prepare`] before the layer blobs
//! arrive and [`finish`] once each is unpacked.

use std::collections::HashMap;
use std::sync::mpsc;

use oci_spec::image::MediaType;
use serde_json::Value;

use super::manifest::{layer_compression, ManifestError, OCI_CONFIG, OCI_MANIFEST};
use super::reference::{Digest, Reference};
use super::unpacker::{workers_for, UnpackJob, Unpacker, Unpacking};
use crate::store::images::{ImageLayer, ImageRecord, NewImage};
use crate::store::layers::{LayerError, LayerSlot, UnpackedLayer};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("image config {digest}: {problem}")]
    Config { digest: String, problem: String },
    #[error("starting the threads that unpack layers: {source}")]
    Threads { source: std::io::Error },
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

/// The OCI manifest of a config and its layers, as berth writes one for an image it
/// made or loaded without one.
pub fn oci_manifest(config: &Digest, config_size: u64, layers: &[LayerBlob]) -> Vec<u8> {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": OCI_CONFIG, "digest": config.to_string(), "size": config_size },
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": l.media_type, "digest": l.digest.to_string(), "size": l.size,
        })).collect::<Vec<_>>(),
    });
    // A JSON value with string keys always serialises.
    serde_json::to_vec(&manifest).unwrap_or_default()
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

/// An image being added: its config read, and each layer the store lacks staged
/// (locked, with an empty dir to unpack into) and listed as a job. Dropped before
/// [`finish`], it abandons the staged layers; drop whatever unpacks into them first.
pub struct Prepared {
    config: Digest,
    created: Option<String>,
    diff_ids: Vec<Digest>,
    slots: HashMap<String, LayerSlot>,
    jobs: Vec<UnpackJob>,
}

impl Prepared {
    /// The layers to unpack, each once (an image may repeat a diff).
    pub fn jobs(&self) -> &[UnpackJob] {
        &self.jobs
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        for (_, slot) in self.slots.drain() {
            if let LayerSlot::Staged(staged) = slot {
                staged.abandon();
            }
        }
    }
}

/// Reads the config of `blobs` and stages every layer the store lacks, in diff_id
/// order: the layer locks are then taken in one order by every process. A process
/// staging layers must hold no blob's ingest lock (a pull stages before it fetches
/// layers), or it could wait here for one who waits for its ingest. The layer blobs
/// need not be in the store yet; the config must be.
pub fn prepare(store: &Store, blobs: &ImageBlobs) -> Result<Prepared, AddError> {
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
    let mut compressions = Vec::with_capacity(blobs.layers.len());
    for blob in &blobs.layers {
        compressions.push(
            layer_compression(&MediaType::from(blob.media_type.as_str())).map_err(|source| {
                AddError::Compression {
                    digest: blob.digest.to_string(),
                    source,
                }
            })?,
        );
    }
    let mut firsts: Vec<usize> = Vec::new();
    for (i, diff_id) in diff_ids.iter().enumerate() {
        if !firsts.iter().any(|&f| diff_ids[f] == *diff_id) {
            firsts.push(i);
        }
    }
    firsts.sort_by(|&a, &b| diff_ids[a].cmp(&diff_ids[b]));
    let mut prepared = Prepared {
        config: blobs.config.clone(),
        created,
        diff_ids,
        slots: HashMap::new(),
        jobs: Vec::new(),
    };
    for &i in &firsts {
        // On an error, dropping `prepared` abandons what was staged.
        let slot = store.stage_layer(&prepared.diff_ids[i])?;
        if let LayerSlot::Staged(staged) = &slot {
            prepared.jobs.push(UnpackJob {
                id: prepared.jobs.len(),
                diff_id: staged.diff_id().to_string(),
                blob: blobs.layers[i].digest.clone(),
                path: store.blobs.path(&blobs.layers[i].digest),
                compression: compressions[i],
                dir: staged.staging.clone(),
            });
        }
        prepared
            .slots
            .insert(prepared.diff_ids[i].to_string(), slot);
    }
    Ok(prepared)
}

/// Records the image `prepared` was made for, each of its jobs unpacked (`unpacked`,
/// by job id), with `tags` (and the digest it was pulled by), in one transaction.
/// On any error, nothing of the image is visible and the staged layers are
/// abandoned.
pub fn finish(
    store: &mut Store,
    mut prepared: Prepared,
    blobs: &ImageBlobs,
    mut unpacked: HashMap<usize, anyhow::Result<UnpackedLayer>>,
    tags: &[Reference],
    repo_digest: Option<(&Reference, &Digest)>,
    progress: &mut dyn FnMut(LayerEvent),
) -> Result<ImageRecord, AddError> {
    let mut by_diff_id: HashMap<String, anyhow::Result<UnpackedLayer>> = HashMap::new();
    for job in &prepared.jobs {
        if let Some(result) = unpacked.remove(&job.id) {
            by_diff_id.insert(job.diff_id.clone(), result);
        }
    }
    let diff_ids = std::mem::take(&mut prepared.diff_ids);
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (blob, diff_id) in blobs.layers.iter().zip(&diff_ids) {
        let key = diff_id.to_string();
        let layer = match prepared.slots.remove(&key) {
            Some(LayerSlot::Present(layer)) => {
                progress(LayerEvent::AlreadyThere {
                    blob: blob.digest.clone(),
                });
                layer
            }
            Some(LayerSlot::Staged(staged)) => match by_diff_id.remove(&key) {
                Some(Ok(done)) => store.record_layer(staged, done)?,
                Some(Err(source)) => {
                    staged.abandon();
                    return Err(AddError::Layer(LayerError::Unpack {
                        diff_id: key,
                        source,
                    }));
                }
                None => {
                    staged.abandon();
                    return Err(config_error(
                        &blobs.config,
                        format!("layer {key} was staged but never unpacked"),
                    ));
                }
            },
            // prepare staged every diff; a repeat finds the first one Present.
            None => return Err(config_error(&blobs.config, format!("layer {key} lost"))),
        };
        // Kept for a repeat of the same diff later in this image.
        prepared
            .slots
            .insert(key, LayerSlot::Present(layer.clone()));
        layers.push(ImageLayer {
            layer,
            blob_digest: blob.digest.to_string(),
            blob_media_type: blob.media_type.clone(),
            blob_size: blob.size,
        });
    }
    let image = NewImage {
        id: prepared.config.clone(),
        manifest_digest: blobs.manifest.clone(),
        manifest_media_type: blobs.manifest_media_type.clone(),
        created: prepared.created.take(),
        layers,
    };
    store.add_image(&image, tags, repo_digest)?;
    let id = image.id.to_string();
    store
        .image(&id)?
        .ok_or_else(|| config_error(&blobs.config, "the image vanished as it was recorded"))
}

/// Unpacks what is missing and records the image with `tags` (and the digest it was
/// pulled by). The caller holds the store's add lock from before it wrote the blobs,
/// all of which are in the store.
pub fn add_image(
    store: &mut Store,
    blobs: &ImageBlobs,
    tags: &[Reference],
    repo_digest: Option<(&Reference, &Digest)>,
    progress: &mut dyn FnMut(LayerEvent),
) -> Result<ImageRecord, AddError> {
    let prepared = prepare(store, blobs)?;
    let unpacked = unpack_all(prepared.jobs(), progress)?;
    finish(
        store,
        prepared,
        blobs,
        unpacked,
        tags,
        repo_digest,
        progress,
    )
}

/// Unpacks every job on the [`Unpacker`]'s threads, reporting progress from this one.
fn unpack_all(
    jobs: &[UnpackJob],
    progress: &mut dyn FnMut(LayerEvent),
) -> Result<HashMap<usize, anyhow::Result<UnpackedLayer>>, AddError> {
    let (events, received) = mpsc::channel::<Unpacking>();
    let unpacker = Unpacker::start(workers_for(jobs.len()), move |event| {
        let _ = events.send(event);
    })
    .map_err(|source| AddError::Threads { source })?;
    for job in jobs {
        unpacker.feed(job.clone());
    }
    let mut results = HashMap::new();
    while results.len() < jobs.len() {
        // Every thread gone before the last result: one of them panicked.
        let Ok(event) = received.recv() else { break };
        match event {
            Unpacking::Started(id) => progress(LayerEvent::Extracting {
                blob: jobs[id].blob.clone(),
            }),
            Unpacking::Done(id, result) => {
                if let Ok(done) = &result {
                    progress(LayerEvent::Extracted {
                        blob: jobs[id].blob.clone(),
                        size: done.size,
                    });
                }
                results.insert(id, result);
            }
        }
    }
    unpacker.wait();
    Ok(results)
}
