//! Which namespaces the container gets, and how: created new, or joined by
//! path. Paths are opened in the runtime before clone, so a bad path is a
//! create-time error that names the field.
//!
//! Who does what (no re-exec, no intermediate process):
//! - new user and PID namespaces come from the clone3 flags (a PID namespace
//!   can only be entered by a new process);
//! - a PID namespace joined by path is entered by the parent for its children
//!   only (setns changes `pid_for_children`), then left again;
//! - a new time namespace with offsets is unshared by the parent, offsets
//!   written, the child cloned into it, and the parent returns to its own
//!   (offsets must be set before any process enters it);
//! - everything else is joined (setns, user first) or unshared by the init;
//!   the cgroup namespace last, once the init sits in its cgroup.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::error::{Error, IoContext, Result, SysContext};
use crate::kernel::Kernel;

/// The order in which namespaces given by path are joined: user first, so the
/// rest are joined with its credentials; mount last, since joining it changes
/// what every later path means.
pub const JOIN_ORDER: [LinuxNamespaceType; 7] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

pub fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The file name under /proc/PID/ns/.
pub fn proc_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

#[derive(Debug)]
pub struct Joined {
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

#[derive(Debug, Default)]
pub struct Plan {
    /// Namespaces to create.
    pub new: Vec<LinuxNamespaceType>,
    /// Namespaces to join, already opened.
    pub joined: Vec<Joined>,
    /// `/proc/self/timens_offsets` content, when a new time namespace has offsets.
    pub time_offsets: Option<String>,
}

impl Plan {
    pub fn from_spec(linux: &Linux) -> Result<Plan> {
        let mut plan = Plan::default();
        for (i, ns) in linux
            .namespaces()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            match ns.path() {
                None => plan.new.push(ns.typ()),
                Some(path) => {
                    let file = File::open(path).map_err(|e| {
                        Error::field(
                            format!("linux.namespaces[{i}].path"),
                            format!("{}: {e}", path.display()),
                        )
                    })?;
                    let fd: OwnedFd = file.into();
                    check_namespace_type(&fd, ns.typ()).map_err(|message| {
                        Error::field(
                            format!("linux.namespaces[{i}].path"),
                            format!("{}: {message}", path.display()),
                        )
                    })?;
                    plan.joined.push(Joined {
                        typ: ns.typ(),
                        path: path.clone(),
                        fd,
                    });
                }
            }
        }
        if plan.is_new(LinuxNamespaceType::Time) {
            if let Some(offsets) = linux.time_offsets().as_ref().filter(|o| !o.is_empty()) {
                let mut text = String::new();
                for (clock, offset) in offsets {
                    text.push_str(&format!(
                        "{clock} {} {}\n",
                        offset.secs().unwrap_or(0),
                        offset.nanosecs().unwrap_or(0)
                    ));
                }
                plan.time_offsets = Some(text);
            }
        }
        Ok(plan)
    }

    pub fn is_new(&self, typ: LinuxNamespaceType) -> bool {
        self.new.contains(&typ)
    }

    pub fn joins(&self, typ: LinuxNamespaceType) -> bool {
        self.joined.iter().any(|j| j.typ == typ)
    }

    pub fn has(&self, typ: LinuxNamespaceType) -> bool {
        self.is_new(typ) || self.joins(typ)
    }

    /// Flags for clone3: the namespaces that must exist from the child's
    /// first instruction. A joined user namespace forces the rest to be
    /// unshared after joining it, so they are owned by it.
    pub fn clone_flags(&self) -> CloneFlags {
        let mut flags = CloneFlags::empty();
        if self.is_new(LinuxNamespaceType::Pid) {
            flags |= CloneFlags::CLONE_NEWPID;
        }
        if self.is_new(LinuxNamespaceType::User) {
            flags |= CloneFlags::CLONE_NEWUSER;
        }
        if self.is_new(LinuxNamespaceType::Time) && self.time_offsets.is_none() {
            flags |= clone_flag(LinuxNamespaceType::Time);
        }
        flags
    }

    /// Namespaces the init unshares itself, after joining: all new ones but
    /// those cloned and the cgroup namespace (unshared once in its cgroup).
    pub fn unshare_flags(&self) -> CloneFlags {
        self.new
            .iter()
            .filter(|typ| {
                !matches!(
                    typ,
                    LinuxNamespaceType::Pid
                        | LinuxNamespaceType::User
                        | LinuxNamespaceType::Time
                        | LinuxNamespaceType::Cgroup
                )
            })
            .fold(CloneFlags::empty(), |flags, typ| flags | clone_flag(*typ))
    }

    /// In the parent, before clone: enter the namespaces that only affect
    /// children. The guard returns the parent to its own when dropped.
    pub fn enter_for_children<'k>(
        &self,
        kernel: &'k dyn Kernel,
    ) -> Result<ChildOnlyNamespaces<'k>> {
        let mut guard = ChildOnlyNamespaces {
            kernel,
            restore: Vec::new(),
        };
        if let Some(joined) = self
            .joined
            .iter()
            .find(|j| j.typ == LinuxNamespaceType::Pid)
        {
            let own = own_namespace("pid")?;
            kernel
                .setns(joined.fd.as_fd(), CloneFlags::CLONE_NEWPID)
                .ctx(|| format!("joining pid namespace {}", joined.path.display()))?;
            guard.restore.push((own, CloneFlags::CLONE_NEWPID));
        }
        if let Some(offsets) = &self.time_offsets {
            let time = clone_flag(LinuxNamespaceType::Time);
            let own = own_namespace("time")?;
            kernel
                .unshare(time)
                .ctx(|| "creating time namespace".to_string())?;
            guard.restore.push((own, time));
            std::fs::write("/proc/self/timens_offsets", offsets)
                .io_ctx(|| format!("linux.timeOffsets: writing {offsets:?}"))?;
        }
        Ok(guard)
    }

    /// In the init: join the namespaces given by path that the init itself
    /// must be in (all but pid, which the parent handled).
    pub fn join_in_init(&self, kernel: &dyn Kernel) -> Result<()> {
        for typ in JOIN_ORDER {
            if let Some(joined) = self.joined.iter().find(|j| j.typ == typ) {
                kernel.setns(joined.fd.as_fd(), clone_flag(typ)).ctx(|| {
                    format!(
                        "joining {} namespace {}",
                        proc_name(typ),
                        joined.path.display()
                    )
                })?;
            }
        }
        Ok(())
    }

    pub fn unshare_in_init(&self, kernel: &dyn Kernel) -> Result<()> {
        let flags = self.unshare_flags();
        if !flags.is_empty() {
            kernel
                .unshare(flags)
                .ctx(|| "creating namespaces".to_string())?;
        }
        Ok(())
    }
}

fn own_namespace(name: &str) -> Result<OwnedFd> {
    File::open(format!("/proc/self/ns/{name}"))
        .map(OwnedFd::from)
        .io_ctx(|| format!("opening /proc/self/ns/{name}"))
}

/// Refuses a path that is not a namespace of the asked type (NS_GET_NSTYPE).
fn check_namespace_type(fd: &OwnedFd, typ: LinuxNamespaceType) -> std::result::Result<(), String> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    use std::os::fd::AsRawFd;
    // SAFETY: NS_GET_NSTYPE takes no argument and returns a CLONE_NEW* value.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if ret < 0 {
        return Err("not a namespace file".to_string());
    }
    if ret != clone_flag(typ).bits() {
        return Err(format!("not a {} namespace", proc_name(typ)));
    }
    Ok(())
}

/// Namespaces the parent entered only for the child's sake.
pub struct ChildOnlyNamespaces<'k> {
    kernel: &'k dyn Kernel,
    restore: Vec<(OwnedFd, CloneFlags)>,
}

impl ChildOnlyNamespaces<'_> {
    pub fn leave(mut self) -> Result<()> {
        self.leave_all()
    }

    fn leave_all(&mut self) -> Result<()> {
        while let Some((fd, flag)) = self.restore.pop() {
            self.kernel
                .setns(fd.as_fd(), flag)
                .ctx(|| "returning to the runtime's own namespace".to_string())?;
        }
        Ok(())
    }
}

impl Drop for ChildOnlyNamespaces<'_> {
    fn drop(&mut self) {
        let _ = self.leave_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(json: serde_json::Value) -> Linux {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn clone_gets_pid_and_user_and_init_unshares_the_rest() {
        let plan = Plan::from_spec(&linux(serde_json::json!({
            "namespaces": [{"type": "pid"}, {"type": "user"}, {"type": "mount"},
                           {"type": "network"}, {"type": "cgroup"}]
        })))
        .unwrap();
        assert_eq!(
            plan.clone_flags(),
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUSER
        );
        assert_eq!(
            plan.unshare_flags(),
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET
        );
    }

    #[test]
    fn joined_path_must_be_a_namespace_of_that_type() {
        let err = Plan::from_spec(&linux(serde_json::json!({
            "namespaces": [{"type": "network", "path": "/proc/self/ns/uts"}]
        })))
        .unwrap_err()
        .to_string();
        assert!(err.contains("linux.namespaces[0].path"), "{err}");
        assert!(err.contains("not a net namespace"), "{err}");
        let err = Plan::from_spec(&linux(serde_json::json!({
            "namespaces": [{"type": "network", "path": "/nonexistent/ns"}]
        })))
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/ns"), "{err}");
    }

    #[test]
    fn the_init_joins_the_user_namespace_first_and_the_mount_namespace_last() {
        use crate::kernel::{Call, Recorder};
        let plan = Plan::from_spec(&linux(serde_json::json!({
            "namespaces": [
                {"type": "mount", "path": "/proc/self/ns/mnt"},
                {"type": "network", "path": "/proc/self/ns/net"},
                {"type": "user", "path": "/proc/self/ns/user"},
                {"type": "uts"}, {"type": "ipc"}, {"type": "pid"}
            ]
        })))
        .unwrap();
        let kernel = Recorder::default();
        plan.join_in_init(&kernel).unwrap();
        plan.unshare_in_init(&kernel).unwrap();
        assert_eq!(
            kernel.calls(),
            [
                Call::Setns(CloneFlags::CLONE_NEWUSER),
                Call::Setns(CloneFlags::CLONE_NEWNET),
                Call::Setns(CloneFlags::CLONE_NEWNS),
                Call::Unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC),
            ]
        );
    }

    #[test]
    fn a_joined_pid_namespace_is_entered_for_the_children_and_left_again() {
        use crate::kernel::{Call, Recorder};
        let plan = Plan::from_spec(&linux(serde_json::json!({
            "namespaces": [{"type": "pid", "path": "/proc/self/ns/pid"}]
        })))
        .unwrap();
        let kernel = Recorder::default();
        plan.enter_for_children(&kernel).unwrap().leave().unwrap();
        plan.join_in_init(&kernel).unwrap();
        assert_eq!(
            kernel.calls(),
            [
                Call::Setns(CloneFlags::CLONE_NEWPID),
                Call::Setns(CloneFlags::CLONE_NEWPID),
            ]
        );
    }

    #[test]
    fn time_offsets_make_the_parent_unshare() {
        let plan = Plan::from_spec(&linux(serde_json::json!({
            "namespaces": [{"type": "time"}],
            "timeOffsets": {"monotonic": {"secs": 86400}}
        })))
        .unwrap();
        assert_eq!(plan.time_offsets.as_deref(), Some("monotonic 86400 0\n"));
        assert!(plan.clone_flags().is_empty());
    }
}
