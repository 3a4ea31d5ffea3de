//! The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, written in its
//! directory (and bind-mounted by the spec), as Docker writes them. Each is replaced
//! atomically: a reader (or a container being started) sees the old file or the new.

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::config::HostConfig;
use super::spec::{SpecError, SpecInput};

/// Docker's lines for a container's own /etc/hosts.
const LOCALHOST: &str = "127.0.0.1\tlocalhost\n\
                         ::1\tlocalhost ip6-localhost ip6-loopback\n\
                         fe00::0\tip6-localnet\n\
                         ff00::0\tip6-mcastprefix\n\
                         ff02::1\tip6-allnodes\n\
                         ff02::2\tip6-allrouters\n";

/// Docker's nameservers when the host has none a container can reach.
const DEFAULT_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

const HOST_HOSTS: &str = "/etc/hosts";
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
const RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";
const RESOLVED_STUB: &str = "127.0.0.53";

fn only_resolved_stub(resolv: &str) -> bool {
    let servers: Vec<&str> = resolv
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(str::trim)
        .collect();
    !servers.is_empty() && servers.iter().all(|s| *s == RESOLVED_STUB)
}

pub fn write_etc_files(input: &SpecInput) -> Result<(), SpecError> {
    let paths = input.paths;
    let host = input.host;
    let host_network = host.network_mode == "host";
    let hosts = hosts_file(host, host_network, read_host(HOST_HOSTS)?)?;
    write_atomic(&paths.hosts(), &hosts)?;
    write_atomic(&paths.hostname(), &format!("{}\n", input.config.hostname))?;
    let mut host_resolv = read_host(HOST_RESOLV_CONF)?;
    if !host_network && only_resolved_stub(&host_resolv) {
        // systemd-resolved's stub answers on the host's loopback only: its upstream
        // servers are what a container can reach, as Docker reads them.
        let upstream = read_host(RESOLVED_UPSTREAM)?;
        if !upstream.is_empty() {
            host_resolv = upstream;
        }
    }
    let resolv = resolv_conf(host, host_network, &host_resolv);
    write_atomic(&paths.resolv_conf(), &resolv)
}

fn read_host(path: &str) -> Result<String, SpecError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(SpecError::HostFile {
            path: path.into(),
            message: format!("cannot read: {e}"),
        }),
    }
}

/// What a container's /etc/hosts starts with, before the lines of its networks.
pub fn hosts_base(host: &HostConfig) -> Result<String, SpecError> {
    let host_network = host.network_mode == "host";
    let host_hosts = if host_network {
        read_host(HOST_HOSTS)?
    } else {
        String::new()
    };
    hosts_file(host, host_network, host_hosts)
}

/// Docker's localhost lines (the host's file with host networking), then
/// `--add-host NAME:IP` lines.
fn hosts_file(
    host: &HostConfig,
    host_network: bool,
    host_hosts: String,
) -> Result<String, SpecError> {
    let mut text = if host_network {
        host_hosts
    } else {
        LOCALHOST.to_string()
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for extra in host.extra_hosts.iter().flatten() {
        let (name, ip) = extra
            .split_once([':', '='])
            .ok_or_else(|| SpecError::flag("--add-host", extra, "expected NAME:IP"))?;
        ip.trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .map_err(|_| SpecError::flag("--add-host", extra, "not an IP address"))?;
        text.push_str(&format!("{}\t{name}\n", ip.trim_matches(['[', ']'])));
    }
    Ok(text)
}

/// The host's resolv.conf without the nameservers a container cannot reach (its own
/// loopback is not the host's, unless it shares the host's network), Docker's
/// public ones if none is left, then `--dns`, `--dns-search`, `--dns-option` in
/// place of the host's.
fn resolv_conf(host: &HostConfig, host_network: bool, host_resolv: &str) -> String {
    let mut nameservers = Vec::new();
    let mut search = Vec::new();
    let mut options = Vec::new();
    let mut other = Vec::new();
    for line in host_resolv.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(server) = words.next() {
                    let loopback = server
                        .split('%')
                        .next()
                        .and_then(|s| s.parse::<IpAddr>().ok())
                        .is_some_and(|ip| ip.is_loopback());
                    if host_network || !loopback {
                        nameservers.push(server.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => search = words.map(String::from).collect(),
            Some("options") => options.extend(words.map(String::from)),
            Some(word) if !word.starts_with('#') && !word.starts_with(';') => {
                other.push(line.to_string())
            }
            _ => {}
        }
    }
    if !host.dns.is_empty() {
        nameservers = host.dns.clone();
    }
    if nameservers.is_empty() {
        nameservers = DEFAULT_NAMESERVERS.map(String::from).to_vec();
    }
    if !host.dns_search.is_empty() {
        // `--dns-search .` means no search domains, as Docker's.
        search = host
            .dns_search
            .iter()
            .filter(|d| d.as_str() != ".")
            .cloned()
            .collect();
    }
    if !host.dns_options.is_empty() {
        options = host.dns_options.clone();
    }

    let mut text = String::new();
    for server in nameservers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    if !search.is_empty() {
        text.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        text.push_str(&format!("options {}\n", options.join(" ")));
    }
    for line in other {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Writes `text` to a temp file beside `path` and renames it over `path`. Not synced:
/// the container's creator syncs all its new files at once (one journal commit
/// instead of one per file) before it marks the container complete.
fn write_atomic(path: &Path, text: &str) -> Result<(), SpecError> {
    let error = |message: String| SpecError::HostFile {
        path: path.to_path_buf(),
        message,
    };
    let dir = path
        .parent()
        .ok_or_else(|| error("has no parent directory".into()))?;
    let mut file = tempfile::Builder::new()
        .prefix(".etc-")
        .tempfile_in(dir)
        .map_err(|e| error(format!("cannot create a temp file: {e}")))?;
    file.write_all(text.as_bytes())
        .and_then(|()| {
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
        })
        .map_err(|e| error(format!("cannot write: {e}")))?;
    file.persist(path)
        .map_err(|e| error(format!("cannot rename into place: {}", e.error)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::config::Config;
    use crate::container::ContainerPaths;

    const HOST_RESOLV: &str = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n\
                               search corp.example\noptions edns0 trust-ad\n";

    #[test]
    fn a_containers_hosts_file_is_dockers_localhost_lines() {
        let text = hosts_file(&HostConfig::default(), false, "1.2.3.4 hosty\n".into()).unwrap();
        assert!(
            text.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        );
        assert!(!text.contains("hosty"));
    }

    #[test]
    fn host_networking_gets_the_hosts_file_and_extra_hosts_are_appended() {
        let host = HostConfig {
            network_mode: "host".into(),
            extra_hosts: Some(vec!["db:10.1.2.3".into()]),
            ..HostConfig::default()
        };
        let text = hosts_file(&host, true, "1.2.3.4 hosty".into()).unwrap();
        assert_eq!(text, "1.2.3.4 hosty\n10.1.2.3\tdb\n");
        let bad = HostConfig {
            extra_hosts: Some(vec!["db:nowhere".into()]),
            ..HostConfig::default()
        };
        assert!(hosts_file(&bad, false, String::new()).is_err());
    }

    #[test]
    fn loopback_nameservers_are_dropped_without_host_networking() {
        let text = resolv_conf(&HostConfig::default(), false, HOST_RESOLV);
        assert_eq!(
            text,
            "nameserver 10.0.0.2\nsearch corp.example\noptions edns0 trust-ad\n"
        );
        let text = resolv_conf(&HostConfig::default(), true, HOST_RESOLV);
        assert!(text.starts_with("nameserver 127.0.0.53\nnameserver 10.0.0.2\n"));
    }

    #[test]
    fn no_reachable_nameserver_falls_back_to_dockers_defaults() {
        let text = resolv_conf(
            &HostConfig::default(),
            false,
            "nameserver 127.0.0.1\nnameserver ::1\n",
        );
        assert_eq!(text, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }

    #[test]
    fn a_resolved_stub_alone_sends_us_to_its_upstream_file() {
        assert!(only_resolved_stub("nameserver 127.0.0.53\noptions edns0\n"));
        assert!(!only_resolved_stub(HOST_RESOLV));
        assert!(!only_resolved_stub("search x\n"));
    }

    #[test]
    fn dns_flags_replace_the_hosts_settings() {
        let host = HostConfig {
            dns: vec!["1.1.1.1".into()],
            dns_search: vec!["example.org".into()],
            dns_options: vec!["ndots:2".into()],
            ..HostConfig::default()
        };
        let text = resolv_conf(&host, false, HOST_RESOLV);
        assert_eq!(
            text,
            "nameserver 1.1.1.1\nsearch example.org\noptions ndots:2\n"
        );
        let none = HostConfig {
            dns_search: vec![".".into()],
            ..HostConfig::default()
        };
        assert!(!resolv_conf(&none, false, HOST_RESOLV).contains("search"));
    }

    #[test]
    fn the_files_are_written_in_the_container_dir() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ContainerPaths::new(dir.path(), "abc");
        std::fs::create_dir_all(&paths.dir).unwrap();
        std::fs::write(paths.hosts(), "old").unwrap();
        let config = Config {
            hostname: "0123456789ab".into(),
            ..Config::default()
        };
        let host = HostConfig::default();
        write_etc_files(&SpecInput {
            id: "abc",
            config: &config,
            host: &host,
            paths: &paths,
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(paths.hostname()).unwrap(),
            "0123456789ab\n"
        );
        assert!(std::fs::read_to_string(paths.hosts())
            .unwrap()
            .starts_with("127.0.0.1\tlocalhost"));
        assert!(std::fs::read_to_string(paths.resolv_conf())
            .unwrap()
            .contains("nameserver"));
        let mode = std::fs::metadata(paths.hosts())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        let leftovers = std::fs::read_dir(&paths.dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".etc-")
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
