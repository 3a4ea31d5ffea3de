//! [`Client`]: one registry host, one operation. The `/v2/` ping (which picks the
//! scheme and learns the challenge), every request's `Authorization`, redirects
//! followed by hand, manifests, catalog and tags. Blobs are in `blob.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};
use sha2::{Digest as _, Sha256, Sha512};
use tokio::sync::OnceCell;

use super::auth::{self, TokenRequest};
use super::challenge::{self, Challenge};
use super::endpoint::{authority, endpoint_host, plain_http_allowed, same_origin, scheme_allowed};
use super::error::{parse_error_body, RegistryError};
use crate::image::auth::{AuthFile, Credentials};
use crate::image::reference::{Digest, Reference};

/// Error bodies are read up to this much.
const ERROR_BODY_MAX: usize = 64 << 10;
/// A redirect chain longer than this is a loop.
const REDIRECTS_MAX: usize = 10;
/// Upload chunk size unless the options say otherwise.
pub const DEFAULT_CHUNK_SIZE: usize = 8 << 20;

/// Where a client's credentials come from.
#[derive(Clone, Default)]
pub enum CredentialSource {
    #[default]
    Anonymous,
    /// Docker's config.json: the entry for the client's registry, if any.
    DockerConfig(Arc<AuthFile>),
    Explicit(Credentials),
}

impl std::fmt::Debug for CredentialSource {
    /// Never the password: options end up in logs and error reports.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Anonymous => f.write_str("Anonymous"),
            CredentialSource::DockerConfig(file) => {
                write!(f, "DockerConfig({})", file.path().display())
            }
            CredentialSource::Explicit(c) => write!(f, "Explicit({}:<redacted>)", c.username),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Hosts (`host:port`, `host`, or an IP range `10.0.0.0/8`) that may be reached over
    /// plain http, or over https without verifying the certificate: Docker's
    /// `insecure-registries`. Loopback hosts always may.
    pub insecure_registries: Vec<String>,
    pub credentials: CredentialSource,
    pub user_agent: String,
    /// Tries of one blob transfer when the connection fails or the server answers 5xx.
    pub attempts: u32,
    /// Wait before the second try; doubled for each one after.
    pub backoff: Duration,
    /// Bytes per PATCH of a blob upload.
    pub chunk_size: usize,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            insecure_registries: Vec::new(),
            credentials: CredentialSource::Anonymous,
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
            attempts: 3,
            backoff: Duration::from_millis(500),
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// What the ping learnt: where the API is.
#[derive(Debug)]
struct Base {
    url: Url,
}

/// A client of one registry host for one operation.
pub struct Client {
    domain: String,
    host: String,
    options: ClientOptions,
    credentials: Option<Credentials>,
    /// For the registry's own origin: skips certificate checks for an insecure host.
    http: reqwest::Client,
    /// For every other origin (redirect targets, token realms): always verifies.
    verified: reqwest::Client,
    base: OnceCell<Base>,
    /// The challenge to answer: the ping's, or a later 401's (some registries let
    /// `/v2/` through and challenge only per repository).
    challenge: Mutex<Option<Challenge>>,
    /// Tokens by scope set, for this operation.
    tokens: Mutex<HashMap<String, String>>,
}

/// One request as the operations describe it; `send` adds auth and follows redirects.
pub(crate) struct Request<'a> {
    pub method: Method,
    /// A path under the API root (`v2/NAME/blobs/DIGEST`) or an absolute URL
    /// (an upload's `Location`).
    pub target: Target,
    pub headers: HeaderMap,
    pub body: Option<bytes::Bytes>,
    pub scopes: &'a [String],
}

pub(crate) enum Target {
    Path(String),
    Url(Url),
}

impl Client {
    /// A client for the registry of `domain` (as a reference names it: `docker.io`,
    /// `localhost:5000`). Nothing is sent until the first operation.
    pub fn new(domain: &str, options: ClientOptions) -> Result<Client, RegistryError> {
        let host = endpoint_host(domain).to_string();
        let credentials = match &options.credentials {
            CredentialSource::Anonymous => None,
            CredentialSource::DockerConfig(file) => file.credentials(domain),
            CredentialSource::Explicit(c) => Some(c.clone()),
        };
        let insecure = plain_http_allowed(&host, &options.insecure_registries);
        let build = |accept_invalid: bool| {
            reqwest::Client::builder()
                .user_agent(options.user_agent.clone())
                // Redirects are followed in `send`, which decides where credentials go.
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(30))
                // A stalled transfer fails (and is retried) instead of hanging forever.
                .read_timeout(Duration::from_secs(60))
                .danger_accept_invalid_certs(accept_invalid)
                .build()
                .map_err(|e| RegistryError::Transport {
                    registry: domain.to_string(),
                    action: "setting up the HTTP client".to_string(),
                    detail: chain(&e),
                })
        };
        // Docker's insecure registries are tried over https without verification
        // first, then over plain http.
        let http = build(insecure)?;
        let verified = if insecure {
            build(false)?
        } else {
            http.clone()
        };
        Ok(Client {
            domain: domain.to_string(),
            host,
            options,
            credentials,
            http,
            verified,
            base: OnceCell::new(),
            challenge: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The registry domain this client serves (`docker.io`, `127.0.0.1:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Checks that the registry answers `/v2/`, and learns its scheme and challenge.
    pub async fn ping(&self) -> Result<(), RegistryError> {
        self.base().await.map(|_| ())
    }

    /// The API root: `https://host/`, or `http://host/` where https failed and plain
    /// http is allowed.
    pub async fn base_url(&self) -> Result<Url, RegistryError> {
        Ok(self.base().await?.url.clone())
    }

    async fn base(&self) -> Result<&Base, RegistryError> {
        self.base.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Base, RegistryError> {
        let https = self.root("https")?;
        let https_error = match self.http.get(self.v2(&https)?).send().await {
            Ok(response) => return self.pinged(https, response),
            Err(e) => e,
        };
        if !plain_http_allowed(&self.host, &self.options.insecure_registries) {
            return Err(self.transport(format!("GET {}", self.v2(&https)?), &https_error));
        }
        let http = self.root("http")?;
        match self.http.get(self.v2(&http)?).send().await {
            Ok(response) => self.pinged(http, response),
            Err(e) => Err(RegistryError::Transport {
                registry: self.domain.clone(),
                action: format!("reaching {}/v2/ over https and http", self.host),
                detail: format!("https: {}; http: {}", chain(&https_error), chain(&e)),
            }),
        }
    }

    fn root(&self, scheme: &str) -> Result<Url, RegistryError> {
        Url::parse(&format!("{scheme}://{}/", self.host)).map_err(|e| RegistryError::Protocol {
            registry: self.domain.clone(),
            repository: None,
            action: "making the registry URL".to_string(),
            detail: e.to_string(),
        })
    }

    fn v2(&self, root: &Url) -> Result<Url, RegistryError> {
        self.join(root, "v2/")
    }

    fn join(&self, root: &Url, path: &str) -> Result<Url, RegistryError> {
        root.join(path).map_err(|e| RegistryError::Protocol {
            registry: self.domain.clone(),
            repository: None,
            action: format!("making the URL of {path}"),
            detail: e.to_string(),
        })
    }

    /// 200: no auth; 401: the challenge to answer from now on; anything else below 500
    /// still means a registry is there (some answer `/v2/` oddly); 5xx is an error.
    fn pinged(&self, url: Url, response: Response) -> Result<Base, RegistryError> {
        let status = response.status();
        if status.is_server_error() {
            return Err(RegistryError::Status {
                registry: self.domain.clone(),
                repository: None,
                action: format!("GET {}", response.url()),
                status: status.as_u16(),
                remote: Vec::new(),
            });
        }
        if status == StatusCode::UNAUTHORIZED {
            *lock(&self.challenge) = usable_challenge(response.headers());
        }
        Ok(Base { url })
    }

    /// Sends `request` to the registry: its `Authorization` (basic, or a bearer token for
    /// its scopes), redirects followed with credentials kept to the registry's own origin
    /// and plain http refused where it is not allowed, one more try with a new token
    /// when the registry answers 401 with a bearer challenge. The final response is
    /// returned whatever its status.
    pub(crate) async fn send(&self, request: Request<'_>) -> Result<Response, RegistryError> {
        let base = self.base().await?;
        let mut url = match &request.target {
            Target::Path(path) => self.join(&base.url, path)?,
            Target::Url(url) => url.clone(),
        };
        let mut method = request.method.clone();
        let mut body = request.body.clone();
        let mut hops = 0;
        let mut retried = false;
        loop {
            if !scheme_allowed(&url, &self.options.insecure_registries) {
                return Err(RegistryError::PlainHttpRefused {
                    registry: self.domain.clone(),
                    url: url.to_string(),
                });
            }
            let own = same_origin(&url, &base.url);
            let client = if own { &self.http } else { &self.verified };
            let mut builder = client
                .request(method.clone(), url.clone())
                .headers(request.headers.clone());
            // Credentials go to the registry's origin only: a blob redirected to a
            // storage host must not carry them (the storage URL is signed already).
            if own {
                if let Some(value) = self.authorization(request.scopes).await? {
                    builder = builder.header(reqwest::header::AUTHORIZATION, value);
                }
            }
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let action = format!("{method} {url}");
            let response = builder
                .send()
                .await
                .map_err(|e| self.transport(action, &e))?;
            let status = response.status();
            if let Some(next) = redirect_target(&response) {
                hops += 1;
                if hops > REDIRECTS_MAX {
                    return Err(self.protocol(
                        None,
                        format!("{method} {url}"),
                        "too many redirects",
                    ));
                }
                url = next;
                if status == StatusCode::SEE_OTHER {
                    method = Method::GET;
                    body = None;
                }
                continue;
            }
            if status == StatusCode::UNAUTHORIZED && own && !retried {
                retried = true;
                match usable_challenge(response.headers()) {
                    Some(challenge) if challenge.is_bearer() => {
                        // An expired token, a registry that wants more scopes than we
                        // asked for, or one that challenges only now: one more try with
                        // a token for what it named.
                        let scopes = auth::merge_scopes(request.scopes, &challenge);
                        let token = self.fetch_token(&challenge, &scopes).await?;
                        self.remember(request.scopes, token);
                        *lock(&self.challenge) = Some(challenge);
                        continue;
                    }
                    Some(challenge) if self.credentials.is_some() => {
                        let was_basic =
                            lock(&self.challenge).as_ref().is_some_and(|c| c.is_basic());
                        *lock(&self.challenge) = Some(challenge);
                        if !was_basic {
                            continue;
                        }
                    }
                    _ => {}
                }
            }
            return Ok(response);
        }
    }

    async fn authorization(&self, scopes: &[String]) -> Result<Option<HeaderValue>, RegistryError> {
        let Some(challenge) = lock(&self.challenge).clone() else {
            return Ok(None);
        };
        if challenge.is_basic() {
            return Ok(self.credentials.as_ref().and_then(auth::basic));
        }
        let key = scopes.join(" ");
        let cached = lock(&self.tokens).get(&key).cloned();
        let token = match cached {
            Some(token) => token,
            None => {
                let token = self.fetch_token(&challenge, scopes).await?;
                self.remember(scopes, token.clone());
                token
            }
        };
        Ok(auth::bearer(&token))
    }

    async fn fetch_token(
        &self,
        challenge: &Challenge,
        scopes: &[String],
    ) -> Result<String, RegistryError> {
        // The realm is another origin: the verifying client, whatever the registry.
        auth::fetch_token(
            &self.verified_for_realm(challenge),
            TokenRequest {
                registry: &self.domain,
                challenge,
                scopes,
                credentials: self.credentials.as_ref(),
                insecure: &self.options.insecure_registries,
            },
        )
        .await
    }

    /// The token server of an insecure registry is usually on the same insecure host.
    fn verified_for_realm(&self, challenge: &Challenge) -> reqwest::Client {
        let realm = challenge.param("realm").and_then(|r| Url::parse(r).ok());
        match realm {
            Some(realm) if authority(&realm) == self.host => self.http.clone(),
            _ => self.verified.clone(),
        }
    }

    fn remember(&self, scopes: &[String], token: String) {
        lock(&self.tokens).insert(scopes.join(" "), token);
    }

    /// The action names the URL; reqwest's text would name it again.
    pub(crate) fn transport(&self, action: String, error: &reqwest::Error) -> RegistryError {
        let mut detail = chain(error);
        if let Some(url) = error.url() {
            detail = detail.replace(&format!(" for url ({url})"), "");
        }
        RegistryError::Transport {
            registry: self.domain.clone(),
            action,
            detail,
        }
    }

    pub(crate) fn protocol(
        &self,
        repository: Option<&str>,
        action: String,
        detail: &str,
    ) -> RegistryError {
        RegistryError::Protocol {
            registry: self.domain.clone(),
            repository: repository.map(str::to_string),
            action,
            detail: detail.to_string(),
        }
    }

    /// `response` when its status is `expected`; else the error [`Client::unexpected`]
    /// makes of it.
    pub(crate) async fn expect_status(
        &self,
        response: Response,
        expected: StatusCode,
        repository: Option<&str>,
        action: impl FnOnce() -> String,
    ) -> Result<Response, RegistryError> {
        if response.status() == expected {
            return Ok(response);
        }
        Err(self.unexpected(repository, action(), response).await)
    }

    /// An error for a status the operation did not expect: 401 as unauthorized, the
    /// registry's error body otherwise.
    pub(crate) async fn unexpected(
        &self,
        repository: Option<&str>,
        action: String,
        response: Response,
    ) -> RegistryError {
        let status = response.status().as_u16();
        let body = read_limited(response, ERROR_BODY_MAX)
            .await
            .unwrap_or_default();
        let remote = parse_error_body(&body);
        if status == 401 {
            return RegistryError::Unauthorized {
                registry: self.domain.clone(),
                repository: repository.map(str::to_string),
                credentials_sent: self.credentials.is_some(),
                remote,
            };
        }
        RegistryError::Status {
            registry: self.domain.clone(),
            repository: repository.map(str::to_string),
            action,
            status,
            remote,
        }
    }

    pub(crate) fn check_domain(&self, reference: &Reference) -> Result<(), RegistryError> {
        if reference.domain() == self.domain {
            return Ok(());
        }
        Err(self.protocol(
            Some(reference.path()),
            format!("using the client of {} for {reference}", self.domain),
            "the reference names another registry",
        ))
    }
}

/// `repository:NAME:pull`.
pub(crate) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// `repository:NAME:pull,push`.
pub(crate) fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// The digest of `bytes` with `algorithm` (sha256 or sha512, as [`Digest`] admits).
pub(crate) fn digest_of(algorithm: &str, bytes: &[u8]) -> Digest {
    let (algorithm, raw) = match algorithm {
        "sha512" => ("sha512", Sha512::digest(bytes).to_vec()),
        _ => ("sha256", Sha256::digest(bytes).to_vec()),
    };
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    match Digest::parse(&format!("{algorithm}:{hex}")) {
        Ok(digest) => digest,
        // A hash's lowercase hex of the algorithm's length always parses.
        Err(e) => unreachable!("digest of a hash: {e}"),
    }
}

/// The challenge berth answers: a Bearer with a realm, else Basic.
fn usable_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let all = challenge::parse_all(
        headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let bearer = all
        .iter()
        .position(|c| c.is_bearer() && c.param("realm").is_some());
    let chosen = bearer.or_else(|| all.iter().position(Challenge::is_basic))?;
    all.into_iter().nth(chosen)
}

/// A lock that a panic elsewhere did not make unusable: the data are plain strings.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a 3xx with a `Location` points, resolved against the request's URL.
fn redirect_target(response: &Response) -> Option<Url> {
    let status = response.status().as_u16();
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    response.url().join(location).ok()
}

/// A response body, refusing one over `limit` bytes (an error text says so).
pub(crate) async fn read_limited(response: Response, limit: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|l| l > limit as u64) {
        return Err(format!("the body is over {limit} bytes"));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| chain(&e))?;
        if body.len() + chunk.len() > limit {
            return Err(format!("the body is over {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error and its causes on one line: reqwest's own text names only the URL, the
/// cause (refused, reset, certificate) is further down.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests;
