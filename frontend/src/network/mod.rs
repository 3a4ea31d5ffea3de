//! Container networks (issue #13).

pub mod attach;
pub mod inspect;
pub mod ipam;
pub mod networks;
pub mod ports;
pub mod subnet;
