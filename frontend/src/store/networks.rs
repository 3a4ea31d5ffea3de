//! Rows of networks, endpoints (a container's place on a network) and published ports.
//! The functions take a connection, so the network module can run several of them in
//! one write transaction (`Db::write`): choosing an address and recording it must not
//! be split, or two `berth` processes could choose the same one.

use rusqlite::{params, Connection, OptionalExtension, Row};

/// A network's row; `labels` and `options` are JSON objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRow {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub bridge: String,
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
    pub ipv6: bool,
    pub created: String,
    pub labels: String,
    pub options: String,
}

const NETWORK_COLUMNS: &str =
    "id, name, driver, bridge, subnet, gateway, internal, ipv6, created, labels, options";

fn network_from(row: &Row<'_>) -> rusqlite::Result<NetworkRow> {
    Ok(NetworkRow {
        id: row.get(0)?,
        name: row.get(1)?,
        driver: row.get(2)?,
        bridge: row.get(3)?,
        subnet: row.get(4)?,
        gateway: row.get(5)?,
        internal: row.get::<_, i64>(6)? != 0,
        ipv6: row.get::<_, i64>(7)? != 0,
        created: row.get(8)?,
        labels: row.get(9)?,
        options: row.get(10)?,
    })
}

/// An endpoint's row; `aliases` is a JSON array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    pub container_id: String,
    pub network_id: String,
    pub endpoint_id: String,
    pub address: String,
    pub mac: String,
    pub aliases: String,
    pub host_interface: String,
}

const ENDPOINT_COLUMNS: &str =
    "container_id, network_id, endpoint_id, address, mac, aliases, host_interface";

fn endpoint_from(row: &Row<'_>) -> rusqlite::Result<EndpointRow> {
    Ok(EndpointRow {
        container_id: row.get(0)?,
        network_id: row.get(1)?,
        endpoint_id: row.get(2)?,
        address: row.get(3)?,
        mac: row.get(4)?,
        aliases: row.get(5)?,
        host_interface: row.get(6)?,
    })
}

/// A published port's row: `host_ip` `0.0.0.0` is every address of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRow {
    pub container_id: String,
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

const PORT_COLUMNS: &str = "container_id, protocol, host_ip, host_port, container_port";

fn port_from(row: &Row<'_>) -> rusqlite::Result<PortRow> {
    Ok(PortRow {
        container_id: row.get(0)?,
        protocol: row.get(1)?,
        host_ip: row.get(2)?,
        host_port: row.get(3)?,
        container_port: row.get(4)?,
    })
}

fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    from: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, from)?;
    rows.collect()
}

pub fn insert_network(conn: &Connection, row: &NetworkRow) -> rusqlite::Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO networks ({NETWORK_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            row.id,
            row.name,
            row.driver,
            row.bridge,
            row.subnet,
            row.gateway,
            row.internal as i64,
            row.ipv6 as i64,
            row.created,
            row.labels,
            row.options
        ],
    )?;
    Ok(())
}

/// Every network, by name.
pub fn networks(conn: &Connection) -> rusqlite::Result<Vec<NetworkRow>> {
    collect(
        conn,
        &format!("SELECT {NETWORK_COLUMNS} FROM networks ORDER BY name"),
        [],
        network_from,
    )
}

pub fn network_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<NetworkRow>> {
    conn.query_row(
        &format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE id = ?1"),
        [id],
        network_from,
    )
    .optional()
}

pub fn network_by_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<NetworkRow>> {
    conn.query_row(
        &format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE name = ?1"),
        [name],
        network_from,
    )
    .optional()
}

/// Networks whose id starts with `prefix` (lowercase hex), at most `limit`.
pub fn networks_by_id_prefix(
    conn: &Connection,
    prefix: &str,
    limit: usize,
) -> rusqlite::Result<Vec<NetworkRow>> {
    collect(
        conn,
        &format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE substr(id, 1, ?2) = ?1 LIMIT ?3"),
        params![prefix, prefix.len() as i64, limit as i64],
        network_from,
    )
}

/// Whether it was there.
pub fn delete_network(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM networks WHERE id = ?1", [id])? > 0)
}

pub fn insert_endpoint(conn: &Connection, row: &EndpointRow) -> rusqlite::Result<()> {
    conn.execute(
        &format!("INSERT INTO endpoints ({ENDPOINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            row.container_id,
            row.network_id,
            row.endpoint_id,
            row.address,
            row.mac,
            row.aliases,
            row.host_interface
        ],
    )?;
    Ok(())
}

pub fn endpoint(
    conn: &Connection,
    container_id: &str,
    network_id: &str,
) -> rusqlite::Result<Option<EndpointRow>> {
    conn.query_row(
        &format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE container_id = ?1 AND network_id = ?2"
        ),
        [container_id, network_id],
        endpoint_from,
    )
    .optional()
}

/// Whether it was there.
pub fn delete_endpoint(
    conn: &Connection,
    container_id: &str,
    network_id: &str,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "DELETE FROM endpoints WHERE container_id = ?1 AND network_id = ?2",
        [container_id, network_id],
    )? > 0)
}

/// A container's endpoints, in the order they were made.
pub fn endpoints_of(conn: &Connection, container_id: &str) -> rusqlite::Result<Vec<EndpointRow>> {
    collect(
        conn,
        &format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE container_id = ?1 ORDER BY rowid"),
        [container_id],
        endpoint_from,
    )
}

/// A network's endpoints, in the order they were made.
pub fn endpoints_on(conn: &Connection, network_id: &str) -> rusqlite::Result<Vec<EndpointRow>> {
    collect(
        conn,
        &format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE network_id = ?1 ORDER BY rowid"),
        [network_id],
        endpoint_from,
    )
}

pub fn insert_port(conn: &Connection, row: &PortRow) -> rusqlite::Result<()> {
    conn.execute(
        &format!("INSERT INTO published_ports ({PORT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![
            row.container_id,
            row.protocol,
            row.host_ip,
            row.host_port,
            row.container_port
        ],
    )?;
    Ok(())
}

/// Who holds `protocol` port `host_port` in a way that conflicts with `host_ip`:
/// the same address, or either side being every address (`0.0.0.0`).
pub fn port_holder(
    conn: &Connection,
    protocol: &str,
    host_ip: &str,
    host_port: u16,
) -> rusqlite::Result<Option<PortRow>> {
    conn.query_row(
        &format!(
            "SELECT {PORT_COLUMNS} FROM published_ports \
             WHERE protocol = ?1 AND host_port = ?3 \
               AND (host_ip = ?2 OR host_ip = '0.0.0.0' OR ?2 = '0.0.0.0') LIMIT 1"
        ),
        params![protocol, host_ip, host_port],
        port_from,
    )
    .optional()
}

/// A container's published ports, in the order they were published.
pub fn ports_of(conn: &Connection, container_id: &str) -> rusqlite::Result<Vec<PortRow>> {
    collect(
        conn,
        &format!(
            "SELECT {PORT_COLUMNS} FROM published_ports WHERE container_id = ?1 ORDER BY rowid"
        ),
        [container_id],
        port_from,
    )
}

/// How many rows went.
pub fn delete_ports_of(conn: &Connection, container_id: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM published_ports WHERE container_id = ?1",
        [container_id],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::containers::ContainerRow;
    use crate::store::Store;

    fn store_with_container(dir: &std::path::Path, id: &str) -> Store {
        let mut store = Store::open(dir).unwrap();
        let row = ContainerRow {
            id: id.to_string(),
            name: format!("c-{id}"),
            image_id: "sha256:00".to_string(),
            image_name: "busybox".to_string(),
            created: "2026-12-06T00:00:00Z".to_string(),
            config: "{}".to_string(),
            host_config: "{}".to_string(),
            path: "sh".to_string(),
            args: "[]".to_string(),
            started_at: String::new(),
            complete: true,
        };
        assert!(store.insert_container(&row).unwrap());
        store
    }

    fn port(container: &str, ip: &str, port: u16) -> PortRow {
        PortRow {
            container_id: container.to_string(),
            protocol: "tcp".to_string(),
            host_ip: ip.to_string(),
            host_port: port,
            container_port: 80,
        }
    }

    #[test]
    fn a_port_on_every_address_conflicts_with_the_same_port_on_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_container(dir.path(), "c1");
        let conn = store.db.conn();
        insert_port(conn, &port("c1", "0.0.0.0", 8080)).unwrap();
        assert!(insert_port(conn, &port("c1", "127.0.0.1", 8080)).is_err());
        insert_port(conn, &port("c1", "127.0.0.1", 8081)).unwrap();
        assert!(insert_port(conn, &port("c1", "0.0.0.0", 8081)).is_err());
        assert!(insert_port(conn, &port("c1", "127.0.0.1", 8081)).is_err());
        insert_port(conn, &port("c1", "127.0.0.2", 8081)).unwrap();
        let mut udp = port("c1", "0.0.0.0", 8080);
        udp.protocol = "udp".to_string();
        insert_port(conn, &udp).unwrap();
        assert_eq!(
            port_holder(conn, "tcp", "10.0.0.1", 8080)
                .unwrap()
                .unwrap()
                .host_ip,
            "0.0.0.0"
        );
        assert!(port_holder(conn, "tcp", "10.0.0.1", 8081)
            .unwrap()
            .is_none());
        assert_eq!(ports_of(conn, "c1").unwrap().len(), 4);
        assert_eq!(delete_ports_of(conn, "c1").unwrap(), 4);
    }

    #[test]
    fn a_container_row_cannot_go_while_it_has_an_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_container(dir.path(), "c1");
        let conn = store.db.conn();
        let network = NetworkRow {
            id: "ab".repeat(32),
            name: "n1".to_string(),
            driver: "bridge".to_string(),
            bridge: "br-abababababab".to_string(),
            subnet: "10.5.0.0/24".to_string(),
            gateway: "10.5.0.1".to_string(),
            internal: false,
            ipv6: false,
            created: "2026-12-06T00:00:00.000000000Z".to_string(),
            labels: "{}".to_string(),
            options: "{}".to_string(),
        };
        insert_network(conn, &network).unwrap();
        let endpoint = EndpointRow {
            container_id: "c1".to_string(),
            network_id: network.id.clone(),
            endpoint_id: "cd".repeat(32),
            address: "10.5.0.2".to_string(),
            mac: "02:42:0a:05:00:02".to_string(),
            aliases: "[]".to_string(),
            host_interface: "vethcdcdcdcdcdc".to_string(),
        };
        insert_endpoint(conn, &endpoint).unwrap();
        assert!(store.remove_container("c1").is_err());
        let conn = store.db.conn();
        assert!(delete_network(conn, &network.id).is_err());
        assert!(delete_endpoint(conn, "c1", &network.id).unwrap());
        assert!(store.remove_container("c1").unwrap());
    }
}
