//! Answering a registry's challenge: basic credentials, or a bearer token from the
//! challenge's realm (`GET realm?service=S&scope=repository:NAME:pull`), fetched with
//! the basic credentials when there are some, anonymously otherwise.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::Url;

use super::challenge::Challenge;
use super::endpoint::scheme_allowed;
use super::error::{describe, parse_error_body, RegistryError};
use super::read_limited;
use crate::image::auth::Credentials;

/// A token response is a small JSON document; more is not one.
const TOKEN_BODY_MAX: usize = 1 << 20;

/// `Basic base64(user:password)`.
pub(crate) fn basic(credentials: &Credentials) -> Option<HeaderValue> {
    let pair = format!("{}:{}", credentials.username, credentials.password);
    let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair))).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// `Bearer TOKEN`; None if the token cannot be a header value.
pub(crate) fn bearer(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The scopes of a request: the caller's, and those a challenge names
/// (`insufficient_scope` answers name what they want), deduplicated.
pub(crate) fn merge_scopes(ours: &[String], challenge: &Challenge) -> Vec<String> {
    let mut scopes: Vec<String> = ours.to_vec();
    for scope in challenge.param("scope").unwrap_or_default().split(' ') {
        if !scope.is_empty() && !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_string());
        }
    }
    scopes
}

pub(crate) struct TokenRequest<'a> {
    pub registry: &'a str,
    pub challenge: &'a Challenge,
    pub scopes: &'a [String],
    pub credentials: Option<&'a Credentials>,
    pub insecure: &'a [String],
}

/// Fetches a bearer token for `scopes` from the challenge's realm.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    request: TokenRequest<'_>,
) -> Result<String, RegistryError> {
    let realm_text = request.challenge.param("realm").unwrap_or_default();
    let fail = |detail: String| RegistryError::Token {
        registry: request.registry.to_string(),
        realm: realm_text.to_string(),
        detail,
    };
    let mut realm = Url::parse(realm_text)
        .map_err(|e| fail(format!("the challenge's realm is not a URL ({e})")))?;
    // The realm is the registry's word: a plain-http realm on another host would send
    // the user's password in the clear to wherever the registry pointed.
    if !scheme_allowed(&realm, request.insecure) {
        return Err(fail(
            "refusing a realm that is not https (only loopback hosts and insecure \
             registries may be reached without TLS)"
                .to_string(),
        ));
    }
    {
        let mut query = realm.query_pairs_mut();
        if let Some(service) = request.challenge.param("service") {
            query.append_pair("service", service);
        }
        for scope in request.scopes {
            query.append_pair("scope", scope);
        }
        if let Some(credentials) = request.credentials {
            query.append_pair("account", &credentials.username);
        }
    }
    let mut get = http.get(realm);
    if let Some(value) = request.credentials.and_then(basic) {
        get = get.header(AUTHORIZATION, value);
    }
    let response = get.send().await.map_err(|e| fail(super::chain(&e)))?;
    let status = response.status().as_u16();
    let body = read_limited(response, TOKEN_BODY_MAX)
        .await
        .map_err(&fail)?;
    if status != 200 {
        let mut detail = describe(status, &parse_error_body(&body));
        if status == 401 && request.credentials.is_some() {
            detail.push_str(" (the token server refused the credentials)");
        }
        return Err(fail(detail));
    }
    token_from_body(&body).map_err(fail)
}

/// `token`, else `access_token` (OAuth2's name; some servers send only that).
pub fn token_from_body(body: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Response {
        token: Option<String>,
        access_token: Option<String>,
    }
    let response: Response = serde_json::from_slice(body)
        .map_err(|e| format!("the token response is not the JSON expected: {e}"))?;
    [response.token, response.access_token]
        .into_iter()
        .flatten()
        .find(|t| !t.is_empty())
        .ok_or_else(|| "the token response has neither token nor access_token".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::challenge::parse;

    #[test]
    fn token_or_access_token() {
        assert_eq!(token_from_body(br#"{"token":"a"}"#), Ok("a".into()));
        assert_eq!(
            token_from_body(br#"{"access_token":"b","expires_in":300}"#),
            Ok("b".into())
        );
        assert_eq!(
            token_from_body(br#"{"token":"","access_token":"c"}"#),
            Ok("c".into())
        );
        assert!(token_from_body(br#"{"expires_in":300}"#).is_err());
        assert!(token_from_body(b"<html>").is_err());
    }

    #[test]
    fn a_challenge_adds_the_scopes_it_wants() {
        let c = &parse(
            r#"Bearer realm="r",scope="repository:a:pull repository:b:pull",error="insufficient_scope""#,
        )[0];
        let ours = vec!["repository:a:pull".to_string()];
        assert_eq!(
            merge_scopes(&ours, c),
            ["repository:a:pull", "repository:b:pull"]
        );
    }

    #[test]
    fn basic_is_base64_of_user_colon_password() {
        let c = Credentials {
            username: "user".into(),
            password: "p:ss".into(),
        };
        assert_eq!(basic(&c).unwrap().to_str().unwrap(), "Basic dXNlcjpwOnNz");
        assert!(basic(&c).unwrap().is_sensitive());
    }
}
