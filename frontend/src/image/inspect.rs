//! What `image inspect` and `history` show: Docker's JSON shape, built from the
//! image's record and its config blob.

use std::fs;

use serde_json::{json, Map, Value};

use super::reference::Reference;
use crate::store::images::ImageRecord;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image {image}: its config blob {path}: {source}")]
    Config {
        image: String,
        path: String,
        source: std::io::Error,
    },
    #[error("image {image}: its config is not JSON: {source}")]
    ConfigJson {
        image: String,
        source: serde_json::Error,
    },
}

/// The image's config (the JSON its id is the digest of).
pub fn config(store: &Store, record: &ImageRecord) -> Result<Value, InspectError> {
    let digest =
        super::reference::Digest::parse(&record.id).map_err(|_| InspectError::ConfigJson {
            image: record.id.clone(),
            source: serde_json::Error::io(std::io::Error::other("not a digest")),
        })?;
    let path = store.blobs.path(&digest);
    let bytes = fs::read(&path).map_err(|source| InspectError::Config {
        image: record.id.clone(),
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| InspectError::ConfigJson {
        image: record.id.clone(),
        source,
    })
}

fn familiar(full: &str) -> String {
    Reference::parse(full).map_or_else(|_| full.to_string(), |r| r.familiar())
}

/// The container config as Docker shows it: every key, empty ones included, from
/// the OCI config's `config` object.
fn container_config(oci: &Value) -> Value {
    let get = |key: &str| oci.get(key).cloned().unwrap_or(Value::Null);
    let mut config = json!({
        "Hostname": "",
        "Domainname": "",
        "User": oci.get("User").cloned().unwrap_or(json!("")),
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": get("Env"),
        "Cmd": get("Cmd"),
        "Image": "",
        "Volumes": get("Volumes"),
        "WorkingDir": oci.get("WorkingDir").cloned().unwrap_or(json!("")),
        "Entrypoint": get("Entrypoint"),
        "OnBuild": get("OnBuild"),
        "Labels": get("Labels"),
    });
    if let Value::Object(map) = &mut config {
        for key in [
            "ExposedPorts",
            "Healthcheck",
            "ArgsEscaped",
            "StopSignal",
            "Shell",
        ] {
            if let Some(value) = oci.get(key).filter(|v| !v.is_null()) {
                map.insert(key.to_string(), value.clone());
            }
        }
    }
    config
}

/// `image inspect`'s object for one image.
pub fn inspect(store: &Store, record: &ImageRecord) -> Result<Value, InspectError> {
    let config = config(store, record)?;
    let layers = store.image_layers(&record.id)?;
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|l| store.layer_dir(l.layer.id).display().to_string())
        .collect();
    let text = |key: &str| config.get(key).cloned().unwrap_or(json!(""));
    let mut object = Map::new();
    object.insert("Id".into(), json!(record.id));
    object.insert(
        "RepoTags".into(),
        json!(record.tags.iter().map(|t| familiar(t)).collect::<Vec<_>>()),
    );
    object.insert(
        "RepoDigests".into(),
        json!(record
            .repo_digests
            .iter()
            .map(|t| familiar(t))
            .collect::<Vec<_>>()),
    );
    object.insert("Parent".into(), json!(""));
    object.insert("Comment".into(), text("comment"));
    object.insert(
        "Created".into(),
        json!(record
            .created
            .clone()
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string())),
    );
    object.insert("DockerVersion".into(), text("docker_version"));
    object.insert("Author".into(), text("author"));
    object.insert(
        "Config".into(),
        container_config(config.get("config").unwrap_or(&Value::Null)),
    );
    object.insert("Architecture".into(), text("architecture"));
    if let Some(variant) = config.get("variant").filter(|v| v.is_string()) {
        object.insert("Variant".into(), variant.clone());
    }
    object.insert("Os".into(), text("os"));
    if let Some(version) = config.get("os.version").filter(|v| v.is_string()) {
        object.insert("OsVersion".into(), version.clone());
    }
    object.insert("Size".into(), json!(record.size));
    object.insert(
        "GraphDriver".into(),
        json!({
            "Data": { "LowerDir": lower.join(":") },
            "Name": "overlay",
        }),
    );
    object.insert(
        "RootFS".into(),
        json!({
            "Type": "layers",
            "Layers": layers.iter().map(|l| l.layer.diff_id.clone()).collect::<Vec<_>>(),
        }),
    );
    object.insert(
        "Metadata".into(),
        json!({ "LastTagTime": "0001-01-01T00:00:00Z" }),
    );
    Ok(Value::Object(object))
}

/// One row of `history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image's id on the newest row; the others have no image of their own.
    pub id: Option<String>,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub tags: Vec<String>,
}

/// The image's history from its config, each non-empty entry paired with its layer.
pub fn history(store: &Store, record: &ImageRecord) -> Result<Vec<HistoryEntry>, InspectError> {
    let config = config(store, record)?;
    let layers = store.image_layers(&record.id)?;
    let mut sizes = layers.iter().map(|l| l.layer.size);
    let entries = config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut rows: Vec<HistoryEntry> = Vec::new();
    for entry in &entries {
        let empty = entry
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let field = |key: &str| {
            entry
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        rows.push(HistoryEntry {
            id: None,
            created: entry
                .get("created")
                .and_then(Value::as_str)
                .map(str::to_string),
            created_by: field("created_by"),
            size: if empty { 0 } else { sizes.next().unwrap_or(0) },
            comment: field("comment"),
            tags: Vec::new(),
        });
    }
    // A config without history (some tools write none): one row per layer.
    if entries.is_empty() {
        for layer in &layers {
            rows.push(HistoryEntry {
                id: None,
                created: record.created.clone(),
                created_by: String::new(),
                size: layer.layer.size,
                comment: String::new(),
                tags: Vec::new(),
            });
        }
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = Some(record.id.clone());
        top.tags = record.tags.iter().map(|t| familiar(t)).collect();
    }
    Ok(rows)
}
