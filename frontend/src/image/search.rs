//! `search`: the repositories of a registry whose names hold a term, from the
//! registry's catalog (`/v2/_catalog`). Docker asks a registry's v1 search API,
//! which registries of the distribution spec do not serve; the catalog is what they
//! do serve. `host/term` searches that registry; a bare term, Docker Hub's, whose
//! catalog is not public (the registry says so).

use super::auth::AuthError;
use super::reference::DEFAULT_DOMAIN;
use super::transfer::RegistryOptions;
use crate::registry::{Client, RegistryError};

/// Results when the caller names no limit, as Docker's.
pub const DEFAULT_LIMIT: usize = 25;
/// Catalog entries asked for per page.
const PAGE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("limit {0} is outside the range of [1, 100]")]
    Limit(usize),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// The registry a term names and the text to look for in its repositories' names.
pub fn split_term(term: &str) -> (String, String) {
    match term.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => {
            (host.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), term.to_string()),
    }
}

/// Up to `limit` repositories of the registry `term` names whose names hold the
/// rest of it, as `host/repository`, in the catalog's order.
pub async fn search(
    options: &RegistryOptions,
    term: &str,
    limit: usize,
) -> Result<Vec<String>, SearchError> {
    if !(1..=100).contains(&limit) {
        return Err(SearchError::Limit(limit));
    }
    let (domain, text) = split_term(term);
    let client = Client::new(&domain, options.client_options()?)?;
    let mut names: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let page = client.catalog(Some(PAGE), last.as_deref()).await?;
        let done = page.len() < PAGE as usize;
        last = page.last().cloned();
        names.extend(page.into_iter().filter(|n| n.contains(&text)));
        if done || names.len() >= limit || last.is_none() {
            break;
        }
    }
    names.truncate(limit);
    Ok(names.iter().map(|n| format!("{domain}/{n}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_before_the_term_names_the_registry() {
        assert_eq!(
            split_term("127.0.0.1:5000/busy"),
            ("127.0.0.1:5000".to_string(), "busy".to_string())
        );
        assert_eq!(
            split_term("localhost/app"),
            ("localhost".to_string(), "app".to_string())
        );
        assert_eq!(
            split_term("library/busybox"),
            ("docker.io".to_string(), "library/busybox".to_string())
        );
    }
}
