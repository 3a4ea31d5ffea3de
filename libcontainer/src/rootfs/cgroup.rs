//! The `cgroup` mount type: the container sees its own cgroups at
//! /sys/fs/cgroup. Each hierarchy is bind-mounted from the host at the
//! container's own cgroup, which works alike on v1, hybrid and v2 hosts, with
//! or without a cgroup namespace, and inside a user namespace where a fresh
//! cgroup v1 mount is not allowed.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::MsFlags;

use super::mount_at;
use super::mountinfo::{self, MountInfo};
use super::options::MountOptions;
use super::path::{ensure_in_root, open_in_root, Kind};
use crate::error::{IoContext, Result, SysContext};
use crate::kernel::Kernel;

/// One hierarchy to show: its name under /sys/fs/cgroup (empty for a pure v2
/// host, where the hierarchy is /sys/fs/cgroup itself) and the host directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub host_dir: PathBuf,
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Computes the sources from our own membership; must run before the cgroup
/// namespace is unshared (afterwards our paths read as `/`).
pub fn sources() -> Result<Vec<Source>> {
    let mounts = mountinfo::read().io_ctx(|| "reading /proc/self/mountinfo".to_string())?;
    let own = mountinfo::own_cgroups().io_ctx(|| "reading /proc/self/cgroup".to_string())?;
    Ok(plan(&mounts, &own))
}

pub fn plan(mounts: &[MountInfo], own: &[mountinfo::CgroupMembership]) -> Vec<Source> {
    let root = Path::new(CGROUP_ROOT);
    let mut sources = Vec::new();
    for mount in mounts {
        let name = if mount.mount_point == root {
            String::new()
        } else if mount.mount_point.parent() == Some(root) {
            mount
                .mount_point
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            continue;
        };
        let membership = match mount.fs_type.as_str() {
            "cgroup2" => own.iter().find(|m| m.controllers.is_empty()),
            "cgroup" => {
                let options: Vec<&str> = mount.super_options.split(',').collect();
                own.iter().find(|m| {
                    !m.controllers.is_empty()
                        && m.controllers.iter().all(|c| options.contains(&c.as_str()))
                })
            }
            _ => continue,
        };
        let Some(membership) = membership else {
            continue;
        };
        let relative = membership
            .path
            .strip_prefix(&mount.root)
            .unwrap_or(&membership.path);
        let relative = relative.strip_prefix("/").unwrap_or(relative);
        sources.push(Source {
            name,
            host_dir: mount.mount_point.join(relative),
        });
    }
    sources
}

pub fn mount_hierarchies(
    kernel: &dyn Kernel,
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
    sources: &[Source],
) -> Result<()> {
    let flags = opts.flags
        & (MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC
            | MsFlags::MS_RDONLY
            | MsFlags::MS_RELATIME);
    let target = ensure_in_root(root, dest, Kind::Dir)?;
    let single = sources.iter().find(|s| s.name.is_empty());
    if let Some(source) = single {
        return bind(kernel, root, dest, &source.host_dir, flags);
    }
    // v1 or hybrid: a tmpfs holding one directory per hierarchy.
    mount_at(
        kernel,
        Some(Path::new("tmpfs")),
        target.as_fd(),
        Some("tmpfs"),
        flags & !MsFlags::MS_RDONLY,
        Some("mode=755"),
    )
    .ctx(|| "mounting tmpfs for cgroup hierarchies".to_string())?;
    for source in sources {
        let sub = dest.join(&source.name);
        ensure_in_root(root, &sub, Kind::Dir)?;
        bind(kernel, root, &sub, &source.host_dir, flags)?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let mounted =
            open_in_root(root, dest, OFlag::O_PATH).ctx(|| "reopening cgroup tmpfs".to_string())?;
        mount_at(
            kernel,
            None,
            mounted.as_fd(),
            None,
            MsFlags::MS_REMOUNT | flags,
            Some("mode=755"),
        )
        .ctx(|| "remounting cgroup tmpfs read-only".to_string())?;
    }
    Ok(())
}

fn bind(
    kernel: &dyn Kernel,
    root: BorrowedFd<'_>,
    dest: &Path,
    host_dir: &Path,
    flags: MsFlags,
) -> Result<()> {
    let target = ensure_in_root(root, dest, Kind::Dir)?;
    mount_at(
        kernel,
        Some(host_dir),
        target.as_fd(),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .ctx(|| format!("binding cgroup {}", host_dir.display()))?;
    let mounted =
        open_in_root(root, dest, OFlag::O_PATH).ctx(|| "reopening cgroup mount".to_string())?;
    mount_at(
        kernel,
        None,
        mounted.as_fd(),
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
        None,
    )
    .ctx(|| format!("remounting cgroup {}", host_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mountinfo::{parse_line, CgroupMembership};

    fn member(controllers: &[&str], path: &str) -> CgroupMembership {
        CgroupMembership {
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            path: PathBuf::from(path),
        }
    }

    #[test]
    fn hybrid_host_binds_each_hierarchy_at_our_cgroup() {
        let mounts: Vec<MountInfo> = [
            "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
            "31 25 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu",
            "32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw",
            "33 25 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd",
        ]
        .iter()
        .filter_map(|l| parse_line(l))
        .collect();
        let own = [
            member(&["memory"], "/a/b"),
            member(&["cpu"], "/"),
            member(&["name=systemd"], "/"),
            member(&[], "/"),
        ];
        let sources = plan(&mounts, &own);
        assert_eq!(
            sources[0],
            Source {
                name: "memory".into(),
                host_dir: "/sys/fs/cgroup/memory/a/b".into()
            }
        );
        assert_eq!(
            sources[2],
            Source {
                name: "unified".into(),
                host_dir: "/sys/fs/cgroup/unified".into()
            }
        );
        assert_eq!(sources.len(), 4);
    }

    #[test]
    fn pure_v2_host_binds_the_single_hierarchy() {
        let mounts: Vec<MountInfo> =
            ["30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate"]
                .iter()
                .filter_map(|l| parse_line(l))
                .collect();
        let sources = plan(&mounts, &[member(&[], "/berth/x")]);
        assert_eq!(
            sources,
            vec![Source {
                name: String::new(),
                host_dir: "/sys/fs/cgroup/berth/x".into()
            }]
        );
    }
}
