//! One shim's life: checks the command line, forks away from the caller, launches the
//! container, watches it (restarting it as the policy says), records how it ended and
//! runs the exit command.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::attach::AttachServer;
use crate::cli::Options;
use crate::ctl::{ControlFifo, Kind};
use crate::exit::{exit_code, run_exit_command, write_atomic, ExitFiles};
use crate::launch::{launch, run_command, Passthrough};
use crate::logs::{LogConfig, Logs};
use crate::monitor::Monitor;
use crate::pipes::CallerPipe;
use crate::reaper::Reaper;
use crate::restart::{RestartPolicy, Restarts};
use crate::runtime::RuntimeCall;
use crate::sys::{fork_daemon, Forked};
use crate::{diag, oom};

/// How long a runtime command of ours (start, delete) may take.
const RUNTIME_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long attach clients get to take the last output before the sockets close.
const ATTACH_PATIENCE: Duration = Duration::from_secs(2);

/// A command line that cannot work; reported before the fork, on stderr, exit 1.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("container ID not provided: use --cid")]
    NoCid,
    #[error("container UUID not provided: use --cuuid")]
    NoCuuid,
    #[error("runtime path not provided: use --runtime")]
    NoRuntime,
    #[error("runtime {0}: not an executable file")]
    RuntimeNotExecutable(PathBuf),
    #[error("exec process spec not provided: use --exec-process-spec with --exec")]
    NoExecSpec,
    #[error("--exec-attach needs --exec")]
    AttachWithoutExec,
    #[error("--exec and --restore exclude each other")]
    ExecAndRestore,
    #[error("--restart-policy {0:?} applies to containers, not to exec sessions")]
    RestartForExec(String),
    #[error("--sdnotify-socket is not supported by berth-shim")]
    SdNotify,
    #[error("working directory: {0}")]
    Cwd(io::Error),
    #[error(transparent)]
    Logs(#[from] crate::logs::LogError),
    #[error(transparent)]
    Pipe(#[from] crate::pipes::PipeError),
    #[error("the caller's stdio, for the passthrough log driver: {0}")]
    Stdio(io::Error),
    #[error("fork: {0}")]
    Fork(nix::Error),
    #[error("conmon pid file {path}: {source}")]
    PidFile { path: PathBuf, source: io::Error },
}

fn is_executable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok() && path.is_file()
}

/// Runs the shim. Returns the process's exit status: in the caller's process 0 once the
/// shim is forked away, in the shim the container's exit code.
pub fn run(options: Options) -> Result<i32, UsageError> {
    let cid = options.cid.clone().ok_or(UsageError::NoCid)?;
    if options.cuuid.is_none() && !options.exec {
        return Err(UsageError::NoCuuid);
    }
    let runtime = options.runtime.clone().ok_or(UsageError::NoRuntime)?;
    if !is_executable(&runtime) {
        return Err(UsageError::RuntimeNotExecutable(runtime));
    }
    if options.exec && options.restore.is_some() {
        return Err(UsageError::ExecAndRestore);
    }
    if options.exec_attach && !options.exec {
        return Err(UsageError::AttachWithoutExec);
    }
    let exec_spec = match (options.exec, &options.exec_process_spec) {
        (true, None) => return Err(UsageError::NoExecSpec),
        (true, Some(spec)) => Some(spec.clone()),
        (false, _) => None,
    };
    if options.exec && options.restart_policy != RestartPolicy::No {
        return Err(UsageError::RestartForExec(format!(
            "{:?}",
            options.restart_policy
        )));
    }
    if options.sdnotify_socket.is_some() {
        return Err(UsageError::SdNotify);
    }
    let cwd = std::env::current_dir().map_err(UsageError::Cwd)?;
    let bundle = options.bundle.clone().unwrap_or_else(|| cwd.clone());
    let pid_file = options
        .container_pidfile
        .clone()
        .unwrap_or_else(|| cwd.join(format!("pidfile-{cid}")));
    let log_config = LogConfig {
        targets: options.log_path.clone(),
        size_max: options
            .log_size_max
            .and_then(|n| u64::try_from(n).ok())
            .filter(|&n| n > 0),
        max_files: options.log_max_files,
        tag: options.log_tag.clone(),
        cid: cid.clone(),
        name: options.name.clone(),
    };
    let logs = Logs::open(&log_config)?;
    let call = RuntimeCall {
        runtime,
        global_args: options.runtime_args.clone(),
        command_opts: options.runtime_opts.clone(),
        cid: cid.clone(),
        bundle: bundle.clone(),
        pid_file,
        systemd_cgroup: options.systemd_cgroup,
        no_pivot: options.no_pivot,
        no_new_keyring: options.no_new_keyring,
        exec_spec,
        terminal: options.terminal,
        restore: options.restore.clone(),
    };

    let mut start_pipe = CallerPipe::from_env("_OCI_STARTPIPE")?;
    if let Some(pipe) = start_pipe.as_mut() {
        // The caller moves us into our cgroup meanwhile: nothing may start before it says so.
        pipe.wait()?;
    }
    let sync_pipe = CallerPipe::from_env("_OCI_SYNCPIPE")?;
    let attach_pipe = if options.exec_attach {
        CallerPipe::from_env("_OCI_ATTACHPIPE")?
    } else {
        None
    };
    let passthrough = if logs.passthrough() {
        Some(keep_caller_stdio().map_err(UsageError::Stdio)?)
    } else {
        None
    };

    match fork_daemon().map_err(UsageError::Fork)? {
        Forked::Parent(child) => {
            if let Some(path) = &options.conmon_pidfile {
                write_atomic(path, child.to_string().as_bytes()).map_err(|source| {
                    UsageError::PidFile {
                        path: path.clone(),
                        source,
                    }
                })?;
            }
            return Ok(0);
        }
        Forked::Child => {}
    }

    detach_from_caller();
    diag::init(options.syslog, &cid);
    let shim = Shim {
        options,
        call,
        bundle,
        passthrough,
        sync_pipe,
        start_pipe,
        attach_pipe,
    };
    Ok(shim.serve(logs))
}

/// The caller's stdin/stdout/stderr, duplicated before they are replaced by /dev/null.
fn keep_caller_stdio() -> io::Result<Passthrough> {
    let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned();
    Ok(Passthrough {
        stdin: dup(io::stdin().as_fd())?,
        stdout: dup(io::stdout().as_fd())?,
        stderr: dup(io::stderr().as_fd())?,
    })
}

/// In the forked shim: no more of the caller's terminal or pipes, a session of its own,
/// and the subreaper bit that makes the container's orphans its children.
fn detach_from_caller() {
    if let Ok(null) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    let _ = nix::unistd::setsid();
    let _ = nix::sys::prctl::set_child_subreaper(true);
    // As conmon: the monitor is the last thing the OOM killer should pick.
    let _ = fs::write("/proc/self/oom_score_adj", "-999");
}

struct Shim {
    options: Options,
    call: RuntimeCall,
    bundle: PathBuf,
    passthrough: Option<Passthrough>,
    sync_pipe: Option<CallerPipe>,
    start_pipe: Option<CallerPipe>,
    attach_pipe: Option<CallerPipe>,
}

impl Shim {
    fn serve(mut self, logs: Logs) -> i32 {
        let reaper = match Reaper::new() {
            Ok(r) => r,
            Err(e) => return self.give_up(&format!("signalfd: {e}")),
        };
        let cuuid = self
            .options
            .cuuid
            .clone()
            .unwrap_or_else(|| self.call.cid.clone());
        let attach = match AttachServer::bind(
            &self.bundle,
            self.options.socket_dir_path.as_deref(),
            &cuuid,
            self.options.full_attach,
        ) {
            Ok(a) => Some(a),
            Err(e) => return self.give_up(&e.to_string()),
        };
        let ctl = ControlFifo::create(&self.bundle, Kind::Ctl);
        let winsz = ControlFifo::create(&self.bundle, Kind::Winsz);
        let (ctl, winsz) = match (ctl, winsz) {
            (Ok(c), Ok(w)) => (Some(c), Some(w)),
            (Err(e), _) | (_, Err(e)) => return self.give_up(&e.to_string()),
        };
        let mut attach = attach;
        if let Some(pipe) = self.attach_pipe.as_mut() {
            pipe.send(0, None);
            // The attach client connects, then says go: no output is lost before it.
            if let Some(start) = self.start_pipe.as_mut() {
                let _ = start.wait();
            }
            // Taken in now, not at the first poll: a short exec's output and exit can
            // be read first, and the client would get only the end of the session.
            if let Some(server) = attach.as_mut() {
                server.accept();
            }
        }
        let mut monitor = Monitor {
            logs,
            attach,
            ctl,
            winsz,
            reaper,
            stdin_open: self.options.stdin,
            leave_stdin_open: self.options.leave_stdin_open,
            timeout: self
                .options
                .timeout
                .filter(|&t| t > 0)
                .map(Duration::from_secs),
            stopped_by_user: false,
        };

        let (pid, io) = match launch(
            &self.call,
            self.options.stdin,
            self.passthrough.as_ref(),
            &mut monitor.reaper,
        ) {
            Ok(ok) => ok,
            Err(e) => {
                let data = e.exec_status.map_or(-1, |s| -i64::from(s));
                if let Some(p) = self.sync_pipe.as_mut() {
                    p.send(data, Some(&e.message));
                }
                diag::warn(&e.message);
                return 1;
            }
        };
        if let Some(p) = self.sync_pipe.as_mut() {
            p.send(i64::from(pid.as_raw()), None);
        }

        let persist = self.options.persist_dir.clone();
        let record_dir = persist.as_deref().unwrap_or(&self.bundle);
        let count_file = record_dir.join("restart-count");
        // Present from the old run's delete until the new run's start: a container the
        // runtime shows as created in that window is ours to start, not a start that a
        // crashed caller left half-done.
        let restarting_file = record_dir.join("restarting");
        let mut restarts = Restarts::default();
        let mut ended = monitor.watch(pid, io);
        loop {
            if ended.oom {
                let mut dirs: Vec<&Path> = vec![&self.bundle];
                dirs.extend(persist.as_deref());
                oom::record(&dirs);
            }
            let code = exit_code(ended.status).unwrap_or(-1);
            let delay = restarts.next(
                self.options.restart_policy,
                code,
                ended.up,
                ended.stopped_by_user || ended.timed_out,
            );
            let Some(delay) = delay else { break };
            let _ = write_atomic(&count_file, restarts.count.to_string().as_bytes());
            let _ = write_atomic(&restarting_file, b"");
            let _ = run_command(&self.call, &["delete", "--force"], RUNTIME_COMMAND_TIMEOUT);
            monitor.idle(delay);
            if monitor.stopped_by_user {
                let _ = fs::remove_file(&restarting_file);
                break;
            }
            let relaunched = launch(
                &self.call,
                self.options.stdin,
                self.passthrough.as_ref(),
                &mut monitor.reaper,
            )
            .map_err(|e| e.message)
            .and_then(|(pid, io)| {
                run_command(&self.call, &["start"], RUNTIME_COMMAND_TIMEOUT).map(|()| (pid, io))
            });
            let _ = fs::remove_file(&restarting_file);
            match relaunched {
                Ok((pid, io)) => ended = monitor.watch(pid, io),
                Err(message) => {
                    diag::warn(&format!("restart {}: {message}", restarts.count));
                    break;
                }
            }
        }

        let code = if ended.timed_out {
            -1
        } else {
            exit_code(ended.status).unwrap_or(-1)
        };
        monitor.logs.finish();
        let files = ExitFiles {
            exit_file: self
                .options
                .exit_dir
                .as_ref()
                .map(|d| d.join(&self.call.cid)),
            persist_file: persist.as_ref().map(|d| d.join("exit")),
        };
        for (path, e) in files.write(code) {
            diag::warn(&format!("exit file {}: {e}", path.display()));
        }
        if self.call.exec_spec.is_some() {
            if let Some(p) = self.sync_pipe.as_mut() {
                p.send(
                    i64::from(code),
                    ended.timed_out.then_some("command timed out"),
                );
            }
        }
        if let Some(a) = monitor.attach.as_mut() {
            a.finish(ATTACH_PATIENCE);
        }
        monitor.logs.sync();
        files.sync();
        drop(monitor);
        self.sync_pipe = None;
        if let Some(program) = &self.options.exit_command {
            let delay = Duration::from_secs(self.options.exit_delay.unwrap_or(0));
            match run_exit_command(program, &self.options.exit_command_args, delay) {
                Ok(0) => {}
                Ok(status) => return status,
                Err(e) => diag::warn(&format!("exit command {}: {e}", program.display())),
            }
        }
        code.max(0)
    }

    /// Start-up failed after the fork: the caller learns it on the sync pipe.
    fn give_up(&mut self, message: &str) -> i32 {
        if let Some(p) = self.sync_pipe.as_mut() {
            p.send(-1, Some(message));
        }
        diag::warn(message);
        1
    }
}
