//! What the registry test files share: a runtime, stores and clients, event recorders,
//! and the check that every blob of a pulled image is in the store under its digest.

#![allow(dead_code)]

use std::fs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_engine::image::auth::Credentials;
use berth_engine::image::platform::Platform;
use berth_engine::image::reference::{Digest, Reference};
use berth_engine::registry::{
    pull_image, Client, ClientOptions, CredentialSource, LayerState, PullEvent, PulledImage,
    PushEvent, PushState, RegistryError,
};
use berth_engine::store::blobs::BlobStore;
use integration::registry::{Flavour, Registry, PASSWORD, USER};
use sha2::{Digest as _, Sha256};

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// A blob store in its own temp dir, removed on drop.
pub struct Store {
    _dir: tempfile::TempDir,
    pub blobs: BlobStore,
}

pub fn store() -> Store {
    let dir = tempfile::tempdir().expect("temp dir");
    let blobs = BlobStore::open(dir.path()).expect("blob store");
    Store { _dir: dir, blobs }
}

pub fn options(credentials: Option<(&str, &str)>) -> ClientOptions {
    ClientOptions {
        credentials: match credentials {
            Some((username, password)) => CredentialSource::Explicit(Credentials {
                username: username.to_string(),
                password: password.to_string(),
            }),
            None => CredentialSource::Anonymous,
        },
        backoff: Duration::from_millis(100),
        ..ClientOptions::default()
    }
}

pub fn client_for(registry: &Registry, credentials: Option<(&str, &str)>) -> Client {
    Client::new(&registry.host(), options(credentials)).expect("client")
}

pub fn good_credentials(registry: &Registry) -> Option<(&'static str, &'static str)> {
    (registry.flavour() != Flavour::Plain).then_some((USER, PASSWORD))
}

pub fn reference(registry: &Registry, rest: &str) -> Reference {
    Reference::parse(&format!("{}/{rest}", registry.host())).expect("reference")
}

pub fn digest(text: &str) -> Digest {
    Digest::parse(text).expect("digest")
}

/// Records every event of an operation.
pub struct Recorder<E> {
    events: Arc<Mutex<Vec<E>>>,
}

impl<E: Clone + Send + 'static> Recorder<E> {
    pub fn new() -> Recorder<E> {
        Recorder {
            events: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn callback(&self) -> impl Fn(E) + Send + Sync {
        let events = self.events.clone();
        move |e| events.lock().unwrap().push(e)
    }

    pub fn all(&self) -> Vec<E> {
        self.events.lock().unwrap().clone()
    }
}

pub fn sha256_of_file(path: &std::path::Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Every blob the pulled image names is in the store and hashes to its name.
pub fn assert_complete(image: &PulledImage, blobs: &BlobStore) {
    let mut all = vec![image.manifest_digest.clone(), image.config_digest.clone()];
    all.extend(image.layers.iter().map(|l| l.digest.clone()));
    if let Some((index, _)) = &image.index {
        all.push(index.clone());
    }
    for d in all {
        assert!(blobs.has(&d), "{d} is not in the store");
        assert_eq!(sha256_of_file(&blobs.path(&d)), d.to_string());
    }
}

pub async fn pull(
    client: &Client,
    reference: &Reference,
    platform: Option<&Platform>,
    blobs: &BlobStore,
) -> (Result<PulledImage, RegistryError>, Vec<PullEvent>) {
    let recorder = Recorder::new();
    let result = pull_image(client, reference, platform, blobs, &recorder.callback()).await;
    (result, recorder.all())
}

pub fn layer_states(events: &[PullEvent]) -> Vec<LayerState> {
    events
        .iter()
        .filter_map(|e| match e {
            PullEvent::Layer { state, .. } => Some(state.clone()),
            _ => None,
        })
        .collect()
}

pub fn push_events(events: &[PushEvent]) -> Vec<PushState> {
    events
        .iter()
        .filter_map(|e| match e {
            PushEvent::Layer { state, .. } => Some(state.clone()),
            _ => None,
        })
        .collect()
}

pub async fn store_pull(registry: &Registry, rest: &str) -> Digest {
    let store = store();
    let client = client_for(registry, good_credentials(registry));
    let (image, _) = pull(&client, &reference(registry, rest), None, &store.blobs).await;
    let image = image.expect("pull");
    assert_complete(&image, &store.blobs);
    image.manifest_digest
}
