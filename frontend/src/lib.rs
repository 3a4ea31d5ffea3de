//! The engine behind the `berth` command line and (later) `berth daemon`: both call this
//! library and never each other. It reaches containers only through berth-shim's and
//! the runtime's command lines.

pub mod cli;
pub mod container;
pub mod image;
pub mod network;
pub mod registry;
pub mod store;
pub mod system;
pub mod time;
