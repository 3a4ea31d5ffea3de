//! Where the daemon listens, as dockerd's `-H` says it: `unix://PATH`,
//! `tcp://HOST:PORT`, `fd://` (the sockets systemd passed).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context};
use nix::sys::socket::{getsockname, getsockopt, sockopt, AddressFamily, SockType};
use nix::sys::socket::{SockaddrLike, SockaddrStorage};

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
    /// A `-H` value; a TCP address without a port gets dockerd's plain one, 2375.
    pub fn parse(text: &str) -> Result<Host, HostError> {
        Host::parse_with_port(text, 2375)
    }

    /// A `-H` value; a TCP address without a port gets `default_port` (dockerd's
    /// 2376 under TLS).
    pub fn parse_with_port(text: &str, default_port: u16) -> Result<Host, HostError> {
        if let Some(path) = text.strip_prefix("unix://") {
            let path = if path.is_empty() {
                DEFAULT_SOCKET
            } else {
                path
            };
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        if let Some(address) = text.strip_prefix("tcp://") {
            // dockerd's defaults: any address, the default port.
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
                .map(|ip| Host::Tcp(SocketAddr::new(ip, default_port)))
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

/// Where the daemon listens, with systemd's sockets already in hand.
#[derive(Debug)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(SocketAddr),
    PassedUnix(std::os::unix::net::UnixListener, String),
    PassedTcp(std::net::TcpListener, String),
}

impl Endpoint {
    /// The TCP address, for a TCP listener.
    pub fn tcp_address(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Tcp(address) => Some(*address),
            Endpoint::PassedTcp(listener, _) => listener.local_addr().ok(),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Endpoint::Unix(path) => path.display().to_string(),
            Endpoint::Tcp(address) => address.to_string(),
            Endpoint::PassedUnix(_, label) | Endpoint::PassedTcp(_, label) => label.clone(),
        }
    }
}

/// The `-H` values as endpoints; `fd://` ones take the sockets systemd passed.
pub fn endpoints(hosts: &[Host]) -> anyhow::Result<Vec<Endpoint>> {
    let mut passed: Vec<Option<ActivatedSocket>> = Vec::new();
    if hosts.iter().any(|h| matches!(h, Host::Fd(_))) {
        passed = take_activated_sockets()?.into_iter().map(Some).collect();
        if passed.is_empty() {
            bail!(
                "no sockets found via socket activation: make sure the service was started \
                 by systemd (it passes them in LISTEN_PID, LISTEN_FDS)"
            );
        }
    }
    let mut endpoints = Vec::new();
    for host in hosts {
        match host {
            Host::Unix(path) => endpoints.push(Endpoint::Unix(path.clone())),
            Host::Tcp(address) => endpoints.push(Endpoint::Tcp(*address)),
            // dockerd's fd:// takes every passed socket.
            Host::Fd(None) => {
                for socket in passed.iter_mut().filter_map(Option::take) {
                    endpoints.push(socket.into_endpoint()?);
                }
            }
            Host::Fd(Some(number)) => {
                let last = FIRST_PASSED_FD + passed.len() as RawFd - 1;
                let slot = usize::try_from(number - FIRST_PASSED_FD)
                    .ok()
                    .and_then(|i| passed.get_mut(i))
                    .with_context(|| {
                        format!(
                            "fd://{number}: too few socket activated files passed in by \
                             systemd (fds {FIRST_PASSED_FD} to {last})"
                        )
                    })?;
                let socket = slot
                    .take()
                    .with_context(|| format!("fd://{number} is named twice"))?;
                endpoints.push(socket.into_endpoint()?);
            }
        }
    }
    // What no -H named is closed here, as dockerd closes the fds fd://N did not pick.
    Ok(endpoints)
}

/// The first fd systemd passes (sd_listen_fds(3)'s SD_LISTEN_FDS_START).
const FIRST_PASSED_FD: RawFd = 3;

/// Set once the passed fds are owned, so that no fd is ever owned twice.
static PASSED_FDS_TAKEN: AtomicBool = AtomicBool::new(false);

/// A socket systemd passed, owned by the daemon from now on.
#[derive(Debug)]
struct ActivatedSocket {
    fd: OwnedFd,
    label: String,
}

/// Takes the sockets systemd passed to this process (sd_listen_fds(3)): fds 3 to
/// 3+LISTEN_FDS-1 when LISTEN_PID is this process. They are made close-on-exec and
/// the variables unset, so the shims the daemon starts inherit neither.
fn take_activated_sockets() -> anyhow::Result<Vec<ActivatedSocket>> {
    if PASSED_FDS_TAKEN.swap(true, Ordering::SeqCst) {
        return Ok(Vec::new());
    }
    let var = |name: &str| std::env::var(name).ok();
    let (pid, count, names) = (var("LISTEN_PID"), var("LISTEN_FDS"), var("LISTEN_FDNAMES"));
    // Called before the daemon starts any thread, so the environment is not read
    // concurrently.
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(name);
    }
    if pid.and_then(|p| p.trim().parse::<u32>().ok()) != Some(std::process::id()) {
        return Ok(Vec::new());
    }
    let Some(count) = count else {
        return Ok(Vec::new());
    };
    let count: RawFd = count
        .trim()
        .parse()
        .ok()
        .filter(|n| (0..=1024).contains(n))
        .with_context(|| format!("LISTEN_FDS={count}: expected a number of fds"))?;
    let names: Vec<String> = names
        .unwrap_or_default()
        .split(':')
        .map(str::to_string)
        .collect();
    let mut sockets = Vec::new();
    for (index, number) in (FIRST_PASSED_FD..FIRST_PASSED_FD + count).enumerate() {
        let fd = adopt_passed_fd(number)?;
        nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .with_context(|| format!("making passed fd {number} close-on-exec"))?;
        let label = match names.get(index).filter(|n| !n.is_empty()) {
            Some(name) => format!("fd://{number} ({name})"),
            None => format!("fd://{number}"),
        };
        sockets.push(ActivatedSocket { fd, label });
    }
    Ok(sockets)
}

/// Owns fd `number`, which systemd passed, after checking through /proc that it is
/// an open socket (a number the environment names need not be one).
fn adopt_passed_fd(number: RawFd) -> anyhow::Result<OwnedFd> {
    let target = std::fs::read_link(format!("/proc/self/fd/{number}"))
        .with_context(|| format!("LISTEN_FDS names fd {number}, which is not open"))?;
    if !target.to_string_lossy().starts_with("socket:") {
        bail!(
            "LISTEN_FDS names fd {number}, which is {}, not a socket",
            target.display()
        );
    }
    // SAFETY: the fd is open (checked above) and was handed to this process by
    // systemd's protocol for it to own; PASSED_FDS_TAKEN makes this the one place
    // that claims it, and nothing else in berth uses fds by number.
    Ok(unsafe { OwnedFd::from_raw_fd(number) })
}

impl ActivatedSocket {
    /// The socket as a listener: a listening stream socket, unix or TCP.
    fn into_endpoint(self) -> anyhow::Result<Endpoint> {
        let label = self.label;
        let unusable = |why: &str| anyhow::anyhow!("{label}: {why}");
        let stream = getsockopt(&self.fd, sockopt::SockType)
            .map_err(|e| unusable(&e.to_string()))?
            == SockType::Stream;
        let listening =
            getsockopt(&self.fd, sockopt::AcceptConn).map_err(|e| unusable(&e.to_string()))?;
        if !stream || !listening {
            return Err(unusable("not a listening stream socket"));
        }
        let address: SockaddrStorage =
            getsockname(self.fd.as_raw_fd()).map_err(|e| unusable(&e.to_string()))?;
        match address.family() {
            Some(AddressFamily::Unix) => {
                let listener = std::os::unix::net::UnixListener::from(self.fd);
                listener.set_nonblocking(true)?;
                Ok(Endpoint::PassedUnix(listener, label))
            }
            Some(AddressFamily::Inet | AddressFamily::Inet6) => {
                let listener = std::net::TcpListener::from(self.fd);
                listener.set_nonblocking(true)?;
                Ok(Endpoint::PassedTcp(listener, label))
            }
            other => Err(unusable(&format!(
                "a socket of family {other:?}, not unix or TCP"
            ))),
        }
    }
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
        assert_eq!(
            Host::parse_with_port("tcp://127.0.0.1", 2376).unwrap(),
            Host::Tcp("127.0.0.1:2376".parse().unwrap())
        );
    }
}
