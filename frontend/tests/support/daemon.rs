//! A `berth daemon` of the test's own on a store, on a unix socket under the store's
//! temp dir (or on a TCP port of 127.0.0.1), stopped by its pid when dropped; and
//! the clients that talk to it: the docker CLI and plain HTTP.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::TestStore;

/// The docker CLI a user has: 28.x where installed, else Debian's.
pub fn docker_cli() -> &'static str {
    if std::path::Path::new("/usr/local/bin/docker").exists() {
        "/usr/local/bin/docker"
    } else {
        "/usr/bin/docker"
    }
}

/// A store with the busybox image and a daemon on it, with `container` (when given)
/// running `sleep 1000` without a network.
pub fn daemon_with(container: Option<&str>) -> (TestStore, Daemon) {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    if let Some(name) = container {
        daemon.docker_ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "busybox",
            "sleep",
            "1000",
        ]);
    }
    (store, daemon)
}

pub struct Daemon {
    child: Option<Child>,
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    config_dir: PathBuf,
    stderr: PathBuf,
}

impl Daemon {
    /// Starts `berth daemon` on `store` with a unix socket and `extra` flags, and
    /// waits for it to answer.
    pub fn start(store: &TestStore, extra: &[&str]) -> Daemon {
        let dir = store.dir.path();
        let socket = dir.join("berth.sock");
        let pidfile = dir.join("daemon.pid");
        let mut command = store.command();
        command
            .args(["daemon", "-H", &format!("unix://{}", socket.display())])
            .arg("-p")
            .arg(&pidfile)
            .args(extra);
        Daemon::spawn(store, command, socket, pidfile)
    }

    /// Starts `command`, a berth daemon the caller set up to listen on `socket`
    /// (among others) and write `pidfile`, and waits for it to answer on `socket`.
    pub fn spawn(
        store: &TestStore,
        mut command: Command,
        socket: PathBuf,
        pidfile: PathBuf,
    ) -> Daemon {
        let dir = store.dir.path();
        let stderr = dir.join("daemon.log");
        let log = std::fs::File::create(&stderr).expect("daemon log");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start berth daemon");
        let config_dir = dir.join("docker-config");
        std::fs::create_dir_all(&config_dir).expect("docker config dir");
        let mut daemon = Daemon {
            child: Some(child),
            socket,
            pidfile,
            config_dir,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_unix(&daemon.socket, "GET", "/_ping").is_none() {
            if let Some(status) = daemon
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("berth daemon exited ({status}):\n{}", daemon.log());
            }
            assert!(
                Instant::now() < deadline,
                "berth daemon did not answer:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running daemon").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The docker CLI pointed at this daemon, for the caller to add arguments and
    /// stdio to.
    pub fn docker_command(&self) -> Command {
        let mut command = Command::new(docker_cli());
        command
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.config_dir);
        command
    }

    /// The docker CLI pointed at this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the docker CLI")
    }

    /// The docker CLI's stdout, failing the test on a non-zero exit.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({:?}):\n{}{}\ndaemon log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A request on the unix socket: status, headers (lower-case names), body.
    pub fn http(&self, method: &str, path: &str) -> Response {
        http_unix(&self.socket, method, path).expect("the daemon answers")
    }

    /// A request with a JSON body on the unix socket.
    pub fn http_with_body(&self, method: &str, path: &str, body: &str) -> Response {
        let stream = std::os::unix::net::UnixStream::connect(&self.socket).expect("connect");
        exchange_with_body(stream, method, path, body).expect("the daemon answers")
    }

    /// SIGTERM, and the daemon's exit status once it has gone.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("a running daemon");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().expect("wait for the daemon");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

fn http_unix(socket: &std::path::Path, method: &str, path: &str) -> Option<Response> {
    let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    exchange(stream, method, path)
}

/// A request over TCP (a daemon listening on 127.0.0.1).
pub fn http_tcp(address: &str, method: &str, path: &str) -> Option<Response> {
    let stream = std::net::TcpStream::connect(address).ok()?;
    exchange(stream, method, path)
}

/// HTTP/1.1 with `Connection: close`: the body is what comes until the end.
fn exchange(stream: impl Read + Write, method: &str, path: &str) -> Option<Response> {
    exchange_with_body(stream, method, path, "")
}

fn exchange_with_body(
    mut stream: impl Read + Write,
    method: &str,
    path: &str,
    body: &str,
) -> Option<Response> {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Response {
        status,
        headers,
        body: body.to_string(),
    })
}
