//! What the shim leaves when the container is gone: the exit code in the exit file (and
//! the persist dir), then the exit command.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::wait::WaitStatus;

/// The exit code a shell would show: the status, or 128+N for signal N.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

/// Writes `contents` to `path` so that a reader sees the whole file or none: a temp file in
/// the same directory, renamed over. Not synced: what the shim writes (pid files, restart
/// markers) describes processes a power cut ends anyway; the exit code, which outlives
/// them, is synced by [`ExitFiles::sync`].
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(contents)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Where the exit code goes.
pub struct ExitFiles {
    /// `<exit-dir>/<cid>`.
    pub exit_file: Option<PathBuf>,
    /// `<persist-dir>/exit`.
    pub persist_file: Option<PathBuf>,
}

impl ExitFiles {
    /// Writes both files whole, but leaves them to [`ExitFiles::sync`] to reach the disk:
    /// a caller waiting for the exit learns it without waiting for the disk too.
    pub fn write(&self, code: i32) -> Vec<(PathBuf, io::Error)> {
        let text = code.to_string();
        // The persist file first: callers (podman) take the exit file as the sign that
        // everything is in place.
        self.paths()
            .filter_map(|p| {
                write_atomic(p, text.as_bytes())
                    .err()
                    .map(|e| (p.clone(), e))
            })
            .collect()
    }

    /// Asks the disk to keep what [`ExitFiles::write`] wrote; a file that cannot be
    /// synced was reported when it could not be written.
    pub fn sync(&self) {
        for path in self.paths() {
            let _ = fs::File::open(path).and_then(|f| f.sync_all());
        }
    }

    fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.persist_file, &self.exit_file].into_iter().flatten()
    }
}

/// Runs `--exit-command` with its arguments after `delay`, and waits for it: callers use
/// it to clean up (podman's `container cleanup`), and its status becomes the shim's.
pub fn run_exit_command(program: &Path, args: &[String], delay: Duration) -> io::Result<i32> {
    std::thread::sleep(delay);
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn signals_count_from_128() {
        let pid = Pid::from_raw(1);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 0)), Some(0));
        assert_eq!(exit_code(WaitStatus::Exited(pid, 1)), Some(1));
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGTERM, true)),
            Some(143)
        );
    }

    #[test]
    fn exit_file_is_whole_and_alone() {
        let dir = std::env::temp_dir().join(format!("exit-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let files = ExitFiles {
            exit_file: Some(dir.join("c1")),
            persist_file: Some(dir.join("exit")),
        };
        assert!(files.write(143).is_empty());
        assert_eq!(fs::read_to_string(dir.join("c1")).unwrap(), "143");
        assert_eq!(fs::read_to_string(dir.join("exit")).unwrap(), "143");
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["c1", "exit"]);
        let bad = ExitFiles {
            exit_file: Some(dir.join("no/such/dir/c1")),
            persist_file: None,
        };
        assert_eq!(bad.write(0).len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
