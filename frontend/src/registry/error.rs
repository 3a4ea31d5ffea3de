//! What goes wrong talking to a registry, each error naming the registry host, the
//! repository and the reference or digest, with the registry's own error codes and
//! messages (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}`) as Docker
//! prints them: `manifest unknown: manifest unknown`.

use std::fmt;

use crate::image::manifest::ManifestError;
use crate::store::blobs::BlobError;

/// One entry of a registry's error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// `MANIFEST_UNKNOWN`, `UNAUTHORIZED`, `DENIED`...; empty when the body was not the
    /// spec's JSON.
    pub code: String,
    pub message: String,
}

impl fmt::Display for RemoteError {
    /// As Docker (the distribution project's errcode) shows it: the code lowercased,
    /// `_` as spaces, then the message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.to_ascii_lowercase().replace('_', " ");
        match (code.is_empty(), self.message.is_empty()) {
            (true, _) => f.write_str(&self.message),
            (false, true) => f.write_str(&code),
            (false, false) => write!(f, "{code}: {}", self.message),
        }
    }
}

/// The longest message kept from an error body that is not the spec's JSON (an HTML
/// page from a proxy, say).
const TEXT_MAX: usize = 200;

/// Reads a registry's (or token server's) error body: the spec's `{"errors":[...]}`,
/// a token server's `{"details":"..."}` or `{"error":"..."}`, else the first line of
/// text. Never fails: an empty or unreadable body gives no entries.
pub fn parse_error_body(body: &[u8]) -> Vec<RemoteError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(default)]
        message: Option<serde_json::Value>,
    }
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Option<Vec<Entry>>,
        #[serde(default)]
        details: Option<serde_json::Value>,
        #[serde(default)]
        error: Option<serde_json::Value>,
        #[serde(default)]
        message: Option<serde_json::Value>,
    }
    let text = |v: Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => one_line(&s),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => one_line(&other.to_string()),
    };
    if let Ok(body) = serde_json::from_slice::<Body>(body) {
        if let Some(errors) = body.errors {
            return errors
                .into_iter()
                .map(|e| RemoteError {
                    code: text(e.code),
                    message: text(e.message),
                })
                .filter(|e| !e.code.is_empty() || !e.message.is_empty())
                .collect();
        }
        let message = [body.details, body.error, body.message]
            .into_iter()
            .map(text)
            .find(|m| !m.is_empty());
        return message
            .map(|message| RemoteError {
                code: String::new(),
                message,
            })
            .into_iter()
            .collect();
    }
    let text = String::from_utf8_lossy(body);
    let line = one_line(text.lines().find(|l| !l.trim().is_empty()).unwrap_or(""));
    if line.is_empty() {
        return Vec::new();
    }
    vec![RemoteError {
        code: String::new(),
        message: line,
    }]
}

/// Trimmed, control characters dropped (a server's text goes into one error line),
/// at most [`TEXT_MAX`] characters.
fn one_line(text: &str) -> String {
    let cleaned: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match cleaned.char_indices().nth(TEXT_MAX) {
        Some((cut, _)) => format!("{}...", &cleaned[..cut]),
        None => cleaned,
    }
}

/// The registry's messages joined, or the HTTP status when it sent none.
pub(crate) fn describe(status: u16, errors: &[RemoteError]) -> String {
    if errors.is_empty() {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unexpected status");
        return format!("{status} {reason}");
    }
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `repository busybox` / nothing, for messages.
fn in_repo(repository: &Option<String>) -> String {
    match repository {
        Some(r) => format!(" (repository {r})"),
        None => String::new(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "{registry}: refusing plain http to {url}: only loopback hosts and insecure registries \
         may be reached without TLS"
    )]
    PlainHttpRefused { registry: String, url: String },

    /// The connection failed or broke (refused, reset, TLS, timeout, a body cut short).
    #[error("{registry}: {action}: {detail}")]
    Transport {
        registry: String,
        action: String,
        detail: String,
    },

    /// 401 from the registry: no or wrong credentials.
    #[error(
        "{registry}: unauthorized: authentication required{}{}",
        in_repo(repository),
        refused(credentials_sent, remote)
    )]
    Unauthorized {
        registry: String,
        repository: Option<String>,
        credentials_sent: bool,
        remote: Vec<RemoteError>,
    },

    /// What Docker says when a pull is refused or the repository is unknown.
    #[error("pull access denied for {repository}, repository does not exist or may require 'docker login': {}", describe(*status, remote))]
    PullAccessDenied {
        registry: String,
        repository: String,
        status: u16,
        remote: Vec<RemoteError>,
    },

    #[error("manifest for {reference} not found: {}", describe(404, remote))]
    ManifestUnknown {
        registry: String,
        repository: String,
        reference: String,
        remote: Vec<RemoteError>,
    },

    /// Any other status the operation did not expect.
    #[error("{registry}: {action}{}: {}", in_repo(repository), describe(*status, remote))]
    Status {
        registry: String,
        repository: Option<String>,
        action: String,
        status: u16,
        remote: Vec<RemoteError>,
    },

    #[error("{registry}: getting a token from {realm}: {detail}")]
    Token {
        registry: String,
        realm: String,
        detail: String,
    },

    #[error(
        "{registry}: {repository}@{expected}: the registry sent content whose digest is {got}"
    )]
    DigestMismatch {
        registry: String,
        repository: String,
        expected: String,
        got: String,
    },

    #[error("{registry}: blob {digest} of {repository}: {source}")]
    Blob {
        registry: String,
        repository: String,
        digest: String,
        #[source]
        source: BlobError,
    },

    #[error("{registry}: {repository}:{reference}: {source}")]
    Manifest {
        registry: String,
        repository: String,
        reference: String,
        #[source]
        source: ManifestError,
    },

    #[error("{registry}: {reference}: no matching manifest for {platform} in the manifest list entries (it has: {available})")]
    NoPlatform {
        registry: String,
        reference: String,
        platform: String,
        available: String,
    },

    /// The registry broke the protocol: a missing `Location`, a body over its limit...
    #[error("{registry}: {action}{}: {detail}", in_repo(repository))]
    Protocol {
        registry: String,
        repository: Option<String>,
        action: String,
        detail: String,
    },
}

fn refused(credentials_sent: &bool, remote: &[RemoteError]) -> String {
    let mut text = String::new();
    if *credentials_sent {
        text.push_str(": the registry refused the credentials");
    }
    let said = describe(401, remote);
    if !remote.is_empty() && said != "unauthorized: authentication required" {
        text.push_str(" (");
        text.push_str(&said);
        text.push(')');
    }
    text
}

impl RegistryError {
    /// The registry host the error came from.
    pub fn registry(&self) -> &str {
        match self {
            RegistryError::PlainHttpRefused { registry, .. }
            | RegistryError::Transport { registry, .. }
            | RegistryError::Unauthorized { registry, .. }
            | RegistryError::PullAccessDenied { registry, .. }
            | RegistryError::ManifestUnknown { registry, .. }
            | RegistryError::Status { registry, .. }
            | RegistryError::Token { registry, .. }
            | RegistryError::DigestMismatch { registry, .. }
            | RegistryError::Blob { registry, .. }
            | RegistryError::Manifest { registry, .. }
            | RegistryError::NoPlatform { registry, .. }
            | RegistryError::Protocol { registry, .. } => registry,
        }
    }

    /// The registry's error entries, when it sent some.
    pub fn remote(&self) -> &[RemoteError] {
        match self {
            RegistryError::Unauthorized { remote, .. }
            | RegistryError::PullAccessDenied { remote, .. }
            | RegistryError::ManifestUnknown { remote, .. }
            | RegistryError::Status { remote, .. } => remote,
            _ => &[],
        }
    }

    /// Whether trying again may help: the connection failed or the server had a
    /// transient failure (5xx, 429).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            RegistryError::Transport { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
