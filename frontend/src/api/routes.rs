//! The Engine API's routes, under Docker's version prefixes (`/v1.41/containers/json`
//! and `/containers/json` alike), with the engine opened per request on a blocking
//! thread: the engine is synchronous (SQLite, the shim's and the runtime's command
//! lines), the connections are not.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;

use super::error::ApiError;
use super::{attach, containers, events, files, images, lifecycle, logs, networks, stats, system};
use super::{image_archive, registry};
use crate::container::lifecycle::Containers;

/// The newest API version served: dockerd 20.10's, which the docker CLI 20.10 and 28.x
/// and Docker's SDKs all negotiate down to.
pub const API_VERSION: &str = "1.41";
/// The oldest, as dockerd's.
pub const MIN_API_VERSION: &str = "1.24";

/// What every handler shares: where the store is, who waits to attach, and the
/// settings a SIGHUP reloads.
pub struct Engine {
    pub root: PathBuf,
    pub runroot: Option<PathBuf>,
    pub attach_waiters: super::attach::AttachWaiters,
    pub live: Arc<super::config::Live>,
    pub execs: super::exec::Execs,
    /// Never used: while it is open, the requests' own connections are never the
    /// store's last, and SQLite keeps its WAL files instead of making and removing
    /// them at each request.
    pub(super) _wal_keeper: std::sync::Mutex<crate::store::Store>,
}

pub type Shared = Arc<Engine>;

impl Engine {
    /// The engine on the store (repair ran once, at the daemon's start).
    pub fn containers(&self) -> Result<Containers, ApiError> {
        let store = crate::store::Store::open(&self.root).map_err(ApiError::internal)?;
        let runroot = crate::engine::runroot(&self.root, self.runroot.as_deref());
        Ok(crate::engine::containers_of(store, &self.root, &runroot)?)
    }
}

/// Runs engine work on a blocking thread.
pub async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("the request's worker failed: {e}")))?
}

pub fn router(engine: Shared) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(events::events))
        .route("/system/df", get(system::df))
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(lifecycle::create))
        .route("/containers/prune", post(lifecycle::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(lifecycle::start))
        .route("/containers/{id}/stop", post(lifecycle::stop))
        .route("/containers/{id}/restart", post(lifecycle::restart))
        .route("/containers/{id}/kill", post(lifecycle::kill))
        .route("/containers/{id}/pause", post(lifecycle::pause))
        .route("/containers/{id}/unpause", post(lifecycle::unpause))
        .route("/containers/{id}/rename", post(lifecycle::rename))
        .route("/containers/{id}/wait", post(lifecycle::wait))
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/resize", post(attach::resize))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/changes", get(files::changes))
        .route("/containers/{id}/export", get(files::export))
        .route(
            "/containers/{id}/archive",
            get(files::get_archive)
                .head(files::stat)
                .put(files::put_archive),
        )
        .route("/containers/{id}/exec", post(super::exec::create))
        .route("/exec/{id}/start", post(super::exec::start))
        .route("/exec/{id}/resize", post(super::exec::resize))
        .route("/exec/{id}/json", get(super::exec::inspect))
        .route("/containers/{id}", delete(lifecycle::remove))
        .route("/images/json", get(images::list))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect_one).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/images/prune", post(images::prune))
        .route("/images/create", post(registry::create))
        .route("/images/search", get(registry::search))
        .route("/images/get", get(image_archive::save))
        .route("/images/load", post(image_archive::load))
        .route("/auth", post(registry::auth))
        .route("/commit", post(image_archive::commit))
        .route(
            "/images/{*name}",
            get(images::get).post(images::post).delete(images::delete),
        )
        .fallback(page_not_found)
        .with_state(engine)
}

async fn page_not_found() -> ApiError {
    ApiError::not_found("page not found")
}

/// A `/vX.Y` prefix goes before routing; a version outside what is served is
/// refused as dockerd refuses it.
pub async fn strip_version(mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let Some(rest) = path.strip_prefix("/v") else {
        return next.run(request).await;
    };
    let (version, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some(parsed) = parse_version(version) else {
        return next.run(request).await;
    };
    if parsed > parse_version(API_VERSION).unwrap_or_default() {
        return ApiError::bad_request(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        ))
        .into_response();
    }
    if parsed < parse_version(MIN_API_VERSION).unwrap_or_default() {
        return ApiError::bad_request(format!(
            "client version {version} is too old. Minimum supported API version is \
             {MIN_API_VERSION}, please upgrade your client to a newer version"
        ))
        .into_response();
    }
    let tail = if tail.is_empty() { "/" } else { tail };
    let rewritten = match request.uri().query() {
        Some(query) => format!("{tail}?{query}"),
        None => tail.to_string(),
    };
    match rewritten.parse::<Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    }
    next.run(request).await
}

/// Errors made before or beside the handlers (a body over the limit, a query that
/// does not parse, a method the route lacks) as Docker's `{"message": ...}` too.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_string();
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        message
    };
    ApiError::new(status, message).into_response()
}

/// `1.41` as (1, 41).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(parse_version("1.9") < parse_version("1.41"));
        assert_eq!(parse_version("1.41"), Some((1, 41)));
        assert_eq!(parse_version("x"), None);
    }
}
