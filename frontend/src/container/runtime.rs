//! The binaries a container runs under (berth-shim, and berth-runtime or another
//! runc-compatible runtime) and the runtime's command line, the only way the
//! front-end reaches a container besides the shim's files.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{name}: not found next to {exe} nor in PATH")]
    NotFound { name: String, exe: String },
    #[error("runtime {path}: not an executable file")]
    NotExecutable { path: PathBuf },
    #[error("{runtime} {command} {id}: {source}")]
    Spawn {
        runtime: PathBuf,
        command: String,
        id: String,
        source: std::io::Error,
    },
    #[error("{runtime} {command} {id}: {message}")]
    Failed {
        runtime: PathBuf,
        command: String,
        id: String,
        message: String,
    },
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name` next to the running `berth` (an installed set, or cargo's target dir),
/// else in PATH.
pub fn find_binary(name: &str) -> Result<PathBuf, RuntimeError> {
    let exe = std::env::current_exe().unwrap_or_default();
    if let Some(dir) = exe.parent() {
        let beside = dir.join(name);
        if is_executable(&beside) {
            return Ok(beside);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| RuntimeError::NotFound {
            name: name.to_string(),
            exe: exe.display().to_string(),
        })
}

/// `--runtime`'s value: a name (`runc`, `crun`, `berth-runtime`; empty is the
/// default) looked up as [`find_binary`] does, or a path.
pub fn resolve_runtime(runtime: &str) -> Result<PathBuf, RuntimeError> {
    if runtime.contains('/') {
        let path = PathBuf::from(runtime);
        let path = std::path::absolute(&path).unwrap_or(path);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(RuntimeError::NotExecutable { path })
        };
    }
    find_binary(if runtime.is_empty() {
        "berth-runtime"
    } else {
        runtime
    })
}

/// One runtime binary with the state root berth gives it.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
}

impl Runtime {
    /// The global arguments every call (and the shim) passes first.
    pub fn global_args(&self) -> Vec<String> {
        vec!["--root".to_string(), self.root.display().to_string()]
    }

    fn run(&self, command: &str, args: &[&str], id: &str) -> Result<Output, RuntimeError> {
        Command::new(&self.bin)
            .args(self.global_args())
            .arg(command)
            .args(args)
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| RuntimeError::Spawn {
                runtime: self.bin.clone(),
                command: command.to_string(),
                id: id.to_string(),
                source,
            })
    }

    fn checked(&self, command: &str, args: &[&str], id: &str) -> Result<Output, RuntimeError> {
        let output = self.run(command, args, id)?;
        if output.status.success() {
            return Ok(output);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed")
            .trim()
            .to_string();
        Err(RuntimeError::Failed {
            runtime: self.bin.clone(),
            command: command.to_string(),
            id: id.to_string(),
            message,
        })
    }

    pub fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.checked("start", &[], id).map(drop)
    }

    /// `kill [--all] ID SIGNAL`: the signal as a name or number, as runc takes it.
    pub fn kill(&self, id: &str, signal: &str, all: bool) -> Result<(), RuntimeError> {
        let mut args: Vec<&str> = Vec::new();
        if all {
            args.push("--all");
        }
        let output = Command::new(&self.bin)
            .args(self.global_args())
            .arg("kill")
            .args(&args)
            .arg(id)
            .arg(signal)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| RuntimeError::Spawn {
                runtime: self.bin.clone(),
                command: "kill".to_string(),
                id: id.to_string(),
                source,
            })?;
        if output.status.success() {
            return Ok(());
        }
        Err(RuntimeError::Failed {
            runtime: self.bin.clone(),
            command: "kill".to_string(),
            id: id.to_string(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }

    pub fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.checked("pause", &[], id).map(drop)
    }

    pub fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.checked("resume", &[], id).map(drop)
    }

    /// `delete --force`: gone whatever its state; a container the runtime does not
    /// know is not an error.
    pub fn delete(&self, id: &str) -> Result<(), RuntimeError> {
        self.begin_delete(id)?.finish()
    }

    /// [`Runtime::delete`] started, for the caller to do other work while it runs and
    /// then [`Deleting::finish`] it.
    pub fn begin_delete(&self, id: &str) -> Result<Deleting, RuntimeError> {
        let child = Command::new(&self.bin)
            .args(self.global_args())
            .args(["delete", "--force", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| RuntimeError::Spawn {
                runtime: self.bin.clone(),
                command: "delete".to_string(),
                id: id.to_string(),
                source,
            })?;
        Ok(Deleting {
            child,
            runtime: self.bin.clone(),
            id: id.to_string(),
        })
    }

    /// `state ID` as JSON, `None` when the runtime does not know the container.
    pub fn state(&self, id: &str) -> Result<Option<serde_json::Value>, RuntimeError> {
        let output = self.run("state", &[], id)?;
        if !output.status.success() {
            return Ok(None);
        }
        serde_json::from_slice(&output.stdout)
            .map(Some)
            .map_err(|e| RuntimeError::Failed {
                runtime: self.bin.clone(),
                command: "state".to_string(),
                id: id.to_string(),
                message: format!("not JSON: {e}"),
            })
    }
}

/// The binary's file name, for messages and `inspect`'s `HostConfig.Runtime`.
pub fn display_name(bin: &Path) -> String {
    bin.file_name()
        .map(OsStr::to_string_lossy)
        .map(|n| n.into_owned())
        .unwrap_or_else(|| bin.display().to_string())
}

/// A runtime `delete --force` under way.
#[must_use = "a delete is done, and its errors known, only once finished"]
pub struct Deleting {
    child: Child,
    runtime: PathBuf,
    id: String,
}

impl Deleting {
    /// Waits for the delete; a container the runtime did not know is not an error.
    pub fn finish(self) -> Result<(), RuntimeError> {
        let output = self
            .child
            .wait_with_output()
            .map_err(|source| RuntimeError::Spawn {
                runtime: self.runtime.clone(),
                command: "delete".to_string(),
                id: self.id.clone(),
                source,
            })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() || stderr.contains("not exist") {
            return Ok(());
        }
        Err(RuntimeError::Failed {
            runtime: self.runtime,
            command: "delete".to_string(),
            id: self.id,
            message: stderr.trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_path_must_be_an_executable_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rt");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let err = resolve_runtime(file.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("not an executable file"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(resolve_runtime(file.to_str().unwrap()).unwrap(), file);
        let err = resolve_runtime("no-such-runtime-here").unwrap_err();
        assert!(err.to_string().contains("no-such-runtime-here"), "{err}");
        assert!(resolve_runtime("sh").unwrap().ends_with("sh"));
    }
}
