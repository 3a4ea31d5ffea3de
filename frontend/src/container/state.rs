//! What a container is doing, read from the files its shim and the runtime keep, never
//! from a record that could be stale: a container whose shim is gone is never shown
//! as up.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use super::ContainerPaths;
use crate::store::containers::ContainerRow;
use crate::time::rfc3339_nanos;

/// Docker's `State.Status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        }
    }

    /// Running, paused or restarting: what `ps` without `-a` lists and `rm` refuses.
    pub fn is_up(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// Docker's `State`, as derived now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub status: Status,
    /// The container's init, when it is running.
    pub pid: i32,
    pub shim_pid: Option<i32>,
    pub exit_code: i32,
    pub oom_killed: bool,
    /// RFC 3339, empty when never started.
    pub started_at: String,
    pub finished_at: String,
    pub finished: Option<SystemTime>,
    pub restart_count: u32,
    pub error: String,
}

fn read_number(path: &Path) -> Option<i64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live (not zombie) process whose command line names `needle`.
fn process_alive(pid: i32, needle: Option<&str>) -> bool {
    if pid <= 0 {
        return false;
    }
    let proc_dir = Path::new("/proc").join(pid.to_string());
    let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // The state follows the command name's closing parenthesis.
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']));
    if zombie {
        return false;
    }
    match needle {
        None => true,
        Some(needle) => fs::read(proc_dir.join("cmdline")).is_ok_and(|cmdline| {
            cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == needle.as_bytes())
        }),
    }
}

/// The shim's pid, when that shim is alive and is this container's.
pub fn live_shim(id: &str, paths: &ContainerPaths) -> Option<i32> {
    let pid = read_number(&paths.shim_pid())? as i32;
    process_alive(pid, Some(id)).then_some(pid)
}

/// Whether the cgroup of process `pid` (a container's init) is frozen (`pause`), on
/// cgroup v1 (its freezer hierarchy) or v2. Its cgroup is looked up, not assumed:
/// containers of other stores, or with their own `--cgroup-parent`, live elsewhere.
fn frozen(pid: i32) -> bool {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return false;
    };
    let mut unified = None;
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "freezer") {
            let file = format!("/sys/fs/cgroup/freezer{path}/freezer.state");
            return fs::read_to_string(file).is_ok_and(|s| s.trim() == "FROZEN");
        }
        if controllers.is_empty() {
            unified = Some(path.to_string());
        }
    }
    unified.is_some_and(|path| {
        fs::read_to_string(format!("/sys/fs/cgroup{path}/cgroup.freeze"))
            .is_ok_and(|s| s.trim() == "1")
    })
}

/// The container's state now.
pub fn read_state(row: &ContainerRow, paths: &ContainerPaths) -> State {
    let restart_count = read_number(&paths.restart_count()).unwrap_or(0).max(0) as u32;
    let oom_killed = paths.oom_file().exists();
    let shim_pid = live_shim(&row.id, paths);
    let mut state = State {
        status: Status::Created,
        pid: 0,
        shim_pid,
        exit_code: 0,
        oom_killed,
        started_at: row.started_at.clone(),
        finished_at: String::new(),
        finished: None,
        restart_count,
        error: String::new(),
    };
    let exit_file = paths.exit_file();
    if let Some(code) = read_number(&exit_file) {
        state.status = Status::Exited;
        state.exit_code = code as i32;
        state.finished = fs::metadata(&exit_file).and_then(|m| m.modified()).ok();
        state.finished_at = state.finished.map(rfc3339_nanos).unwrap_or_default();
        return state;
    }
    if shim_pid.is_none() {
        if !row.started_at.is_empty() {
            // Started, and its monitor died without an exit code: whatever runs
            // there has nobody watching it; the next command cleans it up.
            state.status = Status::Exited;
            state.exit_code = 255;
            state.error = "the container's shim is gone".to_string();
        }
        return state;
    }
    let pid = read_number(&paths.pid_file()).unwrap_or(0) as i32;
    if process_alive(pid, None) {
        state.pid = pid;
        state.status = if paths.restarting_file().exists() {
            // The shim's relaunch, between its runtime create and start.
            Status::Restarting
        } else if paths.awaiting_start() {
            Status::Created
        } else if frozen(pid) {
            Status::Paused
        } else {
            Status::Running
        };
        if state.status != Status::Created && state.started_at.is_empty() {
            // Started by a berth that died before it could say so.
            state.started_at = fs::metadata(paths.pid_file())
                .and_then(|m| m.modified())
                .map(rfc3339_nanos)
                .unwrap_or_default();
        }
    } else if row.started_at.is_empty() && !paths.restarting_file().exists() {
        // Never started: a shim still in the runtime's create of a first start (its
        // starter may have died meanwhile), or one whose created init was killed (a
        // crash repair's undoing of a start that never came) and which has not yet
        // written its exit file. Nothing restarts it.
        state.status = Status::Created;
    } else {
        // Between an exit and the shim's exit file, or between two runs of a
        // restart policy.
        state.status = Status::Restarting;
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, started: bool) -> ContainerRow {
        ContainerRow {
            id: id.to_string(),
            name: "n".into(),
            image_id: String::new(),
            image_name: String::new(),
            created: String::new(),
            config: "{}".into(),
            host_config: "{}".into(),
            path: String::new(),
            args: "[]".into(),
            started_at: if started {
                "2026-12-06T00:00:00Z".into()
            } else {
                String::new()
            },
            complete: true,
        }
    }

    #[test]
    fn an_exit_file_means_exited_with_its_code() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ContainerPaths::new(dir.path(), "c1");
        fs::create_dir_all(paths.persist()).unwrap();
        fs::write(paths.exit_file(), "137").unwrap();
        fs::write(paths.oom_file(), "").unwrap();
        fs::write(paths.restart_count(), "2").unwrap();
        let state = read_state(&row("c1", true), &paths);
        assert_eq!(state.status, Status::Exited);
        assert_eq!(state.exit_code, 137);
        assert!(state.oom_killed);
        assert_eq!(state.restart_count, 2);
        assert!(!state.finished_at.is_empty());
    }

    #[test]
    fn a_started_container_without_its_shim_is_exited_never_up() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ContainerPaths::new(dir.path(), "c2");
        fs::create_dir_all(&paths.dir).unwrap();
        // A pid that is alive but is not this container's shim: ours.
        fs::write(paths.shim_pid(), std::process::id().to_string()).unwrap();
        let state = read_state(&row("c2", true), &paths);
        assert_eq!(state.status, Status::Exited);
        assert_eq!(state.exit_code, 255);
        let state = read_state(&row("c2", false), &paths);
        assert_eq!(state.status, Status::Created);
    }

    #[test]
    fn a_shims_relaunch_is_restarting_not_a_start_left_half_done() {
        let dir = tempfile::tempdir().unwrap();
        let runtime_root = dir.path().join("runtime");
        let paths = ContainerPaths::new(dir.path(), "c3").with_runtime_root(&runtime_root);
        fs::create_dir_all(paths.persist()).unwrap();
        fs::create_dir_all(runtime_root.join("c3")).unwrap();
        fs::write(runtime_root.join("c3/exec.fifo"), "").unwrap();
        // One live process stands for both the shim (its command line names the
        // container) and the container's first process.
        let mut stand_in = std::process::Command::new("sh")
            // Two commands: the shell stays (it would exec a single one and lose "c3").
            .args(["-c", "sleep 30; true", "c3"])
            .spawn()
            .unwrap();
        fs::write(paths.shim_pid(), stand_in.id().to_string()).unwrap();
        fs::write(paths.pid_file(), stand_in.id().to_string()).unwrap();
        // Until its exec the child's command line is still ours.
        let pid = stand_in.id() as i32;
        while !process_alive(pid, Some("c3")) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let created = read_state(&row("c3", true), &paths).status;
        fs::write(paths.restarting_file(), "").unwrap();
        let relaunching = read_state(&row("c3", true), &paths).status;
        stand_in.kill().unwrap();
        stand_in.wait().unwrap();
        assert_eq!(created, Status::Created);
        assert_eq!(relaunching, Status::Restarting);
    }

    #[test]
    fn a_never_started_container_whose_init_died_is_created_not_restarting() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ContainerPaths::new(dir.path(), "c4");
        fs::create_dir_all(paths.persist()).unwrap();
        // The shim lives on (its exit command waits for the repair's lock); the init
        // the runtime created is gone, and there is no exit file yet.
        let mut shim = std::process::Command::new("sh")
            .args(["-c", "sleep 30; true", "c4"])
            .spawn()
            .unwrap();
        fs::write(paths.shim_pid(), shim.id().to_string()).unwrap();
        let pid = shim.id() as i32;
        while !process_alive(pid, Some("c4")) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        fs::write(paths.pid_file(), i32::MAX.to_string()).unwrap();
        let never_started = read_state(&row("c4", false), &paths).status;
        let started = read_state(&row("c4", true), &paths).status;
        shim.kill().unwrap();
        shim.wait().unwrap();
        assert_eq!(never_started, Status::Created);
        // Once started, the same files are the moment between an exit and its file.
        assert_eq!(started, Status::Restarting);
    }
}
