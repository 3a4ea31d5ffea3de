//! The container's `Config` from the image's config blob and what the command line
//! asked for, by Docker's rules: the request wins field by field, `Env` by name, and
//! an entrypoint on the command line drops the image's `Cmd` (the image's arguments
//! were written for the image's entrypoint, not for this one).

use std::collections::BTreeMap;

use serde_json::Value;

use super::config::{Config, EmptyObject};
use super::spec::SpecError;

/// The image's `config` object (`Env`, `Cmd`, `Entrypoint`, ...) merged under `requested`.
pub fn merge(image: &Value, requested: Config) -> Result<Config, SpecError> {
    let image_config = match image.get("config") {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v) => v.clone(),
    };
    let from_image: ImageConfig =
        serde_json::from_value(image_config).map_err(|e| SpecError::ImageConfig {
            image: requested.image.clone(),
            message: e.to_string(),
        })?;
    let mut merged = requested;

    merged.env = merge_env(from_image.env.unwrap_or_default(), &merged.env);

    // `--entrypoint ""` arrives as `[""]` from Docker's client: the same as `[]`.
    let requested_entrypoint = merged.entrypoint.take().map(|e| {
        e.into_iter()
            .filter(|arg| !arg.is_empty())
            .collect::<Vec<_>>()
    });
    let requested_cmd = merged.cmd.take().filter(|cmd| !cmd.is_empty());
    match requested_entrypoint {
        Some(entrypoint) => {
            merged.entrypoint = (!entrypoint.is_empty()).then_some(entrypoint);
            merged.cmd = requested_cmd;
        }
        None => {
            merged.entrypoint = from_image.entrypoint.filter(|e| !e.is_empty());
            merged.cmd = requested_cmd.or(from_image.cmd.filter(|c| !c.is_empty()));
        }
    }
    if merged.entrypoint.is_none() && merged.cmd.is_none() {
        return Err(SpecError::NoCommand {
            image: merged.image.clone(),
        });
    }

    if merged.working_dir.is_empty() {
        merged.working_dir = from_image.working_dir.unwrap_or_default();
    }
    if merged.user.is_empty() {
        merged.user = from_image.user.unwrap_or_default();
    }
    if merged.stop_signal.as_deref().unwrap_or("").is_empty() {
        merged.stop_signal = from_image.stop_signal.filter(|s| !s.is_empty());
    }
    merged.exposed_ports = union(from_image.exposed_ports, merged.exposed_ports);
    merged.volumes = union(from_image.volumes, merged.volumes);
    let mut labels = from_image.labels.unwrap_or_default();
    labels.append(&mut merged.labels);
    merged.labels = labels;
    Ok(merged)
}

/// The fields of an image config this merge reads; every one may be absent or `null`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ImageConfig {
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    stop_signal: Option<String>,
    exposed_ports: Option<BTreeMap<String, Value>>,
    volumes: Option<BTreeMap<String, Value>>,
    labels: Option<BTreeMap<String, String>>,
}

/// The image's variables in their order, each replaced by the request's of the same
/// name, then the request's new ones in theirs.
fn merge_env(image: Vec<String>, requested: &[String]) -> Vec<String> {
    let name = |var: &str| var.split('=').next().unwrap_or("").to_string();
    let mut env = image;
    for var in requested {
        let key = name(var);
        match env.iter_mut().find(|existing| name(existing) == key) {
            Some(existing) => existing.clone_from(var),
            None => env.push(var.clone()),
        }
    }
    env
}

fn union(
    image: Option<BTreeMap<String, Value>>,
    requested: Option<BTreeMap<String, EmptyObject>>,
) -> Option<BTreeMap<String, EmptyObject>> {
    let mut all: BTreeMap<String, EmptyObject> = image
        .unwrap_or_default()
        .into_keys()
        .map(|k| (k, EmptyObject {}))
        .collect();
    all.extend(requested.unwrap_or_default());
    (!all.is_empty()).then_some(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn image() -> Value {
        json!({
            "architecture": "amd64",
            "config": {
                "Env": ["PATH=/usr/bin:/bin", "LANG=C"],
                "Cmd": ["nginx", "-g", "daemon off;"],
                "Entrypoint": ["/docker-entrypoint.sh"],
                "WorkingDir": "/srv",
                "User": "www",
                "StopSignal": "SIGQUIT",
                "ExposedPorts": {"80/tcp": {}},
                "Volumes": {"/data": {}},
                "Labels": {"maintainer": "image", "version": "1"}
            }
        })
    }

    fn request() -> Config {
        Config {
            image: "nginx".to_string(),
            ..Config::default()
        }
    }

    #[test]
    fn an_empty_request_takes_everything_from_the_image() {
        let merged = merge(&image(), request()).unwrap();
        assert_eq!(merged.entrypoint, Some(strings(&["/docker-entrypoint.sh"])));
        assert_eq!(merged.cmd, Some(strings(&["nginx", "-g", "daemon off;"])));
        assert_eq!(merged.env, strings(&["PATH=/usr/bin:/bin", "LANG=C"]));
        assert_eq!(merged.working_dir, "/srv");
        assert_eq!(merged.user, "www");
        assert_eq!(merged.stop_signal.as_deref(), Some("SIGQUIT"));
        assert!(merged.exposed_ports.unwrap().contains_key("80/tcp"));
        assert!(merged.volumes.unwrap().contains_key("/data"));
        assert_eq!(merged.labels["maintainer"], "image");
    }

    #[test]
    fn requested_env_overrides_by_name_and_appends_new_names() {
        let mut req = request();
        req.env = strings(&["LANG=en_US.UTF-8", "DEBUG=1"]);
        let merged = merge(&image(), req).unwrap();
        assert_eq!(
            merged.env,
            strings(&["PATH=/usr/bin:/bin", "LANG=en_US.UTF-8", "DEBUG=1"])
        );
    }

    #[test]
    fn a_requested_cmd_replaces_the_images_and_keeps_its_entrypoint() {
        let mut req = request();
        req.cmd = Some(strings(&["sh"]));
        let merged = merge(&image(), req).unwrap();
        assert_eq!(merged.cmd, Some(strings(&["sh"])));
        assert_eq!(merged.entrypoint, Some(strings(&["/docker-entrypoint.sh"])));
    }

    #[test]
    fn a_requested_entrypoint_drops_the_images_cmd() {
        let mut req = request();
        req.entrypoint = Some(strings(&["/bin/echo"]));
        let merged = merge(&image(), req).unwrap();
        assert_eq!(merged.entrypoint, Some(strings(&["/bin/echo"])));
        assert_eq!(merged.cmd, None);
    }

    #[test]
    fn an_empty_entrypoint_clears_the_images() {
        for cleared in [vec![], strings(&[""])] {
            let mut req = request();
            req.entrypoint = Some(cleared);
            req.cmd = Some(strings(&["ls", "/"]));
            let merged = merge(&image(), req).unwrap();
            assert_eq!(merged.entrypoint, None);
            assert_eq!(merged.cmd, Some(strings(&["ls", "/"])));
        }
    }

    #[test]
    fn requested_workdir_user_and_stop_signal_win() {
        let mut req = request();
        req.working_dir = "/tmp".into();
        req.user = "nobody".into();
        req.stop_signal = Some("SIGTERM".into());
        let merged = merge(&image(), req).unwrap();
        assert_eq!(merged.working_dir, "/tmp");
        assert_eq!(merged.user, "nobody");
        assert_eq!(merged.stop_signal.as_deref(), Some("SIGTERM"));
    }

    #[test]
    fn ports_volumes_and_labels_are_merged_with_the_request_winning() {
        let mut req = request();
        req.exposed_ports = Some([("443/tcp".to_string(), EmptyObject {})].into());
        req.volumes = Some([("/logs".to_string(), EmptyObject {})].into());
        req.labels = [("version".to_string(), "2".to_string())].into();
        let merged = merge(&image(), req).unwrap();
        let ports: Vec<_> = merged.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, strings(&["443/tcp", "80/tcp"]));
        let volumes: Vec<_> = merged.volumes.unwrap().into_keys().collect();
        assert_eq!(volumes, strings(&["/data", "/logs"]));
        assert_eq!(merged.labels["version"], "2");
        assert_eq!(merged.labels["maintainer"], "image");
    }

    #[test]
    fn no_command_anywhere_is_dockers_error_naming_the_image() {
        let bare = json!({"config": {"Env": ["PATH=/bin"]}});
        let mut req = request();
        req.image = "scratchy".into();
        let err = merge(&bare, req).unwrap_err().to_string();
        assert!(err.contains("no command specified"), "{err}");
        assert!(err.contains("scratchy"), "{err}");
    }

    #[test]
    fn a_cleared_entrypoint_without_a_cmd_has_no_command() {
        let mut req = request();
        req.entrypoint = Some(vec![]);
        let err = merge(&image(), req).unwrap_err().to_string();
        assert!(err.contains("no command specified"), "{err}");
    }

    #[test]
    fn an_image_without_a_config_object_reads_as_empty() {
        let mut req = request();
        req.cmd = Some(strings(&["true"]));
        for blob in [json!({}), json!({"config": null})] {
            let merged = merge(&blob, req.clone()).unwrap();
            assert_eq!(merged.cmd, Some(strings(&["true"])));
            assert!(merged.env.is_empty());
        }
    }

    #[test]
    fn a_malformed_image_config_names_the_image() {
        let blob = json!({"config": {"Env": "PATH=/bin"}});
        let err = merge(&blob, request()).unwrap_err().to_string();
        assert!(err.contains("nginx"), "{err}");
    }
}
