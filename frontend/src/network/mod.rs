//! Container networks: bridges, veths, addresses, published ports, names.

pub mod firewall;
pub mod hosts;
pub mod inspect;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod networks;
pub mod ports;
pub mod sandbox;
pub mod subnet;
mod sys;
