//! Errors as the Engine API reports them: Docker's status codes and a
//! `{"message": ...}` body the docker CLI prints as is.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::container::lifecycle::ContainerError;
use crate::filters::FilterError;
use crate::image::local::LocalError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "message": self.message }))).into_response()
    }
}

impl From<ContainerError> for ApiError {
    fn from(e: ContainerError) -> ApiError {
        let e = match e {
            ContainerError::Network(inner) => return inner.into(),
            other => other,
        };
        let status = match &e {
            ContainerError::NotFound(_) => StatusCode::NOT_FOUND,
            ContainerError::Ambiguous(_) | ContainerError::InvalidName(_) => {
                StatusCode::BAD_REQUEST
            }
            ContainerError::NameInUse { .. }
            | ContainerError::RemoveRunning { .. }
            | ContainerError::NotRunning(_)
            | ContainerError::AlreadyPaused(_)
            | ContainerError::NotPaused(_)
            | ContainerError::Paused(_)
            | ContainerError::JoinNotRunning(_)
            | ContainerError::NetworkMode { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<LocalError> for ApiError {
    fn from(e: LocalError) -> ApiError {
        let status = match &e {
            LocalError::NoSuchImage(_) => StatusCode::NOT_FOUND,
            LocalError::Reference(_) | LocalError::Ambiguous { .. } => StatusCode::BAD_REQUEST,
            LocalError::ReferenceInUse { .. }
            | LocalError::ImageInUse { .. }
            | LocalError::MultipleRepositories { .. } => StatusCode::CONFLICT,
            LocalError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(format!("{e:#}"))
    }
}
