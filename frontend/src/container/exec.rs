//! `exec`: a new process in a running container, as its config.json's process with
//! the command, environment, user and directory the caller asks for. In the
//! foreground the runtime's `exec` runs it with the caller's stdio (a pty of the
//! runtime's own with `tty`); detached, a berth-shim of its own watches it, so it is
//! reaped and its exit code kept whoever started it. The daemon runs every session
//! under a shim: attached ones through the session's attach socket, connected
//! before the process runs.
//!
//! ```text
//! <container dir>/exec/<session id, 12 chars>/
//!     process.json                the process, from the container's config.json
//!     attach ctl winsz            the session shim's attach socket and fifos
//!     pidfile shim.pid exit       the process's pid, the shim's, the exit code
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::attach::AttachSocket;
use super::events::exec_event;
use super::lifecycle::{Container, ContainerError, Containers};
use super::names::new_id;
use super::runtime::find_binary;
use super::shim::{ExecLaunch, ExecShim};
use super::ContainerPaths;

/// What `exec` is asked for.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub command: Vec<String>,
    pub env: Vec<String>,
    /// `uid[:gid]`, or a name the container's /etc/passwd knows.
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub stdin: bool,
    /// Every capability the kernel has (Docker's `exec --privileged`).
    pub privileged: bool,
}

/// How an exec ended in the foreground.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecEnd {
    /// The process's exit status.
    Exited(i32),
    /// It could not be started: Docker's 126 (not executable) or 127 (not found).
    CannotRun(i32),
}

fn damaged(container: &Container, what: &str, problem: impl ToString) -> ContainerError {
    ContainerError::Damaged {
        id: container.row.id.clone(),
        what: what.to_string(),
        problem: problem.to_string(),
    }
}

/// The process JSON for `request`, from the container's own.
fn process_json(container: &Container, request: &ExecRequest) -> Result<Value, ContainerError> {
    let path = container.paths.config();
    let bytes = fs::read(&path).map_err(|e| damaged(container, "config.json", e))?;
    let spec: Value =
        serde_json::from_slice(&bytes).map_err(|e| damaged(container, "config.json", e))?;
    let mut process = spec.get("process").cloned().unwrap_or_default();
    process["args"] = Value::from(request.command.clone());
    process["terminal"] = Value::from(request.tty);
    let mut env: Vec<String> = process["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for entry in &request.env {
        let key = entry.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        // `KEY` alone unsets it, as Docker reads it.
        if entry.contains('=') {
            env.push(entry.clone());
        }
    }
    process["env"] = Value::from(env);
    if let Some(dir) = &request.workdir {
        process["cwd"] = Value::from(dir.clone());
    }
    if let Some(user) = &request.user {
        let resolved = super::user::resolve(&container.paths.rootfs(), user)?;
        process["user"] = serde_json::json!({
            "uid": resolved.uid,
            "gid": resolved.gid,
            "additionalGids": resolved.additional_gids,
        });
    }
    if request.privileged {
        let all = Value::from(super::security::kernel_caps());
        if let Some(sets) = process["capabilities"].as_object_mut() {
            sets.values_mut().for_each(|set| *set = all.clone());
        }
    }
    Ok(process)
}

impl Containers {
    fn exec_dir(&self, container: &Container) -> Result<(String, PathBuf), ContainerError> {
        let session = new_id().map_err(|e| damaged(container, "exec id", e))?;
        let dir = container.paths.dir.join("exec").join(&session[..12]);
        fs::create_dir_all(&dir).map_err(|e| damaged(container, "exec dir", e))?;
        Ok((session, dir))
    }

    fn check_running(&self, container: &Container) -> Result<(), ContainerError> {
        if container.state().status != super::state::Status::Running {
            return Err(ContainerError::NotRunning(container.row.id.clone()));
        }
        Ok(())
    }

    /// Runs `request` in the foreground with our stdio; its end.
    pub fn exec(
        &self,
        container: &Container,
        request: &ExecRequest,
    ) -> Result<ExecEnd, ContainerError> {
        self.check_running(container)?;
        let process = process_json(container, request)?;
        let (exec_id, dir) = self.exec_dir(container)?;
        let events = self.events();
        let event = |action: &str, code: Option<i32>| {
            events.record(&exec_event(
                container,
                action,
                &exec_id,
                &request.command,
                code,
            ));
        };
        event("exec_create", None);
        event("exec_start", None);
        let spec = dir.join("process.json");
        fs::write(&spec, process.to_string()).map_err(|e| damaged(container, "process.json", e))?;
        let log = dir.join("runtime.log");
        let runtime = self.runtime(&container.host)?;
        let mut command = Command::new(&runtime.bin);
        command
            .args(runtime.global_args())
            .arg("--log")
            .arg(&log)
            .arg("--log-format")
            .arg("json")
            .arg("exec")
            .arg("--process")
            .arg(&spec);
        if request.tty {
            command.arg("--tty");
        }
        command.arg(&container.row.id);
        if !request.stdin {
            command.stdin(Stdio::null());
        }
        let status = command
            .status()
            .map_err(|e| damaged(container, "runtime exec", e));
        let errors = fs::read_to_string(&log).unwrap_or_default();
        let _ = fs::remove_dir_all(&dir);
        let code = status?.code().unwrap_or(255);
        // The runtime's own failure, not the process's: read from its log.
        let failed_to_start = errors
            .lines()
            .filter(|l| l.contains("\"error\""))
            .find_map(|l| {
                if l.contains("not found") || l.contains("no such file") {
                    Some(127)
                } else if l.contains("permission denied") || l.contains("exec format error") {
                    Some(126)
                } else {
                    None
                }
            });
        let end = match failed_to_start {
            Some(code) => ExecEnd::CannotRun(code),
            None => ExecEnd::Exited(code),
        };
        event("exec_die", Some(code));
        Ok(end)
    }

    /// Starts `request` detached, under a shim of its own; returns once it runs.
    pub fn exec_detached(
        &self,
        container: &Container,
        request: &ExecRequest,
    ) -> Result<(), ContainerError> {
        let session = new_id().map_err(|e| damaged(container, "exec id", e))?;
        let create = exec_event(container, "exec_create", &session, &request.command, None);
        self.events().record(&create);
        self.start_exec_session(container, request, &session, false)?;
        Ok(())
    }

    /// Starts `request` as session `session` under a shim of its own; returns once the
    /// process runs. With `attach`, the session's attach socket is connected before
    /// the process runs. A session that could not start leaves no directory behind.
    pub fn start_exec_session(
        &self,
        container: &Container,
        request: &ExecRequest,
        session: &str,
        attach: bool,
    ) -> Result<ExecSession, ContainerError> {
        self.check_running(container)?;
        let dir = container
            .paths
            .dir
            .join("exec")
            .join(&session[..12.min(session.len())]);
        fs::create_dir_all(&dir).map_err(|e| damaged(container, "exec dir", e))?;
        let started = self.launch_session(container, request, session, &dir, attach);
        if started.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        let (shim, attach) = started?;
        let start = exec_event(container, "exec_start", session, &request.command, None);
        self.events().record(&start);
        Ok(ExecSession { dir, shim, attach })
    }

    fn launch_session(
        &self,
        container: &Container,
        request: &ExecRequest,
        session: &str,
        dir: &Path,
        attach: bool,
    ) -> Result<(ExecShim, Option<AttachSocket>), ContainerError> {
        let process = process_json(container, request)?;
        let spec = dir.join("process.json");
        fs::write(&spec, process.to_string()).map_err(|e| damaged(container, "process.json", e))?;
        let runtime = self.runtime(&container.host)?;
        let shim = find_binary("berth-shim")?;
        let launch = ExecLaunch {
            shim: &shim,
            id: &container.row.id,
            session,
            dir,
            process_spec: &spec,
            runtime: &runtime,
            tty: request.tty,
            stdin: request.stdin,
        };
        if !attach {
            return Ok((super::shim::spawn_exec_shim(&launch)?, None));
        }
        let paths = session_paths(dir);
        let (shim, socket) =
            super::shim::spawn_attached_exec_shim(&launch, || -> Result<_, ContainerError> {
                Ok(AttachSocket::connect(&paths)?)
            })?;
        Ok((shim, Some(socket)))
    }
}

/// An exec session under its shim, its process running.
#[derive(Debug)]
pub struct ExecSession {
    pub dir: PathBuf,
    pub shim: ExecShim,
    /// Connected before the process ran, for an attached session.
    pub attach: Option<AttachSocket>,
}

/// A session's process, held by a pidfd from its start: ended with what it started
/// when the client that ran it went away (Docker's CLI killed mid-`exec`).
#[derive(Debug)]
pub struct SessionProcess {
    pid: i32,
    pidfd: Option<std::os::fd::OwnedFd>,
}

impl SessionProcess {
    /// Right after the start: the pid is the shim's child, reaped only by it, so it
    /// cannot name another process yet.
    pub fn open(pid: i32) -> SessionProcess {
        SessionProcess {
            pid,
            pidfd: super::pidfd::pidfd_open(pid),
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// SIGKILL to the process and every process under it: its orphans would
    /// otherwise live on under the container's init.
    pub fn kill(&self) {
        let Some(pidfd) = &self.pidfd else {
            return;
        };
        // Each found while the process still holds it; a pidfd each before the kill,
        // so a pid freed meanwhile is never signalled.
        let mut tree = Vec::new();
        let mut pending = vec![self.pid];
        while let Some(pid) = pending.pop() {
            for child in children(pid) {
                if let Some(fd) = super::pidfd::pidfd_open(child) {
                    tree.push(fd);
                    pending.push(child);
                }
            }
        }
        let kill = nix::sys::signal::Signal::SIGKILL;
        super::pidfd::pidfd_kill(pidfd, kill);
        for fd in &tree {
            super::pidfd::pidfd_kill(fd, kill);
        }
    }
}

/// The children of `pid`, from each of its threads' `children` file.
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// A session's directory seen as a container's: its attach socket and ctl fifo are
/// where a container's are in its own.
pub fn session_paths(dir: &Path) -> ContainerPaths {
    ContainerPaths {
        dir: dir.to_path_buf(),
        runtime_state: None,
        netns: None,
    }
}
