//! Images: references, the registry client, the layer store, copy-on-write rootfs.

pub mod add;
pub mod archive;
pub mod auth;
pub mod commit;
pub mod events;
pub mod import;
pub mod inspect;
pub mod layer;
pub mod local;
pub mod manifest;
pub mod platform;
pub mod reference;
pub mod rootfs;
pub mod search;
pub mod transfer;
pub mod unpacker;
