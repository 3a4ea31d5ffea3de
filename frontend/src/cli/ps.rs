//! `ps`: Docker's columns, STATUS in Docker's words, `-a -q -n -l -s --no-trunc
//! --format -f`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use serde_json::json;

use super::containers::{open_containers, Globals};
use super::format::{ellipsis, human_duration, human_size, Format};
use crate::container::lifecycle::{Container, Containers};
use crate::container::state::{State, Status};
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

/// STATUS as Docker words it.
pub fn status_text(state: &State, now: i64) -> String {
    let since = |rfc: &str| unix_seconds(rfc).map(|t| human_duration(now - t));
    match state.status {
        Status::Created => "Created".to_string(),
        Status::Running | Status::Paused => {
            let up = since(&state.started_at).unwrap_or_else(|| "Less than a second".into());
            if state.status == Status::Paused {
                format!("Up {up} (Paused)")
            } else {
                format!("Up {up}")
            }
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            state.exit_code,
            since(&state.finished_at).unwrap_or_else(|| "Less than a second".into())
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            state.exit_code,
            since(&state.finished_at)
                .or_else(|| since(&state.started_at))
                .unwrap_or_else(|| "Less than a second".into())
        ),
    }
}

/// COMMAND: the process quoted, cut to 20 characters unless `--no-trunc`.
fn command_text(container: &Container, no_trunc: bool) -> String {
    let args: Vec<String> = serde_json::from_str(&container.row.args).unwrap_or_default();
    let mut command = container.row.path.clone();
    for arg in args {
        command.push(' ');
        command.push_str(&arg);
    }
    let command = if no_trunc {
        command
    } else {
        ellipsis(&command, 20)
    };
    format!("\"{command}\"")
}

#[derive(Debug)]
struct Filter {
    key: String,
    value: String,
}

fn parse_filters(filters: &[String]) -> anyhow::Result<Vec<Filter>> {
    filters
        .iter()
        .map(|f| {
            let Some((key, value)) = f.split_once('=') else {
                bail!("bad format of filter (expected name=value): {f}");
            };
            match key {
                "id" | "name" | "status" | "exited" | "ancestor" | "label" => Ok(Filter {
                    key: key.to_string(),
                    value: value.to_string(),
                }),
                _ => bail!("invalid filter '{key}'"),
            }
        })
        .collect()
}

fn matches(filters: &[Filter], container: &Container, state: &State) -> bool {
    // Docker: filters of one key are alternatives, different keys must all hold.
    let mut keys: Vec<&str> = filters.iter().map(|f| f.key.as_str()).collect();
    keys.dedup();
    keys.iter().all(|key| {
        filters.iter().filter(|f| f.key == *key).any(|f| {
            let v = f.value.as_str();
            match *key {
                "id" => container.row.id.starts_with(v),
                "name" => container.row.name.contains(v.trim_start_matches('/')),
                "status" => state.status.as_str() == v,
                "exited" => state.status == Status::Exited && state.exit_code.to_string() == v,
                "ancestor" => {
                    container.row.image_name == v
                        || container.row.image_id == v
                        || container
                            .row
                            .image_id
                            .trim_start_matches("sha256:")
                            .starts_with(v)
                }
                "label" => {
                    let (k, want) = v.split_once('=').map_or((v, None), |(k, w)| (k, Some(w)));
                    container
                        .config
                        .labels
                        .get(k)
                        .is_some_and(|have| want.is_none_or(|w| w == have))
                }
                _ => false,
            }
        })
    })
}

/// Docker's PORTS column: each published port as `0.0.0.0:8080->80/tcp`, then the
/// exposed ones not published as `80/tcp`. Ports are published only while a
/// container runs, so only a running one costs a store query.
fn ports_text(containers: &Containers, container: &Container, state: &State) -> String {
    let published = if state.status.is_up() {
        crate::network::ports::ports_of(&containers.store, &container.row.id).unwrap_or_default()
    } else {
        Vec::new()
    };
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
    let filters = parse_filters(&args.filters)?;
    let now = now_unix();
    let limit = if args.latest { 1 } else { args.last };
    let mut rows = Vec::new();
    for (index, container) in containers.list()?.into_iter().enumerate() {
        if limit >= 0 && index as i64 >= limit {
            break;
        }
        let state = container.state();
        if !args.all && limit < 0 && !state.status.is_up() {
            continue;
        }
        if !matches(&filters, &container, &state) {
            continue;
        }
        rows.push((container, state));
    }
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for (container, _) in &rows {
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
        .map(|(container, state)| {
            let created = unix_seconds(&container.row.created).unwrap_or(now);
            let size = if args.size {
                // Docker's: the writable layer, then with the image's layers under it.
                let writable = dir_size(&container.paths.upper());
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
                "Ports": ports_text(&containers, container, state),
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

/// Bytes of the files under `dir` (a container's writable layer).
pub fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => pending.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: Status, code: i32, started: &str, finished: &str) -> State {
        State {
            status,
            pid: 0,
            shim_pid: None,
            exit_code: code,
            oom_killed: false,
            started_at: started.into(),
            finished_at: finished.into(),
            finished: None,
            restart_count: 0,
            error: String::new(),
        }
    }

    #[test]
    fn status_reads_as_dockers() {
        let now = unix_seconds("2026-12-06T10:00:00Z").unwrap();
        let s = state(Status::Running, 0, "2026-12-06T09:59:57Z", "");
        assert_eq!(status_text(&s, now), "Up 3 seconds");
        let s = state(Status::Paused, 0, "2026-12-06T09:00:00Z", "");
        assert_eq!(status_text(&s, now), "Up About an hour (Paused)");
        let s = state(
            Status::Exited,
            0,
            "2026-12-06T09:00:00Z",
            "2026-12-06T09:58:00Z",
        );
        assert_eq!(status_text(&s, now), "Exited (0) 2 minutes ago");
        assert_eq!(
            status_text(&state(Status::Created, 0, "", ""), now),
            "Created"
        );
    }

    #[test]
    fn unknown_filters_are_refused() {
        assert!(parse_filters(&["status=exited".into()]).is_ok());
        assert!(parse_filters(&["colour=red".into()])
            .unwrap_err()
            .to_string()
            .contains("colour"));
        assert!(parse_filters(&["status".into()]).is_err());
    }
}
