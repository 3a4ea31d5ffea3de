//! The public API: one container, through the lifecycle of runtime.md.
//!
//! ```text
//! create ─▶ created ─start─▶ running ─(process exits)─▶ stopped ─delete─▶ gone
//! ```
//!
//! Every call derives the status from the live process ([`state`]) instead
//! of trusting what was written earlier.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use nix::unistd::{mkfifo, Pid};
use oci_spec::runtime::{Hook, Process};
use serde_json::value::RawValue;

use crate::cgroups::{self, Cgroup};
// Called only from fail_point! closures, which a normal build drops.
#[cfg_attr(not(feature = "failpoints"), allow(unused_imports))]
use crate::error::failpoint;
use crate::error::{Error, IoContext, Result, SysContext};
use crate::namespaces::Plan;
use crate::process::channel::StartReply;
use crate::process::{self, InitArgs};
use crate::state::{self, State, StateDir, Status};
use crate::{hooks, spec, sys};

/// How long `delete --force` and `kill` wait for a killed init to go.
const KILL_WAIT: Duration = Duration::from_secs(10);

pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    /// The state root (`--root`).
    pub root: PathBuf,
    /// A connected console socket; required when `process.terminal` is set.
    pub console_socket: Option<OwnedFd>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
}

/// What `exec` starts in a container.
pub struct ExecOptions {
    pub process: Process,
    /// A connected console socket; required when `process.terminal` is set.
    pub console_socket: Option<OwnedFd>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// Join a paused container (`--ignore-paused`): the process starts
    /// frozen, and runs once the container is resumed.
    pub ignore_paused: bool,
    /// Existing sub-cgroups to run in (`--cgroup`, runc's
    /// `[<controller>[,...]:]<path>`), below the container's cgroup.
    pub sub_cgroups: Vec<String>,
}

#[derive(Debug)]
pub struct Container {
    dir: StateDir,
    state: State,
    /// What `create` had to warn about (see [`Container::take_warnings`]).
    warnings: Warnings,
}

/// Non-fatal problems that the caller should report as warnings: failed
/// poststart and poststop hooks (runtime-spec says the lifecycle goes on),
/// and settings runc also only warns about (kernel memory limits the kernel
/// ignores, a cgroup that already holds processes).
pub type Warnings = Vec<String>;

impl Container {
    /// `create`: sets the container up and leaves its init blocked until
    /// [`Container::start`]. On failure nothing is left behind: no state
    /// directory, no process, no mount (the mounts lived in the init's mount
    /// namespace, which dies with it).
    pub fn create(options: CreateOptions) -> Result<Container> {
        state::validate_id(&options.id)?;
        let bundle = fs::canonicalize(&options.bundle).map_err(|e| Error::Config {
            path: options.bundle.clone(),
            message: format!("bundle directory: {e}"),
        })?;
        let config = spec::load(&bundle)?;
        let mut options = options;
        options.bundle = bundle;
        Container::create_with_spec(options, config)
    }

    /// `create` with a config the caller already loaded and validated with
    /// [`spec::load`]; `options.bundle` must be the canonical bundle path.
    pub fn create_with_spec(options: CreateOptions, config: spec::Loaded) -> Result<Container> {
        let spec::Loaded { spec, raw } = config;
        state::validate_id(&options.id)?;
        let bundle = options.bundle.clone();
        let rootfs = spec::rootfs_path(&spec, &bundle)?;
        let terminal = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        match (terminal, options.console_socket.is_some()) {
            (true, false) => {
                return Err(Error::field(
                    "process.terminal",
                    "true, but no console socket was given (--console-socket) to receive the pty",
                ))
            }
            (false, true) => {
                return Err(Error::Flag {
                    flag: "--console-socket",
                    message: "given, but process.terminal in config.json is false; drop it or set terminal to true".into(),
                })
            }
            _ => {}
        }
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| Error::field("linux", "missing"))?;
        let plan = Plan::from_spec(linux)?;
        if let Some(process) = spec.process() {
            crate::lsm::check_host_support(
                process.apparmor_profile().as_deref(),
                process.selinux_label().as_deref(),
            )?;
        }

        let dir = StateDir::create(&options.root, &options.id)?;
        let mut container = Container {
            state: State {
                id: options.id.clone(),
                pid: 0,
                init_start_time: 0,
                bundle,
                rootfs,
                created: crate::time::now_rfc3339(),
                owner: String::new(),
                creating: true,
                cgroup: None,
                running_hook: None,
                config: RawValue::from_string(raw).map_err(|e| Error::Config {
                    path: options.bundle.join("config.json"),
                    message: format!("keeping it in the state: {e}"),
                })?,
            },
            dir,
            warnings: Vec::new(),
        };
        match container.set_up(options, &spec, &plan) {
            Ok(()) => Ok(container),
            Err(mut e) => {
                // The init is dead by now (killed and reaped when set_up
                // unwound): its cgroups are empty and can go.
                if let Some(cgroup) = &container.state.cgroup {
                    if matches!(e, Error::Init(_)) && cgroup.oom_killed() {
                        e = oom_killed_init(e, &spec);
                    }
                    let _ = cgroup.destroy();
                }
                let _ = container.dir.remove();
                Err(e)
            }
        }
    }

    fn set_up(&mut self, options: CreateOptions, spec: &spec::Spec, plan: &Plan) -> Result<()> {
        fail::fail_point!("create:after-state-dir", |_| failpoint(
            "create:after-state-dir"
        ));
        let fifo = self.dir.fifo_path();
        mkfifo(&fifo, Mode::from_bits_truncate(0o622))
            .ctx(|| format!("creating {}", fifo.display()))?;
        // Writable by others despite our umask: the init opens it after
        // switching to the container's user, which may map to anyone.
        fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
            .io_ctx(|| format!("chmod {}", fifo.display()))?;
        let linux = spec.linux().as_ref();
        let seccomp = linux.and_then(|l| l.seccomp().as_ref());
        let cgroups_path = linux
            .and_then(|l| l.cgroups_path().clone())
            .unwrap_or_else(|| PathBuf::from(format!("/berth/{}", self.state.id)));
        let resources = cgroups::zeros_as_unset(
            &linux
                .and_then(|l| l.resources().clone())
                .unwrap_or_default(),
        );
        let mut cgroup = Cgroup::resolve(&cgroups_path, cgroups::detect()?)?;
        // Every resource the host cannot honour fails here, before anything
        // is made.
        cgroup.check(&resources)?;
        match cgroup.create() {
            Ok(warnings) => self.warnings.extend(warnings),
            Err(e) => {
                // Only what this create made goes, never a parent it found.
                let _ = cgroup.destroy();
                return Err(e);
            }
        }
        self.state.cgroup = Some(cgroup.clone());
        // Journal: should this process die now, delete --force finds the
        // cgroup it made; and in a file of its own, so that it finds it
        // even if state.json, rewritten at every step, is later damaged.
        self.dir.save_cgroup(&cgroup)?;
        self.dir.save(&self.state)?;
        fail::fail_point!("create:after-cgroup", |_| failpoint("create:after-cgroup"));
        // Without a devices list this still installs the default rules.
        let own_devices = spec_device_paths(linux.and_then(|l| l.devices().as_deref()));
        let warnings = cgroup.apply(&resources, &own_devices)?;
        self.warnings.extend(warnings);
        let seccomp_listener = crate::seccomp::connect_agent(seccomp)?;
        let mut init = process::spawn(InitArgs {
            id: &self.state.id,
            spec,
            bundle: &self.state.bundle,
            rootfs: &self.state.rootfs,
            fifo: &fifo,
            plan,
            console_socket: options.console_socket,
            preserve_fds: options.preserve_fds,
            no_pivot: options.no_pivot,
            no_new_keyring: options.no_new_keyring,
            seccomp,
            seccomp_listener,
            cgroup: Some(&cgroup),
            kernel: &crate::kernel::Linux,
        })?;
        self.state.pid = init.pid.as_raw();
        self.state.init_start_time = state::proc_stat(init.pid)
            .map(|stat| stat.start_time)
            .ok_or_else(|| Error::Init("container init vanished during create".into()))?;
        // Journal: and now the init it started.
        self.dir.save(&self.state)?;
        fail::fail_point!("create:after-clone", |_| failpoint("create:after-clone"));

        let creating = self.state_json(Status::Creating);
        if let Some(all) = spec.hooks() {
            // Journal: each hook as it starts, for delete to end it should
            // this process die while it runs.
            let (dir, state) = (&self.dir, &mut self.state);
            let mut journal = |pid: Pid| journal_hook(dir, state, pid);
            #[allow(deprecated)]
            let prestart = all.prestart().as_deref().unwrap_or_default();
            hooks::run_all_watched("prestart", prestart, creating.as_bytes(), &mut journal)?;
            let create_runtime = all.create_runtime().as_deref().unwrap_or_default();
            hooks::run_all_watched(
                "createRuntime",
                create_runtime,
                creating.as_bytes(),
                &mut journal,
            )?;
            self.state.running_hook = None;
        }
        fail::fail_point!("create:after-hooks", |_| failpoint("create:after-hooks"));

        process::build(&mut init, creating)?;
        fail::fail_point!("create:before-save", |_| failpoint("create:before-save"));
        self.state.creating = false;
        self.dir.save(&self.state)?;
        if let Some(pid_file) = &options.pid_file {
            write_pid_file(pid_file, self.state.pid)?;
        }
        init.release();
        Ok(())
    }

    fn hooks(&self, pick: impl Fn(&oci_spec::runtime::Hooks) -> &Option<Vec<Hook>>) -> Vec<Hook> {
        self.state
            .config_view()
            .hooks
            .and_then(|h| pick(&h).clone())
            .unwrap_or_default()
    }

    fn state_json(&self, status: Status) -> String {
        serde_json::to_string(&self.state.oci(status)).unwrap_or_default()
    }

    pub fn load(root: &Path, id: &str) -> Result<Container> {
        let dir = StateDir::new(root, id)?;
        let state = dir.load()?;
        Ok(Container {
            dir,
            state,
            warnings: Vec::new(),
        })
    }

    /// Warnings from `create` for the caller to print: settings the kernel
    /// ignores, a cgroup shared with processes already there.
    pub fn take_warnings(&mut self) -> Warnings {
        std::mem::take(&mut self.warnings)
    }

    /// Every container under `root`, by id, and the errors of the entries
    /// whose state cannot be read: a damaged state.json must not make a
    /// container that may still run disappear from the list. A directory
    /// without state.json (a create in progress) is skipped.
    pub fn list(root: &Path) -> Result<(Vec<Container>, Vec<Error>)> {
        let entries = match fs::read_dir(root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()))
            }
            Err(e) => {
                return Err(Error::io(
                    format!("reading state root {}", root.display()),
                    e,
                ))
            }
        };
        let mut ids: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        ids.sort();
        let mut containers = Vec::new();
        let mut errors = Vec::new();
        for id in &ids {
            match Container::load(root, id) {
                Ok(container) => containers.push(container),
                Err(e) if !root.join(id).join(state::STATE_FILE).exists() => drop(e),
                Err(e) => errors.push(e),
            }
        }
        Ok((containers, errors))
    }

    pub fn id(&self) -> &str {
        &self.state.id
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.state.pid)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn status(&self) -> Status {
        state::derive_status(&self.dir, &self.state)
    }

    pub fn oci_state(&self) -> state::OciState {
        self.state.oci(self.status())
    }

    fn wrong_status(&self, message: impl Into<String>) -> Error {
        Error::WrongStatus {
            id: self.state.id.clone(),
            message: message.into(),
        }
    }

    /// A pidfd for the init, checked to still be the recorded process: once
    /// the pidfd is open, the pid cannot be reused under us.
    fn open_init(&self) -> Result<OwnedFd> {
        let stopped = || self.wrong_status("container is not running");
        let pidfd = match sys::pidfd_open(self.pid()) {
            Ok(fd) => fd,
            Err(Errno::ESRCH) => return Err(stopped()),
            Err(e) => return Err(Error::sys(format!("pidfd_open({})", self.state.pid), e)),
        };
        if !state::is_same_live_process(self.pid(), self.state.init_start_time) {
            return Err(stopped());
        }
        Ok(pidfd)
    }

    /// `start`: releases the init blocked on the exec fifo, then runs the
    /// poststart hooks.
    pub fn start(&self) -> Result<Warnings> {
        match self.status() {
            Status::Created => {}
            Status::Stopped => {
                return Err(self.wrong_status("cannot start a container that has stopped"))
            }
            status => {
                return Err(self.wrong_status(format!(
                    "cannot start a container in status {status}; expected created"
                )))
            }
        }
        let pidfd = self.open_init()?;
        fail::fail_point!("start:before-release", |_| failpoint(
            "start:before-release"
        ));
        let fifo_path = self.dir.fifo_path();
        let fifo = match nix::fcntl::open(
            &fifo_path,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Err(self.wrong_status("already started")),
            Err(e) => return Err(Error::sys(format!("opening {}", fifo_path.display()), e)),
        };
        // Opening the read end is what releases the init; from now on the
        // container counts as started, whatever happens to us.
        fs::remove_file(&fifo_path).io_ctx(|| format!("removing {}", fifo_path.display()))?;
        fail::fail_point!("start:after-release", |_| failpoint("start:after-release"));
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Err(Errno::EINTR) => continue,
                other => {
                    other.ctx(|| "waiting for the container init".to_string())?;
                    break;
                }
            }
        }
        let fifo_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let reply = if fifo_ready {
            StartReply::read(fifo.as_fd())
        } else {
            StartReply::Silent
        };
        match reply {
            StartReply::Started => {}
            StartReply::Silent => {
                return Err(self.wrong_status("container init exited before it could be started"))
            }
            StartReply::Failed(message) => return Err(Error::Init(message)),
        }

        let running = self.state_json(Status::Running);
        let poststart = self.hooks(|h| h.poststart());
        if poststart.is_empty() {
            return Ok(Vec::new());
        }
        // Journal each hook as create does: a start killed while one runs
        // leaves a running container, and delete ends the hook with it.
        let mut journaled = self.state.clone();
        let mut journal = |pid: Pid| journal_hook(&self.dir, &mut journaled, pid);
        let mut warnings = Vec::new();
        for hook in &poststart {
            let hook = std::slice::from_ref(hook);
            if let Err(e) =
                hooks::run_all_watched("poststart", hook, running.as_bytes(), &mut journal)
            {
                warnings.push(e.to_string());
            }
        }
        if journaled.running_hook.take().is_some() {
            if let Err(e) = self.dir.save(&journaled) {
                warnings.push(e.to_string());
            }
        }
        Ok(warnings)
    }

    /// `kill ID SIGNAL`, through a pidfd so a reused pid is never signalled.
    /// Signal 0 sends nothing: it succeeds while the init lives.
    pub fn kill(&self, signal: i32) -> Result<()> {
        if self.status() == Status::Stopped {
            return Err(self.wrong_status("container is not running"));
        }
        let pidfd = self.open_init()?;
        sys::pidfd_send_signal(pidfd.as_fd(), signal)
            .ctx(|| format!("sending signal {signal} to container {:?}", self.state.id))
    }

    /// `delete [--force]`. A created container is killed, as runc does; a
    /// running one only with `force`.
    pub fn delete(self, force: bool) -> Result<Warnings> {
        match self.status() {
            Status::Stopped => {}
            Status::Created => self.kill_and_wait()?,
            _ if force => self.kill_and_wait()?,
            status => {
                return Err(self.wrong_status(format!(
                    "cannot delete container that is not stopped: {status} (use --force)"
                )))
            }
        }
        fail::fail_point!("delete:after-kill", |_| failpoint("delete:after-kill"));
        self.end_running_hook();
        if let Some(cgroup) = &self.state.cgroup {
            // Anything still there (forked after the kill, or the container
            // was already stopped with stragglers) goes before the rmdir;
            // in a cgroup shared with processes that were there before the
            // container, those are not ours to kill.
            if !cgroup.shared {
                let _ = cgroup.kill_all(libc::SIGKILL);
            }
            let _ = cgroup.thaw();
            cgroup.destroy()?;
        }
        fail::fail_point!("delete:before-remove", |_| failpoint(
            "delete:before-remove"
        ));
        self.dir.remove()?;
        if self.state.creating {
            // A create that never finished: there was never a container for
            // poststop hooks to clean up after.
            return Ok(Vec::new());
        }
        let stopped = self.state_json(Status::Stopped);
        Ok(self
            .hooks(|h| h.poststop())
            .iter()
            .enumerate()
            .filter_map(|(index, hook)| {
                hooks::run("poststop", index, hook, stopped.as_bytes()).err()
            })
            .map(|e| e.to_string())
            .collect())
    }

    /// Kills the hook a dead create or start left running, with its process group
    /// (what it forked), if the recorded pid is still that hook: its start
    /// time is checked first, so a reused pid is never signalled.
    fn end_running_hook(&self) {
        let Some(hook) = self.state.running_hook else {
            return;
        };
        let pid = Pid::from_raw(hook.pid);
        let Ok(pidfd) = sys::pidfd_open(pid) else {
            return;
        };
        if !state::is_same_live_process(pid, hook.start_time) {
            return;
        }
        // The hook leads its own group (hooks::run): its pid, just checked
        // to still be that hook, is the group's id and names no other group
        // while the hook lives.
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
    }

    fn kill_and_wait(&self) -> Result<()> {
        let pidfd = match self.open_init() {
            Ok(fd) => fd,
            Err(Error::WrongStatus { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        match sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => return Err(Error::sys("killing the container init", e)),
        }
        if let Some(cgroup) = &self.state.cgroup {
            // A frozen process cannot act on SIGKILL until it is thawed (a
            // paused container), and without its own PID namespace the
            // others outlive the init.
            if !cgroup.shared {
                let _ = cgroup.kill_all(libc::SIGKILL);
            }
            let _ = cgroup.thaw();
        }
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let timeout =
            PollTimeout::try_from(KILL_WAIT.as_millis() as i32).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(0) => Err(self.wrong_status(format!(
                "init {} did not die within {} s of SIGKILL",
                self.state.pid,
                KILL_WAIT.as_secs()
            ))),
            Ok(_) => Ok(()),
            Err(e) => Err(Error::sys("waiting for the container init to die", e)),
        }
    }

    /// Like [`Container::wait`], without blocking: None while it runs.
    pub fn try_wait(&self) -> Result<Option<i32>> {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        match waitpid(self.pid(), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Ok(Some(code)),
            Ok(WaitStatus::Signaled(_, signal, _)) => Ok(Some(128 + signal as i32)),
            Ok(_) | Err(Errno::EINTR) => Ok(None),
            Err(e) => Err(Error::sys("waiting for the container", e)),
        }
    }

    fn cgroup(&self) -> Result<&Cgroup> {
        self.state
            .cgroup
            .as_ref()
            .ok_or_else(|| self.wrong_status("has no cgroup (created by an older runtime?)"))
    }

    fn require_live(&self) -> Result<Status> {
        match self.status() {
            Status::Stopped => Err(self.wrong_status("container is not running")),
            status => Ok(status),
        }
    }

    /// `pause`: freezes every process of the container; a created one too
    /// (as runc), which `resume` takes back to created.
    pub fn pause(&self) -> Result<()> {
        match self.require_live()? {
            Status::Running | Status::Created => self.cgroup()?.freeze(),
            status => Err(self.wrong_status(format!("cannot pause a {status} container"))),
        }
    }

    /// `resume`: thaws a paused container.
    pub fn resume(&self) -> Result<()> {
        match self.require_live()? {
            Status::Paused => self.cgroup()?.thaw(),
            status => Err(self.wrong_status(format!("cannot resume a {status} container"))),
        }
    }

    /// Every process of the container (its cgroup's members); none once it
    /// has stopped, as runc's `ps` shows it.
    pub fn processes(&self) -> Result<Vec<Pid>> {
        if self.status() == Status::Stopped {
            return Ok(Vec::new());
        }
        self.cgroup()?.pids()
    }

    /// `kill --all`: the signal to every process of the container.
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        self.require_live()?;
        self.cgroup()?.kill_all(signal)
    }

    /// Resource usage of a live container (a stopped one has none to
    /// report, as runc says).
    pub fn stats(&self) -> Result<cgroups::Stats> {
        self.require_live()?;
        self.cgroup()?.stats()
    }

    /// A watcher of the container's OOM events that also reports the end
    /// of its init (`events` must not outlive the container).
    pub fn events(&self) -> Result<cgroups::OomWatcher> {
        self.require_live()?;
        let mut watcher = self.cgroup()?.oom_events()?;
        watcher.end_with(self.open_init()?);
        Ok(watcher)
    }

    /// `update`: new resource limits for a live container; returns warnings
    /// for settings the kernel ignores.
    pub fn update(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<Warnings> {
        self.require_live()?;
        let devices = self.state.config_view().linux.and_then(|l| l.devices);
        let own_devices = spec_device_paths(devices.as_deref());
        self.cgroup()?
            .update(&cgroups::zeros_as_unset(resources), &own_devices)
    }

    /// The container's own process from config.json: `exec` with a command
    /// line starts from it (env, user, capabilities...), as runc does.
    pub fn process_template(&self) -> Result<Process> {
        self.state
            .config_view()
            .process
            .ok_or_else(|| self.wrong_status("its config has no process section"))
    }

    /// `exec`: starts `options.process` inside the container and returns its
    /// pid once it runs the program. The caller is its parent and reaps it.
    pub fn exec(&self, options: ExecOptions) -> Result<Pid> {
        // The process comes from the command line or a process file, not
        // from config.json: say so in field errors.
        self.exec_process(options).map_err(|e| match e {
            Error::InvalidField { field, message } => Error::ExecField { field, message },
            // The same from inside the exec'd process, which reports its
            // field errors as text.
            Error::Init(message) => match message.strip_prefix(crate::error::CONFIG_PREFIX) {
                Some(rest) => Error::Init(format!("exec: {rest}")),
                None => Error::Init(message),
            },
            other => other,
        })
    }

    fn exec_process(&self, options: ExecOptions) -> Result<Pid> {
        match self.status() {
            Status::Running | Status::Created => {}
            Status::Paused if options.ignore_paused => {}
            Status::Paused => {
                return Err(self.wrong_status(
                    "cannot exec in a paused container (use --ignore-paused to override)",
                ))
            }
            status => return Err(self.wrong_status(format!("cannot exec in a {status} container"))),
        }
        let process = &options.process;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::field(
                "process.args",
                "empty; expected the program to run",
            ));
        }
        if !process.cwd().is_absolute() {
            return Err(Error::field(
                "process.cwd",
                format!("{:?} is relative; expected an absolute path", process.cwd()),
            ));
        }
        if process.terminal().unwrap_or(false) != options.console_socket.is_some() {
            return Err(Error::field(
                "process.terminal",
                "a terminal needs a console socket (--console-socket) and a console socket needs a terminal (--tty)",
            ));
        }
        crate::lsm::check_host_support(
            process.apparmor_profile().as_deref(),
            process.selinux_label().as_deref(),
        )?;
        // The container's seccomp profile binds its exec'd processes too.
        let linux = self.state.config_view().linux.unwrap_or_default();
        let seccomp = linux.seccomp;
        let seccomp_listener = crate::seccomp::connect_agent(seccomp.as_ref())?;
        let sub_cgroup = match (&self.state.cgroup, options.sub_cgroups.is_empty()) {
            (_, true) => None,
            (Some(cgroup), false) => Some(cgroup.sub_cgroup(&options.sub_cgroups)?),
            (None, false) => {
                return Err(Error::Flag {
                    flag: "--cgroup",
                    message: format!("container {:?} has no cgroup", self.state.id),
                })
            }
        };
        // Held across the spawn: the init's pid cannot be reused meanwhile.
        let _pinned = self.open_init()?;
        let pid = process::exec::spawn(process::exec::ExecArgs {
            init_pid: self.pid(),
            process,
            console_socket: options.console_socket,
            preserve_fds: options.preserve_fds,
            seccomp: seccomp.as_ref(),
            seccomp_listener,
            state: self.state_json(Status::Running),
            cgroup: sub_cgroup.as_ref().or(self.state.cgroup.as_ref()),
            personality: linux.personality.as_ref(),
            kernel: &crate::kernel::Linux,
        })?;
        if let Some(pid_file) = &options.pid_file {
            write_pid_file(pid_file, pid.as_raw())?;
        }
        Ok(pid)
    }

    /// Waits for the init to exit and returns its status the way a shell
    /// reports it (128+N for signal N). Only the process that created the
    /// container (and so is its parent) may call this.
    pub fn wait(&self) -> Result<i32> {
        use nix::sys::wait::{waitpid, WaitStatus};
        loop {
            match waitpid(self.pid(), None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("waiting for the container", e)),
            }
        }
    }
}

/// Records the hook about to run (pid and start time) in state.json before
/// it may run: should this runtime die while it runs, delete ends it
/// ([`Container::end_running_hook`]).
fn journal_hook(dir: &StateDir, state: &mut State, pid: Pid) -> Result<()> {
    state.running_hook = state::proc_stat(pid).map(|stat| state::HookProcess {
        pid: pid.as_raw(),
        start_time: stat.start_time,
    });
    dir.save(state)
}

/// The paths of the spec's `linux.devices`: their default cgroup rules give
/// way to the spec's own.
fn spec_device_paths(devices: Option<&[oci_spec::runtime::LinuxDevice]>) -> Vec<&Path> {
    devices
        .unwrap_or_default()
        .iter()
        .map(|d| d.path().as_path())
        .collect()
}

/// An init the OOM killer took during create: the memory limit, not the
/// runtime, is the thing to change.
fn oom_killed_init(e: Error, spec: &spec::Spec) -> Error {
    let limit = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit());
    let limit = limit.map_or_else(|| "the memory limit".to_string(), |l| format!("{l} bytes"));
    Error::Init(format!(
        "{e}: the container's init was OOM-killed: linux.resources.memory.limit ({limit}) is too low"
    ))
}

/// `--pid-file`: its errors name the flag, not the container's state.
fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    state::write_atomic(path, pid.to_string().as_bytes(), 0o644).map_err(|e| Error::Flag {
        flag: "--pid-file",
        message: e.to_string(),
    })
}
