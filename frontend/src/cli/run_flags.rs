//! `run` and `create`'s flags, Docker's names and syntax, and their translation into
//! Docker's Config and HostConfig.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::Args;

use crate::container::config::{Config, HostConfig, LogConfig, RestartPolicy, Ulimit};

#[derive(Args, Debug, Clone, Default)]
pub struct ContainerFlags {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Restart policy to apply when a container exits (no, always, unless-stopped, on-failure[:N])
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Logging driver for the container (json-file, k8s-file, syslog, none)
    #[arg(long, default_value = "json-file")]
    pub log_driver: String,
    /// Log driver options (max-size, max-file, tag, syslog-address)
    #[arg(long, value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a volume (HOST:CONTAINER[:ro|rw])
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Mount a tmpfs directory (PATH[:OPTIONS])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Memory limit (e.g. 512m, 1g)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Add Linux capabilities
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Connect a container to a network (bridge, none, host, container:NAME, or a network's name)
    #[arg(long = "network", alias = "net", default_value = "bridge")]
    pub network: String,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Runtime to use for this container (berth-runtime, runc, crun, or a path)
    #[arg(long, default_value = "")]
    pub runtime: String,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    pub stop_timeout: Option<i64>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Attach to the container's streams (run without -d); not a flag
    #[arg(skip = true)]
    pub attach: bool,
    /// Print help (`-h` is --hostname, as in Docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// The image
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Docker's `RAMInBytes`: a number with an optional b, k, m, g, t (binary) suffix.
pub fn parse_memory(text: &str) -> anyhow::Result<i64> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| anyhow!("invalid size: '{text}'"))?;
    let factor: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => bail!("invalid size: '{text}'"),
    };
    Ok((value * factor) as i64)
}

/// `--cpus 1.5` as billionths of a CPU.
fn parse_cpus(text: &str) -> anyhow::Result<i64> {
    let cpus: f64 = text
        .parse()
        .ok()
        .filter(|c: &f64| c.is_finite() && *c >= 0.0)
        .ok_or_else(|| {
            anyhow!("invalid argument \"{text}\" for \"--cpus\" flag: expected a number of CPUs")
        })?;
    Ok((cpus * 1e9).round() as i64)
}

fn parse_restart(text: &str) -> anyhow::Result<RestartPolicy> {
    let (name, count) = match text.split_once(':') {
        Some((name, count)) => (name, Some(count)),
        None => (text, None),
    };
    if !matches!(name, "no" | "always" | "unless-stopped" | "on-failure") {
        bail!("invalid restart policy {text:?}: expected no, always, unless-stopped or on-failure[:N]");
    }
    let maximum_retry_count = match count {
        None => 0,
        Some(_) if name != "on-failure" => bail!(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure'"
        ),
        Some(n) => n.parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(|| {
            anyhow!("invalid restart policy format: maximum retry count must be an integer")
        })?,
    };
    Ok(RestartPolicy {
        name: name.to_string(),
        maximum_retry_count,
    })
}

fn parse_ulimit(text: &str) -> anyhow::Result<Ulimit> {
    let bad = || anyhow!("invalid ulimit argument: {text} (expected NAME=SOFT[:HARD])");
    let (name, limits) = text.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let soft: i64 = soft.parse().map_err(|_| bad())?;
    let hard: i64 = hard.parse().map_err(|_| bad())?;
    if soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `-e KEY=VALUE`, or `-e KEY` taken from our environment (left out when unset).
fn env_entry(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    std::env::var(entry)
        .ok()
        .map(|value| format!("{entry}={value}"))
}

fn read_env_file(path: &PathBuf) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {}", path.display()))?;
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split('=').next().unwrap_or_default();
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!(
                "{}:{}: variable '{key}' contains whitespaces",
                path.display(),
                number + 1
            );
        }
        entries.extend(env_entry(line));
    }
    Ok(entries)
}

impl ContainerFlags {
    /// Docker's Config and HostConfig for these flags.
    pub fn to_configs(&self) -> anyhow::Result<(Config, HostConfig)> {
        let mut env = Vec::new();
        for file in &self.env_file {
            env.extend(read_env_file(file)?);
        }
        env.extend(self.env.iter().filter_map(|e| env_entry(e)));
        let entrypoint = self.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                Vec::new()
            } else {
                vec![e.clone()]
            }
        });
        let mut labels = BTreeMap::new();
        for label in &self.labels {
            let (k, v) = label.split_once('=').unwrap_or((label, ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let config = Config {
            hostname: self.hostname.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            attach_stdin: self.attach && self.interactive,
            attach_stdout: self.attach,
            attach_stderr: self.attach,
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once: self.attach && self.interactive,
            env,
            cmd: (!self.command.is_empty()).then(|| self.command.clone()),
            image: self.image.clone(),
            working_dir: self.workdir.clone().unwrap_or_default(),
            entrypoint,
            labels,
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            ..Config::default()
        };
        let mut log_options = BTreeMap::new();
        for option in &self.log_opt {
            let (k, v) = option
                .split_once('=')
                .ok_or_else(|| anyhow!("invalid log opt {option:?}: expected KEY=VALUE"))?;
            log_options.insert(k.to_string(), v.to_string());
        }
        let (mut exposed, port_bindings) = crate::network::ports::parse_publish_all(&self.publish)?;
        for spec in &self.expose {
            for port in crate::network::ports::parse_expose(spec)? {
                exposed.insert(port, Default::default());
            }
        }
        if self.network == "host" && !port_bindings.is_empty() {
            // Docker drops them with a warning; a container on the host's network
            // already listens on the host's ports.
            eprintln!("WARNING: Published ports are discarded when using host network mode");
        }
        let mut tmpfs = BTreeMap::new();
        for entry in &self.tmpfs {
            let (path, options) = entry.split_once(':').unwrap_or((entry, ""));
            if !path.starts_with('/') {
                bail!("invalid --tmpfs {entry:?}: the mount point must be an absolute path");
            }
            tmpfs.insert(path.to_string(), options.to_string());
        }
        for volume in &self.volumes {
            let parts: Vec<&str> = volume.split(':').collect();
            if parts.len() < 2
                || parts.len() > 3
                || !parts[1].starts_with('/')
                || parts[0].is_empty()
            {
                bail!("invalid volume specification: '{volume}': expected HOST:CONTAINER[:ro|rw]");
            }
        }
        if self.rm && !matches!(self.restart.as_str(), "no" | "") {
            bail!("conflicting options: cannot specify both --restart and --rm");
        }
        let host = HostConfig {
            binds: (!self.volumes.is_empty()).then(|| self.volumes.clone()),
            log_config: LogConfig {
                kind: self.log_driver.clone(),
                config: log_options,
            },
            network_mode: self.network.clone(),
            port_bindings,
            publish_all_ports: self.publish_all,
            restart_policy: parse_restart(&self.restart)?,
            auto_remove: self.rm,
            cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
            cap_drop: (!self.cap_drop.is_empty()).then(|| self.cap_drop.clone()),
            dns: self.dns.clone(),
            extra_hosts: (!self.add_host.is_empty()).then(|| self.add_host.clone()),
            privileged: self.privileged,
            readonly_rootfs: self.read_only,
            security_opt: (!self.security_opt.is_empty()).then(|| self.security_opt.clone()),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            runtime: self.runtime.clone(),
            cpu_shares: self.cpu_shares.unwrap_or(0),
            memory: self
                .memory
                .as_deref()
                .map(parse_memory)
                .transpose()?
                .unwrap_or(0),
            nano_cpus: self
                .cpus
                .as_deref()
                .map(parse_cpus)
                .transpose()?
                .unwrap_or(0),
            pids_limit: self.pids_limit,
            ulimits: if self.ulimit.is_empty() {
                None
            } else {
                Some(
                    self.ulimit
                        .iter()
                        .map(|u| parse_ulimit(u))
                        .collect::<Result<_, _>>()?,
                )
            },
            init: self.init.then_some(true),
            ..HostConfig::default()
        };
        let mut config = config;
        if !exposed.is_empty() {
            config.exposed_ports = Some(exposed);
        }
        Ok((config, host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cpus_read_as_docker_reads_them() {
        assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("100").unwrap(), 100);
        assert!(parse_memory("lots")
            .unwrap_err()
            .to_string()
            .contains("lots"));
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert!(parse_cpus("x").is_err());
    }

    #[test]
    fn restart_policies_are_checked() {
        assert_eq!(
            parse_restart("on-failure:3").unwrap().maximum_retry_count,
            3
        );
        assert_eq!(parse_restart("always").unwrap().name, "always");
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes")
            .unwrap_err()
            .to_string()
            .contains("sometimes"));
    }

    #[test]
    fn ulimits_read_soft_and_hard() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
        assert_eq!(parse_ulimit("nproc=10").unwrap().hard, 10);
        assert!(parse_ulimit("nofile=9:1").is_err());
        assert!(parse_ulimit("nofile").is_err());
    }
}
