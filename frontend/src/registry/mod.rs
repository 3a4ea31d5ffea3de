//! The registry client: the OCI distribution spec as Docker speaks it.
//!
//! One [`Client`] serves one registry host for one operation (a pull, a push, a
//! search): it pings `/v2/` once, picks https (or plain http where that is allowed:
//! loopback hosts and `insecure_registries`, as Docker), answers the registry's
//! `WWW-Authenticate` challenge with basic credentials or a bearer token (cached per
//! scope for the operation) and follows redirects itself, so credentials never go to a
//! host other than the registry.
//!
//! [`pull_image`] and [`push_image`] are the two long operations; they report progress
//! as data ([`PullEvent`], [`PushEvent`]) through a callback and never print.

pub mod auth;
mod blob;
mod catalog;
pub mod challenge;
mod client;
mod endpoint;
mod error;
mod login;
mod manifests;
mod progress;
mod pull;
mod push;

pub use blob::{BlobPushed, Transfer};
pub use catalog::next_link;
pub use client::{Client, ClientOptions, CredentialSource, DEFAULT_CHUNK_SIZE};
pub use manifests::{ManifestBody, ManifestHead};
pub use progress::short_id;

pub(crate) use client::{chain, read_limited};
pub use endpoint::{endpoint_host, plain_http_allowed};
pub use error::{parse_error_body, RegistryError, RemoteError};
pub use progress::{LayerState, PullEvent, PushEvent, PushState};
pub use pull::{
    fetch_layers, pull_image, resolve_image, Layer, PulledImage, ResolvedImage, PARALLEL_DOWNLOADS,
};
pub use push::{push_image, ImageToPush, PushedImage, PARALLEL_UPLOADS};
