//! Images made by other tools, pulled by berth from a real registry, and the tree
//! berth's overlay mount shows compared file by file with what `umoci unpack` makes of
//! the same image: whiteouts, opaque directories, hard links, symlinks, devices,
//! fifos, ownership, modes and xattrs, in gzip, zstd and plain layers, and the right
//! platform of a two-platform index.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_engine::image::local::resolve;
use berth_engine::image::rootfs::{mount_rootfs, remove_rootfs};
use berth_engine::store::Store;
use integration::registry::{Flavour, Registry};
use serde_json::json;
use sha2::Digest as _;
use support::TestStore;

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn run(command: &mut Command) -> Vec<u8> {
    let out = command.output().expect("run tool");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// One tar entry of a hand-made layer.
enum Entry<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a str, u32, u64),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Fifo(&'a str),
    Char(&'a str, u32, u32),
    Xattr(&'a str, &'a str, &'a str),
}

fn layer(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(0);
        let (name, data): (&str, &[u8]) = match entry {
            Entry::Dir(name, mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                (name, b"")
            }
            Entry::File(name, content, mode, owner) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_uid(*owner);
                header.set_gid(*owner);
                header.set_size(content.len() as u64);
                (name, content.as_bytes())
            }
            Entry::Link(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_link_name(target).unwrap();
                (name, b"")
            }
            Entry::Hard(name, target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o644);
                header.set_link_name(target).unwrap();
                (name, b"")
            }
            Entry::Fifo(name) => {
                header.set_entry_type(tar::EntryType::Fifo);
                header.set_mode(0o600);
                (name, b"")
            }
            Entry::Char(name, major, minor) => {
                header.set_entry_type(tar::EntryType::Char);
                header.set_mode(0o666);
                header.set_device_major(*major).unwrap();
                header.set_device_minor(*minor).unwrap();
                (name, b"")
            }
            Entry::Xattr(name, key, value) => {
                let record = format!("SCHILY.xattr.{key}");
                builder
                    .append_pax_extensions([(record.as_str(), value.as_bytes())])
                    .unwrap();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(5);
                (name, b"xattr")
            }
        };
        builder.append_data(&mut header, name, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn compress(tar: &[u8], how: &str) -> (Vec<u8>, &'static str) {
    match how {
        "gzip" => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(tar).unwrap();
            (
                gz.finish().unwrap(),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
        "zstd" => (
            zstd::encode_all(tar, 3).unwrap(),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        _ => (tar.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
    }
}

/// Writes `bytes` into the layout's blobs: its descriptor's digest and size.
fn blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = sha256(bytes);
    fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

/// An image of `layers` (tar, compression) for `arch` in the layout: its manifest's
/// descriptor.
fn image(layout: &Path, arch: &str, layers: &[(Vec<u8>, &str)]) -> serde_json::Value {
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for (tar, how) in layers {
        diff_ids.push(format!("sha256:{}", sha256(tar)));
        let (bytes, media_type) = compress(tar, how);
        let (digest, size) = blob(layout, &bytes);
        descriptors.push(json!({"mediaType": media_type, "digest": digest, "size": size}));
    }
    let config = json!({
        "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (config_digest, config_size) = blob(layout, &serde_json::to_vec(&config).unwrap());
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": descriptors,
    });
    let (digest, size) = blob(layout, &serde_json::to_vec(&manifest).unwrap());
    json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
           "platform": {"os": "linux", "architecture": arch}})
}

fn write_index(layout: &Path, entries: &[(serde_json::Value, &str)]) {
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(descriptor, tag)| {
            let mut d = descriptor.clone();
            d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
            d
        })
        .collect();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests})).unwrap(),
    )
    .unwrap();
}

fn new_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    layout
}

/// The layers of the image under test: a base, then one that deletes, replaces a
/// directory (opaque) and adds every kind of file.
fn layers(how: [&str; 3]) -> Vec<(Vec<u8>, &str)> {
    let busybox = fs::read("/bin/busybox").unwrap();
    let busybox = String::from_utf8_lossy(&busybox).into_owned();
    let base = layer(&[
        Entry::Dir("bin", 0o755),
        Entry::File("bin/busybox", &busybox, 0o755, 0),
        Entry::Link("bin/sh", "busybox"),
        Entry::Dir("etc", 0o755),
        Entry::Dir("etc/conf.d", 0o755),
        Entry::File("etc/conf.d/old-a", "a\n", 0o644, 0),
        Entry::File("etc/conf.d/old-b", "b\n", 0o644, 0),
        Entry::Dir("var", 0o755),
        Entry::File("var/gone", "gone\n", 0o644, 0),
        Entry::File("var/stays", "stays\n", 0o600, 1000),
    ]);
    let middle = layer(&[
        Entry::Dir("var", 0o755),
        Entry::File("var/.wh.gone", "", 0o644, 0),
        Entry::Dir("etc/conf.d", 0o750),
        Entry::File("etc/conf.d/.wh..wh..opq", "", 0o644, 0),
        Entry::File("etc/conf.d/new", "new\n", 0o640, 0),
        Entry::Dir("data", 0o1777),
        Entry::File("data/setuid", "x", 0o4755, 0),
        Entry::Hard("data/hardlink", "data/setuid"),
        Entry::Link("data/abs-link", "/etc/conf.d/new"),
        Entry::Fifo("data/fifo"),
        Entry::Char("data/null", 1, 3),
        Entry::Xattr("data/with-xattr", "user.berth", "yes"),
    ]);
    let top = layer(&[
        Entry::Dir("etc", 0o755),
        Entry::File("etc/motd", "top layer\n", 0o644, 0),
        Entry::File("etc/.wh.nothing-to-hide", "", 0o644, 0),
    ]);
    vec![(base, how[0]), (middle, how[1]), (top, how[2])]
}

/// Every path under `root` with what a comparison should hold equal.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let kind = meta.file_type();
            let what = if kind.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if kind.is_symlink() {
                format!("link {}", fs::read_link(&path).unwrap().display())
            } else if kind.is_file() {
                format!("file {}", sha256(&fs::read(&path).unwrap()))
            } else if kind.is_fifo() {
                "fifo".to_string()
            } else if kind.is_char_device() {
                format!("char {}", meta.rdev())
            } else {
                "other".to_string()
            };
            let mut xattrs = String::new();
            if !kind.is_symlink() {
                if let Ok(value) = xattr_user_berth(&path) {
                    xattrs = format!(" user.berth={value}");
                }
            }
            let mode = if kind.is_symlink() {
                0
            } else {
                meta.mode() & 0o7777
            };
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            out.insert(
                relative,
                format!(
                    "{what} mode {mode:o} owner {}:{}{xattrs}",
                    meta.uid(),
                    meta.gid()
                ),
            );
        }
    }
    out
}

fn xattr_user_berth(path: &Path) -> Result<String, ()> {
    let out = Command::new("getfattr")
        .args(["--only-values", "-n", "user.berth"])
        .arg(path)
        .output()
        .map_err(|_| ())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(())
    }
}

/// Pushes the layout's `tag` to `registry` as `repo:tag` (digests kept), pulls it with
/// berth, and compares the mounted tree with umoci's unpack of `umoci_tag`.
fn pull_and_compare(
    test: &TestStore,
    registry: &Registry,
    layout: &Path,
    tag: &str,
    umoci_tag: &str,
) {
    run(Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{}/peers/image:{tag}", registry.host())));
    let name = format!("{}/peers/image:{tag}", registry.host());
    test.ok(&["pull", &name]);
    let bundle = test.dir.path().join(format!("umoci-{tag}"));
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{umoci_tag}", layout.display()))
        .arg(&bundle));
    let store = Store::open(&test.root()).unwrap();
    let (record, _) = resolve(&store, &name).unwrap();
    let dir = test.dir.path().join(format!("rootfs-{tag}"));
    let rootfs = mount_rootfs(&store, &record.id, &dir, false).unwrap();
    let ours = tree(&rootfs.merged);
    let theirs = tree(&bundle.join("rootfs"));
    remove_rootfs(&dir).unwrap();
    let _ = fs::remove_dir_all(&bundle);
    assert!(ours.contains_key("etc/conf.d/new"));
    assert!(
        !ours.contains_key("var/gone"),
        "the whiteout hides var/gone"
    );
    assert!(
        !ours.contains_key("etc/conf.d/old-a"),
        "the opaque dir hides old-a"
    );
    for (path, what) in &theirs {
        assert_eq!(
            ours.get(path),
            Some(what),
            "{path} differs from umoci's unpack"
        );
    }
    assert_eq!(
        ours.len(),
        theirs.len(),
        "ours has more: {:?}",
        ours.keys()
            .filter(|k| !theirs.contains_key(*k))
            .collect::<Vec<_>>()
    );
}

#[test]
fn gzip_zstd_and_plain_layers_with_whiteouts_match_umocis_unpack() {
    let registry = Registry::start(Flavour::Plain);
    let test = TestStore::on_host();
    let layout = new_layout(test.dir.path());
    let descriptor = image(&layout, "amd64", &layers(["gzip", "zstd", "none"]));
    // umoci 0.4 reads no zstd: it unpacks the same tars gzipped, whose tree is the same.
    let for_umoci = image(&layout, "amd64", &layers(["gzip", "gzip", "gzip"]));
    write_index(&layout, &[(descriptor, "mixed"), (for_umoci, "mixed-gzip")]);
    pull_and_compare(&test, &registry, &layout, "mixed", "mixed-gzip");
}

#[test]
fn the_host_platform_of_a_two_platform_index_is_pulled() {
    let registry = Registry::start(Flavour::Plain);
    let test = TestStore::on_host();
    let layout = new_layout(test.dir.path());
    let amd64 = image(&layout, "amd64", &layers(["gzip", "gzip", "gzip"]));
    let arm64 = image(
        &layout,
        "arm64",
        &[(layer(&[Entry::File("arm", "arm\n", 0o644, 0)]), "gzip")],
    );
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": [arm64, amd64.clone()]});
    let (digest, size) = blob(&layout, &serde_json::to_vec(&index).unwrap());
    let index_descriptor = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size});
    write_index(
        &layout,
        &[(index_descriptor, "multi"), (amd64, "multi-amd64")],
    );
    pull_and_compare(&test, &registry, &layout, "multi", "multi-amd64");
    let arm = test.fails(&[
        "pull",
        "--platform",
        "linux/s390x",
        &format!("{}/peers/image:multi", registry.host()),
    ]);
    assert!(arm.contains("linux/s390x"), "{arm}");
}

/// buildah with storage of the test's own (vfs: no mounts to leave behind).
fn buildah(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("buildah")
        .env("BUILDAH_ISOLATION", "chroot")
        .arg("--root")
        .arg(dir.join("buildah/root"))
        .arg("--runroot")
        .arg(dir.join("buildah/run"))
        .args(["--storage-driver", "vfs"])
        .args(args));
    String::from_utf8_lossy(&out)
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_multi_layer_image_built_by_buildah_matches_umocis_unpack() {
    let registry = Registry::start(Flavour::Plain);
    let test = TestStore::on_host();
    let dir = test.dir.path();
    let base = buildah(dir, &["from", "scratch"]);
    let root = PathBuf::from(buildah(dir, &["mount", &base]));
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc/d")).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    fs::write(root.join("etc/d/a"), "a\n").unwrap();
    fs::write(root.join("etc/d/keep"), "keep\n").unwrap();
    buildah(dir, &["commit", "-q", &base, "berth-peers-base"]);
    let next = buildah(dir, &["from", "berth-peers-base"]);
    let root = PathBuf::from(buildah(dir, &["mount", &next]));
    fs::remove_file(root.join("etc/d/a")).unwrap();
    fs::write(root.join("etc/d/b"), "b\n").unwrap();
    buildah(dir, &["commit", "-q", &next, "berth-peers-top"]);
    let layout = dir.join("buildah-layout");
    buildah(
        dir,
        &[
            "push",
            "berth-peers-top",
            &format!("oci:{}:built", layout.display()),
        ],
    );
    let _ = buildah(dir, &["rm", "--all"]);
    pull_and_compare_layout(&test, &registry, &layout, "built");
}

/// As [`pull_and_compare`], for a layout of one tagged image whose whiteouts differ.
fn pull_and_compare_layout(test: &TestStore, registry: &Registry, layout: &Path, tag: &str) {
    run(Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{}/peers/buildah:{tag}", registry.host())));
    let name = format!("{}/peers/buildah:{tag}", registry.host());
    test.ok(&["pull", &name]);
    let bundle = test.dir.path().join("umoci-buildah");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(&bundle));
    let store = Store::open(&test.root()).unwrap();
    let (record, _) = resolve(&store, &name).unwrap();
    assert_eq!(store.image_layers(&record.id).unwrap().len(), 2);
    let dir = test.dir.path().join("rootfs-buildah");
    let rootfs = mount_rootfs(&store, &record.id, &dir, false).unwrap();
    let ours = tree(&rootfs.merged);
    remove_rootfs(&dir).unwrap();
    let theirs = tree(&bundle.join("rootfs"));
    let _ = fs::remove_dir_all(&bundle);
    assert!(
        !ours.contains_key("etc/d/a"),
        "buildah's whiteout hides etc/d/a"
    );
    assert_eq!(ours, theirs);
}

/// A tar whose entries are written as given, `..` and all.
fn raw_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(data.len() as u64);
        let raw = &mut header.as_old_mut();
        raw.name.fill(0);
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        raw.linkname.fill(0);
        raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn a_hostile_layer_writes_nothing_outside_and_the_next_pull_works() {
    let registry = Registry::start(Flavour::Plain);
    let test = TestStore::on_host();
    let layout = new_layout(test.dir.path());
    let target = test.dir.path().join("host-victim");
    fs::create_dir(&target).unwrap();
    let victim = target.display().to_string();
    let climb = format!("../../../../../../../../..{victim}/climbed");
    let hostile = raw_tar(&[
        (&climb, tar::EntryType::Regular, "", b"x"),
        ("etc", tar::EntryType::Symlink, &victim, b""),
        ("etc/through-link", tar::EntryType::Regular, "", b"x"),
        (
            "hard",
            tar::EntryType::Link,
            &format!("{victim}/../../../../etc/shadow"),
            b"",
        ),
    ]);
    let bad = image(&layout, "amd64", &[(hostile, "gzip")]);
    let good = image(&layout, "amd64", &layers(["gzip", "gzip", "gzip"]));
    write_index(&layout, &[(bad, "hostile"), (good, "good")]);
    for tag in ["hostile", "good"] {
        run(Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
            ])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/peers/hostile:{tag}", registry.host())));
    }
    let out = test.berth(&[
        "pull",
        &format!("{}/peers/hostile:hostile", registry.host()),
    ]);
    // A name climbing out of the layer is refused (as Docker does), not clamped.
    assert_eq!(
        fs::read_dir(&target).unwrap().count(),
        0,
        "written outside the layer"
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("Error: "), "{err}");
    assert!(err.contains("climb out of the layer root"), "{err}");
    assert_eq!(test.ok(&["images", "-q"]), "");
    assert!(
        test.layer_dirs().is_empty(),
        "a refused layer leaves no directory"
    );
    test.ok(&["pull", &format!("{}/peers/hostile:good", registry.host())]);
}
