//! What can go wrong with a cgroup beyond a bad field of config.json or a
//! failed read or write (those are `InvalidField` and `Io`): each names the
//! cgroup directory or file it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no cgroup filesystem is mounted (looked for cgroup and cgroup2 in /proc/self/mountinfo)"
    )]
    NoCgroupFilesystem,

    /// The host's cgroup mode promised a hierarchy that is not mounted.
    #[error("cgroup mode {mode}, but no {missing} is mounted")]
    HierarchyMissing { mode: String, missing: &'static str },

    #[error("the freezer controller is not mounted on this host")]
    NoFreezer,

    #[error(
        "cgroup {} is of type {found:?}: a container needs a domain cgroup \
         (\"domain invalid\" means a parent holds processes while its children use controllers)",
        path.display()
    )]
    NotDomain { path: PathBuf, found: String },

    #[error(
        "container's cgroup {} is frozen (paused, or below a frozen cgroup): \
         its init could never run; thaw it or choose another linux.cgroupsPath",
        path.display()
    )]
    Frozen { path: PathBuf },

    #[error("{}: processes did not {} within {secs} s", path.display(), if *thaw { "thaw" } else { "freeze" })]
    FreezerTimeout {
        path: PathBuf,
        thaw: bool,
        secs: u64,
    },

    #[error("{}: expected a number, found {found:?}", file.display())]
    NotANumber { file: PathBuf, found: String },

    #[error("cgroup {} is not below {}", dir.display(), base.display())]
    NotBelow { dir: PathBuf, base: PathBuf },

    #[error("devices.list: unexpected line {line:?}")]
    DevicesList { line: String },

    #[error("{count} process(es) still in its cgroup {} {secs} s after SIGKILL", path.display())]
    StillPopulated {
        path: PathBuf,
        count: usize,
        secs: u64,
    },
}
