//! berth-runtime: an OCI runtime with runc's command line, thin over
//! libcontainer. Parsing arguments and printing live here; everything else
//! is the library's.

mod commands;
mod criu;
mod log;
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
    /// Write debug lines, one at each stage of a command, to the log (stderr without --log).
    #[arg(long, global = true)]
    debug: bool,
    /// Path to the criu binary used by checkpoint and restore.
    #[arg(long, global = true, default_value = "criu")]
    criu: PathBuf,
    /// Ignore cgroup permission errors: true, false or auto (accepted as runc's; see README).
    /// Before the command only, as runc's: `spec --rootless` is another flag.
    #[arg(long, value_enum, default_value = "auto")]
    rootless: Rootless,
    /// Systemd cgroup driver (cgroupsPath "slice:prefix:name"): not yet implemented; accepted and ignored.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// `--rootless`, as runc takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Rootless {
    True,
    False,
    Auto,
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
    /// Do not become a subreaper: processes orphaned in the container go to the host's reaper.
    #[arg(long = "no-subreaper")]
    no_subreaper: bool,
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
    /// Run the process in an existing sub-cgroup: [<controller>[,...]:]<path>; repeatable.
    #[arg(long)]
    cgroup: Vec<String>,
    /// Allow exec in a paused container (the process runs once it is resumed).
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Container id.
    id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Checkpoint a running container through CRIU.
    Checkpoint(criu::CheckpointArgs),
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Delete a stopped container (any container with --force).
    Delete {
        /// Kill the container first if it still runs (SIGKILL).
        #[arg(short, long)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Print the container's events (resource stats, OOM) as JSON lines.
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats events, e.g. 5s or 500ms.
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Container id.
        id: String,
    },
    /// Run a new process in a running container.
    Exec(ExecArgs),
    /// Send a signal (default SIGTERM) to the container's init.
    Kill {
        /// Send the signal to every process of the container (needs cgroups).
        #[arg(short, long)]
        all: bool,
        /// Container id.
        id: String,
        /// A signal name (TERM, SIGKILL, RTMIN+2) or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// List the containers under --root.
    List {
        /// Output format: table or json.
        #[arg(short, long, value_enum, default_value = "table")]
        format: commands::ListFormat,
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Suspend every process of the container (cgroup freezer).
    Pause {
        /// Container id.
        id: String,
    },
    /// List the processes of the container.
    Ps {
        /// Output format: table (ps(1)'s) or json (the pids).
        #[arg(short, long, value_enum, default_value = "table")]
        format: commands::ListFormat,
        /// Container id.
        id: String,
        /// Options passed to ps(1) for the table (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Restore a container from a checkpoint through CRIU.
    Restore(criu::RestoreArgs),
    /// Resume a paused container.
    Resume {
        /// Container id.
        id: String,
    },
    /// Create and start a container, and (unless --detach) wait for it and delete it.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container is started.
        #[arg(short, long)]
        detach: bool,
        /// Do not delete the container after it exits.
        #[arg(long)]
        keep: bool,
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
    /// Start the process of a created container.
    Start {
        /// Container id.
        id: String,
    },
    /// Print the state of a container as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Change the container's resource limits.
    Update(update::UpdateArgs),
    /// Print the runtime-spec features document (what this runtime supports).
    Features,
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
    // After the sealing above, which runs this binary again from its
    // sealed copy: one line per invocation, not two.
    let args: Vec<String> = std::env::args().skip(1).collect();
    log.debug(&format!(
        "berth-runtime {} (spec {}): {}",
        env!("CARGO_PKG_VERSION"),
        libcontainer::state::OCI_VERSION,
        args.join(" ")
    ));
    if cli.systemd_cgroup {
        log.debug("--systemd-cgroup: not yet implemented; cgroupsPath is a cgroupfs path");
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// runc 1.1.5's flags, from `runc --help` and `runc CMD --help`: a
    /// caller written for runc finds each of them here.
    const RUNC_FLAGS: &[(&str, &[&str])] = &[
        (
            "",
            &[
                "debug",
                "log",
                "log-format",
                "root",
                "criu",
                "systemd-cgroup",
                "rootless",
                "help",
                "version",
            ],
        ),
        (
            "checkpoint",
            &[
                "image-path",
                "work-path",
                "parent-path",
                "leave-running",
                "tcp-established",
                "ext-unix-sk",
                "shell-job",
                "lazy-pages",
                "status-fd",
                "page-server",
                "file-locks",
                "pre-dump",
                "manage-cgroups-mode",
                "empty-ns",
                "auto-dedup",
            ],
        ),
        (
            "create",
            &[
                "bundle",
                "console-socket",
                "pid-file",
                "no-pivot",
                "no-new-keyring",
                "preserve-fds",
            ],
        ),
        ("delete", &["force"]),
        ("events", &["interval", "stats"]),
        (
            "exec",
            &[
                "console-socket",
                "cwd",
                "env",
                "tty",
                "user",
                "additional-gids",
                "process",
                "detach",
                "pid-file",
                "process-label",
                "apparmor",
                "no-new-privs",
                "cap",
                "preserve-fds",
                "cgroup",
                "ignore-paused",
            ],
        ),
        ("kill", &["all"]),
        ("list", &["format", "quiet"]),
        ("ps", &["format"]),
        (
            "restore",
            &[
                "console-socket",
                "image-path",
                "work-path",
                "tcp-established",
                "ext-unix-sk",
                "shell-job",
                "file-locks",
                "manage-cgroups-mode",
                "bundle",
                "detach",
                "pid-file",
                "no-subreaper",
                "no-pivot",
                "empty-ns",
                "auto-dedup",
                "lazy-pages",
                "lsm-profile",
                "lsm-mount-context",
            ],
        ),
        (
            "run",
            &[
                "bundle",
                "console-socket",
                "detach",
                "keep",
                "pid-file",
                "no-subreaper",
                "no-pivot",
                "no-new-keyring",
                "preserve-fds",
            ],
        ),
        ("spec", &["bundle", "rootless"]),
        (
            "update",
            &[
                "resources",
                "blkio-weight",
                "cpu-period",
                "cpu-quota",
                "cpu-share",
                "cpu-rt-period",
                "cpu-rt-runtime",
                "cpuset-cpus",
                "cpuset-mems",
                "memory",
                "memory-reservation",
                "memory-swap",
                "pids-limit",
                "l3-cache-schema",
                "mem-bw-schema",
            ],
        ),
    ];

    /// runc's one-letter flags, per command.
    const RUNC_SHORTS: &[(&str, &[char])] = &[
        ("", &['h', 'v']),
        ("create", &['b']),
        ("delete", &['f']),
        ("exec", &['e', 't', 'u', 'g', 'p', 'd', 'c']),
        ("kill", &['a']),
        ("list", &['f', 'q']),
        ("ps", &['f']),
        ("restore", &['b', 'd']),
        ("run", &['b', 'd']),
        ("spec", &['b']),
        ("update", &['r']),
    ];

    #[test]
    fn every_runc_short_flag_is_accepted() {
        let cli = Cli::command();
        for (name, shorts) in RUNC_SHORTS {
            let mut command = if name.is_empty() {
                cli.clone()
            } else {
                cli.find_subcommand(name).expect("command").clone()
            };
            command.build();
            for short in *shorts {
                assert!(
                    command
                        .get_arguments()
                        .any(|a| a.get_short() == Some(*short)),
                    "{name} -{short} is missing"
                );
            }
        }
    }

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_runc_flag_is_accepted() {
        let cli = Cli::command();
        for (name, flags) in RUNC_FLAGS {
            let command = if name.is_empty() {
                &cli
            } else {
                cli.find_subcommand(name)
                    .unwrap_or_else(|| panic!("no command {name}"))
            };
            let mut command = command.clone();
            command.build();
            for flag in *flags {
                assert!(
                    command.get_arguments().any(|a| a.get_long() == Some(flag)),
                    "{name} --{flag} is missing"
                );
            }
        }
    }

    #[test]
    fn help_describes_every_command_and_flag() {
        let mut cli = Cli::command();
        cli.build();
        let mut missing = Vec::new();
        for command in std::iter::once(&cli).chain(cli.get_subcommands()) {
            if command.get_name() != "berth-runtime" && command.get_about().is_none() {
                missing.push(command.get_name().to_string());
            }
            for arg in command.get_arguments() {
                if arg.get_help().is_none() && !arg.is_hide_set() {
                    missing.push(format!("{} {}", command.get_name(), arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "no description: {missing:?}");
    }

    #[test]
    fn systemd_cgroup_is_listed_as_not_yet_implemented() {
        let help = Cli::command().render_long_help().to_string();
        let line = help
            .lines()
            .skip_while(|l| !l.contains("--systemd-cgroup"))
            .take(3)
            .collect::<String>();
        assert!(line.contains("not yet implemented"), "{help}");
    }
}
