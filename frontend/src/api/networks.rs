//! `/networks/...`: Docker's network objects over berth's bridges and the store's IPAM.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::lifecycle::parse_body;
use super::routes::{blocking, Shared};
use crate::container::networking::EndpointRequest;
use crate::network::inspect::{self, NetworkJson};
use crate::network::networks::{self, CreateRequest, NetworkError};

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> ApiError {
        let status = match &e {
            NetworkError::NotFound(_) => StatusCode::NOT_FOUND,
            NetworkError::NameTaken(_) | NetworkError::AlreadyConnected { .. } => {
                StatusCode::CONFLICT
            }
            NetworkError::Predefined(_) | NetworkError::ActiveEndpoints { .. } => {
                StatusCode::FORBIDDEN
            }
            NetworkError::Store(_) | NetworkError::Db(_) | NetworkError::Io { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    }
}

pub async fn list(State(engine): State<Shared>) -> Result<Json<Vec<NetworkJson>>, ApiError> {
    blocking(move || {
        let mut containers = engine.containers()?;
        let store = &mut containers.store;
        let created = networks::ensure_default(store)?.created;
        let mut listed = Vec::new();
        for (found, _) in inspect::all(store)? {
            listed.push(inspect::inspect(store, &found, &created)?);
        }
        Ok(Json(listed))
    })
    .await
}

pub async fn inspect_one(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<NetworkJson>, ApiError> {
    blocking(move || {
        let mut containers = engine.containers()?;
        let store = &mut containers.store;
        let created = networks::ensure_default(store)?.created;
        let found = networks::find(store, &id)?;
        Ok(Json(inspect::inspect(store, &found, &created)?))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    internal: bool,
    #[serde(rename = "IPAM")]
    ipam: Ipam,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Vec<IpamConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: String,
    gateway: String,
}

pub async fn create(State(engine): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: CreateBody = parse_body(&body)?;
    if body.name.is_empty() {
        return Err(ApiError::bad_request("network create: no name given"));
    }
    if body.ipam.config.len() > 1 {
        return Err(ApiError::bad_request(
            "berth networks take one IPAM config (one IPv4 subnet)",
        ));
    }
    let pool = body.ipam.config.into_iter().next().unwrap_or_default();
    let request = CreateRequest {
        name: body.name,
        driver: (!body.driver.is_empty()).then_some(body.driver),
        subnet: (!pool.subnet.is_empty()).then_some(pool.subnet),
        gateway: (!pool.gateway.is_empty()).then_some(pool.gateway),
        internal: body.internal,
        labels: body.labels,
        options: body.options,
    };
    blocking(move || {
        let mut containers = engine.containers()?;
        let network = networks::create(&mut containers.store, &request)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({ "Id": network.id, "Warning": "" })),
        )
            .into_response())
    })
    .await
}

pub async fn remove(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(move || {
        let mut containers = engine.containers()?;
        networks::remove(&mut containers.store, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

pub async fn prune(State(engine): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    blocking(move || {
        let mut containers = engine.containers()?;
        let removed = networks::prune(&mut containers.store)?;
        Ok(Json(json!({ "NetworksDeleted": removed })))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: EndpointConfig,
    force: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointConfig {
    aliases: Vec<String>,
    #[serde(rename = "IPAMConfig")]
    ipam_config: EndpointIpam,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    ipv4_address: String,
}

pub async fn connect(
    State(engine): State<Shared>,
    Path(network): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body: ConnectBody = parse_body(&body)?;
    let address = &body.endpoint_config.ipam_config.ipv4_address;
    let ipv4_address = if address.is_empty() {
        None
    } else {
        Some(
            address
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {address}")))?,
        )
    };
    let request = EndpointRequest {
        aliases: body.endpoint_config.aliases,
        ipv4_address,
    };
    blocking(move || {
        let mut containers = engine.containers()?;
        let container = containers.find(&body.container)?;
        containers.connect(&container, &network, &request)?;
        Ok(StatusCode::OK)
    })
    .await
}

pub async fn disconnect(
    State(engine): State<Shared>,
    Path(network): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body: ConnectBody = parse_body(&body)?;
    blocking(move || {
        let mut containers = engine.containers()?;
        let container = containers.find(&body.container)?;
        containers.disconnect(&container, &network, body.force)?;
        Ok(StatusCode::OK)
    })
    .await
}
