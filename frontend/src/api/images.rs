//! `/images/...`: listing and inspecting, in Docker's JSON shapes. Image names hold
//! slashes (`127.0.0.1:5000/team/app`), so everything under `/images/` comes here
//! and the action is the last path segment, as dockerd's router does it.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::bodies::parse_filters;
use super::error::ApiError;
use super::routes::{blocking, Shared};
use crate::image::local;
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
fn summary(record: &ImageRecord) -> Value {
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

/// `GET /images/NAME/json` (and, later, the other per-image reads).
pub async fn get(
    State(engine): State<Shared>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let Some((name, action)) = path.rsplit_once('/') else {
        return Err(ApiError::not_found("page not found"));
    };
    let name = name.to_string();
    match action {
        "json" => {
            blocking(move || {
                let containers = engine.containers()?;
                let (record, _) = local::resolve(&containers.store, &name)?;
                let inspected = crate::image::inspect::inspect(&containers.store, &record)
                    .map_err(ApiError::internal)?;
                Ok(Json(inspected).into_response())
            })
            .await
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}
