//! berth-shim: one monitor per container, with conmon's contract.
//!
//! The shim starts the container through a runc-compatible runtime, then outlives its
//! caller: it holds the container's stdio or pty, copies the output into the logs and to
//! attach clients, feeds stdin from them, reaps the container and every process
//! re-parented to it, records the exit code (and OOM kills), applies the restart policy,
//! runs the exit command and exits. One thread, one poll loop, no async runtime.

pub mod cli;
pub mod logs;
pub mod restart;
