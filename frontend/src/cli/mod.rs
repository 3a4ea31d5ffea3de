//! `berth`'s command line: Docker's commands, flags, output and exit codes, over the
//! engine modules. Nothing here is called by the API daemon; `berth daemon` only
//! hands its flags to it.

mod archive;
mod containers;
mod daemon;
mod events;
mod exec;
mod files;
pub mod format;
mod images;
mod inspect;
mod networks;
mod observe;
mod progress;
mod ps;
mod registry;
mod run_flags;
mod system;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::image::transfer::RegistryOptions;
use crate::store::{Store, DEFAULT_ROOT};

/// Docker's status for a usage error (unknown flag, missing argument).
const USAGE_ERROR: u8 = 125;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A docker-style container engine: images, containers, networks",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Where images, layers and containers are kept.
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,

    /// A registry that may be reached over plain http or with an unverified
    /// certificate (Docker's `insecure-registries`); loopback ones always may
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,

    /// Where state a reboot clears is kept (runtime state, exit codes); default
    /// /run/berth for the default --root, <root>/run for any other
    #[arg(long, global = true, value_name = "DIR")]
    pub runroot: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List images
    Images(images::ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(images::ImageCommand),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(images::TagArgs),
    /// Remove one or more images
    Rmi(images::RmiArgs),
    /// Display detailed information on one or more images
    Inspect(inspect::InspectArgs),
    /// Show the history of an image
    History(images::HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(images::ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(archive::LoadArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Log in to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Search a registry's catalog for images
    Search(registry::SearchArgs),
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(containers::RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(containers::CreateArgs),
    /// Start one or more stopped containers
    Start(containers::StartArgs),
    /// Stop one or more running containers
    Stop(containers::StopArgs),
    /// Restart one or more containers
    Restart(containers::StopArgs),
    /// Kill one or more running containers
    Kill(containers::KillArgs),
    /// Remove one or more containers
    Rm(containers::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(containers::NamesArgs),
    /// Rename a container
    Rename(containers::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(containers::NamesArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(containers::AttachArgs),
    /// Unpause all processes within one or more containers
    Unpause(containers::NamesArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Display system-wide information
    Info(system::FormatArgs),
    /// Show the berth version information
    Version(system::FormatArgs),
    /// Manage berth
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Fetch the logs of a container
    Logs(observe::LogsArgs),
    /// Display the running processes of a container
    Top(observe::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(observe::StatsArgs),
    /// Get real time events from the store
    Events(events::EventsArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(containers::ContainerCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(networks::NetworkCommand),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(files::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(files::ExportArgs),
    /// Create a new image from a container's changes
    Commit(files::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(files::CpArgs),
    /// List port mappings or a specific mapping for the container
    Port(files::PortArgs),
    /// Serve the Docker Engine API (dockerd's flags where they apply)
    Daemon(daemon::DaemonArgs),
}

/// Opens the store named by `--root`.
pub(crate) fn open_store(cli_root: &std::path::Path) -> anyhow::Result<Store> {
    Ok(Store::open(cli_root)?)
}

/// A closed pipe ends `berth images | head -1` quietly, as it ends docker.
fn die_quietly_on_closed_pipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_DFL installs no handler of ours, and nothing else in this
    // single-threaded start-up has set one for SIGPIPE.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Parses the command line, runs the command, prints any error as one line.
pub fn main() -> ExitCode {
    die_quietly_on_closed_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(USAGE_ERROR),
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let registry = RegistryOptions {
        insecure_registries: cli.insecure_registry.clone(),
        ..RegistryOptions::default()
    };
    let place = (cli.root.clone(), cli.runroot.clone());
    match cli.command {
        Command::Images(args) => images::images(&cli.root, args),
        Command::Image(command) => images::image(&cli.root, &registry, command),
        Command::Tag(args) => images::tag(&cli.root, args),
        Command::Rmi(args) => images::rmi(&cli.root, args),
        Command::Inspect(args) => {
            inspect::inspect(&place.0, place.1.as_deref(), inspect::Kinds::Any, args)
        }
        Command::History(args) => images::history(&cli.root, args),
        Command::Import(args) => images::import(&cli.root, args),
        Command::Save(args) => archive::save(&cli.root, args),
        Command::Load(args) => archive::load(&cli.root, args),
        Command::Pull(args) => registry::pull(&cli.root, &registry, args),
        Command::Push(args) => registry::push(&cli.root, &registry, args),
        Command::Login(args) => registry::login(&registry, args),
        Command::Logout(args) => registry::logout(args),
        Command::Search(args) => registry::search(&registry, args),
        Command::Run(a) => containers(&place, &registry, containers::ContainerCommand::Run(a)),
        Command::Create(a) => {
            containers(&place, &registry, containers::ContainerCommand::Create(a))
        }
        Command::Start(a) => containers(&place, &registry, containers::ContainerCommand::Start(a)),
        Command::Stop(a) => containers(&place, &registry, containers::ContainerCommand::Stop(a)),
        Command::Restart(a) => {
            containers(&place, &registry, containers::ContainerCommand::Restart(a))
        }
        Command::Kill(a) => containers(&place, &registry, containers::ContainerCommand::Kill(a)),
        Command::Rm(a) => containers(&place, &registry, containers::ContainerCommand::Rm(a)),
        Command::Wait(a) => containers(&place, &registry, containers::ContainerCommand::Wait(a)),
        Command::Rename(a) => {
            containers(&place, &registry, containers::ContainerCommand::Rename(a))
        }
        Command::Pause(a) => containers(&place, &registry, containers::ContainerCommand::Pause(a)),
        Command::Attach(a) => {
            containers(&place, &registry, containers::ContainerCommand::Attach(a))
        }
        Command::Unpause(a) => {
            containers(&place, &registry, containers::ContainerCommand::Unpause(a))
        }
        Command::Container(c) => containers(&place, &registry, c),
        Command::Network(c) => networks::network(&cli.root, cli.runroot.as_deref(), c),
        Command::Daemon(args) => daemon::daemon(&cli.root, cli.runroot.as_deref(), args),
        Command::Diff(a) => containers(&place, &registry, containers::ContainerCommand::Diff(a)),
        Command::Export(a) => {
            containers(&place, &registry, containers::ContainerCommand::Export(a))
        }
        Command::Commit(a) => {
            containers(&place, &registry, containers::ContainerCommand::Commit(a))
        }
        Command::Cp(a) => containers(&place, &registry, containers::ContainerCommand::Cp(a)),
        Command::Port(a) => containers(&place, &registry, containers::ContainerCommand::Port(a)),
        Command::Exec(args) => exec::exec(
            &containers::Globals {
                root: &place.0,
                runroot: place.1.as_deref(),
                registry: &registry,
            },
            args,
        ),
        Command::Logs(args) => observe::logs(&globals(&place, &registry), args),
        Command::Top(args) => observe::top(&globals(&place, &registry), args),
        Command::Stats(args) => observe::stats(&globals(&place, &registry), args),
        Command::Events(args) => events::events(&cli.root, args),
        Command::Info(args) => system::info(&globals(&place, &registry), args),
        Command::Version(args) => system::version(args),
        Command::System(command) => system::system(&globals(&place, &registry), command),
        Command::Ps(args) => ps::ps(
            &containers::Globals {
                root: &place.0,
                runroot: place.1.as_deref(),
                registry: &registry,
            },
            args,
        ),
    }
}

/// The global flags the container commands read; `place` is `--root` and `--runroot`.
fn globals<'a>(
    place: &'a (PathBuf, Option<PathBuf>),
    registry: &'a RegistryOptions,
) -> containers::Globals<'a> {
    containers::Globals {
        root: &place.0,
        runroot: place.1.as_deref(),
        registry,
    }
}

/// `place`: `--root` and `--runroot`.
fn containers(
    place: &(PathBuf, Option<PathBuf>),
    registry: &RegistryOptions,
    command: containers::ContainerCommand,
) -> anyhow::Result<ExitCode> {
    let globals = containers::Globals {
        root: &place.0,
        runroot: place.1.as_deref(),
        registry,
    };
    containers::container(&globals, command)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
