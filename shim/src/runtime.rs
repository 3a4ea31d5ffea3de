//! The runc command line the shim drives: `create`, `exec -d`, `start`, `delete`, `kill`.
//! Any runc-compatible binary works; the shim knows nothing else of it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::sys;

/// What the shim was asked to run.
#[derive(Debug, Clone)]
pub struct RuntimeCall {
    pub runtime: PathBuf,
    /// Global arguments (`--runtime-arg`), before the command.
    pub global_args: Vec<String>,
    /// Command arguments (`--runtime-opt`), after the command's own.
    pub command_opts: Vec<String>,
    pub cid: String,
    pub bundle: PathBuf,
    pub pid_file: PathBuf,
    pub systemd_cgroup: bool,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// `Some(spec)`: an exec session in the running container.
    pub exec_spec: Option<PathBuf>,
    pub terminal: bool,
    /// `Some(dir)`: restore from a checkpoint instead of create.
    pub restore: Option<PathBuf>,
}

impl RuntimeCall {
    /// The arguments of the call that brings the container (or the exec) into being.
    pub fn create_args(&self, console_socket: Option<&Path>) -> Vec<String> {
        let mut args = Vec::new();
        if self.systemd_cgroup && self.exec_spec.is_none() {
            args.push("--systemd-cgroup".to_string());
        }
        args.extend(self.global_args.iter().cloned());
        let path = |p: &Path| p.to_string_lossy().into_owned();
        if let Some(spec) = &self.exec_spec {
            args.extend(["exec".into(), "--pid-file".into(), path(&self.pid_file)]);
            args.extend(["--process".into(), path(spec), "-d".into()]);
            if self.terminal {
                args.push("--tty".into());
            }
        } else {
            let command = if self.restore.is_some() {
                "restore"
            } else {
                "create"
            };
            args.extend([command.into(), "--bundle".into(), path(&self.bundle)]);
            args.extend(["--pid-file".into(), path(&self.pid_file)]);
            if self.no_pivot {
                args.push("--no-pivot".into());
            }
            if self.no_new_keyring {
                args.push("--no-new-keyring".into());
            }
            if let Some(image) = &self.restore {
                // restore runs the container at once: --detach returns when it runs.
                args.extend(["--detach".into(), "--image-path".into(), path(image)]);
                args.extend(["--work-path".into(), path(&self.bundle)]);
            }
        }
        args.extend(self.command_opts.iter().cloned());
        if let Some(socket) = console_socket {
            args.extend(["--console-socket".into(), path(socket)]);
        }
        args.push(self.cid.clone());
        args
    }

    /// A command of ours on the container (`start`, `delete --force`, ...), with the
    /// caller's global arguments (its --root, --log).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.runtime);
        cmd.args(&self.global_args)
            .args(args)
            .arg(&self.cid)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        sys::die_with_parent(&mut cmd);
        cmd
    }

    /// The runtime's `--log FILE` with `--log-format json`, when the caller gave them: where
    /// the runtime's error text is, rather than on its stderr.
    pub fn json_log(&self) -> Option<PathBuf> {
        let args = &self.global_args;
        let json = args
            .windows(2)
            .any(|w| w[0] == "--log-format" && w[1] == "json")
            || args.iter().any(|a| a == "--log-format=json");
        if !json {
            return None;
        }
        args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix("--log=").map(PathBuf::from).or_else(|| {
                (a == "--log")
                    .then(|| args.get(i + 1).map(PathBuf::from))
                    .flatten()
            })
        })
    }
}

/// The error text to report when the runtime failed: the `error`-level messages of its
/// JSON log written since `log_offset`, else what it printed on stderr.
pub fn failure_text(log: Option<&[u8]>, stderr: &[u8]) -> String {
    let from_log: Vec<String> = log
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .collect();
    if !from_log.is_empty() {
        return from_log.join("\n");
    }
    String::from_utf8_lossy(stderr).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> RuntimeCall {
        RuntimeCall {
            runtime: "/usr/sbin/runc".into(),
            global_args: vec![
                "--log-format=json".into(),
                "--log".into(),
                "/run/x/oci-log".into(),
            ],
            command_opts: vec![],
            cid: "c1".into(),
            bundle: "/b".into(),
            pid_file: "/b/pidfile".into(),
            systemd_cgroup: false,
            no_pivot: true,
            no_new_keyring: false,
            exec_spec: None,
            terminal: false,
            restore: None,
        }
    }

    #[test]
    fn create_is_called_as_conmon_calls_it() {
        let args = call().create_args(Some(Path::new("/tmp/cs")));
        assert_eq!(
            args.join(" "),
            "--log-format=json --log /run/x/oci-log create --bundle /b --pid-file /b/pidfile \
             --no-pivot --console-socket /tmp/cs c1"
        );
    }

    #[test]
    fn exec_is_detached_with_the_process_file() {
        let mut c = call();
        c.exec_spec = Some("/b/exec.json".into());
        c.terminal = true;
        c.command_opts = vec!["--preserve-fds".into(), "1".into()];
        assert_eq!(
            c.create_args(None).join(" "),
            "--log-format=json --log /run/x/oci-log exec --pid-file /b/pidfile --process \
             /b/exec.json -d --tty --preserve-fds 1 c1"
        );
    }

    #[test]
    fn json_log_is_found_in_either_spelling() {
        assert_eq!(call().json_log(), Some(PathBuf::from("/run/x/oci-log")));
        let mut c = call();
        c.global_args = vec!["--log-format".into(), "json".into(), "--log=/l".into()];
        assert_eq!(c.json_log(), Some(PathBuf::from("/l")));
        c.global_args = vec!["--log=/l".into()];
        assert_eq!(c.json_log(), None);
    }

    #[test]
    fn failure_text_prefers_the_json_logs_errors() {
        let log = br#"{"level":"warning","msg":"w","time":"t"}
{"level":"error","msg":"exec: \"nope\": executable file not found","time":"t"}
"#;
        assert_eq!(
            failure_text(Some(log), b"ignored"),
            "exec: \"nope\": executable file not found"
        );
        assert_eq!(
            failure_text(Some(b"garbage\n"), b"plain error\n"),
            "plain error"
        );
        assert_eq!(failure_text(None, b""), "");
    }
}
