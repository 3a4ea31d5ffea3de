//! What `image inspect` and `history` show: Docker's JSON shape, built from the
//! image's record and its config blob.

use std::fs;

use serde::Serialize;
use serde_json::{json, Value};

use super::reference::familiar_of;
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

/// The container config as Docker shows it: every key in Docker's order, empty ones
/// included, from the OCI config's `config` object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    hostname: String,
    domainname: String,
    user: Value,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    #[serde(skip_serializing_if = "Value::is_null")]
    exposed_ports: Value,
    tty: bool,
    open_stdin: bool,
    stdin_once: bool,
    env: Value,
    cmd: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    healthcheck: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    args_escaped: Value,
    image: String,
    volumes: Value,
    working_dir: Value,
    entrypoint: Value,
    on_build: Value,
    labels: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    stop_signal: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    shell: Value,
}

impl ContainerConfig {
    pub fn from_oci(oci: &Value) -> ContainerConfig {
        let get = |key: &str| oci.get(key).cloned().unwrap_or(Value::Null);
        let text = |key: &str| oci.get(key).cloned().unwrap_or(json!(""));
        ContainerConfig {
            hostname: String::new(),
            domainname: String::new(),
            user: text("User"),
            attach_stdin: false,
            attach_stdout: false,
            attach_stderr: false,
            exposed_ports: get("ExposedPorts"),
            tty: false,
            open_stdin: false,
            stdin_once: false,
            env: get("Env"),
            cmd: get("Cmd"),
            healthcheck: get("Healthcheck"),
            args_escaped: get("ArgsEscaped"),
            image: String::new(),
            volumes: get("Volumes"),
            working_dir: text("WorkingDir"),
            entrypoint: get("Entrypoint"),
            on_build: get("OnBuild"),
            labels: get("Labels"),
            stop_signal: get("StopSignal"),
            shell: get("Shell"),
        }
    }
}

/// `image inspect`'s object, its keys in Docker's order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    id: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    parent: String,
    comment: Value,
    created: String,
    /// API 1.41's fields that 1.44 dropped: only [`inspect_v1_41`] fills them.
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container_config: Option<ContainerConfig>,
    docker_version: Value,
    author: Value,
    config: ContainerConfig,
    architecture: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    variant: Value,
    os: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    os_version: Value,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    virtual_size: Option<u64>,
    graph_driver: Value,
    #[serde(rename = "RootFS")]
    root_fs: Value,
    metadata: Value,
}

/// The image's layer dirs as overlay's `lowerdir` lists them, top layer first, joined
/// with `:` (GraphDriver's `LowerDir`).
pub fn lower_dirs(store: &Store, image_id: &str) -> Result<String, StoreError> {
    let dirs: Vec<String> = store
        .image_layers(image_id)?
        .iter()
        .rev()
        .map(|l| store.layer_dir(l.layer.id).display().to_string())
        .collect();
    Ok(dirs.join(":"))
}

/// `image inspect`'s object for one image.
pub fn inspect(store: &Store, record: &ImageRecord) -> Result<ImageInspect, InspectError> {
    let config = config(store, record)?;
    let layers = store.image_layers(&record.id)?;
    let text = |key: &str| config.get(key).cloned().unwrap_or(json!(""));
    let optional = |key: &str| {
        config
            .get(key)
            .filter(|v| v.is_string())
            .cloned()
            .unwrap_or(Value::Null)
    };
    Ok(ImageInspect {
        id: record.id.clone(),
        repo_tags: record.tags.iter().map(|t| familiar_of(t)).collect(),
        repo_digests: record.repo_digests.iter().map(|t| familiar_of(t)).collect(),
        parent: String::new(),
        comment: text("comment"),
        created: record
            .created
            .clone()
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string()),
        container: None,
        container_config: None,
        docker_version: text("docker_version"),
        author: text("author"),
        config: ContainerConfig::from_oci(config.get("config").unwrap_or(&Value::Null)),
        architecture: text("architecture"),
        variant: optional("variant"),
        os: text("os"),
        os_version: optional("os.version"),
        size: record.size,
        virtual_size: None,
        graph_driver: json!({
            "Data": { "LowerDir": lower_dirs(store, &record.id)? },
            "Name": "overlay",
        }),
        root_fs: json!({
            "Type": "layers",
            "Layers": layers.iter().map(|l| l.layer.diff_id.clone()).collect::<Vec<_>>(),
        }),
        metadata: json!({ "LastTagTime": "0001-01-01T00:00:00Z" }),
    })
}

/// [`inspect`] as API 1.41 (dockerd 20.10, the version the daemon serves) shows an
/// image: with the container it was committed from and that container's config (empty
/// for an image not committed from one), and `VirtualSize` (the size again).
pub fn inspect_v1_41(store: &Store, record: &ImageRecord) -> Result<ImageInspect, InspectError> {
    let mut image = inspect(store, record)?;
    let config = config(store, record)?;
    image.container = Some(config.get("container").cloned().unwrap_or(json!("")));
    image.container_config = Some(ContainerConfig::from_oci(
        config.get("container_config").unwrap_or(&Value::Null),
    ));
    image.virtual_size = Some(image.size);
    Ok(image)
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
        top.tags = record.tags.iter().map(|t| familiar_of(t)).collect();
    }
    Ok(rows)
}
