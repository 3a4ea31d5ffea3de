//! cgroups: the container's control groups on a v1, hybrid or v2 host.
//!
//! One [`Cgroup`] value describes a container's cgroups: the host's [`Mode`],
//! the container's directory in every hierarchy, and which of those
//! directories this runtime made. The caller keeps it in state.json, so
//! every later command acts on exactly the same directories and removes only
//! what was made for the container (DESIGN.md: never touch a cgroup the
//! runtime did not create).
//!
//! ## Which hierarchy serves which resource
//! Each resource goes to the hierarchy its controller is bound to, decided
//! per controller rather than per host:
//! - **Legacy** (v1 only): each controller's own v1 mount.
//! - **Unified** (v2 only): the one directory; controllers are enabled in
//!   the ancestors' cgroup.subtree_control at `create`.
//! - **Hybrid** (v1 controllers plus a cgroup2 mount, like this project's
//!   development machines): the container also gets a directory in the
//!   cgroup2 tree (as runc makes one), and a controller that is not mounted
//!   on v1 but offered by the cgroup2 root (here: hugetlb) is served there.
//!   The freezer and device control fall back to v2's cgroup.freeze and
//!   eBPF when v1 lacks them. `unified` keys are accepted for the
//!   controllers that live on v2.
//!
//! A resource the host cannot honour is an error naming the spec field
//! (`linux.resources.network.classID: the net_cls controller is not
//! mounted...`), found by [`Cgroup::check`] before anything is written.
//!
//! Device rules: see [`devices`] (the defaults every container gets live
//! there). Stats: [`stats`]. OOM notifications: [`events`].

pub mod devices;
mod devices_bpf;
mod error;
pub mod events;
mod fs;
mod hierarchy;
mod resources;
pub mod stats;
mod sub;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, SysContext};
pub use devices::DeviceState;
pub use error::CgroupError;
pub use events::{OomEvent, OomWatcher};
pub use resources::{host_page_sizes, zeros_as_unset};
pub use stats::Stats;

/// How long freezing or thawing a cgroup may take before it is an error.
const FREEZE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn freezer_timeout(dir: &Path, thaw: bool) -> Error {
    CgroupError::FreezerTimeout {
        path: dir.to_path_buf(),
        thaw,
        secs: FREEZE_TIMEOUT.as_secs(),
    }
    .into()
}

/// How the host mounts cgroups, from /proc/self/mountinfo.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// v1 controllers only.
    Legacy,
    /// v1 controllers and a cgroup2 mount.
    Hybrid,
    /// cgroup2 only.
    Unified,
}

pub fn detect() -> Result<Mode> {
    hierarchy::Mounts::read()?.mode()
}

/// The container's directory in one v1 hierarchy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct V1Dir {
    /// The controllers of that hierarchy (`["cpu"]`, `["cpu", "cpuacct"]`,
    /// `["name=systemd"]`).
    pub controllers: Vec<String>,
    pub mount: PathBuf,
    pub dir: PathBuf,
}

/// The container's directory in the cgroup2 hierarchy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UnifiedDir {
    pub mount: PathBuf,
    pub dir: PathBuf,
    /// The controllers served here (all the cgroup2 root offers; on a hybrid
    /// host, those not bound to v1).
    pub controllers: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    pub mode: Mode,
    /// `linux.cgroupsPath` as given.
    pub path: PathBuf,
    pub v1: Vec<V1Dir>,
    pub unified: Option<UnifiedDir>,
    /// The directories `create` made, parents first; `destroy` removes these
    /// and nothing else.
    #[serde(default)]
    pub created: Vec<PathBuf>,
    /// A leaf already held processes at `create` (joined with a warning, as
    /// runc does): they are not the container's, so `delete` ends only the
    /// container's init (and its PID namespace), never the whole cgroup.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

/// Where a controller's files are.
#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Cgroup {
    /// Resolves `linux.cgroupsPath` in every hierarchy of `mode`: an absolute
    /// path from each hierarchy's root as the runtime sees it, a relative
    /// one below the runtime's own cgroup in each hierarchy (as runc).
    /// Nothing is created.
    pub fn resolve(cgroups_path: &Path, mode: Mode) -> Result<Cgroup> {
        let mounts = hierarchy::Mounts::read()?;
        let own = if cgroups_path.is_absolute() {
            Vec::new()
        } else {
            hierarchy::own_cgroups()?
        };
        Cgroup::resolve_in(cgroups_path, mode, &mounts, &own)
    }

    fn resolve_in(
        cgroups_path: &Path,
        mode: Mode,
        mounts: &hierarchy::Mounts,
        own: &[crate::rootfs::mountinfo::CgroupMembership],
    ) -> Result<Cgroup> {
        let relative = hierarchy::validate_path(cgroups_path)?;
        let mut v1 = Vec::new();
        if mode != Mode::Unified {
            for m in &mounts.v1 {
                let membership = hierarchy::v1_membership(own, m);
                v1.push(V1Dir {
                    controllers: m.controllers.clone(),
                    mount: m.mount_point.clone(),
                    dir: hierarchy::dir_in(
                        &m.mount_point,
                        &m.root,
                        membership,
                        cgroups_path,
                        &relative,
                    )?,
                });
            }
            if v1.is_empty() {
                return Err(CgroupError::HierarchyMissing {
                    mode: format!("{mode:?}"),
                    missing: "cgroup v1 controller",
                }
                .into());
            }
        }
        let unified = if mode == Mode::Legacy {
            None
        } else {
            let m = mounts
                .v2
                .as_ref()
                .ok_or_else(|| CgroupError::HierarchyMissing {
                    mode: format!("{mode:?}"),
                    missing: "cgroup2 filesystem",
                })?;
            let offered = fs::read_opt(&m.mount_point, "cgroup.controllers")?.unwrap_or_default();
            let controllers = offered
                .split_whitespace()
                .filter(|c| !mounts.v1_mounted(c))
                .map(str::to_string)
                .collect();
            Some(UnifiedDir {
                mount: m.mount_point.clone(),
                dir: hierarchy::dir_in(
                    &m.mount_point,
                    &m.root,
                    hierarchy::v2_membership(own),
                    cgroups_path,
                    &relative,
                )?,
                controllers,
            })
        };
        Ok(Cgroup {
            mode,
            path: cgroups_path.to_path_buf(),
            v1,
            unified,
            created: Vec::new(),
            shared: false,
        })
    }

    /// The container's directory in every hierarchy.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.v1
            .iter()
            .map(|d| d.dir.as_path())
            .chain(self.unified.iter().map(|u| u.dir.as_path()))
    }

    /// mkdir -p in every hierarchy, recording what it made. A v1 cpuset
    /// directory starts with no cpus and mems, so each one made gets its
    /// parent's. On v2 the controllers are enabled in the ancestors. A leaf
    /// that already holds processes is joined with a warning (runc 1.1
    /// does the same); a frozen one is an error, since the init would
    /// freeze on arrival and `create` wait for it for ever. On error
    /// everything made here is removed again.
    pub fn create(&mut self) -> Result<Vec<String>> {
        let mut made = Vec::new();
        let mut populated = Vec::new();
        let result = self
            .make_dirs(&mut made, &mut populated)
            .and_then(|()| self.refuse_frozen());
        match result {
            Ok(()) => {
                self.created.extend(made);
                self.shared = !populated.is_empty();
                Ok(populated)
            }
            Err(e) => {
                fs::remove_made(&made);
                Err(e)
            }
        }
    }

    fn refuse_frozen(&self) -> Result<()> {
        let frozen = match self.freezer() {
            Ok(Place::V1(dir)) => v1::is_frozen(dir)?.then_some(dir),
            Ok(Place::V2(dir)) => v2::is_frozen_effective(dir)?.then_some(dir),
            // No freezer on this host: nothing can be frozen.
            Err(_) => None,
        };
        match frozen {
            Some(dir) => Err(CgroupError::Frozen {
                path: dir.to_path_buf(),
            }
            .into()),
            None => Ok(()),
        }
    }

    /// The directories, as `create` describes; a warning in `populated` for
    /// each existing leaf that holds processes.
    fn make_dirs(&self, made: &mut Vec<PathBuf>, populated: &mut Vec<String>) -> Result<()> {
        for d in &self.v1 {
            let new = fs::mkdir_below(&d.mount, &d.dir)?;
            made.extend(new.iter().cloned());
            if d.controllers.iter().any(|c| c == "cpuset") {
                // Every dir from the mount down, not only those this create
                // made: a parent a concurrent create has just made may not
                // have its cpus and mems yet.
                let below = d.dir.strip_prefix(&d.mount).unwrap_or(Path::new(""));
                let mut dir = d.mount.clone();
                for part in below.components() {
                    dir.push(part);
                    inherit_cpuset(&dir)?;
                }
            }
            if !new.contains(&d.dir) {
                populated.extend(populated_warning(&d.dir)?);
            }
        }
        if let Some(u) = &self.unified {
            let new = fs::mkdir_below(&u.mount, &u.dir)?;
            made.extend(new.iter().cloned());
            v2::enable_controllers(&u.mount, &u.dir, &u.controllers);
            v2::check_type(&u.dir)?;
            if !new.contains(&u.dir) {
                populated.extend(populated_warning(&u.dir)?);
            }
        }
        Ok(())
    }

    /// Moves `pid` into the container's cgroup in every hierarchy.
    pub fn add_process(&self, pid: Pid) -> Result<()> {
        for dir in self.dirs() {
            fs::write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Called by a new, single-threaded process on itself: joins every v1
    /// hierarchy through `tasks` with pid 0. Moving only the calling thread
    /// is the one migration the kernel does without its cgroup-wide
    /// threadgroup lock, whose RCU grace period costs 10-16 ms here on the
    /// first cgroup.procs write; for a one-thread process the result is the
    /// same as a cgroup.procs write.
    pub fn join_v1_as_current_thread(&self) -> Result<()> {
        for d in &self.v1 {
            fs::write(&d.dir, "tasks", "0")?;
        }
        Ok(())
    }

    /// An fd of the cgroup2 leaf (pure v2, or the unified part of a hybrid
    /// host) for clone3(CLONE_INTO_CGROUP), which places the child there
    /// atomically and without a migration. The v1 hierarchies are then
    /// joined by the child itself ([`Cgroup::join_v1_as_current_thread`]).
    pub fn leaf_fd(&self) -> Result<Option<OwnedFd>> {
        let Some(u) = self.unified.as_ref() else {
            return Ok(None);
        };
        let fd = nix::fcntl::open(
            &u.dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ctx(|| format!("opening cgroup {}", u.dir.display()))?;
        Ok(Some(fd))
    }

    fn place(&self, controller: &str) -> Option<Place<'_>> {
        if let Some(d) = self
            .v1
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
        {
            return Some(Place::V1(&d.dir));
        }
        self.unified
            .as_ref()
            .filter(|u| u.controllers.iter().any(|c| c == controller))
            .map(|u| Place::V2(&u.dir))
    }

    /// The controller's place, or an error for `field` saying what the host
    /// has instead.
    fn locate(&self, controller: &str, field: &str) -> Result<Place<'_>> {
        if let Some(place) = self.place(controller) {
            return Ok(place);
        }
        let v1: Vec<String> = self.v1.iter().flat_map(|d| d.controllers.clone()).collect();
        let v2 = self
            .unified
            .as_ref()
            .map(|u| u.controllers.join(" "))
            .unwrap_or_default();
        let message = match (self.mode, controller) {
            (Mode::Unified, "net_cls" | "net_prio") => {
                format!("cgroup v2 has no {controller} controller (this host is cgroup v2 only)")
            }
            (Mode::Unified, _) => format!(
                "the {controller} controller is not available in this cgroup v2 hierarchy \
                 (offered: {v2:?})"
            ),
            _ => format!(
                "the {controller} controller is not mounted on this host \
                 (cgroup v1: {}; cgroup2: {v2:?})",
                v1.join(", ")
            ),
        };
        Err(Error::field(field, message))
    }

    /// v1 "blkio" or v2 "io".
    fn block_io_place(&self) -> Result<Place<'_>> {
        match self.place("blkio").or_else(|| self.place("io")) {
            Some(place) => Ok(place),
            None => self.locate("blkio", "linux.resources.blockIO"),
        }
    }

    /// The v1 freezer, else cgroup.freeze in the cgroup2 directory (a core
    /// file of every non-root v2 cgroup).
    fn freezer(&self) -> Result<Place<'_>> {
        if let Some(place) = self.place("freezer") {
            return Ok(place);
        }
        match &self.unified {
            Some(u) => Ok(Place::V2(&u.dir)),
            None => Err(CgroupError::NoFreezer.into()),
        }
    }

    /// The v1 devices controller, else an eBPF program on the cgroup2
    /// directory.
    fn devices_place(&self) -> Result<Place<'_>> {
        if let Some(place) = self.place("devices") {
            return Ok(place);
        }
        match &self.unified {
            Some(u) => Ok(Place::V2(&u.dir)),
            None => self.locate("devices", "linux.resources.devices"),
        }
    }

    pub fn freeze(&self) -> Result<()> {
        match self.freezer()? {
            Place::V1(dir) => v1::freeze(dir),
            Place::V2(dir) => v2::freeze(dir),
        }
    }

    pub fn thaw(&self) -> Result<()> {
        match self.freezer()? {
            Place::V1(dir) => v1::thaw(dir),
            Place::V2(dir) => v2::thaw(dir),
        }
    }

    /// Whether a freeze was asked for (and not undone); false when the
    /// freezer cannot be read.
    pub fn is_frozen(&self) -> bool {
        let frozen = match self.freezer() {
            Ok(Place::V1(dir)) => v1::is_frozen(dir),
            Ok(Place::V2(dir)) => v2::is_frozen(dir),
            Err(_) => return false,
        };
        frozen.unwrap_or(false)
    }

    /// The directory whose cgroup.procs lists the container's processes.
    fn procs_dir(&self) -> Option<&Path> {
        if self.mode == Mode::Unified {
            return self.unified.as_ref().map(|u| u.dir.as_path());
        }
        for controller in [
            "freezer",
            "pids",
            "devices",
            "memory",
            "cpu",
            "name=systemd",
        ] {
            if let Some(Place::V1(dir)) = self.place(controller) {
                return Some(dir);
            }
        }
        self.dirs().next()
    }

    /// Every process in the container's cgroup and the cgroups below it.
    pub fn pids(&self) -> Result<Vec<Pid>> {
        let mut raw = Vec::new();
        if let Some(dir) = self.procs_dir() {
            fs::procs_recursive(dir, &mut raw)?;
        }
        raw.sort_unstable();
        raw.dedup();
        Ok(raw.into_iter().map(Pid::from_raw).collect())
    }

    /// Signals every process of the container. SIGKILL goes through v2's
    /// cgroup.kill where there is one (no process can fork away); otherwise
    /// the cgroup is frozen, each process signalled, and thawed.
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        if signal == libc::SIGKILL {
            if let Some(u) = &self.unified {
                if v2::kill(&u.dir)? {
                    return Ok(());
                }
            }
        }
        // Frozen, nothing forks away while the pids are read and signalled;
        // a container paused before stays paused. Signal 0 only asks whether
        // they exist, which needs no freeze.
        let froze = signal != 0 && !self.is_frozen() && self.freeze().is_ok();
        let mut result = Ok(());
        for pid in self.pids()? {
            let sent = crate::sys::pidfd_open(pid).and_then(|fd| {
                crate::sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(&fd), signal)
            });
            match sent {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => {
                    if result.is_ok() {
                        result = Err(Error::sys(format!("sending signal {signal} to {pid}"), e));
                    }
                }
            }
        }
        if froze {
            self.thaw()?;
        }
        result
    }

    /// Usage of every controller the container has, in runc's shape.
    pub fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(Place::V1(dir)) = self.place("cpuacct") {
            stats::cpuacct_v1(dir, &mut s.cpu.usage)?;
        }
        match self.place("cpu") {
            Some(Place::V1(dir)) => s.cpu.throttling = stats::throttling_v1(dir)?,
            Some(Place::V2(dir)) => s.cpu = stats::cpu_v2(dir)?,
            // cpu.stat's usage lines are core v2 files.
            None if self.mode == Mode::Unified => {
                if let Some(u) = &self.unified {
                    s.cpu = stats::cpu_v2(&u.dir)?;
                }
            }
            None => {}
        }
        match self.place("memory") {
            Some(Place::V1(dir)) => s.memory = stats::memory_v1(dir)?,
            Some(Place::V2(dir)) => s.memory = stats::memory_v2(dir)?,
            None => {}
        }
        if let Some(Place::V1(dir) | Place::V2(dir)) = self.place("pids") {
            s.pids = stats::pids(dir)?;
        }
        match self.place("blkio").or_else(|| self.place("io")) {
            Some(Place::V1(dir)) => s.blkio = stats::blkio_v1(dir)?,
            Some(Place::V2(dir)) => s.blkio = stats::io_v2(dir)?,
            None => {}
        }
        match self.place("cpuset") {
            Some(Place::V1(dir)) => s.cpuset = stats::cpuset_v1(dir)?,
            Some(Place::V2(dir)) => s.cpuset = stats::cpuset_v2(dir)?,
            None => {}
        }
        if let Some(place) = self.place("hugetlb") {
            for size in host_page_sizes() {
                let h = match place {
                    Place::V1(dir) => stats::hugetlb_v1(dir, &size)?,
                    Place::V2(dir) => stats::hugetlb_v2(dir, &size)?,
                };
                s.hugetlb.insert(size, h);
            }
        }
        Ok(s)
    }

    /// A watcher of the memory cgroup's OOM events, for `events`.
    pub fn oom_events(&self) -> Result<OomWatcher> {
        match self.locate("memory", "memory controller (for OOM events)")? {
            Place::V1(dir) => OomWatcher::v1(dir),
            Place::V2(dir) => OomWatcher::v2(dir),
        }
    }

    /// True when the kernel's OOM killer has killed a process of this
    /// cgroup (memory.oom_control on v1, memory.events on v2): the one
    /// cause of a SIGKILL that the caller can fix by raising the limit.
    pub fn oom_killed(&self) -> bool {
        let file = match self.place("memory") {
            Some(Place::V1(dir)) => fs::read_opt(dir, "memory.oom_control"),
            Some(Place::V2(dir)) => fs::read_opt(dir, "memory.events"),
            None => return false,
        };
        matches!(file, Ok(Some(text)) if fs::keyed_value(&text, "oom_kill").unwrap_or(0) > 0)
    }

    /// Removes the directories `create` made, deepest first. A container
    /// leaf goes with the cgroups the container made below it; a parent it
    /// made (such as /berth) stays while other containers use it. EBUSY
    /// (tasks still draining) is retried for a bounded time; a directory
    /// already gone is fine, so destroy can run again after a failure.
    pub fn destroy(&self) -> Result<()> {
        let leaves: Vec<&Path> = self.dirs().collect();
        let mut created: Vec<&PathBuf> = self.created.iter().collect();
        created.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        let mut first_error = None;
        for dir in created {
            let result = if leaves.contains(&dir.as_path()) {
                fs::remove_tree(dir)
            } else {
                fs::remove_parent_if_unused(dir)
            };
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Gives a new v1 cpuset directory its parent's cpus and mems: it starts
/// with none, and no process could join it.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if fs::read(dir, file)?.is_empty() {
            fs::write(dir, file, &fs::read(parent, file)?)?;
        }
    }
    Ok(())
}

/// An existing leaf that holds processes: they will share the container's
/// limits and `kill --all`, which the caller should hear about.
fn populated_warning(dir: &Path) -> Result<Option<String>> {
    let procs = fs::read_opt(dir, "cgroup.procs")?.unwrap_or_default();
    let count = procs.lines().filter(|l| !l.trim().is_empty()).count();
    Ok((count > 0).then(|| {
        format!(
            "container's cgroup {} is not empty: it already holds {count} process(es), \
             which will share its limits",
            dir.display()
        )
    }))
}

#[cfg(test)]
mod zero_tests {
    use super::*;
    use oci_spec::runtime::LinuxResources;

    #[test]
    fn dockers_zeros_mean_leave_alone() {
        let docker: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":67108864,"reservation":0,"swap":134217728,"kernel":0},
                "cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}"#,
        )
        .unwrap();
        let kept = zeros_as_unset(&docker);
        let memory = kept.memory().as_ref().unwrap();
        assert_eq!(memory.limit(), Some(67108864));
        assert_eq!(memory.swap(), Some(134217728));
        assert_eq!(memory.reservation(), None);
        #[allow(deprecated)]
        let kernel = memory.kernel();
        assert_eq!(kernel, None);
        assert_eq!(kept.cpu().as_ref().unwrap().shares(), None);
        assert_eq!(kept.block_io().as_ref().unwrap().weight(), None);
    }
}
