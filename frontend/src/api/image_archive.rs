//! Images from and to tarballs, and from containers: `GET /images/NAME/get` and
//! `GET /images/get?names=` (a docker-archive streamed as it is written),
//! `POST /images/load` (one, read as it arrives), `POST /images/create?fromSrc=-`
//! (import of a rootfs tarball) and `POST /commit`.

use std::io::{BufWriter, Write};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::bodies::parse_body;
use super::error::ApiError;
use super::progress;
use super::queries::{self, Params};
use super::routes::{blocking, Shared};
use super::stream::{json_lines, BodyReader, BodyWriter, Lines};
use crate::container::commit::{CommitContainerError, CommitRequest};
use crate::container::config::Config;
use crate::image::archive::{self, ArchiveError};
use crate::image::commit::CommitError;
use crate::image::import::{self, ImportError, ImportOptions};
use crate::image::local;
use crate::image::platform::Platform;

/// `GET /images/NAME/get`.
pub async fn save_one(engine: Shared, name: String) -> Result<Response, ApiError> {
    save_images(engine, vec![name]).await
}

/// `GET /images/get?names=a&names=b`.
pub async fn save(
    State(engine): State<Shared>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let names = Params::new(pairs).all("names");
    if names.is_empty() {
        return Err(ApiError::bad_request("no image given (?names=)"));
    }
    save_images(engine, names).await
}

async fn save_images(engine: Shared, names: Vec<String>) -> Result<Response, ApiError> {
    // Every name is looked up before the first byte: an unknown one is a 404, not
    // a tar cut short.
    let checked = names.clone();
    let lookup = engine.clone();
    blocking(move || {
        let containers = lookup.containers()?;
        for name in &checked {
            local::resolve(&containers.store, name)?;
        }
        Ok(())
    })
    .await?;
    let (writer, body) = BodyWriter::new();
    tokio::task::spawn_blocking(move || {
        let saved = engine
            .containers()
            .map_err(|e| e.message)
            .and_then(|containers| {
                let mut out = BufWriter::with_capacity(64 * 1024, writer.clone());
                archive::save(&containers.store, &names, &mut out).map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())
            });
        if let Err(message) = saved {
            writer.fail(message);
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

fn archive_error(e: ArchiveError) -> ApiError {
    let status = match &e {
        ArchiveError::Invalid { .. } | ArchiveError::Read(_) | ArchiveError::Reference(_) => {
            StatusCode::BAD_REQUEST
        }
        ArchiveError::Local(local::LocalError::NoSuchImage(_)) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

/// `POST /images/load`: a docker-archive or oci-archive body; each image loaded is
/// reported as `{"stream":"Loaded image: NAME\n"}`. `quiet` only silences progress
/// bars, which berth's load does not draw.
pub async fn load(State(engine): State<Shared>, body: Body) -> Response {
    let reader = BodyReader::new(body);
    json_lines(move |lines: &Lines| {
        let mut containers = engine.containers()?;
        let loaded = archive::load(&mut containers.store, reader).map_err(archive_error)?;
        for message in loaded.iter().flat_map(|image| image.messages()) {
            lines.send(progress::stream(&message));
        }
        Ok(())
    })
    .await
}

fn import_error(e: ImportError) -> ApiError {
    let status = match &e {
        ImportError::Change { .. } | ImportError::Reference(_) | ImportError::Source { .. } => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

/// `POST /images/create?fromSrc=-&repo=&tag=&message=&changes=`: the body is the
/// rootfs tarball; the answer `{"status":"sha256:..."}`, the new image's id.
pub async fn import(
    engine: Shared,
    params: Params,
    platform: Option<Platform>,
    body: Body,
) -> Result<Response, ApiError> {
    let options = ImportOptions {
        source_name: "-".to_string(),
        tag: queries::new_image_name(params.get("repo"), params.get("tag"))?,
        changes: params.all("changes"),
        message: params.get("message").map(str::to_string),
        platform,
        created: None,
    };
    let reader = BodyReader::new(body);
    Ok(json_lines(move |lines: &Lines| {
        let mut containers = engine.containers()?;
        let record =
            import::import(&mut containers.store, reader, &options).map_err(import_error)?;
        lines.send(progress::status(&record.id));
        Ok(())
    })
    .await)
}

fn commit_error(e: CommitContainerError) -> ApiError {
    let status = match e {
        CommitContainerError::Container(inner) => return inner.into(),
        CommitContainerError::UnknownChange(_)
        | CommitContainerError::BadChange { .. }
        | CommitContainerError::Commit(CommitError::Reference(_)) => StatusCode::BAD_REQUEST,
        CommitContainerError::NoImage(_) => StatusCode::NOT_FOUND,
        ref _other => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`, with an
/// optional container config as the body whose settings win over the container's.
pub async fn commit(
    State(engine): State<Shared>,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::new(pairs);
    let Some(id) = params.get("container").map(str::to_string) else {
        return Err(ApiError::bad_request("no container given (?container=)"));
    };
    let config = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        parse_body::<Option<Config>>(&body)?
    };
    let request = CommitRequest {
        tag: queries::new_image_name(params.get("repo"), params.get("tag"))?,
        author: params.get("author").map(str::to_string),
        message: params.get("comment").map(str::to_string),
        changes: params.all("changes"),
        pause: params.bool_or("pause", true),
        config,
    };
    blocking(move || {
        let mut containers = engine.containers()?;
        let container = containers.find(&id)?;
        let image = containers
            .commit(&container, &request)
            .map_err(commit_error)?;
        Ok((StatusCode::CREATED, Json(json!({ "Id": image.id }))).into_response())
    })
    .await
}
