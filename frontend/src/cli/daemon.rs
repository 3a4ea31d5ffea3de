//! `berth daemon`: dockerd's flags where they apply; merging them with daemon.json and
//! the work are the API's.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::api::config::Flags;

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Daemon socket(s) to connect to: unix://PATH, tcp://HOST:PORT, fd:// or fd://N
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
    /// Daemon configuration file (default /etc/berth/daemon.json when it exists)
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Use TLS; implied by --tlsverify. --tls=false lets a TCP listener on a
    /// non-loopback address run without it
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tls: Option<bool>,
    /// Use TLS and verify the remote: clients need a certificate signed by --tlscacert
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tlsverify: Option<bool>,
    /// Trust certs signed only by this CA (default ~/.docker/ca.pem)
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file (default ~/.docker/cert.pem)
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file (default ~/.docker/key.pem)
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// Validate the daemon configuration and exit
    #[arg(long)]
    pub validate: bool,
}

pub fn daemon(
    root: &std::path::Path,
    runroot: Option<&std::path::Path>,
    args: DaemonArgs,
) -> anyhow::Result<ExitCode> {
    let flags = Flags {
        hosts: args.hosts,
        debug: args.debug.then_some(true),
        pidfile: args.pidfile,
        data_root: args.data_root,
        group: args.group,
        tls: args.tls,
        tlsverify: args.tlsverify,
        tlscacert: args.tlscacert,
        tlscert: args.tlscert,
        tlskey: args.tlskey,
        config_file: args.config_file,
    };
    let options = crate::api::config::resolve(flags, root, runroot)?;
    if args.validate {
        println!("configuration OK");
        return Ok(ExitCode::SUCCESS);
    }
    crate::api::serve(options)?;
    Ok(ExitCode::SUCCESS)
}
