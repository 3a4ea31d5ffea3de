//! `exec`: a new process in a running container, as its config.json's process with
//! the command, environment, user and directory the caller asks for. In the
//! foreground the runtime's `exec` runs it with the caller's stdio (a pty of the
//! runtime's own with `tty`); detached, a berth-shim of its own watches it, so it is
//! reaped and its exit code kept whoever started it.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::lifecycle::{Container, ContainerError, Containers};
use super::names::new_id;
use super::runtime::find_binary;

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
        env.push(entry.clone());
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
        let (_, dir) = self.exec_dir(container)?;
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
        Ok(match failed_to_start {
            Some(code) => ExecEnd::CannotRun(code),
            None => ExecEnd::Exited(code),
        })
    }

    /// Starts `request` detached, under a shim of its own; returns once it runs.
    pub fn exec_detached(
        &self,
        container: &Container,
        request: &ExecRequest,
    ) -> Result<(), ContainerError> {
        self.check_running(container)?;
        let process = process_json(container, request)?;
        let (session, dir) = self.exec_dir(container)?;
        let spec = dir.join("process.json");
        fs::write(&spec, process.to_string()).map_err(|e| damaged(container, "process.json", e))?;
        let runtime = self.runtime(&container.host)?;
        let shim = find_binary("berth-shim")?;
        super::shim::spawn_exec_shim(&super::shim::ExecLaunch {
            shim: &shim,
            id: &container.row.id,
            session: &session,
            dir: &dir,
            process_spec: &spec,
            runtime: &runtime,
        })?;
        Ok(())
    }
}
