//! What follows a container's exit: the shim's exit command (`berth container
//! cleanup`), which lets go of the runtime's state and the mount, and removes a `--rm`
//! container; and the removal itself, shared with `rm`.

use std::fs::{self, File};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::lifecycle::{Container, ContainerError, Containers};
use super::state::Status;
use super::ContainerPaths;
use crate::image::rootfs::{remove_rootfs, unmount_rootfs};

impl Containers {
    /// What the shim's exit command does once the container is gone for good: the
    /// runtime's state and the mount go; a `--rm` container goes entirely.
    pub fn cleanup(&mut self, container: &Container) -> Result<(), ContainerError> {
        let id = &container.row.id;
        let lock = self.lock(id)?;
        if self.store.container(id)?.is_none() {
            // Removed meanwhile (by the `run --rm` that waited for it): the lock file
            // this call made is the only thing left.
            let _ = fs::remove_file(self.locks_dir().join(id));
            drop(lock);
            return Ok(());
        }
        let state = container.state();
        if state.status.is_up() {
            // Started again meanwhile: not ours to clean.
            return Ok(());
        }
        if state.status == Status::Created {
            // Never started, and no exit file: a crash repair undid a start left
            // half-done (runtime state, exit file) and only its shim was left to go.
            return Ok(());
        }
        self.record_die(container, state.exit_code);
        self.network_down(container)?;
        if container.host.auto_remove {
            // The network first: tear_down removes the lock file, after which
            // another berth could take a fresh lock on the same container.
            self.forget_network(id)?;
            self.tear_down(container)?;
            self.store.remove_container(id)?;
            self.record(container, "destroy", &[]);
        } else {
            self.runtime(&container.host)?.delete(id)?;
            unmount_rootfs(&container.paths.dir)?;
        }
        Ok(())
    }

    pub(super) fn tear_down(&self, container: &Container) -> Result<(), ContainerError> {
        // The runtime's delete (its state, the cgroups) and the rootfs's unmount and
        // removal touch nothing of each other's: done side by side.
        let deleting = match self.runtime(&container.host) {
            Ok(runtime) => Some(runtime.begin_delete(&container.row.id)?),
            Err(_) => None,
        };
        let removed = remove_rootfs(&container.paths.dir);
        if let Some(deleting) = deleting {
            deleting.finish()?;
        }
        removed?;
        let _ = fs::remove_file(self.locks_dir().join(&container.row.id));
        if !container.host.auto_remove {
            // A --rm container's code is for the `run` waiting on it, which removes it.
            self.forget_exit_record(&container.row.id);
        }
        Ok(())
    }
}

/// For the shim's exit command, before any store is opened: whether container `id`, a
/// full id, is removed already (a `run --rm` removes its container itself once it has
/// exited). Whoever holds the container's lock is waited for first.
pub fn removed_already(root: &Path, runroot: &Path, id: &str) -> bool {
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let lock_path = runroot.join("locks").join(id);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path);
    let Ok(lock) = file.map(|f| Flock::lock(f, FlockArg::LockExclusive)) else {
        return false;
    };
    let Ok(lock) = lock else {
        return false;
    };
    if ContainerPaths::new(root, id).dir.exists() {
        return false;
    }
    // The remover took its lock file away; this one was made by the open above.
    let _ = fs::remove_file(&lock_path);
    drop(lock);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_container_without_its_directory_is_removed_already_and_leaves_no_lock_file() {
        let root = tempfile::tempdir().unwrap();
        let runroot = tempfile::tempdir().unwrap();
        fs::create_dir_all(runroot.path().join("locks")).unwrap();
        assert!(removed_already(root.path(), runroot.path(), ID));
        assert!(!runroot.path().join("locks").join(ID).exists());
    }

    #[test]
    fn a_container_with_its_directory_or_a_short_name_is_not() {
        let root = tempfile::tempdir().unwrap();
        let runroot = tempfile::tempdir().unwrap();
        fs::create_dir_all(runroot.path().join("locks")).unwrap();
        fs::create_dir_all(root.path().join("containers").join(ID)).unwrap();
        assert!(!removed_already(root.path(), runroot.path(), ID));
        // A prefix or a name might stand for a container that does exist.
        assert!(!removed_already(root.path(), runroot.path(), &ID[..12]));
        assert!(!removed_already(root.path(), runroot.path(), "web"));
    }
}
