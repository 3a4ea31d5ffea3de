//! Registry credentials kept as Docker keeps them: the `auths` of
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`), each entry's `auth`
//! being base64 of `user:password`. An existing `docker login` is read as is, and a
//! `berth login` is seen by docker. Every other key of the file is kept as found.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

/// Docker Hub's key in `auths`, kept for what docker itself writes.
const HUB_KEY: &str = "https://index.docker.io/v1/";
const HUB_DOMAIN: &str = "docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// The credentials file, loaded.
#[derive(Debug)]
pub struct AuthFile {
    path: PathBuf,
    document: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a JSON object as docker writes config.json: {detail}")]
    Malformed { path: PathBuf, detail: String },
    #[error("neither DOCKER_CONFIG nor HOME is set: no place for config.json")]
    NoHome,
}

/// The registry a login names: a host (`localhost:5000`), a URL (`https://host/v1/`),
/// or Docker Hub when none.
pub fn login_domain(server: Option<&str>) -> String {
    match server.map(key_domain) {
        Some(domain) if !domain.is_empty() => domain.to_string(),
        _ => HUB_DOMAIN.to_string(),
    }
}

/// Where docker keeps config.json for this user.
pub fn default_path() -> Result<PathBuf, AuthError> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
        .ok_or(AuthError::NoHome)
}

impl AuthFile {
    /// Loads `path`; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<AuthFile, AuthError> {
        let document = match fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(malformed(path, "the top level is not an object")),
                Err(e) => return Err(malformed(path, &e.to_string())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(source) => {
                return Err(AuthError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        if document.get("auths").is_some_and(|a| !a.is_object()) {
            return Err(malformed(path, "\"auths\" is not an object"));
        }
        Ok(AuthFile {
            path: path.to_path_buf(),
            document,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credentials stored for the registry `domain` (`docker.io`, `host:port`); an
    /// entry keyed by a URL (`https://host/v1/`) counts for its host.
    pub fn credentials(&self, domain: &str) -> Option<Credentials> {
        let auths = self.document.get("auths")?.as_object()?;
        let entry = auths
            .iter()
            .find(|(key, _)| key_domain(key) == domain)
            .map(|(_, entry)| entry)?;
        let encoded = entry.get("auth")?.as_str()?;
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (username, password) = text.split_once(':')?;
        Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        })
    }

    /// Stores credentials for `domain`, replacing any entry for the same registry.
    pub fn set(&mut self, domain: &str, credentials: &Credentials) {
        self.remove(domain);
        let auth = STANDARD.encode(format!("{}:{}", credentials.username, credentials.password));
        let mut entry = Map::new();
        entry.insert("auth".to_string(), Value::String(auth));
        self.auths().insert(key_for(domain), Value::Object(entry));
    }

    /// Forgets the credentials for `domain`; false if there were none.
    pub fn remove(&mut self, domain: &str) -> bool {
        let auths = self.auths();
        let keys: Vec<String> = auths
            .keys()
            .filter(|key| key_domain(key) == domain)
            .cloned()
            .collect();
        for key in &keys {
            auths.remove(key);
        }
        !keys.is_empty()
    }

    /// Writes the file whole or not at all (a temp file renamed over it), mode 0600 as
    /// it holds passwords; its directory is made 0700 if missing.
    pub fn save(&self) -> Result<(), AuthError> {
        let io = |source| AuthError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        let mut text = serde_json::to_vec_pretty(&self.document)
            .map_err(|e| malformed(&self.path, &e.to_string()))?;
        text.push(b'\n');
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".to_string());
        let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let written = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_all()))
            .and_then(|()| fs::rename(&temp, &self.path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io(e));
        }
        Ok(())
    }

    fn auths(&mut self) -> &mut Map<String, Value> {
        let auths = self
            .document
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        match auths {
            Value::Object(map) => map,
            // Made an object just above.
            _ => unreachable!("auths is an object"),
        }
    }
}

fn malformed(path: &Path, detail: &str) -> AuthError {
    AuthError::Malformed {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// The key docker uses for a registry: Docker Hub's legacy URL, else the host.
fn key_for(domain: &str) -> String {
    if domain == HUB_DOMAIN {
        HUB_KEY.to_string()
    } else {
        domain.to_string()
    }
}

/// The registry an `auths` key stands for: `https://index.docker.io/v1/` and
/// `index.docker.io` are Docker Hub; `https://host:port/path` is `host:port`.
fn key_domain(key: &str) -> &str {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme.split('/').next().unwrap_or_default();
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => HUB_DOMAIN,
        other => other,
    }
}

#[cfg(test)]
mod tests;
