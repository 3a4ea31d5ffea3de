//! A container's life: create (record, directory, rootfs, config.json), start (a
//! shim that runs the runtime's `create`, then the runtime's `start`), stop, kill,
//! wait, pause, remove. Each step that changes a container holds its lock, so two
//! `berth` processes never interleave on one container.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use nix::fcntl::{Flock, FlockArg};

use super::config::{Config, HostConfig};
use super::events::signal_number;
use super::pidfd::ExitWaker;
use super::runtime::{resolve_runtime, Runtime, RuntimeError};
use super::shim::{spawn_shim, ShimError, ShimLaunch};
use super::spec::{SpecError, SpecInput};
use super::state::{read_state, State, Status};
use super::{etc_files, image_config, names, spec, ContainerPaths};
use crate::image::rootfs::{mount_rootfs, remove_rootfs, RootfsError};
use crate::store::containers::{ContainerRow, Lookup};
use crate::store::{Store, StoreError};
use crate::time::rfc3339_nanos;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("multiple containers match the prefix {0}: use more of the id")]
    Ambiguous(String),
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("{}", remove_refusal(.id, .status))]
    RemoveRunning { id: String, status: &'static str },
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("Container {0} is already paused")]
    AlreadyPaused(String),
    #[error("Container {0} is not paused")]
    NotPaused(String),
    #[error("Container {0} is paused, unpause the container before stopping or killing")]
    Paused(String),
    #[error("container {id}: {what}: {problem}")]
    Damaged {
        id: String,
        what: String,
        problem: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Shim(#[from] ShimError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Attach(#[from] super::attach::AttachError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Network(#[from] crate::network::networks::NetworkError),
    #[error("cannot join network of a non running container: {0}")]
    JoinNotRunning(String),
    #[error(
        "container {name} is in network mode {mode}: it cannot be connected to other networks"
    )]
    NetworkMode { name: String, mode: String },
}

/// dockerd's refusal to remove a container that is up without `-f` (API 1.41's words).
fn remove_refusal(id: &str, status: &str) -> String {
    let advice = if status == "paused" {
        "Unpause and then stop"
    } else {
        "Stop"
    };
    format!(
        "You cannot remove a {status} container {id}. {advice} the container before attempting removal or force remove"
    )
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ContainerError + '_ {
    move |source| ContainerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where tests kill berth mid-command (debug builds only, `BERTH_CRASH_AT=STEP`), to
/// check that the next command repairs what is left.
fn crash_point(step: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("BERTH_CRASH_AT").is_ok_and(|at| at == step) {
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = step;
}

/// The engine's containers on one store.
pub struct Containers {
    pub store: Store,
    /// Where state that a reboot clears lives: the runtime's root, exit codes.
    pub runroot: PathBuf,
    /// `berth --root R --runroot RR`: how the shim calls back when a container ends.
    pub berth: Vec<String>,
}

/// A container as the store and its files describe it.
#[derive(Debug, Clone)]
pub struct Container {
    pub row: ContainerRow,
    pub config: Config,
    pub host: HostConfig,
    pub paths: ContainerPaths,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.row.id[..12.min(self.row.id.len())]
    }

    /// The container's cgroup, as its config.json gives it to the runtime.
    pub fn cgroup_path(&self) -> Result<String, ContainerError> {
        let path = self.paths.config();
        let damaged = |problem: String| ContainerError::Damaged {
            id: self.row.id.clone(),
            what: path.display().to_string(),
            problem,
        };
        let bytes = fs::read(&path).map_err(|e| damaged(e.to_string()))?;
        let spec: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        spec.pointer("/linux/cgroupsPath")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| damaged("no linux.cgroupsPath".to_string()))
    }

    pub fn state(&self) -> State {
        read_state(&self.row, &self.paths)
    }

    /// Bytes of the files in the container's writable layer (Docker's `SizeRw`).
    pub fn size_rw(&self) -> u64 {
        let mut total = 0;
        let mut pending = vec![self.paths.upper()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                match entry.metadata() {
                    Ok(m) if m.is_dir() => pending.push(entry.path()),
                    Ok(m) => total += m.len(),
                    Err(_) => {}
                }
            }
        }
        total
    }
}

/// What `create` is asked for.
pub struct CreateRequest {
    pub name: Option<String>,
    /// The image as the user named it, already resolved to `image_id`.
    pub image_name: String,
    pub image_id: String,
    pub config: Config,
    pub host: HostConfig,
    /// Aliases and an address on the container's network.
    pub endpoint: super::networking::EndpointRequest,
}

/// Holds a container's lock; dropping it releases the lock.
pub(super) struct Locked(#[allow(dead_code)] Flock<File>);

impl Containers {
    pub fn new(store: Store, runroot: PathBuf, berth: Vec<String>) -> Containers {
        Containers {
            store,
            runroot,
            berth,
        }
    }

    pub fn paths(&self, id: &str) -> ContainerPaths {
        ContainerPaths::new(self.store.root(), id)
            .with_runtime_root(&self.runroot.join("runtime"))
            .with_netns_root(&self.runroot.join("netns"))
    }

    pub(super) fn exit_dir(&self) -> PathBuf {
        self.runroot.join("exits")
    }

    pub(super) fn locks_dir(&self) -> PathBuf {
        self.runroot.join("locks")
    }

    pub(super) fn lock(&self, id: &str) -> Result<Locked, ContainerError> {
        let dir = self.locks_dir();
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let path = dir.join(id);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map(Locked)
            .map_err(|(_, errno)| io_error(&path)(errno.into()))
    }

    /// The runtime a container runs under, with berth's state root for it.
    pub fn runtime(&self, host: &HostConfig) -> Result<Runtime, ContainerError> {
        Ok(Runtime {
            bin: resolve_runtime(&host.runtime)?,
            root: self.runroot.join("runtime"),
        })
    }

    fn load(&self, row: ContainerRow) -> Result<Container, ContainerError> {
        let damaged = |what: &str, e: serde_json::Error| ContainerError::Damaged {
            id: row.id.clone(),
            what: what.to_string(),
            problem: e.to_string(),
        };
        let config = serde_json::from_str(&row.config).map_err(|e| damaged("Config", e))?;
        let host = serde_json::from_str(&row.host_config).map_err(|e| damaged("HostConfig", e))?;
        let paths = self.paths(&row.id);
        Ok(Container {
            row,
            config,
            host,
            paths,
        })
    }

    /// A container by id, unique id prefix or name.
    pub fn find(&self, reference: &str) -> Result<Container, ContainerError> {
        match self.store.find_container(reference)? {
            Lookup::Found(row) => self.load(*row),
            Lookup::NotFound => Err(ContainerError::NotFound(reference.to_string())),
            Lookup::Ambiguous => Err(ContainerError::Ambiguous(reference.to_string())),
        }
    }

    /// Every container, newest first.
    pub fn list(&self) -> Result<Vec<Container>, ContainerError> {
        self.store
            .containers()?
            .into_iter()
            .filter(|row| row.complete)
            .map(|row| self.load(row))
            .collect()
    }

    /// Records a container, makes its directory, mounts its rootfs and writes its
    /// config.json. Nothing runs yet. On failure nothing is left.
    pub fn create(&mut self, request: CreateRequest) -> Result<Container, ContainerError> {
        let name = match &request.name {
            Some(name) if !names::valid_name(name) => {
                return Err(ContainerError::InvalidName(name.clone()))
            }
            Some(name) => name.trim_start_matches('/').to_string(),
            None => String::new(),
        };
        let id = names::new_id().map_err(io_error(Path::new("/dev/urandom")))?;
        let _lock = self.lock(&id)?;
        let mut row = ContainerRow {
            id: id.clone(),
            name,
            image_id: request.image_id.clone(),
            image_name: request.image_name.clone(),
            created: rfc3339_nanos(SystemTime::now()),
            config: String::new(),
            host_config: String::new(),
            path: String::new(),
            args: "[]".to_string(),
            started_at: String::new(),
            complete: false,
        };
        let mut config = request.config;
        config.image = request.image_name.clone();
        if config.hostname.is_empty() {
            config.hostname = id[..12].to_string();
        }
        let image_config = self.image_config(&request.image_id)?;
        let config = image_config::merge(&image_config, config)?;
        let mut process: Vec<String> = config.entrypoint.clone().unwrap_or_default();
        process.extend(config.cmd.clone().unwrap_or_default());
        row.path = process.first().cloned().unwrap_or_default();
        row.args = serde_json::to_string(&process.get(1..).unwrap_or_default())
            .unwrap_or_else(|_| "[]".to_string());
        row.config = serde_json::to_string(&config).unwrap_or_default();
        row.host_config = serde_json::to_string(&request.host).unwrap_or_default();
        self.insert_named(&mut row)?;
        crash_point("row-inserted");
        let paths = self.paths(&id);
        let container = Container {
            row,
            config,
            host: request.host,
            paths,
        };
        let made = self
            .connect_network(&container, &request.endpoint)
            .and_then(|()| self.make_bundle(&container));
        match made {
            Ok(()) => {
                self.store.complete_container(&id)?;
                let mut container = container;
                container.row.complete = true;
                self.record(&container, "create", &[]);
                Ok(container)
            }
            Err(e) => {
                let _ = remove_rootfs(&container.paths.dir);
                let _ = self.forget_network(&id);
                let _ = self.store.remove_container(&id);
                Err(e)
            }
        }
    }

    fn image_config(&self, image_id: &str) -> Result<serde_json::Value, ContainerError> {
        let digest = crate::image::reference::Digest::parse(image_id).map_err(|e| {
            ContainerError::Damaged {
                id: image_id.to_string(),
                what: "image id".to_string(),
                problem: format!("{e:?}"),
            }
        })?;
        let path = self.store.blobs.path(&digest);
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| ContainerError::Damaged {
            id: image_id.to_string(),
            what: format!("image config {}", path.display()),
            problem: e.to_string(),
        })
    }

    /// Inserts the row under its name, or a generated one.
    fn insert_named(&mut self, row: &mut ContainerRow) -> Result<(), ContainerError> {
        if !row.name.is_empty() {
            if self.store.insert_container(row)? {
                return Ok(());
            }
            let holder = match self.store.find_container(&row.name)? {
                Lookup::Found(other) => other.id,
                _ => String::new(),
            };
            return Err(ContainerError::NameInUse {
                name: row.name.clone(),
                id: holder,
            });
        }
        for attempt in 0..16 {
            row.name =
                names::generated_name(attempt).map_err(io_error(Path::new("/dev/urandom")))?;
            if self.store.insert_container(row)? {
                return Ok(());
            }
        }
        Err(ContainerError::NameInUse {
            name: row.name.clone(),
            id: String::new(),
        })
    }

    /// Mounts the container's rootfs in its directory: volatile for a `--rm` one (see
    /// [`mount_rootfs`]).
    pub(super) fn mount_rootfs_of(&self, container: &Container) -> Result<(), RootfsError> {
        let paths = &container.paths;
        mount_rootfs(
            &self.store,
            &container.row.image_id,
            &paths.dir,
            container.host.auto_remove,
        )
        .map(drop)
    }

    fn make_bundle(&self, container: &Container) -> Result<(), ContainerError> {
        let paths = &container.paths;
        fs::create_dir_all(&paths.dir).map_err(io_error(&paths.dir))?;
        self.mount_rootfs_of(container)?;
        crash_point("rootfs-mounted");
        self.write_config(container)?;
        crash_point("config-written");
        // Written unsynced, and synced here before the row says the container is
        // complete. Not for a `--rm` container: no crash leaves it to start again.
        if container.host.auto_remove {
            return Ok(());
        }
        let written = [
            paths.hosts(),
            paths.hostname(),
            paths.resolv_conf(),
            paths.config(),
            paths.dir.clone(),
        ];
        for path in &written {
            File::open(path)
                .and_then(|file| file.sync_all())
                .map_err(io_error(path))?;
        }
        Ok(())
    }

    fn write_config(&self, container: &Container) -> Result<(), ContainerError> {
        let paths = &container.paths;
        let mut host = container.host.clone();
        if host.cgroup_parent.is_empty() {
            // Docker's HostConfig.CgroupParent stays empty: the default is the store's.
            host.cgroup_parent = spec::default_cgroup_parent(self.store.root());
        }
        let input = SpecInput {
            id: &container.row.id,
            config: &container.config,
            host: &host,
            paths,
        };
        etc_files::write_etc_files(&input)?;
        let spec = spec::generate(&input)?;
        let json = serde_json::to_vec_pretty(&spec).map_err(|e| ContainerError::Damaged {
            id: container.row.id.clone(),
            what: "config.json".to_string(),
            problem: e.to_string(),
        })?;
        let target = paths.config();
        let temp = paths.dir.join("config.json.tmp");
        let mut file = File::create(&temp).map_err(io_error(&temp))?;
        file.write_all(&json).map_err(io_error(&temp))?;
        fs::rename(&temp, &target).map_err(io_error(&target))
    }

    /// Starts a created or exited container. `before_start` runs once the container
    /// is created but not started: an attach made there misses no output.
    pub fn start(
        &mut self,
        container: &Container,
        before_start: &mut dyn FnMut(&Container) -> Result<(), ContainerError>,
    ) -> Result<(), ContainerError> {
        let _lock = self.lock(&container.row.id)?;
        let state = container.state();
        if state.status.is_up() {
            return Ok(());
        }
        let id = &container.row.id;
        let paths = &container.paths;
        let runtime = self.runtime(&container.host)?;
        // What the last run left: its exit code, its runtime state, its mount.
        let exit_record = self.exit_dir().join(id);
        let died = paths.persist().join("die-recorded");
        for stale in [paths.exit_file(), paths.oom_file(), exit_record, died] {
            match fs::remove_file(&stale) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&stale)(e)),
            }
        }
        // runc, crun and berth-runtime keep a container's state in `<--root>/<id>`:
        // with none there (a first start), there is nothing to delete, and no process
        // to spend on it.
        if paths
            .runtime_state
            .as_ref()
            .is_none_or(|state| state.exists())
        {
            runtime.delete(id)?;
        }
        if !is_mounted(&paths.rootfs(), &paths.dir) {
            self.mount_rootfs_of(container)?;
        }
        self.network_up(container)?;
        crash_point("network-up");
        let shim = match super::runtime::find_binary("berth-shim") {
            Ok(shim) => shim,
            Err(e) => {
                let _ = self.network_down(container);
                return Err(e.into());
            }
        };
        let mut exit_command = self.berth.clone();
        exit_command.extend(["container".into(), "cleanup".into(), id.clone()]);
        let exit_dir = self.exit_dir();
        let spawned = spawn_shim(&ShimLaunch {
            shim: &shim,
            id,
            name: &container.row.name,
            paths,
            runtime: &runtime,
            config: &container.config,
            host: &container.host,
            exit_dir: &exit_dir,
            exit_command: &exit_command,
        });
        if let Err(e) = spawned {
            // The runtime's create failed: no exit command will run for this start.
            let _ = self.network_down(container);
            return Err(e.into());
        }
        crash_point("shim-started");
        let started = before_start(container).and_then(|()| Ok(runtime.start(id)?));
        crash_point("runtime-started");
        if let Err(e) = started {
            let _ = runtime.kill(id, "KILL", true);
            return Err(e);
        }
        self.store
            .set_container_started(id, &rfc3339_nanos(SystemTime::now()))?;
        self.record(container, "start", &[]);
        Ok(())
    }

    /// Stops the container (see [`Containers::stop`]) and starts it again.
    pub fn restart(
        &mut self,
        container: &Container,
        timeout: Option<Duration>,
        before_start: &mut dyn FnMut(&Container) -> Result<(), ContainerError>,
    ) -> Result<(), ContainerError> {
        self.stop(container, timeout)?;
        let fresh = self.find(&container.row.id)?;
        self.start(&fresh, before_start)?;
        self.record(&fresh, "restart", &[]);
        Ok(())
    }

    /// Tells the shim that what follows is the user's stop: no restart after it.
    fn no_restart(&self, container: &Container) {
        let ctl = container.paths.ctl();
        if let Ok(mut fifo) = fs::OpenOptions::new()
            .write(true)
            .custom_flags_nonblock()
            .open(&ctl)
        {
            let _ = fifo.write_all(b"3 0 0\n");
        }
    }

    /// Sends `signal` (after `timeout`, SIGKILL) and waits for the exit.
    pub fn stop(
        &mut self,
        container: &Container,
        timeout: Option<Duration>,
    ) -> Result<(), ContainerError> {
        let _lock = self.lock(&container.row.id)?;
        let state = container.state();
        if !state.status.is_up() {
            return Ok(());
        }
        let runtime = self.runtime(&container.host)?;
        let id = &container.row.id;
        self.no_restart(container);
        if state.status == Status::Paused {
            runtime.resume(id)?;
        }
        let signal = container
            .config
            .stop_signal
            .clone()
            .unwrap_or_else(|| "TERM".to_string());
        let timeout = timeout.unwrap_or_else(|| {
            Duration::from_secs(container.config.stop_timeout.unwrap_or(10).max(0) as u64)
        });
        self.record(container, "kill", &[("signal", signal_number(&signal))]);
        let _ = runtime.kill(id, &signal, false);
        let mut code = self.wait_exit(container, Some(timeout));
        if code.is_none() {
            self.record(container, "kill", &[("signal", signal_number("KILL"))]);
            let _ = runtime.kill(id, "KILL", true);
            code = self.wait_exit(container, Some(Duration::from_secs(30)));
        }
        if let Some(code) = code {
            self.record_die(container, code);
        }
        self.record(container, "stop", &[]);
        Ok(())
    }

    /// Sends `signal` to a running container.
    pub fn kill(&mut self, container: &Container, signal: &str) -> Result<(), ContainerError> {
        let _lock = self.lock(&container.row.id)?;
        let state = container.state();
        if !state.status.is_up() {
            return Err(ContainerError::NotRunning(container.row.id.clone()));
        }
        self.no_restart(container);
        self.runtime(&container.host)?
            .kill(&container.row.id, signal, false)?;
        self.record(container, "kill", &[("signal", signal_number(signal))]);
        Ok(())
    }

    pub fn pause(&mut self, container: &Container) -> Result<(), ContainerError> {
        let _lock = self.lock(&container.row.id)?;
        match container.state().status {
            Status::Paused => Err(ContainerError::AlreadyPaused(container.row.id.clone())),
            Status::Running => {
                self.runtime(&container.host)?.pause(&container.row.id)?;
                self.record(container, "pause", &[]);
                Ok(())
            }
            _ => Err(ContainerError::NotRunning(container.row.id.clone())),
        }
    }

    pub fn unpause(&mut self, container: &Container) -> Result<(), ContainerError> {
        let _lock = self.lock(&container.row.id)?;
        match container.state().status {
            Status::Paused => {
                self.runtime(&container.host)?.resume(&container.row.id)?;
                self.record(container, "unpause", &[]);
                Ok(())
            }
            _ => Err(ContainerError::NotPaused(container.row.id.clone())),
        }
    }

    /// Waits for the container to be down: its exit code, or `None` after `timeout`.
    pub fn wait_exit(&self, container: &Container, timeout: Option<Duration>) -> Option<i32> {
        let deadline = timeout.map(|t| Instant::now() + t);
        // The waker ends the pause early on an exit; the pause is for what it cannot
        // see (a persist file written with no shim left, no inotify). It is made only
        // when there is something to wait for: closing an inotify instance waits for
        // an RCU grace period, milliseconds that a `run` whose container has already
        // exited would spend for nothing.
        let mut waker: Option<ExitWaker> = None;
        let mut pause = Duration::from_millis(5);
        loop {
            let state = container.state();
            if !state.status.is_up() && state.status != Status::Created {
                return Some(state.exit_code);
            }
            if state.status == Status::Created && state.shim_pid.is_none() {
                return Some(state.exit_code);
            }
            if let Some(code) = self.exit_record(&container.row.id) {
                return Some(code);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let left = deadline.map_or(pause, |d| d.saturating_duration_since(Instant::now()));
            waker
                .get_or_insert_with(|| ExitWaker::new(state.shim_pid, &self.exit_dir()))
                .wait(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// The exit code the shim left outside the container's directory (it outlives
    /// a `--rm` container).
    pub fn exit_record(&self, id: &str) -> Option<i32> {
        fs::read_to_string(self.exit_dir().join(id))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Forgets the exit code kept outside the container's directory.
    pub fn forget_exit_record(&self, id: &str) {
        let _ = fs::remove_file(self.exit_dir().join(id));
    }

    /// Removes a container: with `force` a running one is killed first.
    pub fn remove(&mut self, container: &Container, force: bool) -> Result<(), ContainerError> {
        let state = container.state();
        if state.status.is_up() || (state.status == Status::Created && state.shim_pid.is_some()) {
            if !force {
                // A created container with a live shim is on its way up.
                let status = match state.status {
                    Status::Paused | Status::Restarting => state.status.as_str(),
                    _ => Status::Running.as_str(),
                };
                return Err(ContainerError::RemoveRunning {
                    id: container.row.id.clone(),
                    status,
                });
            }
            let runtime = self.runtime(&container.host)?;
            self.no_restart(container);
            if state.status == Status::Paused {
                let _ = runtime.resume(&container.row.id);
            }
            let _ = runtime.kill(&container.row.id, "KILL", true);
            self.wait_exit(container, Some(Duration::from_secs(30)));
        }
        let _lock = self.lock(&container.row.id)?;
        self.forget_network(&container.row.id)?;
        self.tear_down(container)?;
        self.store.remove_container(&container.row.id)?;
        self.record(container, "destroy", &[]);
        Ok(())
    }

    /// `container prune`: removes every container that is not running; their ids.
    pub fn prune_stopped(&mut self) -> Result<Vec<String>, ContainerError> {
        let mut removed = Vec::new();
        for container in self.list()? {
            if container.state().status.is_up() {
                continue;
            }
            self.remove(&container, false)?;
            removed.push(container.row.id);
        }
        Ok(removed)
    }

    /// Renames a container.
    pub fn rename(&mut self, container: &Container, name: &str) -> Result<(), ContainerError> {
        if !names::valid_name(name) {
            return Err(ContainerError::InvalidName(name.to_string()));
        }
        let name = name.trim_start_matches('/');
        if !self.store.rename_container(&container.row.id, name)? {
            let holder = match self.store.find_container(name)? {
                Lookup::Found(other) => other.id,
                _ => String::new(),
            };
            return Err(ContainerError::NameInUse {
                name: name.to_string(),
                id: holder,
            });
        }
        let old_name = format!("/{}", container.row.name);
        let mut renamed = container.clone();
        renamed.row.name = name.to_string();
        self.record(&renamed, "rename", &[("oldName", old_name)]);
        Ok(())
    }
}

/// Whether a file system is mounted on `mount_point` (its device differs from its
/// parent's).
pub(super) fn is_mounted(mount_point: &Path, parent: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(mount_point), fs::metadata(parent)) {
        (Ok(a), Ok(b)) => a.dev() != b.dev(),
        _ => false,
    }
}

trait NonBlocking {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlocking for fs::OpenOptions {
    /// A fifo opened for writing without a reader fails at once (ENXIO) instead of
    /// waiting for one: a shim that is gone never hangs a stop.
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(nix::libc::O_NONBLOCK)
    }
}
