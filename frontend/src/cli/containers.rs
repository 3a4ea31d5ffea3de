//! The container commands: run, create, start, stop, restart, kill, rm, wait, rename,
//! pause, unpause, and `container` (their long names, cleanup, prune).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, Subcommand};

use super::run_flags::ContainerFlags;
use super::USAGE_ERROR;
use crate::container::attach::{
    parse_detach_keys, AttachEnd, AttachIo, AttachOptions, AttachSocket, DEFAULT_DETACH_KEYS,
    DETACHED_MESSAGE,
};
use crate::container::lifecycle::{Container, ContainerError, Containers, CreateRequest};
use crate::image::local;

/// The engine's containers, with how the shim calls this berth back; what a crash
/// left is repaired first.
pub fn open_containers(root: &Path, runroot_flag: Option<&Path>) -> anyhow::Result<Containers> {
    let (containers, repaired) = crate::engine::open_containers(root, runroot_flag)?;
    if let Err(e) = repaired {
        eprintln!("berth: warning: repairing what a crash left: {e}");
    }
    Ok(containers)
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct CleanupArgs {
    pub container: String,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// List containers
    #[command(alias = "list", alias = "ps")]
    Ls(super::ps::PsArgs),
    /// Display detailed information on one or more containers
    Inspect(super::inspect::InspectArgs),
    /// Fetch the logs of a container
    Logs(super::observe::LogsArgs),
    /// Display the running processes of a container
    Top(super::observe::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(super::observe::StatsArgs),
    /// Execute a command in a running container
    Exec(super::exec::ExecArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(super::files::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(super::files::ExportArgs),
    /// Create a new image from a container's changes
    Commit(super::files::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(super::files::CpArgs),
    /// List port mappings or a specific mapping for the container
    Port(super::files::PortArgs),
    /// What the shim runs once a container is gone for good (not for users)
    #[command(hide = true)]
    Cleanup(CleanupArgs),
}

/// The global flags the container commands need.
pub struct Globals<'a> {
    pub root: &'a Path,
    pub runroot: Option<&'a Path>,
    pub registry: &'a crate::image::transfer::RegistryOptions,
}

pub fn container(globals: &Globals<'_>, command: ContainerCommand) -> anyhow::Result<ExitCode> {
    match command {
        ContainerCommand::Run(args) => run(globals, args),
        ContainerCommand::Create(args) => create(globals, args),
        ContainerCommand::Start(args) => start(globals, args),
        ContainerCommand::Stop(args) => stop(globals, args, false),
        ContainerCommand::Restart(args) => stop(globals, args, true),
        ContainerCommand::Kill(args) => kill(globals, args),
        ContainerCommand::Rm(args) => rm(globals, args),
        ContainerCommand::Wait(args) => wait(globals, args),
        ContainerCommand::Rename(args) => rename(globals, args),
        ContainerCommand::Pause(args) => each(globals, &args.containers, |c, ct| c.pause(ct)),
        ContainerCommand::Unpause(args) => each(globals, &args.containers, |c, ct| c.unpause(ct)),
        ContainerCommand::Prune(args) => prune(globals, args),
        ContainerCommand::Attach(args) => attach(globals, args),
        ContainerCommand::Ls(args) => super::ps::ps(globals, args),
        ContainerCommand::Logs(args) => super::observe::logs(globals, args),
        ContainerCommand::Top(args) => super::observe::top(globals, args),
        ContainerCommand::Stats(args) => super::observe::stats(globals, args),
        ContainerCommand::Exec(args) => super::exec::exec(globals, args),
        ContainerCommand::Inspect(args) => super::inspect::inspect(
            globals.root,
            globals.runroot,
            super::inspect::Kinds::Containers,
            args,
        ),
        ContainerCommand::Cleanup(args) => cleanup(globals, args),
        ContainerCommand::Diff(args) => super::files::diff(globals, args),
        ContainerCommand::Export(args) => super::files::export(globals, args),
        ContainerCommand::Commit(args) => super::files::commit(globals, args),
        ContainerCommand::Cp(args) => super::files::cp(globals, args),
        ContainerCommand::Port(args) => super::files::port(globals, args),
    }
}

fn open(globals: &Globals<'_>) -> anyhow::Result<Containers> {
    open_containers(globals.root, globals.runroot)
}

/// Creates the container `flags` describe, pulling its image first when the store
/// does not have it (as Docker does).
fn create_container(
    globals: &Globals<'_>,
    containers: &mut Containers,
    flags: &ContainerFlags,
) -> anyhow::Result<Container> {
    let (config, host) = flags.to_configs()?;
    let image = match local::resolve(&containers.store, &flags.image) {
        Ok((record, _)) => record,
        Err(local::LocalError::NoSuchImage(_)) => {
            eprintln!(
                "Unable to find image '{}' locally",
                display_reference(&flags.image)
            );
            super::registry::pull_quietly(&mut containers.store, globals.registry, &flags.image)?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(containers.create(CreateRequest {
        name: flags.name.clone(),
        image_name: flags.image.clone(),
        image_id: image.id,
        config,
        host,
        endpoint: crate::container::networking::EndpointRequest {
            aliases: flags.network_alias.clone(),
            ipv4_address: flags.ip,
        },
    })?)
}

/// `busybox` as Docker echoes it in "Unable to find image": with its tag.
fn display_reference(name: &str) -> String {
    crate::image::reference::Reference::parse(name)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| name.to_string())
}

/// `run`'s own failures exit 125, as Docker's.
fn run_failure(e: anyhow::Error) -> anyhow::Result<ExitCode> {
    eprintln!("berth: Error: {e:#}");
    Ok(ExitCode::from(USAGE_ERROR))
}

fn run(globals: &Globals<'_>, mut args: RunArgs) -> anyhow::Result<ExitCode> {
    let detach_keys = match parse_keys(args.detach_keys.as_deref()) {
        Ok(keys) => keys,
        Err(e) => return run_failure(e),
    };
    let mut containers = match open(globals) {
        Ok(c) => c,
        Err(e) => return run_failure(e),
    };
    if args.detach {
        // Docker: a detached container's stdin stays open across attaches.
        args.flags.attach = false;
    }
    let container = match create_container(globals, &mut containers, &args.flags) {
        Ok(c) => c,
        Err(e) => return run_failure(e),
    };
    if args.detach {
        if let Err(e) = containers.start(&container, &mut |_| Ok(())) {
            let _ = remove_quietly(&mut containers, &container);
            return run_failure(e.into());
        }
        println!("{}", container.row.id);
        return Ok(ExitCode::SUCCESS);
    }
    let options = AttachOptions {
        stdin: container.config.open_stdin,
        tty: container.config.tty,
        detach_keys,
    };
    match start_attached(&mut containers, &container, &options) {
        Ok(code) => Ok(code),
        Err(e) => {
            let _ = remove_quietly(&mut containers, &container);
            run_failure(e.into())
        }
    }
}

/// `--detach-keys`, or Docker's default.
fn parse_keys(spec: Option<&str>) -> anyhow::Result<Vec<u8>> {
    Ok(parse_detach_keys(spec.unwrap_or(DEFAULT_DETACH_KEYS))?)
}

/// Starts `container` with our stdio attached (connected before the start, so no
/// output is missed); its exit status, or 0 after a detach, as Docker's `run`.
fn start_attached(
    containers: &mut Containers,
    container: &Container,
    options: &AttachOptions,
) -> Result<ExitCode, ContainerError> {
    let mut socket = None;
    containers.start(container, &mut |c| {
        socket = Some(AttachSocket::connect(&c.paths)?);
        Ok(())
    })?;
    let Some(socket) = socket else {
        return Err(ContainerError::NotRunning(container.row.id.clone()));
    };
    match socket.attach(&container.paths, options, AttachIo::std())? {
        // The command line passes no hangup fd: only the keys detach it.
        AttachEnd::Detached | AttachEnd::HungUp => Ok(ExitCode::SUCCESS),
        AttachEnd::Ended => {
            let code = containers
                .wait_exit(container, None)
                .or_else(|| containers.exit_record(&container.row.id))
                .unwrap_or(255);
            if container.host.auto_remove {
                // What the shim's exit command would do, done here rather than waited
                // for (a process less on the way); whichever comes second finds
                // nothing left to do.
                if let Err(e) = containers.cleanup(container) {
                    eprintln!("berth: removing container {}: {e}", container.row.id);
                }
            }
            containers.forget_exit_record(&container.row.id);
            Ok(exit_code(code))
        }
    }
}

fn remove_quietly(
    containers: &mut Containers,
    container: &Container,
) -> Result<(), ContainerError> {
    let fresh = containers.find(&container.row.id)?;
    containers.remove(&fresh, true)
}

/// A container's exit status as ours: 0-255, as the shell shows it.
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code.rem_euclid(256)).unwrap_or(255))
}

fn create(globals: &Globals<'_>, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let mut containers = match open(globals) {
        Ok(c) => c,
        Err(e) => return run_failure(e),
    };
    match create_container(globals, &mut containers, &args.flags) {
        Ok(container) => {
            println!("{}", container.row.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => run_failure(e),
    }
}

/// Runs `action` on each named container and prints each name it succeeded for, in
/// the arguments' order, and Docker's error line for each it failed for (exit 1). Like Docker's CLI, which sends these requests all at once,
/// the containers are worked on concurrently (each worker with its own store
/// connection): removing fifty takes about as long as the slowest few.
fn each(
    globals: &Globals<'_>,
    names: &[String],
    action: impl Fn(&mut Containers, &Container) -> Result<(), ContainerError> + Sync,
) -> anyhow::Result<ExitCode> {
    const WORKERS: usize = 8;
    let first = open(globals)?;
    let outcomes: Vec<OnceLock<Result<(), String>>> =
        names.iter().map(|_| OnceLock::new()).collect();
    let next = AtomicUsize::new(0);
    let work = |containers: &mut Containers| loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(name) = names.get(index) else { break };
        let result = containers
            .find(name)
            .and_then(|container| action(containers, &container))
            .map_err(|e| e.to_string());
        let _ = outcomes[index].set(result);
    };
    std::thread::scope(|scope| {
        for _ in 1..WORKERS.min(names.len()) {
            scope.spawn(|| match open(globals) {
                Ok(mut containers) => work(&mut containers),
                Err(e) => {
                    // Leave this worker's share to the others, and say why.
                    eprintln!("Error: {e:#}");
                }
            });
        }
        let mut first = first;
        work(&mut first);
    });
    let mut failed = false;
    let stdout = std::io::stdout();
    for (name, outcome) in names.iter().zip(outcomes) {
        match outcome.into_inner() {
            Some(Ok(())) => {
                let _ = writeln!(stdout.lock(), "{name}");
            }
            Some(Err(e)) => {
                eprintln!("Error: {e}");
                failed = true;
            }
            None => failed = true,
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn start(globals: &Globals<'_>, args: StartArgs) -> anyhow::Result<ExitCode> {
    if args.attach || args.interactive {
        let [name] = args.containers.as_slice() else {
            eprintln!("berth: Error: you cannot start and attach multiple containers at once");
            return Ok(ExitCode::FAILURE);
        };
        let detach_keys = parse_keys(args.detach_keys.as_deref())?;
        let mut containers = open(globals)?;
        let container = containers.find(name)?;
        let options = AttachOptions {
            stdin: args.interactive && container.config.open_stdin,
            tty: container.config.tty,
            detach_keys,
        };
        return Ok(start_attached(&mut containers, &container, &options)?);
    }
    each(globals, &args.containers, |c, container| {
        c.start(container, &mut |_| Ok(()))
    })
}

fn stop(globals: &Globals<'_>, args: StopArgs, restart: bool) -> anyhow::Result<ExitCode> {
    let timeout = args.time.map(|t| Duration::from_secs(t.max(0) as u64));
    each(globals, &args.containers, |c, container| {
        let mut container = container.clone();
        if let Some(signal) = &args.signal {
            container.config.stop_signal = Some(signal.clone());
        }
        if restart {
            c.restart(&container, timeout, &mut |_| Ok(()))
        } else {
            c.stop(&container, timeout)
        }
    })
}

fn kill(globals: &Globals<'_>, args: KillArgs) -> anyhow::Result<ExitCode> {
    let signal = args.signal.trim_start_matches("SIG").to_string();
    each(globals, &args.containers, |c, container| {
        c.kill(container, &signal)
    })
}

fn rm(globals: &Globals<'_>, args: RmArgs) -> anyhow::Result<ExitCode> {
    each(globals, &args.containers, |c, container| {
        c.remove(container, args.force)
    })
}

fn wait(globals: &Globals<'_>, args: NamesArgs) -> anyhow::Result<ExitCode> {
    let containers = open(globals)?;
    let mut failed = false;
    for name in &args.containers {
        match containers.find(name) {
            Ok(container) => {
                let code = containers.wait_exit(&container, None).unwrap_or(255);
                println!("{code}");
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn rename(globals: &Globals<'_>, args: RenameArgs) -> anyhow::Result<ExitCode> {
    let mut containers = open(globals)?;
    let container = containers.find(&args.container)?;
    containers.rename(&container, &args.new_name)?;
    Ok(ExitCode::SUCCESS)
}

fn prune(globals: &Globals<'_>, args: PruneArgs) -> anyhow::Result<ExitCode> {
    if !args.force {
        eprint!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let removed = open(globals)?.prune_stopped()?;
    if !removed.is_empty() {
        println!("Deleted Containers:");
        for id in &removed {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: 0B");
    Ok(ExitCode::SUCCESS)
}

fn cleanup(globals: &Globals<'_>, args: CleanupArgs) -> anyhow::Result<ExitCode> {
    let runroot = crate::engine::runroot(globals.root, globals.runroot);
    if crate::container::cleanup::removed_already(globals.root, &runroot, &args.container) {
        return Ok(ExitCode::SUCCESS);
    }
    let mut containers = open(globals)?;
    match containers.find(&args.container) {
        Ok(container) => containers
            .cleanup(&container)
            .map_err(|e| anyhow!("cleanup of container {}: {e}", args.container))?,
        Err(ContainerError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

fn attach(globals: &Globals<'_>, args: AttachArgs) -> anyhow::Result<ExitCode> {
    let detach_keys = parse_keys(args.detach_keys.as_deref())?;
    let containers = open(globals)?;
    let container = containers.find(&args.container)?;
    let status = container.state().status;
    if !status.is_up() {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    if status == crate::container::state::Status::Paused {
        anyhow::bail!("You cannot attach to a paused container, unpause it first");
    }
    let options = AttachOptions {
        stdin: !args.no_stdin && (container.config.open_stdin || container.config.tty),
        tty: container.config.tty,
        detach_keys,
    };
    match crate::container::attach::attach(&container.paths, &options, AttachIo::std())? {
        AttachEnd::Detached | AttachEnd::HungUp => {
            eprintln!("{DETACHED_MESSAGE}");
            Ok(ExitCode::FAILURE)
        }
        AttachEnd::Ended => {
            let code = containers.wait_exit(&container, None).unwrap_or(255);
            Ok(exit_code(code))
        }
    }
}
