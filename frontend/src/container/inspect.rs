//! What `inspect` shows of a container: Docker's JSON shape, keys in Docker's order,
//! built from the container's record, its files and its state now.

use std::collections::BTreeMap;

use serde::Serialize;

use super::config::{Config, HostConfig};
use super::lifecycle::{Container, Containers};
use super::state::{State, Status};
use crate::network::networks::Endpoint;
use crate::network::ports::PublishedPort;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerJson {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: StateJson,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: u32,
    pub driver: &'static str,
    pub platform: &'static str,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfig,
    pub graph_driver: GraphDriver,
    pub mounts: Vec<MountJson>,
    pub config: Config,
    pub network_settings: NetworkSettings,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateJson {
    pub status: &'static str,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

/// Go's zero time, which Docker shows for a time that has not happened.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl StateJson {
    pub fn from_state(state: &State) -> StateJson {
        let up = state.status.is_up();
        StateJson {
            status: state.status.as_str(),
            running: up,
            paused: state.status == Status::Paused,
            restarting: state.status == Status::Restarting,
            oom_killed: state.oom_killed,
            dead: false,
            pid: if up { state.pid } else { 0 },
            exit_code: state.exit_code,
            error: state.error.clone(),
            started_at: non_empty_time(&state.started_at),
            finished_at: if up {
                ZERO_TIME.to_string()
            } else {
                non_empty_time(&state.finished_at)
            },
        }
    }
}

fn non_empty_time(time: &str) -> String {
    if time.is_empty() {
        ZERO_TIME.to_string()
    } else {
        time.to_string()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    pub data: BTreeMap<&'static str, String>,
    pub name: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountJson {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub source: String,
    pub destination: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    pub ports: BTreeMap<String, Option<Vec<PortJson>>>,
    pub hairpin_mode: bool,
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: u8,
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<String>>,
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<String>>,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    pub mac_address: String,
    pub networks: BTreeMap<String, EndpointJson>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortJson {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointJson {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<()>,
    pub links: Option<Vec<String>>,
    pub aliases: Option<Vec<String>>,
    pub mac_address: String,
    pub driver_opts: Option<()>,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// `-v HOST:CONTAINER[:ro|rw]` as Docker lists a bind mount.
fn bind_mount(bind: &str) -> Option<MountJson> {
    let mut parts = bind.splitn(3, ':');
    let source = parts.next()?.to_string();
    let destination = parts.next()?.to_string();
    let mode = parts.next().unwrap_or_default().to_string();
    let rw = !mode.split(',').any(|m| m == "ro");
    Some(MountJson {
        kind: "bind",
        source,
        destination,
        mode,
        rw,
        propagation: "rprivate",
    })
}

impl Containers {
    /// The container as `inspect` shows it, with what the store knows of it: its
    /// networks and the image layers under its rootfs.
    pub fn inspect(&self, container: &Container) -> ContainerJson {
        let mut json = inspect(container, &self.network_of(container));
        // An image without layers is mounted over an empty dir of the container's own.
        let lower = match crate::image::inspect::lower_dirs(&self.store, &container.row.image_id) {
            Ok(dirs) if dirs.is_empty() => container.paths.dir.join("lower").display().to_string(),
            Ok(dirs) => dirs,
            // The image went (rmi -f): its layers are no longer named.
            Err(_) => String::new(),
        };
        if !lower.is_empty() {
            json.graph_driver.data.insert("LowerDir", lower);
        }
        json
    }
}

/// The container as `inspect` shows it.
pub fn inspect(container: &Container, network: &ContainerNetwork) -> ContainerJson {
    let state = container.state();
    let paths = &container.paths;
    let path = |p: std::path::PathBuf| p.display().to_string();
    let mut data = BTreeMap::new();
    data.insert("MergedDir", path(paths.rootfs()));
    data.insert("UpperDir", path(paths.upper()));
    data.insert("WorkDir", path(paths.dir.join("work")));
    let settings = network_settings(container, network, state.status.is_up());
    ContainerJson {
        id: container.row.id.clone(),
        created: container.row.created.clone(),
        path: container.row.path.clone(),
        args: serde_json::from_str(&container.row.args).unwrap_or_default(),
        state: StateJson::from_state(&state),
        image: container.row.image_id.clone(),
        resolv_conf_path: path(paths.resolv_conf()),
        hostname_path: path(paths.hostname()),
        hosts_path: path(paths.hosts()),
        log_path: if container.host.log_config.kind == "none" {
            String::new()
        } else {
            path(paths.log())
        },
        name: format!("/{}", container.row.name),
        restart_count: state.restart_count,
        driver: "overlay2",
        platform: "linux",
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: None,
        host_config: container.host.clone(),
        graph_driver: GraphDriver {
            data,
            name: "overlay2",
        },
        mounts: mounts(container),
        config: container.config.clone(),
        network_settings: settings,
    }
}

/// Docker's `Mounts`: the container's binds.
pub fn mounts(container: &Container) -> Vec<MountJson> {
    container
        .host
        .binds
        .iter()
        .flatten()
        .filter_map(|b| bind_mount(b))
        .collect()
}

/// Docker's `NetworkSettings.Networks` of a container in the state `up` says: what
/// a listing shows without the rest of an inspect.
pub fn networks(
    container: &Container,
    network: &ContainerNetwork,
    up: bool,
) -> BTreeMap<String, EndpointJson> {
    network_settings(container, network, up).networks
}

/// What the store knows of a container's networks: its endpoints (addresses from
/// `create` to `rm`) and the host ports published for its current run.
#[derive(Debug, Default)]
pub struct ContainerNetwork {
    pub endpoints: Vec<Endpoint>,
    pub published: Vec<PublishedPort>,
    /// The namespace's file while the container runs with berth's network.
    pub sandbox_key: String,
}

/// Docker's NetworkSettings: addresses only while the container runs (Docker gives
/// them back at stop; berth keeps them reserved but shows them as Docker does), the
/// top-level fields for the default bridge only.
fn network_settings(
    container: &Container,
    network: &ContainerNetwork,
    up: bool,
) -> NetworkSettings {
    let mut settings = NetworkSettings {
        bridge: String::new(),
        sandbox_id: String::new(),
        sandbox_key: String::new(),
        ports: BTreeMap::new(),
        hairpin_mode: false,
        link_local_ipv6_address: String::new(),
        link_local_ipv6_prefix_len: 0,
        secondary_ip_addresses: None,
        secondary_ipv6_addresses: None,
        endpoint_id: String::new(),
        gateway: String::new(),
        global_ipv6_address: String::new(),
        global_ipv6_prefix_len: 0,
        ip_address: String::new(),
        ip_prefix_len: 0,
        ipv6_gateway: String::new(),
        mac_address: String::new(),
        networks: BTreeMap::new(),
    };
    let mode = container.host.network_mode.as_str();
    if mode.starts_with("container:") {
        return settings;
    }
    if network.endpoints.is_empty() {
        settings
            .networks
            .insert(mode.to_string(), EndpointJson::default());
        return settings;
    }
    if up {
        settings.sandbox_key = network.sandbox_key.clone();
        settings.sandbox_id = network
            .endpoints
            .first()
            .map(|e| e.endpoint_id.clone())
            .unwrap_or_default();
        for port in &network.published {
            settings
                .ports
                .entry(port.key())
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortJson {
                    host_ip: port.host_ip.to_string(),
                    host_port: port.host_port.to_string(),
                });
        }
    }
    for port in container.config.exposed_ports.iter().flat_map(|p| p.keys()) {
        settings.ports.entry(port.clone()).or_insert(None);
    }
    let short_id = &container.row.id[..12.min(container.row.id.len())];
    for endpoint in &network.endpoints {
        let default = endpoint.network_name == crate::network::networks::DEFAULT_NETWORK;
        let mut json = EndpointJson {
            network_id: endpoint.network_id.clone(),
            aliases: (!default).then(|| endpoint.aliases.clone()),
            dns_names: (!default).then(|| {
                let mut names = vec![container.row.name.clone(), short_id.to_string()];
                names.extend(endpoint.aliases.iter().cloned());
                names
            }),
            ..EndpointJson::default()
        };
        if up {
            json.mac_address = endpoint.mac.clone();
            json.endpoint_id = endpoint.endpoint_id.clone();
            json.gateway = if endpoint.internal {
                String::new()
            } else {
                endpoint.gateway.to_string()
            };
            json.ip_address = endpoint.address.to_string();
            json.ip_prefix_len = endpoint.prefix;
            if default {
                settings.endpoint_id = json.endpoint_id.clone();
                settings.gateway = json.gateway.clone();
                settings.ip_address = json.ip_address.clone();
                settings.ip_prefix_len = json.ip_prefix_len;
                settings.mac_address = json.mac_address.clone();
            }
        }
        settings
            .networks
            .insert(endpoint.network_name.clone(), json);
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_read_as_docker_lists_them() {
        let m = bind_mount("/srv:/data:ro").unwrap();
        assert_eq!(
            (m.source.as_str(), m.destination.as_str(), m.rw),
            ("/srv", "/data", false)
        );
        let m = bind_mount("/srv:/data").unwrap();
        assert!(m.rw);
        assert!(bind_mount("nocolon").is_none());
    }

    #[test]
    fn a_state_not_yet_finished_shows_gos_zero_time() {
        let state = State {
            status: Status::Running,
            pid: 42,
            shim_pid: Some(41),
            exit_code: 0,
            oom_killed: false,
            started_at: "2026-12-06T00:00:00.1Z".into(),
            finished_at: String::new(),
            finished: None,
            restart_count: 0,
            error: String::new(),
        };
        let json = serde_json::to_value(StateJson::from_state(&state)).unwrap();
        assert_eq!(json["Running"], true);
        assert_eq!(json["Pid"], 42);
        assert_eq!(json["FinishedAt"], ZERO_TIME);
        assert_eq!(json["OOMKilled"], false);
    }
}
