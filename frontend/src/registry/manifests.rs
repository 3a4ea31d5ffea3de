//! Manifests: GET (accepting the four types, the body checked against the digest
//! asked for or its digest computed), HEAD and PUT.

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::client::{digest_of, pull_scope, push_scope, read_limited, Client, Request, Target};
use super::error::{parse_error_body, RegistryError, RemoteError};
use crate::image::manifest::{ACCEPTED, OCI_INDEX, OCI_MANIFEST};
use crate::image::reference::{Digest, Reference};

/// Docker refuses manifests over 4 MiB; so does berth (they are read into memory).
const MANIFEST_MAX: usize = 4 << 20;
/// Error bodies are read up to this much.
const ERROR_BODY_MAX: usize = 64 << 10;

/// A manifest as fetched: its bytes, media type and digest (verified against the
/// requested digest, or computed from the bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestBody {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// What a `HEAD` of a manifest tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    pub digest: Option<Digest>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
}

impl Client {
    /// Fetches the manifest `reference` names (its digest if it has one, else its tag),
    /// accepting the four manifest types. Pulled by digest, the body must hash to it;
    /// by tag, its digest is computed (and must agree with `Docker-Content-Digest`).
    pub async fn get_manifest(&self, reference: &Reference) -> Result<ManifestBody, RegistryError> {
        self.check_domain(reference)?;
        let (object, expected) = object_of(reference);
        self.get_manifest_at(reference.path(), &object, expected.as_ref())
            .await
    }

    /// Fetches the manifest `digest` of `repository` (an index entry, say).
    pub async fn get_manifest_by_digest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<ManifestBody, RegistryError> {
        self.get_manifest_at(repository, &digest.to_string(), Some(digest))
            .await
    }

    async fn get_manifest_at(
        &self,
        repository: &str,
        object: &str,
        expected: Option<&Digest>,
    ) -> Result<ManifestBody, RegistryError> {
        let scopes = [pull_scope(repository)];
        let response = self
            .send(Request {
                method: Method::GET,
                target: Target::Path(format!("v2/{repository}/manifests/{object}")),
                headers: accept_manifests(),
                body: None,
                scopes: &scopes,
            })
            .await?;
        let action = format!("GET manifest {repository}:{object}");
        if response.status() == StatusCode::NOT_FOUND {
            let body = read_limited(response, ERROR_BODY_MAX)
                .await
                .unwrap_or_default();
            return Err(self.manifest_unknown(repository, object, parse_error_body(&body)));
        }
        let response = self
            .expect_status(response, StatusCode::OK, Some(repository), || {
                action.clone()
            })
            .await?;
        let header_type = content_type(response.headers());
        let header_digest = header_digest(response.headers());
        let bytes = read_limited(response, MANIFEST_MAX)
            .await
            .map_err(|detail| self.protocol(Some(repository), action.clone(), &detail))?;
        let digest = match expected {
            Some(expected) => {
                let got = digest_of(expected.algorithm(), &bytes);
                if &got != expected {
                    return Err(mismatch(self.domain(), repository, expected, &got));
                }
                got
            }
            None => {
                let got = digest_of("sha256", &bytes);
                match header_digest.filter(|d| d.algorithm() == "sha256") {
                    Some(claimed) if claimed != got => {
                        return Err(mismatch(self.domain(), repository, &claimed, &got))
                    }
                    _ => got,
                }
            }
        };
        let media_type = manifest_media_type(header_type.as_deref(), &bytes);
        Ok(ManifestBody {
            bytes,
            media_type,
            digest,
        })
    }

    /// `HEAD` of a manifest: its digest, media type and size without the body.
    pub async fn head_manifest(
        &self,
        reference: &Reference,
    ) -> Result<ManifestHead, RegistryError> {
        self.check_domain(reference)?;
        let (object, _) = object_of(reference);
        let repository = reference.path();
        let scopes = [pull_scope(repository)];
        let response = self
            .send(Request {
                method: Method::HEAD,
                target: Target::Path(format!("v2/{repository}/manifests/{object}")),
                headers: accept_manifests(),
                body: None,
                scopes: &scopes,
            })
            .await?;
        match response.status() {
            StatusCode::OK => Ok(ManifestHead {
                digest: header_digest(response.headers()),
                media_type: content_type(response.headers()),
                size: response.content_length(),
            }),
            StatusCode::NOT_FOUND => Err(self.manifest_unknown(repository, &object, Vec::new())),
            _ => Err(self
                .unexpected(
                    Some(repository),
                    format!("HEAD manifest {reference}"),
                    response,
                )
                .await),
        }
    }

    /// Puts a manifest under `reference`'s tag (or digest); returns its digest.
    pub async fn put_manifest(
        &self,
        reference: &Reference,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        self.check_domain(reference)?;
        let (object, _) = object_of(reference);
        let repository = reference.path();
        let digest = digest_of("sha256", bytes);
        let scopes = [push_scope(repository)];
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(media_type).map_err(|_| {
            self.protocol(
                Some(repository),
                format!("PUT manifest {reference}"),
                "the media type is not a header value",
            )
        })?;
        headers.insert(CONTENT_TYPE, value);
        let response = self
            .send(Request {
                method: Method::PUT,
                target: Target::Path(format!("v2/{repository}/manifests/{object}")),
                headers,
                body: Some(bytes::Bytes::copy_from_slice(bytes)),
                scopes: &scopes,
            })
            .await?;
        let response = self
            .expect_status(response, StatusCode::CREATED, Some(repository), || {
                format!("PUT manifest {reference}")
            })
            .await?;
        match header_digest(response.headers()) {
            Some(claimed) if claimed.algorithm() == "sha256" && claimed != digest => {
                Err(mismatch(self.domain(), repository, &digest, &claimed))
            }
            _ => Ok(digest),
        }
    }
}

impl Client {
    /// A 404 for manifest `object` (a tag or digest) of `repository`.
    fn manifest_unknown(
        &self,
        repository: &str,
        object: &str,
        remote: Vec<RemoteError>,
    ) -> RegistryError {
        RegistryError::ManifestUnknown {
            registry: self.domain().to_string(),
            repository: repository.to_string(),
            reference: format!("{repository}:{object}"),
            remote,
        }
    }
}

/// What a reference asks for: its digest if it has one, else its tag.
fn object_of(reference: &Reference) -> (String, Option<Digest>) {
    match (reference.digest(), reference.tag()) {
        (Some(digest), _) => (digest.to_string(), Some(digest.clone())),
        (None, Some(tag)) => (tag.to_string(), None),
        // Reference::parse gives a tag or a digest, always.
        (None, None) => ("latest".to_string(), None),
    }
}

fn accept_manifests() -> HeaderMap {
    let mut headers = HeaderMap::new();
    // The four types are header-safe ASCII constants.
    if let Ok(value) = HeaderValue::from_str(&ACCEPTED.join(", ")) {
        headers.insert(ACCEPT, value);
    }
    headers
}

fn mismatch(registry: &str, repository: &str, expected: &Digest, got: &Digest) -> RegistryError {
    RegistryError::DigestMismatch {
        registry: registry.to_string(),
        repository: repository.to_string(),
        expected: expected.to_string(),
        got: got.to_string(),
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next().unwrap_or_default().trim();
    (!media_type.is_empty()).then(|| media_type.to_string())
}

fn header_digest(headers: &HeaderMap) -> Option<Digest> {
    let value = headers.get("docker-content-digest")?.to_str().ok()?;
    Digest::parse(value.trim()).ok()
}

/// The media type of a fetched manifest: the header's when it is one of the four,
/// else the body's `mediaType`, else OCI's by the body's shape.
fn manifest_media_type(header: Option<&str>, body: &[u8]) -> String {
    if let Some(header) = header.filter(|h| ACCEPTED.contains(h)) {
        return header.to_string();
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Probe>(body) {
        Ok(Probe {
            media_type: Some(m),
            ..
        }) => m,
        Ok(Probe {
            manifests: Some(_), ..
        }) => OCI_INDEX.to_string(),
        _ => OCI_MANIFEST.to_string(),
    }
}

#[cfg(test)]
mod tests;
