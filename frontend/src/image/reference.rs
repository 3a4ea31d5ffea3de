//! Image references as Docker reads them: `busybox` is `docker.io/library/busybox:latest`,
//! `host:port/repo:tag`, `repo@sha256:...`, `repo:tag@sha256:...`.
//!
//! The grammar is the distribution project's (`name[:tag][@digest]`, a name being an
//! optional registry host and lowercase path components); the normalisation is Docker's
//! (a first component without `.` or `:` that is not `localhost` is a Docker Hub path, and
//! a one-component Hub path is an official image under `library/`).

use std::fmt;

/// The registry of names that do not name one.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's other name, read as [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL_NAMESPACE: &str = "library/";
/// The tag of a reference that gives neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest `domain/path` the distribution spec allows.
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// A content digest, `algorithm:hex`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: String,
    hex: String,
}

/// A reference that does not parse: the input and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference format {input:?}: {problem}")]
pub struct ReferenceError {
    pub input: String,
    pub problem: Problem,
}

/// What is wrong with a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Empty,
    /// A bare 64-hex string reads as an image id, never as a repository.
    ImageId,
    Uppercase {
        repository: String,
    },
    TooLong {
        length: usize,
    },
    Domain {
        domain: String,
    },
    Component {
        component: String,
    },
    Tag {
        tag: String,
    },
    Digest(DigestProblem),
}

/// What is wrong with a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestProblem {
    NoAlgorithm,
    UnsupportedAlgorithm(String),
    /// The hex part is not `length` lowercase hex digits.
    Hex {
        algorithm: String,
        length: usize,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => write!(f, "the reference is empty"),
            Problem::ImageId => write!(
                f,
                "a 64-character hexadecimal string is an image id, not a repository name"
            ),
            Problem::Uppercase { repository } => {
                write!(f, "repository name ({repository}) must be lowercase")
            }
            Problem::TooLong { length } => write!(
                f,
                "repository name is {length} characters, at most {NAME_MAX} are allowed"
            ),
            Problem::Domain { domain } => write!(
                f,
                "registry {domain:?} is not a host name, IPv4 or [IPv6] address with an optional :port"
            ),
            Problem::Component { component } => write!(
                f,
                "path component {component:?} must be lowercase letters and digits, \
                 separated by '.', '_', '__' or dashes"
            ),
            Problem::Tag { tag } => write!(
                f,
                "tag {tag:?} must be 1 to {TAG_MAX} letters, digits, '_', '.' or '-', \
                 not starting with '.' or '-'"
            ),
            Problem::Digest(problem) => problem.fmt(f),
        }
    }
}

impl fmt::Display for DigestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestProblem::NoAlgorithm => {
                write!(
                    f,
                    "digest must be ALGORITHM:HEX, as in sha256:<64 hex digits>"
                )
            }
            DigestProblem::UnsupportedAlgorithm(algorithm) => write!(
                f,
                "digest algorithm {algorithm:?} is not supported (sha256 or sha512)"
            ),
            DigestProblem::Hex { algorithm, length } => write!(
                f,
                "a {algorithm} digest must be {length} lowercase hexadecimal digits"
            ),
        }
    }
}

impl Digest {
    /// Parses `algorithm:hex`; only the algorithms registries use are accepted.
    pub fn parse(text: &str) -> Result<Digest, DigestProblem> {
        let (algorithm, hex) = text.split_once(':').ok_or(DigestProblem::NoAlgorithm)?;
        let length = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            "" => return Err(DigestProblem::NoAlgorithm),
            other => return Err(DigestProblem::UnsupportedAlgorithm(other.to_string())),
        };
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if hex.len() != length || !hex.bytes().all(lower_hex) {
            return Err(DigestProblem::Hex {
                algorithm: algorithm.to_string(),
                length,
            });
        }
        Ok(Digest {
            algorithm: algorithm.to_string(),
            hex: hex.to_string(),
        })
    }

    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(input)
    }
}

impl Reference {
    /// Parses and normalises a reference as `docker pull` does, the tag defaulting to
    /// `latest` when neither a tag nor a digest is given.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let fail = |problem| ReferenceError {
            input: input.to_string(),
            problem,
        };
        if input.is_empty() {
            return Err(fail(Problem::Empty));
        }
        if input.len() == 64 && input.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail(Problem::ImageId));
        }
        let (named, digest) = match input.split_once('@') {
            Some((named, digest)) => (
                named,
                Some(Digest::parse(digest).map_err(|p| fail(Problem::Digest(p)))?),
            ),
            None => (input, None),
        };
        // A tag follows the last ':' after the last '/': an earlier ':' is a port.
        let last_slash = named.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match named[last_slash..].rfind(':') {
            Some(i) => (&named[..last_slash + i], Some(&named[last_slash + i + 1..])),
            None => (named, None),
        };
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(fail(Problem::Tag {
                    tag: tag.to_string(),
                }));
            }
        }
        let (domain, path) = split_domain(name);
        if name.is_empty() {
            return Err(fail(Problem::Empty));
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(fail(Problem::Uppercase {
                repository: path.clone(),
            }));
        }
        if !valid_domain(&domain) {
            return Err(fail(Problem::Domain { domain }));
        }
        if let Some(component) = path.split('/').find(|c| !valid_component(c)) {
            return Err(fail(Problem::Component {
                component: component.to_string(),
            }));
        }
        let length = domain.len() + 1 + path.len();
        if length > NAME_MAX {
            return Err(fail(Problem::TooLong { length }));
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The registry host, with its port if one was given: `docker.io`, `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository within the registry: `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as Docker shows it: `busybox`, `user/app`,
    /// `localhost:5000/app`.
    /// A Hub path whose first component reads as a host (`docker.io/example.com/app`)
    /// keeps its `docker.io/`: without it the name would mean another registry (Docker
    /// drops it and prints a name that reads back as something else).
    pub fn familiar_name(&self) -> String {
        let first = self.path.split('/').next().unwrap_or_default();
        if self.domain != DEFAULT_DOMAIN || names_a_registry(first) {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_NAMESPACE) {
            Some(official) if !official.contains('/') => official.to_string(),
            _ => self.path.clone(),
        }
    }

    /// The reference as Docker shows it: `busybox:latest`, `app@sha256:...`.
    pub fn familiar(&self) -> String {
        self.with_name(self.familiar_name())
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(&format!("{}:{tag}", self.name()))
    }

    fn with_name(&self, name: String) -> String {
        let mut text = name;
        if let Some(tag) = &self.tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            text.push('@');
            text.push_str(&digest.to_string());
        }
        text
    }
}

/// A stored full name (`docker.io/library/busybox:latest`) as Docker shows it; a name
/// that does not parse is shown as it is.
pub fn familiar_of(full: &str) -> String {
    Reference::parse(full).map_or_else(|_| full.to_string(), |r| r.familiar())
}

impl fmt::Display for Reference {
    /// The full form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_name(self.name()))
    }
}

/// Docker's rule: the first component names a registry only if it has a `.` or a `:` or
/// is `localhost`; Hub paths of one component are official images.
fn split_domain(name: &str) -> (String, String) {
    let (domain, rest) = match name.split_once('/') {
        Some((first, rest)) if names_a_registry(first) => (first, rest),
        _ => (DEFAULT_DOMAIN, name),
    };
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !rest.contains('/') {
        format!("{OFFICIAL_NAMESPACE}{rest}")
    } else {
        rest.to_string()
    };
    (domain.to_string(), path)
}

fn names_a_registry(first_component: &str) -> bool {
    first_component.contains('.') || first_component.contains(':') || first_component == "localhost"
}

/// `host[:port]`: dot-separated labels of letters, digits and inner dashes, or a
/// bracketed IPv6 address.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let host_ok = host.is_empty() && domain.starts_with('[') || host.split('.').all(label);
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// Lowercase letters and digits, separated by one `.`, one `_`, `__`, or any run of `-`.
fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(|&b| alnum(b)) || !bytes.last().is_some_and(|&b| alnum(b)) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let dashes = separator.bytes().all(|b| b == b'-');
        if !(dashes || matches!(separator, "." | "_" | "__")) {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    tag.len() <= TAG_MAX
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests;
