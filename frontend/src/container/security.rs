//! What the container may do: capabilities (Docker's default set, `--cap-add`,
//! `--cap-drop`, `--privileged`), `--security-opt`, the seccomp profile, the device
//! cgroup rules, and the /proc and /sys paths hidden from it.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::config::HostConfig;
use super::spec::{built_in, SpecError, SECCOMP_PROFILE};

/// Docker's default capabilities, in Docker's order.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability by number (its index), as the kernel numbers them.
const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's masked paths beyond the template's (runc's) list.
const EXTRA_MASKED: [&str; 2] = ["/proc/interrupts", "/sys/devices/virtual/powercap"];

/// The capabilities berth can give: those of the kernel (`cap_last_cap`) that are in
/// its own bounding set. `ALL` and `--privileged` mean these: a runtime under a
/// restricted parent (itself in a container) fails on a capability it lacks.
pub(super) fn kernel_caps() -> Vec<&'static str> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPS.len() - 1);
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| *bit <= last && bounding & (1u64 << bit) != 0)
        .map(|(_, cap)| *cap)
        .collect()
}

/// `chown`, `CHOWN`, `cap_chown` and `CAP_CHOWN` all name CAP_CHOWN.
fn normalize(flag: &'static str, name: &str) -> Result<String, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SpecError::flag(flag, name, "unknown capability"))
    }
}

/// The bounding, effective and permitted set: Docker's default (all with
/// `--privileged` or `--cap-add ALL`), less `--cap-drop` (all with `ALL`), plus
/// `--cap-add`: a capability both dropped and added is kept, as Docker keeps it.
pub fn capabilities(host: &HostConfig) -> Result<Vec<String>, SpecError> {
    let kernel = kernel_caps();
    if host.privileged {
        return Ok(kernel.iter().map(|c| c.to_string()).collect());
    }
    let adds = host
        .cap_add
        .iter()
        .flatten()
        .map(|c| normalize("--cap-add", c))
        .collect::<Result<Vec<_>, _>>()?;
    let drops = host
        .cap_drop
        .iter()
        .flatten()
        .map(|c| normalize("--cap-drop", c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut caps: Vec<String> = if adds.iter().any(|c| c == "ALL") {
        kernel.iter().map(|c| c.to_string()).collect()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    };
    if drops.iter().any(|c| c == "ALL") {
        caps.clear();
    } else {
        caps.retain(|c| !drops.contains(c));
    }
    for cap in adds {
        if cap != "ALL" && !caps.contains(&cap) {
            caps.push(cap);
        }
    }
    Ok(caps)
}

/// `--security-opt`, parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// specs/seccomp.json, Docker's policy.
    #[default]
    Default,
    Unconfined,
    /// An OCI `linux.seccomp` object in a JSON file.
    File(PathBuf),
}

impl Options {
    pub fn parse(opts: &[String]) -> Result<Options, SpecError> {
        let mut options = Options::default();
        for opt in opts {
            // Docker accepts both `key=value` and the older `key:value`.
            let (key, value) = match opt.split_once(['=', ':']) {
                Some((k, v)) => (k, Some(v)),
                None => (opt.as_str(), None),
            };
            let bad = |message: &str| SpecError::flag("--security-opt", opt, message);
            match (key, value) {
                ("no-new-privileges", None) => options.no_new_privileges = true,
                ("no-new-privileges", Some(v)) => {
                    options.no_new_privileges = v
                        .parse::<bool>()
                        .map_err(|_| bad("no-new-privileges takes true or false"))?
                }
                ("seccomp", Some("unconfined")) => options.seccomp = Seccomp::Unconfined,
                ("seccomp", Some(path)) if !path.is_empty() => {
                    options.seccomp = Seccomp::File(PathBuf::from(path))
                }
                ("label", Some("disable")) => {}
                // No AppArmor profile is loaded by berth: unconfined is what it gets anyway.
                ("apparmor", Some("unconfined")) => {}
                _ => {
                    return Err(bad(
                        "unsupported: berth takes no-new-privileges, seccomp=unconfined, \
                         seccomp=PATH and label=disable",
                    ))
                }
            }
        }
        Ok(options)
    }

    /// The `linux.seccomp` object, `None` when unconfined.
    pub fn seccomp(&self) -> Result<Option<Value>, SpecError> {
        match &self.seccomp {
            Seccomp::Default => built_in(SECCOMP_PROFILE, "specs/seccomp.json").map(Some),
            Seccomp::Unconfined => Ok(None),
            Seccomp::File(path) => {
                let error = |message: String| SpecError::HostFile {
                    path: path.clone(),
                    message,
                };
                let text = std::fs::read_to_string(path)
                    .map_err(|e| error(format!("cannot read the seccomp profile: {e}")))?;
                let profile: Value = serde_json::from_str(&text)
                    .map_err(|e| error(format!("the seccomp profile is not JSON: {e}")))?;
                serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(profile.clone())
                    .map_err(|e| {
                        error(format!(
                            "not an OCI seccomp object (linux.seccomp of config.json): {e}"
                        ))
                    })?;
                Ok(Some(profile))
            }
        }
    }
}

/// The template's masked paths and Docker's others.
pub fn masked_paths(template: &Value) -> Value {
    let mut paths: Vec<Value> = template.as_array().cloned().unwrap_or_default();
    for extra in EXTRA_MASKED {
        if !paths.iter().any(|p| p == extra) {
            paths.push(json!(extra));
        }
    }
    Value::Array(paths)
}

/// The device cgroup: everything with `--privileged`, else Docker's list (the
/// standard character devices, ptys, tun, and mknod of anything).
pub fn device_rules(privileged: bool) -> Value {
    if privileged {
        return json!([{"allow": true, "access": "rwm"}]);
    }
    let char_dev = |major: i64, minor: Option<i64>| {
        let mut rule = json!({"allow": true, "type": "c", "major": major, "access": "rwm"});
        if let Some(minor) = minor {
            rule["minor"] = json!(minor);
        }
        rule
    };
    json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "access": "m"},
        {"allow": true, "type": "b", "access": "m"},
        char_dev(1, Some(3)),
        char_dev(1, Some(5)),
        char_dev(1, Some(7)),
        char_dev(1, Some(8)),
        char_dev(1, Some(9)),
        char_dev(5, Some(0)),
        char_dev(5, Some(1)),
        char_dev(5, Some(2)),
        char_dev(136, None),
        char_dev(10, Some(200)),
    ])
}

/// `--privileged`: every device node of the host's /dev, as Docker gives it. The
/// directories of other mounts (ptys, shm, mqueue) and links are left out: the
/// container has its own.
pub fn host_devices() -> Vec<Value> {
    let mut devices = Vec::new();
    collect_devices(std::path::Path::new("/dev"), &mut devices);
    devices
}

fn collect_devices(dir: &std::path::Path, out: &mut Vec<Value>) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            let skip = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
            if !skip.iter().any(|s| name == *s) {
                collect_devices(&entry.path(), out);
            }
            continue;
        }
        let typ = if kind.is_char_device() {
            "c"
        } else if kind.is_block_device() {
            "b"
        } else {
            continue;
        };
        if name == "console" {
            continue;
        }
        let rdev = meta.rdev();
        out.push(json!({
            "path": entry.path(),
            "type": typ,
            "major": nix::sys::stat::major(rdev),
            "minor": nix::sys::stat::minor(rdev),
            "fileMode": meta.mode() & 0o7777,
            "uid": meta.uid(),
            "gid": meta.gid(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(add: &[&str], drop: &[&str]) -> HostConfig {
        let list = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect());
        HostConfig {
            cap_add: list(add),
            cap_drop: list(drop),
            ..HostConfig::default()
        }
    }

    #[test]
    fn the_default_set_is_dockers_fourteen() {
        let caps = capabilities(&HostConfig::default()).unwrap();
        assert_eq!(caps, DEFAULT_CAPS.map(String::from).to_vec());
    }

    #[test]
    fn cap_names_take_or_omit_the_prefix_in_any_case() {
        let caps = capabilities(&host(&["sys_admin", "CAP_NET_ADMIN"], &["chown"])).unwrap();
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(caps.len(), 15);
    }

    #[test]
    fn drop_all_then_add_keeps_only_the_added() {
        let caps = capabilities(&host(&["NET_BIND_SERVICE"], &["ALL"])).unwrap();
        assert_eq!(caps, vec!["CAP_NET_BIND_SERVICE"]);
    }

    #[test]
    fn add_all_gives_the_kernels_set_less_the_dropped() {
        let caps = capabilities(&host(&["ALL"], &["SYS_ADMIN"])).unwrap();
        assert!(caps.contains(&"CAP_SYS_PTRACE".to_string()));
        assert!(!caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert_eq!(caps.len(), kernel_caps().len() - 1);
    }

    #[test]
    fn privileged_has_every_capability_the_kernel_has() {
        let privileged = HostConfig {
            privileged: true,
            cap_drop: Some(vec!["ALL".into()]),
            ..HostConfig::default()
        };
        assert_eq!(
            capabilities(&privileged).unwrap().len(),
            kernel_caps().len()
        );
    }

    #[test]
    fn host_devices_list_the_hosts_character_devices() {
        let devices = host_devices();
        let null = devices.iter().find(|d| d["path"] == "/dev/null").unwrap();
        assert_eq!(
            (
                null["type"].as_str(),
                null["major"].as_u64(),
                null["minor"].as_u64()
            ),
            (Some("c"), Some(1), Some(3))
        );
        assert!(devices
            .iter()
            .all(|d| !d["path"].as_str().unwrap().starts_with("/dev/pts/")));
    }

    #[test]
    fn an_unknown_capability_is_an_error_naming_it() {
        let err = capabilities(&host(&["FLY"], &[])).unwrap_err().to_string();
        assert!(err.contains("--cap-add") && err.contains("FLY"), "{err}");
    }

    fn opts(list: &[&str]) -> Result<Options, SpecError> {
        Options::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn security_opts_docker_accepts() {
        assert!(opts(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(opts(&["no-new-privileges:true"]).unwrap().no_new_privileges);
        assert!(
            !opts(&["no-new-privileges=false"])
                .unwrap()
                .no_new_privileges
        );
        assert_eq!(
            opts(&["seccomp=unconfined"]).unwrap().seccomp,
            Seccomp::Unconfined
        );
        assert_eq!(
            opts(&["seccomp=/etc/profile.json"]).unwrap().seccomp,
            Seccomp::File("/etc/profile.json".into())
        );
        assert_eq!(opts(&["label=disable"]).unwrap(), Options::default());
    }

    #[test]
    fn other_security_opts_are_an_error_naming_them() {
        for bad in ["label=type:svirt_t", "apparmor=docker-default", "bogus"] {
            let err = opts(&[bad]).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn the_default_seccomp_profile_is_the_repos_and_reads_as_oci() {
        let profile = Options::default().seccomp().unwrap().unwrap();
        assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
        serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(profile).unwrap();
        assert_eq!(
            opts(&["seccomp=unconfined"]).unwrap().seccomp().unwrap(),
            None
        );
    }

    #[test]
    fn a_seccomp_file_that_is_not_a_profile_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.json");
        std::fs::write(&path, r#"{"defaultAction": 42}"#).unwrap();
        let options = opts(&[&format!("seccomp={}", path.display())]).unwrap();
        let err = options.seccomp().unwrap_err().to_string();
        assert!(err.contains("profile.json"), "{err}");
        let missing = opts(&["seccomp=/nonexistent/p.json"]).unwrap();
        assert!(missing
            .seccomp()
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/p.json"));
    }
}
