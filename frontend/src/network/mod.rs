//! Container networks: bridges, veths, addresses, published ports, names.

pub mod attach;
pub mod hosts;
pub mod inspect;
pub mod ipam;
pub mod networks;
pub mod ports;
pub mod subnet;
