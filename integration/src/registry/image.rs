//! Images to seed: OCI image layouts built by hand (tar, gzip, zstd, sha256sum) from
//! busybox, random or text layers, for one platform or an index of several.

use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

use super::{run, COUNTER};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// What goes into one layer.
#[derive(Debug, Clone)]
pub enum LayerSpec {
    /// `/bin/busybox` (Debian's static one) and `/bin/sh` linking to it.
    Busybox(Compression),
    /// One file of `size` random bytes (incompressible: the blob is as big as that).
    Random {
        size: usize,
        compression: Compression,
    },
    /// A small text file, different for each `marker`.
    Text {
        marker: String,
        compression: Compression,
    },
}

/// An image to seed: its layers, for one platform or an index of several.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub layers: Vec<LayerSpec>,
    /// `os/arch[/variant]`; more than one makes an OCI index (pushed with `--all`).
    pub platforms: Vec<String>,
    /// Pushed as a Docker schema 2 manifest (`--format v2s2`) instead of OCI.
    pub docker_schema2: bool,
}

impl ImageSpec {
    /// One busybox layer for linux/amd64.
    pub fn busybox(compression: Compression) -> ImageSpec {
        ImageSpec {
            layers: vec![LayerSpec::Busybox(compression)],
            platforms: vec!["linux/amd64".to_string()],
            docker_schema2: false,
        }
    }
}

/// The descriptors of one built platform image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub platform: String,
    pub manifest_digest: String,
    pub config_digest: String,
    /// `(digest, size, media type)` of each layer, in order.
    pub layers: Vec<(String, u64, String)>,
}

/// What [`Registry::seed`] pushed.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub repository: String,
    pub tag: String,
    /// The digest of what the tag names in the registry (the index for several
    /// platforms), as skopeo reports it.
    pub digest: String,
    /// The images as built (before any conversion `--format v2s2` made).
    pub images: Vec<BuiltImage>,
}

fn sha256_file(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    let text = String::from_utf8_lossy(&out);
    format!(
        "sha256:{}",
        text.split_whitespace().next().unwrap_or_default()
    )
}

/// Moves `file` into the layout's blobs under its digest; returns (digest, size).
fn add_blob(layout: &Path, file: &Path) -> (String, u64) {
    let digest = sha256_file(file);
    let size = fs::metadata(file).expect("blob size").len();
    let dir = layout.join("blobs/sha256");
    fs::create_dir_all(&dir).expect("mkdir blobs");
    fs::rename(file, dir.join(&digest["sha256:".len()..])).expect("move blob");
    (digest, size)
}

fn add_json_blob(layout: &Path, scratch: &Path, value: &serde_json::Value) -> (String, u64) {
    let file = scratch.join(format!("json-{}", COUNTER.fetch_add(1, Ordering::SeqCst)));
    fs::write(&file, serde_json::to_vec(value).expect("json")).expect("write json blob");
    add_blob(layout, &file)
}

/// Builds layer `spec` as a tar (compressed as asked); returns (blob digest, size,
/// media type, diff id).
fn build_layer(
    layout: &Path,
    scratch: &Path,
    spec: &LayerSpec,
    salt: &str,
) -> (String, u64, String, String) {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let root = scratch.join(format!("rootfs-{n}"));
    fs::create_dir_all(root.join("bin")).expect("mkdir rootfs");
    let compression = match spec {
        LayerSpec::Busybox(c) => {
            fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy /bin/busybox");
            symlink("busybox", root.join("bin/sh")).expect("symlink sh");
            *c
        }
        LayerSpec::Random { size, compression } => {
            let mut bytes = vec![0u8; *size];
            fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut bytes))
                .expect("read /dev/urandom");
            fs::write(root.join("random.bin"), bytes).expect("write random file");
            *compression
        }
        LayerSpec::Text {
            marker,
            compression,
        } => {
            fs::write(
                root.join(format!("{marker}.txt")),
                format!("{marker} {salt}\n"),
            )
            .expect("write text file");
            *compression
        }
    };
    let tar = scratch.join(format!("layer-{n}.tar"));
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-C",
        ])
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    let _ = fs::remove_dir_all(&root);
    let diff_id = sha256_file(&tar);
    let (blob, media_type) = match compression {
        Compression::None => (tar, "application/vnd.oci.image.layer.v1.tar"),
        Compression::Gzip => {
            run(Command::new("gzip").args(["-n", "-6"]).arg(&tar));
            (
                tar.with_extension("tar.gz"),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
        Compression::Zstd => {
            run(Command::new("zstd").args(["-q", "--rm", "-3"]).arg(&tar));
            (
                tar.with_extension("tar.zst"),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            )
        }
    };
    let (digest, size) = add_blob(layout, &blob);
    (digest, size, media_type.to_string(), diff_id)
}

/// An OCI image layout at `dir/oci` with `tag` naming the image (or index) of `spec`.
pub(super) fn build_layout(dir: &Path, tag: &str, spec: &ImageSpec) -> Vec<BuiltImage> {
    let layout = dir.join("oci");
    let scratch = dir.join("scratch");
    fs::create_dir_all(&layout).expect("mkdir layout");
    fs::create_dir_all(&scratch).expect("mkdir scratch");
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write oci-layout");
    let mut built = Vec::new();
    let mut entries = Vec::new();
    for platform in &spec.platforms {
        let parts: Vec<&str> = platform.split('/').collect();
        let (os, arch) = (parts[0], parts[1]);
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in &spec.layers {
            let (digest, size, media_type, diff_id) =
                build_layer(&layout, &scratch, layer, platform);
            layers.push((digest, size, media_type));
            diff_ids.push(diff_id);
        }
        let mut config = serde_json::json!({
            "architecture": arch,
            "os": os,
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        if let Some(variant) = parts.get(2) {
            config["variant"] = serde_json::json!(variant);
        }
        let (config_digest, config_size) = add_json_blob(&layout, &scratch, &config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": layers.iter().map(|(d, s, m)| serde_json::json!({
                "mediaType": m, "digest": d, "size": s,
            })).collect::<Vec<_>>(),
        });
        let (manifest_digest, manifest_size) = add_json_blob(&layout, &scratch, &manifest);
        let mut platform_json = serde_json::json!({"os": os, "architecture": arch});
        if let Some(variant) = parts.get(2) {
            platform_json["variant"] = serde_json::json!(variant);
        }
        entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "platform": platform_json,
        }));
        built.push(BuiltImage {
            platform: platform.clone(),
            manifest_digest,
            config_digest,
            layers,
        });
    }
    let top = if entries.len() == 1 {
        let mut entry = entries.remove(0);
        if let Some(map) = entry.as_object_mut() {
            map.remove("platform");
        }
        entry
    } else {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        });
        let (digest, size) = add_json_blob(&layout, &scratch, &index);
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": size,
        })
    };
    let mut top = top;
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    let index_json = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index_json).expect("json"),
    )
    .expect("write index.json");
    built
}
