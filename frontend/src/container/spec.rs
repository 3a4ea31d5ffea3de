//! The OCI config.json of a container: the repo's template (`specs/config.json`, the
//! runtime's own `spec`) changed to Docker's defaults and then by the container's
//! `Config` and `HostConfig`. Built as JSON and checked by reading it back as
//! `oci_spec::runtime::Spec`, so the runtime never meets a config that oci-spec refuses.
//!
//! Mounts are in `mounts.rs`, capabilities and `--security-opt` in `security.rs`,
//! `--user` in `user.rs`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{json, Map, Value};

use super::config::{Config, HostConfig};
use super::{mounts, security, user, ContainerPaths};

pub(super) const TEMPLATE: &str = include_str!("../../../specs/config.json");
pub(super) const SECCOMP_PROFILE: &str = include_str!("../../../specs/seccomp.json");

/// Docker's PATH for a container whose image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// CFS period for `--cpus`, Docker's.
const CPU_PERIOD: i64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("no command specified: image {image} has no Cmd or Entrypoint and none was given")]
    NoCommand { image: String },
    #[error("image {image}: its config blob does not read as an image config: {message}")]
    ImageConfig { image: String, message: String },
    #[error("unable to find user {user}: no matching entries in passwd file")]
    UnknownUser { user: String },
    #[error("unable to find group {group}: no matching entries in group file")]
    UnknownGroup { group: String },
    #[error("{} (in the container's rootfs): {message}", path.display())]
    Rootfs { path: PathBuf, message: String },
    #[error("{flag} {value:?}: {message}")]
    Flag {
        flag: &'static str,
        value: String,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    HostFile { path: PathBuf, message: String },
    #[error("--init: no init binary is installed (looked for {tried})")]
    NoInit { tried: String },
    #[error("{what} (built in): {message}")]
    BuiltIn { what: &'static str, message: String },
    #[error("container {id}: the generated config is not a valid OCI config: {message}")]
    Invalid { id: String, message: String },
}

impl SpecError {
    pub(super) fn flag(flag: &'static str, value: &str, message: impl Into<String>) -> SpecError {
        SpecError::Flag {
            flag,
            value: value.to_string(),
            message: message.into(),
        }
    }
}

/// What the spec is made from. The rootfs must be mounted at `paths.rootfs()`: the
/// user is resolved and the working directory made in it.
pub struct SpecInput<'a> {
    pub id: &'a str,
    pub config: &'a Config,
    pub host: &'a HostConfig,
    pub paths: &'a ContainerPaths,
}

/// The cgroup parent of a store's containers that name none: `/berth` for the default
/// store, as Docker's is `/docker`; `/berth-` and 12 hex digits of the store path's
/// SHA-256 for any other, so that two stores (each test's, a bench's) never share a
/// parent and each can remove its own once its containers are gone.
pub fn default_cgroup_parent(root: &Path) -> String {
    use sha2::{Digest, Sha256};
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    if root == Path::new(crate::store::DEFAULT_ROOT) {
        return "/berth".to_string();
    }
    let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("/berth-{hex}")
}

/// The container's OCI config.
pub fn generate(input: &SpecInput) -> Result<Spec, SpecError> {
    let mut spec = built_in(TEMPLATE, "specs/config.json")?;
    let security = security::Options::parse(input.host.security_opt.as_deref().unwrap_or(&[]))?;
    let init = match input.host.init {
        Some(true) => Some(mounts::find_init()?),
        _ => None,
    };

    spec["process"] = process(input, &security, init.is_some())?;
    spec["root"] = json!({
        "path": input.paths.rootfs(),
        "readonly": input.host.readonly_rootfs,
    });
    let hostname = input.config.hostname.as_str();
    let own_uts = input.host.uts_mode != "host";
    match spec.as_object_mut() {
        Some(top) if own_uts && !hostname.is_empty() => {
            top.insert("hostname".into(), json!(hostname));
        }
        Some(top) => {
            top.remove("hostname");
        }
        None => {}
    }
    if own_uts && !input.config.domainname.is_empty() {
        spec["domainname"] = json!(input.config.domainname);
    }
    spec["mounts"] = Value::Array(mounts::mounts(input, init.as_deref())?);
    spec["linux"] = linux(input, &security, &spec["linux"])?;

    serde_json::from_value(spec).map_err(|e| SpecError::Invalid {
        id: input.id.to_string(),
        message: e.to_string(),
    })
}

pub(super) fn built_in(text: &str, what: &'static str) -> Result<Value, SpecError> {
    serde_json::from_str(text).map_err(|e| SpecError::BuiltIn {
        what,
        message: e.to_string(),
    })
}

fn process(
    input: &SpecInput,
    security: &security::Options,
    with_init: bool,
) -> Result<Value, SpecError> {
    let (config, host) = (input.config, input.host);
    let mut args: Vec<String> = Vec::new();
    if with_init {
        args.push(mounts::INIT_DESTINATION.to_string());
        args.push("--".to_string());
    }
    args.extend(config.entrypoint.iter().flatten().cloned());
    args.extend(config.cmd.iter().flatten().cloned());
    if args.len() == usize::from(with_init) * 2 {
        return Err(SpecError::NoCommand {
            image: config.image.clone(),
        });
    }

    let resolved = user::resolve(&input.paths.rootfs(), &config.user)?;
    let mut additional_gids = resolved.additional_gids.clone();
    for group in host.group_add.iter().flatten() {
        let gid = group_add_gid(input, group)?;
        if gid != resolved.gid && !additional_gids.contains(&gid) {
            additional_gids.push(gid);
        }
    }
    let cwd = if config.working_dir.is_empty() {
        "/".to_string()
    } else if config.working_dir.starts_with('/') {
        mounts::make_dir_in_rootfs(&input.paths.rootfs(), &config.working_dir)?;
        config.working_dir.clone()
    } else {
        return Err(SpecError::flag(
            "--workdir",
            &config.working_dir,
            "the working directory must be an absolute path",
        ));
    };

    let caps = security::capabilities(host)?;
    let mut process = json!({
        "terminal": config.tty,
        "user": {
            "uid": resolved.uid,
            "gid": resolved.gid,
            "additionalGids": additional_gids,
        },
        "args": args,
        "env": environment(config),
        "cwd": cwd,
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
        },
        "rlimits": rlimits(host)?,
        "noNewPrivileges": security.no_new_privileges,
    });
    if host.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(host.oom_score_adj);
    }
    Ok(process)
}

/// `--group-add`: a number, or a name from the image's /etc/group.
fn group_add_gid(input: &SpecInput, group: &str) -> Result<u32, SpecError> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    // A name: resolve `0:NAME` to let user.rs look the group up in the image.
    user::resolve(&input.paths.rootfs(), &format!("0:{group}")).map(|u| u.gid)
}

/// Docker's order: PATH, HOSTNAME and (with a tty) TERM first, each replaced by the
/// container's own variable of that name.
fn environment(config: &Config) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    if !config.hostname.is_empty() {
        env.push(format!("HOSTNAME={}", config.hostname));
    }
    if config.tty {
        env.push("TERM=xterm".to_string());
    }
    let name = |var: &str| var.split('=').next().unwrap_or("").to_string();
    for var in &config.env {
        let key = name(var);
        match env.iter_mut().find(|e| name(e) == key) {
            Some(existing) => existing.clone_from(var),
            None => env.push(var.clone()),
        }
    }
    env
}

/// `--ulimit`: Docker's names, -1 for unlimited. Nothing else is set: the container
/// inherits the rest, as Docker's do.
fn rlimits(host: &HostConfig) -> Result<Vec<Value>, SpecError> {
    let mut out = Vec::new();
    for ulimit in host.ulimits.iter().flatten() {
        let value = format!("{}={}:{}", ulimit.name, ulimit.soft, ulimit.hard);
        let kind = match ulimit.name.as_str() {
            "as" => "RLIMIT_AS",
            "core" => "RLIMIT_CORE",
            "cpu" => "RLIMIT_CPU",
            "data" => "RLIMIT_DATA",
            "fsize" => "RLIMIT_FSIZE",
            "locks" => "RLIMIT_LOCKS",
            "memlock" => "RLIMIT_MEMLOCK",
            "msgqueue" => "RLIMIT_MSGQUEUE",
            "nice" => "RLIMIT_NICE",
            "nofile" => "RLIMIT_NOFILE",
            "nproc" => "RLIMIT_NPROC",
            "rss" => "RLIMIT_RSS",
            "rtprio" => "RLIMIT_RTPRIO",
            "rttime" => "RLIMIT_RTTIME",
            "sigpending" => "RLIMIT_SIGPENDING",
            "stack" => "RLIMIT_STACK",
            _ => return Err(SpecError::flag("--ulimit", &value, "unknown limit name")),
        };
        let limit = |v: i64| -> Result<u64, SpecError> {
            match v {
                -1 => Ok(u64::MAX),
                v => u64::try_from(v).map_err(|_| {
                    SpecError::flag("--ulimit", &value, "a limit is a number >= 0, or -1")
                }),
            }
        };
        let (soft, hard) = (limit(ulimit.soft)?, limit(ulimit.hard)?);
        if soft > hard {
            return Err(SpecError::flag(
                "--ulimit",
                &value,
                "the soft limit is above the hard limit",
            ));
        }
        out.push(json!({"type": kind, "soft": soft, "hard": hard}));
    }
    Ok(out)
}

fn linux(
    input: &SpecInput,
    security: &security::Options,
    template: &Value,
) -> Result<Value, SpecError> {
    let host = input.host;
    let mut linux = Map::new();
    linux.insert("namespaces".into(), namespaces(host, input.paths)?);
    let parent = host.cgroup_parent.trim_end_matches('/');
    let parent = if parent.is_empty() { "/berth" } else { parent };
    let slash = if parent.starts_with('/') { "" } else { "/" };
    linux.insert(
        "cgroupsPath".into(),
        json!(format!("{slash}{parent}/{}", input.id)),
    );
    linux.insert("resources".into(), resources(host)?);
    if host.privileged {
        linux.insert("devices".into(), Value::Array(security::host_devices()));
    }
    if !host.privileged {
        let masked = match &host.masked_paths {
            Some(paths) => json!(paths),
            None => security::masked_paths(&template["maskedPaths"]),
        };
        let readonly = match &host.readonly_paths {
            Some(paths) => json!(paths),
            None => template["readonlyPaths"].clone(),
        };
        linux.insert("maskedPaths".into(), masked);
        linux.insert("readonlyPaths".into(), readonly);
        if let Some(seccomp) = security.seccomp()? {
            linux.insert("seccomp".into(), seccomp);
        }
    }
    Ok(Value::Object(linux))
}

fn namespaces(host: &HostConfig, paths: &ContainerPaths) -> Result<Value, SpecError> {
    let mut list = Vec::new();
    let mut own = |kind: &str, mode: &str, flag: &'static str| -> Result<(), SpecError> {
        if mode.starts_with("container:") || mode.starts_with("ns:") {
            return Err(SpecError::flag(
                flag,
                mode,
                "joining another container's namespace is not supported",
            ));
        }
        if mode != "host" {
            list.push(json!({"type": kind}));
        }
        Ok(())
    };
    own("pid", &host.pid_mode, "--pid")?;
    own("ipc", &host.ipc_mode, "--ipc")?;
    own("uts", &host.uts_mode, "--uts")?;
    own("mount", "", "")?;
    // Docker's default on cgroup v2: /sys/fs/cgroup shows the container's own tree.
    own("cgroup", "", "")?;
    match host.network_mode.as_str() {
        "host" => {}
        // Only loopback: the runtime makes it.
        "none" => list.push(json!({"type": "network"})),
        // A bridge, a user network, another container's: berth makes (or binds) the
        // namespace at this path before each start, and the runtime joins it.
        _ => {
            let path = paths.netns.as_ref().ok_or_else(|| {
                SpecError::flag(
                    "--network",
                    &host.network_mode,
                    "no place for its namespace",
                )
            })?;
            list.push(json!({"type": "network", "path": path}));
        }
    }
    Ok(Value::Array(list))
}

fn resources(host: &HostConfig) -> Result<Value, SpecError> {
    let mut resources = Map::new();
    resources.insert("devices".into(), security::device_rules(host.privileged));

    let mut memory = Map::new();
    if host.memory > 0 {
        memory.insert("limit".into(), json!(host.memory));
        // Docker's default: as much swap as memory (the OCI field is memory + swap).
        let swap = match host.memory_swap {
            0 => host.memory * 2,
            swap => swap,
        };
        if swap != -1 && swap < host.memory {
            return Err(SpecError::flag(
                "--memory-swap",
                &swap.to_string(),
                "must be at least --memory",
            ));
        }
        memory.insert("swap".into(), json!(swap));
    } else if host.memory < 0 {
        return Err(SpecError::flag(
            "--memory",
            &host.memory.to_string(),
            "must be a positive number of bytes",
        ));
    }
    if host.memory_reservation > 0 {
        memory.insert("reservation".into(), json!(host.memory_reservation));
    }
    if let Some(disable) = host.oom_kill_disable {
        memory.insert("disableOOMKiller".into(), json!(disable));
    }
    if !memory.is_empty() {
        resources.insert("memory".into(), Value::Object(memory));
    }

    let mut cpu = Map::new();
    if host.nano_cpus > 0 {
        if host.cpu_quota > 0 || host.cpu_period > 0 {
            return Err(SpecError::flag(
                "--cpus",
                &host.nano_cpus.to_string(),
                "conflicting options: --cpus and --cpu-period/--cpu-quota cannot both be set",
            ));
        }
        cpu.insert("period".into(), json!(CPU_PERIOD));
        cpu.insert(
            "quota".into(),
            json!(host.nano_cpus * CPU_PERIOD / 1_000_000_000),
        );
    } else if host.nano_cpus < 0 {
        return Err(SpecError::flag(
            "--cpus",
            &host.nano_cpus.to_string(),
            "must be positive",
        ));
    }
    if host.cpu_period > 0 {
        cpu.insert("period".into(), json!(host.cpu_period));
    }
    if host.cpu_quota > 0 {
        cpu.insert("quota".into(), json!(host.cpu_quota));
    }
    if host.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(host.cpu_shares));
    }
    if !host.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(host.cpuset_cpus));
    }
    if !host.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(host.cpuset_mems));
    }
    if !cpu.is_empty() {
        resources.insert("cpu".into(), Value::Object(cpu));
    }

    match host.pids_limit {
        Some(limit) if limit > 0 || limit == -1 => {
            resources.insert("pids".into(), json!({ "limit": limit }));
        }
        _ => {}
    }
    Ok(Value::Object(resources))
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
