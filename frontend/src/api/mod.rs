//! `berth daemon`: Docker's Engine API over the engine library, so the docker CLI and
//! Docker's SDKs drive berth. It never calls the command line, nor the command line
//! it; both open the same store, so they work side by side. Containers outlive the
//! daemon: each has its own shim.

mod attach;
pub mod bodies;
mod containers;
pub mod error;
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
mod stream;
mod system;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::sync::watch;
use tower::Layer;

use listen::Host;
pub use routes::{API_VERSION, MIN_API_VERSION};

/// How long SIGTERM waits for the requests in flight (dockerd waits 15 s for its own
/// shutdown work).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What `berth daemon`'s flags say.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub hosts: Vec<Host>,
    pub root: PathBuf,
    pub runroot: Option<PathBuf>,
    pub debug: bool,
    pub pidfile: Option<PathBuf>,
    /// The unix sockets' group (mode 0660); none leaves them root's only.
    pub group: Option<String>,
    /// `--tls` as given: `Some(false)` is the explicit opt-out that lets a TCP
    /// listener on a non-loopback address run without TLS.
    pub tls: Option<bool>,
}

/// Runs the daemon until SIGTERM or SIGINT, then lets the requests in flight finish.
pub fn serve(options: DaemonOptions) -> anyhow::Result<()> {
    let hosts = if options.hosts.is_empty() {
        vec![Host::Unix(PathBuf::from(listen::DEFAULT_SOCKET))]
    } else {
        options.hosts.clone()
    };
    for host in hosts.iter().filter(|h| h.is_remote()) {
        if options.tls != Some(false) {
            bail!(
                "refusing to listen on {host:?} without TLS: anyone who reaches it is root \
                 on this host; give --tlsverify with certificates, or --tls=false to accept that"
            );
        }
        eprintln!(
            "berth daemon: WARNING: listening on {host:?} without TLS: anyone who reaches it \
             is root on this host"
        );
    }
    let (containers, repaired) =
        crate::engine::open_containers(&options.root, options.runroot.as_deref())?;
    if let Err(e) = repaired {
        eprintln!("berth daemon: warning: repairing what a crash left: {e}");
    }
    drop(containers);
    let _pidfile = options
        .pidfile
        .as_deref()
        .map(PidFile::create)
        .transpose()?;
    let engine = Arc::new(routes::Engine {
        root: options.root.clone(),
        runroot: options.runroot.clone(),
        attach_waiters: Default::default(),
    });
    // Two workers: the engine's work runs on blocking threads, not on these.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the daemon's runtime")?;
    runtime.block_on(run(hosts, engine, &options))
}

async fn run(
    hosts: Vec<Host>,
    engine: routes::Shared,
    options: &DaemonOptions,
) -> anyhow::Result<()> {
    // Before any listener: a SIGTERM once clients can reach the daemon is a shutdown.
    let stop_signals = StopSignals::install()?;
    let app = routes::router(engine);
    // The version prefix goes before routing: the middleware wraps the whole router.
    let app = axum::Router::new()
        .fallback_service(axum::middleware::from_fn(routes::strip_version).layer(app));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    // Removed however run ends, a failed bind of a later -H included.
    let mut sockets = SocketFiles(Vec::new());
    for host in &hosts {
        match host {
            Host::Unix(path) => {
                let listener = listen::bind_unix(path, options.group.as_deref())?;
                sockets.0.push(path.clone());
                servers.spawn(serve_until(listener, app.clone(), stop_rx.clone()));
            }
            Host::Tcp(address) => {
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("listening on tcp://{address}"))?;
                servers.spawn(serve_until(listener, app.clone(), stop_rx.clone()));
            }
            Host::Fd(_) => bail!("fd:// is not supported yet"),
        }
        if options.debug {
            eprintln!("berth daemon: listening on {host:?}");
        }
    }
    eprintln!("berth daemon: API listen on {}", describe(&hosts));
    stop_signals.wait().await;
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

fn describe(hosts: &[Host]) -> String {
    hosts
        .iter()
        .map(|h| match h {
            Host::Unix(p) => p.display().to_string(),
            Host::Tcp(a) => a.to_string(),
            Host::Fd(_) => "fd://".to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// SIGTERM and SIGINT, caught from before the daemon listens.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
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
