//! `push_image`: an image's layers and config from the blob store to a repository
//! (each one skipped when there, mounted from another repository of the registry when
//! it can be, uploaded otherwise), then its manifest under the target's tag.

use futures_util::{stream, TryStreamExt};

use super::blob::{BlobPushed, Transfer};
use super::client::Client;
use super::error::RegistryError;
use super::progress::{short_id, PushEvent, PushState, Throttle};
use super::pull::{Layer, PulledImage};
use crate::image::reference::{Digest, Reference};
use crate::store::blobs::BlobStore;

/// Blobs uploaded at once, as Docker's `max-concurrent-uploads` default.
pub const PARALLEL_UPLOADS: usize = 5;

/// What to push: the manifest as it is to be stored, and the blobs it names.
#[derive(Debug, Clone)]
pub struct ImageToPush {
    pub manifest_bytes: Vec<u8>,
    pub media_type: String,
    pub config_digest: Digest,
    pub layers: Vec<Layer>,
    /// Repositories of the target registry that may already hold these blobs (the one
    /// the image was pulled from, say): a blob missing from the target is mounted from
    /// the first of them, and uploaded only if the registry cannot.
    pub mount_from: Vec<String>,
}

impl From<&PulledImage> for ImageToPush {
    fn from(image: &PulledImage) -> ImageToPush {
        ImageToPush {
            manifest_bytes: image.manifest_bytes.clone(),
            media_type: image.media_type.clone(),
            config_digest: image.config_digest.clone(),
            layers: image.layers.clone(),
            mount_from: vec![image.reference.path().to_string()],
        }
    }
}

/// The pushed manifest: `latest: digest: sha256:... size: 528`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
    pub digest: Digest,
    pub size: u64,
}

type Progress<'a> = &'a (dyn Fn(PushEvent) + Send + Sync);

/// Pushes `image` from `blobs` to `target` (its tag, or its digest).
pub async fn push_image(
    client: &Client,
    target: &Reference,
    blobs: &BlobStore,
    image: &ImageToPush,
    progress: Progress<'_>,
) -> Result<PushedImage, RegistryError> {
    client.check_domain(target)?;
    let repository = target.path();
    progress(PushEvent::Repository {
        name: target.name(),
    });
    let mut layers: Vec<&Digest> = Vec::new();
    for layer in &image.layers {
        if !layers.contains(&&layer.digest) {
            layers.push(&layer.digest);
        }
    }
    for state in [PushState::Preparing, PushState::Waiting] {
        for digest in &layers {
            progress(PushEvent::Layer {
                id: short_id(digest),
                state: state.clone(),
            });
        }
    }
    let mut jobs: Vec<(&Digest, bool)> = layers.iter().map(|d| (*d, true)).collect();
    if !layers.contains(&&image.config_digest) {
        // The config is pushed like a layer, without events (Docker shows layers only).
        jobs.push((&image.config_digest, false));
    }
    stream::iter(jobs.into_iter().map(Ok))
        .try_for_each_concurrent(PARALLEL_UPLOADS, |(digest, report)| async move {
            let id = short_id(digest);
            let throttle = Throttle::new();
            let on_transfer = |step: Transfer| {
                if !report {
                    return;
                }
                let state = match step {
                    Transfer::Progress { current, total } => {
                        if !throttle.due(current, total) {
                            return;
                        }
                        PushState::Pushing { current, total }
                    }
                    Transfer::Retrying {
                        attempt,
                        delay_ms,
                        error,
                    } => PushState::Retrying {
                        attempt,
                        delay_ms,
                        error,
                    },
                    Transfer::Verifying => return,
                };
                progress(PushEvent::Layer {
                    id: id.clone(),
                    state,
                });
            };
            let pushed = client
                .push_blob(repository, digest, blobs, &image.mount_from, &on_transfer)
                .await?;
            if report {
                let state = match pushed {
                    BlobPushed::AlreadyExists => PushState::AlreadyExists,
                    BlobPushed::MountedFrom(repository) => PushState::MountedFrom { repository },
                    BlobPushed::Uploaded => PushState::Pushed,
                };
                progress(PushEvent::Layer { id, state });
            }
            Ok(())
        })
        .await?;
    let digest = client
        .put_manifest(target, &image.manifest_bytes, &image.media_type)
        .await?;
    let size = image.manifest_bytes.len() as u64;
    progress(PushEvent::Pushed {
        tag: target.tag().map(str::to_string),
        digest: digest.clone(),
        size,
    });
    Ok(PushedImage { digest, size })
}
