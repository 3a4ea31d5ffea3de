//! `update`: runc's resource flags, or a `linux.resources` JSON document
//! (`--resources FILE`, `-` for stdin, which is how Docker calls it), turned
//! into the runtime-spec type the library applies.

use std::path::Path;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

/// The flags of `runc update`; each is applied over `--resources` if both
/// are given.
#[derive(clap::Args, Debug, Default)]
pub struct UpdateArgs {
    /// A linux.resources JSON document to apply ("-" reads stdin).
    #[arg(short, long)]
    pub resources: Option<String>,
    /// Block IO weight, 10 to 1000.
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds per period (-1 for none).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight against other containers).
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds per period.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// Set the cgroup's cpu.idle (1) or clear it (0).
    #[arg(long = "cpu-idle")]
    pub cpu_idle: Option<i64>,
    /// CPUs to run on, e.g. 0-3 or 0,2.
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to allocate from, e.g. 0-1.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit in bytes (suffixes k, m, g, t; -1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit in bytes (suffixes k, m, g, t; -1 for none).
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit in bytes (-1 for none).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of processes (-1 for none).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT settings: not supported (an error if given).
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema: not supported (an error if given).
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// Container id.
    pub id: String,
}

/// A byte count as runc takes it: a number with an optional binary suffix
/// (k, m, g, t, p; optionally followed by b or ib), or -1 for "no limit".
pub fn parse_bytes(text: &str) -> Result<i64> {
    let bad = || anyhow::anyhow!("{text:?}: expected bytes, e.g. 512m, 2g or -1");
    let trimmed = text.trim();
    if trimmed == "-1" {
        return Ok(-1);
    }
    let lower = trimmed.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    let bytes = number * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

fn read_document(source: &str) -> Result<Value> {
    let text = if source == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("--resources -: reading stdin")?;
        text
    } else {
        std::fs::read_to_string(Path::new(source))
            .with_context(|| format!("--resources: reading {source}"))?
    };
    serde_json::from_str(&text).with_context(|| format!("--resources {source}: not JSON"))
}

/// The resources to apply: the document, with each given flag set over it.
pub fn resources(args: &UpdateArgs) -> Result<LinuxResources> {
    if args.l3_cache_schema.is_some() || args.mem_bw_schema.is_some() {
        bail!(
            "--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported by this berth-runtime"
        );
    }
    let mut doc = match &args.resources {
        Some(source) => read_document(source)?,
        None => json!({}),
    };
    if !doc.is_object() {
        bail!("--resources: expected a JSON object (linux.resources)");
    }
    let mut set = |section: &str, key: &str, value: Value| {
        if !doc[section].is_object() {
            doc[section] = json!({});
        }
        doc[section][key] = value;
    };
    if let Some(v) = args.blkio_weight {
        set("blockIO", "weight", json!(v));
    }
    if let Some(v) = args.cpu_period {
        set("cpu", "period", json!(v));
    }
    if let Some(v) = args.cpu_quota {
        set("cpu", "quota", json!(v));
    }
    if let Some(v) = args.cpu_share {
        set("cpu", "shares", json!(v));
    }
    if let Some(v) = args.cpu_rt_period {
        set("cpu", "realtimePeriod", json!(v));
    }
    if let Some(v) = args.cpu_rt_runtime {
        set("cpu", "realtimeRuntime", json!(v));
    }
    if let Some(v) = args.cpu_idle {
        set("cpu", "idle", json!(v));
    }
    if let Some(v) = &args.cpuset_cpus {
        set("cpu", "cpus", json!(v));
    }
    if let Some(v) = &args.cpuset_mems {
        set("cpu", "mems", json!(v));
    }
    for (flag, key, value) in [
        ("--memory", "limit", &args.memory),
        (
            "--memory-reservation",
            "reservation",
            &args.memory_reservation,
        ),
        ("--memory-swap", "swap", &args.memory_swap),
    ] {
        if let Some(text) = value {
            let bytes = parse_bytes(text).with_context(|| flag.to_string())?;
            set("memory", key, json!(bytes));
        }
    }
    if let Some(v) = args.pids_limit {
        set("pids", "limit", json!(v));
    }
    libcontainer::json::from_slice(doc.to_string().as_bytes())
        .map_err(|e| anyhow::anyhow!("resources: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_like_runc() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("512k").unwrap(), 512 * 1024);
        assert_eq!(parse_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        for bad in ["", "m", "12x", "-5", "1..2"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn flags_override_the_document() {
        let args = UpdateArgs {
            memory: Some("64m".into()),
            pids_limit: Some(10),
            cpu_quota: Some(-1),
            ..Default::default()
        };
        let resources = resources(&args).unwrap();
        assert_eq!(resources.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(resources.pids().as_ref().unwrap().limit(), 10);
        assert_eq!(resources.cpu().as_ref().unwrap().quota(), Some(-1));
    }
}
