//! `info`, `version` and `system df`, printed as Docker prints them.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::containers::{open_containers, Globals};
use super::format::{human_size, Format};
use crate::system::{info as gather_info, SystemInfo};

#[derive(Args, Debug)]
pub struct FormatArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(FormatArgs),
    /// Show docker disk usage
    Df(FormatArgs),
}

/// Docker's `units.BytesSize`: binary units, four significant digits (Go's `%.4g`).
fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let whole_digits = if value >= 1.0 {
        value.log10().floor() as usize + 1
    } else {
        1
    };
    let decimals = 4usize.saturating_sub(whole_digits);
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text.as_str()
    };
    format!("{text}{}", UNITS[unit])
}

/// The host's architecture in Go's words (`amd64`, `arm64`), as Docker prints it.
fn arch() -> String {
    crate::image::platform::Platform::host().architecture
}

fn render(format: &str, value: &serde_json::Value) -> anyhow::Result<String> {
    Ok(Format::parse(format, &[])?.render(std::slice::from_ref(value))?)
}

fn print_info(info: &SystemInfo, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "Client:")?;
    writeln!(out, " Version:    {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, " Context:    default")?;
    writeln!(out, " Debug Mode: false")?;
    writeln!(out)?;
    writeln!(out, "Server:")?;
    writeln!(out, " Containers: {}", info.containers)?;
    writeln!(out, "  Running: {}", info.containers_running)?;
    writeln!(out, "  Paused: {}", info.containers_paused)?;
    writeln!(out, "  Stopped: {}", info.containers_stopped)?;
    writeln!(out, " Images: {}", info.images)?;
    writeln!(out, " Server Version: {}", info.server_version)?;
    writeln!(out, " Storage Driver: {}", info.driver)?;
    for [key, value] in &info.driver_status {
        writeln!(out, "  {key}: {value}")?;
    }
    writeln!(out, " Logging Driver: {}", info.logging_driver)?;
    writeln!(out, " Cgroup Driver: {}", info.cgroup_driver)?;
    writeln!(out, " Cgroup Version: {}", info.cgroup_version)?;
    writeln!(out, " Runtimes: {}", info.runtimes.join(" "))?;
    writeln!(out, " Default Runtime: {}", info.default_runtime)?;
    writeln!(out, " Shim: {}", info.shim)?;
    writeln!(out, " Kernel Version: {}", info.kernel_version)?;
    writeln!(out, " Operating System: {}", info.operating_system)?;
    writeln!(out, " OSType: {}", info.os_type)?;
    writeln!(out, " Architecture: {}", info.architecture)?;
    writeln!(out, " CPUs: {}", info.ncpu)?;
    writeln!(out, " Total Memory: {}", bytes_size(info.mem_total))?;
    writeln!(out, " Name: {}", info.name)?;
    writeln!(out, " ID: {}", info.id)?;
    writeln!(out, " Docker Root Dir: {}", info.docker_root_dir)?;
    writeln!(out, " Debug Mode: false")?;
    Ok(())
}

pub fn info(globals: &Globals<'_>, args: FormatArgs) -> anyhow::Result<ExitCode> {
    let containers = open_containers(globals.root, globals.runroot)?;
    let info = gather_info(&containers)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Some(format) => write!(out, "{}", render(&format, &serde_json::to_value(&info)?)?)?,
        None => print_info(&info, &mut out)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn version(args: FormatArgs) -> anyhow::Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    let value = json!({
        "Client": {
            "Version": version, "ApiVersion": "1.41", "Os": "linux",
            "Arch": arch(), "GoVersion": "", "GitCommit": "",
        },
        "Server": {
            "Version": version, "ApiVersion": "1.41", "MinAPIVersion": "1.24", "Os": "linux",
            "Arch": arch(),
            "KernelVersion": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        },
    });
    let mut out = std::io::stdout().lock();
    if let Some(format) = args.format {
        write!(out, "{}", render(&format, &value)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "Client:")?;
    writeln!(out, " Version:           {version}")?;
    writeln!(out, " API version:       1.41")?;
    writeln!(out, " OS/Arch:           linux/{}", arch())?;
    writeln!(out)?;
    writeln!(out, "Server: berth (daemonless)")?;
    writeln!(out, " Engine:")?;
    writeln!(out, "  Version:          {version}")?;
    writeln!(out, "  API version:      1.41 (minimum version 1.24)")?;
    writeln!(out, "  OS/Arch:          linux/{}", arch())?;
    Ok(ExitCode::SUCCESS)
}

pub fn system(globals: &Globals<'_>, command: SystemCommand) -> anyhow::Result<ExitCode> {
    match command {
        SystemCommand::Info(args) => info(globals, args),
        SystemCommand::Df(args) => df(globals, args),
    }
}

fn df(globals: &Globals<'_>, args: FormatArgs) -> anyhow::Result<ExitCode> {
    let containers = open_containers(globals.root, globals.runroot)?;
    let usage = crate::system::disk_usage(&containers)?;
    let (image_bytes, unused_image_bytes) = (usage.image_bytes(), usage.unused_image_bytes());
    let (container_bytes, stopped_bytes) = (usage.container_bytes(), usage.stopped_bytes());
    let percent = |part: u64, whole: u64| match (part * 100).checked_div(whole) {
        Some(p) => format!("{p}%"),
        None => "0%".to_string(),
    };
    let rows = vec![
        json!({"Type": "Images", "TotalCount": usage.images.len(), "Active": usage.active_images(),
               "Size": human_size(image_bytes),
               "Reclaimable": format!("{} ({})", human_size(unused_image_bytes), percent(unused_image_bytes, image_bytes))}),
        json!({"Type": "Containers", "TotalCount": usage.containers.len(), "Active": usage.active_containers(),
               "Size": human_size(container_bytes),
               "Reclaimable": format!("{} ({})", human_size(stopped_bytes), percent(stopped_bytes, container_bytes))}),
        json!({"Type": "Local Volumes", "TotalCount": 0, "Active": 0, "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Build Cache", "TotalCount": 0, "Active": 0, "Size": "0B", "Reclaimable": "0B"}),
    ];
    let template = args.format.unwrap_or_else(|| {
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".to_string()
    });
    let headers = [
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ];
    let format = Format::parse(&template, &headers)?;
    write!(std::io::stdout().lock(), "{}", format.render(&rows)?)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_binary_units_as_docker_info() {
        assert_eq!(bytes_size(512), "512B");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(25_275_019_264), "23.54GiB");
    }
}
