//! `/containers/create` and what changes a container's state: start, stop, restart,
//! kill, wait, pause, unpause, rename, remove. Status codes as dockerd's: 204 done,
//! 304 already so, 404 unknown, 409 in the wrong state.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::bodies::ContainerCreate;
use super::containers::query_bool;
use super::error::ApiError;
use super::routes::{blocking, Shared};
use crate::container::lifecycle::{Container, ContainerError, Containers, CreateRequest};
use crate::container::state::Status;
use crate::image::local;

pub async fn create(
    State(engine): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = ContainerCreate::parse(&body)?;
    let name = query.get("name").filter(|n| !n.is_empty()).cloned();
    let (config, host, endpoint) = body.into_parts()?;
    blocking(move || {
        let mut containers = engine.containers()?;
        let (image, _) = local::resolve(&containers.store, &config.image)?;
        let container = containers.create(CreateRequest {
            name,
            image_name: config.image.clone(),
            image_id: image.id,
            config,
            host,
            endpoint,
        })?;
        Ok((
            StatusCode::CREATED,
            Json(json!({ "Id": container.row.id, "Warnings": [] })),
        )
            .into_response())
    })
    .await
}

/// Runs `action` on the container `id` names, on a blocking thread: 204 when done.
async fn on_container(
    engine: Shared,
    id: String,
    action: impl FnOnce(&mut Containers, &Container) -> Result<(), ContainerError> + Send + 'static,
) -> Result<StatusCode, ApiError> {
    blocking(move || {
        let mut containers = engine.containers()?;
        let container = containers.find(&id)?;
        action(&mut containers, &container)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `?t=` of stop and restart: seconds, or the container's own timeout.
fn stop_timeout(query: &HashMap<String, String>) -> Result<Option<Duration>, ApiError> {
    match query.get("t").filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(|t| Some(Duration::from_secs(t.max(0) as u64)))
            .map_err(|_| ApiError::bad_request(format!("invalid value for t: {t}"))),
    }
}

pub async fn start(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(move || {
        let mut containers = engine.containers()?;
        let container = containers.find(&id)?;
        if container.state().status.is_up() {
            return Ok(StatusCode::NOT_MODIFIED);
        }
        containers.start(&container, &mut |c| engine.attach_waiters.connect_all(c))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

pub async fn stop(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let timeout = stop_timeout(&query)?;
    blocking(move || {
        let mut containers = engine.containers()?;
        let container = containers.find(&id)?;
        if !container.state().status.is_up() {
            return Ok(StatusCode::NOT_MODIFIED);
        }
        containers.stop(&container, timeout)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

pub async fn restart(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let timeout = stop_timeout(&query)?;
    blocking(move || {
        let mut containers = engine.containers()?;
        let container = containers.find(&id)?;
        containers.restart(&container, timeout, &mut |c| {
            engine.attach_waiters.connect_all(c)
        })?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

pub async fn kill(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let signal = query
        .get("signal")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| "KILL".to_string());
    on_container(engine, id, move |containers, container| {
        containers.kill(container, &signal)
    })
    .await
}

pub async fn pause(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    on_container(engine, id, move |containers, container| {
        containers.pause(container)
    })
    .await
}

pub async fn unpause(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    on_container(engine, id, move |containers, container| {
        containers.unpause(container)
    })
    .await
}

pub async fn rename(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let Some(name) = query.get("name").cloned() else {
        return Err(ApiError::bad_request("rename: no new name given (?name=)"));
    };
    on_container(engine, id, move |containers, container| {
        containers.rename(container, &name)
    })
    .await
}

pub async fn remove(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let force = query_bool(&query, "force");
    on_container(engine, id, move |containers, container| {
        containers.remove(container, force)
    })
    .await
}

/// `POST /containers/{id}/wait?condition=not-running|next-exit|removed`: the status
/// line at once (the docker CLI sends this before the start and waits for the
/// headers), the body once the condition holds, as dockerd does since API 1.30.
pub async fn wait(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let condition = query
        .get("condition")
        .filter(|c| !c.is_empty())
        .cloned()
        .unwrap_or_else(|| "not-running".to_string());
    if !matches!(condition.as_str(), "not-running" | "next-exit" | "removed") {
        return Err(ApiError::bad_request(format!(
            "invalid condition: {condition:?}: expected not-running, next-exit or removed"
        )));
    }
    let (mut containers, container) = blocking(move || {
        let containers = engine.containers()?;
        let container = containers.find(&id)?;
        Ok((containers, container))
    })
    .await?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<serde_json::Value>();
    tokio::task::spawn_blocking(move || {
        let outcome = wait_for(&mut containers, &container, &condition, &|| {
            done_tx.is_closed()
        });
        let body = match outcome {
            Ok(code) => json!({ "StatusCode": code, "Error": null }),
            Err(e) => json!({ "StatusCode": -1, "Error": { "Message": e.message } }),
        };
        let _ = done_tx.send(body);
    });
    let body = futures_util::stream::once(async move {
        let value = done_rx.await.unwrap_or_else(
            |_| json!({ "StatusCode": -1, "Error": { "Message": "the wait was cut short" } }),
        );
        Ok::<_, std::convert::Infallible>(Bytes::from(format!("{value}\n")))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// Blocks until `condition` holds for `container`; its exit status.
fn wait_for(
    containers: &mut crate::container::lifecycle::Containers,
    container: &crate::container::lifecycle::Container,
    condition: &str,
    client_gone: &dyn Fn() -> bool,
) -> Result<i32, ApiError> {
    let id = container.row.id.clone();
    let gone = || ApiError::bad_request("the client went away");
    let exists = |containers: &crate::container::lifecycle::Containers| -> Result<bool, ApiError> {
        Ok(containers
            .store
            .container(&id)
            .map_err(ApiError::internal)?
            .is_some())
    };
    if condition == "next-exit" || condition == "removed" {
        // The next exit of a container not started yet is the one after its start
        // (`docker run --rm` waits for the removal before it starts the container).
        while container.state().status == Status::Created && container.state().shim_pid.is_none() {
            if !exists(containers)? {
                return Err(ContainerError::NotFound(id).into());
            }
            if client_gone() {
                return Err(gone());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // In slices, so that a client that went away frees the thread.
    let code = loop {
        if let Some(code) = containers.wait_exit(container, Some(Duration::from_secs(1))) {
            break code;
        }
        if client_gone() {
            return Err(gone());
        }
    };
    let code = containers.exit_record(&id).unwrap_or(code);
    if condition == "removed" && container.host.auto_remove {
        // What the shim's exit command would do, done here rather than waited for
        // (a berth process less on the way), as `berth run --rm` does; whichever
        // comes second finds nothing left to do.
        if let Err(e) = containers.cleanup(container) {
            eprintln!("berth daemon: removing container {id}: {e}");
        }
    }
    if condition == "removed" {
        while exists(containers)? {
            if client_gone() {
                return Err(gone());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(code)
}

/// `POST /containers/prune`: every container that is not running goes.
pub async fn prune(State(engine): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    blocking(move || {
        let removed = engine.containers()?.prune_stopped()?;
        Ok(Json(
            json!({ "ContainersDeleted": removed, "SpaceReclaimed": 0 }),
        ))
    })
    .await
}
