//! berth-runtime: an OCI runtime with runc's command line, thin over
//! libcontainer. Parsing arguments and printing live here; everything else
//! is the library's.

mod commands;
mod log;
mod tty;
mod update;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth-runtime",
    about = "An OCI container runtime with runc's command line",
    disable_version_flag = true
)]
pub struct Cli {
    /// Directory for the containers' state.
    #[arg(long, global = true, default_value = "/run/berth-runtime")]
    root: PathBuf,
    /// Also write log lines (and errors) to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of the --log file.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: log::Format,
    /// Write debug lines to the log.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility; systemd cgroup management is not supported.
    #[arg(long = "systemd-cgroup", global = true, hide = true)]
    systemd_cgroup: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Clone)]
pub struct CreateArgs {
    /// Path to the bundle (the directory holding config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket to which the pty master is sent when process.terminal is set.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// File to write the container init's pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Pass this many fds after stdio (3, 4, ...) on to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Do not use pivot_root (for a rootfs on a ramdisk): MS_MOVE and chroot.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a new session keyring for the container.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Container id.
    id: String,
}

#[derive(clap::Args)]
pub struct ExecArgs {
    /// Unix socket to which the pty master is sent, with --tty.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<String>,
    /// Add an environment variable (KEY=VALUE); repeatable.
    #[arg(short, long)]
    env: Vec<String>,
    /// Give the process a terminal.
    #[arg(short, long)]
    tty: bool,
    /// uid[:gid] to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Additional gid; repeatable.
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// A runtime-spec process JSON to run instead of ARGS.
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// SELinux label for the process (an error where the host lacks SELinux).
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// AppArmor profile for the process (an error where the host lacks AppArmor).
    #[arg(long)]
    apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Add a capability (e.g. CAP_NET_ADMIN); repeatable.
    #[arg(short, long)]
    cap: Vec<String>,
    /// Pass this many fds after stdio on to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Container id.
    id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Start the process of a created container.
    Start { id: String },
    /// Create and start a container, and (unless --detach) wait for it and delete it.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container is started.
        #[arg(short, long)]
        detach: bool,
    },
    /// Run a new process in a running container.
    Exec(ExecArgs),
    /// Print the runtime-spec features document (what this runtime supports).
    Features,
    /// Suspend every process of the container (cgroup freezer).
    Pause { id: String },
    /// Resume a paused container.
    Resume { id: String },
    /// List the processes of the container.
    Ps {
        #[arg(short, long, value_enum, default_value = "table")]
        format: commands::ListFormat,
        id: String,
        /// Options passed to ps(1) for the table (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Print the container's events (resource stats, OOM) as JSON lines.
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats events, e.g. 5s or 500ms.
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Change the container's resource limits.
    Update(update::UpdateArgs),
    /// Print the state of a container as JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's init.
    Kill {
        /// Send the signal to every process of the container (needs cgroups).
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped container (any container with --force).
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List the containers under --root.
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        format: commands::ListFormat,
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write runc's template config.json (an interactive `sh`) into the bundle.
    Spec {
        /// Path to the bundle directory.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config for a container started by an unprivileged user.
        #[arg(long)]
        rootless: bool,
        /// Add berth's default seccomp profile (Docker's policy) to the config.
        #[arg(long = "seccomp-default")]
        seccomp_default: bool,
    },
}

fn main() -> ExitCode {
    #[cfg(feature = "failpoints")]
    let _faults = fail::FailScenario::setup();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap exits 0 for --help; usage errors are 1 like runc's.
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if cli.version {
        println!("berth-runtime version {}", env!("CARGO_PKG_VERSION"));
        println!("spec: {}", libcontainer::state::OCI_VERSION);
        return ExitCode::SUCCESS;
    }
    let mut log = match log::Log::open(cli.log.as_deref(), cli.log_format, cli.debug) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("berth-runtime: error: {}", log::one_line(&e));
            return ExitCode::from(1);
        }
    };
    let Some(command) = cli.command.as_ref() else {
        eprintln!("berth-runtime: error: no command given; see --help");
        return ExitCode::from(1);
    };
    // Every command that puts a process into a container runs from a
    // read-only view of this binary (CVE-2019-5736 class).
    if matches!(
        command,
        Command::Create(_) | Command::Run { .. } | Command::Exec(_)
    ) {
        if let Err(e) = libcontainer::exe_seal::ensure_sealed() {
            log.error(&log::one_line(&e.into()));
            return ExitCode::from(if matches!(command, Command::Exec(_)) {
                255
            } else {
                1
            });
        }
    }
    match commands::run(&cli, command, &mut log) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            log.error(&log::one_line(&e));
            // exec's own failures are 255, as runc's: 1..=254 and 128+N
            // belong to the process it runs.
            ExitCode::from(if matches!(command, Command::Exec(_)) {
                255
            } else {
                1
            })
        }
    }
}
