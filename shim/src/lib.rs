//! berth-shim: one monitor per container, with conmon's contract.
//!
//! The shim starts the container through a runc-compatible runtime, then outlives its
//! caller: it holds the container's stdio or pty, copies the output into the logs and to
//! attach clients, feeds stdin from them, reaps the container and every process
//! re-parented to it, records the exit code (and OOM kills), applies the restart policy,
//! runs the exit command and exits. One thread, one poll loop, no async runtime.
//!
//! The order of things, as conmon's (the contract is in the README):
//! 1. `session`: the command line checked, the logs opened, the start pipe waited on;
//!    fork: the caller's process writes `--conmon-pidfile` and exits 0.
//! 2. The shim: stdio to /dev/null, setsid, child subreaper; the attach socket and the
//!    `ctl`/`winsz` fifos; `launch`: `RUNTIME create` (or `exec -d`) with pipes or a
//!    console socket; the pid (or the runtime's error) on the sync pipe.
//! 3. `monitor`: the poll loop until the container exits; `restart` decides whether it
//!    runs again.
//! 4. `exit`: the exit files, an exec's exit code on the sync pipe, the exit command.

pub mod attach;
pub mod cli;
pub mod console;
pub mod ctl;
mod diag;
pub mod exit;
pub mod launch;
pub mod logs;
pub mod monitor;
pub mod oom;
pub mod pipes;
pub mod reaper;
pub mod restart;
pub mod runtime;
pub mod session;
pub(crate) mod sys;
