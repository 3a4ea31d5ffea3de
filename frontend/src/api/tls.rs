//! TLS on the daemon's TCP listeners, as dockerd's `--tls`/`--tlsverify`: the server
//! shows `--tlscert`/`--tlskey`; under `--tlsverify` a client must show a certificate
//! signed by `--tlscacert`, and one without is refused during the handshake.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A handshake that has not ended by then is dropped: a client that connects and
/// says nothing must not hold a slot for ever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes under way at once; past this, connections wait in the kernel's backlog.
const HANDSHAKES_AT_ONCE: usize = 128;
/// The first byte of every TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The PEM files and whether clients must show a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub verify_clients: bool,
}

/// rustls' configuration from the PEM files, every failure naming its file.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<ServerConfig>> {
    // ring, the crypto the registry client's TLS already builds on; rustls marks it
    // deprecated for lacking post-quantum key exchange, which aws-lc-rs (a C and
    // assembly build of its own) would bring.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certificates(&files.cert, "certificate (--tlscert)")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        anyhow::anyhow!(
            "reading the TLS key (--tlskey) {}: {e}",
            files.key.display()
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = if files.verify_clients {
        let mut roots = RootCertStore::empty();
        for ca in read_certificates(&files.ca, "CA (--tlscacert)")? {
            roots
                .add(ca)
                .with_context(|| format!("a CA certificate in {}", files.ca.display()))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .with_context(|| format!("the CA in {}", files.ca.display()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(certs, key).with_context(|| {
        format!(
            "the TLS certificate {} and key {}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    Ok(Arc::new(config))
}

fn read_certificates(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let fail = |e: rustls::pki_types::pem::Error| {
        anyhow::anyhow!("reading the TLS {what} {}: {e}", path.display())
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(fail)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    if certs.is_empty() {
        bail!(
            "reading the TLS {what} {}: no certificate in it",
            path.display()
        );
    }
    Ok(certs)
}

/// A TCP listener whose connections come out of the TLS handshake. Handshakes run
/// on tasks of their own, so a slow or silent client delays no one else.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (ready, incoming) = mpsc::channel(HANDSHAKES_AT_ONCE);
        tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), ready));
        Ok(TlsListener { incoming, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept loop only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Accepts until the listener is dropped (the server stopped), handing each
/// connection to a handshake task.
async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(HANDSHAKES_AT_ONCE));
    loop {
        let slot = tokio::select! {
            _ = ready.closed() => return,
            slot = slots.clone().acquire_owned() => slot,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            _ = ready.closed() => return,
            accepted = tcp.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of fds or the like: wait for some to be freed, as axum does.
                eprintln!("berth daemon: accepting a TLS connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(acceptor, stream));
            match handshake.await {
                Ok(Ok(Some(tls))) => {
                    drop(slot);
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => eprintln!("berth daemon: TLS handshake error from {peer}: {e}"),
                Err(_) => eprintln!("berth daemon: TLS handshake from {peer} timed out"),
            }
        });
    }
}

/// The TLS handshake; a client that speaks plain HTTP instead gets the 400 Go's
/// servers (dockerd's) send, so the docker CLI says what went wrong.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
) -> std::io::Result<Option<TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Ok(None);
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        let mut stream = stream;
        stream
            .write_all(
                b"HTTP/1.0 400 Bad Request\r\n\r\n\
                  Client sent an HTTP request to an HTTPS server.\n",
            )
            .await?;
        let _ = stream.shutdown().await;
        return Ok(None);
    }
    acceptor.accept(stream).await.map(Some)
}
