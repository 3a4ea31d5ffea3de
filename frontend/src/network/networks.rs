//! Networks as the store keeps them: create, find, list, remove, prune, and the
//! endpoints that put a container on one (its address, MAC and host interface name).
//! Nothing here touches the kernel; `attach` and the kernel layer do.
//!
//! The default `bridge` network is a row made on first use, inside the write
//! transaction that needs it, so concurrent first uses make exactly one. `host` and
//! `none` are not rows: they are listed and inspected as Docker shows them.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::SystemTime;

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::ipam::{self, IpamError};
use super::subnet::{
    self, GatewayError, Subnet, SubnetError, DEFAULT_BRIDGE_GATEWAY, DEFAULT_BRIDGE_SUBNET,
};
use crate::container::names;
use crate::store::db::DbError;
use crate::store::networks::{self as rows, EndpointRow, NetworkRow};
use crate::store::{Store, StoreError};
use crate::time::rfc3339_nanos;

pub const DEFAULT_NETWORK: &str = "bridge";
pub const DEFAULT_BRIDGE: &str = "berth0";

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network {0} is ambiguous: more than one network id starts with it")]
    Ambiguous(String),
    #[error("network with name {0} already exists")]
    NameTaken(String),
    #[error("invalid network name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("network driver {0:?} is not supported: berth networks use the bridge driver")]
    UnsupportedDriver(String),
    #[error(transparent)]
    Subnet(#[from] SubnetError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("every ip-range or gateway must have a corresponding subnet")]
    GatewayWithoutSubnet,
    #[error("invalid pool request: Pool overlaps with other one on this address space ({subnet} overlaps {other}, the subnet of network {network})")]
    Overlap {
        subnet: Subnet,
        other: Subnet,
        network: String,
    },
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoFreePool,
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    ActiveEndpoints { name: String, id: String },
    #[error("network {network}: {source}")]
    Address { network: String, source: IpamError },
    #[error("user specified IP address is supported on user defined networks only")]
    AddressOnDefaultBridge,
    #[error("container cannot be disconnected from host network or connected to {0} network")]
    NotConnectable(String),
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected { container: String, network: String },
    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("store row of network {network}: {what}")]
    BadRow { network: String, what: String },
    #[error(transparent)]
    Port(#[from] super::ports::PortError),
    #[error(transparent)]
    Kernel(#[from] super::netns::NetError),
    #[error("Bind for {address} failed: port is already allocated (by {holder}, {protocol})")]
    PortAllocated {
        address: String,
        protocol: String,
        holder: String,
    },
    #[error(
        "Bind for {address} failed: port is already in use by a process of the host ({protocol})"
    )]
    PortInUse { address: String, protocol: String },
    #[error("Bind for {address} failed: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("no free host port in {first}-{last} on {host_ip} for {container_port}/{protocol}")]
    NoFreePort {
        first: u16,
        last: u16,
        host_ip: std::net::Ipv4Addr,
        container_port: u16,
        protocol: String,
    },
}

/// Turns SQLite's errors into the store's, naming the database.
pub(crate) fn sql(store: &Store) -> impl Fn(rusqlite::Error) -> NetworkError + 'static {
    let errors = store.db.errors();
    move |e| NetworkError::Db(errors(e))
}

/// A bridge network (a row of the store), its JSON columns decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub driver: String,
    /// The Linux bridge: `berth0` for `bridge`, `br-<12 hex of id>` for the others.
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub internal: bool,
    pub ipv6: bool,
    pub created: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

impl Network {
    pub fn is_default(&self) -> bool {
        self.name == DEFAULT_NETWORK
    }

    fn from_row(row: NetworkRow) -> Result<Network, NetworkError> {
        let bad = |what: String| NetworkError::BadRow {
            network: row.name.clone(),
            what,
        };
        let subnet = Subnet::parse(&row.subnet).map_err(|e| bad(format!("subnet: {e}")))?;
        let gateway = row
            .gateway
            .parse()
            .map_err(|_| bad(format!("gateway {:?} is no IPv4 address", row.gateway)))?;
        let labels = serde_json::from_str(&row.labels).map_err(|e| bad(format!("labels: {e}")))?;
        let options =
            serde_json::from_str(&row.options).map_err(|e| bad(format!("options: {e}")))?;
        Ok(Network {
            subnet,
            gateway,
            labels,
            options,
            id: row.id,
            name: row.name,
            driver: row.driver,
            bridge: row.bridge,
            internal: row.internal,
            ipv6: row.ipv6,
            created: row.created,
        })
    }
}

/// The networks that are not rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Host,
    None,
}

impl Builtin {
    pub const ALL: [Builtin; 2] = [Builtin::Host, Builtin::None];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Host => "host",
            Builtin::None => "none",
        }
    }

    /// Docker's driver for it.
    pub fn driver(self) -> &'static str {
        match self {
            Builtin::Host => "host",
            Builtin::None => "null",
        }
    }

    /// A fixed id, the same in every store: these networks are not made by anyone.
    pub fn id(self) -> String {
        let digest = Sha256::digest(format!("berth network {}", self.name()));
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What a network reference found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Bridge(Network),
    Builtin(Builtin),
}

impl Found {
    pub fn id(&self) -> String {
        match self {
            Found::Bridge(n) => n.id.clone(),
            Found::Builtin(b) => b.id(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Found::Bridge(n) => &n.name,
            Found::Builtin(b) => b.name(),
        }
    }

    pub fn driver(&self) -> &str {
        match self {
            Found::Bridge(n) => &n.driver,
            Found::Builtin(b) => b.driver(),
        }
    }

    /// `bridge`, `host` and `none`: made by berth, not removable.
    pub fn is_predefined(&self) -> bool {
        match self {
            Found::Bridge(n) => n.is_default(),
            Found::Builtin(_) => true,
        }
    }
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    /// None: bridge.
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// A container's place on a network, with what the kernel layer needs of the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub container_id: String,
    pub network_id: String,
    pub network_name: String,
    /// Docker's EndpointID.
    pub endpoint_id: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    pub aliases: Vec<String>,
    /// The host end of the container's veth pair.
    pub host_interface: String,
    /// The network's Linux bridge.
    pub bridge: String,
    pub internal: bool,
}

impl Endpoint {
    fn new(row: EndpointRow, network: &Network) -> Result<Endpoint, NetworkError> {
        let bad = |what: String| NetworkError::BadRow {
            network: network.name.clone(),
            what,
        };
        let address = row.address.parse().map_err(|_| {
            bad(format!(
                "endpoint of {}: address {:?}",
                row.container_id, row.address
            ))
        })?;
        let aliases = serde_json::from_str(&row.aliases)
            .map_err(|e| bad(format!("endpoint of {}: aliases: {e}", row.container_id)))?;
        Ok(Endpoint {
            address,
            aliases,
            container_id: row.container_id,
            network_id: row.network_id,
            network_name: network.name.clone(),
            endpoint_id: row.endpoint_id,
            prefix: network.subnet.prefix(),
            gateway: network.gateway,
            mac: row.mac,
            host_interface: row.host_interface,
            bridge: network.bridge.clone(),
            internal: network.internal,
        })
    }
}

fn new_id() -> Result<String, NetworkError> {
    names::new_id().map_err(|source| NetworkError::Io {
        path: "/dev/urandom".to_string(),
        source,
    })
}

/// Docker's options of its default bridge, naming ours.
fn default_bridge_options() -> BTreeMap<String, String> {
    [
        ("com.docker.network.bridge.default_bridge", "true"),
        ("com.docker.network.bridge.enable_icc", "true"),
        ("com.docker.network.bridge.enable_ip_masquerade", "true"),
        ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
        ("com.docker.network.bridge.name", DEFAULT_BRIDGE),
        ("com.docker.network.driver.mtu", "1500"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn to_json(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_string())
}

/// Makes the default `bridge` network if it is missing; `conn` must be in a write
/// transaction, so that two first uses cannot both make it.
fn ensure_default_in(conn: &Connection) -> Result<(), NetworkError> {
    let exists = rows::network_by_name(conn, DEFAULT_NETWORK).map_err(db_error(conn))?;
    if exists.is_some() {
        return Ok(());
    }
    let row = NetworkRow {
        id: new_id()?,
        name: DEFAULT_NETWORK.to_string(),
        driver: "bridge".to_string(),
        bridge: DEFAULT_BRIDGE.to_string(),
        subnet: DEFAULT_BRIDGE_SUBNET.to_string(),
        gateway: DEFAULT_BRIDGE_GATEWAY.to_string(),
        internal: false,
        ipv6: false,
        created: rfc3339_nanos(SystemTime::now()),
        labels: "{}".to_string(),
        options: to_json(&default_bridge_options()),
    };
    rows::insert_network(conn, &row).map_err(db_error(conn))
}

fn db_error(conn: &Connection) -> impl Fn(rusqlite::Error) -> NetworkError + '_ {
    move |source| {
        NetworkError::Db(DbError::Sqlite {
            path: conn
                .path()
                .map(Path::new)
                .unwrap_or(Path::new("berth.db"))
                .to_path_buf(),
            source,
        })
    }
}

/// Makes the default `bridge` network if it is missing (idempotent, safe when many
/// `berth` processes do it at once).
pub fn ensure_default(store: &mut Store) -> Result<Network, NetworkError> {
    let sql = sql(store);
    if let Some(row) = rows::network_by_name(store.db.conn(), DEFAULT_NETWORK).map_err(&sql)? {
        return Network::from_row(row);
    }
    let tx = store.db.write()?;
    ensure_default_in(&tx)?;
    let row = rows::network_by_name(&tx, DEFAULT_NETWORK).map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    let row = row.ok_or_else(|| NetworkError::NotFound(DEFAULT_NETWORK.to_string()))?;
    Network::from_row(row)
}

/// Docker's order: full id, full name, then a unique id prefix. `host` and `none`
/// are found by name or id too.
fn find_in(conn: &Connection, reference: &str) -> Result<Found, NetworkError> {
    let errors = db_error(conn);
    for builtin in Builtin::ALL {
        if reference == builtin.name() || reference == builtin.id() {
            return Ok(Found::Builtin(builtin));
        }
    }
    if let Some(row) = rows::network_by_id(conn, reference).map_err(&errors)? {
        return Ok(Found::Bridge(Network::from_row(row)?));
    }
    if let Some(row) = rows::network_by_name(conn, reference).map_err(&errors)? {
        return Ok(Found::Bridge(Network::from_row(row)?));
    }
    if reference.is_empty() || !reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NetworkError::NotFound(reference.to_string()));
    }
    let prefix = reference.to_ascii_lowercase();
    let mut found = rows::networks_by_id_prefix(conn, &prefix, 2).map_err(&errors)?;
    let builtins: Vec<Builtin> = Builtin::ALL
        .into_iter()
        .filter(|b| b.id().starts_with(&prefix))
        .collect();
    match (found.len(), builtins.as_slice()) {
        (1, []) => Ok(Found::Bridge(Network::from_row(found.remove(0))?)),
        (0, [builtin]) => Ok(Found::Builtin(*builtin)),
        (0, []) => Err(NetworkError::NotFound(reference.to_string())),
        _ => Err(NetworkError::Ambiguous(reference.to_string())),
    }
}

/// A network by full id, full name, or unique id prefix.
pub fn find(store: &mut Store, reference: &str) -> Result<Found, NetworkError> {
    ensure_default(store)?;
    find_in(store.db.conn(), reference)
}

/// Docker's rule for names of objects: a letter or digit, then those or `_.-`.
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// `network create`: a new bridge network; its subnet is `--subnet` or the first
/// default pool no other network overlaps.
pub fn create(store: &mut Store, request: &CreateRequest) -> Result<Network, NetworkError> {
    match request.driver.as_deref() {
        None | Some("bridge") => {}
        Some(other) => return Err(NetworkError::UnsupportedDriver(other.to_string())),
    }
    if !valid_name(&request.name) {
        return Err(NetworkError::InvalidName(request.name.clone()));
    }
    let given = match &request.subnet {
        Some(text) => Some(Subnet::parse(text)?),
        None => None,
    };
    let gateway = match (&request.gateway, &given) {
        (Some(text), Some(subnet)) => Some(subnet::parse_gateway(text, subnet)?),
        (Some(_), None) => return Err(NetworkError::GatewayWithoutSubnet),
        (None, _) => None,
    };
    let sql = sql(store);
    let tx = store.db.write()?;
    ensure_default_in(&tx)?;
    if Builtin::ALL.iter().any(|b| b.name() == request.name)
        || rows::network_by_name(&tx, &request.name)
            .map_err(&sql)?
            .is_some()
    {
        return Err(NetworkError::NameTaken(request.name.clone()));
    }
    let existing: Vec<Network> = rows::networks(&tx)
        .map_err(&sql)?
        .into_iter()
        .map(Network::from_row)
        .collect::<Result<_, _>>()?;
    let subnet = match given {
        Some(subnet) => {
            if let Some(other) = existing.iter().find(|n| n.subnet.overlaps(&subnet)) {
                return Err(NetworkError::Overlap {
                    subnet,
                    other: other.subnet,
                    network: other.name.clone(),
                });
            }
            subnet
        }
        None => {
            let taken: Vec<Subnet> = existing.iter().map(|n| n.subnet).collect();
            subnet::next_free(&taken).ok_or(NetworkError::NoFreePool)?
        }
    };
    let id = new_id()?;
    let row = NetworkRow {
        bridge: format!("br-{}", &id[..12]),
        id,
        name: request.name.clone(),
        driver: "bridge".to_string(),
        subnet: subnet.to_string(),
        gateway: gateway.unwrap_or_else(|| subnet.first_host()).to_string(),
        internal: request.internal,
        ipv6: false,
        created: rfc3339_nanos(SystemTime::now()),
        labels: to_json(&request.labels),
        options: to_json(&request.options),
    };
    rows::insert_network(&tx, &row).map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    record(store, "create", &row.id, &row.name, None);
    Network::from_row(row)
}

/// Every bridge network (the default one included), by name.
pub fn list(store: &mut Store) -> Result<Vec<Network>, NetworkError> {
    ensure_default(store)?;
    let sql = sql(store);
    rows::networks(store.db.conn())
        .map_err(&sql)?
        .into_iter()
        .map(Network::from_row)
        .collect()
}

/// `network rm`: refused for the predefined networks and while containers are on it.
/// The name of what went.
pub fn remove(store: &mut Store, reference: &str) -> Result<String, NetworkError> {
    let sql = sql(store);
    let tx = store.db.write()?;
    ensure_default_in(&tx)?;
    let found = find_in(&tx, reference)?;
    let network = match found {
        Found::Bridge(n) if !n.is_default() => n,
        other => return Err(NetworkError::Predefined(other.name().to_string())),
    };
    if !rows::endpoints_on(&tx, &network.id)
        .map_err(&sql)?
        .is_empty()
    {
        return Err(NetworkError::ActiveEndpoints {
            name: network.name,
            id: network.id,
        });
    }
    rows::delete_network(&tx, &network.id).map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    record(store, "destroy", &network.id, &network.name, None);
    super::sandbox::drop_bridge(&network.bridge)?;
    Ok(network.name)
}

/// `network prune`: every user network no container is on; their names, by name.
pub fn prune(store: &mut Store) -> Result<Vec<String>, NetworkError> {
    let sql = sql(store);
    let tx = store.db.write()?;
    let mut removed = Vec::new();
    for row in rows::networks(&tx).map_err(&sql)? {
        if row.name == DEFAULT_NETWORK
            || !rows::endpoints_on(&tx, &row.id).map_err(&sql)?.is_empty()
        {
            continue;
        }
        rows::delete_network(&tx, &row.id).map_err(&sql)?;
        removed.push((row.id, row.name, row.bridge));
    }
    tx.commit().map_err(&sql)?;
    let mut names = Vec::new();
    for (id, name, bridge) in removed {
        record(store, "destroy", &id, &name, None);
        super::sandbox::drop_bridge(&bridge)?;
        names.push(name);
    }
    Ok(names)
}

/// Puts container `container_id` on `network` (a reference as `find` takes):
/// chooses its address (`requested`, or the lowest free) and records the endpoint
/// in the same write transaction. The kernel side is the caller's.
pub fn connect(
    store: &mut Store,
    network: &str,
    container_id: &str,
    aliases: &[String],
    requested: Option<Ipv4Addr>,
) -> Result<Endpoint, NetworkError> {
    let sql = sql(store);
    let tx = store.db.write()?;
    ensure_default_in(&tx)?;
    let network = match find_in(&tx, network)? {
        Found::Bridge(n) => n,
        Found::Builtin(b) => return Err(NetworkError::NotConnectable(b.name().to_string())),
    };
    let container: Option<String> = rusqlite::OptionalExtension::optional(tx.query_row(
        "SELECT name FROM containers WHERE id = ?1",
        [container_id],
        |r| r.get(0),
    ))
    .map_err(&sql)?;
    let Some(container_name) = container else {
        return Err(NetworkError::NoSuchContainer(container_id.to_string()));
    };
    if requested.is_some() && network.is_default() {
        return Err(NetworkError::AddressOnDefaultBridge);
    }
    if rows::endpoint(&tx, container_id, &network.id)
        .map_err(&sql)?
        .is_some()
    {
        return Err(NetworkError::AlreadyConnected {
            container: container_name,
            network: network.name,
        });
    }
    let used: HashSet<Ipv4Addr> = rows::endpoints_on(&tx, &network.id)
        .map_err(&sql)?
        .iter()
        .filter_map(|e| e.address.parse().ok())
        .collect();
    let address =
        ipam::choose(&network.subnet, network.gateway, &used, requested).map_err(|source| {
            NetworkError::Address {
                network: network.name.clone(),
                source,
            }
        })?;
    let endpoint_id = new_id()?;
    let row = EndpointRow {
        container_id: container_id.to_string(),
        network_id: network.id.clone(),
        // IFNAMSIZ: 15 characters at most.
        host_interface: format!("veth{}", &endpoint_id[..11]),
        endpoint_id,
        address: address.to_string(),
        mac: ipam::mac_for(address),
        aliases: serde_json::to_string(aliases).unwrap_or_else(|_| "[]".to_string()),
    };
    rows::insert_endpoint(&tx, &row).map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    record(
        store,
        "connect",
        &network.id,
        &network.name,
        Some(container_id),
    );
    Endpoint::new(row, &network)
}

/// Takes container `container_id` off `network`, freeing its address; the endpoint
/// that was, for the kernel side to undo.
pub fn disconnect(
    store: &mut Store,
    network: &str,
    container_id: &str,
) -> Result<Endpoint, NetworkError> {
    let sql = sql(store);
    let tx = store.db.write()?;
    ensure_default_in(&tx)?;
    let network = match find_in(&tx, network)? {
        Found::Bridge(n) => n,
        Found::Builtin(b) => return Err(NetworkError::NotConnectable(b.name().to_string())),
    };
    let Some(row) = rows::endpoint(&tx, container_id, &network.id).map_err(&sql)? else {
        return Err(NetworkError::NotConnected {
            container: container_id.to_string(),
            network: network.name,
        });
    };
    rows::delete_endpoint(&tx, container_id, &network.id).map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    record(
        store,
        "disconnect",
        &network.id,
        &network.name,
        Some(container_id),
    );
    Endpoint::new(row, &network)
}

/// Container `container_id`'s endpoint on `network` (a reference as `find` takes).
pub fn endpoint(
    store: &mut Store,
    network: &str,
    container_id: &str,
) -> Result<Endpoint, NetworkError> {
    let network = match find(store, network)? {
        Found::Bridge(n) => n,
        Found::Builtin(b) => return Err(NetworkError::NotConnectable(b.name().to_string())),
    };
    let sql = sql(store);
    match rows::endpoint(store.db.conn(), container_id, &network.id).map_err(&sql)? {
        Some(row) => Endpoint::new(row, &network),
        None => Err(NetworkError::NotConnected {
            container: container_id.to_string(),
            network: network.name,
        }),
    }
}

/// Every network of container `container_id`, in the order it joined them.
pub fn endpoints_of(store: &Store, container_id: &str) -> Result<Vec<Endpoint>, NetworkError> {
    let sql = sql(store);
    let conn = store.db.conn();
    rows::endpoints_of(conn, container_id)
        .map_err(&sql)?
        .into_iter()
        .map(|row| {
            let network = rows::network_by_id(conn, &row.network_id)
                .map_err(&sql)?
                .ok_or_else(|| NetworkError::NotFound(row.network_id.clone()))?;
            Endpoint::new(row, &Network::from_row(network)?)
        })
        .collect()
}

/// Every container on network `network_id`, in the order they joined it.
pub fn endpoints_on(store: &Store, network_id: &str) -> Result<Vec<Endpoint>, NetworkError> {
    let sql = sql(store);
    let conn = store.db.conn();
    let network = rows::network_by_id(conn, network_id)
        .map_err(&sql)?
        .ok_or_else(|| NetworkError::NotFound(network_id.to_string()))?;
    let network = Network::from_row(network)?;
    rows::endpoints_on(conn, network_id)
        .map_err(&sql)?
        .into_iter()
        .map(|row| Endpoint::new(row, &network))
        .collect()
}

/// Removes every endpoint and published port of container `container_id` in one
/// transaction (before its row goes: the store refuses the other order); what was
/// there, for the kernel side to undo.
pub fn release_container(
    store: &mut Store,
    container_id: &str,
) -> Result<(Vec<Endpoint>, Vec<super::ports::PublishedPort>), NetworkError> {
    let endpoints = endpoints_of(store, container_id)?;
    let sql = sql(store);
    let tx = store.db.write()?;
    for endpoint in &endpoints {
        rows::delete_endpoint(&tx, container_id, &endpoint.network_id).map_err(&sql)?;
    }
    let ports = rows::ports_of(&tx, container_id).map_err(&sql)?;
    rows::delete_ports_of(&tx, container_id).map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    let ports = ports
        .into_iter()
        .filter_map(super::ports::PublishedPort::from_row)
        .collect();
    Ok((endpoints, ports))
}

/// A network event, with dockerd's attributes: the name, the driver, and the
/// container a connect or disconnect is about.
fn record(store: &Store, action: &str, id: &str, name: &str, container: Option<&str>) {
    use crate::events::{attributes, Event, EventLog, Kind};
    let mut attributes = attributes([("name", name.to_string()), ("type", "bridge".to_string())]);
    if let Some(container) = container {
        attributes.insert("container".to_string(), container.to_string());
    }
    EventLog::of_store(store.root()).record(&Event::now(Kind::Network, action, id, attributes));
}

#[cfg(test)]
#[path = "networks_tests.rs"]
mod tests;
