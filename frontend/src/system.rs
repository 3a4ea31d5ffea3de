//! What `info`, `version` and `system df` report, in Docker's field names: the
//! engine's counts, storage, runtimes and the host, gathered here for the CLI and
//! (later) the API alike.

use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::container::lifecycle::{Container, ContainerError, Containers};
use crate::container::runtime::{find_binary, resolve_runtime};
use crate::container::state::Status;
use crate::store::images::ImageRecord;

/// Docker's `/info`, the fields berth has.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemInfo {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: usize,
    pub containers_running: usize,
    pub containers_paused: usize,
    pub containers_stopped: usize,
    pub images: usize,
    pub driver: &'static str,
    pub driver_status: Vec<[String; 2]>,
    pub logging_driver: &'static str,
    pub cgroup_driver: &'static str,
    pub cgroup_version: &'static str,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: &'static str,
    pub architecture: &'static str,
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    pub mem_total: u64,
    pub docker_root_dir: String,
    pub name: String,
    pub server_version: &'static str,
    pub runtimes: Vec<String>,
    pub default_runtime: &'static str,
    pub shim: String,
}

/// What `system df` counts: each image with how many containers use it, and each
/// container with the size of its writable layer.
pub struct DiskUsage {
    pub images: Vec<(ImageRecord, usize)>,
    pub containers: Vec<(Container, u64)>,
}

impl DiskUsage {
    pub fn image_bytes(&self) -> u64 {
        self.images.iter().map(|(i, _)| i.size).sum()
    }

    pub fn active_images(&self) -> usize {
        self.images.iter().filter(|(_, used)| *used > 0).count()
    }

    /// What removing the images no container uses would free.
    pub fn unused_image_bytes(&self) -> u64 {
        self.images
            .iter()
            .filter(|(_, used)| *used == 0)
            .map(|(i, _)| i.size)
            .sum()
    }

    pub fn container_bytes(&self) -> u64 {
        self.containers.iter().map(|(_, size)| size).sum()
    }

    pub fn active_containers(&self) -> usize {
        self.containers
            .iter()
            .filter(|(c, _)| c.state().status.is_up())
            .count()
    }

    /// What removing the stopped containers would free.
    pub fn stopped_bytes(&self) -> u64 {
        self.containers
            .iter()
            .filter(|(c, _)| !c.state().status.is_up())
            .map(|(_, size)| size)
            .sum()
    }
}

pub fn disk_usage(containers: &Containers) -> Result<DiskUsage, ContainerError> {
    let all = containers.list()?;
    let images = containers
        .store
        .images()?
        .into_iter()
        .map(|image| {
            let used = all.iter().filter(|c| c.row.image_id == image.id).count();
            (image, used)
        })
        .collect();
    let containers = all
        .into_iter()
        .map(|c| {
            let size = c.size_rw();
            (c, size)
        })
        .collect();
    Ok(DiskUsage { images, containers })
}

/// `unified` on a pure cgroup v2 host, else `1` (v1 or hybrid, as here).
pub fn cgroup_version() -> &'static str {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

fn first_line(path: &str) -> String {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn os_name() -> String {
    let release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".to_string())
}

fn mem_total() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The engine's `info` now.
pub fn info(containers: &Containers) -> Result<SystemInfo, ContainerError> {
    let mut running = 0;
    let mut paused = 0;
    let mut stopped = 0;
    let all = containers.list()?;
    for container in &all {
        match container.state().status {
            Status::Running | Status::Restarting => running += 1,
            Status::Paused => paused += 1,
            Status::Created | Status::Exited => stopped += 1,
        }
    }
    let images = containers.store.images()?.len();
    let runtimes = ["berth-runtime", "runc", "crun"]
        .into_iter()
        .filter(|r| resolve_runtime(r).is_ok())
        .map(str::to_string)
        .collect();
    Ok(SystemInfo {
        id: first_line("/etc/machine-id"),
        containers: all.len(),
        containers_running: running,
        containers_paused: paused,
        containers_stopped: stopped,
        images,
        driver: "overlay2",
        driver_status: vec![
            [
                "Backing Filesystem".to_string(),
                backing_fs(containers.store.root()),
            ],
            ["Supports d_type".to_string(), "true".to_string()],
        ],
        logging_driver: "json-file",
        cgroup_driver: "cgroupfs",
        cgroup_version: cgroup_version(),
        kernel_version: first_line("/proc/sys/kernel/osrelease"),
        operating_system: os_name(),
        os_type: "linux",
        architecture: std::env::consts::ARCH,
        ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()),
        mem_total: mem_total(),
        docker_root_dir: containers.store.root().display().to_string(),
        name: first_line("/proc/sys/kernel/hostname"),
        server_version: env!("CARGO_PKG_VERSION"),
        runtimes,
        default_runtime: "berth-runtime",
        shim: find_binary("berth-shim")
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    })
}

/// The file system type under `path`, in Docker's words (`extfs`, `xfs`, `tmpfs`).
fn backing_fs(path: &Path) -> String {
    let Ok(stat) = nix::sys::statfs::statfs(path) else {
        return "unknown".to_string();
    };
    let magic = stat.filesystem_type();
    match magic {
        nix::sys::statfs::EXT4_SUPER_MAGIC => "extfs",
        nix::sys::statfs::XFS_SUPER_MAGIC => "xfs",
        nix::sys::statfs::TMPFS_MAGIC => "tmpfs",
        nix::sys::statfs::BTRFS_SUPER_MAGIC => "btrfs",
        nix::sys::statfs::OVERLAYFS_SUPER_MAGIC => "overlayfs",
        _ => "unknown",
    }
    .to_string()
}
