//! A pull unpacks each layer as soon as its blob is in the store, while the others
//! still download; a download that fails leaves neither the image nor a staged
//! layer behind. Against a scripted registry on 127.0.0.1, driving the engine's
//! `pull` directly.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_engine::image::add::LayerEvent;
use berth_engine::image::reference::Reference;
use berth_engine::image::transfer::{pull, RegistryOptions};
use berth_engine::registry::{short_id, LayerState, PullEvent};
use berth_engine::store::Store;
use integration::registry::{RawRequest, RawResponse, StubServer};
use sha2::{Digest as _, Sha256};

const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// An uncompressed layer of one file: its blob digest is its diff_id.
fn layer(name: &str, size: usize) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let content = vec![b'x'; size];
    let mut header = tar::Header::new_gnu();
    header.set_size(size as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, name, &content[..])
        .unwrap();
    builder.into_inner().unwrap()
}

/// An image of two layers: its manifest, config, and the layers' bytes.
struct TwoLayers {
    manifest: Vec<u8>,
    config: Vec<u8>,
    first: Vec<u8>,
    second: Vec<u8>,
}

impl TwoLayers {
    fn new() -> TwoLayers {
        let first = layer("first", 4096);
        let second = layer("second", 1 << 20);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(&first), sha256(&second)]},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(&config),
                "size": config.len(),
            },
            "layers": [
                {"mediaType": LAYER_TAR, "digest": sha256(&first), "size": first.len()},
                {"mediaType": LAYER_TAR, "digest": sha256(&second), "size": second.len()},
            ],
        }))
        .unwrap();
        TwoLayers {
            manifest,
            config,
            first,
            second,
        }
    }

    /// The registry's answer to `request`; the second layer's blob is `second`.
    fn answer(&self, request: &RawRequest, second: impl FnOnce() -> RawResponse) -> RawResponse {
        let path = request.path();
        if path == "/v2/" {
            return RawResponse::json(200, "{}");
        }
        if path.contains("/manifests/") {
            return RawResponse::new(200)
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .body(self.manifest.clone());
        }
        for blob in [&self.config, &self.first] {
            if path.ends_with(&sha256(blob)) {
                return RawResponse::new(200).body(blob.clone());
            }
        }
        if path.ends_with(&sha256(&self.second)) {
            return second();
        }
        RawResponse::json(404, r#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#)
    }
}

/// Runs the engine's pull of `reference` into `store`; its events, in order.
fn run_pull(
    store: &mut Store,
    reference: &str,
    on_layer: impl Fn(&LayerEvent),
) -> (Result<(), String>, Vec<String>) {
    let reference = Reference::parse(reference).unwrap();
    let events = Mutex::new(Vec::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(pull(
        store,
        &reference,
        None,
        &RegistryOptions::default(),
        &|event| {
            if let PullEvent::Layer { id, state } = event {
                if !matches!(state, LayerState::Downloading { .. }) {
                    events.lock().unwrap().push(format!("{id} {state:?}"));
                }
            }
        },
        &mut |event| {
            on_layer(&event);
            let line = match &event {
                LayerEvent::Extracting { blob } => format!("{} Extracting", short_id(blob)),
                LayerEvent::Extracted { blob, .. } => format!("{} Extracted", short_id(blob)),
                LayerEvent::AlreadyThere { blob } => format!("{} AlreadyThere", short_id(blob)),
            };
            events.lock().unwrap().push(line);
        },
    ));
    (
        result.map(|_| ()).map_err(|e| e.to_string()),
        events.into_inner().unwrap(),
    )
}

fn short(bytes: &[u8]) -> String {
    sha256(bytes)[7..19].to_string()
}

/// No Docker config (a dir that is not there), so the user's credentials stay out.
/// Tests running at once may each set theirs: all are missing alike.
fn docker_config(dir: &std::path::Path) {
    std::env::set_var("DOCKER_CONFIG", dir.join("no-docker-config"));
}

#[test]
fn a_layer_is_unpacked_while_another_still_downloads() {
    let dir = tempfile::tempdir().unwrap();
    docker_config(dir.path());
    let image = Arc::new(TwoLayers::new());
    let mut store = Store::open(&dir.path().join("store")).unwrap();
    // The first layer's blob is in the store already: it can unpack at once.
    store.blobs.put_bytes(&image.first).unwrap();
    // The second layer's blob is held back until the first is unpacked; a pull that
    // unpacks only once every blob is in would wait here the whole minute.
    let (unpacked, wait_for_it) = mpsc::channel::<()>();
    let wait_for_it = Mutex::new(wait_for_it);
    let served_early = Arc::new(Mutex::new(false));
    let registry = {
        let (image, served_early) = (image.clone(), served_early.clone());
        StubServer::start(move |request| {
            image.answer(request, || {
                let waited = wait_for_it
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(60));
                if waited.is_err() {
                    *served_early.lock().unwrap() = true;
                }
                RawResponse::new(200).body(image.second.clone())
            })
        })
    };
    let first = short(&image.first);
    let (result, events) = run_pull(
        &mut store,
        &format!("{}/two/layers:1", registry.host()),
        |event| {
            if matches!(event, LayerEvent::Extracted { blob, .. } if short_id(blob) == first) {
                let _ = unpacked.send(());
            }
        },
    );
    result.unwrap();
    assert!(
        !*served_early.lock().unwrap(),
        "the second blob was served before the first layer was unpacked: {events:?}"
    );
    let second = short(&image.second);
    let position = |line: &str| events.iter().position(|e| e == line);
    let first_done = position(&format!("{first} Extracted")).expect("first unpacked");
    let second_fetched =
        position(&format!("{second} DownloadComplete")).expect("second downloaded");
    let second_done = position(&format!("{second} Extracted")).expect("second unpacked");
    assert!(first_done < second_fetched, "{events:?}");
    assert!(second_fetched < second_done, "{events:?}");
    let images = store.images().unwrap();
    assert_eq!(images.len(), 1);
}

#[test]
fn a_failed_download_leaves_no_image_and_no_staged_layer() {
    let dir = tempfile::tempdir().unwrap();
    docker_config(dir.path());
    let image = Arc::new(TwoLayers::new());
    let root = dir.path().join("store");
    let mut store = Store::open(&root).unwrap();
    store.blobs.put_bytes(&image.first).unwrap();
    // The first layer unpacks (its blob is there) before the second fails for good.
    let (unpacked, wait_for_it) = mpsc::channel::<()>();
    let wait_for_it = Mutex::new(wait_for_it);
    let registry = {
        let image = image.clone();
        StubServer::start(move |request| {
            image.answer(request, || {
                let _ = wait_for_it
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(60));
                RawResponse::json(404, r#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#)
            })
        })
    };
    let first = short(&image.first);
    let (result, events) = run_pull(
        &mut store,
        &format!("{}/two/layers:1", registry.host()),
        |event| {
            if matches!(event, LayerEvent::Extracted { blob, .. } if short_id(blob) == first) {
                let _ = unpacked.send(());
            }
        },
    );
    let error = result.expect_err("the second blob is missing");
    assert!(error.contains("blob unknown"), "{error}");
    assert!(
        events.contains(&format!("{first} Extracted")),
        "the first layer was unpacked before the failure: {events:?}"
    );
    assert!(store.images().unwrap().is_empty());
    let left: Vec<String> = std::fs::read_dir(root.join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "layers/ holds {left:?}");
    let first_diff = sha256(&image.first);
    assert!(store.layer(&first_diff).unwrap().is_none());
}
