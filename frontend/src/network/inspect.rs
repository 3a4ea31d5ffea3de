//! Docker's JSON for a network (`network inspect`, the API's `/networks`), fields in
//! Docker's order, and what `network ls` shows of one.

use std::collections::BTreeMap;

use serde::Serialize;

use super::networks::{endpoints_on, Builtin, Found, NetworkError};
use crate::store::Store;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkJson {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_from: ConfigFrom,
    pub config_only: bool,
    pub containers: BTreeMap<String, ContainerJson>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    pub subnet: String,
    pub gateway: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigFrom {
    pub network: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerJson {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `created` of `host` and `none`: they are not made, so they take the default
/// bridge's time, as Docker's take its daemon's first start.
pub fn inspect(
    store: &mut Store,
    found: &Found,
    builtin_created: &str,
) -> Result<NetworkJson, NetworkError> {
    let mut json = NetworkJson {
        name: found.name().to_string(),
        id: found.id(),
        created: builtin_created.to_string(),
        scope: "local".to_string(),
        driver: found.driver().to_string(),
        enable_ipv6: false,
        ipam: Ipam {
            driver: "default".to_string(),
            options: BTreeMap::new(),
            config: Vec::new(),
        },
        internal: false,
        attachable: false,
        ingress: false,
        config_from: ConfigFrom {
            network: String::new(),
        },
        config_only: false,
        containers: BTreeMap::new(),
        options: BTreeMap::new(),
        labels: BTreeMap::new(),
    };
    let Found::Bridge(network) = found else {
        return Ok(json);
    };
    json.created = network.created.clone();
    json.enable_ipv6 = network.ipv6;
    json.ipam.config.push(IpamConfig {
        subnet: network.subnet.to_string(),
        gateway: network.gateway.to_string(),
    });
    json.internal = network.internal;
    // Docker's user networks can be joined by `network connect`; so can ours.
    json.attachable = !network.is_default();
    json.options = network.options.clone();
    json.labels = network.labels.clone();
    for endpoint in endpoints_on(store, &network.id)? {
        let name = store
            .container(&endpoint.container_id)?
            .map(|row| row.name)
            .unwrap_or_default();
        json.containers.insert(
            endpoint.container_id.clone(),
            ContainerJson {
                name,
                endpoint_id: endpoint.endpoint_id.clone(),
                mac_address: endpoint.mac.clone(),
                ipv4_address: format!("{}/{}", endpoint.address, endpoint.prefix),
                ipv6_address: String::new(),
            },
        );
    }
    Ok(json)
}

/// Every network berth has, `host` and `none` included, by name (`network ls`'s
/// order), with how many containers are on each.
pub fn all(store: &mut Store) -> Result<Vec<(Found, usize)>, NetworkError> {
    let mut found: Vec<(Found, usize)> = Vec::new();
    for network in super::networks::list(store)? {
        let count = endpoints_on(store, &network.id)?.len();
        found.push((Found::Bridge(network), count));
    }
    found.extend(Builtin::ALL.map(|b| (Found::Builtin(b), 0)));
    found.sort_by(|a, b| a.0.name().cmp(b.0.name()));
    Ok(found)
}
