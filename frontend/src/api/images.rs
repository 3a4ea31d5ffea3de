//! `/images/...`: listing and inspecting, in Docker's JSON shapes. Image names hold
//! slashes (`127.0.0.1:5000/team/app`), so everything under `/images/` comes here
//! and the action is the last path segment, as dockerd's router does it.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::bodies::parse_filters;
use super::containers::query_bool;
use super::error::ApiError;
use super::routes::{blocking, Shared};
use crate::image::local::{self, Removal};
use crate::image::reference::familiar_of;
use crate::store::images::ImageRecord;
use crate::time::unix_seconds;

pub async fn list(
    State(engine): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    // `all` asks for intermediate images too: berth keeps none, so it changes nothing.
    let filters = parse_filters(query.get("filters").map(String::as_str))?;
    blocking(move || {
        let containers = engine.containers()?;
        let mut images = Vec::new();
        for record in containers.store.images().map_err(ApiError::internal)? {
            if !keep(&record, &filters)? {
                continue;
            }
            images.push(summary(&record));
        }
        Ok(Json(images))
    })
    .await
}

fn keep(record: &ImageRecord, filters: &[(String, String)]) -> Result<bool, ApiError> {
    for (key, value) in filters {
        let keep = match key.as_str() {
            "dangling" => match value.as_str() {
                "true" | "1" => record.tags.is_empty(),
                "false" | "0" => !record.tags.is_empty(),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter 'dangling={value}'"
                    )))
                }
            },
            "reference" => record.tags.iter().any(|t| {
                let familiar = familiar_of(t);
                familiar == *value
                    || familiar.split(':').next() == Some(value.as_str())
                    || t == value
            }),
            other => return Err(ApiError::bad_request(format!("invalid filter '{other}'"))),
        };
        if !keep {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One image as `/images/json` shows it.
pub(super) fn summary(record: &ImageRecord) -> Value {
    let tags: Vec<String> = record.tags.iter().map(|t| familiar_of(t)).collect();
    let digests: Vec<String> = record.repo_digests.iter().map(|d| familiar_of(d)).collect();
    json!({
        "Id": record.id,
        "ParentId": "",
        "RepoTags": tags,
        "RepoDigests": digests,
        "Created": record.created.as_deref().and_then(unix_seconds).unwrap_or(0),
        "Size": record.size,
        "VirtualSize": record.size,
        "SharedSize": -1,
        "Labels": Value::Null,
        "Containers": -1,
    })
}

/// `GET /images/NAME/json`, `/history` and `/get`.
pub async fn get(
    State(engine): State<Shared>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let Some((name, action)) = path.rsplit_once('/') else {
        return Err(ApiError::not_found("page not found"));
    };
    let name = name.to_string();
    let action = action.to_string();
    if action == "get" {
        return super::image_archive::save_one(engine, name).await;
    }
    blocking(move || {
        let containers = engine.containers()?;
        let store = &containers.store;
        match action.as_str() {
            "json" => {
                let (record, _) = local::resolve(store, &name)?;
                let inspected = crate::image::inspect::inspect_v1_41(store, &record)
                    .map_err(ApiError::internal)?;
                Ok(Json(inspected).into_response())
            }
            "history" => {
                let (record, _) = local::resolve(store, &name)?;
                let entries =
                    crate::image::inspect::history(store, &record).map_err(ApiError::internal)?;
                let rows: Vec<Value> = entries
                    .iter()
                    .map(|e| {
                        json!({
                            "Id": e.id.clone().unwrap_or_else(|| "<missing>".to_string()),
                            "Created": e.created.as_deref().and_then(unix_seconds).unwrap_or(0),
                            "CreatedBy": e.created_by,
                            "Tags": e.tags.iter().map(|t| familiar_of(t)).collect::<Vec<_>>(),
                            "Size": e.size,
                            "Comment": e.comment,
                        })
                    })
                    .collect();
                Ok(Json(rows).into_response())
            }
            _ => Err(ApiError::not_found("page not found")),
        }
    })
    .await
}

/// `POST /images/NAME/tag?repo=&tag=` and `POST /images/NAME/push?tag=`.
pub async fn post(
    State(engine): State<Shared>,
    Path(path): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some((name, "push")) = path.rsplit_once('/') {
        let params = super::queries::Params::new(pairs);
        return super::registry::push(engine, name.to_string(), params, headers).await;
    }
    let query: HashMap<String, String> = pairs.into_iter().collect();
    let Some((name, "tag")) = path.rsplit_once('/') else {
        return Err(ApiError::not_found("page not found"));
    };
    let name = name.to_string();
    let Some(repo) = query.get("repo").filter(|r| !r.is_empty()) else {
        return Err(ApiError::bad_request("tag: no repository given (?repo=)"));
    };
    let target = match query.get("tag").filter(|t| !t.is_empty()) {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo.clone(),
    };
    blocking(move || {
        let mut containers = engine.containers()?;
        local::tag(&mut containers.store, &name, &target)?;
        Ok(StatusCode::CREATED.into_response())
    })
    .await
}

/// `DELETE /images/NAME?force=`: what went, as Docker reports it.
pub async fn delete(
    State(engine): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let force = query_bool(&query, "force");
    blocking(move || {
        let mut containers = engine.containers()?;
        let removed = local::remove(&mut containers.store, &name, force)?;
        Ok(Json(removed.iter().map(removal).collect()))
    })
    .await
}

fn removal(r: &Removal) -> Value {
    match r {
        Removal::Untagged(name) => json!({ "Untagged": name }),
        Removal::Deleted(id) => json!({ "Deleted": id }),
    }
}

/// `POST /images/prune`: dangling images, or with `dangling=false` every unused one.
pub async fn prune(
    State(engine): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let filters = parse_filters(query.get("filters").map(String::as_str))?;
    let mut all = false;
    for (key, value) in &filters {
        match (key.as_str(), value.as_str()) {
            ("dangling", "false" | "0") => all = true,
            ("dangling", "true" | "1") => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter '{key}={value}'"
                )))
            }
        }
    }
    blocking(move || {
        let mut containers = engine.containers()?;
        let (removed, bytes) = local::prune(&mut containers.store, all)?;
        Ok(Json(json!({
            "ImagesDeleted": removed.iter().map(removal).collect::<Vec<_>>(),
            "SpaceReclaimed": bytes,
        })))
    })
    .await
}
