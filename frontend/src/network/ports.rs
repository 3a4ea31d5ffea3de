//! Published ports: Docker's `-p`/`--expose` forms parsed into `HostConfig.PortBindings`
//! and `Config.ExposedPorts` (Docker's JSON shapes), what a container asks for at
//! start (`bindings`, `-P` included), and host ports reserved in the store so that no
//! two containers publish the same one.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::ops::RangeInclusive;

use super::networks::{sql, NetworkError};
use crate::container::config::{Config, EmptyObject, HostConfig, PortBinding};
use crate::store::networks::{self as rows, PortRow};
use crate::store::Store;

/// Where random host ports come from when the kernel does not say.
const FALLBACK_EPHEMERAL: RangeInclusive<u16> = 32768..=60999;
const EPHEMERAL_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("no port specified: {0}<empty>")]
    NoPort(String),
    #[error("invalid proto: {0}")]
    Proto(String),
    #[error("invalid IP address: {0}")]
    Ip(String),
    #[error("invalid containerPort: {0}")]
    ContainerPort(String),
    #[error("invalid hostPort: {0}")]
    HostPort(String),
    #[error("invalid ranges specified for container and host Ports: {0} and {1}")]
    Ranges(String, String),
    #[error("host address {0}: only IPv4 host addresses can be published on")]
    Ipv6(String),
    #[error("invalid port format for --expose: {0}")]
    Expose(String),
    #[error("invalid range format for --expose: {0}")]
    ExposeRange(String),
    #[error("invalid port {0:?} in the container's port bindings")]
    Key(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// Docker's default, tcp, for an empty one; case does not matter.
    pub fn parse(text: &str) -> Result<Protocol, PortError> {
        match text.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            _ => Err(PortError::Proto(text.to_ascii_lowercase())),
        }
    }
}

/// The host side asked for: any free port, or one of a range (a single port is a
/// range of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPorts {
    Any,
    Range(u16, u16),
}

/// One port to publish, as the container's configuration asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub protocol: Protocol,
    pub container_port: u16,
    /// `0.0.0.0`: every address of the host.
    pub host_ip: Ipv4Addr,
    pub host_port: HostPorts,
}

/// A port published: reserved in the store for its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedPort {
    pub protocol: Protocol,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
}

impl PublishedPort {
    pub(crate) fn from_row(row: PortRow) -> Option<PublishedPort> {
        Some(PublishedPort {
            protocol: Protocol::parse(&row.protocol).ok()?,
            host_ip: row.host_ip.parse().ok()?,
            host_port: row.host_port,
            container_port: row.container_port,
        })
    }

    /// `80/tcp`, the key of Docker's port maps.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol.as_str())
    }
}

/// `80`, `8000-8010`: a port or an inclusive range, no port 0.
fn parse_range(text: &str) -> Option<(u16, u16)> {
    let number = |t: &str| -> Option<u16> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse::<u16>().ok().filter(|p| *p != 0)
    };
    let (start, end) = match text.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let p = number(text)?;
            (p, p)
        }
    };
    (start <= end).then_some((start, end))
}

/// Docker's `-p` split: `IP:HOST:CTR`, `HOST:CTR`, `CTR`; an IPv6 host address keeps
/// its colons.
fn split_spec(spec: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [ctr] => ("", "", ctr),
        [host, ctr] => ("", host, ctr),
        _ => {
            let ctr_at = spec.rfind(':').unwrap_or(0);
            let host_at = spec[..ctr_at].rfind(':').unwrap_or(0);
            (
                &spec[..host_at],
                &spec[host_at + 1..ctr_at],
                &spec[ctr_at + 1..],
            )
        }
    }
}

/// One `-p` value as Docker's port map entries: `("80/tcp", {HostIp, HostPort})` per
/// container port. A host range with one container port is kept whole: any free port
/// of it is taken at start.
pub fn parse_publish(spec: &str) -> Result<Vec<(String, PortBinding)>, PortError> {
    let (ip, host, container) = split_spec(spec);
    let (container, proto) = container.split_once('/').unwrap_or((container, ""));
    if container.is_empty() {
        return Err(PortError::NoPort(spec.to_string()));
    }
    let protocol = Protocol::parse(proto)?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(PortError::Ip(ip.to_string()));
    }
    let (start, end) =
        parse_range(container).ok_or_else(|| PortError::ContainerPort(container.to_string()))?;
    let host_range = if host.is_empty() {
        None
    } else {
        let (hs, he) = parse_range(host).ok_or_else(|| PortError::HostPort(host.to_string()))?;
        if he - hs != end - start && start != end {
            return Err(PortError::Ranges(container.to_string(), host.to_string()));
        }
        Some((hs, he))
    };
    Ok((start..=end)
        .enumerate()
        .map(|(i, port)| {
            let host_port = match host_range {
                None => String::new(),
                Some((hs, he)) if start == end && hs != he => format!("{hs}-{he}"),
                Some((hs, _)) => (hs + i as u16).to_string(),
            };
            (
                format!("{port}/{}", protocol.as_str()),
                PortBinding {
                    host_ip: ip.to_string(),
                    host_port,
                },
            )
        })
        .collect())
}

/// Every `-p` of a command line: the ports they expose and `HostConfig.PortBindings`.
#[allow(clippy::type_complexity)]
pub fn parse_publish_all(
    specs: &[String],
) -> Result<
    (
        BTreeMap<String, EmptyObject>,
        BTreeMap<String, Vec<PortBinding>>,
    ),
    PortError,
> {
    let mut exposed = BTreeMap::new();
    let mut bindings: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
    for spec in specs {
        for (key, binding) in parse_publish(spec)? {
            exposed.insert(key.clone(), EmptyObject {});
            bindings.entry(key).or_default().push(binding);
        }
    }
    Ok((exposed, bindings))
}

/// One `--expose` value (`80`, `80/udp`, `8000-8010`): its `ExposedPorts` keys.
pub fn parse_expose(spec: &str) -> Result<Vec<String>, PortError> {
    if spec.contains(':') {
        return Err(PortError::Expose(spec.to_string()));
    }
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, ""));
    let protocol = Protocol::parse(proto)?;
    let (start, end) =
        parse_range(ports).ok_or_else(|| PortError::ExposeRange(spec.to_string()))?;
    Ok((start..=end)
        .map(|p| format!("{p}/{}", protocol.as_str()))
        .collect())
}

/// `80/tcp` (or `8000-8002/tcp`) of a port map: its ports and protocol.
fn parse_key(key: &str) -> Result<(u16, u16, Protocol), PortError> {
    let bad = || PortError::Key(key.to_string());
    let (ports, proto) = key.split_once('/').unwrap_or((key, ""));
    let protocol = Protocol::parse(proto).map_err(|_| bad())?;
    let (start, end) = parse_range(ports).ok_or_else(bad)?;
    Ok((start, end, protocol))
}

/// What a container publishes: its `PortBindings`, and with `-P`
/// (`PublishAllPorts`) each exposed port that has none, on a random host port.
pub fn bindings(config: &Config, host: &HostConfig) -> Result<Vec<Binding>, PortError> {
    let mut out = Vec::new();
    for (key, list) in &host.port_bindings {
        let (start, end, protocol) = parse_key(key)?;
        for binding in list {
            let host_ip = match binding.host_ip.as_str() {
                "" => Ipv4Addr::UNSPECIFIED,
                ip => ip
                    .parse()
                    .map_err(|_| match ip.parse::<std::net::IpAddr>() {
                        Ok(_) => PortError::Ipv6(ip.to_string()),
                        Err(_) => PortError::Ip(ip.to_string()),
                    })?,
            };
            let host_port = match binding.host_port.as_str() {
                "" => HostPorts::Any,
                text => {
                    let (hs, he) =
                        parse_range(text).ok_or_else(|| PortError::HostPort(text.to_string()))?;
                    HostPorts::Range(hs, he)
                }
            };
            for (i, container_port) in (start..=end).enumerate() {
                // A container range maps onto a host range port by port.
                let host_port = match host_port {
                    HostPorts::Range(hs, he) if start != end => {
                        let p = hs.saturating_add(i as u16).min(he);
                        HostPorts::Range(p, p)
                    }
                    other => other,
                };
                out.push(Binding {
                    protocol,
                    container_port,
                    host_ip,
                    host_port,
                });
            }
        }
    }
    if host.publish_all_ports {
        for key in config.exposed_ports.iter().flat_map(|e| e.keys()) {
            if host.port_bindings.contains_key(key) {
                continue;
            }
            let (start, end, protocol) = parse_key(key)?;
            for container_port in start..=end {
                out.push(Binding {
                    protocol,
                    container_port,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_port: HostPorts::Any,
                });
            }
        }
    }
    Ok(out)
}

/// The kernel's range for ephemeral ports, where Docker takes random host ports.
pub fn ephemeral_range() -> RangeInclusive<u16> {
    std::fs::read_to_string(EPHEMERAL_RANGE_FILE)
        .ok()
        .and_then(|text| {
            let mut numbers = text.split_whitespace().map(|n| n.parse::<u16>().ok());
            let (low, high) = (numbers.next()??, numbers.next()??);
            (low > 0 && low <= high).then_some(low..=high)
        })
        .unwrap_or(FALLBACK_EPHEMERAL)
}

/// Whether a process of this host could bind the port now; another process holding it
/// makes it unusable even if no container does.
fn bindable(protocol: Protocol, ip: Ipv4Addr, port: u16) -> io::Result<()> {
    let address = SocketAddrV4::new(ip, port);
    match protocol {
        Protocol::Tcp => TcpListener::bind(address).map(drop),
        Protocol::Udp => UdpSocket::bind(address).map(drop),
    }
}

fn join(ip: Ipv4Addr, port: u16) -> String {
    format!("{ip}:{port}")
}

/// Reserves the host ports of `bindings` for container `container_id`, replacing any it
/// had, in one write transaction: either all are reserved or none. A requested port
/// held by another container or by a process of the host is an error naming it.
pub fn reserve_ports(
    store: &mut Store,
    container_id: &str,
    bindings: &[Binding],
) -> Result<Vec<PublishedPort>, NetworkError> {
    let sql = sql(store);
    let ephemeral = ephemeral_range();
    let tx = store.db.write()?;
    rows::delete_ports_of(&tx, container_id).map_err(&sql)?;
    let mut published = Vec::new();
    for binding in bindings {
        let proto = binding.protocol.as_str();
        let ip = binding.host_ip.to_string();
        let (candidates, fixed) = match binding.host_port {
            HostPorts::Any => (ephemeral.clone(), false),
            HostPorts::Range(a, b) => (a..=b, a == b),
        };
        let mut chosen = None;
        for port in candidates.clone() {
            if let Some(holder) = rows::port_holder(&tx, proto, &ip, port).map_err(&sql)? {
                if fixed {
                    let holder = if holder.container_id == container_id {
                        "this container".to_string()
                    } else {
                        let id = &holder.container_id;
                        format!("container {}", &id[..id.len().min(12)])
                    };
                    return Err(NetworkError::PortAllocated {
                        address: join(binding.host_ip, port),
                        protocol: proto.to_string(),
                        holder,
                    });
                }
                continue;
            }
            match bindable(binding.protocol, binding.host_ip, port) {
                Ok(()) => {
                    chosen = Some(port);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && fixed => {
                    return Err(NetworkError::PortInUse {
                        address: join(binding.host_ip, port),
                        protocol: proto.to_string(),
                    });
                }
                Err(e) if e.kind() != io::ErrorKind::AddrInUse => {
                    return Err(NetworkError::Bind {
                        address: join(binding.host_ip, port),
                        source: e,
                    });
                }
                Err(_) => {}
            }
        }
        let Some(host_port) = chosen else {
            return Err(NetworkError::NoFreePort {
                first: *candidates.start(),
                last: *candidates.end(),
                host_ip: binding.host_ip,
                container_port: binding.container_port,
                protocol: proto.to_string(),
            });
        };
        let row = PortRow {
            container_id: container_id.to_string(),
            protocol: proto.to_string(),
            host_ip: ip,
            host_port,
            container_port: binding.container_port,
        };
        rows::insert_port(&tx, &row).map_err(&sql)?;
        published.push(PublishedPort {
            protocol: binding.protocol,
            host_ip: binding.host_ip,
            host_port,
            container_port: binding.container_port,
        });
    }
    tx.commit().map_err(&sql)?;
    Ok(published)
}

/// Frees container `container_id`'s host ports; what they were, for the firewall.
pub fn release_ports(
    store: &mut Store,
    container_id: &str,
) -> Result<Vec<PublishedPort>, NetworkError> {
    let sql = sql(store);
    let tx = store.db.write()?;
    let ports = rows::ports_of(&tx, container_id).map_err(&sql)?;
    rows::delete_ports_of(&tx, container_id).map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    Ok(ports
        .into_iter()
        .filter_map(PublishedPort::from_row)
        .collect())
}

/// Container `container_id`'s published ports, in the order they were reserved.
pub fn ports_of(store: &Store, container_id: &str) -> Result<Vec<PublishedPort>, NetworkError> {
    let sql = sql(store);
    Ok(rows::ports_of(store.db.conn(), container_id)
        .map_err(&sql)?
        .into_iter()
        .filter_map(PublishedPort::from_row)
        .collect())
}

/// Docker's `NetworkSettings.Ports`: every exposed or published port, with its host
/// bindings, or `null` for one exposed and not published.
pub fn port_map(
    published: &[PublishedPort],
    exposed: Option<&BTreeMap<String, EmptyObject>>,
) -> BTreeMap<String, Option<Vec<PortBinding>>> {
    let mut map: BTreeMap<String, Option<Vec<PortBinding>>> = exposed
        .into_iter()
        .flat_map(|e| e.keys())
        .map(|k| (k.clone(), None))
        .collect();
    for port in published {
        map.entry(port.key())
            .or_default()
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: port.host_ip.to_string(),
                host_port: port.host_port.to_string(),
            });
    }
    map
}

#[cfg(test)]
#[path = "ports_tests.rs"]
mod tests;
