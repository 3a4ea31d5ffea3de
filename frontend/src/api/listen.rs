//! Where the daemon listens, as dockerd's `-H` says it: `unix://PATH`,
//! `tcp://HOST:PORT`, `fd://` (the sockets systemd passed).

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// berth's socket when no `-H` is given (dockerd's is /var/run/docker.sock).
pub const DEFAULT_SOCKET: &str = "/run/berth.sock";

/// One `-H` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(SocketAddr),
    /// `fd://` (every passed socket) or `fd://N`.
    Fd(Option<i32>),
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("invalid -H value {0:?}: expected unix://PATH, tcp://HOST:PORT or fd://")]
    Scheme(String),
    #[error("invalid -H value {0:?}: expected an address and a port, as tcp://127.0.0.1:2375")]
    Address(String),
}

impl Host {
    pub fn parse(text: &str) -> Result<Host, HostError> {
        if let Some(path) = text.strip_prefix("unix://") {
            let path = if path.is_empty() {
                DEFAULT_SOCKET
            } else {
                path
            };
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        if let Some(address) = text.strip_prefix("tcp://") {
            // dockerd's defaults: any address, port 2375.
            let address = address.trim_end_matches('/');
            let address = if address.starts_with(':') {
                format!("0.0.0.0{address}")
            } else {
                address.to_string()
            };
            if let Ok(socket) = address.parse::<SocketAddr>() {
                return Ok(Host::Tcp(socket));
            }
            let ip = address.trim_start_matches('[').trim_end_matches(']');
            return ip
                .parse::<IpAddr>()
                .map(|ip| Host::Tcp(SocketAddr::new(ip, 2375)))
                .map_err(|_| HostError::Address(text.to_string()));
        }
        if let Some(fd) = text.strip_prefix("fd://") {
            if fd.is_empty() || fd == "*" {
                return Ok(Host::Fd(None));
            }
            return fd
                .parse()
                .map(|n| Host::Fd(Some(n)))
                .map_err(|_| HostError::Scheme(text.to_string()));
        }
        if text.starts_with('/') {
            return Ok(Host::Unix(PathBuf::from(text)));
        }
        Err(HostError::Scheme(text.to_string()))
    }

    /// Whether anyone but this host's users could reach it: a TCP listener on an
    /// address other than loopback.
    pub fn is_remote(&self) -> bool {
        match self {
            Host::Tcp(address) => !address.ip().is_loopback(),
            _ => false,
        }
    }
}

/// Binds the unix socket at `path`, mode 0660 and owned by `group` when given (else
/// 0600: root's only). A socket file no one answers on is a dead daemon's; one that
/// answers is another daemon's, and is left alone.
pub fn bind_unix(path: &Path, group: Option<&str>) -> anyhow::Result<tokio::net::UnixListener> {
    let gid = match group {
        Some(name) => Some(
            nix::unistd::Group::from_name(name)
                .with_context(|| format!("looking up group {name}"))?
                .with_context(|| format!("--group {name}: no such group"))?
                .gid,
        ),
        None => None,
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("{}: another daemon is listening on it", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listening on unix://{}", path.display()))?;
    if let Some(gid) = gid {
        nix::unistd::chown(path, None, Some(gid))
            .with_context(|| format!("giving {} to group {gid}", path.display()))?;
    }
    let mode = if gid.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_dockerds() {
        assert_eq!(
            Host::parse("unix:///tmp/b.sock").unwrap(),
            Host::Unix("/tmp/b.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2376").unwrap(),
            Host::Tcp("127.0.0.1:2376".parse().unwrap())
        );
        assert_eq!(
            Host::parse("tcp://0.0.0.0").unwrap(),
            Host::Tcp("0.0.0.0:2375".parse().unwrap())
        );
        assert_eq!(
            Host::parse("tcp://:2380").unwrap(),
            Host::Tcp("0.0.0.0:2380".parse().unwrap())
        );
        assert_eq!(
            Host::parse("tcp://[::1]:2380").unwrap(),
            Host::Tcp("[::1]:2380".parse().unwrap())
        );
        assert_eq!(Host::parse("fd://").unwrap(), Host::Fd(None));
        assert_eq!(Host::parse("fd://3").unwrap(), Host::Fd(Some(3)));
        assert!(Host::parse("http://x").is_err());
        assert!(Host::parse("tcp://nohost:port").is_err());
        assert!(Host::parse("tcp://0.0.0.0:2375").unwrap().is_remote());
        assert!(!Host::parse("tcp://127.0.0.1:2375").unwrap().is_remote());
    }
}
