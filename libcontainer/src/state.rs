//! The state directory of a container (`<root>/<id>/`) and the status derived
//! from the live process.
//!
//! Status is never trusted from disk: the init's pid together with its start
//! time (field 22 of /proc/PID/stat, recorded at create) identifies the
//! process, so a pid reused by an unrelated process reads as stopped. The
//! exec fifo exists from create until start, which separates created from
//! running.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use oci_spec::runtime::{Hooks, LinuxDevice, LinuxSeccomp, Process};
use serde_json::value::RawValue;

use crate::error::{Error, IoContext, Result};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// The container's cgroups, written once at create beside state.json: with
/// state.json damaged, `delete` still finds the processes through them.
pub const CGROUP_FILE: &str = "cgroup.json";
/// The runtime-spec version this runtime implements, as reported in state.
pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What state.json holds: the runtime-spec state plus what the runtime needs
/// to recognise its init and to run the later lifecycle steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub pid: i32,
    /// Start time of the init in clock ticks since boot; with `pid` it names
    /// exactly one process for the life of the machine.
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub owner: String,
    /// Set until create has finished: a state saved part-way (so that an
    /// interrupted create can be cleaned up) reads as creating while its
    /// init lives and as stopped once it is gone.
    #[serde(default)]
    pub creating: bool,
    /// The container's cgroups: exactly the dirs every later command acts
    /// on, and which of them this runtime created (and so may remove).
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::Cgroup>,
    /// The prestart, createRuntime or poststart hook that create or start was
    /// running when it saved this: a host process outside the container's
    /// cgroup, so should that runtime die while it runs, delete has to end
    /// it (and what it forked) itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_hook: Option<HookProcess>,
    /// config.json as it was at create, kept verbatim: hooks and exec need
    /// it after the bundle may have changed, and each command reads only the
    /// part it needs ([`State::config_view`]) instead of the whole spec.
    pub config: Box<RawValue>,
}

/// One process named for the life of the machine: its pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookProcess {
    pub pid: i32,
    pub start_time: u64,
}

/// The parts of the saved config that later lifecycle steps read.
#[derive(Debug, Default, Deserialize)]
pub struct ConfigView {
    #[serde(default)]
    pub hooks: Option<Hooks>,
    #[serde(default)]
    pub annotations: Option<HashMap<String, String>>,
    /// The container's process: the template `exec` starts from.
    #[serde(default)]
    pub process: Option<Process>,
    #[serde(default)]
    pub linux: Option<LinuxView>,
}

/// The part of `linux` that exec and update need.
#[derive(Debug, Default, Deserialize)]
pub struct LinuxView {
    #[serde(default)]
    pub seccomp: Option<LinuxSeccomp>,
    #[serde(default)]
    pub personality: Option<oci_spec::runtime::LinuxPersonality>,
    pub devices: Option<Vec<LinuxDevice>>,
}

/// The state document of runtime-spec runtime.md, as `state` prints it and as
/// hooks read it on stdin.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    #[serde(default)]
    pub owner: String,
}

impl State {
    /// Hooks and annotations of the saved config. The config was validated
    /// at create; a view that no longer parses reads as empty.
    pub fn config_view(&self) -> ConfigView {
        serde_json::from_str(self.config.get()).unwrap_or_default()
    }

    pub fn oci(&self, status: Status) -> OciState {
        OciState {
            oci_version: OCI_VERSION.to_string(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            annotations: self.config_view().annotations.unwrap_or_default(),
            owner: self.owner.clone(),
        }
    }
}

/// Checks an id the way runc does: letters, digits and `_ + - .`, not `.` or
/// `..`, so that it is always one safe path component.
pub fn validate_id(id: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return invalid("empty");
    }
    if id.len() > 1024 {
        return invalid("longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return invalid("not a usable directory name");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return invalid("expected only letters, digits and _ + - .");
    }
    Ok(())
}

/// `<root>/<id>`, the home of one container's runtime state.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub id: String,
    pub path: PathBuf,
}

impl StateDir {
    pub fn new(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        Ok(StateDir {
            id: id.to_string(),
            path: root.join(id),
        })
    }

    /// Claims the id: the directory is made with mkdir, which fails if it
    /// exists, so of two concurrent creates exactly one wins.
    pub fn create(root: &Path, id: &str) -> Result<Self> {
        let dir = StateDir::new(root, id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .io_ctx(|| format!("creating state root {}", root.display()))?;
        match fs::DirBuilder::new().mode(0o711).create(&dir.path) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::AlreadyExists(id.to_string()))
            }
            Err(e) => Err(Error::io(format!("creating {}", dir.path.display()), e)),
        }
    }

    pub fn exists(&self) -> bool {
        self.path.is_dir()
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    pub fn state_path(&self) -> PathBuf {
        self.path.join(STATE_FILE)
    }

    pub fn load(&self) -> Result<State> {
        let path = self.state_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.exists() => {
                return Err(Error::NotFound(self.id.clone()))
            }
            Err(e) => {
                return Err(Error::State {
                    id: self.id.clone(),
                    path,
                    message: format!("cannot read: {e}"),
                })
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::State {
            id: self.id.clone(),
            path,
            message: format!("corrupt: {e}"),
        })
    }

    /// Writes state.json so that a reader sees the old file or the new one,
    /// never half of one: temp file, rename.
    pub fn save(&self, state: &State) -> Result<()> {
        let bytes = serde_json::to_vec(state).map_err(|e| Error::State {
            id: self.id.clone(),
            path: self.state_path(),
            message: format!("serialising: {e}"),
        })?;
        write_atomic(&self.state_path(), &bytes, 0o600)
    }

    pub fn cgroup_path(&self) -> PathBuf {
        self.path.join(CGROUP_FILE)
    }

    pub fn save_cgroup(&self, cgroup: &crate::cgroups::Cgroup) -> Result<()> {
        let bytes = serde_json::to_vec(cgroup).map_err(|e| Error::State {
            id: self.id.clone(),
            path: self.cgroup_path(),
            message: format!("serialising: {e}"),
        })?;
        // Written once, by the create that made this state dir, and read
        // only when state.json is damaged: created exclusively and written
        // in one call, without the temp file and rename of state.json,
        // which is rewritten at every step.
        let path = self.cgroup_path();
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| file.write_all(&bytes))
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// The cgroup record of [`StateDir::save_cgroup`]; `None` when there is
    /// none (create did not get as far as making cgroups).
    pub fn load_cgroup(&self) -> Result<Option<crate::cgroups::Cgroup>> {
        let path = self.cgroup_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::State {
                id: self.id.clone(),
                path,
                message: format!("corrupt: {e}"),
            })
    }

    pub fn remove(&self) -> Result<()> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", self.path.display()), e)),
        }
    }
}

/// temp file + rename, in the target's directory: readers see the whole old
/// file or the whole new one. Not synced, as runc's and crun's are not: the
/// state root is meant to be a tmpfs (/run), which a reboot empties anyway,
/// and on a disk-backed root a state.json a power cut leaves empty is read as
/// damaged, which delete salvages from the cgroup record. Each sync cost about
/// a millisecond of every create on a disk-backed root.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(format!("writing {}", path.display()), e));
    }
    Ok(())
}

/// A process as /proc/PID/stat describes it: its one-letter state and its
/// start time in clock ticks since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
}

pub fn proc_stat(pid: Pid) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_proc_stat(&text)
}

/// Field 2 (comm) may hold spaces and parentheses, so fields are counted
/// from the last ')'.
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // After comm, state is field 3; starttime is field 22, 19 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// Whether `pid` is still the very process that was recorded at create.
pub fn is_same_live_process(pid: Pid, start_time: u64) -> bool {
    match proc_stat(pid) {
        Some(stat) => stat.start_time == start_time && !matches!(stat.state, 'Z' | 'X' | 'x'),
        None => false,
    }
}

pub fn derive_status(dir: &StateDir, state: &State) -> Status {
    if state.pid <= 0 || !is_same_live_process(Pid::from_raw(state.pid), state.init_start_time) {
        return Status::Stopped;
    }
    if state.creating {
        return Status::Creating;
    }
    // The freezer's own state is the truth: a frozen task's /proc state is
    // not reliably distinguishable from an ordinary sleep. Checked before
    // the fifo: a created container can be paused too (as in runc).
    if state
        .cgroup
        .as_ref()
        .is_some_and(|cgroup| cgroup.is_frozen())
    {
        return Status::Paused;
    }
    if dir.fifo_path().exists() {
        return Status::Created;
    }
    Status::Running
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_like_runc() {
        for good in ["a", "abc-1_2.3+x", "A.B"] {
            validate_id(good).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn proc_stat_parses_comm_with_spaces_and_parens() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10 18446744073709551615";
        assert_eq!(
            parse_proc_stat(line),
            Some(ProcStat {
                state: 'S',
                start_time: 123456
            })
        );
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn own_process_is_live_and_a_wrong_start_time_is_not() {
        let me = Pid::this();
        let stat = proc_stat(me).unwrap();
        assert!(is_same_live_process(me, stat.start_time));
        assert!(!is_same_live_process(me, stat.start_time + 1));
    }

    #[test]
    fn create_refuses_an_existing_id_and_save_is_atomic() {
        let root = std::env::temp_dir().join(format!("berth-state-test-{}", std::process::id()));
        let dir = StateDir::create(&root, "one").unwrap();
        assert!(matches!(
            StateDir::create(&root, "one"),
            Err(Error::AlreadyExists(_))
        ));
        let missing = StateDir::new(&root, "two").unwrap();
        assert!(matches!(missing.load(), Err(Error::NotFound(_))));
        fs::write(dir.state_path(), b"{not json").unwrap();
        let err = dir.load().unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
        write_atomic(&dir.state_path(), b"{}", 0o600).unwrap();
        assert_eq!(fs::read(dir.state_path()).unwrap(), b"{}");
        fs::remove_dir_all(&root).unwrap();
    }
}
