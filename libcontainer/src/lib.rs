//! libcontainer: turns an OCI bundle into a running container.
//!
//! The public surface is [`container`]: create, start, kill, delete, state and
//! list, following the lifecycle of the OCI runtime-spec (runtime.md). This
//! crate never parses a command line and never prints; the `berth-runtime`
//! binary does both over it.

pub mod capabilities;
pub mod cgroups;
pub mod console;
pub mod container;
pub mod criu;
pub mod error;
pub mod exe_seal;
pub mod exec_flags;
pub mod features;
pub mod hooks;
pub mod json;
pub mod kernel;
pub mod lsm;
pub mod namespaces;
pub mod process;
pub mod procfs;
pub mod relay;
pub mod rootfs;
pub mod salvage;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub mod state;
mod sys;
pub mod template;
#[cfg(test)]
mod test_support;
pub mod time;

pub use container::{Container, CreateOptions, ExecOptions};
pub use error::{Error, Result};
pub use state::Status;
