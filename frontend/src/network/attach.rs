//! The kernel side of `network connect`/`disconnect` for a container that is
//! running. The store side is done by the caller (`networks::connect` before
//! `on_connect`, `on_disconnect` before `networks::disconnect`).
//!
//! Placeholders: the integrator fills them in with the kernel layer (a veth pair into
//! the container's network namespace, its address and routes, its /etc/hosts).

use super::networks::{Endpoint, NetworkError};
use crate::store::Store;

/// Called after `endpoint` is recorded; an error makes the caller undo the record.
pub fn on_connect(
    _store: &mut Store,
    _container_id: &str,
    _endpoint: &Endpoint,
) -> Result<(), NetworkError> {
    Ok(())
}

/// Called before `endpoint` is forgotten; with `force`, failures to undo the kernel
/// side should not keep the record.
pub fn on_disconnect(
    _store: &mut Store,
    _container_id: &str,
    _endpoint: &Endpoint,
    _force: bool,
) -> Result<(), NetworkError> {
    Ok(())
}
