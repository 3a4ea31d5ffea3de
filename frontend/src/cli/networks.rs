//! `network create/ls/inspect/rm/prune/connect/disconnect`: Docker's flags and output
//! over the engine's network module.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{json, Value};

use super::format::{unix_seconds, Format};
use super::open_store;
use crate::container::networking::EndpointRequest;
use crate::network::inspect::{self, NetworkJson};
use crate::network::networks::{self, CreateRequest, Found, NetworkError};

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Create a network
    Create(CreateArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, value_name = "string", default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "strings")]
    subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long, value_name = "strings")]
    gateway: Option<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Set metadata on a network
    #[arg(long, value_name = "list")]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long, value_name = "map")]
    opt: Vec<String>,
    #[arg(value_name = "NETWORK")]
    name: String,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long, value_name = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a
    /// Go template)
    #[arg(long, value_name = "string")]
    format: Option<String>,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long, value_name = "string")]
    format: Option<String>,
    /// Verbose output for diagnostics (accepted; berth has nothing more to say)
    #[arg(short, long)]
    verbose: bool,
    #[arg(value_name = "NETWORK", required = true)]
    networks: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    #[arg(value_name = "NETWORK", required = true)]
    networks: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "strings")]
    alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, value_name = "string")]
    ip: Option<String>,
    #[arg(value_name = "NETWORK")]
    network: String,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

#[derive(Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    #[arg(value_name = "NETWORK")]
    network: String,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub fn network(
    root: &Path,
    runroot: Option<&Path>,
    command: NetworkCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        NetworkCommand::Create(args) => create(root, args),
        NetworkCommand::Ls(args) => ls(root, args),
        NetworkCommand::Inspect(args) => inspect_networks(root, args),
        NetworkCommand::Rm(args) => rm(root, args),
        NetworkCommand::Prune(args) => prune(root, args),
        NetworkCommand::Connect(args) => connect(root, runroot, args),
        NetworkCommand::Disconnect(args) => disconnect(root, runroot, args),
    }
}

/// `k=v` pairs; a bare `k` (allowed for labels) has an empty value.
fn key_values(
    items: &[String],
    what: &str,
    bare_ok: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                map.insert(k.to_string(), v.to_string());
            }
            None if bare_ok && !item.is_empty() => {
                map.insert(item.clone(), String::new());
            }
            _ => bail!("invalid {what} {item:?}: expected key=value"),
        }
    }
    Ok(map)
}

fn create(root: &Path, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let request = CreateRequest {
        name: args.name,
        driver: Some(args.driver),
        subnet: args.subnet,
        gateway: args.gateway,
        internal: args.internal,
        labels: key_values(&args.label, "label", true)?,
        options: key_values(&args.opt, "option", false)?,
    };
    let mut store = open_store(root)?;
    let network = networks::create(&mut store, &request)?;
    println!("{}", network.id);
    Ok(ExitCode::SUCCESS)
}

const LS_HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

fn labels_of(found: &Found) -> BTreeMap<String, String> {
    match found {
        Found::Bridge(n) => n.labels.clone(),
        Found::Builtin(_) => BTreeMap::new(),
    }
}

/// Docker's `network ls` filters; an unknown one is an error as in Docker.
fn keep(found: &Found, containers: usize, filters: &[(String, String)]) -> anyhow::Result<bool> {
    for (key, value) in filters {
        let keep = match key.as_str() {
            "name" => found.name().contains(value.as_str()),
            "id" => found.id().starts_with(&value.to_ascii_lowercase()),
            "driver" => found.driver() == value,
            "scope" => value == "local",
            "label" => {
                let labels = labels_of(found);
                match value.split_once('=') {
                    Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
                    None => labels.contains_key(value),
                }
            }
            "type" => match value.as_str() {
                "custom" => !found.is_predefined(),
                "builtin" => found.is_predefined(),
                _ => bail!("invalid filter: 'type'='{value}'"),
            },
            "dangling" => {
                let dangling = !found.is_predefined() && containers == 0;
                match value.as_str() {
                    "true" | "1" => dangling,
                    "false" | "0" => !dangling,
                    _ => bail!("invalid filter 'dangling={value}'"),
                }
            }
            other => bail!("invalid filter '{other}'"),
        };
        if !keep {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_filters(filters: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))
        })
        .collect()
}

/// `2024-01-02 03:04:05.123456789 +0000 UTC`, as Go prints a time.
fn go_time(rfc3339: &str) -> String {
    match (unix_seconds(rfc3339), rfc3339.len() >= 19) {
        (Some(_), true) => {
            let fraction = rfc3339[19..].trim_end_matches('Z');
            format!(
                "{} {}{fraction} +0000 UTC",
                &rfc3339[..10],
                &rfc3339[11..19]
            )
        }
        _ => rfc3339.to_string(),
    }
}

/// The default bridge's creation time: what `host` and `none` show.
fn default_created(all: &[(Found, usize)]) -> String {
    all.iter()
        .find_map(|(f, _)| match f {
            Found::Bridge(n) if n.is_default() => Some(n.created.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn ls(root: &Path, args: LsArgs) -> anyhow::Result<ExitCode> {
    let filters = parse_filters(&args.filter)?;
    let mut store = open_store(root)?;
    let all = inspect::all(&mut store)?;
    let builtin_created = default_created(&all);
    let mut items = Vec::new();
    let mut ids = Vec::new();
    for (found, containers) in &all {
        if !keep(found, *containers, &filters)? {
            continue;
        }
        let id = found.id();
        let id = if args.no_trunc {
            id
        } else {
            id[..12].to_string()
        };
        let (created, ipv6, internal) = match found {
            Found::Bridge(n) => (n.created.clone(), n.ipv6, n.internal),
            Found::Builtin(_) => (builtin_created.clone(), false, false),
        };
        let labels: Vec<String> = labels_of(found)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        ids.push(id.clone());
        items.push(json!({
            "ID": id,
            "Name": found.name(),
            "Driver": found.driver(),
            "Scope": "local",
            "IPv6": ipv6.to_string(),
            "Internal": internal.to_string(),
            "Labels": labels.join(","),
            "CreatedAt": go_time(&created),
        }));
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.quiet {
        for id in ids {
            writeln!(out, "{id}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let template = match args.format.as_deref() {
        Some("json") => "{{json .}}",
        Some(format) if format != "table" => format,
        _ => "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    };
    let format = Format::parse(template, LS_HEADERS)?;
    write!(out, "{}", format.render(&items)?)?;
    Ok(ExitCode::SUCCESS)
}

fn inspect_networks(root: &Path, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut store = open_store(root)?;
    let builtin_created = networks::ensure_default(&mut store)?.created;
    let mut objects: Vec<NetworkJson> = Vec::new();
    let mut failed = Vec::new();
    for name in &args.networks {
        match networks::find(&mut store, name) {
            Ok(found) => objects.push(inspect::inspect(&mut store, &found, &builtin_created)?),
            Err(NetworkError::NotFound(_)) => failed.push(format!("No such network: {name}")),
            Err(e) => failed.push(e.to_string()),
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match &args.format {
        Some(template) => {
            let format = Format::parse(template, &[])?;
            let values = objects
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<Vec<Value>, _>>()?;
            write!(out, "{}", format.render(&values)?)?;
        }
        None => {
            let mut bytes = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut bytes, formatter);
            objects.serialize(&mut ser)?;
            out.write_all(&bytes)?;
            writeln!(out)?;
        }
    }
    for line in &failed {
        eprintln!("Error: {line}");
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn rm(root: &Path, args: RmArgs) -> anyhow::Result<ExitCode> {
    let mut store = open_store(root)?;
    let mut failed = false;
    let stdout = std::io::stdout();
    for name in &args.networks {
        match networks::remove(&mut store, name) {
            Ok(_) => {
                let _ = writeln!(stdout.lock(), "{name}");
            }
            Err(NetworkError::NotFound(_)) if args.force => {}
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

fn confirm(question: &str) -> anyhow::Result<bool> {
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn prune(root: &Path, args: PruneArgs) -> anyhow::Result<ExitCode> {
    if !args.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\n\
             Are you sure you want to continue?",
        )?
    {
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = open_store(root)?;
    let removed = networks::prune(&mut store)?;
    if !removed.is_empty() {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        writeln!(out, "Deleted Networks:")?;
        for name in removed {
            writeln!(out, "{name}")?;
        }
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A container's id by reference, as the container commands find one.
fn connect(root: &Path, runroot: Option<&Path>, args: ConnectArgs) -> anyhow::Result<ExitCode> {
    let requested = match &args.ip {
        Some(text) => Some(
            text.parse::<Ipv4Addr>()
                .map_err(|_| anyhow!("invalid IPv4 address: {text}"))?,
        ),
        None => None,
    };
    let mut containers = super::containers::open_containers(root, runroot)?;
    let container = containers.find(&args.container)?;
    containers.connect(
        &container,
        &args.network,
        &EndpointRequest {
            aliases: args.alias.clone(),
            ipv4_address: requested,
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

fn disconnect(
    root: &Path,
    runroot: Option<&Path>,
    args: DisconnectArgs,
) -> anyhow::Result<ExitCode> {
    let mut containers = super::containers::open_containers(root, runroot)?;
    let container = containers.find(&args.container)?;
    containers.disconnect(&container, &args.network, args.force)?;
    Ok(ExitCode::SUCCESS)
}
