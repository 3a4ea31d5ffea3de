//! `berth import`: a rootfs tarball (plain, gzip or zstd) becomes a one-layer image,
//! with `--change` Dockerfile instructions applied to its config.

use std::io::{BufRead, BufReader, Read};

use serde_json::{json, Map, Value};

use super::add::{add_image, oci_manifest, AddError, ImageBlobs, LayerBlob, LayerEvent};
use super::manifest::{OCI_LAYER, OCI_MANIFEST};
use super::platform::Platform;
use super::reference::{Reference, ReferenceError};
use crate::store::blobs::BlobError;
use crate::store::images::ImageRecord;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Add(#[from] AddError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("{source_name}: {problem}")]
    Source {
        source_name: String,
        problem: String,
    },
    #[error("--change {change:?}: {problem}")]
    Change { change: String, problem: String },
}

/// What `import` is given besides the tarball.
#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    /// Where the tarball came from, for the history comment: a path or `-`.
    pub source_name: String,
    pub tag: Option<String>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub platform: Option<Platform>,
    /// Seconds since the epoch to record as `created` (now when None).
    pub created: Option<i64>,
}

enum Detected {
    Plain,
    Gzip,
    Zstd,
}

fn detect(head: &[u8]) -> Result<Detected, String> {
    match head {
        [0x1f, 0x8b, ..] => Ok(Detected::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Ok(Detected::Zstd),
        [b'B', b'Z', b'h', ..] => {
            Err("bzip2 is not supported: use gzip, zstd or a plain tar".into())
        }
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => {
            Err("xz is not supported: use gzip, zstd or a plain tar".into())
        }
        _ => Ok(Detected::Plain),
    }
}

/// Applies one `--change` instruction to the config's `config` object.
fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<(), ImportError> {
    let fail = |problem: &str| ImportError::Change {
        change: change.to_string(),
        problem: problem.to_string(),
    };
    let (instruction, rest) = change
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| fail("expected an instruction and its value"))?;
    let rest = rest.trim();
    // Exec form (a JSON array) as written, shell form run by /bin/sh -c.
    let command = || -> Value {
        match serde_json::from_str::<Vec<String>>(rest) {
            Ok(args) => json!(args),
            Err(_) => json!(["/bin/sh", "-c", rest]),
        }
    };
    let pairs = || -> Result<Vec<(String, String)>, ImportError> {
        if !rest.contains('=') {
            return match rest.split_once(char::is_whitespace) {
                Some((k, v)) => Ok(vec![(k.to_string(), v.trim().to_string())]),
                None => Err(fail("expected KEY=VALUE")),
            };
        }
        rest.split_whitespace()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                    .ok_or_else(|| fail("expected KEY=VALUE"))
            })
            .collect()
    };
    match instruction.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".into(), command());
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), command());
        }
        "ENV" => {
            let env = config.entry("Env").or_insert_with(|| json!([]));
            for (key, value) in pairs()? {
                if let Value::Array(items) = env {
                    items.retain(|e| e.as_str().and_then(|e| e.split_once('=')).map(|(k, _)| k) != Some(&key));
                    items.push(json!(format!("{key}={value}")));
                }
            }
        }
        "LABEL" => {
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            for (key, value) in pairs()? {
                if let Value::Object(map) = labels {
                    map.insert(key, json!(value));
                }
            }
        }
        "WORKDIR" => {
            config.insert("WorkingDir".into(), json!(rest));
        }
        "USER" => {
            config.insert("User".into(), json!(rest));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(rest));
        }
        "EXPOSE" => {
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            for port in rest.split_whitespace() {
                let port = if port.contains('/') {
                    port.to_string()
                } else {
                    format!("{port}/tcp")
                };
                if let Value::Object(map) = ports {
                    map.insert(port, json!({}));
                }
            }
        }
        "VOLUME" => {
            let paths: Vec<String> = serde_json::from_str(rest)
                .unwrap_or_else(|_| rest.split_whitespace().map(str::to_string).collect());
            let volumes = config.entry("Volumes").or_insert_with(|| json!({}));
            for path in paths {
                if let Value::Object(map) = volumes {
                    map.insert(path, json!({}));
                }
            }
        }
        "ONBUILD" => {
            let triggers = config.entry("OnBuild").or_insert_with(|| json!([]));
            if let Value::Array(items) = triggers {
                items.push(json!(rest));
            }
        }
        _ => {
            return Err(fail(
                "expected one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR",
            ))
        }
    }
    Ok(())
}

/// The config of an imported image.
fn make_config(
    options: &ImportOptions,
    diff_id: &str,
    created: &str,
) -> Result<Value, ImportError> {
    let mut container = Map::new();
    for change in &options.changes {
        apply_change(&mut container, change)?;
    }
    let platform = options.platform.clone().unwrap_or_else(Platform::host);
    let comment = options
        .message
        .clone()
        .unwrap_or_else(|| format!("Imported from {}", options.source_name));
    let mut config = json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "created": created,
        "config": container,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": created, "comment": comment }],
    });
    if let (Some(variant), Value::Object(map)) = (&platform.variant, &mut config) {
        map.insert("variant".into(), json!(variant));
    }
    if let (Some(message), Value::Object(map)) = (&options.message, &mut config) {
        map.insert("comment".into(), json!(message));
    }
    Ok(config)
}

/// Imports the tarball `reader` gives. The tar goes into the store uncompressed: its
/// digest is then its diff_id, and a push sends it as the OCI media type says.
pub fn import(
    store: &mut Store,
    reader: impl Read,
    options: &ImportOptions,
) -> Result<ImageRecord, ImportError> {
    let tag = options.tag.as_deref().map(Reference::parse).transpose()?;
    // Bad --change values are refused before any bytes are stored.
    make_config(options, "sha256:0", "1970-01-01T00:00:00Z")?;
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let head = reader.fill_buf().map_err(|e| ImportError::Source {
        source_name: options.source_name.clone(),
        problem: e.to_string(),
    })?;
    let detected = detect(head).map_err(|problem| ImportError::Source {
        source_name: options.source_name.clone(),
        problem,
    })?;
    let mut plain: Box<dyn Read> = match detected {
        Detected::Plain => Box::new(reader),
        Detected::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Detected::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader).map_err(
            |e| ImportError::Source {
                source_name: options.source_name.clone(),
                problem: format!("zstd: {e}"),
            },
        )?),
    };
    let _adding = store.adding()?;
    let (layer_digest, layer_size) = store.blobs.put(&mut plain)?;
    let created = crate::time::rfc3339(options.created.unwrap_or_else(crate::time::now_unix));
    let config = make_config(options, &layer_digest.to_string(), &created)?;
    let config_bytes = serde_json::to_vec(&config).map_err(|e| ImportError::Source {
        source_name: options.source_name.clone(),
        problem: e.to_string(),
    })?;
    let (config_digest, config_size) = store.blobs.put_bytes(&config_bytes)?;
    let layers = vec![LayerBlob {
        digest: layer_digest,
        media_type: OCI_LAYER.to_string(),
        size: layer_size,
    }];
    let manifest_bytes = oci_manifest(&config_digest, config_size, &layers);
    let (manifest_digest, _) = store.blobs.put_bytes(&manifest_bytes)?;
    let blobs = ImageBlobs {
        config: config_digest,
        manifest: manifest_digest,
        manifest_media_type: OCI_MANIFEST.to_string(),
        layers,
    };
    let tags: Vec<Reference> = tag.into_iter().collect();
    let record = add_image(store, &blobs, &tags, None, &mut |_: LayerEvent| {})?;
    super::events::record(store, "import", &record.id, &record.id);
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(changes: &[&str]) -> Value {
        let mut config = Map::new();
        for change in changes {
            apply_change(&mut config, change).unwrap();
        }
        Value::Object(config)
    }

    #[test]
    fn changes_set_the_config_as_a_dockerfile_would() {
        let config = changed(&[
            "CMD [\"sh\"]",
            "ENTRYPOINT /bin/echo hi",
            "ENV A=1 B=2",
            "ENV A 3",
            "WORKDIR /work",
            "EXPOSE 80 53/udp",
            "LABEL x=y",
        ]);
        assert_eq!(config["Cmd"], json!(["sh"]));
        assert_eq!(
            config["Entrypoint"],
            json!(["/bin/sh", "-c", "/bin/echo hi"])
        );
        assert_eq!(config["Env"], json!(["B=2", "A=3"]));
        assert_eq!(config["WorkingDir"], json!("/work"));
        assert_eq!(config["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(config["Labels"], json!({"x": "y"}));
    }

    #[test]
    fn an_unknown_change_is_refused_by_name() {
        let err = apply_change(&mut Map::new(), "RUN rm -rf /")
            .unwrap_err()
            .to_string();
        assert!(err.contains("RUN rm -rf /"), "{err}");
    }
}
