//! Copy-on-write rootfs: overlay mounts of images from the store, 128 layers, whiteouts
//! seen through the mount, commit of an upper dir (root: real mounts).

mod support;

use std::fs;
use std::path::Path;

use berth_engine::image::add::{add_image, ImageBlobs, LayerBlob};
use berth_engine::image::commit::{commit, CommitOptions};
use berth_engine::image::local::resolve;
use berth_engine::image::reference::Reference;
use berth_engine::image::rootfs::{mount_rootfs, remove_rootfs, unmount_rootfs};
use berth_engine::store::Store;
use serde_json::json;
use support::TestStore;

const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// A layer tar with `files` (name, content) and whiteouts for `removed`.
fn layer_tar(files: &[(&str, &str)], removed: &[&str]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, content.as_bytes())
            .unwrap();
    }
    for name in removed {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        builder
            .append_data(&mut header, format!(".wh.{name}"), &[][..])
            .unwrap();
    }
    builder.into_inner().unwrap()
}

/// Stores an image made of these layer tars under `name`.
fn make_image(store: &mut Store, name: &str, tars: &[Vec<u8>]) -> String {
    let _adding = store.adding().unwrap();
    let mut layers = Vec::new();
    for tar in tars {
        let (digest, size) = store.blobs.put_bytes(tar).unwrap();
        layers.push(LayerBlob {
            digest,
            media_type: OCI_LAYER.to_string(),
            size,
        });
    }
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>() },
    });
    let (config_digest, _) = store
        .blobs
        .put_bytes(&serde_json::to_vec(&config).unwrap())
        .unwrap();
    let (manifest_digest, _) = store.blobs.put_bytes(b"{}").unwrap();
    let blobs = ImageBlobs {
        config: config_digest,
        manifest: manifest_digest,
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
        layers,
    };
    let record = add_image(
        store,
        &blobs,
        &[Reference::parse(name).unwrap()],
        None,
        &mut |_| {},
    )
    .unwrap();
    record.id
}

fn is_mounted(path: &Path) -> bool {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.to_string_lossy();
    text.lines().any(|l| l.split(' ').nth(4) == Some(&path))
}

#[test]
fn an_imported_image_mounts_copy_on_write() {
    let test = TestStore::new();
    let id = test.import_busybox("busybox");
    let store = Store::open(&test.root()).unwrap();
    let dir = test.dir.path().join("c1");
    let rootfs = mount_rootfs(&store, &id, &dir, false).unwrap();
    assert!(rootfs.merged.join("bin/busybox").is_file());
    fs::write(rootfs.merged.join("tmp/new"), "x").unwrap();
    fs::remove_file(rootfs.merged.join("etc/passwd")).unwrap();
    assert!(rootfs.upper.join("tmp/new").is_file());
    // The image's layer is untouched: the deletion is a whiteout in the upper dir.
    let layer = test.root().join("layers").join(&test.layer_dirs()[0]);
    assert!(layer.join("etc/passwd").is_file());
    assert!(!layer.join("tmp/new").exists());
    remove_rootfs(&dir).unwrap();
    assert!(!is_mounted(&rootfs.merged));
    assert!(!dir.exists());
}

/// The options of the mount at `path`, from /proc/self/mountinfo's super options.
fn mount_options(path: &Path) -> String {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.to_string_lossy();
    text.lines()
        .find(|l| l.split(' ').nth(4) == Some(&path))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_volatile_rootfs_mounts_again_after_a_clean_unmount_with_its_changes() {
    let test = TestStore::new();
    let id = test.import_busybox("busybox");
    let store = Store::open(&test.root()).unwrap();
    let dir = test.dir.path().join("rm");
    let rootfs = mount_rootfs(&store, &id, &dir, true).unwrap();
    assert!(
        mount_options(&rootfs.merged).contains("volatile"),
        "{}",
        mount_options(&rootfs.merged)
    );
    fs::write(rootfs.merged.join("tmp/kept"), "x").unwrap();
    unmount_rootfs(&dir).unwrap();
    // The kernel's mark refuses any later mount of a volatile upper dir unless the
    // unmount, a clean one here, takes it away.
    let again = mount_rootfs(&store, &id, &dir, false).unwrap();
    assert!(!mount_options(&again.merged).contains("volatile"));
    assert_eq!(
        fs::read_to_string(again.merged.join("tmp/kept")).unwrap(),
        "x"
    );
    remove_rootfs(&dir).unwrap();
    assert!(!dir.exists());
}

#[test]
fn an_image_of_128_layers_mounts_whatever_the_root_path() {
    let test = TestStore::new();
    // A long --root: the mount options must not grow with it.
    let root = test.dir.path().join("a".repeat(120)).join("b".repeat(120));
    let mut store = Store::open(&root).unwrap();
    let mut tars: Vec<Vec<u8>> = (0..128)
        .map(|i| layer_tar(&[(&format!("f{i}"), &format!("{i}"))], &[]))
        .collect();
    tars[127] = layer_tar(&[("f127", "127")], &["f0"]);
    let id = make_image(&mut store, "deep", &tars);
    let dir = test.dir.path().join("deep");
    let rootfs = mount_rootfs(&store, &id, &dir, false).unwrap();
    assert_eq!(fs::read_to_string(rootfs.merged.join("f1")).unwrap(), "1");
    assert_eq!(
        fs::read_to_string(rootfs.merged.join("f126")).unwrap(),
        "126"
    );
    assert!(
        !rootfs.merged.join("f0").exists(),
        "the top layer's whiteout hides f0"
    );
    remove_rootfs(&dir).unwrap();
}

#[test]
fn layers_are_shared_between_images_and_stacked_in_order() {
    let test = TestStore::new();
    let mut store = Store::open(&test.root()).unwrap();
    let base = layer_tar(&[("etc/os", "base")], &[]);
    let top_a = layer_tar(&[("etc/os", "a")], &[]);
    let top_b = layer_tar(&[("etc/os", "b")], &[]);
    let a = make_image(&mut store, "a", &[base.clone(), top_a]);
    let b = make_image(&mut store, "b", &[base, top_b]);
    assert_eq!(
        test.layer_dirs().len(),
        3,
        "the base layer is unpacked once"
    );
    for (id, want) in [(&a, "a"), (&b, "b")] {
        let dir = test.dir.path().join(want);
        let rootfs = mount_rootfs(&store, id, &dir, false).unwrap();
        assert_eq!(
            fs::read_to_string(rootfs.merged.join("etc/os")).unwrap(),
            want
        );
        remove_rootfs(&dir).unwrap();
    }
}

#[test]
fn commit_turns_an_upper_dir_into_a_new_image() {
    let test = TestStore::new();
    test.import_busybox("busybox");
    let mut store = Store::open(&test.root()).unwrap();
    let (base, _) = resolve(&store, "busybox").unwrap();
    let dir = test.dir.path().join("c2");
    let rootfs = mount_rootfs(&store, &base.id, &dir, false).unwrap();
    fs::write(rootfs.merged.join("etc/motd"), "committed\n").unwrap();
    fs::remove_file(rootfs.merged.join("etc/passwd")).unwrap();
    let options = CommitOptions {
        tag: Some("busybox:committed".to_string()),
        comment: Some("a test commit".to_string()),
        ..Default::default()
    };
    let image = commit(&mut store, &base, &rootfs.upper, &options).unwrap();
    remove_rootfs(&dir).unwrap();
    assert_eq!(image.tags, ["docker.io/library/busybox:committed"]);
    let layers = store.image_layers(&image.id).unwrap();
    assert_eq!(layers.len(), 2);
    let dir = test.dir.path().join("c3");
    let rootfs = mount_rootfs(&store, &image.id, &dir, false).unwrap();
    assert_eq!(
        fs::read_to_string(rootfs.merged.join("etc/motd")).unwrap(),
        "committed\n"
    );
    assert!(!rootfs.merged.join("etc/passwd").exists());
    assert!(rootfs.merged.join("bin/busybox").is_file());
    remove_rootfs(&dir).unwrap();
    let history = test.ok(&["history", "busybox:committed"]);
    assert!(history.contains("a test commit"), "{history}");
}

#[test]
fn an_image_repeating_a_layer_records_it_once_and_mounts() {
    let test = TestStore::new();
    let mut store = Store::open(&test.root()).unwrap();
    let a = layer_tar(&[("a", "first")], &[]);
    let b = layer_tar(&[("a", "second")], &[]);
    let id = make_image(&mut store, "repeat", &[a.clone(), b, a]);
    assert_eq!(test.layer_dirs().len(), 2);
    assert_eq!(store.image_layers(&id).unwrap().len(), 3);
    let dir = test.dir.path().join("repeat");
    let rootfs = mount_rootfs(&store, &id, &dir, false).unwrap();
    assert_eq!(
        fs::read_to_string(rootfs.merged.join("a")).unwrap(),
        "first"
    );
    remove_rootfs(&dir).unwrap();
}
