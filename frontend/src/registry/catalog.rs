//! `/v2/_catalog` and `/v2/NAME/tags/list`, for `berth search`: small JSON lists,
//! paged by the `Link` header.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use super::client::{pull_scope, read_limited, Client, Request, Target};
use super::error::{parse_error_body, RegistryError};

/// Catalogs and tag lists are read up to this much per page.
const LIST_MAX: usize = 4 << 20;

impl Client {
    /// One page of `/v2/_catalog`: up to `n` repository names after `last`.
    pub async fn catalog(
        &self,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Vec<String>, RegistryError> {
        let mut path = "v2/_catalog".to_string();
        let mut query = Vec::new();
        if let Some(n) = n {
            query.push(format!("n={n}"));
        }
        if let Some(last) = last {
            query.push(format!("last={}", encode_query(last)));
        }
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let scopes = ["registry:catalog:*".to_string()];
        let body = self.get_small(None, path, &scopes).await?;
        list_field(&body, "repositories")
            .map_err(|detail| self.protocol(None, "GET /v2/_catalog".to_string(), &detail))
    }

    /// Every tag of `repository`, following the `Link` header's pages.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        let scopes = [pull_scope(repository)];
        let mut tags = Vec::new();
        let mut path = format!("v2/{repository}/tags/list");
        // A registry that links page to page forever is not followed forever.
        for _ in 0..1000 {
            let (body, next) = self.get_page(Some(repository), path, &scopes).await?;
            tags.extend(list_field(&body, "tags").map_err(|detail| {
                self.protocol(Some(repository), "GET tags".to_string(), &detail)
            })?);
            match next {
                Some(next) => path = next,
                None => return Ok(tags),
            }
        }
        Ok(tags)
    }

    async fn get_small(
        &self,
        repository: Option<&str>,
        path: String,
        scopes: &[String],
    ) -> Result<Vec<u8>, RegistryError> {
        Ok(self.get_page(repository, path, scopes).await?.0)
    }

    /// A GET of a small JSON document, and the path of the next page from `Link`.
    async fn get_page(
        &self,
        repository: Option<&str>,
        path: String,
        scopes: &[String],
    ) -> Result<(Vec<u8>, Option<String>), RegistryError> {
        let action = format!("GET /{path}");
        let response = self
            .send(Request {
                method: Method::GET,
                target: Target::Path(path),
                headers: HeaderMap::new(),
                body: None,
                scopes,
            })
            .await?;
        if response.status() != StatusCode::OK {
            if response.status() == StatusCode::NOT_FOUND {
                if let Some(repository) = repository {
                    let body = read_limited(response, LIST_MAX).await.unwrap_or_default();
                    return Err(RegistryError::PullAccessDenied {
                        registry: self.domain().to_string(),
                        repository: repository.to_string(),
                        status: 404,
                        remote: parse_error_body(&body),
                    });
                }
            }
            return Err(self.unexpected(repository, action, response).await);
        }
        let next = response
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(next_link);
        let body = read_limited(response, LIST_MAX)
            .await
            .map_err(|detail| self.protocol(repository, action, &detail))?;
        Ok((body, next))
    }
}

/// The path and query of `rel="next"` in a `Link` header: `</v2/a/tags/list?n=2&last=b>;
/// rel="next"` → `v2/a/tags/list?n=2&last=b`.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.replace(' ', "").contains("rel=\"next\"") {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        // Only a path on the registry: a Link to another host is not followed. URL
        // parsing reads `\` as `/` in http(s) URLs, so `/\\host` would be `//host`.
        let path = target.strip_prefix('/')?;
        (!path.starts_with('/') && !path.contains('\\')).then(|| path.to_string())
    })
}

/// Percent-encodes a query value (all but RFC 3986's unreserved characters).
fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn list_field(body: &[u8], field: &str) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match value.get(field) {
        Some(serde_json::Value::Array(items)) => Ok(items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()),
        Some(serde_json::Value::Null) | None => Ok(Vec::new()),
        Some(_) => Err(format!("{field:?} is not a list")),
    }
}

#[cfg(test)]
mod tests;
