//! `pull_image`: a reference's manifest (the platform's, from an index), its config
//! and its layers into the blob store, the blobs fetched a few at a time as Docker
//! does, those already in the store skipped. In two steps for a caller that unpacks
//! each layer as it arrives: [`resolve_image`] (the manifest, and the config in the
//! store) and [`fetch_layers`].

use futures_util::{stream, TryStreamExt};
use oci_spec::image::Descriptor;

use super::blob::Transfer;
use super::client::{digest_of, Client};
use super::error::RegistryError;
use super::manifests::ManifestBody;
use super::progress::{short_id, LayerState, PullEvent, Throttle};
use crate::image::manifest::{self, Compression, Manifest, ManifestError};
use crate::image::platform::Platform;
use crate::image::reference::{Digest, Reference};
use crate::store::blobs::BlobStore;

/// Blobs downloaded at once, as Docker's `max-concurrent-downloads` default.
pub const PARALLEL_DOWNLOADS: usize = 3;

/// One layer of a pulled image, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub compression: Compression,
}

/// A pulled image: every blob named here is in the store.
#[derive(Debug, Clone)]
pub struct PulledImage {
    pub reference: Reference,
    /// The index (or manifest list) the reference named, when it named one.
    pub index: Option<(Digest, Vec<u8>)>,
    pub manifest_digest: Digest,
    pub manifest_bytes: Vec<u8>,
    pub media_type: String,
    pub config_digest: Digest,
    pub config_size: u64,
    pub layers: Vec<Layer>,
}

/// An image whose manifest is chosen and whose config is in the store; its layers
/// (and the manifest itself) are not yet.
#[derive(Debug, Clone)]
pub struct ResolvedImage(PulledImage);

impl ResolvedImage {
    /// What the image will be once pulled: only its config is in the store yet.
    pub fn image(&self) -> &PulledImage {
        &self.0
    }
}

type Progress<'a> = &'a (dyn Fn(PullEvent) + Send + Sync);

/// Pulls `reference` for `platform` (default: the host's) into `blobs`.
pub async fn pull_image(
    client: &Client,
    reference: &Reference,
    platform: Option<&Platform>,
    blobs: &BlobStore,
    progress: Progress<'_>,
) -> Result<PulledImage, RegistryError> {
    let resolved = resolve_image(client, reference, platform, blobs, progress).await?;
    fetch_layers(client, resolved, blobs, progress, &|_| {}).await
}

/// The manifest `reference` names for `platform` (default: the host's), and its
/// config fetched into `blobs`.
pub async fn resolve_image(
    client: &Client,
    reference: &Reference,
    platform: Option<&Platform>,
    blobs: &BlobStore,
    progress: Progress<'_>,
) -> Result<ResolvedImage, RegistryError> {
    let repository = reference.path();
    let top = client
        .get_manifest(reference)
        .await
        .map_err(|e| as_pull_error(e, reference))?;
    // Announced once the registry has the manifest, as Docker does: a pull refused or
    // unknown shows its error alone (and the daemon can still answer it with a status).
    progress(PullEvent::Pulling {
        tag: match (reference.tag(), reference.digest()) {
            (_, Some(digest)) => digest.to_string(),
            (Some(tag), None) => tag.to_string(),
            (None, None) => String::new(),
        },
        repository: repository.to_string(),
    });
    let host = Platform::host();
    let wanted = platform.unwrap_or(&host);
    let (index, image) = match parse(client, reference, &top)? {
        Manifest::Image(image) => (None, (top, image)),
        Manifest::Index(list) => {
            let entry = manifest::choose(&list, wanted).map_err(|e| match e {
                ManifestError::NoPlatform { wanted, available } => RegistryError::NoPlatform {
                    registry: client.domain().to_string(),
                    reference: reference.familiar(),
                    platform: wanted,
                    available,
                },
                other => manifest_error(client, reference, other),
            })?;
            let digest = descriptor_digest(client, reference, entry)?;
            progress(PullEvent::Platform {
                digest: digest.clone(),
                platform: wanted.to_string(),
            });
            let child = client.get_manifest_by_digest(repository, &digest).await?;
            match parse(client, reference, &child)? {
                Manifest::Image(image) => (Some(top), (child, image)),
                Manifest::Index(_) => {
                    return Err(client.protocol(
                        Some(repository),
                        format!("GET manifest {digest}"),
                        "an index entry for a platform is itself an index",
                    ))
                }
            }
        }
    };
    progress(PullEvent::Resolved {
        digest: index.as_ref().unwrap_or(&image.0).digest.clone(),
    });
    let (manifest, parsed) = image;
    let config = parsed.config();
    let config_digest = descriptor_digest(client, reference, config)?;
    let mut layers = Vec::new();
    for layer in parsed.layers() {
        layers.push(Layer {
            digest: descriptor_digest(client, reference, layer)?,
            size: layer.size(),
            media_type: layer.media_type().to_string(),
            compression: manifest::layer_compression(layer.media_type())
                .map_err(|e| manifest_error(client, reference, e))?,
        });
    }

    // The config first, alone and without events (Docker shows layers only): what
    // the layers unpack into is known from it before they arrive.
    client
        .fetch_blob(
            repository,
            &config_digest,
            Some(config.size()),
            blobs,
            &|_| {},
        )
        .await?;
    Ok(ResolvedImage(PulledImage {
        reference: reference.clone(),
        index: index.map(|i| (i.digest, i.bytes)),
        manifest_digest: manifest.digest,
        manifest_bytes: manifest.bytes,
        media_type: manifest.media_type,
        config_digest,
        config_size: config.size(),
        layers,
    }))
}

/// Fetches the layers of `resolved` into `blobs`, then its manifest (and index):
/// once this returns, every blob the image names is in the store. `on_fetched` is
/// called with each layer blob's digest (once per digest) as soon as it is in the
/// store, those already there first.
pub async fn fetch_layers(
    client: &Client,
    resolved: ResolvedImage,
    blobs: &BlobStore,
    progress: Progress<'_>,
    on_fetched: &(dyn Fn(&Digest) + Send + Sync),
) -> Result<PulledImage, RegistryError> {
    let image = resolved.0;
    let repository = image.reference.path();
    fetch_all(
        client,
        repository,
        blobs,
        &image.layers,
        progress,
        on_fetched,
    )
    .await?;
    if let Some((digest, bytes)) = &image.index {
        store_bytes(client, repository, blobs, digest, bytes)?;
    }
    store_bytes(
        client,
        repository,
        blobs,
        &image.manifest_digest,
        &image.manifest_bytes,
    )?;
    Ok(image)
}

/// Every layer, [`PARALLEL_DOWNLOADS`] at a time; the first failure stops the
/// others (their bytes stay in the ingest, for the next pull to resume).
async fn fetch_all(
    client: &Client,
    repository: &str,
    blobs: &BlobStore,
    layers: &[Layer],
    progress: Progress<'_>,
    on_fetched: &(dyn Fn(&Digest) + Send + Sync),
) -> Result<(), RegistryError> {
    // A digest listed twice is fetched once: two ingests of one blob in one task
    // would wait on each other's lock forever.
    let mut jobs: Vec<(Digest, u64)> = Vec::new();
    let mut present: Vec<&Digest> = Vec::new();
    for layer in layers {
        if jobs.iter().any(|(d, _)| d == &layer.digest) || present.contains(&&layer.digest) {
            continue;
        }
        let id = short_id(&layer.digest);
        let state = if blobs.has(&layer.digest) {
            present.push(&layer.digest);
            LayerState::AlreadyExists
        } else {
            jobs.push((layer.digest.clone(), layer.size));
            LayerState::Waiting
        };
        progress(PullEvent::Layer { id, state });
    }
    for digest in present {
        on_fetched(digest);
    }
    stream::iter(jobs.into_iter().map(Ok))
        .try_for_each_concurrent(PARALLEL_DOWNLOADS, |(digest, size)| async move {
            let id = short_id(&digest);
            let throttle = Throttle::new();
            let on_transfer = |step: Transfer| {
                let state = match step {
                    Transfer::Progress { current, total } => {
                        if !throttle.due(current, total) {
                            return;
                        }
                        LayerState::Downloading { current, total }
                    }
                    Transfer::Retrying {
                        attempt,
                        delay_ms,
                        error,
                    } => LayerState::Retrying {
                        attempt,
                        delay_ms,
                        error,
                    },
                    Transfer::Verifying => LayerState::Verifying,
                };
                progress(PullEvent::Layer {
                    id: id.clone(),
                    state,
                });
            };
            let downloaded = client
                .fetch_blob(repository, &digest, Some(size), blobs, &on_transfer)
                .await?;
            let state = if downloaded {
                LayerState::DownloadComplete
            } else {
                // Another pull put it there while this one waited.
                LayerState::AlreadyExists
            };
            progress(PullEvent::Layer { id, state });
            on_fetched(&digest);
            Ok(())
        })
        .await
}

fn parse(
    client: &Client,
    reference: &Reference,
    body: &ManifestBody,
) -> Result<Manifest, RegistryError> {
    Manifest::parse(&body.bytes, Some(&body.media_type))
        .map_err(|e| manifest_error(client, reference, e))
}

fn manifest_error(client: &Client, reference: &Reference, source: ManifestError) -> RegistryError {
    RegistryError::Manifest {
        registry: client.domain().to_string(),
        repository: reference.path().to_string(),
        reference: reference
            .digest()
            .map(ToString::to_string)
            .or_else(|| reference.tag().map(str::to_string))
            .unwrap_or_default(),
        source,
    }
}

fn descriptor_digest(
    client: &Client,
    reference: &Reference,
    descriptor: &Descriptor,
) -> Result<Digest, RegistryError> {
    let text = descriptor.digest().to_string();
    Digest::parse(&text).map_err(|problem| {
        client.protocol(
            Some(reference.path()),
            format!("reading the manifest of {reference}"),
            &format!("descriptor digest {text:?}: {problem}"),
        )
    })
}

/// A manifest's (or index's) bytes as a blob of the store, under their digest.
fn store_bytes(
    client: &Client,
    repository: &str,
    blobs: &BlobStore,
    digest: &Digest,
    bytes: &[u8],
) -> Result<(), RegistryError> {
    let blob_error = |source| RegistryError::Blob {
        registry: client.domain().to_string(),
        repository: repository.to_string(),
        digest: digest.to_string(),
        source,
    };
    // The bytes were checked against this digest when fetched; hashing again with
    // the digest's own algorithm is what the ingest does anyway.
    debug_assert_eq!(&digest_of(digest.algorithm(), bytes), digest);
    let Some(mut ingest) = blobs
        .ingest(digest, Some(bytes.len() as u64))
        .map_err(blob_error)?
    else {
        return Ok(());
    };
    if ingest.offset() > 0 {
        ingest.restart().map_err(blob_error)?;
    }
    ingest.write(bytes).map_err(blob_error)?;
    ingest.commit().map_err(blob_error)?;
    Ok(())
}

/// Docker's words for a refused pull: 401 without credentials, DENIED, or an unknown
/// repository read as "pull access denied ... may require 'docker login'".
fn as_pull_error(error: RegistryError, reference: &Reference) -> RegistryError {
    let repository = reference.familiar_name();
    match error {
        RegistryError::Unauthorized {
            registry,
            credentials_sent: false,
            remote,
            ..
        } => RegistryError::PullAccessDenied {
            registry,
            repository,
            status: 401,
            remote,
        },
        RegistryError::Status {
            registry,
            status: 403,
            remote,
            ..
        } => RegistryError::PullAccessDenied {
            registry,
            repository,
            status: 403,
            remote,
        },
        RegistryError::ManifestUnknown {
            registry, remote, ..
        } if remote.iter().any(|e| e.code == "NAME_UNKNOWN") => RegistryError::PullAccessDenied {
            registry,
            repository,
            status: 404,
            remote,
        },
        RegistryError::ManifestUnknown {
            registry,
            repository: path,
            remote,
            ..
        } => RegistryError::ManifestUnknown {
            registry,
            repository: path,
            reference: reference.familiar(),
            remote,
        },
        other => other,
    }
}
