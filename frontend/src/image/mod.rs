//! Images: references, the registry client, the layer store, copy-on-write rootfs.

pub mod auth;
pub mod layer;
pub mod manifest;
pub mod platform;
pub mod reference;
