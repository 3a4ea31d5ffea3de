//! `berth events`: what happens to containers, images and networks, as it happens
//! (and from before, with `--since`), in `docker events`' lines.

use std::io::{ErrorKind, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::format::Format;
use crate::container::logs::parse_time_arg;
use crate::events::{EventFilters, EventLog, EventQuery, EventReader};

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filters: Vec<String>,
    /// Format output using a custom template ('json' for one JSON object a line)
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

pub fn events(root: &Path, args: EventsArgs) -> anyhow::Result<ExitCode> {
    let query = EventQuery {
        since: args.since.as_deref().map(parse_time_arg).transpose()?,
        until: args.until.as_deref().map(parse_time_arg).transpose()?,
        filters: EventFilters::from_args(&args.filters)?,
    };
    let format = match args.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Format::parse("{{json .}}", &[])?),
        Some(text) => Some(Format::parse(text, &[])?),
    };
    let mut reader = EventReader::open(&EventLog::of_store(root), query)?;
    let mut out = std::io::stdout().lock();
    loop {
        let events = reader.next_events()?;
        let mut text = String::new();
        for event in &events {
            match &format {
                Some(format) => text.push_str(&format.render(&[serde_json::to_value(event)?])?),
                None => {
                    text.push_str(&event.line());
                    text.push('\n');
                }
            }
        }
        let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        match written {
            Ok(()) => {}
            // The reader of our output went away (`| head`): done, as Docker is.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(e.into()),
        }
        if events.is_empty() && reader.finished() {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
