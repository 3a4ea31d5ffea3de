//! `berth daemon`: dockerd's flags where they apply; the work is the API's.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::api::listen::Host;
use crate::api::DaemonOptions;

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Daemon socket(s) to connect to: unix://PATH, tcp://HOST:PORT, fd://
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Path to use for daemon PID file
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// Root directory of persistent state (the same as --root)
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Group for the unix socket
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// Use TLS; --tls=false lets a TCP listener on a non-loopback address run without it
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tls: Option<bool>,
}

pub fn daemon(
    root: &std::path::Path,
    runroot: Option<&std::path::Path>,
    args: DaemonArgs,
) -> anyhow::Result<ExitCode> {
    let hosts = args
        .hosts
        .iter()
        .map(|h| Host::parse(h))
        .collect::<Result<Vec<_>, _>>()?;
    crate::api::serve(DaemonOptions {
        hosts,
        root: args.data_root.unwrap_or_else(|| root.to_path_buf()),
        runroot: runroot.map(PathBuf::from),
        debug: args.debug,
        pidfile: args.pidfile,
        group: args.group,
        tls: args.tls,
    })?;
    Ok(ExitCode::SUCCESS)
}
