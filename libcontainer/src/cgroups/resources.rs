//! `linux.resources` → the cgroup files: routing each field to its
//! controller's place, checking it can be honoured, then writing it (the
//! per-version details are in v1.rs, v2.rs, devices.rs, devices_bpf.rs).

use std::path::Path;

use oci_spec::runtime::{LinuxCpu, LinuxResources};

use super::{devices, devices_bpf, fs, v1, v2, Cgroup, DeviceState, Mode, Place};
use crate::error::{Error, Result};

impl Cgroup {
    /// Checks that the host can honour every field of `resources` and that
    /// the values are well-formed, without writing anything. `apply` and
    /// `update` call it first; a caller may call it before `create`.
    pub fn check(&self, resources: &LinuxResources) -> Result<()> {
        self.check_resources(resources, true)
    }

    fn check_resources(&self, r: &LinuxResources, with_devices: bool) -> Result<()> {
        if let Some(m) = r.memory().as_ref().filter(|m| memory_fields(m)) {
            if let Place::V2(_) = self.locate("memory", "linux.resources.memory")? {
                v2::check_memory(m)?;
            }
        }
        if let Some(c) = r.cpu() {
            if cpu_controller_fields(c) {
                if let Place::V2(_) = self.locate("cpu", "linux.resources.cpu")? {
                    v2::check_cpu(c)?;
                }
            }
            if c.cpus().as_deref().is_some_and(|s| !s.is_empty()) {
                self.locate("cpuset", "linux.resources.cpu.cpus")?;
            }
            if c.mems().as_deref().is_some_and(|s| !s.is_empty()) {
                self.locate("cpuset", "linux.resources.cpu.mems")?;
            }
        }
        if r.pids().is_some_and(|p| p.limit() != 0) {
            self.locate("pids", "linux.resources.pids")?;
        }
        if let Some(b) = r.block_io().as_ref().filter(|b| block_io_fields(b)) {
            check_block_io_weights(b)?;
            if let Place::V2(_) = self.block_io_place()? {
                v2::check_io(b)?;
            }
        }
        for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
            let field = format!("linux.resources.hugepageLimits[{i}]");
            self.locate("hugetlb", &field)?;
            check_hugepage(h, &field)?;
        }
        if let Some(n) = r.network() {
            if n.class_id().is_some() {
                self.locate("net_cls", "linux.resources.network.classID")?;
            }
            if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                self.locate("net_prio", "linux.resources.network.priorities")?;
            }
        }
        if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
            self.locate("rdma", "linux.resources.rdma")?;
        }
        if let Some(unified) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            self.check_unified(unified.keys())?;
        }
        if with_devices || r.devices().is_some() {
            DeviceState::for_spec(r.devices().as_deref(), &[])?;
            self.devices_place()?;
        }
        Ok(())
    }

    fn check_unified<'a>(&self, keys: impl Iterator<Item = &'a String>) -> Result<()> {
        for key in keys {
            v2::check_unified_key(key)?;
            let field = format!("linux.resources.unified.{key}");
            let controller = key.split('.').next().unwrap_or_default();
            match (self.mode, self.place(controller)) {
                (Mode::Legacy, _) => {
                    return Err(Error::field(
                        field,
                        "unified resources need cgroup v2; this host has cgroup v1 only",
                    ))
                }
                (Mode::Hybrid, Some(Place::V2(_))) => {}
                (Mode::Hybrid, _) if controller == "cgroup" => {}
                (Mode::Hybrid, _) => {
                    return Err(Error::field(
                        field,
                        format!(
                            "on this hybrid host the {controller} controller is not on cgroup v2 \
                             (v2 serves: {:?}); use the linux.resources field for it",
                            self.unified
                                .as_ref()
                                .map(|u| u.controllers.join(" "))
                                .unwrap_or_default()
                        ),
                    ))
                }
                (Mode::Unified, _) => {}
            }
        }
        Ok(())
    }

    /// Applies every field of `resources` (at create): a missing
    /// `devices` list means the default rules only. `own_devices` are the
    /// paths of the spec's `linux.devices`, whose default rules give way to
    /// the spec's own ([`DeviceState::for_spec`]). Returns warnings for
    /// settings the kernel ignores.
    pub fn apply(&self, resources: &LinuxResources, own_devices: &[&Path]) -> Result<Vec<String>> {
        self.set(resources, true, own_devices)
    }

    /// Like `apply`, for `update`: fields that are absent are left as they
    /// are, the device rules included.
    pub fn update(&self, resources: &LinuxResources, own_devices: &[&Path]) -> Result<Vec<String>> {
        self.set(resources, false, own_devices)
    }

    fn set(
        &self,
        r: &LinuxResources,
        with_devices: bool,
        own_devices: &[&Path],
    ) -> Result<Vec<String>> {
        self.check_resources(r, with_devices)?;
        let mut warnings = Vec::new();
        if let Some(c) = r.cpu() {
            self.set_cpuset(c)?;
        }
        if with_devices || r.devices().is_some() {
            let state = DeviceState::for_spec(r.devices().as_deref(), own_devices)?;
            match self.devices_place()? {
                Place::V1(dir) => devices::write_v1(dir, &state)?,
                Place::V2(dir) => devices_bpf::apply(dir, &state)?,
            }
        }
        if let Some(m) = r.memory().as_ref().filter(|m| memory_fields(m)) {
            let place = self.locate("memory", "linux.resources.memory")?;
            check_before_update(place, m)?;
            warnings.extend(match place {
                Place::V1(dir) => v1::memory(dir, m)?,
                Place::V2(dir) => v2::memory(dir, m)?,
            });
        }
        if let Some(c) = r.cpu().as_ref().filter(|c| cpu_controller_fields(c)) {
            match self.locate("cpu", "linux.resources.cpu")? {
                Place::V1(dir) => v1::cpu(dir, c)?,
                Place::V2(dir) => v2::cpu(dir, c)?,
            }
        }
        if let Some(p) = r.pids().filter(|p| p.limit() != 0) {
            let (Place::V1(dir) | Place::V2(dir)) = self.locate("pids", "linux.resources.pids")?;
            let value = if p.limit() < 0 {
                "max".to_string()
            } else {
                p.limit().to_string()
            };
            fs::write_field(dir, "pids.max", &value, "linux.resources.pids.limit")?;
        }
        if let Some(b) = r.block_io().as_ref().filter(|b| block_io_fields(b)) {
            match self.block_io_place()? {
                Place::V1(dir) => v1::blkio(dir, b)?,
                Place::V2(dir) => v2::io(dir, b)?,
            }
        }
        for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
            let field = format!("linux.resources.hugepageLimits[{i}]");
            let limit = h.limit() as u64; // checked non-negative
            match self.locate("hugetlb", &field)? {
                Place::V1(dir) => v1::hugetlb(dir, h.page_size(), limit, &field)?,
                Place::V2(dir) => v2::hugetlb(dir, h.page_size(), limit, &field)?,
            }
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                let (Place::V1(dir) | Place::V2(dir)) =
                    self.locate("net_cls", "linux.resources.network.classID")?;
                v1::net_cls(dir, id)?;
            }
            if let Some(p) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
                let (Place::V1(dir) | Place::V2(dir)) =
                    self.locate("net_prio", "linux.resources.network.priorities")?;
                v1::net_prio(dir, p)?;
            }
        }
        for (device, limits) in r.rdma().iter().flatten() {
            let (Place::V1(dir) | Place::V2(dir)) = self.locate("rdma", "linux.resources.rdma")?;
            let value = |v: Option<u32>| v.map_or_else(|| "max".to_string(), |v| v.to_string());
            let line = format!(
                "{device} hca_handle={} hca_object={}",
                value(limits.hca_handles()),
                value(limits.hca_objects())
            );
            fs::write_field(
                dir,
                "rdma.max",
                &line,
                &format!("linux.resources.rdma.{device}"),
            )?;
        }
        // Last, so that an explicit file wins over the fields above.
        if let Some(unified) = r.unified() {
            let dir = self.unified.as_ref().map(|u| u.dir.as_path());
            for (key, value) in unified {
                let dir = dir.ok_or_else(|| {
                    Error::field("linux.resources.unified", "no cgroup v2 hierarchy")
                })?;
                v2::unified(dir, key, value)?;
            }
        }
        Ok(warnings)
    }

    fn set_cpuset(&self, c: &LinuxCpu) -> Result<()> {
        for (file, value, name) in [
            ("cpuset.cpus", c.cpus(), "cpus"),
            ("cpuset.mems", c.mems(), "mems"),
        ] {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                let field = format!("linux.resources.cpu.{name}");
                let (Place::V1(dir) | Place::V2(dir)) = self.locate("cpuset", &field)?;
                fs::write_field(dir, file, value, &field)?;
            }
        }
        Ok(())
    }
}

/// Whether an (often empty, `"memory": {}`) memory section asks for
/// anything: an empty one needs no memory controller.
#[allow(deprecated)] // LinuxMemory::kernel is deprecated in the spec
fn memory_fields(m: &oci_spec::runtime::LinuxMemory) -> bool {
    m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.kernel().is_some()
        || m.kernel_tcp().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some()
        || m.use_hierarchy().is_some()
}

fn block_io_fields(b: &oci_spec::runtime::LinuxBlockIo) -> bool {
    let listed = |l: &Option<Vec<_>>| l.as_ref().is_some_and(|l: &Vec<_>| !l.is_empty());
    b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|l| !l.is_empty())
        || listed(b.throttle_read_bps_device())
        || listed(b.throttle_write_bps_device())
        || listed(b.throttle_read_iops_device())
        || listed(b.throttle_write_iops_device())
}

/// Fields written to the cpu controller (cpus and mems are cpuset's).
fn cpu_controller_fields(c: &LinuxCpu) -> bool {
    c.shares().is_some_and(|s| s != 0)
        || c.quota().is_some_and(|q| q != 0)
        || c.period().is_some_and(|p| p != 0)
        || c.burst().is_some()
        || c.realtime_runtime().is_some_and(|r| r != 0)
        || c.realtime_period().is_some_and(|p| p != 0)
        || c.idle().is_some()
}

fn check_block_io_weights(b: &oci_spec::runtime::LinuxBlockIo) -> Result<()> {
    let mut weights = vec![
        ("weight".to_string(), b.weight()),
        ("leafWeight".to_string(), b.leaf_weight()),
    ];
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        weights.push((format!("weightDevice[{i}].weight"), d.weight()));
        weights.push((format!("weightDevice[{i}].leafWeight"), d.leaf_weight()));
    }
    for (name, w) in weights {
        if let Some(w) = w.filter(|&w| w != 0 && !(10..=1000).contains(&w)) {
            return Err(Error::field(
                format!("linux.resources.blockIO.{name}"),
                format!("{w} is out of range 10..=1000"),
            ));
        }
    }
    Ok(())
}

/// The huge page sizes of this host, in the kernel's cgroup file names
/// ("2MB", "1GB"), from /sys/kernel/mm/hugepages/hugepages-<N>kB.
/// Numeric limits where 0 means "not set", as runc reads them: Docker
/// sends `{"cpu": {"shares": 0, "quota": 0}, "memory": {"kernel": 0}, ...}`
/// to `update` and means "leave these alone".
const ZERO_MEANS_UNSET: &[(&str, &str)] = &[
    ("memory", "limit"),
    ("memory", "reservation"),
    ("memory", "swap"),
    ("memory", "kernel"),
    ("memory", "kernelTCP"),
    ("cpu", "shares"),
    ("cpu", "quota"),
    ("cpu", "period"),
    ("cpu", "burst"),
    ("cpu", "realtimeRuntime"),
    ("cpu", "realtimePeriod"),
    ("blockIO", "weight"),
    ("blockIO", "leafWeight"),
    ("pids", "limit"),
];

/// `resources` with every zero of [`ZERO_MEANS_UNSET`] removed.
pub fn zeros_as_unset(resources: &LinuxResources) -> LinuxResources {
    let Ok(mut value) = serde_json::to_value(resources) else {
        return resources.clone();
    };
    for (section, key) in ZERO_MEANS_UNSET {
        if let Some(fields) = value.get_mut(*section).and_then(|s| s.as_object_mut()) {
            if fields.get(*key).and_then(|v| v.as_i64()) == Some(0) {
                fields.remove(*key);
            }
        }
    }
    serde_json::from_value(value).unwrap_or_else(|_| resources.clone())
}

pub fn host_page_sizes() -> Vec<String> {
    let mut sizes: Vec<(u64, String)> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some((kb, page_size_name(kb)))
        })
        .collect();
    sizes.sort();
    sizes.into_iter().map(|(_, name)| name).collect()
}

fn page_size_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb % (1 << 20) == 0 {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb % (1 << 10) == 0 {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

fn check_hugepage(h: &oci_spec::runtime::LinuxHugepageLimit, field: &str) -> Result<()> {
    let sizes = host_page_sizes();
    if !sizes.iter().any(|s| s == h.page_size()) {
        return Err(Error::field(
            format!("{field}.pageSize"),
            format!(
                "{:?} is not a huge page size of this host (it has {sizes:?})",
                h.page_size()
            ),
        ));
    }
    if h.limit() < 0 {
        return Err(Error::field(
            format!("{field}.limit"),
            format!("{} is negative", h.limit()),
        ));
    }
    Ok(())
}

/// runc's checkBeforeUpdate: refuse a memory limit below what the
/// container already uses, instead of letting the kernel reclaim or
/// OOM-kill to get there.
fn check_before_update(place: Place<'_>, m: &oci_spec::runtime::LinuxMemory) -> Result<()> {
    let Some(limit) = m.limit().filter(|&l| l > 0) else {
        return Ok(());
    };
    if m.check_before_update() != Some(true) {
        return Ok(());
    }
    let usage = match place {
        Place::V1(dir) => fs::read_u64(dir, "memory.usage_in_bytes")?,
        Place::V2(dir) => fs::read_u64(dir, "memory.current")?,
    };
    if usage > limit as u64 {
        return Err(Error::field(
            "linux.resources.memory.limit",
            format!("{limit} is below the current usage {usage} (checkBeforeUpdate is set)"),
        ));
    }
    Ok(())
}
