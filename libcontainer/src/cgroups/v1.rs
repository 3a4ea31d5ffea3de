//! cgroup v1: `linux.resources` written to each controller's own hierarchy,
//! and the v1 freezer. Every function takes the container's directory in
//! the hierarchy of that controller.
//!
//! | field | file |
//! | --- | --- |
//! | memory.limit / swap | memory.limit_in_bytes / memory.memsw.limit_in_bytes (ordered so the kernel's limit ≤ memsw check holds) |
//! | memory.reservation | memory.soft_limit_in_bytes |
//! | memory.kernel / kernelTCP | memory.kmem.limit_in_bytes / memory.kmem.tcp.limit_in_bytes (read back: kernels ≥ 5.16 ignore kmem limits, a warning then) |
//! | memory.swappiness / disableOOMKiller / useHierarchy | memory.swappiness / memory.oom_control / memory.use_hierarchy |
//! | cpu.shares (read back), period, quota, burst | cpu.shares, cpu.cfs_period_us, cpu.cfs_quota_us, cpu.cfs_burst_us |
//! | cpu.realtimePeriod / realtimeRuntime / idle | cpu.rt_period_us / cpu.rt_runtime_us / cpu.idle |
//! | blockIO.weight / leafWeight | blkio.bfq.weight or blkio.weight / blkio.leaf_weight |
//! | blockIO.weightDevice | blkio.bfq.weight_device or blkio.weight_device, blkio.leaf_weight_device |
//! | blockIO.throttle* | blkio.throttle.{read,write}_{bps,iops}_device |
//! | hugepageLimits | hugetlb.SIZE.limit_in_bytes (+ .rsvd.limit_in_bytes where present) |
//! | network.classID / priorities | net_cls.classid / net_prio.ifpriomap |
//!
//! cpuset, pids and rdma files have the same names on v1 and v2 (mod.rs).

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxThrottleDevice};

use super::fs::{self, write_field};
use crate::error::{Error, Result};

const MEM: &str = "linux.resources.memory";

/// Kernel memory limits must be read back: since Linux 5.16 the kernel
/// accepts the write to memory.kmem.limit_in_bytes and keeps "unlimited",
/// and later kernels drop the files. A limit the kernel does not enforce is
/// a warning, not an error: runc and crun run such configs (Docker still
/// sends them).
fn write_kernel_limit(dir: &Path, file: &str, value: i64, field: &str) -> Result<Option<String>> {
    if !fs::exists(dir, file) {
        return Ok(Some(format!(
            "{field}: ignored: this kernel has no {file} (kernel memory limits are no longer enforced)"
        )));
    }
    write_field(dir, file, &value.to_string(), field)?;
    if value < 0 {
        return Ok(None);
    }
    let now = fs::read_u64(dir, file)?;
    // The kernel rounds a limit down to whole pages, never up.
    Ok((now > value as u64).then(|| {
        format!(
            "{field}: ignored: the kernel accepted {value} in {} but keeps {now}: \
             it no longer enforces this limit",
            dir.join(file).display()
        )
    }))
}

/// Writes the memory fields; returns warnings for the kernel memory limits
/// the kernel ignores.
#[allow(deprecated)] // LinuxMemory::kernel: deprecated in the spec, still a field to honour
pub fn memory(dir: &Path, m: &LinuxMemory) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let limit = m.limit();
    let mut swap = m.swap();
    let memsw_exists = fs::exists(dir, "memory.memsw.limit_in_bytes");
    // Unlimited memory with no word on swap means unlimited swap too.
    if limit == Some(-1) && swap.is_none() && memsw_exists {
        swap = Some(-1);
    }
    let write_limit = |l: i64| {
        write_field(
            dir,
            "memory.limit_in_bytes",
            &l.to_string(),
            &format!("{MEM}.limit"),
        )
    };
    let write_swap = |s: i64| {
        write_field(
            dir,
            "memory.memsw.limit_in_bytes",
            &s.to_string(),
            &format!("{MEM}.swap"),
        )
    };
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // memory.limit_in_bytes may never exceed memsw: raise memsw
            // first when the new memsw is above the current memory limit.
            let current = fs::read_u64(dir, "memory.limit_in_bytes")?;
            if s == -1 || (s as u64) > current {
                write_swap(s)?;
                write_limit(l)?;
            } else {
                write_limit(l)?;
                write_swap(s)?;
            }
        }
        (Some(l), None) => write_limit(l)?,
        (None, Some(s)) => write_swap(s)?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation() {
        write_field(
            dir,
            "memory.soft_limit_in_bytes",
            &r.to_string(),
            &format!("{MEM}.reservation"),
        )?;
    }
    if let Some(k) = m.kernel() {
        warnings.extend(write_kernel_limit(
            dir,
            "memory.kmem.limit_in_bytes",
            k,
            &format!("{MEM}.kernel"),
        )?);
    }
    if let Some(k) = m.kernel_tcp() {
        warnings.extend(write_kernel_limit(
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            k,
            &format!("{MEM}.kernelTCP"),
        )?);
    }
    if let Some(s) = m.swappiness() {
        write_field(
            dir,
            "memory.swappiness",
            &s.to_string(),
            &format!("{MEM}.swappiness"),
        )?;
    }
    if let Some(disable) = m.disable_oom_killer() {
        write_field(
            dir,
            "memory.oom_control",
            if disable { "1" } else { "0" },
            &format!("{MEM}.disableOOMKiller"),
        )?;
    }
    if let Some(h) = m.use_hierarchy() {
        write_field(
            dir,
            "memory.use_hierarchy",
            if h { "1" } else { "0" },
            &format!("{MEM}.useHierarchy"),
        )?;
    }
    Ok(warnings)
}

const CPU: &str = "linux.resources.cpu";

pub fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        let field = format!("{CPU}.shares");
        write_field(dir, "cpu.shares", &shares.to_string(), &field)?;
        // The kernel clamps silently to 2..=262144.
        let set = fs::read_u64(dir, "cpu.shares")?;
        if set != shares {
            return Err(Error::field(
                field,
                format!("{shares} is out of the kernel's range 2..=262144 (it set {set})"),
            ));
        }
    }
    let quota = c.quota().filter(|&q| q != 0);
    let mut period_pending = None;
    if let Some(period) = c.period().filter(|&p| p != 0) {
        let field = format!("{CPU}.period");
        let path = dir.join("cpu.cfs_period_us");
        match fs::write_path(&path, &period.to_string()) {
            Ok(()) => {}
            // A shorter period can exceed the parent's quota until the new
            // quota is in: retry after it.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && quota.is_some() => {
                period_pending = Some(period)
            }
            Err(e) => return Err(fs::field_error(&field, &path, &period.to_string(), &e)),
        }
    }
    if let Some(q) = quota {
        write_field(
            dir,
            "cpu.cfs_quota_us",
            &q.to_string(),
            &format!("{CPU}.quota"),
        )?;
    }
    if let Some(period) = period_pending {
        write_field(
            dir,
            "cpu.cfs_period_us",
            &period.to_string(),
            &format!("{CPU}.period"),
        )?;
    }
    if let Some(burst) = c.burst() {
        write_field(
            dir,
            "cpu.cfs_burst_us",
            &burst.to_string(),
            &format!("{CPU}.burst"),
        )?;
    }
    // Period before runtime: the runtime must fit in the period.
    if let Some(p) = c.realtime_period().filter(|&p| p != 0) {
        write_field(
            dir,
            "cpu.rt_period_us",
            &p.to_string(),
            &format!("{CPU}.realtimePeriod"),
        )?;
    }
    if let Some(r) = c.realtime_runtime().filter(|&r| r != 0) {
        write_field(
            dir,
            "cpu.rt_runtime_us",
            &r.to_string(),
            &format!("{CPU}.realtimeRuntime"),
        )?;
    }
    // Last: an idle group refuses new shares.
    if let Some(idle) = c.idle() {
        write_field(dir, "cpu.idle", &idle.to_string(), &format!("{CPU}.idle"))?;
    }
    Ok(())
}

const BLKIO: &str = "linux.resources.blockIO";

/// The first of `files` that exists in `dir` (BFQ's before CFQ's).
fn first_present<'a>(dir: &Path, files: &[&'a str]) -> Option<&'a str> {
    files.iter().copied().find(|f| fs::exists(dir, f))
}

fn missing(field: &str, dir: &Path, files: &[&str]) -> Error {
    Error::field(
        field,
        format!(
            "none of {} exists in {}: the host's block I/O scheduler has no cgroup weights",
            files.join(", "),
            dir.display()
        ),
    )
}

fn throttle(
    dir: &Path,
    file: &str,
    list: &Option<Vec<LinuxThrottleDevice>>,
    name: &str,
) -> Result<()> {
    for (i, t) in list.iter().flatten().enumerate() {
        let line = format!("{}:{} {}", t.major(), t.minor(), t.rate());
        write_field(dir, file, &line, &format!("{BLKIO}.{name}[{i}]"))?;
    }
    Ok(())
}

pub fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    const WEIGHT: &[&str] = &["blkio.bfq.weight", "blkio.weight"];
    const WEIGHT_DEVICE: &[&str] = &["blkio.bfq.weight_device", "blkio.weight_device"];
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        let field = format!("{BLKIO}.weight");
        let file = first_present(dir, WEIGHT).ok_or_else(|| missing(&field, dir, WEIGHT))?;
        write_field(dir, file, &w.to_string(), &field)?;
    }
    if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
        write_field(
            dir,
            "blkio.leaf_weight",
            &w.to_string(),
            &format!("{BLKIO}.leafWeight"),
        )?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("{BLKIO}.weightDevice[{i}]");
        if let Some(w) = d.weight() {
            let file = first_present(dir, WEIGHT_DEVICE)
                .ok_or_else(|| missing(&field, dir, WEIGHT_DEVICE))?;
            write_field(
                dir,
                file,
                &format!("{}:{} {w}", d.major(), d.minor()),
                &field,
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            write_field(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", d.major(), d.minor()),
                &format!("{field}.leafWeight"),
            )?;
        }
    }
    throttle(
        dir,
        "blkio.throttle.read_bps_device",
        b.throttle_read_bps_device(),
        "throttleReadBpsDevice",
    )?;
    throttle(
        dir,
        "blkio.throttle.write_bps_device",
        b.throttle_write_bps_device(),
        "throttleWriteBpsDevice",
    )?;
    throttle(
        dir,
        "blkio.throttle.read_iops_device",
        b.throttle_read_iops_device(),
        "throttleReadIOPSDevice",
    )?;
    throttle(
        dir,
        "blkio.throttle.write_iops_device",
        b.throttle_write_iops_device(),
        "throttleWriteIOPSDevice",
    )
}

/// hugetlb.SIZE.limit_in_bytes, and the reservation limit where the kernel
/// has one (the spec: "reservations if supported").
pub fn hugetlb(dir: &Path, size: &str, limit: u64, field: &str) -> Result<()> {
    write_field(
        dir,
        &format!("hugetlb.{size}.limit_in_bytes"),
        &limit.to_string(),
        field,
    )?;
    let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
    if fs::exists(dir, &rsvd) {
        write_field(dir, &rsvd, &limit.to_string(), field)?;
    }
    Ok(())
}

pub fn net_cls(dir: &Path, class_id: u32) -> Result<()> {
    write_field(
        dir,
        "net_cls.classid",
        &class_id.to_string(),
        "linux.resources.network.classID",
    )
}

pub fn net_prio(
    dir: &Path,
    priorities: &[oci_spec::runtime::LinuxInterfacePriority],
) -> Result<()> {
    for (i, p) in priorities.iter().enumerate() {
        write_field(
            dir,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
            &format!("linux.resources.network.priorities[{i}]"),
        )?;
    }
    Ok(())
}

/// Writes FROZEN until freezer.state reads FROZEN: tasks in an
/// uninterruptible sleep keep the cgroup FREEZING, and writing again retries
/// them. On timeout the cgroup is thawed again and the call fails, so a
/// container is never left half frozen.
pub fn freeze(dir: &Path) -> Result<()> {
    let deadline = std::time::Instant::now() + super::FREEZE_TIMEOUT;
    loop {
        fs::write(dir, "freezer.state", "FROZEN")?;
        if fs::read(dir, "freezer.state")? == "FROZEN" {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            let _ = thaw(dir);
            return Err(super::freezer_timeout(dir, false));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

pub fn thaw(dir: &Path) -> Result<()> {
    let deadline = std::time::Instant::now() + super::FREEZE_TIMEOUT;
    loop {
        fs::write(dir, "freezer.state", "THAWED")?;
        if fs::read(dir, "freezer.state")? == "THAWED" {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(super::freezer_timeout(dir, true));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// FROZEN or FREEZING: a freeze was asked for.
pub fn is_frozen(dir: &Path) -> Result<bool> {
    Ok(fs::read(dir, "freezer.state")? != "THAWED")
}
