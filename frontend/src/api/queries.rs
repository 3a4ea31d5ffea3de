//! What the image and registry endpoints read from a request besides its body: the
//! `X-Registry-Auth` header (base64url JSON), `POST /auth`'s credentials, and query
//! values (references, limits, search filters, Go's booleans). Each bad value is a
//! 400 naming it; the fuzz target `api_bodies` drives these too.

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde::Deserialize;

use super::bodies::parse_filters;
use super::error::ApiError;
use crate::image::auth::{login_domain, Credentials};
use crate::image::platform::Platform;
use crate::image::reference::{Digest, Reference};
use crate::image::search::DEFAULT_LIMIT;

/// A query string's pairs in order: some keys repeat (`changes`, `names`).
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    /// The first value of `key`, as Go's `Form.Get`; empty counts as absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean as dockerd reads one: absent, empty, `0`, `no`, `false` and `none`
    /// are false, anything else true; `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        match self.0.iter().find(|(k, _)| k == key) {
            None => default,
            Some((_, v)) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }
}

/// What clients put in `X-Registry-Auth` and in the body of `POST /auth`: Docker's
/// `AuthConfig`. Unknown fields are ignored, as dockerd does.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthConfig {
    username: String,
    password: String,
    /// base64 of `user:password`, as config.json keeps it.
    auth: String,
    serveraddress: String,
    identitytoken: String,
    registrytoken: String,
}

impl AuthConfig {
    fn credentials(self, what: &str) -> Result<Option<Credentials>, ApiError> {
        let (mut username, mut password) = (self.username, self.password);
        if username.is_empty() && password.is_empty() && !self.auth.is_empty() {
            let pair = STANDARD
                .decode(self.auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| {
                    text.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                })
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{what}: \"auth\" is not base64 of USER:PASSWORD"
                    ))
                })?;
            (username, password) = pair;
        }
        if username.is_empty() && password.is_empty() {
            if !self.identitytoken.is_empty() || !self.registrytoken.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "{what}: identity and registry tokens are not supported by berth; \
                     send a username and password"
                )));
            }
            return Ok(None);
        }
        Ok(Some(Credentials { username, password }))
    }
}

/// base64url as Go's `URLEncoding` writes it; decoded with or without the padding.
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The credentials of an `X-Registry-Auth` header; None when it is absent, `{}`, or
/// names no user.
pub fn registry_auth(header: Option<&[u8]>) -> Result<Option<Credentials>, ApiError> {
    let Some(header) = header.filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let invalid =
        |detail: String| ApiError::bad_request(format!("invalid X-Registry-Auth header: {detail}"));
    let decoded = URL_SAFE_ANY_PADDING
        .decode(header.trim_ascii())
        .map_err(|_| invalid("must be a valid base64url-encoded string".to_string()))?;
    let config: AuthConfig =
        serde_json::from_slice(&decoded).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
    config.credentials("X-Registry-Auth")
}

/// A login asked for with `POST /auth`: the registry (by its domain) and the
/// credentials to try there.
#[derive(Debug)]
pub struct Login {
    pub domain: String,
    pub credentials: Credentials,
}

impl Login {
    pub fn parse(body: &[u8]) -> Result<Login, ApiError> {
        let config: AuthConfig = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON in the request body: {e}")))?;
        let domain = login_domain(Some(config.serveraddress.as_str()));
        let credentials = config
            .credentials("login")?
            .ok_or_else(|| ApiError::bad_request("login: no username and password given"))?;
        Ok(Login {
            domain,
            credentials,
        })
    }
}

fn bad_reference(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// Whether `text` names a tag or a digest of its own (`app:v1`, `app@sha256:..`, but
/// not the port of `host:5000/app`).
fn names_a_version(text: &str) -> bool {
    let last = &text[text.rfind('/').map_or(0, |i| i + 1)..];
    text.contains('@') || last.contains(':')
}

/// `fromImage` and `tag` of a pull as one reference; `tag` may be a digest, as the
/// docker CLI sends one for `docker pull NAME@DIGEST`.
pub fn pull_reference(from_image: &str, tag: Option<&str>) -> Result<Reference, ApiError> {
    let named = Reference::parse(from_image).map_err(bad_reference)?;
    match tag {
        Some(tag) if Digest::parse(tag).is_ok() => {
            Reference::parse(&format!("{}@{tag}", named.name())).map_err(bad_reference)
        }
        Some(tag) => named.with_tag(tag).map_err(bad_reference),
        None if names_a_version(from_image) => Ok(named),
        None => Err(ApiError::bad_request(
            "berth pulls one tag at a time: give tag= (pulling every tag of a repository \
             is not supported)",
        )),
    }
}

/// What `POST /images/NAME/push?tag=` sends.
#[derive(Debug, PartialEq, Eq)]
pub enum PushTarget {
    One(Reference),
    /// No tag: every tag the store has of this repository, as dockerd.
    AllTags(Reference),
}

pub fn push_target(name: &str, tag: Option<&str>) -> Result<PushTarget, ApiError> {
    let named = Reference::parse(name).map_err(bad_reference)?;
    match tag {
        Some(tag) => Ok(PushTarget::One(named.with_tag(tag).map_err(bad_reference)?)),
        None if names_a_version(name) => Ok(PushTarget::One(named)),
        None => Ok(PushTarget::AllTags(named)),
    }
}

/// `repo` and `tag` of a commit or an import as the name to give the new image.
pub fn new_image_name(repo: Option<&str>, tag: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(repo) = repo else {
        return match tag {
            Some(_) => Err(ApiError::bad_request(
                "a tag was given without a repository",
            )),
            None => Ok(None),
        };
    };
    let named = Reference::parse(repo).map_err(bad_reference)?;
    let named = match tag {
        Some(tag) => named.with_tag(tag).map_err(bad_reference)?,
        None => named,
    };
    if named.digest().is_some() {
        return Err(ApiError::bad_request(format!(
            "{repo}: a new image is named by a tag, not a digest"
        )));
    }
    Ok(Some(named.to_string()))
}

/// `platform=os/arch[/variant]`.
pub fn platform(text: Option<&str>) -> Result<Option<Platform>, ApiError> {
    text.map(|t| {
        Platform::parse(t).map_err(|_| {
            ApiError::bad_request(format!(
                "\"{t}\": unknown operating system or architecture: invalid argument"
            ))
        })
    })
    .transpose()
}

/// `limit` of a search: 0 or none is Docker's default.
pub fn search_limit(text: Option<&str>) -> Result<usize, ApiError> {
    match text {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(0) => Ok(DEFAULT_LIMIT),
            Ok(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => Err(ApiError::bad_request(format!(
                "invalid limit specified: {text:?}"
            ))),
        },
    }
}

/// A search's `filters`: what a result must be to be listed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SearchFilters {
    pub stars: u64,
    pub official: Option<bool>,
    pub automated: Option<bool>,
}

impl SearchFilters {
    pub fn parse(text: Option<&str>) -> Result<SearchFilters, ApiError> {
        let mut filters = SearchFilters::default();
        for (key, value) in parse_filters(text)? {
            let bad = || ApiError::bad_request(format!("invalid filter '{key}={value}'"));
            let flag = || match value.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(bad()),
            };
            match key.as_str() {
                "stars" => filters.stars = value.parse().map_err(|_| bad())?,
                "is-official" => filters.official = Some(flag()?),
                "is-automated" => filters.automated = Some(flag()?),
                _ => return Err(ApiError::bad_request(format!("invalid filter '{key}'"))),
            }
        }
        Ok(filters)
    }

    /// Whether a result with these properties is listed.
    pub fn keep(&self, stars: u64, official: bool, automated: bool) -> bool {
        stars >= self.stars
            && self.official.is_none_or(|o| o == official)
            && self.automated.is_none_or(|a| a == automated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(json: &str) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE
            .encode(json)
            .into_bytes()
    }

    #[test]
    fn registry_auth_reads_what_the_docker_cli_sends() {
        let header = encoded(r#"{"username":"u","password":"p?>","serveraddress":"h"}"#);
        let credentials = registry_auth(Some(&header)).unwrap().unwrap();
        assert_eq!(
            (credentials.username.as_str(), credentials.password.as_str()),
            ("u", "p?>")
        );
        assert_eq!(registry_auth(Some(&encoded("{}"))).unwrap(), None);
        assert_eq!(registry_auth(None).unwrap(), None);
        let from_auth = encoded(r#"{"auth":"dTpwOnE="}"#);
        assert_eq!(
            registry_auth(Some(&from_auth)).unwrap().unwrap().password,
            "p:q"
        );
    }

    #[test]
    fn a_bad_registry_auth_is_a_400_naming_the_header() {
        for bad in [
            &b"%%%"[..],
            &encoded("[1]"),
            &encoded("{\"identitytoken\":\"t\"}"),
        ] {
            let e = registry_auth(Some(bad)).unwrap_err();
            assert_eq!(e.status.as_u16(), 400);
            assert!(e.message.contains("X-Registry-Auth"), "{}", e.message);
        }
    }

    #[test]
    fn a_pull_tag_may_be_a_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = pull_reference("127.0.0.1:5000/busybox", Some(&digest)).unwrap();
        assert_eq!(r.digest().map(ToString::to_string), Some(digest));
        let r = pull_reference("busybox", Some("1.36")).unwrap();
        assert_eq!(r.tag(), Some("1.36"));
        assert!(pull_reference("127.0.0.1:5000/busybox", None).is_err());
        assert!(pull_reference("127.0.0.1:5000/busybox:1", None).is_ok());
        assert!(pull_reference("Busybox", Some("x")).is_err());
    }

    #[test]
    fn a_push_without_a_tag_sends_every_tag() {
        assert!(matches!(
            push_target("127.0.0.1:5000/app", None),
            Ok(PushTarget::AllTags(_))
        ));
        assert!(matches!(
            push_target("127.0.0.1:5000/app", Some("v1")),
            Ok(PushTarget::One(r)) if r.tag() == Some("v1")
        ));
    }

    #[test]
    fn search_values_as_dockerd_reads_them() {
        assert_eq!(search_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(search_limit(Some("0")).unwrap(), DEFAULT_LIMIT);
        assert_eq!(search_limit(Some("7")).unwrap(), 7);
        assert!(search_limit(Some("-1")).is_err());
        assert!(search_limit(Some("x")).is_err());
        let f = SearchFilters::parse(Some(r#"{"is-official":["true"],"stars":["3"]}"#)).unwrap();
        assert!(!f.keep(0, false, false));
        assert!(SearchFilters::parse(Some(r#"{"size":["1"]}"#)).is_err());
    }

    #[test]
    fn new_names_take_a_tag_but_no_digest() {
        assert_eq!(
            new_image_name(Some("app"), Some("v1")).unwrap().as_deref(),
            Some("docker.io/library/app:v1")
        );
        assert_eq!(new_image_name(None, None).unwrap(), None);
        assert!(new_image_name(None, Some("v1")).is_err());
        assert!(new_image_name(Some("APP"), None).is_err());
    }
}
