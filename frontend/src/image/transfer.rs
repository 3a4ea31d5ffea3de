//! `pull` and `push` as the engine does them: the registry client moves the blobs,
//! the store records the image (or reads it back for a push) under the store's add
//! lock. A pull unpacks each layer as soon as its blob is in the store, while the
//! others still download.

use std::collections::HashMap;
use std::sync::Arc;

use super::add::{self, AddError, ImageBlobs, LayerBlob, LayerEvent, Prepared};
use super::auth::{default_path, AuthError, AuthFile, Credentials};
use super::platform::Platform;
use super::reference::{Digest, Reference};
use super::unpacker::{workers_for, Unpacker, Unpacking};
use crate::registry::{
    fetch_layers, push_image, resolve_image, Client, ClientOptions, CredentialSource, ImageToPush,
    Layer, PullEvent, PushEvent, PushedImage, RegistryError, ResolvedImage,
};
use crate::store::blobs::BlobStore;
use crate::store::images::ImageRecord;
use crate::store::layers::{LayerError, UnpackedLayer};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Add(#[from] AddError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("image {image}: {problem}")]
    Image { image: String, problem: String },
}

/// Why a push has nothing to send.
#[derive(Debug, thiserror::Error)]
pub enum PushSourceError {
    /// Docker's words for a push of a name the store does not have.
    #[error("An image does not exist locally with the tag: {name}")]
    NotLocal { name: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whose credentials a registry operation presents.
#[derive(Clone, Default)]
pub enum RegistryAuth {
    /// The user's Docker config.json: the CLI, as `docker` itself.
    #[default]
    UserConfig,
    /// Those the request carries: the daemon's `X-Registry-Auth`.
    Given(Credentials),
    /// None: the daemon keeps no credentials of its own, as dockerd.
    Anonymous,
}

impl std::fmt::Debug for RegistryAuth {
    /// Never the password: options end up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryAuth::UserConfig => f.write_str("UserConfig"),
            RegistryAuth::Given(c) => write!(f, "Given({}:<redacted>)", c.username),
            RegistryAuth::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// What the registry client needs from the command line or the request.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    pub insecure_registries: Vec<String>,
    pub auth: RegistryAuth,
}

impl RegistryOptions {
    /// Client options with the credentials `auth` names.
    pub fn client_options(&self) -> Result<ClientOptions, AuthError> {
        let credentials = match &self.auth {
            RegistryAuth::UserConfig => {
                CredentialSource::DockerConfig(Arc::new(AuthFile::load(&default_path()?)?))
            }
            RegistryAuth::Given(c) => CredentialSource::Explicit(c.clone()),
            RegistryAuth::Anonymous => CredentialSource::Anonymous,
        };
        Ok(ClientOptions {
            insecure_registries: self.insecure_registries.clone(),
            credentials,
            ..ClientOptions::default()
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Docker's words for credentials the registry itself refused.
    #[error("login attempt to {url} failed with status: 401 Unauthorized")]
    Refused { url: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Checks `credentials` against the registry of `domain` as `docker login` does,
/// before anyone keeps them.
pub async fn check_login(
    domain: &str,
    credentials: &Credentials,
    options: &RegistryOptions,
) -> Result<(), LoginError> {
    let options = ClientOptions {
        insecure_registries: options.insecure_registries.clone(),
        credentials: CredentialSource::Explicit(credentials.clone()),
        ..ClientOptions::default()
    };
    let client = Client::new(domain, options)?;
    match client.check_login().await {
        Err(RegistryError::Unauthorized {
            credentials_sent: true,
            ..
        }) => {
            let base = client.base_url().await?;
            Err(LoginError::Refused {
                url: format!("{base}v2/"),
            })
        }
        other => Ok(other?),
    }
}

/// A finished pull.
pub struct Pulled {
    pub record: ImageRecord,
    /// What the reference resolved to (the index's digest for a multi-platform image).
    pub digest: Digest,
    /// False when the name already named this image.
    pub updated: bool,
}

impl Pulled {
    /// Docker's closing line of a pull of `reference`.
    pub fn status(&self, reference: &Reference) -> String {
        let what = if self.updated {
            "Downloaded newer image"
        } else {
            "Image is up to date"
        };
        format!("Status: {what} for {}", reference.familiar())
    }
}

/// Pulls `reference` into the store and names it.
pub async fn pull(
    store: &mut Store,
    reference: &Reference,
    platform: Option<&Platform>,
    options: &RegistryOptions,
    progress: &(dyn Fn(PullEvent) + Send + Sync),
    extracting: &mut dyn FnMut(LayerEvent),
) -> Result<Pulled, PullError> {
    let client = Client::new(reference.domain(), options.client_options()?)?;
    let before = match reference.digest() {
        Some(digest) => store.image_by_digest(reference, digest)?,
        None => store.image_by_tag(reference)?,
    };
    // Held from the first blob written to the image recorded: a concurrent rmi or
    // prune must not collect blobs no row names yet.
    let _adding = store.adding()?;
    let resolved = resolve_image(&client, reference, platform, &store.blobs, progress).await?;
    let pulled = resolved.image();
    let blobs = ImageBlobs {
        config: pulled.config_digest.clone(),
        manifest: pulled.manifest_digest.clone(),
        manifest_media_type: pulled.media_type.clone(),
        layers: pulled
            .layers
            .iter()
            .map(|l| LayerBlob {
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
            })
            .collect(),
    };
    let digest = pulled
        .index
        .as_ref()
        .map_or_else(|| pulled.manifest_digest.clone(), |(d, _)| d.clone());
    // Staged before any layer blob is fetched, holding no ingest lock (the config's
    // was let go): a process waiting here for another's layer lock holds nothing
    // that one needs. It blocks the task, which has nothing else to do meanwhile.
    let prepared = add::prepare(store, &blobs)?;
    // On an error, `prepared` is dropped after the unpack threads have stopped: the
    // staged layers are abandoned and nothing of the image is visible.
    let unpacked = fetch_and_unpack(
        &client,
        resolved,
        &store.blobs,
        &prepared,
        progress,
        extracting,
    )
    .await?;
    let tags: Vec<Reference> = if reference.digest().is_none() {
        vec![reference.clone()]
    } else {
        Vec::new()
    };
    let record = add::finish(
        store,
        prepared,
        &blobs,
        unpacked,
        &tags,
        Some((reference, &digest)),
        extracting,
    )?;
    let familiar = reference.familiar();
    super::events::record(store, "pull", &familiar, &reference.familiar_name());
    Ok(Pulled {
        updated: before.as_deref() != Some(record.id.as_str()),
        record,
        digest,
    })
}

/// Fetches the layers of `resolved` and unpacks the jobs of `prepared`, each as
/// soon as its blob is in the store (on the [`Unpacker`]'s threads, their results
/// coming back to this task); the unpack results by job id. The first failure of
/// either stops both: the downloads left keep their bytes in the ingest, the
/// unpacks under way are waited for.
async fn fetch_and_unpack(
    client: &Client,
    resolved: ResolvedImage,
    blobs: &BlobStore,
    prepared: &Prepared,
    progress: &(dyn Fn(PullEvent) + Send + Sync),
    extracting: &mut dyn FnMut(LayerEvent),
) -> Result<HashMap<usize, anyhow::Result<UnpackedLayer>>, PullError> {
    let jobs = prepared.jobs();
    let image = resolved.image().reference.familiar();
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel::<Unpacking>();
    let unpacker = Unpacker::start(workers_for(jobs.len()), move |event| {
        let _ = events.send(event);
    })
    .map_err(|source| AddError::Threads { source })?;
    let on_fetched = |digest: &Digest| {
        for job in jobs.iter().filter(|job| &job.blob == digest) {
            unpacker.feed(job.clone());
        }
    };
    let fetch = async {
        fetch_layers(client, resolved, blobs, progress, &on_fetched)
            .await
            .map_err(PullError::from)
    };
    let unpack = async {
        let mut results = HashMap::new();
        while results.len() < jobs.len() {
            let Some(event) = received.recv().await else {
                return Err(PullError::Image {
                    image: image.clone(),
                    problem: "the threads unpacking its layers stopped".to_string(),
                });
            };
            match event {
                Unpacking::Started(id) => extracting(LayerEvent::Extracting {
                    blob: jobs[id].blob.clone(),
                }),
                Unpacking::Done(id, Ok(done)) => {
                    extracting(LayerEvent::Extracted {
                        blob: jobs[id].blob.clone(),
                        size: done.size,
                    });
                    results.insert(id, Ok(done));
                }
                Unpacking::Done(id, Err(source)) => {
                    return Err(PullError::Add(AddError::Layer(LayerError::Unpack {
                        diff_id: jobs[id].diff_id.clone(),
                        source,
                    })))
                }
            }
        }
        Ok(results)
    };
    let (_, results) = futures_util::future::try_join(fetch, unpack).await?;
    unpacker.wait();
    Ok(results)
}

/// The image a push of `target` sends: the one the store has under that name.
pub fn image_to_push(store: &Store, target: &Reference) -> Result<ImageRecord, PushSourceError> {
    match super::local::resolve(store, &target.to_string()) {
        Ok((record, _)) => Ok(record),
        Err(super::local::LocalError::Store(e)) => Err(e.into()),
        Err(_) => Err(PushSourceError::NotLocal {
            name: target.familiar_name(),
        }),
    }
}

/// Every tag the store has of `repository`'s name, with its image, in name order: a
/// push of all tags (`docker push --all-tags`).
pub fn tags_to_push(
    store: &Store,
    repository: &Reference,
) -> Result<Vec<(Reference, ImageRecord)>, PushSourceError> {
    let mut found = Vec::new();
    for record in store.images()? {
        for tag in &record.tags {
            match Reference::parse(tag) {
                Ok(named) if named.name() == repository.name() => {
                    found.push((named, record.clone()))
                }
                _ => {}
            }
        }
    }
    if found.is_empty() {
        return Err(PushSourceError::NotLocal {
            name: repository.familiar_name(),
        });
    }
    found.sort_by_key(|(named, _)| named.to_string());
    Ok(found)
}

/// Pushes the image `record` to `target`.
pub async fn push(
    store: &Store,
    record: &ImageRecord,
    target: &Reference,
    options: &RegistryOptions,
    progress: &(dyn Fn(PushEvent) + Send + Sync),
) -> Result<PushedImage, PullError> {
    let problem = |p: String| PullError::Image {
        image: target.familiar(),
        problem: p,
    };
    let manifest_digest = Digest::parse(&record.manifest_digest)
        .map_err(|e| problem(format!("manifest digest: {e:?}")))?;
    let path = store.blobs.path(&manifest_digest);
    let manifest_bytes = std::fs::read(&path)
        .map_err(|e| problem(format!("its manifest {}: {e}", path.display())))?;
    let config_digest = Digest::parse(&record.id).map_err(|e| problem(format!("id: {e:?}")))?;
    let layers = store
        .image_layers(&record.id)?
        .into_iter()
        .map(|l| {
            let digest = Digest::parse(&l.blob_digest)
                .map_err(|e| format!("layer {}: {e:?}", l.blob_digest))?;
            let compression = super::manifest::layer_compression(
                &oci_spec::image::MediaType::from(l.blob_media_type.as_str()),
            )
            .map_err(|e| e.to_string())?;
            Ok(Layer {
                digest,
                size: l.blob_size,
                media_type: l.blob_media_type,
                compression,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(problem)?;
    // Blobs the registry may have under another repository of the image's.
    let mount_from: Vec<String> = record
        .repo_digests
        .iter()
        .chain(&record.tags)
        .filter_map(|name| Reference::parse(name).ok())
        .filter(|r| r.domain() == target.domain() && r.path() != target.path())
        .map(|r| r.path().to_string())
        .collect();
    let image = ImageToPush {
        manifest_bytes,
        media_type: record.manifest_media_type.clone(),
        config_digest,
        layers,
        mount_from,
    };
    let client = Client::new(target.domain(), options.client_options()?)?;
    let pushed = push_image(&client, target, &store.blobs, &image, progress).await?;
    super::events::record(store, "push", &target.familiar(), &target.familiar_name());
    Ok(pushed)
}
