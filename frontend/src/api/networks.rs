//! `/networks/...`: Docker's network objects over berth's bridges and the store's IPAM.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::bodies::{parse_body, NetworkConnect, NetworkCreate};
use super::error::ApiError;
use super::routes::{blocking, Shared};
use crate::network::inspect::{self, NetworkJson};
use crate::network::networks::{self, NetworkError};

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

pub async fn create(State(engine): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let request = parse_body::<NetworkCreate>(&body)?.into_request()?;
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

pub async fn connect(
    State(engine): State<Shared>,
    Path(network): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (container, request) = parse_body::<NetworkConnect>(&body)?.endpoint()?;
    blocking(move || {
        let mut containers = engine.containers()?;
        let container = containers.find(&container)?;
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
    let body: NetworkConnect = parse_body(&body)?;
    blocking(move || {
        let mut containers = engine.containers()?;
        let container = containers.find(&body.container)?;
        containers.disconnect(&container, &network, body.force)?;
        Ok(StatusCode::OK)
    })
    .await
}
