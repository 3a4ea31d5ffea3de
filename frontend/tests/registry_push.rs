//! Pushing to real registries (docker-registry 2.8, harness `integration::registry`):
//! a round trip with cross-repository mounts, a chunked upload to an empty registry,
//! and the catalog and tag lists of what was pushed.

mod common;

use berth_engine::registry::{
    push_image, Client, ClientOptions, ImageToPush, PushEvent, PushState,
};
use common::*;
use integration::registry::{
    Compression as Seed, Flavour, ImageSpec, LayerSpec, Registry, PASSWORD, USER,
};

#[test]
fn push_then_pull_round_trip_mounting_from_another_repository() {
    let registry = Registry::start(Flavour::Token);
    let spec = ImageSpec {
        layers: vec![
            LayerSpec::Busybox(Seed::Gzip),
            LayerSpec::Text {
                marker: "mount".into(),
                compression: Seed::Zstd,
            },
        ],
        ..ImageSpec::busybox(Seed::Gzip)
    };
    registry.seed("source/app", "v1", &spec);
    let (first, second) = (store(), store());
    block_on(async {
        let client = client_for(&registry, Some((USER, PASSWORD)));
        let source = reference(&registry, "source/app:v1");
        let (pulled, _) = pull(&client, &source, None, &first.blobs).await;
        let pulled = pulled.expect("pull the source");

        let target = reference(&registry, "copies/app:v2");
        let recorder = Recorder::new();
        let push_client = client_for(&registry, Some((USER, PASSWORD)));
        let pushed = push_image(
            &push_client,
            &target,
            &first.blobs,
            &ImageToPush::from(&pulled),
            &recorder.callback(),
        )
        .await
        .expect("push");
        assert_eq!(pushed.digest, pulled.manifest_digest);
        assert_eq!(pushed.size, pulled.manifest_bytes.len() as u64);
        let events = recorder.all();
        assert_eq!(
            events.first(),
            Some(&PushEvent::Repository {
                name: format!("{}/copies/app", registry.host())
            })
        );
        let mounted = PushState::MountedFrom {
            repository: "source/app".into(),
        };
        let states = push_events(&events);
        assert_eq!(
            states.iter().filter(|s| **s == mounted).count(),
            2,
            "{events:?}"
        );
        assert_eq!(
            events.last(),
            Some(&PushEvent::Pushed {
                tag: Some("v2".into()),
                digest: pushed.digest.clone(),
                size: pushed.size
            })
        );

        let head = push_client.head_manifest(&target).await.expect("head");
        assert_eq!(head.digest.as_ref(), Some(&pushed.digest));
        let (again, _) = pull(
            &client_for(&registry, Some((USER, PASSWORD))),
            &target,
            None,
            &second.blobs,
        )
        .await;
        let again = again.expect("pull what was pushed");
        assert_eq!(again.manifest_digest, pulled.manifest_digest);
        assert_complete(&again, &second.blobs);
    });
}

#[test]
fn push_uploads_in_chunks_to_an_empty_registry() {
    let source = Registry::start(Flavour::Plain);
    let spec = ImageSpec {
        layers: vec![
            LayerSpec::Random {
                size: 300 * 1024,
                compression: Seed::None,
            },
            LayerSpec::Busybox(Seed::Gzip),
        ],
        ..ImageSpec::busybox(Seed::Gzip)
    };
    source.seed("src", "v1", &spec);
    let target = Registry::start(Flavour::Htpasswd);
    let store = store();
    block_on(async {
        let (pulled, _) = pull(
            &client_for(&source, None),
            &reference(&source, "src:v1"),
            None,
            &store.blobs,
        )
        .await;
        let pulled = pulled.expect("pull");
        let options = ClientOptions {
            chunk_size: 64 * 1024,
            ..options(good_credentials(&target))
        };
        let client = Client::new(&target.host(), options).unwrap();
        let recorder = Recorder::new();
        let image = ImageToPush {
            mount_from: Vec::new(),
            ..ImageToPush::from(&pulled)
        };
        let destination = reference(&target, "dst/app:latest");
        let pushed = push_image(
            &client,
            &destination,
            &store.blobs,
            &image,
            &recorder.callback(),
        )
        .await
        .expect("push");
        let states = push_events(&recorder.all());
        assert_eq!(
            states.iter().filter(|s| **s == PushState::Pushed).count(),
            2
        );
        assert!(states.contains(&PushState::Preparing));
        let pushing = states
            .iter()
            .filter(|s| matches!(s, PushState::Pushing { .. }))
            .count();
        assert!(pushing >= 2, "{states:?}");
        // A second push finds every layer there.
        let recorder = Recorder::new();
        push_image(
            &client,
            &destination,
            &store.blobs,
            &image,
            &recorder.callback(),
        )
        .await
        .expect("push again");
        let states = push_events(&recorder.all());
        assert_eq!(
            states
                .iter()
                .filter(|s| **s == PushState::AlreadyExists)
                .count(),
            2
        );
        let other = store_pull(&target, "dst/app:latest").await;
        assert_eq!(other, pushed.digest);
    });
}

#[test]
fn catalog_and_tags_list_what_the_registry_has() {
    let registry = Registry::start(Flavour::Plain);
    registry.seed("listed/one", "v1", &ImageSpec::busybox(Seed::Gzip));
    registry.seed("listed/one", "v2", &ImageSpec::busybox(Seed::Gzip));
    registry.seed("listed/two", "latest", &ImageSpec::busybox(Seed::Gzip));
    block_on(async {
        let client = client_for(&registry, None);
        let all = client.catalog(None, None).await.expect("catalog");
        assert_eq!(all, ["listed/one", "listed/two"]);
        let page = client
            .catalog(Some(1), Some("listed/one"))
            .await
            .expect("page");
        assert_eq!(page, ["listed/two"]);
        let mut tags = client.tags("listed/one").await.expect("tags");
        tags.sort();
        assert_eq!(tags, ["v1", "v2"]);
        let error = client
            .tags("listed/none")
            .await
            .expect_err("unknown repository");
        assert!(error.to_string().contains("listed/none"), "{error}");
    });
}
