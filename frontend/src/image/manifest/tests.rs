use super::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

fn entry(media_type: &str, digest: &str, platform: &str, extra: &str) -> String {
    format!(
        r#"{{"mediaType":"{media_type}","digest":"{digest}","size":500,"platform":{platform}{extra}}}"#
    )
}

fn index(media_type: Option<&str>, entries: &[String]) -> String {
    let mt = media_type.map_or(String::new(), |m| format!(r#""mediaType":"{m}","#));
    format!(
        r#"{{"schemaVersion":2,{mt}"manifests":[{}]}}"#,
        entries.join(",")
    )
}

fn image(media_type: &str, layer_type: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{media_type}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":10}},
            "layers":[{{"mediaType":"{layer_type}","digest":"{D2}","size":20}}]}}"#
    )
}

fn want(p: &str) -> Platform {
    Platform::parse(p).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_four_media_types_by_header_and_by_body() {
    let list = index(Some(DOCKER_MANIFEST_LIST), &[]);
    for (body, header) in [
        (index(Some(OCI_INDEX), &[]), Some(OCI_INDEX)),
        (list.clone(), Some(DOCKER_MANIFEST_LIST)),
        (list, None),
        (index(None, &[]), None),
    ] {
        let parsed = Manifest::parse(body.as_bytes(), header);
        assert!(
            matches!(parsed, Ok(Manifest::Index(_))),
            "{body}: {parsed:?}"
        );
    }
    let docker = image(
        DOCKER_MANIFEST,
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    );
    let oci = image(OCI_MANIFEST, "application/vnd.oci.image.layer.v1.tar+zstd");
    for (body, header) in [
        (
            docker.clone(),
            Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
        ),
        (docker, Some("application/json")),
        (oci.clone(), None),
        (oci, Some(OCI_MANIFEST)),
    ] {
        let parsed = Manifest::parse(body.as_bytes(), header);
        assert!(
            matches!(parsed, Ok(Manifest::Image(_))),
            "{body}: {parsed:?}"
        );
    }
}

#[test]
fn layers_of_every_compression() {
    let cases = [
        ("application/vnd.oci.image.layer.v1.tar", Compression::None),
        (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Gzip,
        ),
        (
            "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::Zstd,
        ),
        (
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Compression::Gzip,
        ),
        (
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            Compression::Gzip,
        ),
    ];
    for (layer_type, want) in cases {
        let body = image(OCI_MANIFEST, layer_type);
        let Ok(Manifest::Image(m)) = Manifest::parse(body.as_bytes(), None) else {
            panic!("{body}");
        };
        let got = layer_compression(m.layers()[0].media_type());
        assert_eq!(got.ok(), Some(want), "{layer_type}");
    }
    let body = image(OCI_MANIFEST, "application/vnd.example.blob");
    let Ok(Manifest::Image(m)) = Manifest::parse(body.as_bytes(), None) else {
        panic!("{body}");
    };
    let err = layer_compression(m.layers()[0].media_type())
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string().contains("application/vnd.example.blob"),
        "{err}"
    );
}

#[test]
fn bad_manifests_are_clear_errors() {
    let err = |body: &str, header: Option<&str>| {
        Manifest::parse(body.as_bytes(), header)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert!(err("not json", None).contains("not JSON"));
    assert!(err("{}", None).contains("no mediaType"));
    assert!(err(r#"{"schemaVersion":1,"fsLayers":[]}"#, None).contains("schema 1"));
    assert!(err("{}", Some(DOCKER_SCHEMA1[1])).contains("schema 1"));
    assert!(err("{}", Some("application/vnd.example")).contains("application/vnd.example"));
    assert!(err(r#"{"schemaVersion":3,"manifests":[]}"#, None).contains("schemaVersion is 3"));
    // The header says image, the body is an index: the body does not fit.
    assert!(err(&index(None, &[]), Some(OCI_MANIFEST)).contains(OCI_MANIFEST));
    assert!(err(r#"{"schemaVersion":2,"manifests":[{"digest":5}]}"#, None).contains("not JSON"));
}

#[test]
fn choosing_a_platform_skips_attestations() {
    let attestation = entry(
        OCI_MANIFEST,
        D3,
        r#"{"architecture":"unknown","os":"unknown"}"#,
        r#","annotations":{"vnd.docker.reference.type":"attestation-manifest"}"#,
    );
    let body = index(
        Some(OCI_INDEX),
        &[
            attestation,
            entry(
                OCI_MANIFEST,
                D1,
                r#"{"architecture":"arm","os":"linux","variant":"v7"}"#,
                "",
            ),
            entry(
                OCI_MANIFEST,
                D2,
                r#"{"architecture":"amd64","os":"linux"}"#,
                "",
            ),
        ],
    );
    let Ok(Manifest::Index(idx)) = Manifest::parse(body.as_bytes(), None) else {
        panic!("{body}");
    };
    let digest = |p: &str| choose(&idx, &want(p)).map(|d| d.digest().to_string());
    assert_eq!(digest("linux/amd64").ok().as_deref(), Some(D2));
    assert_eq!(digest("linux/arm/v7").ok().as_deref(), Some(D1));
    assert_eq!(digest("linux/arm").ok().as_deref(), Some(D1));
    let err = digest("linux/s390x").unwrap_err().to_string();
    assert_eq!(
        err,
        "no manifest for linux/s390x in the index (it has: linux/arm/v7, linux/amd64)"
    );
    let only_attestation = index(None, &[]);
    let Ok(Manifest::Index(empty)) = Manifest::parse(only_attestation.as_bytes(), None) else {
        panic!();
    };
    let err = choose(&empty, &want("linux/amd64"))
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("no platform"), "{err}");
}

#[test]
fn accept_lists_every_type_read() {
    for media_type in ACCEPTED {
        assert!(kind_of(media_type).is_ok(), "{media_type}");
    }
}
