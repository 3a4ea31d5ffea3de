//! Interim: the OCI spec of a container (replaced by the full generation).

use oci_spec::runtime::Spec;

use super::config::{Config, HostConfig};
use super::ContainerPaths;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("image {image}: no command specified")]
    NoCommand { image: String },
    #[error("{0}")]
    Other(String),
}

pub struct SpecInput<'a> {
    pub id: &'a str,
    pub config: &'a Config,
    pub host: &'a HostConfig,
    pub paths: &'a ContainerPaths,
}

const TEMPLATE: &str = include_str!("../../../specs/config.json");

pub fn generate(input: &SpecInput<'_>) -> Result<Spec, SpecError> {
    let mut spec: serde_json::Value =
        serde_json::from_str(TEMPLATE).map_err(|e| SpecError::Other(e.to_string()))?;
    let config = input.config;
    let mut args: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    args.extend(config.cmd.clone().unwrap_or_default());
    let mut env = config.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    env.push(format!("HOSTNAME={}", config.hostname));
    spec["process"]["args"] = serde_json::json!(args);
    spec["process"]["env"] = serde_json::json!(env);
    spec["process"]["terminal"] = serde_json::json!(config.tty);
    spec["process"]["cwd"] = serde_json::json!(if config.working_dir.is_empty() {
        "/"
    } else {
        config.working_dir.as_str()
    });
    spec["root"] = serde_json::json!({"path": "merged", "readonly": input.host.readonly_rootfs});
    spec["hostname"] = serde_json::json!(config.hostname);
    spec["linux"]["cgroupsPath"] = serde_json::json!(format!("/berth/{}", input.id));
    serde_json::from_value(spec).map_err(|e| SpecError::Other(e.to_string()))
}
