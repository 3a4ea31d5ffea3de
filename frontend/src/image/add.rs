//! Turns blobs in the store (a config, a manifest, layer tarballs) into an image:
//! every layer unpacked once and checked against the config's diff_ids, then one
//! transaction that makes the image and its names visible. Pull, load, import and
//! commit all end here.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use oci_spec::image::MediaType;
use serde_json::Value;

use super::layer::{self, Limits};
use super::manifest::{layer_compression, Compression, ManifestError, OCI_CONFIG, OCI_MANIFEST};
use super::reference::{Digest, Reference};
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
    // Each diff once (an image may repeat one), staged in diff_id order: the locks
    // are then taken in one order by every process.
    let mut firsts: Vec<usize> = Vec::new();
    for (i, diff_id) in diff_ids.iter().enumerate() {
        if !firsts.iter().any(|&f| diff_ids[f] == *diff_id) {
            firsts.push(i);
        }
    }
    firsts.sort_by(|&a, &b| diff_ids[a].cmp(&diff_ids[b]));
    let mut slots: HashMap<String, LayerSlot> = HashMap::new();
    for &i in &firsts {
        match store.stage_layer(&diff_ids[i]) {
            Ok(slot) => {
                slots.insert(diff_ids[i].to_string(), slot);
            }
            Err(e) => {
                abandon(slots);
                return Err(e.into());
            }
        }
    }
    let jobs: Vec<Job> = firsts
        .iter()
        .filter_map(|&i| match slots.get(&diff_ids[i].to_string()) {
            Some(LayerSlot::Staged(staged)) => Some(Job {
                diff_id: diff_ids[i].to_string(),
                blob: blobs.layers[i].digest.clone(),
                path: store.blobs.path(&blobs.layers[i].digest),
                compression: compressions[i],
                dir: staged.staging.clone(),
            }),
            _ => None,
        })
        .collect();
    let mut unpacked = unpack_all(&jobs, progress);
    let mut layers = Vec::with_capacity(diff_ids.len());
    let mut failure: Option<AddError> = None;
    for (blob, diff_id) in blobs.layers.iter().zip(&diff_ids) {
        let key = diff_id.to_string();
        let layer = match slots.remove(&key) {
            Some(LayerSlot::Present(layer)) => {
                progress(LayerEvent::AlreadyThere {
                    blob: blob.digest.clone(),
                });
                // Kept for a repeat of the same diff later in this image.
                slots.insert(key, LayerSlot::Present(layer.clone()));
                layer
            }
            Some(LayerSlot::Staged(staged)) => {
                let result = match unpacked.remove(&key) {
                    Some(Ok(done)) if failure.is_none() => {
                        store.record_layer(staged, done).map_err(AddError::from)
                    }
                    Some(Err(source)) => {
                        staged.abandon();
                        Err(AddError::Layer(LayerError::Unpack {
                            diff_id: key.clone(),
                            source,
                        }))
                    }
                    _ => {
                        staged.abandon();
                        continue;
                    }
                };
                match result {
                    Ok(layer) => {
                        slots.insert(key, LayerSlot::Present(layer.clone()));
                        layer
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                        continue;
                    }
                }
            }
            None => continue,
        };
        layers.push(ImageLayer {
            layer,
            blob_digest: blob.digest.to_string(),
            blob_media_type: blob.media_type.clone(),
            blob_size: blob.size,
        });
    }
    if let Some(e) = failure {
        abandon(slots);
        return Err(e);
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

/// One layer to unpack: its blob and the staging dir it goes into.
struct Job {
    diff_id: String,
    blob: Digest,
    path: PathBuf,
    compression: Compression,
    dir: PathBuf,
}

fn abandon(slots: HashMap<String, LayerSlot>) {
    for slot in slots.into_values() {
        if let LayerSlot::Staged(staged) = slot {
            staged.abandon();
        }
    }
}

fn unpack_one(job: &Job) -> anyhow::Result<UnpackedLayer> {
    let file = File::open(&job.path).map_err(|e| anyhow::anyhow!("{}: {e}", job.path.display()))?;
    let unpacked = layer::unpack(
        BufReader::with_capacity(256 * 1024, file),
        job.compression,
        &job.dir,
        &Limits::default(),
    )?;
    Ok(UnpackedLayer {
        diff_id: unpacked.diff_id,
        size: unpacked.size,
    })
}

/// Unpacks the jobs on a few threads per CPU: layers are independent
/// directories, and creating their files is the kernel's work, which spreads over
/// cores (a pull is mostly that). Progress is reported from this thread.
fn unpack_all(
    jobs: &[Job],
    progress: &mut dyn FnMut(LayerEvent),
) -> HashMap<String, anyhow::Result<UnpackedLayer>> {
    // Twice the CPUs: layers are of any size and creating files waits on the file
    // system's journal as well as using a CPU, so with one thread per CPU the last
    // layers leave a CPU idle.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get() * 2)
        .min(jobs.len());
    let next = AtomicUsize::new(0);
    let (events, received) = mpsc::channel::<(usize, Option<anyhow::Result<UnpackedLayer>>)>();
    let mut results = HashMap::new();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let events = events.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let _ = events.send((i, None));
                let _ = events.send((i, Some(unpack_one(job))));
            });
        }
        drop(events);
        for (i, result) in received {
            let job = &jobs[i];
            match result {
                None => progress(LayerEvent::Extracting {
                    blob: job.blob.clone(),
                }),
                Some(result) => {
                    if let Ok(done) = &result {
                        progress(LayerEvent::Extracted {
                            blob: job.blob.clone(),
                            size: done.size,
                        });
                    }
                    results.insert(job.diff_id.clone(), result);
                }
            }
        }
    });
    results
}
