//! `delete` of a container whose state.json cannot be read.
//!
//! Without state.json the init's pid and start time are unknown, so the
//! container's processes are found the one way left: its cgroups, recorded
//! at create in a file of their own ([`crate::state::CGROUP_FILE`]) that is
//! written once and never rewritten. Nothing is removed while a process of
//! the container may still run: with `force` they are killed first, and if
//! they cannot be found or do not die the state stays and the call fails.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cgroups::{Cgroup, CgroupError};
use crate::error::{Error, Result};
use crate::state::StateDir;

/// How long the cgroup's processes get to die after SIGKILL.
const DRAIN_WAIT: Duration = Duration::from_secs(10);

/// What [`delete_unreadable`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Salvaged {
    /// No such container directory.
    Nothing,
    /// A create that died before it made anything that runs: only the
    /// directory was there.
    DirectoryOnly,
    /// The container's cgroups were emptied (their processes killed with
    /// `force`) and removed, then the state directory.
    Cgroups,
}

/// Removes the container `id` under `root` whose state.json is missing or
/// damaged (`cause`, the error loading it). Without `force`, a cgroup that
/// still holds processes is refused, as `delete` refuses a running
/// container.
pub fn delete_unreadable(root: &Path, id: &str, force: bool, cause: &Error) -> Result<Salvaged> {
    let dir = StateDir::new(root, id)?;
    if !dir.exists() {
        return Ok(Salvaged::Nothing);
    }
    let refuse = |why: String| Error::State {
        id: id.to_string(),
        path: dir.state_path(),
        message: format!("{cause_text}; {why}", cause_text = cause_message(cause)),
    };
    let cgroup = match dir.load_cgroup() {
        Ok(Some(cgroup)) => cgroup,
        Ok(None) if !dir.state_path().exists() => {
            // state.json and the cgroup record are both written after the
            // cgroup is made and before the init exists: neither means no
            // process was ever started.
            dir.remove()?;
            return Ok(Salvaged::DirectoryOnly);
        }
        Ok(None) => {
            return Err(refuse(format!(
                "and {} is missing, so the container's processes cannot be found; \
                 refusing to remove its state (end them and remove {} by hand)",
                dir.cgroup_path().display(),
                dir.path.display()
            )))
        }
        Err(e) => return Err(refuse(format!("{e}; refusing to remove its state"))),
    };
    let pids = cgroup.pids()?;
    if !pids.is_empty() {
        if !force {
            return Err(refuse(format!(
                "its cgroup still holds {} process(es); use --force to kill them",
                pids.len()
            )));
        }
        if cgroup.shared {
            return Err(refuse(
                "its cgroup is shared with processes it did not start, so which are the \
                 container's cannot be told; refusing to kill or remove anything"
                    .to_string(),
            ));
        }
        kill_and_drain(&cgroup).map_err(|e| refuse(e.to_string()))?;
    }
    cgroup.destroy()?;
    dir.remove()?;
    Ok(Salvaged::Cgroups)
}

/// The load error without its own "state of container ..." prefix, which
/// the refusal repeats.
fn cause_message(cause: &Error) -> String {
    match cause {
        Error::State { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// SIGKILL to every process of the cgroup (thawed, so that a paused one can
/// act on it), then waits until the cgroup is empty.
fn kill_and_drain(cgroup: &Cgroup) -> Result<()> {
    let _ = cgroup.kill_all(libc::SIGKILL);
    let _ = cgroup.thaw();
    let deadline = Instant::now() + DRAIN_WAIT;
    loop {
        let left = cgroup.pids()?;
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::StillPopulated {
                path: cgroup.path.clone(),
                count: left.len(),
                secs: DRAIN_WAIT.as_secs(),
            }
            .into());
        }
        // Forked while the signals went out: signal again.
        let _ = cgroup.kill_all(libc::SIGKILL);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(tag: &str) -> std::path::PathBuf {
        let root = std::env::temp_dir().join(format!("berth-salvage-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    fn damaged(root: &Path, id: &str) -> StateDir {
        let dir = StateDir::create(root, id).unwrap();
        std::fs::write(dir.state_path(), b"{\"id\": \"trunc").unwrap();
        dir
    }

    fn cause(dir: &StateDir) -> Error {
        dir.load().unwrap_err()
    }

    #[test]
    fn salvage_without_a_cgroup_record_refuses_and_keeps_the_state() {
        let root = root("norecord");
        let dir = damaged(&root, "c1");
        let err = delete_unreadable(&root, "c1", true, &cause(&dir)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"c1\""), "{text}");
        assert!(text.contains("corrupt"), "{text}");
        assert!(text.contains("cgroup.json"), "{text}");
        assert!(dir.state_path().exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn salvage_with_a_damaged_cgroup_record_refuses() {
        let root = root("badrecord");
        let dir = damaged(&root, "c1");
        std::fs::write(dir.cgroup_path(), b"[").unwrap();
        let text = delete_unreadable(&root, "c1", true, &cause(&dir))
            .unwrap_err()
            .to_string();
        assert!(text.contains("refusing"), "{text}");
        assert!(dir.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn salvage_of_a_create_that_wrote_nothing_removes_the_directory() {
        let root = root("empty");
        let dir = StateDir::create(&root, "c1").unwrap();
        let cause = dir.load().unwrap_err();
        assert_eq!(
            delete_unreadable(&root, "c1", false, &cause).unwrap(),
            Salvaged::DirectoryOnly
        );
        assert!(!dir.exists());
        assert_eq!(
            delete_unreadable(&root, "c1", false, &cause).unwrap(),
            Salvaged::Nothing
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
