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
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

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
        let dir = temp_dir("registry");
        let mut registry = Registry {
            flavour,
            dir,
            running: Mutex::new(Running {
                child: None,
                port: 0,
            }),
            token: None,
        };
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
                    if status == 200 || status == 401 {
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
             http:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n{auth}"
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

// ---- images ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// What goes into one layer.
#[derive(Debug, Clone)]
pub enum LayerSpec {
    /// `/bin/busybox` (Debian's static one) and `/bin/sh` linking to it.
    Busybox(Compression),
    /// One file of `size` random bytes (incompressible: the blob is as big as that).
    Random {
        size: usize,
        compression: Compression,
    },
    /// A small text file, different for each `marker`.
    Text {
        marker: String,
        compression: Compression,
    },
}

/// An image to seed: its layers, for one platform or an index of several.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub layers: Vec<LayerSpec>,
    /// `os/arch[/variant]`; more than one makes an OCI index (pushed with `--all`).
    pub platforms: Vec<String>,
    /// Pushed as a Docker schema 2 manifest (`--format v2s2`) instead of OCI.
    pub docker_schema2: bool,
}

impl ImageSpec {
    /// One busybox layer for linux/amd64.
    pub fn busybox(compression: Compression) -> ImageSpec {
        ImageSpec {
            layers: vec![LayerSpec::Busybox(compression)],
            platforms: vec!["linux/amd64".to_string()],
            docker_schema2: false,
        }
    }
}

/// The descriptors of one built platform image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub platform: String,
    pub manifest_digest: String,
    pub config_digest: String,
    /// `(digest, size, media type)` of each layer, in order.
    pub layers: Vec<(String, u64, String)>,
}

/// What [`Registry::seed`] pushed.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub repository: String,
    pub tag: String,
    /// The digest of what the tag names in the registry (the index for several
    /// platforms), as skopeo reports it.
    pub digest: String,
    /// The images as built (before any conversion `--format v2s2` made).
    pub images: Vec<BuiltImage>,
}

fn sha256_file(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    let text = String::from_utf8_lossy(&out);
    format!(
        "sha256:{}",
        text.split_whitespace().next().unwrap_or_default()
    )
}

/// Moves `file` into the layout's blobs under its digest; returns (digest, size).
fn add_blob(layout: &Path, file: &Path) -> (String, u64) {
    let digest = sha256_file(file);
    let size = fs::metadata(file).expect("blob size").len();
    let dir = layout.join("blobs/sha256");
    fs::create_dir_all(&dir).expect("mkdir blobs");
    fs::rename(file, dir.join(&digest["sha256:".len()..])).expect("move blob");
    (digest, size)
}

fn add_json_blob(layout: &Path, scratch: &Path, value: &serde_json::Value) -> (String, u64) {
    let file = scratch.join(format!("json-{}", COUNTER.fetch_add(1, Ordering::SeqCst)));
    fs::write(&file, serde_json::to_vec(value).expect("json")).expect("write json blob");
    add_blob(layout, &file)
}

/// Builds layer `spec` as a tar (compressed as asked); returns (blob digest, size,
/// media type, diff id).
fn build_layer(
    layout: &Path,
    scratch: &Path,
    spec: &LayerSpec,
    salt: &str,
) -> (String, u64, String, String) {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let root = scratch.join(format!("rootfs-{n}"));
    fs::create_dir_all(root.join("bin")).expect("mkdir rootfs");
    let compression = match spec {
        LayerSpec::Busybox(c) => {
            fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy /bin/busybox");
            symlink("busybox", root.join("bin/sh")).expect("symlink sh");
            *c
        }
        LayerSpec::Random { size, compression } => {
            let mut bytes = vec![0u8; *size];
            fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut bytes))
                .expect("read /dev/urandom");
            fs::write(root.join("random.bin"), bytes).expect("write random file");
            *compression
        }
        LayerSpec::Text {
            marker,
            compression,
        } => {
            fs::write(
                root.join(format!("{marker}.txt")),
                format!("{marker} {salt}\n"),
            )
            .expect("write text file");
            *compression
        }
    };
    let tar = scratch.join(format!("layer-{n}.tar"));
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-C",
        ])
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    let _ = fs::remove_dir_all(&root);
    let diff_id = sha256_file(&tar);
    let (blob, media_type) = match compression {
        Compression::None => (tar, "application/vnd.oci.image.layer.v1.tar"),
        Compression::Gzip => {
            run(Command::new("gzip").args(["-n", "-6"]).arg(&tar));
            (
                tar.with_extension("tar.gz"),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
        Compression::Zstd => {
            run(Command::new("zstd").args(["-q", "--rm", "-3"]).arg(&tar));
            (
                tar.with_extension("tar.zst"),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            )
        }
    };
    let (digest, size) = add_blob(layout, &blob);
    (digest, size, media_type.to_string(), diff_id)
}

/// An OCI image layout at `dir/oci` with `tag` naming the image (or index) of `spec`.
fn build_layout(dir: &Path, tag: &str, spec: &ImageSpec) -> Vec<BuiltImage> {
    let layout = dir.join("oci");
    let scratch = dir.join("scratch");
    fs::create_dir_all(&layout).expect("mkdir layout");
    fs::create_dir_all(&scratch).expect("mkdir scratch");
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write oci-layout");
    let mut built = Vec::new();
    let mut entries = Vec::new();
    for platform in &spec.platforms {
        let parts: Vec<&str> = platform.split('/').collect();
        let (os, arch) = (parts[0], parts[1]);
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in &spec.layers {
            let (digest, size, media_type, diff_id) =
                build_layer(&layout, &scratch, layer, platform);
            layers.push((digest, size, media_type));
            diff_ids.push(diff_id);
        }
        let mut config = serde_json::json!({
            "architecture": arch,
            "os": os,
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        if let Some(variant) = parts.get(2) {
            config["variant"] = serde_json::json!(variant);
        }
        let (config_digest, config_size) = add_json_blob(&layout, &scratch, &config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": layers.iter().map(|(d, s, m)| serde_json::json!({
                "mediaType": m, "digest": d, "size": s,
            })).collect::<Vec<_>>(),
        });
        let (manifest_digest, manifest_size) = add_json_blob(&layout, &scratch, &manifest);
        let mut platform_json = serde_json::json!({"os": os, "architecture": arch});
        if let Some(variant) = parts.get(2) {
            platform_json["variant"] = serde_json::json!(variant);
        }
        entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "platform": platform_json,
        }));
        built.push(BuiltImage {
            platform: platform.clone(),
            manifest_digest,
            config_digest,
            layers,
        });
    }
    let top = if entries.len() == 1 {
        let mut entry = entries.remove(0);
        if let Some(map) = entry.as_object_mut() {
            map.remove("platform");
        }
        entry
    } else {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        });
        let (digest, size) = add_json_blob(&layout, &scratch, &index);
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": size,
        })
    };
    let mut top = top;
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    let index_json = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index_json).expect("json"),
    )
    .expect("write index.json");
    built
}

// ---- token server --------------------------------------------------------------------

/// A token server on 127.0.0.1 (a thread of the test process).
struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl TokenServer {
    /// Makes the signing key and certificate in `dir` (`token.key`, `token.crt`) and
    /// starts serving `GET /token`.
    fn start(dir: &Path) -> TokenServer {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=berth-test-token-issuer", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let der = run(Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert));
        let x5c = STANDARD.encode(der);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let port = listener.local_addr().expect("token server addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, log) = (stop.clone(), log.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve_token(stream, &key, &x5c, &log);
                    }
                }
            })
        };
        TokenServer {
            port,
            stop,
            thread: Some(thread),
            log,
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_token(stream: TcpStream, key: &Path, x5c: &str, log: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(request) = RawRequest::read(&stream) else {
        return;
    };
    let authorized = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .map(|pair| pair == format!("{USER}:{PASSWORD}").as_bytes());
    lock(log).push(format!(
        "{} {} {}",
        request.method,
        request.target,
        match authorized {
            None => "anonymous",
            Some(true) => "auth",
            Some(false) => "bad-auth",
        }
    ));
    let response = match authorized {
        Some(false) => RawResponse::json(401, r#"{"details":"incorrect username or password"}"#),
        _ => {
            let scopes = request.query_all("scope");
            let access: Vec<serde_json::Value> = if authorized == Some(true) {
                scopes.iter().filter_map(|s| access_entry(s)).collect()
            } else {
                Vec::new()
            };
            let subject = if authorized == Some(true) { USER } else { "" };
            let token = sign_jwt(key, x5c, subject, access);
            RawResponse::json(
                200,
                &serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                    .to_string(),
            )
        }
    };
    response.write(stream);
}

/// `repository:NAME:pull,push` → the claim's access entry.
fn access_entry(scope: &str) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(serde_json::json!({
        "type": kind,
        "name": name,
        "actions": actions.split(',').collect::<Vec<_>>(),
    }))
}

fn sign_jwt(key: &Path, x5c: &str, subject: &str, access: Vec<serde_json::Value>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", COUNTER.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    // RS256 is RSASSA-PKCS1-v1_5 over SHA-256: what `openssl dgst -sign` makes.
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl dgst");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(signing_input.as_bytes())
            .expect("write to openssl");
    }
    let output = child.wait_with_output().expect("openssl dgst output");
    assert!(
        output.status.success(),
        "openssl dgst: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(output.stdout))
}

// ---- a scripted HTTP server -------------------------------------------------------------

/// One request as a [`StubServer`] received it.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: String,
    pub target: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    fn read(stream: &TcpStream) -> Option<RawRequest> {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let mut parts = line.split_whitespace();
        let method = parts.next()?.to_string();
        let target = parts.next()?.to_string();
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).ok()?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':')?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some(RawRequest {
            method,
            target,
            headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Every value of query parameter `name`, percent-decoded.
    pub fn query_all(&self, name: &str) -> Vec<String> {
        let query = self.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| percent_decode(v))
            .collect()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response a [`StubServer`] sends.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn new(status: u16) -> RawResponse {
        RawResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn json(status: u16, body: &str) -> RawResponse {
        RawResponse::new(status)
            .header("Content-Type", "application/json")
            .body(body.as_bytes().to_vec())
    }

    pub fn header(mut self, name: &str, value: &str) -> RawResponse {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> RawResponse {
        self.body = body;
        self
    }

    fn write(&self, mut stream: TcpStream) {
        let mut head = format!("HTTP/1.1 {} Stub\r\n", self.status);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&self.body);
        let _ = stream.flush();
        let _ = stream.shutdown(Shutdown::Write);
    }
}

type Handler = dyn Fn(&RawRequest) -> RawResponse + Send + Sync;

/// A scripted HTTP/1.1 server on 127.0.0.1 (one connection at a time, each closed after
/// its response) that records every request it got.
pub struct StubServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<Mutex<Vec<RawRequest>>>,
}

impl StubServer {
    pub fn start(
        handler: impl Fn(&RawRequest) -> RawResponse + Send + Sync + 'static,
    ) -> StubServer {
        let handler: Box<Handler> = Box::new(handler);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub server");
        let port = listener.local_addr().expect("stub addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, requests) = (stop.clone(), requests.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let Some(request) = RawRequest::read(&stream) else {
                        continue;
                    };
                    let response = handler(&request);
                    lock(&requests).push(request);
                    response.write(stream);
                }
            })
        };
        StubServer {
            port,
            stop,
            thread: Some(thread),
            requests,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RawRequest> {
        lock(&self.requests).clone()
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
