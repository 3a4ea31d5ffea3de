//! A container's network namespace and what is in it: made before each start from
//! the endpoints the store holds for the container (an address on each of its
//! networks, kept from `create` to `rm`), undone when the container ends. The kernel
//! state lives only while the container runs; the store's rows outlive it, so a
//! crash leaves nothing a later `tear_down` cannot find by the container's id.

use std::fs;
use std::path::Path;

use super::firewall::{self, NetworkRules, PortForward};
use super::hosts::{self, HostEntry};
use super::link::{self, Bridge, EndpointConfig};
use super::netns;
use super::networks::{self, Endpoint, NetworkError};
use super::ports::{self, PublishedPort};
use crate::container::config::{Config, HostConfig};
use crate::store::Store;

/// Docker's MTU for its bridges.
const MTU: u32 = 1500;

/// The line after which a container's hosts file lists the other containers on its
/// user networks: rewritten as they come and go, the lines before it never.
const PEERS_MARKER: &str = "# berth: containers on the same user networks";

/// What a start needs to make a container's network.
pub struct Sandbox<'a> {
    pub id: &'a str,
    pub netns: &'a Path,
    pub config: &'a Config,
    pub host: &'a HostConfig,
    pub hosts_file: &'a Path,
    /// The hosts file's fixed part: localhost and `--add-host` lines.
    pub hosts_base: &'a str,
}

/// Whether a container in `mode` gets a namespace of berth's making with endpoints
/// in it (a bridge or a user network), as opposed to none, host or another's.
pub fn has_endpoints(mode: &str) -> bool {
    !matches!(mode, "none" | "host") && !mode.starts_with("container:")
}

/// The network a container in `mode` is connected to at `create`.
pub fn primary_network(mode: &str) -> &str {
    match mode {
        "" | "default" => networks::DEFAULT_NETWORK,
        other => other,
    }
}

/// Makes the container's namespace, its interfaces, its published ports and its
/// hosts file. On failure, whatever was made is undone.
pub fn set_up(store: &mut Store, sandbox: &Sandbox) -> Result<Vec<PublishedPort>, NetworkError> {
    let result = make(store, sandbox);
    if result.is_err() {
        let _ = tear_down(store, sandbox.id, sandbox.netns);
    }
    result
}

fn make(store: &mut Store, sandbox: &Sandbox) -> Result<Vec<PublishedPort>, NetworkError> {
    let endpoints = networks::endpoints_of(store, sandbox.id)?;
    let bindings = ports::bindings(sandbox.config, sandbox.host)?;
    // Most containers publish nothing: no write transaction for them.
    let published = if bindings.is_empty() {
        Vec::new()
    } else {
        ports::reserve_ports(store, sandbox.id, &bindings)?
    };
    netns::create_netns(sandbox.netns)?;
    for (index, endpoint) in endpoints.iter().enumerate() {
        add_interface(sandbox.netns, endpoint, index)?;
    }
    if let (Some(first), false) = (endpoints.first(), published.is_empty()) {
        let forwards: Vec<PortForward> = published
            .iter()
            .map(|p| PortForward {
                protocol: match p.protocol {
                    ports::Protocol::Tcp => firewall::Protocol::Tcp,
                    ports::Protocol::Udp => firewall::Protocol::Udp,
                },
                host_ip: (!p.host_ip.is_unspecified()).then_some(p.host_ip),
                host_port: p.host_port,
                container_ip: first.address,
                container_port: p.container_port,
            })
            .collect();
        firewall::detect().add_ports(sandbox.id, &forwards)?;
    }
    let own: Vec<HostEntry> = endpoints
        .iter()
        .map(|e| HostEntry {
            address: e.address,
            names: vec![sandbox.config.hostname.clone()],
        })
        .collect();
    let text = hosts::render(sandbox.hosts_base, &own, &[]);
    write_hosts(store, sandbox.id, sandbox.hosts_file, text)?;
    Ok(published)
}

/// Adds `endpoint`'s interface (`eth<index>`) to a running container's namespace.
pub fn add_interface(netns: &Path, endpoint: &Endpoint, index: usize) -> Result<(), NetworkError> {
    let bridge = Bridge {
        name: &endpoint.bridge,
        gateway: endpoint.gateway,
        prefix_len: endpoint.prefix,
        mtu: MTU,
    };
    if link::ensure_bridge(&bridge)? {
        firewall::detect().ensure_network(&NetworkRules {
            bridge: &endpoint.bridge,
            subnet: network_address(endpoint),
            prefix_len: endpoint.prefix,
            internal: endpoint.internal,
        })?;
    }
    link::add_endpoint(&EndpointConfig {
        netns,
        bridge: &endpoint.bridge,
        host_ifname: &endpoint.host_interface,
        ifname: &format!("eth{index}"),
        address: endpoint.address,
        prefix_len: endpoint.prefix,
        // The container keeps its way out through its first network.
        gateway: (index == 0 && !endpoint.internal).then_some(endpoint.gateway),
        mac: parse_mac(&endpoint.mac),
        mtu: MTU,
    })?;
    Ok(())
}

/// A removed network's bridge and rules go (no container is on it any more).
pub fn drop_bridge(bridge: &str) -> Result<(), NetworkError> {
    firewall::detect().remove_network(bridge)?;
    link::delete_link(bridge)?;
    Ok(())
}

/// Undoes what `set_up` made; safe to call again, or for what a crash left half-made.
/// The store keeps the container's endpoints (its addresses) until it is removed.
pub fn tear_down(store: &mut Store, id: &str, netns_file: &Path) -> Result<(), NetworkError> {
    // Rules before rows: a crash in between leaves rows that still lead to the rules.
    if !ports::ports_of(store, id)?.is_empty() {
        firewall::detect().remove_ports(id)?;
        ports::release_ports(store, id)?;
    }
    if netns_file.exists() {
        // The container's veth ends go with the namespace, and their host ends with
        // them, in the kernel's own time: deleting them here would wait for it.
        netns::remove_netns(netns_file)?;
    } else {
        // No namespace: a host end can only be what an odd crash left.
        for endpoint in networks::endpoints_of(store, id)? {
            link::remove_endpoint(&endpoint.host_interface)?;
        }
    }
    Ok(())
}

/// Forgets a removed container's endpoints and ports (after `tear_down`), and takes it
/// out of the other containers' hosts files.
pub fn release(store: &mut Store, id: &str) -> Result<(), NetworkError> {
    let (endpoints, _) = networks::release_container(store, id)?;
    refresh_peers_of(store, &endpoints)
}

/// After container `id` left `endpoint`'s network: its old peers there lose it, and
/// its own hosts file loses them.
pub fn release_peer(store: &mut Store, id: &str, endpoint: &Endpoint) -> Result<(), NetworkError> {
    refresh_peers_of(store, std::slice::from_ref(endpoint))?;
    membership_changed(store, id)
}

/// After container `id` joined or left networks: rewrites its peers' hosts files.
pub fn membership_changed(store: &mut Store, id: &str) -> Result<(), NetworkError> {
    let endpoints = networks::endpoints_of(store, id)?;
    refresh_peers_of(store, &endpoints)?;
    let path = store.root().join("containers").join(id).join("hosts");
    if let Ok(text) = fs::read_to_string(&path) {
        write_hosts(store, id, &path, text)?;
    }
    Ok(())
}

fn refresh_peers_of(store: &mut Store, endpoints: &[Endpoint]) -> Result<(), NetworkError> {
    let mut peers = Vec::new();
    for endpoint in endpoints.iter().filter(|e| !is_default(e)) {
        for other in networks::endpoints_on(store, &endpoint.network_id)? {
            if other.container_id != endpoint.container_id && !peers.contains(&other.container_id) {
                peers.push(other.container_id);
            }
        }
    }
    for peer in peers {
        let path = store.root().join("containers").join(&peer).join("hosts");
        if let Ok(text) = fs::read_to_string(&path) {
            write_hosts(store, &peer, &path, text)?;
        }
    }
    Ok(())
}

/// Writes `text` up to the peers' marker, then container `id`'s peers, in place.
fn write_hosts(store: &Store, id: &str, path: &Path, text: String) -> Result<(), NetworkError> {
    let fixed = match text.find(PEERS_MARKER) {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let peers = peer_entries(store, id)?;
    let mut out = fixed;
    if !peers.is_empty() {
        out.push_str(PEERS_MARKER);
        out.push('\n');
        out = hosts::render(&out, &[], &peers);
    }
    hosts::rewrite_in_place(path, &out).map_err(|source| NetworkError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The other containers on container `id`'s user networks, by name, short id and
/// aliases (what Docker's resolver answers for).
fn peer_entries(store: &Store, id: &str) -> Result<Vec<HostEntry>, NetworkError> {
    let mut entries = Vec::new();
    for endpoint in networks::endpoints_of(store, id)? {
        if is_default(&endpoint) {
            continue;
        }
        for other in networks::endpoints_on(store, &endpoint.network_id)? {
            if other.container_id == id {
                continue;
            }
            let mut names = Vec::new();
            if let Some(row) = store.container(&other.container_id)? {
                names.push(row.name);
            }
            names.push(other.container_id[..12.min(other.container_id.len())].to_string());
            names.extend(other.aliases.iter().cloned());
            entries.push(HostEntry {
                address: other.address,
                names,
            });
        }
    }
    Ok(entries)
}

/// The default bridge gives no names, as Docker's.
fn is_default(endpoint: &Endpoint) -> bool {
    endpoint.network_name == networks::DEFAULT_NETWORK
}

fn network_address(endpoint: &Endpoint) -> std::net::Ipv4Addr {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(endpoint.prefix))
        .unwrap_or(0);
    std::net::Ipv4Addr::from(u32::from(endpoint.address) & mask)
}

/// `02:42:ac:11:00:02` as bytes; the store only holds what `ipam::mac_for` made.
fn parse_mac(text: &str) -> [u8; 6] {
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(text.split(':')) {
        *byte = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    mac
}
