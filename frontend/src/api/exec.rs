//! `POST /containers/{id}/exec` and `/exec/{id}/...`: exec instances as dockerd keeps
//! them, in the daemon's memory from their create, and run through the engine's exec
//! sessions (a berth-shim each, the process's exit code in the session's directory
//! and on its sync pipe).
//!
//! An attached start takes the connection over as `attach` does and connects to the
//! session's attach socket before the process runs, so no output is missed; the exit
//! code is recorded before the connection closes, because the docker CLI asks for it
//! right then. A client that goes away mid-exec takes the process with it, unlike
//! dockerd, which leaves it running with nobody to read it; but a terminal session
//! whose client closed is detached, as the docker CLI leaves it on its detach keys.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::attach::{bridge, switching_protocols, terminal_size, ClientLeft, HangUp, Wanted};
use super::bodies::{ExecCreate, ExecStart};
use super::error::ApiError;
use super::routes::{blocking, Shared};
use crate::container::attach::{parse_detach_keys, AttachEnd, AttachIo, AttachOptions};
use crate::container::events::exec_event;
use crate::container::exec::{session_paths, ExecRequest, ExecSession, SessionProcess};
use crate::container::lifecycle::{Container, ContainerError};
use crate::container::shim::{parse_sync_line, read_line, ShimError};
use crate::container::state::Status;
use crate::events::{Event, EventLog};

/// How long an exec that ended stays inspectable (dockerd forgets them within ten
/// minutes too).
const KEEP_EXITED: Duration = Duration::from_secs(600);
/// How long a resize waits for a session that is starting.
const RESIZE_WAIT: Duration = Duration::from_secs(10);
/// An exec start's body is two booleans.
const START_BODY_MAX: usize = 64 * 1024;
/// dockerd's exit code for an exec whose process could not be started.
const CANNOT_START: i32 = 126;

/// Where an exec instance is in its life.
#[derive(Clone)]
enum Phase {
    Created,
    /// Claimed by a start, its session being launched.
    Starting,
    Running {
        process: Arc<SessionProcess>,
        dir: PathBuf,
    },
    Exited {
        code: i32,
        at: Instant,
    },
}

/// One exec instance.
pub struct Exec {
    id: String,
    container_id: String,
    config: ExecCreate,
    /// The user it runs as: its own, else the container's.
    user: String,
    created: Instant,
    phase: watch::Sender<Phase>,
    /// Its attached client: [`CLIENT_ATTACHED`], [`CLIENT_GONE`] or [`CLIENT_DETACHED`].
    client: AtomicU8,
    /// Where and what `exec_die` is told (its exit code added then).
    events: EventLog,
    die: Event,
}

const CLIENT_ATTACHED: u8 = 0;
/// The process is to end: now if it runs, else as soon as it does.
const CLIENT_GONE: u8 = 1;
/// The client left with the detach keys: the process runs on.
const CLIENT_DETACHED: u8 = 2;

impl Exec {
    fn is_live(&self) -> bool {
        !matches!(*self.phase.borrow(), Phase::Exited { .. })
    }

    /// Created → starting, or dockerd's conflict.
    fn claim(&self) -> Result<(), ApiError> {
        let mut refused = None;
        self.phase.send_if_modified(|phase| match phase {
            Phase::Created => {
                *phase = Phase::Starting;
                true
            }
            Phase::Exited { .. } => {
                refused = Some(format!("Error: Exec command {} has already run", self.id));
                false
            }
            Phase::Starting | Phase::Running { .. } => {
                refused = Some(format!(
                    "Error: Exec command {} is already running",
                    self.id
                ));
                false
            }
        });
        match refused {
            Some(message) => Err(ApiError::new(StatusCode::CONFLICT, message)),
            None => Ok(()),
        }
    }

    /// A start whose client went before the process was launched leaves it startable.
    fn unclaim(&self) {
        self.phase.send_if_modified(|phase| {
            let starting = matches!(phase, Phase::Starting);
            if starting {
                *phase = Phase::Created;
            }
            starting
        });
    }

    fn running(&self, session: &ExecSession) {
        let process = Arc::new(SessionProcess::open(session.shim.pid));
        self.phase.send_replace(Phase::Running {
            process: process.clone(),
            dir: session.dir.clone(),
        });
        // A client that went while the session was starting saw nothing to end.
        if self.client.load(Ordering::SeqCst) == CLIENT_GONE {
            process.kill();
        }
    }

    /// Records the exit code, and removes the session's directory: what it held is
    /// now here.
    fn exited(&self, code: i32) {
        let mut die = self.die.again_now();
        die.actor
            .attributes
            .insert("exitCode".to_string(), code.to_string());
        self.events.record(&die);
        let previous = self.phase.send_replace(Phase::Exited {
            code,
            at: Instant::now(),
        });
        if let Phase::Running { dir, .. } = previous {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Its client left: one that closed a terminal detached, and the process runs
    /// on (as after the detach keys); one that vanished takes the process (and what
    /// it started) along.
    fn client_left(&self, how: ClientLeft) {
        let next = match how {
            ClientLeft::ClosedTerminal => CLIENT_DETACHED,
            ClientLeft::Vanished => CLIENT_GONE,
        };
        let changed =
            self.client
                .compare_exchange(CLIENT_ATTACHED, next, Ordering::SeqCst, Ordering::SeqCst);
        if changed.is_err() || next != CLIENT_GONE {
            return;
        }
        let process = match &*self.phase.borrow() {
            Phase::Running { process, .. } => Some(process.clone()),
            _ => None,
        };
        if let Some(process) = process {
            process.kill();
        }
    }

    fn request(&self) -> ExecRequest {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        ExecRequest {
            command: self.config.cmd.clone(),
            env: self.config.env.clone(),
            user: non_empty(&self.config.user),
            workdir: non_empty(&self.config.working_dir),
            tty: self.config.tty,
            stdin: self.config.attach_stdin,
            privileged: self.config.privileged,
        }
    }

    /// Docker's `ExecInspect`.
    fn inspect(&self) -> Value {
        let (running, exit_code, pid) = match &*self.phase.borrow() {
            Phase::Created => (false, Value::Null, 0),
            Phase::Starting => (true, Value::Null, 0),
            Phase::Running { process, .. } => (true, Value::Null, process.pid()),
            Phase::Exited { code, .. } => (false, json!(code), 0),
        };
        let keys = parse_detach_keys(&self.config.detach_keys).unwrap_or_default();
        let mut process_config = json!({
            "tty": self.config.tty,
            "entrypoint": self.config.cmd.first(),
            "arguments": self.config.cmd.get(1..).unwrap_or_default(),
            "privileged": self.config.privileged,
        });
        if !self.user.is_empty() {
            process_config["user"] = json!(self.user);
        }
        json!({
            "ID": self.id,
            "Running": running,
            "ExitCode": exit_code,
            "ProcessConfig": process_config,
            "OpenStdin": self.config.attach_stdin,
            "OpenStderr": self.config.attach_stderr,
            "OpenStdout": self.config.attach_stdout,
            "CanRemove": false,
            "ContainerID": self.container_id,
            // Go's []byte: base64 in JSON.
            "DetachKeys": base64::engine::general_purpose::STANDARD.encode(keys),
            "Pid": pid,
        })
    }
}

/// The daemon's exec instances, by id.
#[derive(Default)]
pub struct Execs(Mutex<HashMap<String, Arc<Exec>>>);

impl Execs {
    fn get(&self, id: &str) -> Result<Arc<Exec>, ApiError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }

    fn insert(&self, exec: Exec) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, e| match &*e.phase.borrow() {
            Phase::Exited { at, .. } => at.elapsed() < KEEP_EXITED,
            _ => true,
        });
        map.insert(exec.id.clone(), Arc::new(exec));
    }

    /// The container's execs not yet ended, oldest first (its inspect's `ExecIDs`).
    pub fn live_ids(&self, container_id: &str) -> Option<Vec<String>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut live: Vec<&Arc<Exec>> = map
            .values()
            .filter(|e| e.container_id == container_id && e.is_live())
            .collect();
        live.sort_by_key(|e| e.created);
        let ids: Vec<String> = live.iter().map(|e| e.id.clone()).collect();
        (!ids.is_empty()).then_some(ids)
    }
}

/// dockerd's refusals of a container that cannot take an exec; `name` as the client
/// gave it.
fn check_active(container: &Container, name: &str) -> Result<(), ApiError> {
    let conflict = |message: String| ApiError::new(StatusCode::CONFLICT, message);
    match container.state().status {
        Status::Running => Ok(()),
        Status::Paused => Err(conflict(format!(
            "Container {name} is paused, unpause the container before exec"
        ))),
        Status::Restarting => Err(conflict(format!(
            "Container {} is restarting, wait until the container is running",
            container.row.id
        ))),
        Status::Created | Status::Exited => {
            Err(ContainerError::NotRunning(container.row.id.clone()).into())
        }
    }
}

/// `POST /containers/{id}/exec`.
pub async fn create(
    State(engine): State<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let config = ExecCreate::parse(&body)?;
    let lookup = engine.clone();
    let wanted = name.clone();
    let container = blocking(move || Ok(lookup.containers()?.find(&wanted)?)).await?;
    check_active(&container, &name)?;
    let id = crate::container::names::new_id().map_err(ApiError::internal)?;
    let user = if config.user.is_empty() {
        container.config.user.clone()
    } else {
        config.user.clone()
    };
    let events = EventLog::of_store(&engine.root);
    let command = config.cmd.clone();
    events.record(&exec_event(&container, "exec_create", &id, &command, None));
    engine.execs.insert(Exec {
        die: exec_event(&container, "exec_die", &id, &command, None),
        events,
        id: id.clone(),
        container_id: container.row.id.clone(),
        config,
        user,
        created: Instant::now(),
        phase: watch::Sender::new(Phase::Created),
        client: AtomicU8::new(CLIENT_ATTACHED),
    });
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))))
}

/// The exec's container, as a start or an inspect needs it: one that is gone makes
/// the exec unknown, as with dockerd.
async fn container_of(engine: &Shared, exec: &Exec) -> Result<Container, ApiError> {
    let lookup = engine.clone();
    let id = exec.container_id.clone();
    match blocking(move || Ok(lookup.containers()?.find(&id)?)).await {
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(ApiError::not_found(format!(
            "No such exec instance: {}",
            exec.id
        ))),
        other => other,
    }
}

/// Why a session could not start, as dockerd words it: the runtime's own error
/// behind its prefix.
fn start_failure(e: &ContainerError) -> String {
    match e {
        ContainerError::Shim(ShimError::Runtime { message, .. }) => {
            format!("OCI runtime exec failed: {message}")
        }
        other => other.to_string(),
    }
}

/// A detached start's failure: dockerd's 400 for a command that cannot run, as its
/// runtime words it, else a 500.
fn start_error(e: &ContainerError) -> ApiError {
    let message = start_failure(e);
    let lower = message.to_ascii_lowercase();
    let cannot_run = [
        "executable file not found",
        "no such file",
        "permission denied",
    ]
    .iter()
    .any(|m| lower.contains(m));
    if cannot_run {
        ApiError::bad_request(message)
    } else {
        ApiError::internal(message)
    }
}

/// `POST /exec/{id}/start`: detached, it answers once the process runs; attached, the
/// connection becomes the process's stdio until it ends.
pub async fn start(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, START_BODY_MAX)
        .await
        .map_err(|e| ApiError::bad_request(format!("exec start: reading the body: {e}")))?;
    let check = ExecStart::parse(&body)?;
    let exec = engine.execs.get(&id)?;
    let container = container_of(&engine, &exec).await?;
    check_active(&container, &container.row.id)?;
    exec.claim()?;
    if check.detach {
        let (work_exec, work_engine) = (exec.clone(), engine.clone());
        let started = blocking(move || {
            let containers = work_engine.containers()?;
            Ok(containers.start_exec_session(
                &container,
                &work_exec.request(),
                &work_exec.id,
                false,
            ))
        })
        .await;
        return match started {
            Ok(Ok(session)) => {
                exec.running(&session);
                tokio::spawn(watch_exit(exec, session.shim.sync));
                Ok(StatusCode::OK.into_response())
            }
            Ok(Err(e)) => {
                exec.exited(CANNOT_START);
                Err(start_error(&e))
            }
            Err(e) => {
                exec.exited(CANNOT_START);
                Err(e)
            }
        };
    }
    let mut request = Request::from_parts(parts, Body::empty());
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            exec.unclaim();
            return;
        };
        attached(engine, exec, container, check.tty, TokioIo::new(upgraded)).await;
    });
    Ok(switching_protocols())
}

/// An attached start on the taken-over connection; `framed` unless the start asked
/// for a terminal's raw stream (dockerd goes by the start's `Tty`).
async fn attached<S>(engine: Shared, exec: Arc<Exec>, container: Container, raw: bool, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let config = &exec.config;
    let want = Wanted {
        stdin: config.attach_stdin,
        stdout: config.attach_stdout,
        stderr: config.attach_stderr,
    };
    let options = AttachOptions {
        stdin: config.attach_stdin,
        tty: config.tty,
        detach_keys: match config.detach_keys.as_str() {
            "" => parse_detach_keys(crate::container::attach::DEFAULT_DETACH_KEYS),
            keys => parse_detach_keys(keys),
        }
        .unwrap_or_default(),
    };
    let left = exec.clone();
    let hang_up: HangUp = Arc::new(move |how| left.client_left(how));
    let runtime = tokio::runtime::Handle::current();
    let session = move |io: AttachIo<'_>, _client_gone: &mpsc::Receiver<()>| {
        let started = engine
            .containers()
            .map_err(|e| e.message)
            .and_then(|containers| {
                containers
                    .start_exec_session(&container, &exec.request(), &exec.id, true)
                    .map_err(|e| start_failure(&e))
            });
        let mut session = match started {
            Ok(session) => session,
            Err(message) => {
                let _ = nix::unistd::write(io.stdout, format!("{message}\r\n").as_bytes());
                exec.exited(CANNOT_START);
                return;
            }
        };
        exec.running(&session);
        let end = match session.attach.take() {
            Some(socket) => socket.attach(&session_paths(&session.dir), &options, io),
            None => Ok(AttachEnd::Ended),
        };
        if !matches!(end, Ok(AttachEnd::Ended)) {
            // Detached, or its client left: the end comes later, with nobody waiting.
            if let Ok(AttachEnd::Detached) = end {
                exec.client.store(CLIENT_DETACHED, Ordering::SeqCst);
            }
            runtime.spawn(watch_exit(exec, session.shim.sync));
            return;
        }
        // The shim sends the exit code before it closes the attach socket.
        let code = exit_code_line(&read_line(&session.shim.sync).unwrap_or_default());
        exec.exited(code.unwrap_or_else(|| exit_file_code(&session.dir)));
    };
    let _ = bridge(stream, raw, want, Some(hang_up), session).await;
}

/// The exit code on a session's sync pipe line.
fn exit_code_line(line: &str) -> Option<i32> {
    parse_sync_line(line).and_then(|(code, _)| i32::try_from(code).ok())
}

/// The exit code the session's shim wrote; -1 when it left none (it was killed).
fn exit_file_code(dir: &std::path::Path) -> i32 {
    std::fs::read_to_string(dir.join("exit"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(-1)
}

/// Waits, without a thread, for a detached session's exit code on its sync pipe.
async fn watch_exit(exec: Arc<Exec>, sync: std::os::unix::net::UnixStream) {
    let mut text = Vec::new();
    if sync.set_nonblocking(true).is_ok() {
        if let Ok(stream) = tokio::net::UnixStream::from_std(sync) {
            let _ = stream.take(64 * 1024).read_to_end(&mut text).await;
        }
    }
    let text = String::from_utf8_lossy(&text);
    let code = text.lines().find_map(exit_code_line);
    let dir = match &*exec.phase.borrow() {
        Phase::Running { dir, .. } => Some(dir.clone()),
        _ => None,
    };
    let code = code.unwrap_or_else(|| dir.as_deref().map_or(-1, exit_file_code));
    exec.exited(code);
}

/// `GET /exec/{id}/json`.
pub async fn inspect(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let exec = engine.execs.get(&id)?;
    container_of(&engine, &exec).await?;
    Ok(Json(exec.inspect()))
}

/// `POST /exec/{id}/resize?h=&w=`: the session's pty follows the client's terminal.
/// A session still starting is waited for; one that ended has nothing to resize.
pub async fn resize(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let (rows, cols) = terminal_size(&query)?;
    let exec = engine.execs.get(&id)?;
    let mut phase = exec.phase.subscribe();
    let ready = phase.wait_for(|p| matches!(p, Phase::Running { .. } | Phase::Exited { .. }));
    let dir = match tokio::time::timeout(RESIZE_WAIT, ready).await {
        Ok(Ok(phase)) => match &*phase {
            Phase::Running { dir, .. } => dir.clone(),
            _ => return Ok(StatusCode::OK),
        },
        _ => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("exec {id} is not running"),
            ))
        }
    };
    blocking(move || {
        // A session that ended meanwhile has no shim to read the fifo: nothing to do.
        let _ = crate::container::attach::resize(&session_paths(&dir), rows, cols);
        Ok(StatusCode::OK)
    })
    .await
}
