//! conmon 2.x's command line, and ours beyond it.
//!
//! Every flag conmon takes is accepted here under conmon's name, also those that change
//! nothing for us (`--syslog`, `--log-level`, `-s`, `--no-sync-log`), so that an engine
//! written for conmon can start berth-shim unchanged. Our own flags have names conmon does
//! not use.

use std::path::PathBuf;

use clap::Parser;

use crate::logs::LogTarget;
use crate::restart::RestartPolicy;

/// The conmon version we speak. podman reads `conmon version X.Y.Z` from `--version` and
/// quietly uses its own conmon when the version is older than it needs.
pub const CONMON_VERSION: &str = "2.1.6";

#[derive(Debug, Parser)]
#[command(
    name = "berth-shim",
    about = "berth's container monitor: conmon's command line and protocol",
    disable_version_flag = true
)]
pub struct Options {
    /// Print the version (conmon's format, with berth-shim's own on the commit line).
    #[arg(long)]
    pub version: bool,

    /// Protocol version: 1 is the only one (`{"data": N}` on the sync pipe).
    #[arg(long, num_args = 0..=1, default_missing_value = "1")]
    pub api_version: Option<u32>,

    /// Container id, as the runtime knows it.
    #[arg(short = 'c', long)]
    pub cid: Option<String>,
    /// Container UUID: names the attach socket's directory under --socket-dir-path.
    #[arg(short = 'u', long)]
    pub cuuid: Option<String>,
    /// Container name (syslog tag, logs).
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// The runc-compatible runtime binary.
    #[arg(short = 'r', long)]
    pub runtime: Option<PathBuf>,
    /// Extra global argument for the runtime, before the command; repeatable.
    #[arg(long = "runtime-arg", allow_hyphen_values = true)]
    pub runtime_args: Vec<String>,
    /// Extra argument for the runtime's exec/restore command; repeatable.
    #[arg(
        long = "runtime-opt",
        alias = "restore-arg",
        allow_hyphen_values = true
    )]
    pub runtime_opts: Vec<String>,
    /// The OCI bundle (default: the working directory).
    #[arg(short = 'b', long)]
    pub bundle: Option<PathBuf>,
    /// Where the runtime writes the container's (or exec's) pid.
    #[arg(short = 'p', long = "container-pidfile", alias = "pidfile")]
    pub container_pidfile: Option<PathBuf>,
    /// Where the shim writes its own pid (the daemonized one).
    #[arg(short = 'P', long = "conmon-pidfile")]
    pub conmon_pidfile: Option<PathBuf>,
    /// Log driver and path, `DRIVER:PATH`; repeatable.
    #[arg(short = 'l', long = "log-path")]
    pub log_path: Vec<LogTarget>,
    /// Rotate a log file before it passes this many bytes.
    #[arg(long, allow_hyphen_values = true)]
    pub log_size_max: Option<i64>,
    /// Accepted for conmon's sake; berth-shim bounds each file by --log-size-max and
    /// --log-max-files.
    #[arg(long, allow_hyphen_values = true)]
    pub log_global_size_max: Option<i64>,
    /// Log files kept per driver when rotating, the live one included (Docker's
    /// max-file; default 1: the file is started afresh, as conmon does).
    #[arg(long)]
    pub log_max_files: Option<u32>,
    /// Tag for syslog lines (default: the short container id).
    #[arg(long)]
    pub log_tag: Option<String>,
    /// The shim's own diagnostics: error, warn, info, debug.
    #[arg(long)]
    pub log_level: Option<String>,
    /// Also send the shim's own diagnostics to syslog.
    #[arg(long)]
    pub syslog: bool,
    /// Directory for the exit file, `<exit-dir>/<cid>`.
    #[arg(long)]
    pub exit_dir: Option<PathBuf>,
    /// Program run once the container has exited (and will not be restarted).
    #[arg(long)]
    pub exit_command: Option<PathBuf>,
    /// Argument for the exit command; repeatable.
    #[arg(long = "exit-command-arg", allow_hyphen_values = true)]
    pub exit_command_args: Vec<String>,
    /// Seconds to wait before running the exit command.
    #[arg(long)]
    pub exit_delay: Option<u64>,
    /// Directory for the `exit`, `oom`, `restart-count` and `restarting` files.
    #[arg(short = '0', long)]
    pub persist_dir: Option<PathBuf>,
    /// Where the attach socket's directory goes: `<dir>/<cuuid>/attach`.
    #[arg(long)]
    pub socket_dir_path: Option<PathBuf>,
    /// Put the attach socket at `<bundle>/attach`, however long that path.
    #[arg(long)]
    pub full_attach: bool,
    /// Give the container a stdin pipe, fed from attach clients.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Keep the container's stdin open when an attach client goes.
    #[arg(long)]
    pub leave_stdin_open: bool,
    /// Give the container a pseudo-terminal (the runtime's --console-socket).
    #[arg(short = 't', long)]
    pub terminal: bool,
    /// Kill the container after this many seconds.
    #[arg(short = 'T', long)]
    pub timeout: Option<u64>,
    /// Run an exec session (`RUNTIME exec`) in a running container.
    #[arg(short = 'e', long)]
    pub exec: bool,
    /// The process JSON for --exec.
    #[arg(long)]
    pub exec_process_spec: Option<PathBuf>,
    /// Exec session with an attach client: wait for the start pipe's second message.
    #[arg(long)]
    pub exec_attach: bool,
    /// Passed to the runtime's create.
    #[arg(long)]
    pub no_pivot: bool,
    /// Passed to the runtime's create.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// The runtime's --systemd-cgroup.
    #[arg(short = 's', long)]
    pub systemd_cgroup: bool,
    /// Accepted for conmon's sake: logs are always synced at exit.
    #[arg(long)]
    pub no_sync_log: bool,
    /// Accepted for conmon's sake (single fork is not supported).
    #[arg(long)]
    pub sync: bool,
    /// Restore from this checkpoint instead of create.
    #[arg(long)]
    pub restore: Option<PathBuf>,
    /// Set LISTEN_PID to the runtime's pid even when it was not ours.
    #[arg(long)]
    pub replace_listen_pid: bool,
    /// Not supported: refused when given.
    #[arg(long)]
    pub sdnotify_socket: Option<PathBuf>,
    /// Restart policy (ours): no, always, on-failure[:N], unless-stopped.
    #[arg(long, default_value = "no")]
    pub restart_policy: RestartPolicy,
    /// conmon's legacy positional leftovers (`--api-version 1` parsed as a bare flag).
    #[arg(hide = true)]
    pub rest: Vec<String>,
}
