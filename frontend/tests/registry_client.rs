//! The registry client against real servers: Debian's docker-registry 2.8 in its
//! plain, htpasswd and token flavours (harness: `integration::registry`), images seeded
//! by skopeo: pulls, authentication, and what goes wrong (a tampered blob, a registry
//! killed mid-pull, a redirect to another host). One behaviour per test; each test owns its registry, store and names, so
//! they run in parallel, and cleans up on failure too (Drop guards).

mod common;

use std::fs;
use std::sync::{Arc, Mutex};

use berth_engine::image::manifest::{Compression, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use berth_engine::image::platform::Platform;
use berth_engine::registry::{
    plain_http_allowed, pull_image, short_id, Client, LayerState, PullEvent, RegistryError,
};
use common::*;
use integration::registry::{
    Compression as Seed, Flavour, ImageSpec, LayerSpec, RawResponse, Registry, StubServer,
    PASSWORD, USER,
};
use sha2::{Digest as _, Sha256};

#[test]
fn pull_by_tag_stores_manifest_config_and_layers() {
    let registry = Registry::start(Flavour::Plain);
    let seeded = registry.seed("tagged/busybox", "v1", &ImageSpec::busybox(Seed::Gzip));
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let reference = reference(&registry, "tagged/busybox:v1");
        let (image, events) = pull(&client, &reference, None, &store.blobs).await;
        let image = image.expect("pull");
        assert_eq!(image.manifest_digest.to_string(), seeded.digest);
        assert_eq!(image.media_type, OCI_MANIFEST);
        assert!(image.index.is_none());
        assert_eq!(
            image.config_digest.to_string(),
            seeded.images[0].config_digest
        );
        assert_eq!(image.layers.len(), 1);
        assert_complete(&image, &store.blobs);
        assert_eq!(
            events.first(),
            Some(&PullEvent::Pulling {
                tag: "v1".into(),
                repository: "tagged/busybox".into()
            })
        );
        assert!(events.contains(&PullEvent::Resolved {
            digest: digest(&seeded.digest)
        }));
        let states = layer_states(&events);
        assert_eq!(states.first(), Some(&LayerState::Waiting));
        assert!(states.contains(&LayerState::Verifying));
        assert_eq!(states.last(), Some(&LayerState::DownloadComplete));
        let id = short_id(&image.layers[0].digest);
        assert_eq!(id.len(), 12);
        assert!(events
            .iter()
            .all(|e| !matches!(e, PullEvent::Layer { id: i, .. } if *i != id)));
    });
}

#[test]
fn pull_by_digest_verifies_the_manifest_against_it() {
    let registry = Registry::start(Flavour::Plain);
    let seeded = registry.seed("bydigest", "v1", &ImageSpec::busybox(Seed::Gzip));
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let reference = reference(&registry, &format!("bydigest@{}", seeded.digest));
        let (image, events) = pull(&client, &reference, None, &store.blobs).await;
        let image = image.expect("pull by digest");
        assert_eq!(image.manifest_digest.to_string(), seeded.digest);
        assert_complete(&image, &store.blobs);
        assert!(matches!(&events[0], PullEvent::Pulling { tag, .. } if *tag == seeded.digest));
    });
}

fn two_platforms() -> ImageSpec {
    ImageSpec {
        layers: vec![
            LayerSpec::Busybox(Seed::Gzip),
            LayerSpec::Text {
                marker: "arch".into(),
                compression: Seed::Gzip,
            },
        ],
        platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
        docker_schema2: false,
    }
}

#[test]
fn pull_from_an_index_chooses_the_platform() {
    let registry = Registry::start(Flavour::Plain);
    let seeded = registry.seed("multi", "v1", &two_platforms());
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let reference = reference(&registry, "multi:v1");
        let arm64 = Platform::parse("linux/arm64").unwrap();
        let (image, events) = pull(&client, &reference, Some(&arm64), &store.blobs).await;
        let image = image.expect("pull arm64");
        let built = seeded
            .images
            .iter()
            .find(|i| i.platform == "linux/arm64")
            .unwrap();
        assert_eq!(image.manifest_digest.to_string(), built.manifest_digest);
        let (index_digest, index_bytes) = image.index.clone().expect("the index");
        assert_eq!(index_digest.to_string(), seeded.digest);
        assert!(String::from_utf8_lossy(&index_bytes).contains(OCI_INDEX));
        assert_complete(&image, &store.blobs);
        assert!(events.contains(&PullEvent::Platform {
            digest: digest(&built.manifest_digest),
            platform: "linux/arm64".into()
        }));
        // The Resolved digest is the index's, what the tag names (Docker's `Digest:`).
        assert!(events.contains(&PullEvent::Resolved {
            digest: digest(&seeded.digest)
        }));
    });
}

#[test]
fn an_index_without_the_platform_is_an_error_naming_reference_and_platform() {
    let registry = Registry::start(Flavour::Plain);
    registry.seed("multi", "v1", &two_platforms());
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let reference = reference(&registry, "multi:v1");
        let s390x = Platform::parse("linux/s390x").unwrap();
        let (result, _) = pull(&client, &reference, Some(&s390x), &store.blobs).await;
        let message = result.expect_err("no s390x image").to_string();
        assert!(
            message.contains(&format!("{}/multi:v1", registry.host())),
            "{message}"
        );
        assert!(message.contains("linux/s390x"), "{message}");
        assert!(message.contains("linux/amd64, linux/arm64"), "{message}");
    });
}

#[test]
fn gzip_zstd_and_uncompressed_layers_land_verified() {
    let registry = Registry::start(Flavour::Plain);
    let spec = ImageSpec {
        layers: vec![
            LayerSpec::Busybox(Seed::Gzip),
            LayerSpec::Text {
                marker: "zstd".into(),
                compression: Seed::Zstd,
            },
            LayerSpec::Text {
                marker: "plain".into(),
                compression: Seed::None,
            },
        ],
        platforms: vec!["linux/amd64".into()],
        docker_schema2: false,
    };
    let seeded = registry.seed("layers", "three", &spec);
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let (image, _) = pull(
            &client,
            &reference(&registry, "layers:three"),
            None,
            &store.blobs,
        )
        .await;
        let image = image.expect("pull");
        let compressions: Vec<Compression> = image.layers.iter().map(|l| l.compression).collect();
        assert_eq!(
            compressions,
            [Compression::Gzip, Compression::Zstd, Compression::None]
        );
        let built: Vec<&String> = seeded.images[0].layers.iter().map(|(d, _, _)| d).collect();
        let pulled: Vec<String> = image.layers.iter().map(|l| l.digest.to_string()).collect();
        assert_eq!(pulled.iter().collect::<Vec<_>>(), built);
        assert_complete(&image, &store.blobs);
    });
}

#[test]
fn a_docker_schema2_manifest_is_pulled() {
    let registry = Registry::start(Flavour::Plain);
    let spec = ImageSpec {
        docker_schema2: true,
        ..ImageSpec::busybox(Seed::Gzip)
    };
    let seeded = registry.seed("schema2", "v1", &spec);
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let (image, _) = pull(
            &client,
            &reference(&registry, "schema2:v1"),
            None,
            &store.blobs,
        )
        .await;
        let image = image.expect("pull");
        assert_eq!(image.media_type, DOCKER_MANIFEST);
        assert_eq!(image.manifest_digest.to_string(), seeded.digest);
        assert_eq!(image.layers[0].compression, Compression::Gzip);
        assert_eq!(
            image.layers[0].media_type,
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
        assert_complete(&image, &store.blobs);
    });
}

#[test]
fn a_second_pull_downloads_nothing() {
    let registry = Registry::start(Flavour::Plain);
    let spec = ImageSpec {
        layers: vec![
            LayerSpec::Busybox(Seed::Gzip),
            LayerSpec::Text {
                marker: "again".into(),
                compression: Seed::Gzip,
            },
        ],
        ..ImageSpec::busybox(Seed::Gzip)
    };
    registry.seed("again", "v1", &spec);
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let reference = reference(&registry, "again:v1");
        pull(&client, &reference, None, &store.blobs)
            .await
            .0
            .expect("first pull");
        let (second, events) = pull(&client, &reference, None, &store.blobs).await;
        second.expect("second pull");
        let states = layer_states(&events);
        assert_eq!(
            states,
            [LayerState::AlreadyExists, LayerState::AlreadyExists]
        );
    });
}

#[test]
fn a_bad_password_is_refused() {
    for flavour in [Flavour::Htpasswd, Flavour::Token] {
        let registry = Registry::start(flavour);
        registry.seed("private", "v1", &ImageSpec::busybox(Seed::Gzip));
        let store = store();
        block_on(async {
            let client = client_for(&registry, Some((USER, "wrong-password")));
            let (result, _) = pull(
                &client,
                &reference(&registry, "private:v1"),
                None,
                &store.blobs,
            )
            .await;
            let error = result.expect_err("a wrong password must not pull");
            let message = error.to_string();
            eprintln!("{flavour:?}: {message}");
            assert!(message.contains(&registry.host()), "{message}");
            match flavour {
                Flavour::Htpasswd => {
                    assert!(
                        matches!(error, RegistryError::Unauthorized { .. }),
                        "{error:?}"
                    );
                    assert!(
                        message.contains("unauthorized: authentication required"),
                        "{message}"
                    );
                    assert!(message.contains("refused the credentials"), "{message}");
                }
                _ => {
                    assert!(matches!(error, RegistryError::Token { .. }), "{error:?}");
                    assert!(
                        message.contains("incorrect username or password"),
                        "{message}"
                    );
                }
            }
        });
    }
}

#[test]
fn anonymous_pull_from_a_token_registry_is_denied_as_docker_says() {
    let registry = Registry::start(Flavour::Token);
    registry.seed("secret/app", "v1", &ImageSpec::busybox(Seed::Gzip));
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let (result, _) = pull(
            &client,
            &reference(&registry, "secret/app:v1"),
            None,
            &store.blobs,
        )
        .await;
        let message = result.expect_err("anonymous is denied").to_string();
        eprintln!("{message}");
        assert!(
            message.starts_with(&format!(
                "pull access denied for {}/secret/app, repository does not exist or may require 'docker login'",
                registry.host()
            )),
            "{message}"
        );
        assert!(registry
            .token_requests()
            .iter()
            .any(|r| r.contains("anonymous")));
    });
}

#[test]
fn token_auth_with_good_credentials_pulls() {
    let registry = Registry::start(Flavour::Token);
    let seeded = registry.seed("secret/app", "v1", &ImageSpec::busybox(Seed::Gzip));
    let store = store();
    block_on(async {
        let client = client_for(&registry, Some((USER, PASSWORD)));
        let (image, _) = pull(
            &client,
            &reference(&registry, "secret/app:v1"),
            None,
            &store.blobs,
        )
        .await;
        let image = image.expect("pull with a token");
        assert_eq!(image.manifest_digest.to_string(), seeded.digest);
        assert_complete(&image, &store.blobs);
        let requests = registry.token_requests();
        let ours: Vec<&String> = requests
            .iter()
            // Not skopeo's (pull,push) of the seeding.
            .filter(|r| r.contains("scope=repository%3Asecret%2Fapp%3Apull&"))
            .collect();
        // One token for the whole pull: cached per scope.
        assert_eq!(ours.len(), 1, "{requests:?}");
        assert!(ours[0].ends_with(" auth"), "{requests:?}");
    });
}

#[test]
fn htpasswd_with_good_credentials_pulls() {
    let registry = Registry::start(Flavour::Htpasswd);
    registry.seed("basic", "v1", &ImageSpec::busybox(Seed::Gzip));
    let store = store();
    block_on(async {
        let client = client_for(&registry, Some((USER, PASSWORD)));
        let (image, _) = pull(
            &client,
            &reference(&registry, "basic:v1"),
            None,
            &store.blobs,
        )
        .await;
        assert_complete(&image.expect("pull"), &store.blobs);
    });
}

#[test]
fn a_loopback_registry_over_tls_is_pulled_over_https_as_docker_trusts_it() {
    let registry = Registry::start_tls(Flavour::Htpasswd);
    let seeded = registry.seed("secure", "v1", &ImageSpec::busybox(Seed::Gzip));
    let store = store();
    block_on(async {
        let client = client_for(&registry, Some((USER, PASSWORD)));
        let (image, _) = pull(
            &client,
            &reference(&registry, "secure:v1"),
            None,
            &store.blobs,
        )
        .await;
        let image = image.expect("pull over https");
        assert_eq!(image.manifest_digest.to_string(), seeded.digest);
        assert_complete(&image, &store.blobs);
        // Loopback registries are insecure registries (Docker's default): https
        // first, its self-signed certificate accepted, no fall back to http.
        let base = client.base_url().await.expect("base url");
        assert_eq!(base.scheme(), "https");
    });
}

#[test]
fn an_unknown_tag_is_manifest_unknown() {
    let registry = Registry::start(Flavour::Plain);
    registry.seed("known", "v1", &ImageSpec::busybox(Seed::Gzip));
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let (result, _) = pull(
            &client,
            &reference(&registry, "known:nope"),
            None,
            &store.blobs,
        )
        .await;
        let message = result.expect_err("no such tag").to_string();
        assert_eq!(
            message,
            format!(
                "manifest for {}/known:nope not found: manifest unknown: manifest unknown",
                registry.host()
            )
        );
    });
}

#[test]
fn a_tampered_blob_is_refused_leaves_nothing_and_pulls_once_restored() {
    let registry = Registry::start(Flavour::Plain);
    let seeded = registry.seed("tampered", "v1", &ImageSpec::busybox(Seed::Gzip));
    let (layer, _, _) = seeded.images[0].layers[0].clone();
    let data = registry.blob_data(&layer);
    let original = fs::read(&data).expect("the registry's blob");
    let mut bad = original.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0xff;
    fs::write(&data, &bad).expect("tamper");
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let reference = reference(&registry, "tampered:v1");
        let (result, _) = pull(&client, &reference, None, &store.blobs).await;
        let error = result.expect_err("a blob that does not hash to its digest");
        let message = error.to_string();
        assert!(
            matches!(error, RegistryError::DigestMismatch { .. }),
            "{error:?}"
        );
        assert!(message.contains(&layer), "{message}");
        assert!(message.contains("tampered"), "{message}");
        assert!(!store.blobs.has(&digest(&layer)));
        let ingest = store.blobs.path(&digest(&layer));
        let ingest_dir = ingest.parent().unwrap().parent().unwrap().join("ingest");
        let leftovers: Vec<_> = fs::read_dir(&ingest_dir).unwrap().flatten().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        fs::write(&data, &original).expect("restore");
        let (image, _) = pull(&client, &reference, None, &store.blobs).await;
        assert_complete(&image.expect("pull once restored"), &store.blobs);
    });
}

#[test]
fn a_registry_killed_mid_pull_fails_clearly_and_the_next_pull_resumes() {
    let registry = Arc::new(Registry::start(Flavour::Plain));
    let spec = ImageSpec {
        layers: vec![LayerSpec::Random {
            size: 48 << 20,
            compression: Seed::None,
        }],
        ..ImageSpec::busybox(Seed::None)
    };
    let seeded = registry.seed("big", "v1", &spec);
    let (layer, size, _) = seeded.images[0].layers[0].clone();
    let store = store();
    block_on(async {
        let client = client_for(&registry, None);
        let killer = registry.clone();
        let killed = Arc::new(Mutex::new(false));
        let flag = killed.clone();
        let on_event = move |event: PullEvent| {
            if let PullEvent::Layer {
                state: LayerState::Downloading { current, .. },
                ..
            } = event
            {
                let mut killed = flag.lock().unwrap();
                if current >= 1 << 20 && !*killed {
                    *killed = true;
                    killer.kill();
                }
            }
        };
        let result = pull_image(
            &client,
            &reference(&registry, "big:v1"),
            None,
            &store.blobs,
            &on_event,
        )
        .await;
        assert!(*killed.lock().unwrap(), "the registry was never killed");
        let error = result.expect_err("the registry died");
        assert!(
            matches!(error, RegistryError::Transport { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(&registry.host()), "{error}");
        assert!(
            error.to_string().contains("gave up after 3 tries"),
            "{error}"
        );
        eprintln!("the pull's error: {error}");
        assert!(!store.blobs.has(&digest(&layer)));

        registry.restart();
        let client = client_for(&registry, None);
        let (image, events) =
            pull(&client, &reference(&registry, "big:v1"), None, &store.blobs).await;
        let image = image.expect("the pull after the restart");
        assert_complete(&image, &store.blobs);
        let first = events.iter().find_map(|e| match e {
            PullEvent::Layer {
                state: LayerState::Downloading { current, total },
                ..
            } => Some((*current, *total)),
            _ => None,
        });
        let (current, total) = first.expect("a download");
        assert_eq!(total, size);
        assert!(
            current >= 1 << 20,
            "resumed from {current}, not from the bytes kept"
        );
    });
}

#[test]
fn a_redirect_to_another_host_does_not_carry_the_authorization() {
    let blob = b"blob bytes behind a redirect".to_vec();
    let blob_digest = {
        let hex: String = Sha256::digest(&blob)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    };
    let served = blob.clone();
    let storage = StubServer::start(move |_| RawResponse::new(200).body(served.clone()));
    let storage_url = format!("http://{}/storage/object?signature=abc", storage.host());
    let registry = StubServer::start(move |request| {
        if request.header("authorization").is_none() {
            return RawResponse::json(
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
            .header("WWW-Authenticate", r#"Basic realm="stub""#);
        }
        if request.path().contains("/blobs/") {
            return RawResponse::new(307).header("Location", &storage_url);
        }
        RawResponse::json(200, "{}")
    });
    let store = store();
    block_on(async {
        let client = Client::new(&registry.host(), options(Some(("alice", "secret")))).unwrap();
        let fetched = client
            .fetch_blob(
                "app",
                &digest(&blob_digest),
                Some(blob.len() as u64),
                &store.blobs,
                &|_| {},
            )
            .await
            .expect("fetch through the redirect");
        assert!(fetched);
        assert!(store.blobs.has(&digest(&blob_digest)));
    });
    let blob_requests: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.path().contains("/blobs/"))
        .collect();
    assert!(blob_requests.iter().any(|r| r
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic "))));
    let storage_requests = storage.requests();
    assert_eq!(storage_requests.len(), 1);
    assert_eq!(storage_requests[0].target, "/storage/object?signature=abc");
    assert!(
        storage_requests[0].header("authorization").is_none(),
        "{:?}",
        storage_requests[0].headers
    );
}

#[test]
fn a_redirect_to_plain_http_on_another_host_is_refused_before_connecting() {
    let registry = StubServer::start(|request| {
        if request.path().contains("/blobs/") {
            return RawResponse::new(307).header("Location", "http://storage.example.invalid/blob");
        }
        RawResponse::json(200, "{}")
    });
    let store = store();
    let wanted = digest("sha256:3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7");
    block_on(async {
        let client = Client::new(&registry.host(), options(None)).unwrap();
        let error = client
            .fetch_blob("app", &wanted, Some(4), &store.blobs, &|_| {})
            .await
            .expect_err("a downgrade to plain http");
        assert!(
            matches!(error, RegistryError::PlainHttpRefused { .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("http://storage.example.invalid/blob"),
            "{error}"
        );
        assert!(!store.blobs.has(&wanted));
    });
}

#[test]
fn plain_http_is_refused_for_a_host_neither_loopback_nor_insecure() {
    assert!(!plain_http_allowed("registry.example.com:5000", &[]));
    assert!(!plain_http_allowed("192.168.1.10:5000", &[]));
    assert!(plain_http_allowed(
        "192.168.1.10:5000",
        &["192.168.1.0/24".to_string()]
    ));
    assert!(plain_http_allowed("127.0.0.1:5000", &[]));
    assert!(plain_http_allowed("localhost:5000", &[]));
    assert!(plain_http_allowed("[::1]:5000", &[]));
}
