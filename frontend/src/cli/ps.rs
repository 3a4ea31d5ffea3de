//! `ps`: Docker's columns, STATUS in Docker's words, `-a -q -n -l -s --no-trunc
//! --format -f`.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::containers::{open_containers, Globals};
use super::format::{ellipsis, human_duration, human_size, Format};
use crate::container::lifecycle::Container;
use crate::container::listing::{command_line, status_text, Filters, ListOptions, Listed};
use crate::network::ports::PublishedPort;
use crate::time::{now_unix, unix_seconds};

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Filter output based on conditions provided (id, name, status, exited, ancestor, label)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("RunningFor", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

/// COMMAND: the process quoted, cut to 20 characters unless `--no-trunc`.
fn command_text(container: &Container, no_trunc: bool) -> String {
    let command = command_line(container);
    let command = if no_trunc {
        command
    } else {
        ellipsis(&command, 20)
    };
    format!("\"{command}\"")
}

/// Docker's PORTS column: each published port as `0.0.0.0:8080->80/tcp`, then the
/// exposed ones not published as `80/tcp`.
fn ports_text(container: &Container, published: &[PublishedPort]) -> String {
    let mut parts: Vec<String> = published
        .iter()
        .map(|p| format!("{}:{}->{}", p.host_ip, p.host_port, p.key()))
        .collect();
    for key in container.config.exposed_ports.iter().flat_map(|e| e.keys()) {
        if !published.iter().any(|p| &p.key() == key) {
            parts.push(key.clone());
        }
    }
    parts.join(", ")
}

pub fn ps(globals: &Globals<'_>, args: PsArgs) -> anyhow::Result<ExitCode> {
    let containers = open_containers(globals.root, globals.runroot)?;
    let options = ListOptions {
        all: args.all,
        limit: if args.latest { 1 } else { args.last },
        filters: Filters::from_args(&args.filters)?,
    };
    let now = now_unix();
    let rows = containers.list_filtered(&options)?;
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for Listed { container, .. } in &rows {
            let id = if args.no_trunc {
                container.row.id.as_str()
            } else {
                container.short_id()
            };
            writeln!(out, "{id}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|Listed { container, state, published }| {
            let created = unix_seconds(&container.row.created).unwrap_or(now);
            let size = if args.size {
                // Docker's: the writable layer, then with the image's layers under it.
                let writable = container.size_rw();
                let image = containers
                    .store
                    .image(&container.row.image_id)
                    .ok()
                    .flatten()
                    .map_or(0, |i| i.size);
                format!(
                    "{} (virtual {})",
                    human_size(writable),
                    human_size(writable + image)
                )
            } else {
                String::new()
            };
            json!({
                "ID": if args.no_trunc { container.row.id.as_str() } else { container.short_id() },
                "Image": container.row.image_name,
                "Command": command_text(container, args.no_trunc),
                "RunningFor": format!("{} ago", human_duration(now - created)),
                "CreatedAt": container.row.created,
                "Status": status_text(state, now),
                "State": state.status.as_str(),
                "Ports": ports_text(container, published),
                "Names": container.row.name,
                "Size": size,
                "Labels": container.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Mounts": "",
                "Networks": container.host.network_mode,
            })
        })
        .collect();
    let template = match args.format.as_deref() {
        Some(format) => format.to_string(),
        None if args.size => "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}".to_string(),
        None => "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".to_string(),
    };
    let format = Format::parse(&template, HEADERS)?;
    write!(out, "{}", format.render(&items)?)?;
    Ok(ExitCode::SUCCESS)
}
