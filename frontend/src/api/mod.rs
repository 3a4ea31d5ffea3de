//! `berth daemon`: Docker's Engine API over the engine library, so the docker CLI and
//! Docker's SDKs drive berth. It never calls the command line, nor the command line
//! it; both open the same store, so they work side by side. Containers outlive the
//! daemon: each has its own shim.

mod attach;
pub mod bodies;
pub mod config;
mod containers;
pub mod error;
mod events;
mod exec;
mod files;
mod image_archive;
mod images;
mod lifecycle;
pub mod listen;
mod logs;
mod networks;
mod progress;
pub mod queries;
mod registry;
mod routes;
mod stats;
mod stream;
mod system;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::watch;
use tower::Layer;

pub use config::DaemonOptions;
use config::{Live, Tls};
use listen::Endpoint;
pub use routes::{API_VERSION, MIN_API_VERSION};

/// How long SIGTERM waits for the requests in flight (dockerd waits 15 s for its own
/// shutdown work).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the daemon until SIGTERM or SIGINT, then lets the requests in flight finish.
pub fn serve(options: DaemonOptions) -> anyhow::Result<()> {
    survive_closed_connections()?;
    // First, while no other thread runs: the sockets systemd passed, if any.
    let endpoints = listen::endpoints(&options.hosts)?;
    for address in endpoints.iter().filter_map(Endpoint::tcp_address) {
        if address.ip().is_loopback() || matches!(options.tls, Tls::On(_)) {
            continue;
        }
        if options.tls != Tls::OffExplicitly {
            bail!(
                "refusing to listen on tcp://{address} without TLS: anyone who reaches it is \
                 root on this host; give --tlsverify with certificates, or --tls=false to \
                 accept that"
            );
        }
        eprintln!(
            "berth daemon: WARNING: listening on tcp://{address} without TLS: anyone who \
             reaches it is root on this host"
        );
    }
    let tls = match &options.tls {
        Tls::On(files) => Some(tls::server_config(files)?),
        _ => None,
    };
    // Two workers: the engine's work runs on blocking threads, not on these.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the daemon's runtime")?;
    // Before the pid file names this process: from then on a SIGHUP (the init
    // script's reload) is a reload and a SIGTERM a clean stop, not the default death.
    let signals = {
        let _in_runtime = runtime.enter();
        Signals::install()?
    };
    let (containers, repaired) =
        crate::engine::open_containers(&options.root, options.runroot.as_deref())?;
    if let Err(e) = repaired {
        eprintln!("berth daemon: warning: repairing what a crash left: {e}");
    }
    let _pidfile = options
        .pidfile
        .as_deref()
        .map(PidFile::create)
        .transpose()?;
    let live = Arc::new(Live::new(&options));
    let engine = Arc::new(routes::Engine {
        root: options.root.clone(),
        runroot: options.runroot.clone(),
        attach_waiters: Default::default(),
        live: live.clone(),
        execs: Default::default(),
        _wal_keeper: std::sync::Mutex::new(containers.store),
    });
    runtime.block_on(run(endpoints, engine, tls, &options, live, signals))
}

async fn run(
    endpoints: Vec<Endpoint>,
    engine: routes::Shared,
    tls: Option<Arc<rustls::ServerConfig>>,
    options: &DaemonOptions,
    live: Arc<Live>,
    mut signals: Signals,
) -> anyhow::Result<()> {
    let app = routes::router(engine);
    // The version prefix goes before routing: the middleware wraps the whole router.
    let app = axum::Router::new()
        .fallback_service(axum::middleware::from_fn(routes::strip_version).layer(app))
        .layer(axum::middleware::from_fn(routes::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            live.clone(),
            log_requests,
        ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    // Removed however run ends, a failed bind of a later -H included.
    let mut sockets = SocketFiles(Vec::new());
    let described: Vec<String> = endpoints.iter().map(Endpoint::describe).collect();
    for endpoint in endpoints {
        let label = endpoint.describe();
        let stop = stop_rx.clone();
        match endpoint {
            Endpoint::Unix(path) => {
                let listener = listen::bind_unix(&path, options.group.as_deref())?;
                sockets.0.push(path);
                servers.spawn(serve_until(listener, app.clone(), stop));
            }
            Endpoint::PassedUnix(listener, _) => {
                let listener = tokio::net::UnixListener::from_std(listener)
                    .with_context(|| format!("listening on {label}"))?;
                servers.spawn(serve_until(listener, app.clone(), stop));
            }
            Endpoint::Tcp(address) => {
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("listening on tcp://{address}"))?;
                serve_tcp(&mut servers, listener, tls.clone(), app.clone(), stop)?;
            }
            Endpoint::PassedTcp(listener, _) => {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .with_context(|| format!("listening on {label}"))?;
                serve_tcp(&mut servers, listener, tls.clone(), app.clone(), stop)?;
            }
        }
        if options.debug {
            eprintln!("berth daemon: listening on {label}");
        }
    }
    eprintln!("berth daemon: API listen on {}", described.join(", "));
    while let Received::Reload = signals.next().await {
        reload(&options.reload, &live);
    }
    let _ = stop_tx.send(true);
    // Requests in flight get this long; streams that never end by themselves
    // (a wait, logs -f) are cut after it.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(joined) = servers.join_next().await {
            if let Ok(Err(e)) = joined {
                eprintln!("berth daemon: {e}");
            }
        }
    })
    .await;
    if drained.is_err() {
        eprintln!("berth daemon: requests still open after {SHUTDOWN_GRACE:?}: cut off");
    }
    Ok(())
}

type Servers = tokio::task::JoinSet<std::io::Result<()>>;

/// A TCP listener, behind TLS when the daemon has it.
fn serve_tcp(
    servers: &mut Servers,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: axum::Router,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    match tls {
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config)?;
            servers.spawn(serve_until(listener, app, stop));
        }
        None => {
            servers.spawn(serve_until(listener, app, stop));
        }
    }
    Ok(())
}

/// SIGHUP: daemon.json again. What dockerd reloads takes effect; a file that does
/// not parse or conflicts with the flags is reported and the configuration in force
/// kept.
fn reload(source: &config::ReloadSource, live: &Live) {
    match source.read() {
        Ok(file) => {
            live.apply(&file);
            let absent = if source.file().exists() {
                ""
            } else {
                " (absent: nothing set)"
            };
            eprintln!(
                "berth daemon: reloaded {}{absent}: debug={} (hosts, pidfile, data-root, \
                 group and TLS take effect at the next start)",
                source.file().display(),
                live.debug()
            );
        }
        Err(e) => {
            eprintln!("berth daemon: reload failed, the configuration in force is kept: {e:#}")
        }
    }
}

/// dockerd's debug log of each request.
async fn log_requests(State(live): State<Arc<Live>>, request: Request, next: Next) -> Response {
    if live.debug() {
        eprintln!(
            "berth daemon: Calling {} {}",
            request.method(),
            request.uri().path()
        );
    }
    next.run(request).await
}

extern "C" fn on_sigpipe(_: nix::libc::c_int) {}

/// A write to a client that has gone must fail with EPIPE, not end the daemon: the
/// command line's default (SIGPIPE ends `berth ps | head` quietly) is replaced. With
/// a handler rather than SIG_IGN, the shims and runtimes the daemon starts get the
/// default back at their exec, and so do the containers.
fn survive_closed_connections() -> anyhow::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_sigpipe),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, which is async-signal-safe, and this runs
    // before any other thread exists.
    unsafe { sigaction(Signal::SIGPIPE, &action) }.context("SIGPIPE handler")?;
    Ok(())
}

/// The unix sockets the daemon made.
struct SocketFiles(Vec<PathBuf>);

impl Drop for SocketFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Serves `app` on `listener` until `stop` turns true, then lets open requests end.
async fn serve_until<L>(
    listener: L,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}

/// The signals the daemon acts on, caught from before it listens.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

enum Received {
    Stop,
    Reload,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("SIGHUP handler")?,
        })
    }

    async fn next(&mut self) -> Received {
        tokio::select! {
            _ = self.term.recv() => Received::Stop,
            _ = self.int.recv() => Received::Stop,
            _ = self.hup.recv() => Received::Reload,
        }
    }
}

/// dockerd's `--pidfile`: refused while another daemon's pid is in it, removed at exit.
struct PidFile(PathBuf);

impl PidFile {
    fn create(path: &Path) -> anyhow::Result<PidFile> {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                if Path::new(&format!("/proc/{pid}")).exists() {
                    bail!(
                        "pid file found, ensure berth daemon is not running or delete {}",
                        path.display()
                    );
                }
            }
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, format!("{}", std::process::id()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
