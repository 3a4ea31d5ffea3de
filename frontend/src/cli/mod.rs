//! `berth`'s command line: Docker's commands, flags, output and exit codes, over the
//! engine modules. Nothing here is called by the API daemon, and nothing here calls it.

mod archive;
pub mod format;
mod images;
mod progress;
mod registry;

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
    Inspect(images::InspectArgs),
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
    };
    match cli.command {
        Command::Images(args) => images::images(&cli.root, args),
        Command::Image(command) => images::image(&cli.root, &registry, command),
        Command::Tag(args) => images::tag(&cli.root, args),
        Command::Rmi(args) => images::rmi(&cli.root, args),
        Command::Inspect(args) => images::inspect(&cli.root, args),
        Command::History(args) => images::history(&cli.root, args),
        Command::Import(args) => images::import(&cli.root, args),
        Command::Save(args) => archive::save(&cli.root, args),
        Command::Load(args) => archive::load(&cli.root, args),
        Command::Pull(args) => registry::pull(&cli.root, &registry, args),
        Command::Push(args) => registry::push(&cli.root, &registry, args),
        Command::Login(args) => registry::login(&registry, args),
        Command::Logout(args) => registry::logout(args),
        Command::Search(args) => registry::search(&registry, args),
    }
}
