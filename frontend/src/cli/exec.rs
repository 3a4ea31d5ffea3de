//! `exec`: Docker's flags; the process's exit status as ours, 126/127 when it cannot
//! run, 1 for berth's own errors.

use std::process::ExitCode;

use clap::Args;

use super::containers::{open_containers, Globals};
use crate::container::exec::{ExecEnd, ExecRequest};

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn exec(globals: &Globals<'_>, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let containers = open_containers(globals.root, globals.runroot)?;
    let container = containers.find(&args.container)?;
    let env = args
        .env
        .iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                std::env::var(e).ok().map(|v| format!("{e}={v}"))
            }
        })
        .collect();
    let request = ExecRequest {
        command: args.command,
        env,
        user: args.user,
        workdir: args.workdir,
        tty: args.tty,
        stdin: args.interactive,
        privileged: args.privileged,
    };
    if args.detach {
        containers.exec_detached(&container, &request)?;
        return Ok(ExitCode::SUCCESS);
    }
    Ok(match containers.exec(&container, &request)? {
        ExecEnd::Exited(code) | ExecEnd::CannotRun(code) => {
            ExitCode::from(u8::try_from(code.rem_euclid(256)).unwrap_or(255))
        }
    })
}
