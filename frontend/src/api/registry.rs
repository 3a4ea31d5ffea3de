//! The registry's endpoints: `POST /images/create?fromImage=` (pull),
//! `POST /images/NAME/push`, `POST /auth` (login), `GET /images/search`. Pulls and
//! pushes stream Docker's JSON progress; credentials come only with the request
//! (`X-Registry-Auth`, the body of `/auth`): like dockerd, the daemon keeps none.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::progress::{self, PullJson, PushJson};
use super::queries::{self, Login, Params, PushTarget, SearchFilters};
use super::routes::Shared;
use super::stream::{json_lines, Lines};
use crate::image::auth::Credentials;
use crate::image::platform::Platform;
use crate::image::reference::Reference;
use crate::image::search::{self, SearchError};
use crate::image::transfer::{
    self, LoginError, PullError, PushSourceError, RegistryAuth, RegistryOptions,
};
use crate::registry::RegistryError;

const AUTH_HEADER: &str = "x-registry-auth";

/// The registry options of a request: its credentials, or none.
fn options_of(credentials: Option<Credentials>) -> RegistryOptions {
    RegistryOptions {
        auth: credentials.map_or(RegistryAuth::Anonymous, RegistryAuth::Given),
        ..RegistryOptions::default()
    }
}

fn request_credentials(headers: &HeaderMap) -> Result<Option<Credentials>, ApiError> {
    queries::registry_auth(headers.get(AUTH_HEADER).map(|v| v.as_bytes()))
}

/// Docker's status for what a registry said.
fn registry_status(e: &RegistryError) -> StatusCode {
    match e {
        RegistryError::PullAccessDenied { .. }
        | RegistryError::ManifestUnknown { .. }
        | RegistryError::NoPlatform { .. } => StatusCode::NOT_FOUND,
        RegistryError::Unauthorized { .. } | RegistryError::Token { .. } => {
            StatusCode::UNAUTHORIZED
        }
        RegistryError::Status { status: 403, .. } => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn transfer_error(e: PullError) -> ApiError {
    let status = match &e {
        PullError::Registry(inner) => registry_status(inner),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

fn push_source_error(e: PushSourceError) -> ApiError {
    let status = match &e {
        PushSourceError::NotLocal { .. } => StatusCode::NOT_FOUND,
        PushSourceError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

/// `POST /images/create`: a pull with `fromImage`, an import with `fromSrc`.
pub async fn create(
    State(engine): State<Shared>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let params = Params::new(pairs);
    let platform = queries::platform(params.get("platform"))?;
    if let Some(from_image) = params.get("fromImage") {
        let reference = queries::pull_reference(from_image, params.get("tag"))?;
        let options = options_of(request_credentials(&headers)?);
        return Ok(pull(engine, reference, platform, options).await);
    }
    match params.get("fromSrc") {
        Some("-") => super::image_archive::import(engine, params, platform, body).await,
        Some(source) => Err(ApiError::bad_request(format!(
            "{source}: berth imports from the request body only (fromSrc=-): download the \
             tarball and send it"
        ))),
        None => Err(ApiError::bad_request(
            "give fromImage to pull an image, or fromSrc=- to import one",
        )),
    }
}

async fn pull(
    engine: Shared,
    reference: Reference,
    platform: Option<Platform>,
    options: RegistryOptions,
) -> Response {
    json_lines(move |lines: &Lines| {
        let mut containers = engine.containers()?;
        let sink = PullJson::new(|line| lines.send(line));
        let on_pull = |event| sink.pull_event(event);
        let mut on_layer = |event| sink.layer_event(event);
        let pulling = transfer::pull(
            &mut containers.store,
            &reference,
            platform.as_ref(),
            &options,
            &on_pull,
            &mut on_layer,
        );
        let handle = tokio::runtime::Handle::current();
        // A client gone stops the pull: its downloads stay in the ingest to resume.
        let Some(pulled) = handle.block_on(async {
            tokio::select! {
                pulled = pulling => Some(pulled),
                () = lines.gone() => None,
            }
        }) else {
            return Ok(());
        };
        let pulled = pulled.map_err(transfer_error)?;
        lines.send(progress::status(&format!("Digest: {}", pulled.digest)));
        lines.send(progress::status(&pulled.status(&reference)));
        Ok(())
    })
    .await
}

/// `POST /images/NAME/push?tag=`: the tag, or every tag of the repository.
pub async fn push(
    engine: Shared,
    name: String,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let target = queries::push_target(&name, params.get("tag"))?;
    let options = options_of(request_credentials(&headers)?);
    Ok(json_lines(move |lines: &Lines| {
        let containers = engine.containers()?;
        let store = &containers.store;
        let images = match &target {
            PushTarget::One(target) => vec![(
                target.clone(),
                transfer::image_to_push(store, target).map_err(push_source_error)?,
            )],
            PushTarget::AllTags(repository) => {
                transfer::tags_to_push(store, repository).map_err(push_source_error)?
            }
        };
        let handle = tokio::runtime::Handle::current();
        for (target, record) in images {
            let sink = PushJson::new(|line| lines.send(line));
            let on_push = |event| sink.push_event(event);
            let pushing = transfer::push(store, &record, &target, &options, &on_push);
            let pushed = handle.block_on(async {
                tokio::select! {
                    pushed = pushing => Some(pushed),
                    () = lines.gone() => None,
                }
            });
            match pushed {
                Some(pushed) => pushed.map_err(transfer_error)?,
                None => return Ok(()),
            };
        }
        Ok(())
    })
    .await)
}

/// `POST /auth`: the credentials tried against the registry; nothing is kept.
pub async fn auth(body: Bytes) -> Result<Json<Value>, ApiError> {
    let login = Login::parse(&body)?;
    transfer::check_login(
        &login.domain,
        &login.credentials,
        &RegistryOptions::default(),
    )
    .await
    .map_err(|e| {
        let status = match &e {
            LoginError::Refused { .. } => StatusCode::UNAUTHORIZED,
            LoginError::Registry(inner) => registry_status(inner),
        };
        ApiError::new(status, e.to_string())
    })?;
    Ok(Json(
        json!({ "Status": "Login Succeeded", "IdentityToken": "" }),
    ))
}

/// `GET /images/search?term=&limit=&filters=`: a registry's catalog, as `berth
/// search` reads it (see `image::search`).
pub async fn search(
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Value>>, ApiError> {
    let params = Params::new(pairs);
    let term = params.get("term").unwrap_or_default().to_string();
    let limit = queries::search_limit(params.get("limit"))?;
    let filters = SearchFilters::parse(params.get("filters"))?;
    let options = options_of(request_credentials(&headers)?);
    let names = search::search(&options, &term, limit).await.map_err(|e| {
        let status = match &e {
            SearchError::Limit(_) => StatusCode::BAD_REQUEST,
            SearchError::Registry(inner) => registry_status(inner),
            SearchError::Auth(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    })?;
    // A catalog knows no stars, nor official or automated builds.
    let (stars, official, automated) = (0, false, false);
    Ok(Json(
        names
            .into_iter()
            .filter(|_| filters.keep(stars, official, automated))
            .map(|name| {
                json!({
                    "name": name,
                    "description": "",
                    "star_count": stars,
                    "is_official": official,
                    "is_automated": automated,
                })
            })
            .collect(),
    ))
}
