//! `inspect`, `container inspect` and `image inspect`: Docker's JSON for each object
//! named (a container first, then an image, as Docker looks them up), or a Go
//! template rendered for each.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::containers::open_containers;
use super::format::Format;
use crate::container::inspect::ContainerJson;
use crate::container::lifecycle::ContainerError;
use crate::image::inspect::ImageInspect;
use crate::image::local;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long, value_name = "string")]
    pub format: Option<String>,
    /// Return JSON for specified type (container or image)
    #[arg(long, value_name = "string")]
    pub r#type: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    pub size: bool,
    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

/// Which kinds of object a name may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    Any,
    Containers,
    Images,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Inspected {
    Container(Box<ContainerJson>),
    Image(Box<ImageInspect>),
}

pub fn inspect(
    root: &Path,
    runroot: Option<&Path>,
    kinds: Kinds,
    args: InspectArgs,
) -> anyhow::Result<ExitCode> {
    let kinds = match (kinds, args.r#type.as_deref()) {
        (kinds, None) => kinds,
        (Kinds::Any, Some("container")) => Kinds::Containers,
        (Kinds::Any, Some("image")) => Kinds::Images,
        (_, Some(other)) => anyhow::bail!("\"{other}\" is not a valid value for --type"),
    };
    let containers = open_containers(root, runroot)?;
    let mut objects = Vec::new();
    let mut missing = Vec::new();
    for name in &args.names {
        if kinds != Kinds::Images {
            match containers.find(name) {
                Ok(container) => {
                    objects.push(Inspected::Container(Box::new(
                        containers.inspect(&container),
                    )));
                    continue;
                }
                Err(ContainerError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if kinds != Kinds::Containers {
            match local::resolve(&containers.store, name) {
                Ok((record, _)) => {
                    objects.push(Inspected::Image(Box::new(crate::image::inspect::inspect(
                        &containers.store,
                        &record,
                    )?)));
                    continue;
                }
                Err(local::LocalError::NoSuchImage(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        missing.push(name.clone());
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match &args.format {
        Some(template) => {
            let format = Format::parse(template, &[])?;
            let values = objects
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<Vec<_>, _>>()?;
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
    let what = match kinds {
        Kinds::Any => "object",
        Kinds::Containers => "container",
        Kinds::Images => "image",
    };
    for name in &missing {
        eprintln!("Error: No such {what}: {name}");
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
