//! Interim: the image config merged into a container's Config (replaced by the full
//! rules of Docker's merge).

use super::config::Config;
use super::spec::SpecError;

pub fn merge(image: &serde_json::Value, mut requested: Config) -> Result<Config, SpecError> {
    let config = image.get("config").cloned().unwrap_or_default();
    let strings = |key: &str| -> Option<Vec<String>> {
        config.get(key)?.as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
    };
    let mut env = strings("Env").unwrap_or_default();
    env.append(&mut requested.env);
    requested.env = env;
    if requested.entrypoint.is_none() {
        requested.entrypoint = strings("Entrypoint");
        if requested.cmd.is_none() {
            requested.cmd = strings("Cmd");
        }
    }
    if requested.working_dir.is_empty() {
        requested.working_dir = config
            .get("WorkingDir")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
    }
    let none = |v: &Option<Vec<String>>| v.as_ref().is_none_or(|v| v.is_empty());
    if none(&requested.entrypoint) && none(&requested.cmd) {
        return Err(SpecError::NoCommand {
            image: requested.image.clone(),
        });
    }
    Ok(requested)
}
