//! cgroup v2 (the unified hierarchy): `linux.resources` in the container's
//! one directory, controller delegation, freeze and kill.
//!
//! | field | file |
//! | --- | --- |
//! | memory.limit | memory.max (`max` for -1) |
//! | memory.swap (memory+swap, as on v1) | memory.swap.max = swap − limit |
//! | memory.reservation | memory.low |
//! | memory.kernel, kernelTCP | no v2 equivalent: ignored with a warning (runc and crun do the same) |
//! | memory.swappiness, disableOOMKiller=true | no v2 equivalent: an error |
//! | cpu.shares | cpu.weight = 1 + (shares − 2) × 9999 / 262142 |
//! | cpu.quota, period | cpu.max `QUOTA PERIOD` (a missing half keeps the current one) |
//! | cpu.burst / idle | cpu.max.burst / cpu.idle |
//! | cpu.realtime* | no v2 equivalent: an error |
//! | blockIO.weight, weightDevice | io.bfq.weight (1..1000 as given) or io.weight (converted 10..1000 → 1..10000) |
//! | blockIO.throttle* | io.max `MAJ:MIN rbps=/wbps=/riops=/wiops=` (0: `max`, as v1's 0 removes the limit) |
//! | blockIO.leafWeight | no v2 equivalent: an error |
//! | hugepageLimits | hugetlb.SIZE.max (+ .rsvd.max where present) |
//! | unified | each key written as a file of the leaf |
//! | devices | an eBPF program (devices_bpf.rs) |

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxThrottleDevice};

use super::fs::{self, write_field};
use super::CgroupError;
use crate::error::{Error, Result};

/// Enables `controllers` for the children of every cgroup from the mount
/// root down to the leaf's parent, where the level offers them. A level
/// that refuses (it holds processes itself, "no internal processes") is left
/// as it is: the resource that needs the controller then fails with a clear
/// error at `apply`, and nothing else is disturbed.
pub fn enable_controllers(mount_point: &Path, leaf: &Path, controllers: &[String]) {
    let Ok(relative) = leaf.strip_prefix(mount_point) else {
        return;
    };
    let mut level = mount_point.to_path_buf();
    for part in relative.components() {
        let offered = fs::read_opt(&level, "cgroup.controllers")
            .ok()
            .flatten()
            .unwrap_or_default();
        let enabled = fs::read_opt(&level, "cgroup.subtree_control")
            .ok()
            .flatten()
            .unwrap_or_default();
        for c in controllers {
            let offered = offered.split_whitespace().any(|o| o == c);
            let enabled = enabled.split_whitespace().any(|e| e == c);
            if offered && !enabled {
                let _ = fs::write(&level, "cgroup.subtree_control", &format!("+{c}"));
            }
        }
        level.push(part);
    }
}

/// A leaf must be a plain domain cgroup to take processes and controllers.
pub fn check_type(leaf: &Path) -> Result<()> {
    match fs::read_opt(leaf, "cgroup.type")?.as_deref() {
        None | Some("domain") | Some("domain threaded") => Ok(()),
        Some(other) => Err(CgroupError::NotDomain {
            path: leaf.to_path_buf(),
            found: other.to_string(),
        }
        .into()),
    }
}

const MEM: &str = "linux.resources.memory";

fn limit_value(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// The v1-style memory+swap total as v2's swap-only value (runc's rule):
/// `None` leaves memory.swap.max alone.
pub fn swap_only(limit: Option<i64>, swap: Option<i64>) -> Result<Option<i64>> {
    match (limit, swap) {
        // Unlimited memory and no word on swap: unlimited swap too.
        (Some(-1), None) => Ok(Some(-1)),
        (_, None) => Ok(None),
        (_, Some(s)) if s < 0 => Ok(Some(-1)),
        (Some(l), Some(s)) if l > 0 => {
            if s < l {
                Err(Error::field(
                    format!("{MEM}.swap"),
                    format!("{s} is below memory.limit {l}: swap is memory+swap and must be at least the limit"),
                ))
            } else {
                Ok(Some(s - l))
            }
        }
        (_, Some(_)) => Err(Error::field(
            format!("{MEM}.swap"),
            "a swap limit needs a memory limit on cgroup v2 (swap is memory+swap)",
        )),
    }
}

/// The fields v2 has no file for; checked before anything is written.
/// (Kernel memory limits are not among them: see [`kernel_memory_ignored`].)
pub fn check_memory(m: &LinuxMemory) -> Result<()> {
    let unsupported = [
        ("swappiness", m.swappiness().is_some()),
        ("disableOOMKiller", m.disable_oom_killer() == Some(true)),
        ("useHierarchy", m.use_hierarchy() == Some(false)),
    ];
    if let Some((name, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(Error::field(
            format!("{MEM}.{name}"),
            "cgroup v2 has no such setting (it exists only on cgroup v1)",
        ));
    }
    swap_only(m.limit(), m.swap()).map(drop)
}

/// Warnings for the kernel memory limits, which v2 has no file for: runc
/// and crun ignore them there, and so do we rather than refuse the config.
#[allow(deprecated)] // LinuxMemory::kernel is deprecated in the spec
pub fn kernel_memory_ignored(m: &LinuxMemory) -> Vec<String> {
    [("kernel", m.kernel()), ("kernelTCP", m.kernel_tcp())]
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(name, _)| format!("{MEM}.{name}: ignored: cgroup v2 has no kernel memory limit"))
        .collect()
}

pub fn memory(dir: &Path, m: &LinuxMemory) -> Result<Vec<String>> {
    check_memory(m)?;
    let swap = swap_only(m.limit(), m.swap())?;
    if let Some(s) = swap {
        if !fs::exists(dir, "memory.swap.max") {
            return Err(Error::field(
                format!("{MEM}.swap"),
                format!(
                    "{} has no memory.swap.max: swap accounting is off on this host",
                    dir.display()
                ),
            ));
        }
        // Swap first: it does not depend on memory.max on v2.
        write_field(
            dir,
            "memory.swap.max",
            &limit_value(s),
            &format!("{MEM}.swap"),
        )?;
    }
    if let Some(l) = m.limit() {
        write_field(dir, "memory.max", &limit_value(l), &format!("{MEM}.limit"))?;
    }
    if let Some(r) = m.reservation() {
        write_field(
            dir,
            "memory.low",
            &limit_value(r),
            &format!("{MEM}.reservation"),
        )?;
    }
    Ok(kernel_memory_ignored(m))
}

const CPU: &str = "linux.resources.cpu";

/// cpu.shares (2..=262144) to cpu.weight (1..=10000), as runc converts.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

pub fn check_cpu(c: &LinuxCpu) -> Result<()> {
    for (name, set) in [
        (
            "realtimeRuntime",
            c.realtime_runtime().is_some_and(|r| r != 0),
        ),
        (
            "realtimePeriod",
            c.realtime_period().is_some_and(|p| p != 0),
        ),
    ] {
        if set {
            return Err(Error::field(
                format!("{CPU}.{name}"),
                "cgroup v2 has no real-time group scheduling",
            ));
        }
    }
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        if !(2..=262144).contains(&shares) {
            return Err(Error::field(
                format!("{CPU}.shares"),
                format!("{shares} is out of range 2..=262144"),
            ));
        }
    }
    Ok(())
}

pub fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    check_cpu(c)?;
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        write_field(
            dir,
            "cpu.weight",
            &shares_to_weight(shares).to_string(),
            &format!("{CPU}.shares"),
        )?;
    }
    let quota = c.quota().filter(|&q| q != 0);
    let period = c.period().filter(|&p| p != 0);
    if quota.is_some() || period.is_some() {
        let field = if quota.is_some() { "quota" } else { "period" };
        // cpu.max holds both: keep the half the spec does not set.
        let current = fs::read_opt(dir, "cpu.max")?.unwrap_or_default();
        let mut parts = current.split_whitespace();
        let (old_quota, old_period) = (parts.next().unwrap_or("max"), parts.next());
        let quota = quota.map_or_else(|| old_quota.to_string(), limit_value);
        let value = match period
            .map(|p| p.to_string())
            .or(old_period.map(str::to_string))
        {
            Some(p) => format!("{quota} {p}"),
            None => quota,
        };
        write_field(dir, "cpu.max", &value, &format!("{CPU}.{field}"))?;
    }
    if let Some(burst) = c.burst() {
        write_field(
            dir,
            "cpu.max.burst",
            &burst.to_string(),
            &format!("{CPU}.burst"),
        )?;
    }
    if let Some(idle) = c.idle() {
        write_field(dir, "cpu.idle", &idle.to_string(), &format!("{CPU}.idle"))?;
    }
    Ok(())
}

const BLKIO: &str = "linux.resources.blockIO";

/// blkio weight (10..=1000) to io.weight (1..=10000), as runc converts.
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight).saturating_sub(10) * 9999) / 990
}

pub fn check_io(b: &LinuxBlockIo) -> Result<()> {
    let leaf = b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some());
    if leaf {
        return Err(Error::field(
            format!("{BLKIO}.leafWeight"),
            "cgroup v2 has no leaf weights (a CFQ-only setting)",
        ));
    }
    Ok(())
}

fn io_max(
    dir: &Path,
    list: &Option<Vec<LinuxThrottleDevice>>,
    key: &str,
    name: &str,
) -> Result<()> {
    for (i, t) in list.iter().flatten().enumerate() {
        let rate = match t.rate() {
            0 => "max".to_string(),
            r => r.to_string(),
        };
        let line = format!("{}:{} {key}={rate}", t.major(), t.minor());
        write_field(dir, "io.max", &line, &format!("{BLKIO}.{name}[{i}]"))?;
    }
    Ok(())
}

pub fn io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    check_io(b)?;
    let bfq = fs::exists(dir, "io.bfq.weight");
    let weight_line = |prefix: &str, w: u16| {
        if bfq {
            ("io.bfq.weight", format!("{prefix} {w}"))
        } else {
            ("io.weight", format!("{prefix} {}", blkio_to_io_weight(w)))
        }
    };
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        let (file, line) = weight_line("default", w);
        write_field(dir, file, &line, &format!("{BLKIO}.weight"))?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = d.weight() {
            let (file, line) = weight_line(&format!("{}:{}", d.major(), d.minor()), w);
            write_field(dir, file, &line, &format!("{BLKIO}.weightDevice[{i}]"))?;
        }
    }
    io_max(
        dir,
        b.throttle_read_bps_device(),
        "rbps",
        "throttleReadBpsDevice",
    )?;
    io_max(
        dir,
        b.throttle_write_bps_device(),
        "wbps",
        "throttleWriteBpsDevice",
    )?;
    io_max(
        dir,
        b.throttle_read_iops_device(),
        "riops",
        "throttleReadIOPSDevice",
    )?;
    io_max(
        dir,
        b.throttle_write_iops_device(),
        "wiops",
        "throttleWriteIOPSDevice",
    )
}

pub fn hugetlb(dir: &Path, size: &str, limit: u64, field: &str) -> Result<()> {
    write_field(
        dir,
        &format!("hugetlb.{size}.max"),
        &limit.to_string(),
        field,
    )?;
    let rsvd = format!("hugetlb.{size}.rsvd.max");
    if fs::exists(dir, &rsvd) {
        write_field(dir, &rsvd, &limit.to_string(), field)?;
    }
    Ok(())
}

/// A `linux.resources.unified` key must name a file of the leaf itself.
pub fn check_unified_key(key: &str) -> Result<()> {
    let field = format!("linux.resources.unified.{key}");
    if key.contains('/') || key.starts_with('.') || !key.contains('.') {
        return Err(Error::field(
            field,
            "expected a cgroup file name such as \"memory.high\"",
        ));
    }
    if matches!(
        key,
        "cgroup.procs" | "cgroup.threads" | "cgroup.subtree_control" | "cgroup.kill"
    ) {
        return Err(Error::field(
            field,
            "the runtime manages this file itself; it is not a resource",
        ));
    }
    Ok(())
}

pub fn unified(dir: &Path, key: &str, value: &str) -> Result<()> {
    check_unified_key(key)?;
    write_field(dir, key, value, &format!("linux.resources.unified.{key}"))
}

/// Waits until cgroup.events reports `frozen want`.
fn wait_frozen(dir: &Path, want: u64) -> Result<bool> {
    let deadline = std::time::Instant::now() + super::FREEZE_TIMEOUT;
    let mut pause = std::time::Duration::from_micros(200);
    loop {
        let events = fs::read(dir, "cgroup.events")?;
        if fs::keyed_value(&events, "frozen") == Some(want) {
            return Ok(true);
        }
        if std::time::Instant::now() > deadline {
            return Ok(false);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(20));
    }
}

/// cgroup.freeze = 1, then waits for the kernel to report every task
/// frozen; thaws again and fails if that does not happen in time.
pub fn freeze(dir: &Path) -> Result<()> {
    fs::write(dir, "cgroup.freeze", "1")?;
    if wait_frozen(dir, 1)? {
        return Ok(());
    }
    let _ = fs::write(dir, "cgroup.freeze", "0");
    Err(super::freezer_timeout(dir, false))
}

pub fn thaw(dir: &Path) -> Result<()> {
    fs::write(dir, "cgroup.freeze", "0")?;
    if wait_frozen(dir, 0)? {
        return Ok(());
    }
    Err(super::freezer_timeout(dir, true))
}

/// A freeze was asked for (cgroup.freeze is 1), finished or not.
pub fn is_frozen(dir: &Path) -> Result<bool> {
    Ok(fs::read_opt(dir, "cgroup.freeze")?.as_deref() == Some("1"))
}

/// Frozen by its own cgroup.freeze or by a frozen ancestor (which only
/// cgroup.events' `frozen` shows).
pub fn is_frozen_effective(dir: &Path) -> Result<bool> {
    let events = fs::read_opt(dir, "cgroup.events")?.unwrap_or_default();
    Ok(is_frozen(dir)? || fs::keyed_value(&events, "frozen") == Some(1))
}

/// SIGKILL to every process of the cgroup and its descendants, atomically
/// with respect to forks (Linux 5.14). Ok(false): the kernel has no
/// cgroup.kill; the caller falls back to signalling each pid.
pub fn kill(dir: &Path) -> Result<bool> {
    if !fs::exists(dir, "cgroup.kill") {
        return Ok(false);
    }
    fs::write(dir, "cgroup.kill", "1")?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_v2_shares_convert_to_weight_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
    }

    #[test]
    fn cgroups_v2_blkio_weight_converts_to_io_weight() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10000);
    }

    #[test]
    fn cgroups_v2_swap_is_memory_plus_swap() {
        assert_eq!(swap_only(Some(100), Some(300)).unwrap(), Some(200));
        assert_eq!(swap_only(Some(-1), None).unwrap(), Some(-1));
        assert_eq!(swap_only(Some(100), None).unwrap(), None);
        assert_eq!(swap_only(Some(100), Some(-1)).unwrap(), Some(-1));
        let err = swap_only(Some(100), Some(50)).unwrap_err().to_string();
        assert!(err.contains("linux.resources.memory.swap"), "{err}");
        assert!(swap_only(None, Some(50)).is_err());
    }

    #[test]
    fn cgroups_v2_refuses_v1_only_settings() {
        let mut m = LinuxMemory::default();
        m.set_swappiness(Some(10));
        let err = check_memory(&m).unwrap_err().to_string();
        assert!(err.contains("linux.resources.memory.swappiness"), "{err}");
        let mut c = LinuxCpu::default();
        c.set_realtime_runtime(Some(1000));
        let err = check_cpu(&c).unwrap_err().to_string();
        assert!(err.contains("linux.resources.cpu.realtimeRuntime"), "{err}");
    }

    #[test]
    fn cgroups_v2_unified_keys_are_plain_file_names() {
        assert!(check_unified_key("memory.high").is_ok());
        assert!(check_unified_key("../memory.high").is_err());
        assert!(check_unified_key("memory").is_err());
        assert!(check_unified_key("cgroup.procs").is_err());
    }
}
