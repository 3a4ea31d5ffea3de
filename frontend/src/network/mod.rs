//! Container networks: bridges, veths, addresses, published ports, names.

pub mod hosts;
