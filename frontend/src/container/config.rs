//! What a container is made from, in Docker's own shapes: `Config` (what the image
//! and the command line say the process is) and `HostConfig` (how the host runs it),
//! with Docker's field names. The store keeps them as JSON, `inspect` prints them as
//! they are, and the API daemon reads them from a create request unchanged.
//!
//! Every field is written out, `null` included, as Docker's inspect does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The container's process and identity (Docker's `Config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// Left out when unset, as dockerd leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, EmptyObject>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, EmptyObject>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// `{}`: Docker's sets (`ExposedPorts`, `Volumes`) map keys to empty objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyObject {}

/// How the host runs the container (Docker's `HostConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `-v`: `HOST:CONTAINER[:OPTIONS]`.
    pub binds: Option<Vec<String>>,
    /// Records written before the key had dockerd's spelling read as well.
    #[serde(rename = "ContainerIDFile", alias = "ContainerIdFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    /// `none`, `host`, `bridge`, `container:NAME`, or a network's name.
    pub network_mode: String,
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub dns: Vec<String>,
    pub dns_options: Vec<String>,
    pub dns_search: Vec<String>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    /// `--tmpfs`: mount point to options (`size=64m,mode=1777`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub shm_size: i64,
    /// `runc`, `crun`, `berth-runtime` or a path: the shim runs it.
    pub runtime: String,
    pub cpu_shares: i64,
    /// Bytes; 0 is no limit.
    pub memory: i64,
    /// CPUs in billionths (`--cpus 1.5` is 1500000000).
    pub nano_cpus: i64,
    pub cgroup_parent: String,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub oom_kill_disable: Option<bool>,
    /// `None` or 0: no limit; -1: unlimited.
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    /// `--init`: a small init (the runtime's own, or tini where installed) as pid 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            binds: None,
            container_id_file: String::new(),
            log_config: LogConfig::default(),
            network_mode: "none".to_string(),
            port_bindings: BTreeMap::new(),
            restart_policy: RestartPolicy::default(),
            auto_remove: false,
            cap_add: None,
            cap_drop: None,
            dns: Vec::new(),
            dns_options: Vec::new(),
            dns_search: Vec::new(),
            extra_hosts: None,
            group_add: None,
            ipc_mode: "private".to_string(),
            oom_score_adj: 0,
            pid_mode: String::new(),
            privileged: false,
            publish_all_ports: false,
            readonly_rootfs: false,
            security_opt: None,
            tmpfs: None,
            uts_mode: String::new(),
            shm_size: 64 * 1024 * 1024,
            runtime: "berth-runtime".to_string(),
            cpu_shares: 0,
            memory: 0,
            nano_cpus: 0,
            cgroup_parent: String::new(),
            cpu_period: 0,
            cpu_quota: 0,
            cpuset_cpus: String::new(),
            cpuset_mems: String::new(),
            memory_reservation: 0,
            memory_swap: 0,
            oom_kill_disable: None,
            pids_limit: None,
            ulimits: None,
            masked_paths: None,
            readonly_paths: None,
            init: None,
        }
    }
}

/// `--log-driver` and `--log-opt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// `json-file` (Docker's default), `k8s-file`, `syslog`, `none`.
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            kind: "json-file".to_string(),
            config: BTreeMap::new(),
        }
    }
}

/// `-p`: one host side of a container port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// `--restart`: `no`, `always`, `unless-stopped`, `on-failure` (with a count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

impl Default for RestartPolicy {
    fn default() -> RestartPolicy {
        RestartPolicy {
            name: "no".to_string(),
            maximum_retry_count: 0,
        }
    }
}

impl RestartPolicy {
    /// The shim's `--restart-policy` argument.
    pub fn shim_argument(&self) -> String {
        match self.name.as_str() {
            "" | "no" => "no".to_string(),
            "on-failure" if self.maximum_retry_count > 0 => {
                format!("on-failure:{}", self.maximum_retry_count)
            }
            other => other.to_string(),
        }
    }
}

/// `--ulimit NAME=SOFT[:HARD]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_carry_dockers_names() {
        let host = serde_json::to_value(HostConfig::default()).unwrap();
        for key in [
            "Binds",
            "LogConfig",
            "NetworkMode",
            "RestartPolicy",
            "AutoRemove",
            "CapAdd",
            "ReadonlyRootfs",
            "UTSMode",
            "NanoCpus",
            "PidsLimit",
            "Ulimits",
            "CpuShares",
            "OomScoreAdj",
        ] {
            assert!(host.get(key).is_some(), "HostConfig lacks {key}: {host}");
        }
        assert_eq!(host["LogConfig"]["Type"], "json-file");
        assert_eq!(host["RestartPolicy"]["MaximumRetryCount"], 0);
        let config = serde_json::to_value(Config::default()).unwrap();
        for key in [
            "Hostname",
            "Env",
            "Cmd",
            "Entrypoint",
            "WorkingDir",
            "OpenStdin",
            "Tty",
        ] {
            assert!(config.get(key).is_some(), "Config lacks {key}: {config}");
        }
    }

    #[test]
    fn keys_dockerd_omits_when_unset_are_left_out() {
        let host = serde_json::to_value(HostConfig::default()).unwrap();
        assert_eq!(host["ContainerIDFile"], "");
        for key in ["ContainerIdFile", "Init", "Tmpfs"] {
            assert!(host.get(key).is_none(), "HostConfig has {key}: {host}");
        }
        let config = serde_json::to_value(Config::default()).unwrap();
        assert!(config.get("ExposedPorts").is_none(), "{config}");
        // A record stored under the old spelling still reads.
        let old: HostConfig = serde_json::from_str(r#"{"ContainerIdFile":"/tmp/cid"}"#).unwrap();
        assert_eq!(old.container_id_file, "/tmp/cid");
        let init: HostConfig = serde_json::from_str(r#"{"Init":true}"#).unwrap();
        assert_eq!(serde_json::to_value(init).unwrap()["Init"], true);
    }

    #[test]
    fn a_create_body_with_few_fields_reads() {
        let config: Config = serde_json::from_str(r#"{"Image":"busybox","Cmd":["true"]}"#).unwrap();
        assert_eq!(config.cmd.as_deref(), Some(&["true".to_string()][..]));
        let host: HostConfig = serde_json::from_str(r#"{"Memory":1048576}"#).unwrap();
        assert_eq!(host.memory, 1 << 20);
        assert_eq!(host.log_config.kind, "json-file");
    }

    #[test]
    fn restart_policies_become_the_shims_argument() {
        let policy = |name: &str, n| RestartPolicy {
            name: name.to_string(),
            maximum_retry_count: n,
        };
        assert_eq!(policy("", 0).shim_argument(), "no");
        assert_eq!(policy("always", 0).shim_argument(), "always");
        assert_eq!(policy("on-failure", 3).shim_argument(), "on-failure:3");
        assert_eq!(policy("on-failure", 0).shim_argument(), "on-failure");
    }
}
