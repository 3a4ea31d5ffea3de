//! The commands on a container's files and image: `diff`, `export`, `commit`, `cp`, and
//! `port` (its published ports).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgAction, Args};

use super::containers::{open_containers, Globals};
use crate::container::commit::CommitRequest;
use crate::container::copy::{CopyOptions, HostDest, HostSource};
use crate::container::lifecycle::{Container, Containers};

#[derive(Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "string")]
    pub output: Option<PathBuf>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long, value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long, value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, action = ArgAction::Set, num_args = 0..=1,
          default_value_t = true, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "SRC")]
    pub src: String,
    #[arg(value_name = "DEST")]
    pub dest: String,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

/// An engine error in Docker's words, exit 1.
fn daemon_error(e: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("Error: {e}");
    Ok(ExitCode::FAILURE)
}

fn find(
    globals: &Globals<'_>,
    name: &str,
) -> anyhow::Result<Result<(Containers, Container), String>> {
    let containers = open_containers(globals.root, globals.runroot)?;
    Ok(match containers.find(name) {
        Ok(container) => Ok((containers, container)),
        Err(e) => Err(e.to_string()),
    })
}

pub fn diff(globals: &Globals<'_>, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let (containers, container) = match find(globals, &args.container)? {
        Ok(found) => found,
        Err(e) => return daemon_error(e),
    };
    let changes = match containers.changes(&container) {
        Ok(changes) => changes,
        Err(e) => return daemon_error(e),
    };
    let mut out = std::io::stdout().lock();
    for change in changes {
        writeln!(out, "{change}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(globals: &Globals<'_>, args: ExportArgs) -> anyhow::Result<ExitCode> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let (containers, container) = match find(globals, &args.container)? {
        Ok(found) => found,
        Err(e) => return daemon_error(e),
    };
    let result = match &args.output {
        Some(path) => {
            // Written beside its destination and renamed: a failed export leaves no half
            // archive under the name asked for.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut temp = tempfile::Builder::new()
                .prefix(".berth-export-")
                .tempfile_in(dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            let written = {
                let mut out = std::io::BufWriter::new(temp.as_file_mut());
                containers
                    .export(&container, &mut out)
                    .map(|()| out.flush())
            };
            match written {
                Ok(flushed) => {
                    flushed?;
                    temp.persist(path)
                        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.error))?;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let result = containers.export(&container, &mut out);
            out.flush()?;
            result
        }
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => daemon_error(e),
    }
}

pub fn commit(globals: &Globals<'_>, args: CommitArgs) -> anyhow::Result<ExitCode> {
    let (mut containers, container) = match find(globals, &args.container)? {
        Ok(found) => found,
        Err(e) => return daemon_error(e),
    };
    let request = CommitRequest {
        tag: args.repository,
        author: args.author,
        message: args.message,
        changes: args.change,
        pause: args.pause,
        config: None,
    };
    match containers.commit(&container, &request) {
        Ok(image) => {
            println!("{}", image.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => daemon_error(e),
    }
}

/// Docker's split of a `cp` argument: `NAME:PATH` names a container unless the argument
/// is an absolute path or starts with `.`.
fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((container, path)) if !container.starts_with('.') => (Some(container), path),
        _ => (None, arg),
    }
}

pub fn cp(globals: &Globals<'_>, args: CpArgs) -> anyhow::Result<ExitCode> {
    let options = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
    };
    let (src_container, src) = split_cp_arg(&args.src);
    let (dest_container, dest) = split_cp_arg(&args.dest);
    match (src_container, dest_container) {
        (Some(_), Some(_)) => anyhow::bail!("copying between containers is not supported"),
        (None, None) => anyhow::bail!("must specify at least one container source"),
        (Some(name), None) => {
            let (containers, container) = match find(globals, name)? {
                Ok(found) => found,
                Err(e) => return daemon_error(e),
            };
            let src = if src.is_empty() { "/" } else { src };
            let to_stdout = dest == "-";
            let result = if to_stdout {
                if std::io::stdout().is_terminal() {
                    anyhow::bail!(
                        "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                    );
                }
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                let result =
                    containers.copy_from(&container, src, HostDest::Tar(&mut out), &options);
                out.flush()?;
                result
            } else {
                containers.copy_from(&container, src, HostDest::Path(Path::new(dest)), &options)
            };
            match result {
                Ok(bytes) => {
                    if !to_stdout {
                        report_copied(args.quiet, bytes, dest);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => daemon_error(e),
            }
        }
        (None, Some(name)) => {
            let src_path = Path::new(src);
            if src != "-" {
                if let Err(e) = std::fs::symlink_metadata(src_path) {
                    // Go's words for the error, as Docker prints them.
                    let problem = match e.raw_os_error() {
                        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
                        None => e.to_string(),
                    };
                    anyhow::bail!("lstat {}: {problem}", src_path.display());
                }
            }
            let (containers, container) = match find(globals, name)? {
                Ok(found) => found,
                Err(e) => return daemon_error(e),
            };
            let dest = if dest.is_empty() { "/" } else { dest };
            let result = if src == "-" {
                let stdin = std::io::stdin();
                let mut input = stdin.lock();
                containers.copy_to(&container, HostSource::Tar(&mut input), dest, &options)
            } else {
                containers.copy_to(&container, HostSource::Path(src_path), dest, &options)
            };
            match result {
                Ok(bytes) => {
                    report_copied(args.quiet, bytes, &format!("{name}:{dest}"));
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => daemon_error(e),
            }
        }
    }
}

/// Docker's last line of a `cp` to a terminal: the bytes of tar moved.
fn report_copied(quiet: bool, bytes: u64, dest: &str) {
    if !quiet && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {dest}",
            super::format::human_size(bytes)
        );
    }
}

/// `HOST:PORT` as Go's net.JoinHostPort writes it; no host IP is all of them.
fn host_port(ip: &str, port: &str) -> String {
    let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

pub fn port(globals: &Globals<'_>, args: PortArgs) -> anyhow::Result<ExitCode> {
    let (containers, container) = match find(globals, &args.container)? {
        Ok(found) => found,
        Err(e) => return daemon_error(e),
    };
    // What is published now: a stopped container has no ports, a random one shows
    // the port the host gave it.
    let published = containers.network_of(&container).published;
    let bindings = crate::network::ports::port_map(&published, None);
    let bindings: std::collections::BTreeMap<_, _> = bindings
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let mut out = std::io::stdout().lock();
    match &args.port {
        Some(port) => {
            let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
            let key = format!("{number}/{}", if proto.is_empty() { "tcp" } else { proto });
            match bindings.get(&key).filter(|b| !b.is_empty()) {
                Some(list) => {
                    for binding in list {
                        writeln!(out, "{}", host_port(&binding.host_ip, &binding.host_port))?;
                    }
                }
                None => anyhow::bail!("No public port '{key}' published for {}", args.container),
            }
        }
        None => {
            let mut lines: Vec<String> = bindings
                .iter()
                .flat_map(|(from, list)| {
                    list.iter()
                        .map(move |b| format!("{from} -> {}", host_port(&b.host_ip, &b.host_port)))
                })
                .collect();
            lines.sort();
            for line in lines {
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_arguments_split_as_docker_splits_them() {
        assert_eq!(split_cp_arg("web:/etc/hosts"), (Some("web"), "/etc/hosts"));
        assert_eq!(split_cp_arg("/tmp/a:b"), (None, "/tmp/a:b"));
        assert_eq!(split_cp_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_cp_arg("file"), (None, "file"));
    }

    #[test]
    fn host_ports_are_joined_as_go_joins_them() {
        assert_eq!(host_port("", "8080"), "0.0.0.0:8080");
        assert_eq!(host_port("::1", "80"), "[::1]:80");
    }
}
