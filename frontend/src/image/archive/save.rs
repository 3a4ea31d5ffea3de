//! `berth save`: images as one tar that is both an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/`) and a docker-archive (`manifest.json`), as Docker 25 and
//! later write it: `docker load` (old and new), `podman load` and skopeo's
//! `oci-archive:` and `docker-archive:` all read it.
//!
//! Layers go in uncompressed, whatever the store keeps: a docker-archive's layers are
//! tars, and their digests are then the config's diff_ids.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, Write};

use oci_spec::image::MediaType;
use serde_json::{json, Value};

use super::ArchiveError;
use crate::image::local::{resolve, Named};
use crate::image::manifest::{
    layer_compression, Compression, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
};
use crate::image::reference::Digest;
use crate::store::images::ImageRecord;
use crate::store::{io_error, Store};

struct Writer<W: Write> {
    tar: tar::Builder<W>,
    written: HashSet<String>,
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

impl<W: Write> Writer<W> {
    fn bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        let mut header = header(bytes.len() as u64);
        self.tar
            .append_data(&mut header, name, bytes)
            .map_err(ArchiveError::write)
    }

    fn blob_bytes(&mut self, digest: &Digest, bytes: &[u8]) -> Result<String, ArchiveError> {
        let name = format!("blobs/{}/{}", digest.algorithm(), digest.hex());
        if self.written.insert(name.clone()) {
            self.bytes(&name, bytes)?;
        }
        Ok(name)
    }

    fn blob_file(&mut self, name: &str, file: &mut File, size: u64) -> Result<(), ArchiveError> {
        if !self.written.insert(name.to_string()) {
            return Ok(());
        }
        let mut header = header(size);
        self.tar
            .append_data(&mut header, name, file)
            .map_err(ArchiveError::write)
    }
}

fn sha256_of(bytes: &[u8]) -> Result<Digest, ArchiveError> {
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Digest::parse(&format!("sha256:{hex}")).map_err(|_| ArchiveError::Invalid {
        what: "a computed digest".into(),
        problem: "does not parse".into(),
    })
}

/// An image to save and the names to save it under (familiar forms).
struct Selected {
    record: ImageRecord,
    names: Vec<String>,
}

fn select(store: &Store, names: &[String]) -> Result<Vec<Selected>, ArchiveError> {
    let mut selected: Vec<Selected> = Vec::new();
    for name in names {
        let (record, named) = resolve(store, name)?;
        let tags: Vec<String> = match named {
            // By name: that name (a digest reference carries no tag to save).
            Named::Reference(reference) if reference.digest().is_none() => {
                vec![reference.to_string()]
            }
            Named::Reference(_) => Vec::new(),
            Named::Id => record.tags.clone(),
        };
        match selected.iter_mut().find(|s| s.record.id == record.id) {
            Some(existing) => {
                for tag in tags {
                    if !existing.names.contains(&tag) {
                        existing.names.push(tag);
                    }
                }
            }
            None => selected.push(Selected {
                record,
                names: tags,
            }),
        }
    }
    Ok(selected)
}

/// Writes `names`' images to `out`.
pub fn save(store: &Store, names: &[String], out: impl Write) -> Result<(), ArchiveError> {
    let selected = select(store, names)?;
    let mut writer = Writer {
        tar: tar::Builder::new(out),
        written: HashSet::new(),
    };
    let mut index_entries: Vec<Value> = Vec::new();
    let mut docker_manifest: Vec<Value> = Vec::new();
    let scratch = store.root().join("blobs").join("ingest");
    for Selected { record, names } in &selected {
        let config_digest = Digest::parse(&record.id).map_err(|_| ArchiveError::Invalid {
            what: format!("image {}", record.id),
            problem: "its id is not a digest".into(),
        })?;
        let config_path = store.blobs.path(&config_digest);
        let config = std::fs::read(&config_path).map_err(io_error(&config_path))?;
        let config_name = writer.blob_bytes(&config_digest, &config)?;
        let mut layer_names = Vec::new();
        let mut layer_descriptors = Vec::new();
        for layer in store.image_layers(&record.id)? {
            let diff_id =
                Digest::parse(&layer.layer.diff_id).map_err(|_| ArchiveError::Invalid {
                    what: format!("image {}", record.id),
                    problem: format!("layer diff_id {} does not parse", layer.layer.diff_id),
                })?;
            let name = format!("blobs/{}/{}", diff_id.algorithm(), diff_id.hex());
            let blob_digest =
                Digest::parse(&layer.blob_digest).map_err(|_| ArchiveError::Invalid {
                    what: format!("image {}", record.id),
                    problem: format!("layer blob {} does not parse", layer.blob_digest),
                })?;
            let blob_path = store.blobs.path(&blob_digest);
            let compression = layer_compression(&MediaType::from(layer.blob_media_type.as_str()))
                .map_err(|e| ArchiveError::Invalid {
                what: format!("layer {}", layer.blob_digest),
                problem: e.to_string(),
            })?;
            let mut blob = File::open(&blob_path).map_err(io_error(&blob_path))?;
            let size = if compression == Compression::None {
                let size = blob.metadata().map_err(io_error(&blob_path))?.len();
                writer.blob_file(&name, &mut blob, size)?;
                size
            } else {
                // The tar's size goes in its header before its bytes: decompress to a
                // scratch file first.
                let scratch_path =
                    scratch.join(format!("save-{}-{}", std::process::id(), diff_id.hex()));
                let result = (|| {
                    let mut plain = File::options()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(&scratch_path)
                        .map_err(io_error(&scratch_path))?;
                    let mut decoder: Box<dyn Read> = match compression {
                        Compression::Gzip => {
                            Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(blob)))
                        }
                        _ => Box::new(
                            zstd::stream::read::Decoder::new(blob).map_err(io_error(&blob_path))?,
                        ),
                    };
                    let size = io::copy(&mut decoder, &mut plain).map_err(io_error(&blob_path))?;
                    plain.rewind().map_err(io_error(&scratch_path))?;
                    writer.blob_file(&name, &mut plain, size)?;
                    Ok::<u64, ArchiveError>(size)
                })();
                let _ = std::fs::remove_file(&scratch_path);
                result?
            };
            layer_descriptors.push(json!({
                "mediaType": OCI_LAYER, "digest": diff_id.to_string(), "size": size,
            }));
            layer_names.push(name);
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": record.id, "size": config.len() },
            "layers": layer_descriptors,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(ArchiveError::json)?;
        let manifest_digest = sha256_of(&manifest_bytes)?;
        writer.blob_bytes(&manifest_digest, &manifest_bytes)?;
        let descriptor = |annotations: Option<Value>| {
            let mut d = json!({
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest.to_string(),
                "size": manifest_bytes.len(),
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if names.is_empty() {
            index_entries.push(descriptor(None));
        }
        let mut familiar_names = Vec::new();
        for name in names {
            let reference = crate::image::reference::Reference::parse(name)?;
            familiar_names.push(reference.familiar());
            index_entries.push(descriptor(Some(json!({
                "io.containerd.image.name": reference.to_string(),
                "org.opencontainers.image.ref.name": reference.tag().unwrap_or("latest"),
            }))));
        }
        docker_manifest.push(json!({
            "Config": config_name,
            "RepoTags": if familiar_names.is_empty() { Value::Null } else { json!(familiar_names) },
            "Layers": layer_names,
        }));
    }
    writer.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index_entries });
    writer.bytes(
        "index.json",
        &serde_json::to_vec(&index).map_err(ArchiveError::json)?,
    )?;
    writer.bytes(
        "manifest.json",
        &serde_json::to_vec(&docker_manifest).map_err(ArchiveError::json)?,
    )?;
    writer
        .tar
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(ArchiveError::write)?;
    for Selected { record, names } in &selected {
        let name = names.first().map_or(record.id.as_str(), String::as_str);
        crate::image::events::record(
            store,
            "save",
            &record.id,
            &crate::image::reference::familiar_of(name),
        );
    }
    Ok(())
}
