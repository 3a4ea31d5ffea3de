//! Real registries for the front-end's registry tests: Debian's `docker-registry`
//! (distribution 2.8) on 127.0.0.1, in three flavours, and images seeded into them by
//! `skopeo`, an independent client.
//!
//! ```ignore
//! let registry = Registry::start(Flavour::Token);
//! let seeded = registry.seed("app", "v1", &ImageSpec::busybox(Compression::Gzip));
//! // pull registry.host()/app:v1 with credentials USER / PASSWORD ...
//! ```
//!
//! Each [`Registry`] owns a fresh temp dir (config, storage, htpasswd, token keys,
//! logs), listens on a free port of 127.0.0.1 only (Debian's default config listens on
//! every interface and is never used), and on drop kills its process by pid and removes
//! the dir, also when the test panics. The token flavour runs a token server (a thread
//! in the test process) that checks basic credentials and signs RS256 JWTs with a key
//! made by `openssl`, its certificate in the token's `x5c` chain and in the registry's
//! `rootcertbundle`. [`StubServer`] is a scripted HTTP server for what a real registry
//! will not do (redirects to another host).
//!
//! Needs: `docker-registry`, `htpasswd` (apache2-utils), `skopeo`, `openssl`, `tar`,
//! `gzip`, `zstd`, `sha256sum`, and `/bin/busybox` (busybox-static).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The user the htpasswd and token flavours accept.
pub const USER: &str = "berth-user";
/// Its password.
pub const PASSWORD: &str = "berth-pass-1";
/// The token flavour's `service` and `issuer`.
pub const SERVICE: &str = "berth-test-registry";
const ISSUER: &str = "berth-test-issuer";
const START_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// No authentication.
    Plain,
    /// `auth: htpasswd` with [`USER`] / [`PASSWORD`] (bcrypt).
    Htpasswd,
    /// `auth: token` with a token server that knows [`USER`] / [`PASSWORD`]; anonymous
    /// requests get a token that grants nothing.
    Token,
}

/// A running docker-registry and everything it owns.
pub struct Registry {
    flavour: Flavour,
    /// Serves https with a self-signed certificate for 127.0.0.1 instead of http.
    tls: bool,
    dir: PathBuf,
    running: Mutex<Running>,
    token: Option<TokenServer>,
}

struct Running {
    child: Option<Child>,
    port: u16,
}

/// A unique, empty directory under the system's temp dir.
pub fn temp_dir(what: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "berth-{what}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

/// Runs a command, panicking with its stderr when it fails.
fn run(command: &mut Command) -> Vec<u8> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

impl Registry {
    /// Starts a registry of `flavour`; panics (with its log) if it does not answer.
    pub fn start(flavour: Flavour) -> Registry {
        Registry::start_with(flavour, false)
    }

    /// Starts a registry of `flavour` serving https with a self-signed certificate for
    /// 127.0.0.1 (`tls.crt` in its dir).
    pub fn start_tls(flavour: Flavour) -> Registry {
        Registry::start_with(flavour, true)
    }

    fn start_with(flavour: Flavour, tls: bool) -> Registry {
        let dir = temp_dir("registry");
        let mut registry = Registry {
            flavour,
            tls,
            dir,
            running: Mutex::new(Running {
                child: None,
                port: 0,
            }),
            token: None,
        };
        if tls {
            let dir = &registry.dir;
            run(Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args([
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ])
                .arg("-keyout")
                .arg(dir.join("tls.key"))
                .arg("-out")
                .arg(dir.join("tls.crt")));
        }
        match flavour {
            Flavour::Plain => {}
            Flavour::Htpasswd => {
                let line = run(Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]));
                fs::write(registry.dir.join("htpasswd"), line).expect("write htpasswd");
            }
            Flavour::Token => registry.token = Some(TokenServer::start(&registry.dir)),
        }
        registry.launch();
        registry
    }

    /// `127.0.0.1:PORT`: the registry's domain in references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.lock().port)
    }

    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// The temp dir the registry owns (config, `storage/`, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the registry keeps the bytes of blob `digest` (`sha256:...`).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The token server's request log (`GET /token?...`, `auth` or `anonymous`).
    pub fn token_requests(&self) -> Vec<String> {
        self.token
            .as_ref()
            .map(|t| lock(&t.log).clone())
            .unwrap_or_default()
    }

    /// SIGKILL to the registry's own pid; its storage stays.
    pub fn kill(&self) {
        let mut running = self.lock();
        if let Some(mut child) = running.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the registry if it runs and starts it again on the same storage, on a new
    /// port (the old one may have been taken by another test meanwhile).
    pub fn restart(&self) {
        self.kill();
        self.launch();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        lock(&self.running)
    }

    fn launch(&self) {
        let mut last_log = String::new();
        // A free port can be taken between our probe and the registry's bind.
        for _ in 0..5 {
            let port = free_port();
            let config = self.dir.join("config.yml");
            fs::write(&config, self.config(port)).expect("write config.yml");
            let log = fs::File::create(self.dir.join("registry.log")).expect("create log");
            let log2 = log.try_clone().expect("dup log");
            let mut command = Command::new("docker-registry");
            command
                .args(["serve"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2);
            // Dies with the test thread that started it, should the test process be
            // killed before Drop runs.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let mut child = command
                .spawn()
                .unwrap_or_else(|e| panic!("docker-registry: {e} (is docker-registry installed?)"));
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Some(status) = http_status(port, "/v2/") {
                    // Plain http to a TLS port gets Go's 400: the server is up.
                    if status == 200 || status == 401 || (self.tls && status == 400) {
                        let mut running = self.lock();
                        running.child = Some(child);
                        running.port = port;
                        return;
                    }
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            last_log = fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default();
            if !last_log.contains("address already in use") {
                break;
            }
        }
        panic!("docker-registry did not start; its log:\n{last_log}");
    }

    fn config(&self, port: u16) -> String {
        let dir = self.dir.display();
        let tls = if self.tls {
            format!("  tls:\n    certificate: {dir}/tls.crt\n    key: {dir}/tls.key\n")
        } else {
            String::new()
        };
        let auth = match (&self.flavour, &self.token) {
            (Flavour::Htpasswd, _) => format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {dir}/htpasswd\n"
            ),
            (Flavour::Token, Some(token)) => format!(
                "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    \
                 issuer: {ISSUER}\n    rootcertbundle: {dir}/token.crt\n",
                token.port
            ),
            _ => String::new(),
        };
        format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {dir}/storage\n  delete:\n    enabled: true\n  \
             redirect:\n    disable: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n{tls}{auth}"
        )
    }

    /// Pushes an image built as `spec` says to `repository:tag` with skopeo.
    pub fn seed(&self, repository: &str, tag: &str, spec: &ImageSpec) -> Seeded {
        let layout = temp_dir("layout");
        let _cleanup = RemoveOnDrop(layout.clone());
        let built = build_layout(&layout, tag, spec);
        let digest_file = layout.join("pushed.digest");
        let mut command = Command::new("skopeo");
        command.args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
        ]);
        if spec.platforms.len() > 1 {
            command.arg("--all");
        }
        if spec.docker_schema2 {
            command.args(["--format", "v2s2"]);
        } else {
            // Else skopeo gzips uncompressed layers on their way to a registry.
            command.arg("--preserve-digests");
        }
        if self.flavour != Flavour::Plain {
            command.arg(format!("--dest-creds={USER}:{PASSWORD}"));
        }
        command
            .arg("--digestfile")
            .arg(&digest_file)
            .arg(format!("oci:{}:{tag}", layout.join("oci").display()))
            .arg(format!("docker://{}/{repository}:{tag}", self.host()));
        run(&mut command);
        let digest = fs::read_to_string(&digest_file).expect("skopeo --digestfile");
        Seeded {
            repository: repository.to_string(),
            tag: tag.to_string(),
            digest: digest.trim().to_string(),
            images: built,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
        if let Some(token) = self.token.take() {
            token.stop();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The status of `GET path` on 127.0.0.1:port, None if nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

mod image;
mod stub;
mod token;

use image::build_layout;
pub use image::{BuiltImage, Compression, ImageSpec, LayerSpec, Seeded};
pub use stub::{RawRequest, RawResponse, StubServer};
use token::TokenServer;
