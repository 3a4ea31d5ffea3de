//! Blobs: downloaded straight into the store's ingest (hashed as they come, resumed
//! with a `Range` request from what an earlier try left, tried again on connection
//! failures and 5xx), and uploaded (existence check, cross-repository mount, chunked
//! upload).

use std::io::Read;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode, Url};

use super::client::{pull_scope, push_scope, Client, Request, Target};
use super::error::RegistryError;
use crate::image::reference::Digest;
use crate::store::blobs::{BlobError, BlobStore, Ingest};

/// One step of a blob transfer, for progress reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// Bytes so far (resumed ones included) of `total` (0 when unknown).
    Progress { current: u64, total: u64 },
    /// The transfer failed with a transient error and is tried again after a delay.
    Retrying {
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
    /// All bytes are in; size and digest are being checked.
    Verifying,
}

/// How a blob came to be in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobPushed {
    AlreadyExists,
    MountedFrom(String),
    Uploaded,
}

type Report<'a> = &'a (dyn Fn(Transfer) + Send + Sync);

impl Client {
    fn blob_error(&self, repository: &str, digest: &Digest, source: BlobError) -> RegistryError {
        if let BlobError::WrongDigest { expected, got } = source {
            return RegistryError::DigestMismatch {
                registry: self.domain().to_string(),
                repository: repository.to_string(),
                expected,
                got,
            };
        }
        RegistryError::Blob {
            registry: self.domain().to_string(),
            repository: repository.to_string(),
            digest: digest.to_string(),
            source,
        }
    }

    /// Downloads blob `digest` of `repository` into `blobs`, verified against its
    /// digest and `size` (when the descriptor gives one). False when the store had it
    /// already. A download cut short is resumed from where it stopped; on a digest or
    /// size mismatch nothing of the blob stays in the store.
    pub async fn fetch_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: Option<u64>,
        blobs: &BlobStore,
        progress: Report<'_>,
    ) -> Result<bool, RegistryError> {
        // The ingest waits on a file lock while another writer (another pull, maybe in
        // this very task) has the blob: off the async threads, so it cannot stall them.
        let opened = {
            let (blobs, digest) = (blobs.clone(), digest.clone());
            tokio::task::spawn_blocking(move || blobs.ingest(&digest, size)).await
        };
        let opened = opened.map_err(|e| {
            self.protocol(
                Some(repository),
                format!("opening the ingest of {digest}"),
                &e.to_string(),
            )
        })?;
        let Some(mut ingest) = opened.map_err(|e| self.blob_error(repository, digest, e))? else {
            return Ok(false);
        };
        let mut delay = self.options().backoff;
        let mut attempt = 1;
        loop {
            match self
                .download(repository, digest, size, &mut ingest, progress)
                .await
            {
                Ok(()) => break,
                Err(e) if e.is_transient() && attempt < self.options().attempts => {
                    progress(Transfer::Retrying {
                        attempt,
                        delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error: e.to_string(),
                    });
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                Err(mut e) => {
                    if let RegistryError::Transport { detail, .. } = &mut e {
                        detail.push_str(&format!(" (gave up after {attempt} tries)"));
                    }
                    if matches!(
                        &e,
                        RegistryError::Blob {
                            source: BlobError::TooLong { .. },
                            ..
                        }
                    ) {
                        // More bytes than the descriptor allows: none of them can be
                        // this blob's, and a resume must not start from them.
                        let _ = ingest.discard();
                    }
                    return Err(e);
                }
            }
        }
        progress(Transfer::Verifying);
        ingest
            .commit()
            .map_err(|e| self.blob_error(repository, digest, e))?;
        Ok(true)
    }

    async fn download(
        &self,
        repository: &str,
        digest: &Digest,
        size: Option<u64>,
        ingest: &mut Ingest,
        progress: Report<'_>,
    ) -> Result<(), RegistryError> {
        let offset = ingest.offset();
        if offset > 0 && size == Some(offset) {
            // An earlier try got every byte; only the commit is left.
            return Ok(());
        }
        let mut headers = HeaderMap::new();
        if offset > 0 {
            if let Ok(value) = HeaderValue::from_str(&format!("bytes={offset}-")) {
                headers.insert(RANGE, value);
            }
        }
        let action = format!("GET blob {digest}");
        let scopes = [pull_scope(repository)];
        let response = self
            .send(Request {
                method: Method::GET,
                target: Target::Path(format!("v2/{repository}/blobs/{digest}")),
                headers,
                body: None,
                scopes: &scopes,
            })
            .await?;
        let restarted = |detail: &str| RegistryError::Transport {
            registry: self.domain().to_string(),
            action: action.clone(),
            detail: detail.to_string(),
        };
        let blob_error = |e| self.blob_error(repository, digest, e);
        match response.status() {
            StatusCode::OK => {
                if offset > 0 {
                    // The server ignored the Range: it sends the whole blob again.
                    ingest.restart().map_err(blob_error)?;
                }
            }
            StatusCode::PARTIAL_CONTENT if offset > 0 => {
                if range_start(&response) != Some(offset) {
                    ingest.restart().map_err(blob_error)?;
                    return Err(restarted("the registry resumed at another offset"));
                }
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                ingest.restart().map_err(blob_error)?;
                return Err(restarted("the registry cannot resume this blob"));
            }
            _ => {
                return Err(self
                    .unexpected(Some(repository), action.clone(), response)
                    .await)
            }
        }
        let start = ingest.offset();
        let total = size
            .or_else(|| response.content_length().map(|l| l + start))
            .unwrap_or(0);
        progress(Transfer::Progress {
            current: start,
            total,
        });
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport(action.clone(), &e))?;
            ingest.write(&chunk).map_err(blob_error)?;
            progress(Transfer::Progress {
                current: ingest.offset(),
                total,
            });
        }
        match size {
            Some(size) if ingest.offset() < size => Err(restarted(&format!(
                "the body ended after {} of {size} bytes",
                ingest.offset()
            ))),
            _ => Ok(()),
        }
    }

    /// The size of blob `digest` in `repository`, or None if it is not there.
    pub async fn blob_exists(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        self.blob_head(repository, digest, &[pull_scope(repository)])
            .await
    }

    async fn blob_head(
        &self,
        repository: &str,
        digest: &Digest,
        scopes: &[String],
    ) -> Result<Option<u64>, RegistryError> {
        let response = self
            .send(Request {
                method: Method::HEAD,
                target: Target::Path(format!("v2/{repository}/blobs/{digest}")),
                headers: HeaderMap::new(),
                body: None,
                scopes,
            })
            .await?;
        match response.status() {
            StatusCode::OK => Ok(Some(response.content_length().unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self
                .unexpected(Some(repository), format!("HEAD blob {digest}"), response)
                .await),
        }
    }

    /// Puts blob `digest` from `blobs` into `repository`: nothing if it is there, a
    /// mount from the first of `mount_from` (repositories of the same registry) that
    /// has it, else a chunked upload. Tried again on transient failures.
    pub async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        blobs: &BlobStore,
        mount_from: &[String],
        progress: Report<'_>,
    ) -> Result<BlobPushed, RegistryError> {
        let scopes = [push_scope(repository)];
        if self.blob_head(repository, digest, &scopes).await?.is_some() {
            return Ok(BlobPushed::AlreadyExists);
        }
        let mut delay = self.options().backoff;
        let mut attempt = 1;
        loop {
            match self
                .upload(repository, digest, blobs, mount_from, progress)
                .await
            {
                Err(e) if e.is_transient() && attempt < self.options().attempts => {
                    progress(Transfer::Retrying {
                        attempt,
                        delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error: e.to_string(),
                    });
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn upload(
        &self,
        repository: &str,
        digest: &Digest,
        blobs: &BlobStore,
        mount_from: &[String],
        progress: Report<'_>,
    ) -> Result<BlobPushed, RegistryError> {
        let uploads = format!("v2/{repository}/blobs/uploads/");
        let mut session = None;
        if let Some(from) = mount_from.iter().find(|from| *from != repository) {
            let scopes = [push_scope(repository), pull_scope(from)];
            let path = format!("{uploads}?mount={digest}&from={from}");
            let response = self.post(path, &scopes).await?;
            match response.status() {
                StatusCode::CREATED => return Ok(BlobPushed::MountedFrom(from.clone())),
                // Not mountable from there: the registry opened an upload instead.
                StatusCode::ACCEPTED => {
                    session = Some(self.location(repository, "mount", &response)?)
                }
                _ => {
                    return Err(self
                        .unexpected(
                            Some(repository),
                            format!("mount {digest} from {from}"),
                            response,
                        )
                        .await)
                }
            }
        }
        let scopes = [push_scope(repository)];
        let mut location = match session {
            Some(url) => url,
            None => {
                let response = self.post(uploads, &scopes).await?;
                let response = self
                    .expect_status(response, StatusCode::ACCEPTED, Some(repository), || {
                        format!("start upload of {digest}")
                    })
                    .await?;
                self.location(repository, "start upload", &response)?
            }
        };
        let path = blobs.path(digest);
        let blob_error = |e| self.blob_error(repository, digest, e);
        let io_error = |source| {
            blob_error(BlobError::Io {
                path: path.clone(),
                source,
            })
        };
        let mut file = std::fs::File::open(&path).map_err(io_error)?;
        let total = file.metadata().map_err(io_error)?.len();
        let chunk_size = self.options().chunk_size.max(1);
        let mut offset = 0u64;
        progress(Transfer::Progress { current: 0, total });
        loop {
            let mut chunk = Vec::with_capacity(chunk_size);
            (&mut file)
                .take(chunk_size as u64)
                .read_to_end(&mut chunk)
                .map_err(io_error)?;
            if chunk.is_empty() {
                break;
            }
            let end = offset + chunk.len() as u64 - 1;
            let mut headers = HeaderMap::new();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            // The distribution spec's form: `start-end`, inclusive, no unit.
            if let Ok(value) = HeaderValue::from_str(&format!("{offset}-{end}")) {
                headers.insert(CONTENT_RANGE, value);
            }
            let length = chunk.len() as u64;
            let response = self
                .send(Request {
                    method: Method::PATCH,
                    target: Target::Url(location.clone()),
                    headers,
                    body: Some(chunk.into()),
                    scopes: &scopes,
                })
                .await?;
            let response = self
                .expect_status(response, StatusCode::ACCEPTED, Some(repository), || {
                    format!("upload of {digest}")
                })
                .await?;
            location = self.location(repository, "upload", &response)?;
            offset += length;
            progress(Transfer::Progress {
                current: offset,
                total,
            });
        }
        location
            .query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let response = self
            .send(Request {
                method: Method::PUT,
                target: Target::Url(location),
                headers: HeaderMap::new(),
                body: Some(bytes::Bytes::new()),
                scopes: &scopes,
            })
            .await?;
        self.expect_status(response, StatusCode::CREATED, Some(repository), || {
            format!("finish upload of {digest}")
        })
        .await?;
        Ok(BlobPushed::Uploaded)
    }

    async fn post(&self, path: String, scopes: &[String]) -> Result<Response, RegistryError> {
        self.send(Request {
            method: Method::POST,
            target: Target::Path(path),
            headers: HeaderMap::new(),
            body: Some(bytes::Bytes::new()),
            scopes,
        })
        .await
    }

    /// An upload's `Location`, resolved against the request it answered.
    fn location(
        &self,
        repository: &str,
        action: &str,
        response: &Response,
    ) -> Result<Url, RegistryError> {
        response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| response.url().join(l).ok())
            .ok_or_else(|| {
                self.protocol(
                    Some(repository),
                    action.to_string(),
                    "the registry's answer has no usable Location",
                )
            })
    }
}

/// The first byte of a 206's `Content-Range: bytes START-END/TOTAL`.
fn range_start(response: &Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}
