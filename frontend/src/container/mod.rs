//! Containers: records in the store, a directory each, and their lifecycle through
//! berth-shim's and the runtime's command lines (never libcontainer).
//!
//! ```text
//! <root>/containers/<id>/         the OCI bundle and everything else of the container:
//!     config.json                 generated from the image config and the flags
//!     merged/ upper/ work/        the overlay rootfs (image/rootfs.rs)
//!     hosts hostname resolv.conf  written per container, bind-mounted into it
//!     ctr.log                     its log (json-file or k8s-file, as --log-driver says)
//!     persist/                    the shim's exit, oom and restart-count files
//!     attach ctl winsz            the shim's attach socket and fifos
//!     shim.pid pidfile            the shim's pid and the container's
//! <runroot>/runtime/              the runtime's --root (its state dirs)
//! ```

pub mod access;
pub mod attach;
pub mod cleanup;
pub mod commit;
pub mod config;
pub mod copy;
pub mod copy_in;
pub mod diff;
pub mod etc_files;
pub mod events;
pub mod exec;
pub mod export;
pub mod image_config;
pub mod inspect;
pub mod lifecycle;
pub mod listing;
pub mod logs;
mod mounts;
pub mod names;
pub mod networking;
pub mod path_stat;
mod pidfd;
pub mod repair;
pub mod runtime;
mod security;
pub mod shim;
pub mod spec;
pub mod state;
pub mod stats;
pub mod top;
pub mod tree;
pub mod user;

pub use etc_files::write_etc_files;

use std::path::{Path, PathBuf};

/// The files of one container, all under its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPaths {
    pub dir: PathBuf,
    /// The runtime's state dir of the container (`<runroot>/runtime/<id>`), when known.
    pub runtime_state: Option<PathBuf>,
    /// The file the container's network namespace is bound to while it runs
    /// (`<runroot>/netns/<id>`), when known.
    pub netns: Option<PathBuf>,
}

impl ContainerPaths {
    pub fn new(root: &Path, id: &str) -> ContainerPaths {
        ContainerPaths {
            dir: root.join("containers").join(id),
            runtime_state: None,
            netns: None,
        }
    }

    /// With the runtime's state dir under `runtime_root` (the runtime's `--root`).
    pub fn with_runtime_root(mut self, runtime_root: &Path) -> ContainerPaths {
        let id = self.dir.file_name().map(PathBuf::from).unwrap_or_default();
        self.runtime_state = Some(runtime_root.join(id));
        self
    }

    /// With the network namespace's file under `netns_root`.
    pub fn with_netns_root(mut self, netns_root: &Path) -> ContainerPaths {
        let id = self.dir.file_name().map(PathBuf::from).unwrap_or_default();
        self.netns = Some(netns_root.join(id));
        self
    }

    /// runc's and berth-runtime's `exec.fifo` exists from `create` until `start`.
    pub fn awaiting_start(&self) -> bool {
        self.runtime_state
            .as_ref()
            .is_some_and(|dir| dir.join("exec.fifo").exists())
    }

    /// The OCI bundle is the container's directory itself.
    pub fn bundle(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("merged")
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }

    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("ctr.log")
    }

    pub fn persist(&self) -> PathBuf {
        self.dir.join("persist")
    }

    pub fn exit_file(&self) -> PathBuf {
        self.persist().join("exit")
    }

    pub fn oom_file(&self) -> PathBuf {
        self.persist().join("oom")
    }

    pub fn restart_count(&self) -> PathBuf {
        self.persist().join("restart-count")
    }

    /// The shim's mark while it relaunches the container under its restart policy.
    pub fn restarting_file(&self) -> PathBuf {
        self.persist().join("restarting")
    }

    pub fn attach_socket(&self) -> PathBuf {
        self.dir.join("attach")
    }

    pub fn ctl(&self) -> PathBuf {
        self.dir.join("ctl")
    }

    pub fn winsz(&self) -> PathBuf {
        self.dir.join("winsz")
    }

    pub fn shim_pid(&self) -> PathBuf {
        self.dir.join("shim.pid")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("pidfile")
    }
}
