//! Images: references, the registry client, the layer store, copy-on-write rootfs.

pub mod auth;
pub mod inspect;
pub mod local;
pub mod layer;
pub mod manifest;
pub mod platform;
pub mod reference;
pub mod rootfs;
