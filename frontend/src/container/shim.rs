//! Starting a container's berth-shim with conmon's contract, as podman starts conmon:
//! the shim forks away, runs the runtime's `create`, and reports the container's pid
//! (or the runtime's error) as one JSON line on `_OCI_SYNCPIPE`.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::libc;

use super::config::{Config, HostConfig};
use super::runtime::Runtime;
use super::ContainerPaths;

/// How long a runtime's `create` may take before the shim is given up on.
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("container {id}: starting {shim}: {source}")]
    Spawn {
        id: String,
        shim: PathBuf,
        source: std::io::Error,
    },
    #[error("container {id}: {shim}: {message}")]
    Refused {
        id: String,
        shim: PathBuf,
        message: String,
    },
    /// The runtime's own words, as the shim passed them on.
    #[error("{message}")]
    Runtime { id: String, message: String },
    #[error("container {id}: log option {option}: {problem}")]
    LogOption {
        id: String,
        option: String,
        problem: String,
    },
}

/// What the shim needs besides the container's directory.
pub struct ShimLaunch<'a> {
    pub shim: &'a Path,
    pub id: &'a str,
    pub name: &'a str,
    pub paths: &'a ContainerPaths,
    pub runtime: &'a Runtime,
    pub config: &'a Config,
    pub host: &'a HostConfig,
    /// Where the shim also writes `ID` with the exit code: outside the container's
    /// directory, so a `--rm` container's code outlives the container.
    pub exit_dir: &'a Path,
    /// The program and arguments the shim runs once the container is gone for good.
    pub exit_command: &'a [String],
}

/// Docker's size units for `max-size` (`10k`, `20m`, `1g`, bytes without a unit).
fn parse_size(value: &str) -> Option<u64> {
    let lower = value.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let number: f64 = digits.parse().ok()?;
    let factor: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * factor;
    (bytes >= 1.0 && bytes.is_finite()).then_some(bytes as u64)
}

/// The shim's log arguments for `--log-driver` and `--log-opt`. The syslog driver also
/// keeps a json-file, so that `berth logs` works with it (Docker's cannot read back).
pub fn log_arguments(
    id: &str,
    paths: &ContainerPaths,
    host: &HostConfig,
) -> Result<Vec<String>, ShimError> {
    let log = paths.log().display().to_string();
    let options = &host.log_config.config;
    let bad = |option: &str, problem: &str| ShimError::LogOption {
        id: id.to_string(),
        option: option.to_string(),
        problem: problem.to_string(),
    };
    let mut args = Vec::new();
    match host.log_config.kind.as_str() {
        "json-file" | "" => args.extend(["-l".to_string(), format!("json-file:{log}")]),
        "k8s-file" => args.extend(["-l".to_string(), format!("k8s-file:{log}")]),
        "syslog" => {
            let target = match options.get("syslog-address") {
                Some(address) if address.starts_with("unixgram://") => format!("syslog:{address}"),
                Some(address) => {
                    return Err(bad(
                        &format!("syslog-address={address}"),
                        "only unixgram:///PATH (or none: /dev/log) is supported",
                    ))
                }
                None => "syslog".to_string(),
            };
            args.extend(["-l".to_string(), target]);
            args.extend(["-l".to_string(), format!("json-file:{log}")]);
        }
        "none" => args.extend(["-l".to_string(), "none".to_string()]),
        other => {
            return Err(bad(
                &format!("--log-driver {other}"),
                "expected json-file, k8s-file, syslog or none",
            ))
        }
    }
    for (key, value) in options {
        match key.as_str() {
            "max-size" => {
                let bytes = parse_size(value).ok_or_else(|| {
                    bad(&format!("max-size={value}"), "expected a size such as 10m")
                })?;
                args.extend(["--log-size-max".to_string(), bytes.to_string()]);
            }
            "max-file" => {
                let files: u32 = value.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    bad(
                        &format!("max-file={value}"),
                        "expected a count of at least 1",
                    )
                })?;
                args.extend(["--log-max-files".to_string(), files.to_string()]);
            }
            "tag" => args.extend(["--log-tag".to_string(), value.clone()]),
            "syslog-address" if host.log_config.kind == "syslog" => {}
            other => {
                return Err(bad(
                    other,
                    &format!("unknown log opt for the {} driver", host.log_config.kind),
                ))
            }
        }
    }
    Ok(args)
}

fn command_line(launch: &ShimLaunch<'_>) -> Result<Vec<String>, ShimError> {
    let paths = launch.paths;
    let path = |p: &Path| p.display().to_string();
    let mut args: Vec<String> = vec![
        "--api-version".into(),
        "1".into(),
        "-c".into(),
        launch.id.into(),
        "-u".into(),
        launch.id.into(),
        "-n".into(),
        launch.name.into(),
        "-r".into(),
        path(&launch.runtime.bin),
        "-b".into(),
        path(paths.bundle()),
        "-p".into(),
        path(&paths.pid_file()),
        "-P".into(),
        path(&paths.shim_pid()),
        "--persist-dir".into(),
        path(&paths.persist()),
        "--exit-dir".into(),
        path(launch.exit_dir),
        "--full-attach".into(),
        "--restart-policy".into(),
        launch.host.restart_policy.shim_argument(),
    ];
    for arg in launch.runtime.global_args() {
        args.extend(["--runtime-arg".to_string(), arg]);
    }
    args.extend(log_arguments(launch.id, paths, launch.host)?);
    if launch.config.tty {
        // The pty takes input without -i, and a detach never closes it.
        args.push("-t".into());
    } else if launch.config.open_stdin {
        args.push("-i".into());
        if !launch.config.stdin_once {
            args.push("--leave-stdin-open".into());
        }
    }
    if let Some((program, rest)) = launch.exit_command.split_first() {
        args.extend(["--exit-command".to_string(), program.clone()]);
        for arg in rest {
            args.extend(["--exit-command-arg".to_string(), arg.clone()]);
        }
    }
    Ok(args)
}

/// Makes `fds[i]` the child's fd `3 + i`, the numbers the `_OCI_*PIPE` variables name.
fn pass_fds<const N: usize>(command: &mut Command, fds: [RawFd; N]) {
    // SAFETY: the hook runs between fork and exec, calls only fcntl and dup2, which are
    // async-signal-safe, and allocates nothing (a fixed-size array on the stack).
    // Each fd is first copied above every target, so that one already sitting on a
    // target number is not overwritten before it is moved; dup2 clears
    // close-on-exec on the target.
    unsafe {
        command.pre_exec(move || {
            let mut high = [0 as RawFd; N];
            for (slot, fd) in high.iter_mut().zip(fds) {
                *slot = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3 + N as RawFd);
                if *slot < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (target, fd) in (3..).zip(high) {
                if libc::dup2(fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Starts the shim and waits for the runtime's `create`: the container's pid.
pub fn spawn_shim(launch: &ShimLaunch<'_>) -> Result<i32, ShimError> {
    let args = command_line(launch)?;
    let io = |source| ShimError::Spawn {
        id: launch.id.to_string(),
        shim: launch.shim.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(launch.paths.persist()).map_err(io)?;
    std::fs::create_dir_all(launch.exit_dir).map_err(io)?;
    run_shim(launch.shim, launch.id, &args, launch.paths.bundle())
}

/// An exec session's shim: `RUNTIME exec -d --process SPEC ID`, watched to its end.
pub struct ExecLaunch<'a> {
    pub shim: &'a Path,
    pub id: &'a str,
    pub session: &'a str,
    /// The session's own directory: its bundle, exit file, pid files.
    pub dir: &'a Path,
    pub process_spec: &'a Path,
    pub runtime: &'a Runtime,
    /// The process gets a pty (its spec says `terminal`).
    pub tty: bool,
    /// The process gets a stdin pipe, fed by attach clients.
    pub stdin: bool,
}

/// An exec session whose process runs.
#[derive(Debug)]
pub struct ExecShim {
    pub pid: i32,
    /// Our end of the shim's sync pipe: the process's exit code comes as its next line.
    pub sync: UnixStream,
}

/// How long an attached exec's shim may take to listen on its attach socket.
const ATTACH_LISTEN_TIMEOUT: Duration = Duration::from_secs(30);

fn exec_arguments(launch: &ExecLaunch<'_>, attach: bool) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    let mut args: Vec<String> = vec![
        "--api-version".into(),
        "1".into(),
        "-c".into(),
        launch.id.into(),
        "-u".into(),
        launch.session.into(),
        "-r".into(),
        path(&launch.runtime.bin),
        "-b".into(),
        path(launch.dir),
        "-p".into(),
        path(&launch.dir.join("pidfile")),
        "-P".into(),
        path(&launch.dir.join("shim.pid")),
        "--persist-dir".into(),
        path(launch.dir),
        "--full-attach".into(),
        "-e".into(),
        "--exec-process-spec".into(),
        path(launch.process_spec),
        "-l".into(),
        "none".into(),
    ];
    if launch.tty {
        args.push("-t".into());
    } else if launch.stdin {
        args.push("-i".into());
    }
    if attach {
        args.push("--exec-attach".into());
    }
    for arg in launch.runtime.global_args() {
        args.extend(["--runtime-arg".to_string(), arg]);
    }
    args
}

fn socket_pair(shim: &Path, id: &str) -> Result<(UnixStream, UnixStream), ShimError> {
    UnixStream::pair().map_err(|source| ShimError::Spawn {
        id: id.to_string(),
        shim: shim.to_path_buf(),
        source,
    })
}

/// Starts an exec session's shim; returns once the process runs.
pub fn spawn_exec_shim(launch: &ExecLaunch<'_>) -> Result<ExecShim, ShimError> {
    let args = exec_arguments(launch, false);
    let (sync, theirs) = socket_pair(launch.shim, launch.id)?;
    spawn(
        launch.shim,
        launch.id,
        &args,
        launch.dir,
        &[],
        [theirs.as_raw_fd()],
    )?;
    drop(theirs);
    let pid = read_pid(launch.shim, launch.id, &sync)?;
    Ok(ExecShim { pid, sync })
}

/// Starts an exec session's shim that waits for an attach client: `connect` runs once
/// the session's attach socket listens and before the process runs, so the client
/// misses none of its output. A `connect` that fails ends the shim unstarted.
pub fn spawn_attached_exec_shim<T, E: From<ShimError>>(
    launch: &ExecLaunch<'_>,
    connect: impl FnOnce() -> Result<T, E>,
) -> Result<(ExecShim, T), E> {
    let args = exec_arguments(launch, true);
    let (sync, sync_theirs) = socket_pair(launch.shim, launch.id)?;
    let (mut start, start_theirs) = socket_pair(launch.shim, launch.id)?;
    let (listening, listening_theirs) = socket_pair(launch.shim, launch.id)?;
    let io = |source| ShimError::Spawn {
        id: launch.id.to_string(),
        shim: launch.shim.to_path_buf(),
        source,
    };
    // The start pipe's first message (there is no cgroup to move the shim into) is
    // read before the shim forks away, which we wait for below: it goes first.
    start.write_all(b"{\"data\": 0}\n").map_err(io)?;
    spawn(
        launch.shim,
        launch.id,
        &args,
        launch.dir,
        &[("_OCI_STARTPIPE", "4"), ("_OCI_ATTACHPIPE", "5")],
        [
            sync_theirs.as_raw_fd(),
            start_theirs.as_raw_fd(),
            listening_theirs.as_raw_fd(),
        ],
    )?;
    drop((sync_theirs, start_theirs, listening_theirs));
    listening
        .set_read_timeout(Some(ATTACH_LISTEN_TIMEOUT))
        .map_err(io)?;
    let line = read_line(&listening).map_err(io)?;
    if line.trim().is_empty() {
        // The shim gave up before it listened; why is on the sync pipe.
        return Err(read_pid(launch.shim, launch.id, &sync)
            .err()
            .unwrap_or_else(|| ShimError::Refused {
                id: launch.id.to_string(),
                shim: launch.shim.to_path_buf(),
                message: "reported a pid before its attach socket listened".into(),
            })
            .into());
    }
    let connected = match connect() {
        Ok(connected) => connected,
        Err(e) => {
            // Closing the start pipe would let the process run with nobody attached.
            kill_unstarted_shim(&launch.dir.join("shim.pid"));
            return Err(e);
        }
    };
    start.write_all(b"{\"data\": 0}\n").map_err(io)?;
    let pid = read_pid(launch.shim, launch.id, &sync)?;
    Ok((ExecShim { pid, sync }, connected))
}

/// Kills a shim that waits on its start pipe, by the pid it wrote (`-P`).
fn kill_unstarted_shim(pid_file: &Path) {
    let pid = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .filter(|p| *p > 0);
    if let Some(pid) = pid {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Runs the shim with `args` and reads its report from the sync pipe.
fn run_shim(shim: &Path, id: &str, args: &[String], cwd: &Path) -> Result<i32, ShimError> {
    let (ours, theirs) = socket_pair(shim, id)?;
    spawn(shim, id, args, cwd, &[], [theirs.as_raw_fd()])?;
    drop(theirs);
    read_pid(shim, id, &ours)
}

/// Starts the shim with `pipes[i]` as its fd `3 + i`, the first one its sync pipe, and
/// waits for its first process, which exits once the shim has forked away.
fn spawn<const N: usize>(
    shim: &Path,
    id: &str,
    args: &[String],
    cwd: &Path,
    env: &[(&str, &str)],
    pipes: [RawFd; N],
) -> Result<(), ShimError> {
    let mut command = Command::new(shim);
    command
        .args(args)
        .env("_OCI_SYNCPIPE", "3")
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    pass_fds(&mut command, pipes);
    // Its stderr holds why a command line was refused.
    let output = command.output().map_err(|source| ShimError::Spawn {
        id: id.to_string(),
        shim: shim.to_path_buf(),
        source,
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ShimError::Refused {
            id: id.to_string(),
            shim: shim.to_path_buf(),
            message: match stderr.trim() {
                "" => format!("exited with {}", output.status),
                text => text.to_string(),
            },
        });
    }
    Ok(())
}

/// One line from the shim, a byte at a time: what follows it (an exec's exit code)
/// stays in the socket for whoever reads next. Empty at the end of the stream.
pub fn read_line(stream: &UnixStream) -> std::io::Result<String> {
    // A sync message is a number and the runtime's error text.
    const LINE_MAX: usize = 64 * 1024;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < LINE_MAX {
        match (&*stream).read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// A sync pipe line: its number and message, or `None` when it is not one.
pub fn parse_sync_line(line: &str) -> Option<(i64, Option<String>)> {
    let reply: serde_json::Value = serde_json::from_str(line).ok()?;
    let data = reply.get("data")?.as_i64()?;
    let message = reply
        .get("message")
        .and_then(serde_json::Value::as_str)
        .map(|m| m.trim().to_string());
    Some((data, message))
}

/// The pid the shim reports on the sync pipe, or the runtime's error.
fn read_pid(shim: &Path, id: &str, sync: &UnixStream) -> Result<i32, ShimError> {
    let spawn_error = |source| ShimError::Spawn {
        id: id.to_string(),
        shim: shim.to_path_buf(),
        source,
    };
    let refused = |message: String| ShimError::Refused {
        id: id.to_string(),
        shim: shim.to_path_buf(),
        message,
    };
    sync.set_read_timeout(Some(CREATE_TIMEOUT))
        .map_err(spawn_error)?;
    let line = read_line(sync).map_err(spawn_error)?;
    // Later lines are waited for as long as the process runs.
    sync.set_read_timeout(None).map_err(spawn_error)?;
    if line.trim().is_empty() {
        return Err(refused(
            "exited without reporting the container's pid".into(),
        ));
    }
    let (pid, message) = parse_sync_line(&line)
        .ok_or_else(|| refused(format!("unreadable sync message {line:?}")))?;
    if pid <= 0 {
        return Err(ShimError::Runtime {
            id: id.to_string(),
            message: message
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the runtime failed to create the container".to_string()),
        });
    }
    i32::try_from(pid).map_err(|_| refused(format!("pid {pid} out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::config::LogConfig;

    #[test]
    fn sizes_read_as_docker_writes_them() {
        assert_eq!(parse_size("10k"), Some(10 * 1024));
        assert_eq!(parse_size("20m"), Some(20 * 1024 * 1024));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1.5m"), Some(1536 * 1024));
        assert_eq!(parse_size("10x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn log_drivers_become_shim_arguments() {
        let paths = ContainerPaths::new(Path::new("/s"), "abc");
        let host = |kind: &str, opts: &[(&str, &str)]| HostConfig {
            log_config: LogConfig {
                kind: kind.to_string(),
                config: opts
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            ..HostConfig::default()
        };
        assert_eq!(
            log_arguments(
                "abc",
                &paths,
                &host("json-file", &[("max-size", "1k"), ("max-file", "3")])
            )
            .unwrap(),
            [
                "-l",
                "json-file:/s/containers/abc/ctr.log",
                "--log-max-files",
                "3",
                "--log-size-max",
                "1024"
            ]
        );
        let syslog = log_arguments("abc", &paths, &host("syslog", &[])).unwrap();
        assert_eq!(
            syslog,
            ["-l", "syslog", "-l", "json-file:/s/containers/abc/ctr.log"]
        );
        let err = log_arguments("abc", &paths, &host("gelf", &[])).unwrap_err();
        assert!(err.to_string().contains("--log-driver gelf"), "{err}");
        let err =
            log_arguments("abc", &paths, &host("json-file", &[("max-size", "lots")])).unwrap_err();
        assert!(err.to_string().contains("max-size=lots"), "{err}");
    }
}
