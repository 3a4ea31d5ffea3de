//! The runtime-spec features document (features.md): what this runtime
//! supports, as `berth-runtime features` prints it. Every list is built from
//! the code that implements it, so the document cannot drift from the truth.

use serde_json::{json, Value};

use crate::state::OCI_VERSION;

const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Namespace names as config.json spells them.
const NAMESPACES: [&str; 8] = [
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

pub fn document(runtime_version: &str) -> Value {
    let mut mount_options = crate::rootfs::options::known_options();
    mount_options.sort_unstable();
    let capabilities: Vec<String> = {
        let mut all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        all.sort();
        all
    };
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": HOOKS,
        "mountOptions": mount_options,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": capabilities,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": crate::seccomp::features(),
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.berth.runtime.version": runtime_version,
            "io.github.berth.runtime.exe-sealing": "read-only bind mount (no copy)"
        }
    })
}
