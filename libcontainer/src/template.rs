//! The config.json that `spec` writes: runc's template, so that tools which
//! edit it (jq scripts, test suites, engines' docs) find runc's shape: the
//! namespaces runc's `spec` lists, `linux.resources.devices` denying all,
//! and no seccomp profile. Our Docker-policy profile is an option
//! ([`Options::seccomp_default`]). The data lives in `specs/`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::spec::CONFIG_FILE;

const TEMPLATE: &str = include_str!("../../specs/config.json");
const SECCOMP_PROFILE: &str = include_str!("../../specs/seccomp.json");

/// What to change in the template.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// A config for a container started by an unprivileged user: a user
    /// namespace mapping `(uid, gid)` of the caller to root inside.
    pub rootless: Option<(u32, u32)>,
    /// Put `specs/seccomp.json` (Docker's policy) in `linux.seccomp`.
    pub seccomp_default: bool,
}

/// The template as pretty JSON, newline-terminated.
pub fn render(options: Options) -> Result<String> {
    let mut spec: Value =
        serde_json::from_str(TEMPLATE).map_err(|e| built_in("specs/config.json", e))?;
    if options.seccomp_default {
        spec["linux"]["seccomp"] =
            serde_json::from_str(SECCOMP_PROFILE).map_err(|e| built_in("specs/seccomp.json", e))?;
    }
    if let Some((uid, gid)) = options.rootless {
        make_rootless(&mut spec, uid, gid);
    }
    serde_json::to_string_pretty(&spec)
        .map(|text| text + "\n")
        .map_err(|e| built_in("the template", e))
}

fn built_in(what: &str, e: serde_json::Error) -> Error {
    Error::Config {
        path: format!("{what} (built in)").into(),
        message: e.to_string(),
    }
}

/// Writes the template to `<bundle>/config.json`, never over an existing
/// file (as runc refuses to), and returns its path.
pub fn write(bundle: &Path, options: Options) -> Result<PathBuf> {
    let path = bundle.join(CONFIG_FILE);
    let text = render(options)?;
    let config_error = |message: String| Error::Config {
        path: path.clone(),
        message,
    };
    // create_new: an existing config is refused without a window in
    // which another writer's file could be replaced.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                config_error("already exists; remove it first".into())
            }
            _ => config_error(format!("cannot create: {e}")),
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| config_error(format!("cannot write: {e}")))?;
    Ok(path)
}

/// The template adjusted for an unprivileged caller, as runc's `spec
/// --rootless`: a user namespace mapping the caller to root, no network or
/// cgroup namespace and no resources (an unprivileged user can set up
/// neither), /sys bound from the host, no cgroup mount, no devpts `gid=5`.
fn make_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(namespaces) = linux["namespaces"].as_array_mut() {
        namespaces.retain(|ns| ns["type"] != "network" && ns["type"] != "cgroup");
        namespaces.push(json!({"type": "user"}));
    }
    if let Some(object) = linux.as_object_mut() {
        object.remove("resources");
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        mounts.retain(|m| m["type"] != "cgroup");
        for mount in mounts.iter_mut() {
            if mount["type"] == "sysfs" {
                *mount = json!({
                    "destination": "/sys", "type": "none", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
                });
            }
            if let Some(options) = mount["options"].as_array_mut() {
                options.retain(|o| o != "gid=5");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(options: Options) -> Value {
        serde_json::from_str(&render(options).unwrap()).unwrap()
    }

    #[test]
    fn template_has_runcs_namespaces_devices_and_no_seccomp() {
        let spec = rendered(Options::default());
        let namespaces: Vec<&str> = spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(namespaces, ["pid", "network", "ipc", "uts", "mount"]);
        assert_eq!(
            spec["linux"]["resources"]["devices"],
            json!([{"allow": false, "access": "rwm"}])
        );
        assert!(spec["linux"].get("seccomp").is_none());
        assert_eq!(spec["process"]["terminal"], true);
    }

    #[test]
    fn template_parses_and_validates() {
        for options in [
            Options::default(),
            Options {
                rootless: Some((1000, 1000)),
                seccomp_default: true,
            },
        ] {
            let text = render(options).unwrap();
            let spec = crate::spec::parse(text.as_bytes()).unwrap();
            crate::spec::validate(&spec).unwrap();
        }
    }

    #[test]
    fn seccomp_default_adds_the_profile_and_it_compiles() {
        let text = render(Options {
            seccomp_default: true,
            ..Options::default()
        })
        .unwrap();
        let spec = crate::spec::parse(text.as_bytes()).unwrap();
        let seccomp = spec.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
        crate::seccomp::compile(seccomp).unwrap();
    }

    #[test]
    fn rootless_maps_the_caller_and_drops_what_needs_privileges() {
        let spec = rendered(Options {
            rootless: Some((1234, 5678)),
            ..Options::default()
        });
        assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], 1234);
        assert_eq!(spec["linux"]["gidMappings"][0]["hostID"], 5678);
        let text = spec.to_string();
        assert!(!text.contains("\"network\""), "{text}");
        assert!(spec["linux"].get("resources").is_none());
    }

    #[test]
    fn write_refuses_an_existing_config() {
        let dir = std::env::temp_dir().join(format!("berth-template-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write(&dir, Options::default()).unwrap();
        let again = write(&dir, Options::default()).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(again.contains("already exists"), "{again}");
        assert!(again.contains(&path.display().to_string()), "{again}");
    }
}
