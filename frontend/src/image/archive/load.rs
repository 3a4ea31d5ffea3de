//! `berth load`: docker-archive or oci-archive from a stream. Archives come from
//! anyone: no entry name is ever used as a path. Every regular file is streamed into
//! the blob store under the digest of its bytes, names are only looked up in the
//! archive's own table, and a blob the layout names by digest is checked against it.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;

use serde_json::Value;

use super::ArchiveError;
use crate::image::add::{add_image, oci_manifest, ImageBlobs, LayerBlob, LayerEvent};
use crate::image::manifest::{choose, Manifest, OCI_MANIFEST};
use crate::image::platform::Platform;
use crate::image::reference::{Digest, Reference};
use crate::store::images::ImageRecord;
use crate::store::Store;

const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Symlinks inside an archive (old docker saves link repeated layers) are followed at
/// most this many times.
const MAX_LINKS: usize = 16;

/// An image `load` put in the store, with the names it got.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    pub record: ImageRecord,
    /// Familiar names (`busybox:latest`); empty for an image loaded without one.
    pub names: Vec<String>,
}

impl LoadedImage {
    /// Docker's report of it: `Loaded image: NAME` per name, else its id.
    pub fn messages(&self) -> Vec<String> {
        if self.names.is_empty() {
            return vec![format!("Loaded image ID: {}", self.record.id)];
        }
        self.names
            .iter()
            .map(|name| format!("Loaded image: {name}"))
            .collect()
    }
}

/// The archive's entries: regular files by normalised name, links by name.
#[derive(Default)]
struct Entries {
    files: HashMap<String, (Digest, u64)>,
    links: HashMap<String, String>,
}

/// `./a//b/` → `a/b`; `..` climbs within the archive only.
fn normalise(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

impl Entries {
    fn lookup(&self, name: &str) -> Option<&(Digest, u64)> {
        let mut name = normalise(name);
        for _ in 0..MAX_LINKS {
            if let Some(found) = self.files.get(&name) {
                return Some(found);
            }
            let target = self.links.get(&name)?;
            name = match target.strip_prefix('/') {
                Some(absolute) => normalise(absolute),
                None => {
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    normalise(&format!("{dir}/{target}"))
                }
            };
        }
        None
    }

    fn need(&self, name: &str) -> Result<&(Digest, u64), ArchiveError> {
        self.lookup(name).ok_or_else(|| {
            ArchiveError::invalid(name, "named by the archive's manifest but not in it")
        })
    }
}

fn read_entries(store: &Store, reader: impl Read) -> Result<Entries, ArchiveError> {
    let mut archive = tar::Archive::new(reader);
    let mut entries = Entries::default();
    let not_tar = |e: std::io::Error| {
        ArchiveError::invalid("input", format!("not a tar archive, or cut short: {e}"))
    };
    for entry in archive.entries().map_err(not_tar)? {
        let mut entry = entry.map_err(not_tar)?;
        let name = normalise(&String::from_utf8_lossy(&entry.path_bytes()));
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let (digest, size) = store.blobs.put(&mut entry)?;
                entries.files.insert(name, (digest, size));
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                let target = if entry.header().entry_type() == tar::EntryType::Link {
                    // A hard link's target is a name from the archive's root.
                    format!("/{target}")
                } else {
                    target
                };
                entries.links.insert(name, target);
            }
            // Directories and anything else carry nothing an image needs.
            _ => {}
        }
    }
    if entries.files.is_empty() {
        return Err(ArchiveError::invalid(
            "input",
            "empty, or not a tar archive",
        ));
    }
    Ok(entries)
}

fn read_json(store: &Store, digest: &Digest, what: &str) -> Result<Value, ArchiveError> {
    let path = store.blobs.path(digest);
    let bytes = std::fs::read(&path).map_err(ArchiveError::Read)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ArchiveError::invalid(what, format!("not valid JSON: {e}")))
}

/// A layer's media type from its first bytes: docker-archives do not say.
fn sniff_layer(store: &Store, digest: &Digest) -> Result<&'static str, ArchiveError> {
    let path = store.blobs.path(digest);
    let mut head = [0u8; 4];
    let mut file = File::open(&path).map_err(ArchiveError::Read)?;
    let n = file.read(&mut head).map_err(ArchiveError::Read)?;
    Ok(match &head[..n] {
        [0x1f, 0x8b, ..] => DOCKER_LAYER_GZIP,
        [0x28, 0xb5, 0x2f, 0xfd] => OCI_LAYER_ZSTD,
        _ => DOCKER_LAYER,
    })
}

/// Records an image from its config and layer blobs, making a manifest for it.
fn add(
    store: &mut Store,
    config: (Digest, u64),
    layers: Vec<LayerBlob>,
    manifest: Option<(Digest, String)>,
    names: &[Reference],
) -> Result<ImageRecord, ArchiveError> {
    let (manifest, manifest_media_type) = match manifest {
        Some(m) => m,
        None => {
            let bytes = oci_manifest(&config.0, config.1, &layers);
            (store.blobs.put_bytes(&bytes)?.0, OCI_MANIFEST.to_string())
        }
    };
    let blobs = ImageBlobs {
        config: config.0,
        manifest,
        manifest_media_type,
        layers,
    };
    Ok(add_image(
        store,
        &blobs,
        names,
        None,
        &mut |_: LayerEvent| {},
    )?)
}

fn load_docker(
    store: &mut Store,
    entries: &Entries,
    manifest: &(Digest, u64),
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let list = read_json(store, &manifest.0, "manifest.json")?;
    let list = list
        .as_array()
        .ok_or_else(|| ArchiveError::invalid("manifest.json", "expected a list of images"))?;
    let mut loaded = Vec::new();
    for (i, image) in list.iter().enumerate() {
        let what = format!("manifest.json entry {i}");
        let config_name = image
            .get("Config")
            .and_then(Value::as_str)
            .ok_or_else(|| ArchiveError::invalid(&what, "no Config"))?;
        let config = entries.need(config_name)?.clone();
        let mut layers = Vec::new();
        for layer in image
            .get("Layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = layer
                .as_str()
                .ok_or_else(|| ArchiveError::invalid(&what, "a Layers entry is not a string"))?;
            let (digest, size) = entries.need(name)?.clone();
            layers.push(LayerBlob {
                media_type: sniff_layer(store, &digest)?.to_string(),
                digest,
                size,
            });
        }
        let names: Vec<Reference> = image
            .get("RepoTags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(Reference::parse)
            .collect::<Result<_, _>>()?;
        let record = add(store, config, layers, None, &names)?;
        loaded.push(LoadedImage {
            record,
            names: names.iter().map(Reference::familiar).collect(),
        });
    }
    Ok(loaded)
}

/// The blob a layout descriptor names, checked against its digest.
fn layout_blob(entries: &Entries, descriptor_digest: &str) -> Result<(Digest, u64), ArchiveError> {
    let wanted = Digest::parse(descriptor_digest)
        .map_err(|_| ArchiveError::invalid(descriptor_digest, "not a digest"))?;
    let name = format!("blobs/{}/{}", wanted.algorithm(), wanted.hex());
    let (got, size) = entries.need(&name)?.clone();
    if wanted.algorithm() == "sha256" && got != wanted {
        return Err(ArchiveError::invalid(
            &name,
            format!("its content hashes to {got}"),
        ));
    }
    Ok((got, size))
}

/// The name an index entry gives its image, if it gives a full one.
fn entry_name(descriptor: &Value) -> Option<Reference> {
    let annotations = descriptor.get("annotations")?;
    if let Some(name) = annotations
        .get("io.containerd.image.name")
        .and_then(Value::as_str)
    {
        return Reference::parse(name).ok();
    }
    let name = annotations
        .get("org.opencontainers.image.ref.name")
        .and_then(Value::as_str)?;
    // A bare tag (`latest`) names no repository.
    name.contains([':', '/', '@'])
        .then(|| Reference::parse(name).ok())
        .flatten()
}

fn load_oci(
    store: &mut Store,
    entries: &Entries,
    index: &(Digest, u64),
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let index_json = read_json(store, &index.0, "index.json")?;
    let descriptors = index_json
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| ArchiveError::invalid("index.json", "no manifests"))?;
    let host = Platform::host();
    let mut loaded: Vec<LoadedImage> = Vec::new();
    for descriptor in descriptors {
        let digest = descriptor
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| ArchiveError::invalid("index.json", "a manifest without a digest"))?;
        let mut blob = layout_blob(entries, digest)?;
        let mut media_type = descriptor
            .get("mediaType")
            .and_then(Value::as_str)
            .map(str::to_string);
        // A multi-platform image: the host's manifest.
        let manifest = loop {
            let bytes = std::fs::read(store.blobs.path(&blob.0)).map_err(ArchiveError::Read)?;
            match Manifest::parse(&bytes, media_type.as_deref())
                .map_err(|e| ArchiveError::invalid(blob.0.to_string(), e.to_string()))?
            {
                Manifest::Image(manifest) => break manifest,
                Manifest::Index(nested) => {
                    let chosen = choose(&nested, &host)
                        .map_err(|e| ArchiveError::invalid(blob.0.to_string(), e.to_string()))?;
                    media_type = Some(chosen.media_type().to_string());
                    blob = layout_blob(entries, chosen.digest().as_ref())?;
                }
            }
        };
        let config = layout_blob(entries, manifest.config().digest().as_ref())?;
        let layers = manifest
            .layers()
            .iter()
            .map(|l| {
                let (digest, size) = layout_blob(entries, l.digest().as_ref())?;
                Ok(LayerBlob {
                    digest,
                    media_type: l.media_type().to_string(),
                    size,
                })
            })
            .collect::<Result<Vec<_>, ArchiveError>>()?;
        let names: Vec<Reference> = entry_name(descriptor).into_iter().collect();
        let manifest_media_type = media_type.unwrap_or_else(|| OCI_MANIFEST.to_string());
        let record = add(
            store,
            config,
            layers,
            Some((blob.0.clone(), manifest_media_type)),
            &names,
        )?;
        let familiar: Vec<String> = names.iter().map(Reference::familiar).collect();
        match loaded.iter_mut().find(|l| l.record.id == record.id) {
            Some(existing) => existing.names.extend(familiar),
            None => loaded.push(LoadedImage {
                record,
                names: familiar,
            }),
        }
    }
    Ok(loaded)
}

/// Loads every image of the archive `reader` gives.
pub fn load(store: &mut Store, reader: impl Read) -> Result<Vec<LoadedImage>, ArchiveError> {
    let result = {
        let _adding = store.adding()?;
        let entries = read_entries(store, reader)?;
        // Docker's own list first: a Docker 25 archive has both, and its manifest.json
        // carries the names as Docker gave them.
        if let Some(manifest) = entries.lookup("manifest.json").cloned() {
            load_docker(store, &entries, &manifest)
        } else if let Some(index) = entries.lookup("index.json").cloned() {
            load_oci(store, &entries, &index)
        } else {
            Err(ArchiveError::invalid(
                "input",
                "neither manifest.json (docker-archive) nor index.json (oci-archive) in it",
            ))
        }
    };
    // The archive's other files (its manifest.json, a failed load's blobs) are nobody's.
    store.collect_garbage()?;
    if let Ok(loaded) = &result {
        for image in loaded {
            let name = image.names.first().unwrap_or(&image.record.id);
            crate::image::events::record(store, "load", &image.record.id, name);
        }
    }
    result
}
