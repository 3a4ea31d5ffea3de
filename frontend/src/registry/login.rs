//! `login`'s check: the credentials tried against the registry before they are kept.

use reqwest::header::HeaderMap;
use reqwest::Method;

use super::client::{Client, Request, Target};
use super::error::RegistryError;

impl Client {
    /// Checks this client's credentials as `docker login` does: `/v2/` with them, which
    /// for a token registry means a token for no scope in particular. A registry that
    /// asks for no credentials at all accepts any.
    pub async fn check_login(&self) -> Result<(), RegistryError> {
        let response = self
            .send(Request {
                method: Method::GET,
                target: Target::Path("v2/".to_string()),
                headers: HeaderMap::new(),
                body: None,
                scopes: &[],
            })
            .await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(self
            .unexpected(None, "GET /v2/".to_string(), response)
            .await)
    }
}
