//! Loading and validating a bundle's config.json.
//!
//! Parsing is strict about types (an unknown namespace type or a string where
//! a number belongs is an error that names the JSON path), and validation
//! catches what the types cannot: missing sections, contradictions between
//! fields, relative hook paths.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use oci_spec::runtime::Spec;
use oci_spec::runtime::{LinuxNamespaceType, Mount};

use crate::error::{Error, Result};

pub const CONFIG_FILE: &str = "config.json";

/// A validated config and the exact text it came from: the text is what
/// state.json keeps, so later commands need not re-serialise the spec.
#[derive(Debug)]
pub struct Loaded {
    pub spec: Spec,
    pub raw: String,
}

/// Reads and validates `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Loaded> {
    let path = bundle.join(CONFIG_FILE);
    let config_error = |message: String| Error::Config {
        path: path.clone(),
        message,
    };
    let raw =
        std::fs::read_to_string(&path).map_err(|e| config_error(format!("cannot read: {e}")))?;
    let spec = parse(raw.as_bytes()).map_err(config_error)?;
    validate(&spec)?;
    Ok(Loaded { spec, raw })
}

/// Parses config.json bytes; the error names the JSON path of the bad value.
pub fn parse(bytes: &[u8]) -> std::result::Result<Spec, String> {
    crate::json::from_slice(bytes)
}

/// Checks what the spec's types cannot: the sections `create` needs and the
/// fields that must agree with each other.
pub fn validate(spec: &Spec) -> Result<()> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::field("root", "missing; expected {\"path\": \"rootfs\"}"))?;
    if root.path().as_os_str().is_empty() {
        return Err(Error::field(
            "root.path",
            "empty; expected the rootfs directory",
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::field("process", "missing; create needs a process to run"))?;
    if process.args().as_ref().is_none_or(|args| args.is_empty()) {
        return Err(Error::field(
            "process.args",
            "empty; expected at least the program to run",
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::field(
            "process.cwd",
            format!("{:?} is relative; expected an absolute path", process.cwd()),
        ));
    }
    let linux = spec.linux().as_ref().ok_or_else(|| {
        Error::field("linux", "missing; berth-runtime runs Linux containers only")
    })?;

    let mut seen = HashSet::new();
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    for (i, ns) in namespaces.iter().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(Error::field(
                format!("linux.namespaces[{i}]"),
                format!("namespace type {:?} given twice", ns.typ().to_string()),
            ));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return Err(Error::field(
                    format!("linux.namespaces[{i}].path"),
                    format!("{path:?} is relative; expected an absolute path"),
                ));
            }
        }
    }
    let has_new = |typ| {
        namespaces
            .iter()
            .any(|ns| ns.typ() == typ && ns.path().is_none())
    };
    let has = |typ| seen.contains(&typ);

    if let Some(personality) = linux.personality() {
        crate::process::scheduling::personality_value(personality)?;
    }
    if let Some(scheduler) = process.scheduler() {
        crate::process::scheduling::policy_number(*scheduler.policy())?;
    }
    if let Some(priority) = process.io_priority() {
        crate::process::scheduling::check_io_priority(priority)?;
    }
    if !has(LinuxNamespaceType::Mount) {
        // Masks and read-only binds in the caller's mount namespace would
        // hide the host's own /proc and /sys (runc refuses the same).
        let nonempty = |paths: &Option<Vec<String>>| paths.as_ref().is_some_and(|p| !p.is_empty());
        for (field, paths) in [
            ("linux.maskedPaths", linux.masked_paths()),
            ("linux.readonlyPaths", linux.readonly_paths()),
        ] {
            if nonempty(paths) {
                return Err(Error::field(
                    field,
                    "needs a mount namespace of the container's own in linux.namespaces",
                ));
            }
        }
    }

    let has_mappings = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if has_mappings && !has_new(LinuxNamespaceType::User) {
        return Err(Error::field(
            "linux.uidMappings",
            "given without a new user namespace in linux.namespaces",
        ));
    }
    if has_new(LinuxNamespaceType::User) && !has_mappings {
        return Err(Error::field(
            "linux.uidMappings",
            "missing; a new user namespace needs uidMappings and gidMappings",
        ));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()) {
        if !has_new(LinuxNamespaceType::Time) {
            return Err(Error::field(
                "linux.timeOffsets",
                "given without a new time namespace in linux.namespaces",
            ));
        }
        for clock in linux.time_offsets().iter().flat_map(|t| t.keys()) {
            if clock != "monotonic" && clock != "boottime" {
                return Err(Error::field(
                    format!("linux.timeOffsets.{clock}"),
                    "unknown clock; expected \"monotonic\" or \"boottime\"",
                ));
            }
        }
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(Error::field(
            "hostname",
            "set without a UTS namespace in linux.namespaces",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(Error::field(
            "domainname",
            "set without a UTS namespace in linux.namespaces",
        ));
    }
    for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
        let required = sysctl_namespace(key).ok_or_else(|| {
            Error::field(
                format!("linux.sysctl.{key}"),
                "not a namespaced sysctl; a container may only set net.*, fs.mqueue.*, IPC kernel.* (msg*, sem, shm*) and kernel.hostname/domainname",
            )
        })?;
        if !has(required) {
            return Err(Error::field(
                format!("linux.sysctl.{key}"),
                format!(
                    "needs a {} namespace of the container's own in linux.namespaces",
                    crate::namespaces::proc_name(required)
                ),
            ));
        }
    }
    if let Some(propagation) = linux.rootfs_propagation() {
        if crate::rootfs::propagation_flags(propagation).is_none() {
            return Err(Error::field(
                "linux.rootfsPropagation",
                format!(
                    "{propagation:?} is not one of shared, rshared, slave, rslave, private, rprivate, unbindable, runbindable"
                ),
            ));
        }
    }
    for (i, mount) in spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        validate_mount(i, mount)?;
    }
    if let Some(hooks) = spec.hooks() {
        #[allow(deprecated)]
        let all = [
            ("prestart", hooks.prestart()),
            ("createRuntime", hooks.create_runtime()),
            ("createContainer", hooks.create_container()),
            ("startContainer", hooks.start_container()),
            ("poststart", hooks.poststart()),
            ("poststop", hooks.poststop()),
        ];
        for (name, list) in all {
            for (i, hook) in list.as_deref().unwrap_or_default().iter().enumerate() {
                if !hook.path().is_absolute() {
                    return Err(Error::field(
                        format!("hooks.{name}[{i}].path"),
                        format!("{:?} is relative; expected an absolute path", hook.path()),
                    ));
                }
                if hook.timeout().is_some_and(|t| t <= 0) {
                    return Err(Error::field(
                        format!("hooks.{name}[{i}].timeout"),
                        "must be a positive number of seconds",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The namespace that makes a sysctl the container's own, or None if the
/// sysctl is global to the host.
fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let key = key.replace('/', ".");
    if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key.starts_with("fs.mqueue.") || IPC.contains(&key.as_str()) {
        Some(LinuxNamespaceType::Ipc)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

fn validate_mount(i: usize, mount: &Mount) -> Result<()> {
    if mount.destination().as_os_str().is_empty() {
        return Err(Error::field(
            format!("mounts[{i}].destination"),
            "empty; expected a path inside the container",
        ));
    }
    let options = mount.options().as_deref().unwrap_or_default();
    let is_bind = mount.typ().as_deref() == Some("bind")
        || options.iter().any(|o| o == "bind" || o == "rbind");
    if is_bind && mount.source().is_none() {
        return Err(Error::field(
            format!("mounts[{i}].source"),
            "missing; a bind mount needs a source path",
        ));
    }
    if !is_bind && mount.typ().as_deref().is_none_or(str::is_empty) {
        return Err(Error::field(
            format!("mounts[{i}].type"),
            format!(
                "missing for {:?}; expected a filesystem type or a bind option",
                mount.destination()
            ),
        ));
    }
    Ok(())
}

/// The absolute rootfs path: root.path relative to the bundle, or absolute.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::field("root", "missing"))?;
    let joined = bundle.join(root.path());
    let rootfs = std::fs::canonicalize(&joined).map_err(|e| {
        Error::field(
            "root.path",
            format!(
                "{}: {e}; expected the bundle's root filesystem directory",
                joined.display()
            ),
        )
    })?;
    if !rootfs.is_dir() {
        return Err(Error::field(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/"},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn check(value: serde_json::Value) -> std::result::Result<(), String> {
        let spec = parse(value.to_string().as_bytes())?;
        validate(&spec).map_err(|e| e.to_string())
    }

    #[test]
    fn minimal_config_is_valid() {
        check(minimal()).unwrap();
    }

    #[test]
    fn unknown_namespace_type_names_the_field() {
        let mut config = minimal();
        config["linux"]["namespaces"][1]["type"] = "foo".into();
        let err = check(config).unwrap_err();
        assert!(err.contains("linux.namespaces[1].type"), "{err}");
        assert!(err.contains("foo"), "{err}");
    }

    #[test]
    fn malformed_json_is_reported() {
        let err = parse(b"{\"ociVersion\": ").unwrap_err();
        assert!(err.contains("invalid JSON"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_path() {
        let mut config = minimal();
        config["process"]["user"]["uid"] = "root".into();
        let err = check(config).unwrap_err();
        assert!(err.contains("process.user.uid"), "{err}");
    }

    #[test]
    fn duplicate_namespace_is_rejected() {
        let mut config = minimal();
        config["linux"]["namespaces"][1]["type"] = "pid".into();
        let err = check(config).unwrap_err();
        assert!(err.contains("given twice"), "{err}");
    }

    #[test]
    fn empty_args_are_rejected() {
        let mut config = minimal();
        config["process"]["args"] = serde_json::json!([]);
        assert!(check(config).unwrap_err().contains("process.args"));
    }

    #[test]
    fn missing_process_is_rejected() {
        let mut config = minimal();
        config.as_object_mut().unwrap().remove("process");
        assert!(check(config).unwrap_err().contains("process"));
    }

    #[test]
    fn no_mount_namespace_is_accepted_as_by_runc() {
        let mut config = minimal();
        config["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}]);
        check(config).unwrap();
    }

    #[test]
    fn masks_without_a_mount_namespace_are_rejected() {
        for field in ["maskedPaths", "readonlyPaths"] {
            let mut config = minimal();
            config["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}]);
            config["linux"][field] = serde_json::json!(["/proc/kcore"]);
            let err = check(config).unwrap_err();
            assert!(err.contains(&format!("linux.{field}")), "{err}");
            assert!(err.contains("mount namespace"), "{err}");
        }
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let mut config = minimal();
        config["linux"]["namespaces"][0]["type"] = "user".into();
        assert!(check(config).unwrap_err().contains("uidMappings"));
    }

    #[test]
    fn hostname_needs_uts_namespace() {
        let mut config = minimal();
        config["hostname"] = "box".into();
        assert!(check(config).unwrap_err().contains("hostname"));
    }

    #[test]
    fn time_offsets_need_time_namespace() {
        let mut config = minimal();
        config["linux"]["timeOffsets"] = serde_json::json!({"monotonic": {"secs": 1}});
        assert!(check(config).unwrap_err().contains("linux.timeOffsets"));
    }

    #[test]
    fn sysctl_must_be_namespaced_and_have_its_namespace() {
        let mut config = minimal();
        config["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        let err = check(config.clone()).unwrap_err();
        assert!(err.contains("needs a net namespace"), "{err}");
        config["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "1"});
        let err = check(config.clone()).unwrap_err();
        assert!(err.contains("not a namespaced sysctl"), "{err}");
        config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "ipc"}));
        config["linux"]["sysctl"] =
            serde_json::json!({"kernel.shmmax": "1", "fs/mqueue/msg_max": "9"});
        check(config).unwrap();
    }

    #[test]
    fn relative_hook_path_is_rejected() {
        let mut config = minimal();
        config["hooks"] = serde_json::json!({"poststop": [{"path": "bin/true"}]});
        let err = check(config).unwrap_err();
        assert!(err.contains("hooks.poststop[0].path"), "{err}");
    }

    #[test]
    fn bad_rootfs_propagation_is_rejected() {
        let mut config = minimal();
        config["linux"]["rootfsPropagation"] = "sideways".into();
        assert!(check(config).unwrap_err().contains("rootfsPropagation"));
    }

    #[test]
    fn mount_without_type_or_bind_is_rejected() {
        let mut config = minimal();
        config["mounts"] = serde_json::json!([{"destination": "/x", "source": "y"}]);
        assert!(check(config).unwrap_err().contains("mounts[0].type"));
    }
}
