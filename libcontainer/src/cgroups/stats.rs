//! Resource usage in the shape of runc's `events --stats` data (runc's
//! types/events.go): the caller wraps it as `{"type":"stats","id":...,
//! "data": <Stats>}`. Zero counters are omitted where runc omits them.
//!
//! | stat | v1 | v2 |
//! | --- | --- | --- |
//! | cpu.usage total, percpu, kernel/user | cpuacct.usage, usage_percpu(_sys/_user), cpuacct.stat (ticks → ns) | cpu.stat usage/system/user_usec (µs → ns; no per-cpu) |
//! | cpu.throttling | cpu.stat nr_periods, nr_throttled, throttled_time | cpu.stat nr_periods, nr_throttled, throttled_usec |
//! | memory usage/swap/kernel/kernelTCP | memory.{,memsw.,kmem.,kmem.tcp.}{usage_in_bytes,max_usage_in_bytes,failcnt,limit_in_bytes} | memory.current/peak/max, events `max`; swap = swap.current + current |
//! | memory.cache, raw | memory.stat `cache`, all of memory.stat | memory.stat `file`, all of it |
//! | pids | pids.current, pids.max | same |
//! | blkio | blkio.throttle.io_service{_bytes,d}_recursive (CFQ/BFQ files first where present) | io.stat rbytes/wbytes/rios/wios |
//! | hugetlb per size | hugetlb.SIZE.{usage_in_bytes,max_usage_in_bytes,failcnt} | hugetlb.SIZE.current, events `max` |
//! | cpuset | cpuset.cpus, cpuset.mems and flags | cpuset.cpus.effective, cpuset.mems.effective |

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::fs;
use crate::error::Result;

fn zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: IntelRdt,
    pub network_interfaces: Option<Vec<()>>,
}

/// runc reports Intel RDT here; berth does not manage resctrl.
#[derive(Debug, Default, Clone, Serialize)]
pub struct IntelRdt {}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    /// 0 when unlimited, as runc.
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime", skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

/// Nanoseconds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// "0-2,5" → [0, 1, 2, 5]
pub fn parse_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn u64_or_zero(dir: &Path, file: &str) -> Result<u64> {
    Ok(fs::read_u64_opt(dir, file)?.unwrap_or(0))
}

pub fn cpuacct_v1(dir: &Path, usage: &mut CpuUsage) -> Result<()> {
    usage.total = u64_or_zero(dir, "cpuacct.usage")?;
    usage.percpu = numbers(&fs::read_opt(dir, "cpuacct.usage_percpu")?.unwrap_or_default());
    usage.percpu_kernel =
        numbers(&fs::read_opt(dir, "cpuacct.usage_percpu_sys")?.unwrap_or_default());
    usage.percpu_user =
        numbers(&fs::read_opt(dir, "cpuacct.usage_percpu_user")?.unwrap_or_default());
    if let Some(text) = fs::read_opt(dir, "cpuacct.stat")? {
        // USER_HZ ticks; sysconf(_SC_CLK_TCK) is that unit (100 on Linux).
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|&t| t > 0)
            .unwrap_or(100) as u64;
        let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000) / hz;
        usage.user = fs::keyed_value(&text, "user").map_or(0, ns);
        usage.kernel = fs::keyed_value(&text, "system").map_or(0, ns);
    }
    Ok(())
}

pub fn throttling_v1(dir: &Path) -> Result<Throttling> {
    let text = fs::read_opt(dir, "cpu.stat")?.unwrap_or_default();
    Ok(Throttling {
        periods: fs::keyed_value(&text, "nr_periods").unwrap_or(0),
        throttled_periods: fs::keyed_value(&text, "nr_throttled").unwrap_or(0),
        throttled_time: fs::keyed_value(&text, "throttled_time").unwrap_or(0),
    })
}

pub fn cpu_v2(dir: &Path) -> Result<Cpu> {
    let text = fs::read_opt(dir, "cpu.stat")?.unwrap_or_default();
    let us = |key: &str| {
        fs::keyed_value(&text, key)
            .unwrap_or(0)
            .saturating_mul(1000)
    };
    Ok(Cpu {
        usage: CpuUsage {
            total: us("usage_usec"),
            kernel: us("system_usec"),
            user: us("user_usec"),
            ..Default::default()
        },
        throttling: Throttling {
            periods: fs::keyed_value(&text, "nr_periods").unwrap_or(0),
            throttled_periods: fs::keyed_value(&text, "nr_throttled").unwrap_or(0),
            throttled_time: us("throttled_usec"),
        },
    })
}

fn memory_entry_v1(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    Ok(MemoryEntry {
        limit: u64_or_zero(dir, &format!("{prefix}limit_in_bytes"))?,
        usage: u64_or_zero(dir, &format!("{prefix}usage_in_bytes"))?,
        max: u64_or_zero(dir, &format!("{prefix}max_usage_in_bytes"))?,
        failcnt: u64_or_zero(dir, &format!("{prefix}failcnt"))?,
    })
}

fn raw_stat(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>> {
    let text = fs::read_opt(dir, file)?.unwrap_or_default();
    Ok(fs::flat_keyed(&text)
        .map(|(k, v)| (k.to_string(), v))
        .collect())
}

pub fn memory_v1(dir: &Path) -> Result<Memory> {
    let raw = raw_stat(dir, "memory.stat")?;
    Ok(Memory {
        cache: raw.get("cache").copied().unwrap_or(0),
        usage: memory_entry_v1(dir, "memory.")?,
        swap: memory_entry_v1(dir, "memory.memsw.")?,
        kernel: memory_entry_v1(dir, "memory.kmem.")?,
        kernel_tcp: memory_entry_v1(dir, "memory.kmem.tcp.")?,
        raw,
    })
}

pub fn memory_v2(dir: &Path) -> Result<Memory> {
    let raw = raw_stat(dir, "memory.stat")?;
    let events = fs::read_opt(dir, "memory.events")?.unwrap_or_default();
    let current = u64_or_zero(dir, "memory.current")?;
    let limit = u64_or_zero(dir, "memory.max")?;
    let swap_current = u64_or_zero(dir, "memory.swap.current")?;
    let swap_limit = u64_or_zero(dir, "memory.swap.max")?;
    Ok(Memory {
        cache: raw.get("file").copied().unwrap_or(0),
        usage: MemoryEntry {
            limit,
            usage: current,
            max: u64_or_zero(dir, "memory.peak")?,
            failcnt: fs::keyed_value(&events, "max").unwrap_or(0),
        },
        // As v1's memsw: memory and swap together.
        swap: MemoryEntry {
            limit: limit.saturating_add(swap_limit),
            usage: current.saturating_add(swap_current),
            max: 0,
            failcnt: 0,
        },
        kernel: MemoryEntry::default(),
        kernel_tcp: MemoryEntry::default(),
        raw,
    })
}

pub fn pids(dir: &Path) -> Result<Pids> {
    let limit = u64_or_zero(dir, "pids.max")?;
    Ok(Pids {
        current: u64_or_zero(dir, "pids.current")?,
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}

/// `MAJ:MIN Op value` lines of v1 blkio files; the device-less `Total`
/// line is left out.
fn blkio_entries(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (dev, op, value) = (parts.next()?, parts.next()?, parts.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

pub fn blkio_v1(dir: &Path) -> Result<Blkio> {
    // CFQ's files where present, then BFQ's, then the throttle layer's
    // (which counts every bio, whatever the scheduler).
    for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
        let bytes = format!("{prefix}io_service_bytes_recursive");
        if let Some(text) = fs::read_opt(dir, &bytes)? {
            let ops = fs::read_opt(dir, &format!("{prefix}io_serviced_recursive"))?;
            return Ok(Blkio {
                io_service_bytes_recursive: blkio_entries(&text),
                io_serviced_recursive: blkio_entries(&ops.unwrap_or_default()),
            });
        }
    }
    Ok(Blkio::default())
}

pub fn io_v2(dir: &Path) -> Result<Blkio> {
    let text = fs::read_opt(dir, "io.stat")?.unwrap_or_default();
    let mut blkio = Blkio::default();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some((major, minor)) = parts.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for pair in parts {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse() else { continue };
            let (list, op) = match key {
                "rbytes" => (&mut blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    Ok(blkio)
}

pub fn hugetlb_v1(dir: &Path, size: &str) -> Result<Hugetlb> {
    Ok(Hugetlb {
        usage: u64_or_zero(dir, &format!("hugetlb.{size}.usage_in_bytes"))?,
        max: u64_or_zero(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
        failcnt: u64_or_zero(dir, &format!("hugetlb.{size}.failcnt"))?,
    })
}

pub fn hugetlb_v2(dir: &Path, size: &str) -> Result<Hugetlb> {
    let events = fs::read_opt(dir, &format!("hugetlb.{size}.events"))?.unwrap_or_default();
    Ok(Hugetlb {
        usage: u64_or_zero(dir, &format!("hugetlb.{size}.current"))?,
        max: 0,
        failcnt: fs::keyed_value(&events, "max").unwrap_or(0),
    })
}

pub fn cpuset_v1(dir: &Path) -> Result<CpuSet> {
    let flag = |name: &str| u64_or_zero(dir, &format!("cpuset.{name}"));
    Ok(CpuSet {
        cpus: parse_list(&fs::read_opt(dir, "cpuset.cpus")?.unwrap_or_default()),
        mems: parse_list(&fs::read_opt(dir, "cpuset.mems")?.unwrap_or_default()),
        cpu_exclusive: flag("cpu_exclusive")?,
        mem_hardwall: flag("mem_hardwall")?,
        mem_exclusive: flag("mem_exclusive")?,
        memory_migrate: flag("memory_migrate")?,
        memory_spread_page: flag("memory_spread_page")?,
        memory_spread_slab: flag("memory_spread_slab")?,
        memory_pressure: flag("memory_pressure")?,
        sched_load_balance: flag("sched_load_balance")?,
        sched_relax_domain_level: fs::read_opt(dir, "cpuset.sched_relax_domain_level")?
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
    })
}

pub fn cpuset_v2(dir: &Path) -> Result<CpuSet> {
    Ok(CpuSet {
        cpus: parse_list(&fs::read_opt(dir, "cpuset.cpus.effective")?.unwrap_or_default()),
        mems: parse_list(&fs::read_opt(dir, "cpuset.mems.effective")?.unwrap_or_default()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_stats_cpu_lists_expand_ranges() {
        assert_eq!(parse_list("0-2,5\n"), [0, 1, 2, 5]);
        assert!(parse_list("").is_empty());
    }

    #[test]
    fn cgroups_stats_blkio_lines_skip_the_total() {
        let e = blkio_entries("254:0 Read 4096\n254:0 Write 0\nTotal 4096\n");
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].major, e[0].minor, e[0].op.as_str(), e[0].value),
            (254, 0, "Read", 4096)
        );
    }

    #[test]
    fn cgroups_stats_serialize_in_runc_shape() {
        let stats = Stats::default();
        let json = serde_json::to_value(&stats).unwrap();
        for key in [
            "cpu",
            "cpuset",
            "memory",
            "pids",
            "blkio",
            "hugetlb",
            "intel_rdt",
        ] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
        assert_eq!(json["memory"]["usage"]["failcnt"], 0);
        assert!(
            json["memory"].get("cache").is_none(),
            "zero cache omitted like runc"
        );
        assert_eq!(json["cpu"]["usage"]["kernel"], 0);
    }
}
