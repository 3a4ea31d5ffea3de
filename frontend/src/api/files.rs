//! A container's files over the API: `changes`, `export`, and `archive` (what
//! `docker cp` uses: HEAD for a path's stat, GET for a tar of it, PUT to unpack a
//! tar into a directory).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::json;

use super::containers::query_bool;
use super::error::ApiError;
use super::routes::{blocking, Shared};
use super::stream::{BodyReader, BodyWriter};
use crate::container::access::FilesError;
use crate::container::copy::{CopyOptions, HostDest, HostSource};
use crate::container::path_stat::PathStat;

/// Bytes of tar gathered before they go to the client (a tar is written in
/// 512-byte blocks).
const TAR_CHUNK: usize = 64 * 1024;

/// The header dockerd puts a path's stat in, base64 JSON.
const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

impl From<FilesError> for ApiError {
    fn from(e: FilesError) -> ApiError {
        match e {
            FilesError::Container(inner) => inner.into(),
            FilesError::NoSuchPath { .. } => ApiError::not_found(e.to_string()),
            FilesError::ReadOnly => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            FilesError::Copy { .. } => ApiError::bad_request(e.to_string()),
            other => ApiError::internal(other.to_string()),
        }
    }
}

pub async fn changes(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let containers = engine.containers()?;
        let container = containers.find(&id)?;
        let changes: Vec<_> = containers
            .changes(&container)?
            .iter()
            .map(|c| json!({ "Path": c.path, "Kind": c.kind.api_kind() }))
            .collect();
        Ok(Json(changes).into_response())
    })
    .await
}

pub async fn export(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (containers, container) = blocking(move || {
        let containers = engine.containers()?;
        let container = containers.find(&id)?;
        Ok((containers, container))
    })
    .await?;
    let (writer, body) = BodyWriter::new();
    // Once the tar streams, a failure can only cut it short: the client sees a
    // truncated archive, as from dockerd.
    tokio::task::spawn_blocking(move || {
        let batched = std::io::BufWriter::with_capacity(TAR_CHUNK, writer.clone());
        if let Err(e) = containers.export(&container, batched) {
            writer.fail(e.to_string());
        }
    });
    Ok(tar_response(body))
}

fn tar_response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/x-tar")], body).into_response()
}

fn required_path(query: &HashMap<String, String>) -> Result<String, ApiError> {
    query
        .get("path")
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| ApiError::bad_request("Bad parameter: 'path' cannot be empty"))
}

/// The path's stat in dockerd's header.
fn stat_header(stat: &PathStat) -> Result<HeaderValue, ApiError> {
    let json = serde_json::to_vec(stat).map_err(ApiError::internal)?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json))
        .map_err(ApiError::internal)
}

pub async fn stat(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let path = required_path(&query)?;
    let stat = blocking(move || {
        let containers = engine.containers()?;
        let container = containers.find(&id)?;
        Ok(containers.stat_path(&container, &path)?)
    })
    .await?;
    Ok(([(PATH_STAT_HEADER, stat_header(&stat)?)], StatusCode::OK).into_response())
}

pub async fn get_archive(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let path = required_path(&query)?;
    let (containers, container, stat) = blocking({
        let path = path.clone();
        move || {
            let containers = engine.containers()?;
            let container = containers.find(&id)?;
            let stat = containers.stat_path(&container, &path)?;
            Ok((containers, container, stat))
        }
    })
    .await?;
    let header_value = stat_header(&stat)?;
    let (writer, body) = BodyWriter::new();
    tokio::task::spawn_blocking(move || {
        let options = CopyOptions::default();
        let mut batched = std::io::BufWriter::with_capacity(TAR_CHUNK, writer.clone());
        let copied = containers.copy_from(&container, &path, HostDest::Tar(&mut batched), &options);
        match copied
            .map_err(|e| e.to_string())
            .and_then(|_| std::io::Write::flush(&mut batched).map_err(|e| e.to_string()))
        {
            Ok(()) => {}
            Err(message) => writer.fail(message),
        }
    });
    let mut response = tar_response(body);
    response
        .headers_mut()
        .insert(PATH_STAT_HEADER, header_value);
    Ok(response)
}

pub async fn put_archive(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let path = required_path(&query)?;
    let options = CopyOptions {
        archive: query_bool(&query, "copyUIDGID"),
        follow_link: false,
    };
    let mut reader = BodyReader::new(body);
    blocking(move || {
        let containers = engine.containers()?;
        let container = containers.find(&id)?;
        containers.copy_to(&container, HostSource::Tar(&mut reader), &path, &options)?;
        Ok(StatusCode::OK)
    })
    .await
}
