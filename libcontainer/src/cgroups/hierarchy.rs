//! Where the cgroup hierarchies are mounted, and where this process sits in
//! each: the facts `detect` and `Cgroup::resolve` are computed from.
//!
//! Everything here is read from /proc/self/mountinfo and /proc/self/cgroup,
//! so it is the view of the runtime's own mount and cgroup namespaces.

use std::path::{Component, Path, PathBuf};

use super::Mode;
use crate::error::{Error, IoContext, Result};
use crate::rootfs::mountinfo::{self, CgroupMembership, MountInfo};

/// The v1 controllers the runtime knows, plus the named hierarchy systemd
/// keeps (runc joins it too, so that systemd and tools built on it see the
/// container). Other named hierarchies are left alone.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "name=systemd",
];

/// One mounted v1 hierarchy (several controllers may share one, e.g.
/// `cpu,cpuacct`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
    /// The cgroup the mount shows at its mount point (field 4 of mountinfo;
    /// `/` unless a subtree was bind-mounted, as inside a container).
    pub root: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Mount {
    pub mount_point: PathBuf,
    pub root: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounts {
    pub v1: Vec<V1Mount>,
    pub v2: Option<V2Mount>,
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

impl Mounts {
    pub fn read() -> Result<Mounts> {
        let mounts = mountinfo::read().io_ctx(|| "reading /proc/self/mountinfo".to_string())?;
        Ok(Mounts::from_mountinfo(&mounts))
    }

    /// The first mount of each hierarchy wins, preferring those under
    /// /sys/fs/cgroup (a hierarchy bind-mounted elsewhere is the same one).
    pub fn from_mountinfo(mounts: &[MountInfo]) -> Mounts {
        let mut sorted: Vec<&MountInfo> = mounts.iter().collect();
        sorted.sort_by_key(|m| !m.mount_point.starts_with(CGROUP_ROOT));
        let mut found = Mounts::default();
        for mount in sorted {
            match mount.fs_type.as_str() {
                "cgroup" => {
                    let controllers: Vec<String> = mount
                        .super_options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty()
                        || found.v1.iter().any(|m| m.controllers == controllers)
                    {
                        continue;
                    }
                    found.v1.push(V1Mount {
                        controllers,
                        mount_point: mount.mount_point.clone(),
                        root: mount.root.clone(),
                    });
                }
                "cgroup2" => {
                    let better = match &found.v2 {
                        None => true,
                        // /sys/fs/cgroup itself is the pure-v2 layout.
                        Some(_) => mount.mount_point == Path::new(CGROUP_ROOT),
                    };
                    if better {
                        found.v2 = Some(V2Mount {
                            mount_point: mount.mount_point.clone(),
                            root: mount.root.clone(),
                        });
                    }
                }
                _ => {}
            }
        }
        found
    }

    pub fn mode(&self) -> Result<Mode> {
        // Only real controllers count: a `name=systemd` v1 mount beside a
        // cgroup2 /sys/fs/cgroup (kept by some hosts for old tools) does not
        // make the host hybrid.
        let v1_controllers = self
            .v1
            .iter()
            .any(|m| m.controllers.iter().any(|c| !c.starts_with("name=")));
        match (v1_controllers, &self.v2) {
            (true, Some(_)) => Ok(Mode::Hybrid),
            (true, None) => Ok(Mode::Legacy),
            (false, Some(_)) => Ok(Mode::Unified),
            (false, None) => Err(super::CgroupError::NoCgroupFilesystem.into()),
        }
    }

    pub fn v1_mounted(&self, controller: &str) -> bool {
        self.v1
            .iter()
            .any(|m| m.controllers.iter().any(|c| c == controller))
    }
}

/// Checks `linux.cgroupsPath` and returns it as components below a hierarchy
/// root: no `..` (it would leave the hierarchy, or climb out of the caller's
/// cgroup for a relative path), nothing empty.
pub fn validate_path(path: &Path) -> Result<PathBuf> {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => clean.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::field(
                    "linux.cgroupsPath",
                    format!("{path:?}: \"..\" is not allowed in a cgroup path"),
                ))
            }
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(Error::field(
            "linux.cgroupsPath",
            format!("{path:?} names a hierarchy's root; the container needs a cgroup of its own"),
        ));
    }
    Ok(clean)
}

/// The directory of `path` in a hierarchy mounted at `mount_point` showing
/// cgroup `root`: absolute paths start at what the runtime sees as the
/// hierarchy's root, relative ones at the runtime's own cgroup there (the
/// `membership` line of /proc/self/cgroup), as runc does.
pub fn dir_in(
    mount_point: &Path,
    root: &Path,
    membership: Option<&CgroupMembership>,
    path: &Path,
    relative_to: &Path,
) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(mount_point.join(relative_to));
    }
    let own = membership.ok_or_else(|| {
        Error::field(
            "linux.cgroupsPath",
            format!(
                "relative path {path:?}: /proc/self/cgroup has no line for the hierarchy at {}",
                mount_point.display()
            ),
        )
    })?;
    let inside = own.path.strip_prefix(root).map_err(|_| {
        Error::field(
            "linux.cgroupsPath",
            format!(
                "relative path {path:?}: the runtime's cgroup {} is outside what {} shows ({})",
                own.path.display(),
                mount_point.display(),
                root.display()
            ),
        )
    })?;
    Ok(mount_point.join(inside).join(relative_to))
}

/// The line of /proc/self/cgroup for a v1 hierarchy (same controller set).
pub fn v1_membership<'a>(
    own: &'a [CgroupMembership],
    mount: &V1Mount,
) -> Option<&'a CgroupMembership> {
    own.iter().find(|m| {
        !m.controllers.is_empty()
            && m.controllers.len() == mount.controllers.len()
            && m.controllers.iter().all(|c| mount.controllers.contains(c))
    })
}

pub fn v2_membership(own: &[CgroupMembership]) -> Option<&CgroupMembership> {
    own.iter().find(|m| m.controllers.is_empty())
}

pub fn own_cgroups() -> Result<Vec<CgroupMembership>> {
    mountinfo::own_cgroups().io_ctx(|| "reading /proc/self/cgroup".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::mountinfo::parse_line;

    fn mounts(lines: &[&str]) -> Mounts {
        let parsed: Vec<MountInfo> = lines.iter().filter_map(|l| parse_line(l)).collect();
        Mounts::from_mountinfo(&parsed)
    }

    const HYBRID: &[&str] = &[
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd",
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
    ];

    #[test]
    fn cgroups_detects_hybrid_legacy_and_unified_layouts() {
        assert_eq!(mounts(HYBRID).mode().unwrap(), Mode::Hybrid);
        assert_eq!(mounts(&HYBRID[..3]).mode().unwrap(), Mode::Legacy);
        let unified = ["30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate"];
        assert_eq!(mounts(&unified).mode().unwrap(), Mode::Unified);
        assert!(mounts(&[]).mode().is_err());
    }

    #[test]
    fn cgroups_comounted_controllers_form_one_hierarchy() {
        let m = mounts(&[
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
            "33 31 0:29 / /mnt/again rw - cgroup cgroup rw,cpu,cpuacct",
            "34 31 0:30 / /sys/fs/cgroup/x rw - cgroup cgroup rw,name=other",
        ]);
        assert_eq!(m.v1.len(), 1);
        assert_eq!(m.v1[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(m.v1[0].mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
    }

    #[test]
    fn cgroups_path_with_dotdot_is_refused() {
        let err = validate_path(Path::new("/berth/../../etc")).unwrap_err();
        assert!(err.to_string().contains("linux.cgroupsPath"), "{err}");
        assert!(validate_path(Path::new("/")).is_err());
        assert_eq!(
            validate_path(Path::new("/berth/./x")).unwrap(),
            Path::new("berth/x")
        );
    }

    #[test]
    fn cgroups_relative_path_lands_under_own_cgroup() {
        let own = CgroupMembership {
            controllers: vec!["memory".into()],
            path: "/outer/inner".into(),
        };
        let dir = dir_in(
            Path::new("/sys/fs/cgroup/memory"),
            Path::new("/outer"),
            Some(&own),
            Path::new("c1"),
            Path::new("c1"),
        )
        .unwrap();
        assert_eq!(dir, Path::new("/sys/fs/cgroup/memory/inner/c1"));
        let abs = dir_in(
            Path::new("/sys/fs/cgroup/memory"),
            Path::new("/outer"),
            Some(&own),
            Path::new("/berth/c1"),
            Path::new("berth/c1"),
        )
        .unwrap();
        assert_eq!(abs, Path::new("/sys/fs/cgroup/memory/berth/c1"));
    }
}
