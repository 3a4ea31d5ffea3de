//! `berth save` and `berth load` between berth stores, and bad archives.

mod support;

use std::fs;

use support::TestStore;

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        // Written raw: the tar crate refuses `..` in names, and hostile archives have them.
        let raw = &mut header.as_old_mut().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        builder.append(&header, *bytes).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn save_then_load_gives_the_same_images_in_another_store() {
    let one = TestStore::new();
    let id = one.import_busybox("busybox");
    one.ok(&["tag", "busybox", "localhost:5000/app:v2"]);
    let archive = one.dir.path().join("two-names.tar");
    one.ok(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        "busybox",
        "localhost:5000/app:v2",
    ]);
    let two = TestStore::new();
    let out = two.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(
        out,
        "Loaded image: busybox:latest\nLoaded image: localhost:5000/app:v2\n"
    );
    assert_eq!(two.ok(&["images", "-q", "--no-trunc"]), format!("{id}\n"));
    let layer = two.root().join("layers").join(&two.layer_dirs()[0]);
    assert!(layer.join("bin/busybox").is_file());
    assert!(fs::symlink_metadata(layer.join("bin/sh"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn load_reads_stdin_and_quiet_prints_nothing() {
    let one = TestStore::new();
    one.import_busybox("busybox");
    let archive = one.dir.path().join("bb.tar");
    one.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    let two = TestStore::new();
    let out = two.berth_with_stdin(&["load", "-q"], &fs::read(&archive).unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(
        two.ok(&["images", "--format", "{{.Repository}}"]),
        "busybox\n"
    );
}

#[test]
fn save_of_a_missing_image_fails_and_writes_no_file() {
    let store = TestStore::new();
    let archive = store.dir.path().join("never.tar");
    let err = store.fails(&["save", "-o", archive.to_str().unwrap(), "nosuch"]);
    assert!(err.contains("No such image: nosuch"), "{err}");
    assert!(!archive.exists());
    let leftovers: Vec<_> = fs::read_dir(store.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".berth-save"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn load_of_something_that_is_not_an_archive_fails_clearly() {
    let store = TestStore::new();
    let out = store.berth_with_stdin(&["load"], b"this is not a tar archive at all");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a tar archive"), "{err}");
    assert_eq!(store.blob_count(), 0);
}

#[test]
fn load_refuses_a_layout_blob_whose_bytes_do_not_match_its_name() {
    let store = TestStore::new();
    let fake = format!("sha256:{}", "ab".repeat(32));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": fake, "size": 2},
        "layers": [],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = {
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(&manifest)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        hex
    };
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{manifest_digest}"), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "evil:1"}}]});
    let index = serde_json::to_vec(&index).unwrap();
    let archive = tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        ("index.json", &index),
        (&format!("blobs/sha256/{manifest_digest}"), &manifest),
        (&format!("blobs/sha256/{}", "ab".repeat(32)), b"{}"),
    ]);
    let out = store.berth_with_stdin(&["load"], &archive);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&"ab".repeat(32)), "names the blob: {err}");
    assert!(err.contains("hashes to"), "{err}");
    assert_eq!(store.ok(&["images", "-q"]), "");
    assert_eq!(store.blob_count(), 0, "nothing of it is kept");
}

#[test]
fn load_never_uses_entry_names_as_paths() {
    let store = TestStore::new();
    let outside = store.dir.path().join("escaped");
    let archive = tar_of(&[
        ("../../../../../../../../../../../../tmp/escaped", b"x"),
        ("../escaped", b"x"),
    ]);
    let err =
        String::from_utf8_lossy(&store.berth_with_stdin(&["load"], &archive).stderr).into_owned();
    assert!(err.contains("neither manifest.json"), "{err}");
    assert!(!outside.exists());
    assert!(!std::path::Path::new("/tmp/escaped").exists());
}

#[test]
fn load_of_a_manifest_naming_a_missing_layer_fails_naming_it() {
    let store = TestStore::new();
    let manifest =
        br#"[{"Config":"config.json","RepoTags":["x:1"],"Layers":["nowhere/layer.tar"]}]"#;
    let archive = tar_of(&[
        ("manifest.json", manifest),
        (
            "config.json",
            br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#,
        ),
    ]);
    let out = store.berth_with_stdin(&["load"], &archive);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere/layer.tar"), "{err}");
    assert_eq!(store.ok(&["images", "-q"]), "");
}
