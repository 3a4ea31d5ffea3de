//! `/containers/...`: listing and inspecting, in Docker's JSON shapes.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::bodies::parse_filters;
use super::error::ApiError;
use super::routes::{blocking, Shared};
use crate::container::inspect::ContainerJson;
use crate::container::listing::{command_line, status_text, Filters, ListOptions, Listed};
use crate::time::{now_unix, unix_seconds};

/// Docker's booleans in a query: `1`, `true`, `True`; anything else, or none, is false.
pub fn query_bool(query: &HashMap<String, String>, key: &str) -> bool {
    query
        .get(key)
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "True" | "TRUE"))
}

pub async fn list(
    State(engine): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let mut filters = Filters::default();
    for (key, value) in parse_filters(query.get("filters").map(String::as_str))? {
        filters.add(&key, &value)?;
    }
    let limit = match query.get("limit").map(|l| l.parse::<i64>()) {
        None => -1,
        Some(Ok(0)) => -1,
        Some(Ok(n)) => n,
        Some(Err(_)) => return Err(ApiError::bad_request("limit: expected an integer")),
    };
    let options = ListOptions {
        all: query_bool(&query, "all"),
        limit,
        filters,
    };
    blocking(move || {
        let containers = engine.containers()?;
        let now = now_unix();
        let listed = containers.list_filtered(&options)?;
        Ok(Json(
            listed
                .iter()
                .map(|item| summary(item, &containers.network_of(&item.container), now))
                .collect(),
        ))
    })
    .await
}

/// One container as `/containers/json` shows it.
fn summary(
    item: &Listed,
    network: &crate::container::inspect::ContainerNetwork,
    now: i64,
) -> Value {
    let Listed {
        container,
        state,
        published,
    } = item;
    let mut ports: Vec<Value> = published
        .iter()
        .map(|p| {
            json!({
                "IP": p.host_ip.to_string(),
                "PrivatePort": p.container_port,
                "PublicPort": p.host_port,
                "Type": p.protocol.as_str(),
            })
        })
        .collect();
    for key in container.config.exposed_ports.iter().flat_map(|e| e.keys()) {
        if published.iter().any(|p| &p.key() == key) {
            continue;
        }
        let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
        ports.push(json!({ "PrivatePort": port.parse::<u16>().unwrap_or(0), "Type": protocol }));
    }
    let networks = crate::container::inspect::networks(container, network, state.status.is_up());
    json!({
        "Id": container.row.id,
        "Names": [format!("/{}", container.row.name)],
        "Image": container.row.image_name,
        "ImageID": container.row.image_id,
        "Command": command_line(container),
        "Created": unix_seconds(&container.row.created).unwrap_or(now),
        "Ports": ports,
        "Labels": container.config.labels,
        "State": state.status.as_str(),
        "Status": status_text(state, now),
        "HostConfig": { "NetworkMode": container.host.network_mode },
        "NetworkSettings": { "Networks": networks },
        "Mounts": crate::container::inspect::mounts(container),
    })
}

pub async fn inspect(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<ContainerJson>, ApiError> {
    blocking(move || {
        let containers = engine.containers()?;
        let container = containers.find(&id)?;
        let mut json = containers.inspect(&container);
        json.exec_ids = engine.execs.live_ids(&container.row.id);
        Ok(Json(json))
    })
    .await
}

/// `GET /containers/{id}/top?ps_args=`: `ps` of the container's processes.
pub async fn top(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let ps_args: Vec<String> = query
        .get("ps_args")
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    blocking(move || {
        let containers = engine.containers()?;
        let container = containers.find(&id)?;
        if !container.state().status.is_up() {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                format!("Container {} is not running", container.row.id),
            ));
        }
        let cgroups = crate::container::stats::Cgroups::detect().map_err(ApiError::internal)?;
        let output = crate::container::top::top(&cgroups, &container.cgroup_path()?, &ps_args)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Json(
            json!({ "Titles": output.titles, "Processes": output.processes }),
        ))
    })
    .await
}
