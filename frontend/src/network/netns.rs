//! A container's network namespace as a file: a new namespace bind-mounted on
//! `<runroot>/netns/<id>`, which the runtime joins by path and berth configures from
//! outside. The file, not a process, keeps the namespace alive between berth's
//! set-up and the container's start.

use std::fs::{self, File};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Something the kernel (or the firewall tool) refused while making a container's
/// network: what, on which interface, namespace or rule, and why.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{what}: {reason}")]
    Kernel { what: String, reason: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("firewall ({tool}) {what}: {stderr}")]
    Firewall {
        tool: &'static str,
        what: String,
        stderr: String,
    },
}

impl NetError {
    pub fn new(what: impl Into<String>, reason: impl std::fmt::Display) -> NetError {
        NetError::Kernel {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Makes a new network namespace, with loopback up, bound to `path`.
pub fn create_netns(path: &Path) -> Result<(), NetError> {
    let what = || format!("network namespace {}", path.display());
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| NetError::new(what(), e))?;
    }
    // A file left by a crash may still carry an old namespace's mount.
    let _ = umount2(path, MntFlags::MNT_DETACH);
    File::create(path).map_err(|e| NetError::new(what(), e))?;
    let target = path.to_path_buf();
    // unshare moves only the calling thread: a thread of its own, which ends there.
    let made = std::thread::spawn(move || -> Result<(), String> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare: {e}"))?;
        let own = PathBuf::from(format!("/proc/self/task/{}/ns/net", nix::unistd::gettid()));
        mount(
            Some(&own),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("bind mount: {e}"))?;
        super::sys::loopback_up().map_err(|e| format!("bringing lo up: {e}"))
    })
    .join()
    .unwrap_or_else(|_| Err("the namespace's thread panicked".to_string()));
    if let Err(reason) = made {
        let _ = umount2(path, MntFlags::MNT_DETACH);
        let _ = fs::remove_file(path);
        return Err(NetError::new(what(), reason));
    }
    Ok(())
}

/// Binds an existing namespace (`/proc/PID/ns/net` of another container) to `path`.
pub fn bind_netns(source: &Path, path: &Path) -> Result<(), NetError> {
    let what = || {
        format!(
            "network namespace {} for {}",
            source.display(),
            path.display()
        )
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| NetError::new(what(), e))?;
    }
    File::create(path).map_err(|e| NetError::new(what(), e))?;
    mount(
        Some(source),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        let _ = fs::remove_file(path);
        NetError::new(what(), e)
    })
}

/// Unbinds and removes a namespace's file; the namespace goes (with the veth ends in
/// it) once nothing else holds it. A missing file is fine.
pub fn remove_netns(path: &Path) -> Result<(), NetError> {
    if !path.exists() {
        return Ok(());
    }
    let _ = umount2(path, MntFlags::MNT_DETACH);
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::new(
            format!("network namespace {}", path.display()),
            e,
        )),
    }
}

/// Runs `work` on a thread that has entered the namespace bound at `path`: a
/// netlink socket opened there belongs to that namespace.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, NetError> + Send + 'static,
) -> Result<T, NetError> {
    let what = format!("network namespace {}", path.display());
    let file = File::open(path).map_err(|e| NetError::new(what.clone(), e))?;
    std::thread::spawn(move || {
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetError::new(what, format!("setns on fd {}: {e}", file.as_raw_fd())))?;
        work()
    })
    .join()
    .unwrap_or_else(|_| Err(NetError::new("network set-up", "its thread panicked")))
}
