//! `POST /containers/{id}/attach`: the connection is taken over (HTTP upgrade to a
//! raw stream, as dockerd does) and joined to the container's attach socket.
//! Without a terminal, output goes out in dockerd's multiplexed frames.
//!
//! A client may attach before the start (the docker CLI's `run` and `start -a` do):
//! it waits in [`AttachWaiters`] and the start connects it to the new shim before the
//! container's process runs, so nothing it writes is missed.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::containers::query_bool;
use super::error::ApiError;
use super::logs::frame;
use super::routes::{blocking, Shared};
use crate::container::attach::{
    parse_detach_keys, AttachIo, AttachOptions, AttachSocket, DEFAULT_DETACH_KEYS,
};
use crate::container::lifecycle::Container;
use crate::container::logs::LogStream;

/// Clients attached to containers that have not started yet, by container id.
#[derive(Default)]
pub struct AttachWaiters(Mutex<HashMap<String, Vec<mpsc::Sender<AttachSocket>>>>);

impl AttachWaiters {
    fn register(&self, id: &str) -> mpsc::Receiver<AttachSocket> {
        let (tx, rx) = mpsc::channel();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_string())
            .or_default()
            .push(tx);
        rx
    }

    /// At a start, before the container's process runs: a connection to the new shim
    /// for each client waiting on `container`.
    pub fn connect_all(
        &self,
        container: &Container,
    ) -> Result<(), crate::container::lifecycle::ContainerError> {
        let waiting = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&container.row.id)
            .unwrap_or_default();
        for waiter in waiting {
            let socket = AttachSocket::connect(&container.paths)?;
            // A client that went away meanwhile drops its socket with the receiver.
            let _ = waiter.send(socket);
        }
        Ok(())
    }
}

pub async fn attach(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Result<Response, ApiError> {
    let keys = query
        .get("detachKeys")
        .filter(|k| !k.is_empty())
        .map_or(DEFAULT_DETACH_KEYS, String::as_str);
    let detach_keys = parse_detach_keys(keys).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let want = Wanted {
        stdin: query_bool(&query, "stdin"),
        stdout: query_bool(&query, "stdout"),
        stderr: query_bool(&query, "stderr"),
    };
    if !query_bool(&query, "stream") && !query_bool(&query, "logs") {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let lookup = engine.clone();
    let container = blocking(move || Ok(lookup.containers()?.find(&id)?)).await?;
    let state = container.state();
    // Registered before the answer goes out: a start right after it finds us.
    let pending =
        (!state.status.is_up()).then(|| engine.attach_waiters.register(&container.row.id));
    let options = AttachOptions {
        stdin: want.stdin && container.config.open_stdin,
        tty: container.config.tty,
        detach_keys,
    };
    let upgrade = hyper::upgrade::on(request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let tty = options.tty;
        let session = move |io: AttachIo<'_>, client_gone: &mpsc::Receiver<()>| {
            let socket = match pending {
                None => AttachSocket::connect(&container.paths).ok(),
                Some(rx) => loop {
                    match rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(socket) => break Some(socket),
                        Err(mpsc::RecvTimeoutError::Disconnected) => break None,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            if client_gone.try_recv().is_ok() {
                                break None;
                            }
                        }
                    }
                },
            };
            if let Some(socket) = socket {
                let _ = socket.attach(&container.paths, &options, io);
            }
        };
        let _ = bridge(TokioIo::new(upgraded), tty, want, None, session).await;
    });
    Ok(switching_protocols())
}

/// dockerd's answer to a hijacking request: the connection is a raw stream from here.
pub fn switching_protocols() -> Response {
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONTENT_TYPE, "application/vnd.docker.raw-stream"),
            (header::CONNECTION, "Upgrade"),
            (header::UPGRADE, "tcp"),
        ],
    )
        .into_response()
}

/// Which of the streams the client asked for.
#[derive(Clone, Copy)]
pub struct Wanted {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// How a client left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientLeft {
    /// Its connection failed a write.
    Vanished,
    /// It closed a terminal's input, which ends only with the client: the docker CLI
    /// closes so when the user typed its detach keys, which it reads itself.
    ClosedTerminal,
}

/// Told once the client left; the copying stops there.
pub type HangUp = std::sync::Arc<dyn Fn(ClientLeft) + Send + Sync>;

/// How often a client whose input ended is asked, with an empty frame, whether it
/// still reads: its input's end is how the docker CLI says it sends no more, and
/// how a closed connection looks too.
const PROBE_EVERY: Duration = Duration::from_secs(2);

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

/// Runs `session` on a blocking thread over three pipes (the client's stdin, the
/// output) and copies between them and the client's connection until the session
/// returns and its output is out: without `tty`, in dockerd's multiplexed frames.
/// The session learns that the client went on `client_gone` and, once it attached,
/// by its [`AttachIo::hangup`] pipe closing: a client that leaves a quiet container
/// frees the session's thread and socket at once.
pub async fn bridge<S, F>(
    stream: S,
    tty: bool,
    want: Wanted,
    hang_up: Option<HangUp>,
    session: F,
) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(AttachIo<'_>, &mpsc::Receiver<()>) + Send + 'static,
{
    let (stdin_r, stdin_w) = pipe()?;
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let (hangup_r, hangup_w) = pipe()?;
    let (client_gone_tx, client_gone_rx) = std::sync::mpsc::channel::<()>();
    let session = tokio::task::spawn_blocking(move || {
        let io = AttachIo {
            stdin: stdin_r.as_fd(),
            stdout: stdout_w.as_fd(),
            stderr: stderr_w.as_fd(),
            hangup: Some(hangup_r.as_fd()),
        };
        session(io, &client_gone_rx);
        // The write ends close here: the copier below sees the end of the output.
    });
    let (mut client_in, mut client_out) = tokio::io::split(stream);
    let mut stdin_w = tokio::net::unix::pipe::Sender::from_owned_fd(stdin_w)?;
    let input_hang_up = hang_up.clone().filter(|_| tty && want.stdin);
    let (input_ended, mut input_end) = tokio::sync::oneshot::channel::<()>();
    let copy_in = tokio::spawn(async move {
        let mut buf = [0u8; 8192];
        loop {
            match client_in.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    if let Some(hang_up) = &input_hang_up {
                        hang_up(ClientLeft::ClosedTerminal);
                    }
                    let _ = input_ended.send(());
                    break;
                }
                Ok(n) => {
                    if !want.stdin {
                        continue;
                    }
                    if stdin_w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut out = tokio::net::unix::pipe::Receiver::from_owned_fd(stdout_r)?;
    let mut err = tokio::net::unix::pipe::Receiver::from_owned_fd(stderr_r)?;
    let (mut out_open, mut err_open) = (true, true);
    let (mut out_buf, mut err_buf) = ([0u8; 8192], [0u8; 8192]);
    let mut written = Ok(());
    // Dropped once the client is gone: the session ends.
    let mut hangup_w = Some(hangup_w);
    let mut awaiting_input_end = true;
    let mut probe: Option<tokio::time::Interval> = None;
    while out_open || err_open {
        let (stream, chunk) = tokio::select! {
            ended = &mut input_end, if awaiting_input_end => {
                awaiting_input_end = false;
                if ended.is_ok() {
                    if !tty {
                        probe = Some(tokio::time::interval(PROBE_EVERY));
                    } else if want.stdin {
                        // A raw stream has no empty message to probe with, and a
                        // terminal's client closes its input only as it leaves.
                        hangup_w = None;
                    }
                }
                continue;
            },
            _ = tick(&mut probe), if probe.is_some() && written.is_ok() => {
                (LogStream::Stdout, &[][..])
            },
            n = out.read(&mut out_buf), if out_open => match n {
                Ok(0) | Err(_) => { out_open = false; continue; }
                Ok(n) => (LogStream::Stdout, &out_buf[..n]),
            },
            n = err.read(&mut err_buf), if err_open => match n {
                Ok(0) | Err(_) => { err_open = false; continue; }
                Ok(n) => (LogStream::Stderr, &err_buf[..n]),
            },
        };
        let wanted = match stream {
            LogStream::Stdout => want.stdout,
            LogStream::Stderr => want.stderr,
        };
        let probing = chunk.is_empty();
        if !(wanted || probing) || written.is_err() {
            continue;
        }
        let bytes = if tty {
            chunk.to_vec()
        } else {
            frame(stream, chunk)
        };
        written = client_out.write_all(&bytes).await;
        if written.is_err() {
            let _ = client_gone_tx.send(());
            if let Some(hang_up) = &hang_up {
                hang_up(ClientLeft::Vanished);
                break;
            }
            hangup_w = None;
        }
    }
    // A session still writing learns that nobody reads.
    drop((out, err));
    let _ = client_out.shutdown().await;
    copy_in.abort();
    let _ = client_gone_tx.send(());
    drop(hangup_w);
    let _ = session.await;
    Ok(())
}

/// The next tick of `probe`; never without one.
async fn tick(probe: &mut Option<tokio::time::Interval>) {
    match probe {
        Some(probe) => {
            probe.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// `h` and `w` of a resize: rows and columns.
pub fn terminal_size(query: &HashMap<String, String>) -> Result<(u16, u16), ApiError> {
    let dimension = |key: &str| -> Result<u16, ApiError> {
        query
            .get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ApiError::bad_request(format!("resize: {key} must be a number")))
    };
    Ok((dimension("h")?, dimension("w")?))
}

/// `POST /containers/{id}/resize?h=&w=`: the container's pty follows the client's
/// terminal.
pub async fn resize(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let (rows, cols) = terminal_size(&query)?;
    blocking(move || {
        let container = engine.containers()?.find(&id)?;
        crate::container::attach::resize(&container.paths, rows, cols)
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
        Ok(StatusCode::OK)
    })
    .await
}
