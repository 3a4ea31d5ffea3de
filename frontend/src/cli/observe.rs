//! Watching containers: `logs`, `top`, `stats`.

use std::io::{ErrorKind, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::Args;

use super::containers::{open_containers, Globals};
use super::format::Format;
use crate::container::lifecycle::Container;
use crate::container::logs::{
    parse_time_arg, read_logs, write_record, LogError, LogFormat, LogOptions, LogStream,
};
use crate::container::stats::{
    sample_container, table, Cgroups, Sample, StatsEntry, TABLE_COLUMNS,
};
use crate::container::top::{format_top, top as container_top};

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs (or "all")
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// Options for ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

fn log_format(container: &Container) -> anyhow::Result<LogFormat> {
    LogFormat::of(&container.host)
        .ok_or_else(|| anyhow!("configured logging driver does not support reading"))
}

pub fn logs(globals: &Globals<'_>, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let containers = open_containers(globals.root, globals.runroot)?;
    let container = containers.find(&args.container)?;
    let format = log_format(&container)?;
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse::<usize>().map_err(|_| {
            anyhow!("invalid value for \"tail\": {n:?}: expected a number or \"all\"")
        })?),
    };
    let options = LogOptions {
        follow: args.follow,
        tail,
        timestamps: args.timestamps,
        since: args.since.as_deref().map(parse_time_arg).transpose()?,
        until: args.until.as_deref().map(parse_time_arg).transpose()?,
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let running = || container.state().status.is_up();
    let result = read_logs(
        &container.paths.log(),
        format,
        &options,
        &running,
        &mut |record| match record.stream {
            LogStream::Stdout => write_record(&mut stdout.lock(), &record, options.timestamps),
            LogStream::Stderr => write_record(&mut stderr.lock(), &record, options.timestamps),
        },
    );
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `logs | head`: the reader went away, nothing is wrong.
        Err(LogError::Output(e)) if e.kind() == ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}

/// The container's cgroup path, as its config.json gives it to the runtime.
fn cgroup_path(container: &Container) -> anyhow::Result<String> {
    Ok(container.cgroup_path()?)
}

pub fn top(globals: &Globals<'_>, args: TopArgs) -> anyhow::Result<ExitCode> {
    let containers = open_containers(globals.root, globals.runroot)?;
    let container = containers.find(&args.container)?;
    if !container.state().status.is_up() {
        bail!("container {} is not running", container.row.id);
    }
    let cgroups = Cgroups::detect()?;
    let output = container_top(&cgroups, &cgroup_path(&container)?, &args.ps_options)?;
    print!("{}", format_top(&output));
    Ok(ExitCode::SUCCESS)
}

/// One container's figures now; a stopped one reads as zeros, as Docker shows it.
pub fn stats(globals: &Globals<'_>, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let containers = open_containers(globals.root, globals.runroot)?;
    let chosen: Vec<Container> = if args.containers.is_empty() {
        containers
            .list()?
            .into_iter()
            .filter(|c| args.all || c.state().status.is_up())
            .collect()
    } else {
        args.containers
            .iter()
            .map(|name| containers.find(name))
            .collect::<Result<_, _>>()?
    };
    let cgroups = Cgroups::detect()?;
    let format = args
        .format
        .as_deref()
        .map(|f| Format::parse(f, TABLE_COLUMNS))
        .transpose()?;
    let mut previous: Vec<Option<Sample>> = vec![None; chosen.len()];
    let mut out = std::io::stdout();
    // CPU % is over the change between two samples: the first shown comes after one
    // interval, as Docker's.
    let interval = Duration::from_millis(if args.no_stream { 500 } else { 1000 });
    for (slot, container) in previous.iter_mut().zip(&chosen) {
        *slot = Some(sample_container(&cgroups, container));
    }
    loop {
        std::thread::sleep(interval);
        let entries: Vec<StatsEntry> = chosen
            .iter()
            .zip(previous.iter_mut())
            .map(|(container, previous)| {
                let current = sample_container(&cgroups, container);
                let entry = StatsEntry {
                    id: container.row.id.clone(),
                    name: container.row.name.clone(),
                    previous: previous.take(),
                    current: current.clone(),
                };
                *previous = Some(current);
                entry
            })
            .collect();
        let text = match &format {
            Some(format) => {
                let rows: Vec<serde_json::Value> = entries
                    .iter()
                    .map(|e| serde_json::to_value(e.fields(!args.no_trunc)))
                    .collect::<Result<_, _>>()?;
                format.render(&rows)?
            }
            None => table(&entries, !args.no_trunc),
        };
        let written = if args.no_stream {
            out.write_all(text.as_bytes())
        } else {
            // Docker's live view: the screen cleared and drawn again each second.
            out.write_all(b"\x1b[2J\x1b[H")
                .and_then(|()| out.write_all(text.as_bytes()))
        };
        match written.and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(e.into()),
        }
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
