//! The engine behind the `berth` command line and `berth daemon` (the Engine API):
//! `cli` and `api` both call this library and never each other. It reaches
//! containers only through berth-shim's and the runtime's command lines.

pub mod api;
pub mod cli;
pub mod container;
pub mod engine;
pub mod events;
pub mod filters;
pub mod image;
pub mod network;
pub mod registry;
pub mod store;
pub mod system;
pub mod time;
pub mod watch;
