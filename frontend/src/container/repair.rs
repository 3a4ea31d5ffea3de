//! What a crash leaves, put right by the next `berth` command: a half-made container
//! (its creator killed), a start that never finished (a shim waiting for a `start`
//! nobody will send), a container whose shim died (processes nobody watches, a
//! mount, the runtime's state). A container another berth is working on holds its
//! lock and is left alone.

use std::fs::{self, File};

use nix::fcntl::{Flock, FlockArg};

use super::lifecycle::{Container, ContainerError, Containers};
use super::state::Status;
use crate::image::rootfs::{remove_rootfs, unmount_rootfs};

impl Containers {
    /// Takes container `id`'s lock if nobody holds it.
    fn try_lock(&self, id: &str) -> Option<Flock<File>> {
        let dir = self.runroot.join("locks");
        fs::create_dir_all(&dir).ok()?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(id))
            .ok()?;
        Flock::lock(file, FlockArg::LockExclusiveNonblock).ok()
    }

    /// Repairs every container a crash left wrong.
    pub fn repair(&mut self) -> Result<(), ContainerError> {
        for listed in self.store.containers()? {
            let Some(_lock) = self.try_lock(&listed.id) else {
                continue;
            };
            // The list was read before the lock: its creator may have finished (or a
            // remover gone) since, so only the row as it is now under the lock counts.
            let Some(row) = self.store.container(&listed.id)? else {
                continue;
            };
            let paths = self.paths(&row.id);
            if !row.complete || !paths.dir.exists() {
                // Its creator died half-way, or a removal died after the directory.
                if let Ok(host) = serde_json::from_str(&row.host_config) {
                    if let Ok(runtime) = self.runtime(&host) {
                        let _ = runtime.delete(&row.id);
                    }
                }
                remove_rootfs(&paths.dir)?;
                self.forget_network(&row.id)?;
                self.store.remove_container(&row.id)?;
                let _ = fs::remove_file(self.runroot.join("locks").join(&row.id));
                continue;
            }
            let Ok(container) = self.find(&row.id) else {
                continue;
            };
            self.repair_one(&container)?;
        }
        Ok(())
    }

    fn repair_one(&mut self, container: &Container) -> Result<(), ContainerError> {
        let state = container.state();
        let id = &container.row.id;
        match state.status {
            Status::Exited if !state.error.is_empty() => {
                // The shim died: stop what it left running and record the end.
                let runtime = self.runtime(&container.host)?;
                let _ = runtime.kill(id, "KILL", true);
                runtime.delete(id)?;
                self.network_down(container)?;
                unmount_rootfs(&container.paths.dir)?;
                let _ = fs::create_dir_all(container.paths.persist());
                fs::write(container.paths.exit_file(), "255").map_err(|source| {
                    ContainerError::Io {
                        path: container.paths.exit_file(),
                        source,
                    }
                })?;
            }
            Status::Created if state.shim_pid.is_some() && container.paths.awaiting_start() => {
                // A start that died between the runtime's create and start. (Once
                // repaired, the runtime forgets it: its shim, still finishing, is
                // not taken for another.)
                let runtime = self.runtime(&container.host)?;
                let ctl = container.paths.ctl();
                let mut options = fs::OpenOptions::new();
                std::os::unix::fs::OpenOptionsExt::custom_flags(
                    options.write(true),
                    nix::libc::O_NONBLOCK,
                );
                if let Ok(mut fifo) = options.open(&ctl) {
                    use std::io::Write;
                    let _ = fifo.write_all(b"3 0 0\n");
                }
                let _ = runtime.kill(id, "KILL", true);
                self.wait_exit(container, Some(std::time::Duration::from_secs(10)));
                runtime.delete(id)?;
                let _ = fs::remove_file(container.paths.exit_file());
                self.forget_exit_record(id);
            }
            _ => {}
        }
        let state = container.state();
        let netns_left = container.paths.netns.as_ref().is_some_and(|n| n.exists());
        if netns_left && !state.status.is_up() && state.shim_pid.is_none() {
            // A run whose network was made and never undone: berth killed between
            // making it and starting the shim, or an exit command that died.
            self.network_down(container)?;
        }
        Ok(())
    }
}
