//! How `berth daemon` is started, configured and secured, as dockerd is: TLS on its
//! TCP listeners (certificates made by the openssl CLI, checked by the docker CLI),
//! daemon.json and its reload on SIGHUP, systemd's socket activation (`fd://`, with a
//! launcher standing in for systemd), and `make install`'s init script and units.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::certs::make_certificates;
use support::daemon::{docker_cli, Daemon};
use support::TestStore;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn all_output(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// Waits (boundedly) until `done` holds; what it waited for names the failure.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The docker CLI in the store's network namespace (where the daemon's TCP
/// listeners are), with a config dir of its own so no default certificate is found.
fn docker_in(store: &TestStore, args: &[&str]) -> Output {
    let config = store.dir.path().join("docker-client");
    fs::create_dir_all(&config).expect("docker config dir");
    let netns = store
        .netns()
        .expect("a store with its own network namespace");
    Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .arg("--")
        .arg(docker_cli())
        .args(args)
        .env("DOCKER_CONFIG", &config)
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .output()
        .expect("run the docker CLI")
}

fn server_api_version(out: &Output) -> String {
    assert!(out.status.success(), "docker failed: {}", all_output(out));
    text(&out.stdout).trim().to_string()
}

// ---- TLS ----

fn path_arg(dir: &Path, file: &str) -> String {
    dir.join(file).display().to_string()
}

#[test]
fn tlsverify_serves_clients_with_a_certificate_of_the_ca_and_refuses_the_rest() {
    let store = TestStore::new();
    let certs = make_certificates(&store);
    let (ca, cert, key) = (
        path_arg(&certs, "berth-ca.pem"),
        path_arg(&certs, "server-cert.pem"),
        path_arg(&certs, "server-key.pem"),
    );
    // Beyond loopback is allowed with TLS (in the store's own namespace, where
    // nothing else is), and a TCP host without a port gets dockerd's TLS port.
    let daemon = Daemon::start(
        &store,
        &[
            "-H",
            "tcp://0.0.0.0",
            "--tlsverify",
            "--tlscacert",
            &ca,
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
        ],
    );
    let host = "tcp://127.0.0.1:2376";
    let client_cert = path_arg(&certs, "client-cert.pem");
    let client_key = path_arg(&certs, "client-key.pem");
    let version = docker_in(
        &store,
        &[
            "--tlsverify",
            "--tlscacert",
            &ca,
            "--tlscert",
            &client_cert,
            "--tlskey",
            &client_key,
            "-H",
            host,
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        ],
    );
    assert_eq!(server_api_version(&version), "1.41");

    let without_cert = docker_in(
        &store,
        &["--tlsverify", "--tlscacert", &ca, "-H", host, "version"],
    );
    assert!(
        !without_cert.status.success(),
        "a client without a certificate was served: {}",
        all_output(&without_cert)
    );

    let stranger = docker_in(
        &store,
        &[
            "--tlsverify",
            "--tlscacert",
            &ca,
            "--tlscert",
            &path_arg(&certs, "intruder-cert.pem"),
            "--tlskey",
            &path_arg(&certs, "intruder-key.pem"),
            "-H",
            host,
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        ],
    );
    assert!(
        !stranger.status.success(),
        "a certificate of another CA was accepted: {}",
        all_output(&stranger)
    );

    // Plain HTTP to the TLS port gets Go's answer for it, which the CLI shows.
    let plain = docker_in(&store, &["-H", host, "version"]);
    assert!(!plain.status.success());
    assert!(
        all_output(&plain).contains("Client sent an HTTP request to an HTTPS server"),
        "{}",
        all_output(&plain)
    );
    assert!(
        daemon.log().contains("TLS handshake error from 127.0.0.1"),
        "{}",
        daemon.log()
    );
}

#[test]
fn tls_alone_encrypts_with_the_default_certificates_and_asks_clients_for_none() {
    let store = TestStore::new();
    let certs = make_certificates(&store);
    // dockerd's defaults: ca.pem, cert.pem and key.pem in ~/.docker.
    let home = store.dir.path().join("home");
    let docker_dir = home.join(".docker");
    fs::create_dir_all(&docker_dir).expect("~/.docker");
    for (from, to) in [
        ("berth-ca.pem", "ca.pem"),
        ("server-cert.pem", "cert.pem"),
        ("server-key.pem", "key.pem"),
    ] {
        fs::copy(certs.join(from), docker_dir.join(to)).expect("copy a certificate");
    }
    let dir = store.dir.path();
    let socket = dir.join("berth.sock");
    let pidfile = dir.join("daemon.pid");
    let mut command = store.command();
    command
        .args(["daemon", "--tls", "-H", "tcp://127.0.0.1:2376", "-p"])
        .arg(&pidfile)
        .args(["-H", &format!("unix://{}", socket.display())])
        .env("HOME", &home)
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_CONFIG");
    let _daemon = Daemon::spawn(&store, command, socket, pidfile);
    let ca = path_arg(&certs, "berth-ca.pem");
    // The server is verified against the CA; the client shows nothing.
    let verified = docker_in(
        &store,
        &[
            "--tlsverify",
            "--tlscacert",
            &ca,
            "-H",
            "tcp://127.0.0.1:2376",
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        ],
    );
    assert_eq!(server_api_version(&verified), "1.41");
    // --tls without --tlsverify on the client's side: the server's certificate is
    // not checked (the CA given is not the one that signed it).
    let unverified = docker_in(
        &store,
        &[
            "--tls",
            "--tlscacert",
            &path_arg(&certs, "stranger-ca.pem"),
            "-H",
            "tcp://127.0.0.1:2376",
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        ],
    );
    assert_eq!(server_api_version(&unverified), "1.41");
}

#[test]
fn tls_files_that_are_missing_or_wrong_are_named() {
    let store = TestStore::on_host();
    let certs = make_certificates(&store);
    let missing = store.dir.path().join("no-such-cert.pem");
    let stderr = store.fails(&[
        "daemon",
        "-H",
        "tcp://127.0.0.1:0",
        "--tlsverify",
        "--tlscacert",
        &path_arg(&certs, "berth-ca.pem"),
        "--tlscert",
        &missing.display().to_string(),
        "--tlskey",
        &path_arg(&certs, "server-key.pem"),
    ]);
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    // A key that is not the certificate's.
    let stderr = store.fails(&[
        "daemon",
        "-H",
        "tcp://127.0.0.1:0",
        "--tls",
        "--tlscert",
        &path_arg(&certs, "server-cert.pem"),
        "--tlskey",
        &path_arg(&certs, "client-key.pem"),
    ]);
    assert!(stderr.contains("server-cert.pem"), "{stderr}");
}

// ---- daemon.json ----

fn write_config(store: &TestStore, json: &str) -> PathBuf {
    let path = store.dir.path().join("daemon.json");
    fs::write(&path, json).expect("write daemon.json");
    path
}

fn info_debug(daemon: &Daemon) -> String {
    daemon
        .docker_ok(&["info", "--format", "{{.Debug}}"])
        .trim()
        .to_string()
}

#[test]
fn daemon_json_gives_hosts_pidfile_and_debug() {
    let store = TestStore::on_host();
    let socket = store.dir.path().join("from-file.sock");
    let pidfile = store.dir.path().join("from-file.pid");
    let config = write_config(
        &store,
        &format!(
            r#"{{"hosts": ["unix://{}"], "pidfile": "{}", "debug": true, "data-root": "{}"}}"#,
            socket.display(),
            pidfile.display(),
            store.root().display()
        ),
    );
    let mut command = store.command();
    command.args(["daemon", "--config-file"]).arg(&config);
    let daemon = Daemon::spawn(&store, command, socket, pidfile.clone());
    let written = fs::read_to_string(&pidfile).expect("the pid file daemon.json names");
    assert_eq!(written.trim(), daemon.pid().to_string());
    assert_eq!(info_debug(&daemon), "true");
    assert!(
        daemon.log().contains("Calling GET /v1.41/info"),
        "debug logs each request:\n{}",
        daemon.log()
    );
    let validated = store.ok(&[
        "daemon",
        "--validate",
        "--config-file",
        &config.display().to_string(),
    ]);
    assert_eq!(validated.trim(), "configuration OK");
}

#[test]
fn daemon_json_errors_are_dockerds() {
    let store = TestStore::on_host();
    let socket = format!("unix://{}/x.sock", store.dir.path().display());
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            r#"{"debug": true, "log-opts": {}, "bogus": 1}"#,
            vec![],
            "the following directives don't match any configuration option: bogus, log-opts",
        ),
        (
            r#"{"debug": false}"#,
            vec!["-D"],
            "the following directives are specified both as a flag and in the configuration \
             file: debug: (from flag: true, from file: false)",
        ),
        (
            r#"{"hosts": ["tcp://127.0.0.1:2375"]}"#,
            vec!["-H", &socket],
            "hosts: (from flag: [unix://",
        ),
        (
            r#"{"debug": "#,
            vec![],
            "unable to configure the berth daemon with file",
        ),
        (r#"{"debug": "yes"}"#, vec![], "\"debug\""),
        (
            r#"{"hosts": ["http://x"]}"#,
            vec![],
            "invalid -H value \"http://x\"",
        ),
    ];
    for (json, flags, expected) in cases {
        let config = write_config(&store, json);
        let config = config.display().to_string();
        let mut args = vec!["daemon", "--config-file", &config];
        args.extend(flags.iter().copied());
        let stderr = store.fails(&args);
        assert!(stderr.contains(expected), "{json} {flags:?}: {stderr}");
        if !expected.contains("-H value") {
            assert!(stderr.contains(&config), "the file is named: {stderr}");
        }
        let mut validate = vec!["daemon", "--validate", "--config-file", &config];
        validate.extend(flags.iter().copied());
        let validate = store.berth(&validate);
        assert!(!validate.status.success(), "--validate passed {json}");
    }
    let missing = store.dir.path().join("missing.json").display().to_string();
    let stderr = store.fails(&["daemon", "--config-file", &missing]);
    assert!(stderr.contains(&missing), "{stderr}");
    assert!(
        !store.dir.path().join("x.sock").exists(),
        "a refused daemon left its socket"
    );
}

#[test]
fn sighup_reloads_debug_and_a_bad_file_keeps_the_configuration_in_force() {
    let store = TestStore::on_host();
    let config = write_config(&store, r#"{"debug": false}"#);
    let daemon = Daemon::start(&store, &["--config-file", &config.display().to_string()]);
    let pid = nix::unistd::Pid::from_raw(daemon.pid() as i32);
    let hup = || nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    assert_eq!(info_debug(&daemon), "false");
    assert!(!daemon.log().contains("Calling"), "{}", daemon.log());

    fs::write(&config, r#"{"debug": true}"#).unwrap();
    hup();
    wait_until("debug after the reload", || info_debug(&daemon) == "true");
    assert!(daemon.log().contains("Calling GET"), "{}", daemon.log());

    for (round, bad) in [r#"{"debug": "#, r#"{"debug": false, "bogus": 1}"#]
        .into_iter()
        .enumerate()
    {
        fs::write(&config, bad).unwrap();
        hup();
        wait_until("the failed reload's report", || {
            daemon.log().matches("reload failed").count() == round + 1
        });
        assert_eq!(info_debug(&daemon), "true", "a bad file changed nothing");
    }
    assert!(daemon.log().contains("bogus"), "{}", daemon.log());

    // A key the file leaves out keeps its value; the file's false turns it off.
    fs::write(&config, "{}").unwrap();
    hup();
    wait_until("the second reload", || {
        daemon.log().matches("berth daemon: reloaded").count() == 2
    });
    assert_eq!(info_debug(&daemon), "true");
    fs::write(&config, r#"{"debug": false}"#).unwrap();
    hup();
    wait_until("debug off", || info_debug(&daemon) == "false");
}

// ---- socket activation ----

/// What systemd does for a socket unit, in small: binds the sockets given as
/// `unix:PATH` or `tcp:PORT` (on 127.0.0.1), puts them at fds 3, 4, ... and execs
/// the command with LISTEN_PID (its own pid, which exec keeps), LISTEN_FDS and
/// LISTEN_FDNAMES.
const LAUNCHER: &str = r#"
import fcntl, os, socket, sys
sockets, command = sys.argv[1].split(","), sys.argv[2:]
high = []
for spec in sockets:
    kind, where = spec.split(":", 1)
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(where)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(where)))
    s.listen(64)
    # Out of the way of 3, 4, ... first, close-on-exec: only the copies below pass.
    high.append(fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 100))
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = str(len(high))
os.environ["LISTEN_FDNAMES"] = ":".join("sock%d" % i for i in range(len(high)))
os.execv(command[0], command)
"#;

/// `berth daemon` under the launcher, in the store's network namespace.
fn activated_command(store: &TestStore, sockets: &str, daemon_args: &[&str]) -> Command {
    let netns = store
        .netns()
        .expect("a store with its own network namespace");
    let mut command = Command::new("nsenter");
    command
        .arg(format!("--net={}", netns.display()))
        .args(["--", "python3", "-c", LAUNCHER, sockets])
        .arg(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(store.root())
        .arg("daemon")
        .args(daemon_args);
    command
}

fn has_close_on_exec(pid: u32, fd: i32) -> bool {
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).expect("fdinfo");
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .expect("flags in fdinfo");
    flags & 0o2000000 != 0
}

#[test]
fn fd_serves_every_socket_systemd_passed() {
    let store = TestStore::new();
    let socket = store.dir.path().join("activated.sock");
    let pidfile = store.dir.path().join("daemon.pid");
    let sockets = format!("unix:{},tcp:2375", socket.display());
    let pid_arg = pidfile.display().to_string();
    let command = activated_command(&store, &sockets, &["-H", "fd://", "-p", &pid_arg]);
    let daemon = Daemon::spawn(&store, command, socket, pidfile);
    assert_eq!(
        daemon
            .docker_ok(&["version", "--format", "{{.Server.APIVersion}}"])
            .trim(),
        "1.41"
    );
    let tcp = docker_in(
        &store,
        &[
            "-H",
            "tcp://127.0.0.1:2375",
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        ],
    );
    assert_eq!(server_api_version(&tcp), "1.41");
    assert!(
        daemon.log().contains("fd://3 (sock0)") && daemon.log().contains("fd://4 (sock1)"),
        "{}",
        daemon.log()
    );
    // The shims the daemon starts must not inherit the sockets.
    let pid = daemon.pid();
    assert!(has_close_on_exec(pid, 3) && has_close_on_exec(pid, 4));
}

#[test]
fn fd_n_serves_that_socket_and_closes_the_others() {
    let store = TestStore::new();
    let socket = store.dir.path().join("activated.sock");
    let pidfile = store.dir.path().join("daemon.pid");
    // TCP at fd 3, the unix socket at fd 4: fd://4 takes the unix one only.
    let sockets = format!("tcp:2375,unix:{}", socket.display());
    let pid_arg = pidfile.display().to_string();
    let command = activated_command(&store, &sockets, &["-H", "fd://4", "-p", &pid_arg]);
    let daemon = Daemon::spawn(&store, command, socket, pidfile);
    daemon.docker_ok(&["version"]);
    let tcp = docker_in(&store, &["-H", "tcp://127.0.0.1:2375", "version"]);
    // Refused, not left pending in a backlog: the socket is closed.
    assert!(
        !tcp.status.success() && all_output(&tcp).contains("Cannot connect to the Docker daemon"),
        "fd 3 was not asked for and still served: {}",
        all_output(&tcp)
    );
}

#[test]
fn fd_without_passed_sockets_or_beyond_them_is_a_clear_error() {
    let store = TestStore::new();
    let stderr = store.fails(&["daemon", "-H", "fd://"]);
    assert!(
        stderr.contains("no sockets found via socket activation"),
        "{stderr}"
    );
    // LISTEN_PID naming another process: the sockets are not this one's.
    let out = store.berth_with_env(
        &["daemon", "-H", "fd://"],
        &[],
        &[("LISTEN_PID", "1"), ("LISTEN_FDS", "1")],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no sockets found via socket activation"),
        "{}",
        text(&out.stderr)
    );
    let socket = store.dir.path().join("activated.sock");
    let out = activated_command(
        &store,
        &format!("unix:{}", socket.display()),
        &["-H", "fd://5"],
    )
    .output()
    .expect("run the launcher");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("fd://5: too few socket activated files passed in by systemd"),
        "{}",
        all_output(&out)
    );
}

// ---- make install: the init script and the systemd units ----

/// The workspace's root, where the Makefile is.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// `make install-files` with this build's binaries (berth-shim and berth-runtime
/// sit beside the test's berth once the workspace is built) and `vars`.
fn make_install(vars: &[String]) {
    let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
    let bin_dir = berth.parent().expect("the binaries' dir");
    for name in ["berth-shim", "berth-runtime"] {
        assert!(
            bin_dir.join(name).exists(),
            "{name} is not built next to {}: run cargo build --workspace first",
            berth.display()
        );
    }
    let out = Command::new("make")
        .arg("-C")
        .arg(workspace())
        .arg("--no-print-directory")
        .arg("install-files")
        .arg(format!("RELEASE_BERTH={}", berth.display()))
        .arg(format!(
            "RELEASE_SHIM={}",
            bin_dir.join("berth-shim").display()
        ))
        .arg(format!(
            "RELEASE_BIN={}",
            bin_dir.join("berth-runtime").display()
        ))
        .args(vars)
        .output()
        .expect("run make");
    assert!(
        out.status.success(),
        "make install-files: {}",
        all_output(&out)
    );
}

/// The installed init script run as `service` would run it, reading `defaults`
/// instead of /etc/default/berth; stopped when dropped, whatever happened.
struct InitScript {
    script: PathBuf,
    defaults: PathBuf,
    pidfile: PathBuf,
}

impl InitScript {
    fn run(&self, action: &str) -> Output {
        Command::new(&self.script)
            .arg(action)
            .env("BERTH_DEFAULTS", &self.defaults)
            .stdin(Stdio::null())
            .output()
            .expect("run the init script")
    }
}

impl Drop for InitScript {
    fn drop(&mut self) {
        let _ = self.run("stop");
        // A stop that failed leaves the daemon: end it by the pid it wrote.
        if let Some(pid) = fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[test]
fn the_init_script_starts_reports_reloads_and_stops_the_daemon() {
    let store = TestStore::on_host();
    let dir = store.dir.path();
    let destdir = dir.join("destdir");
    make_install(&[format!("DESTDIR={}", destdir.display())]);
    for file in [
        "usr/local/bin/berth",
        "usr/local/bin/berth-shim",
        "usr/local/bin/berth-runtime",
        "etc/init.d/berth",
        "etc/default/berth",
        "lib/systemd/system/berth.service",
        "lib/systemd/system/berth.socket",
    ] {
        assert!(destdir.join(file).exists(), "{file} was not installed");
    }
    let script = destdir.join("etc/init.d/berth");
    let script_text = fs::read_to_string(&script).unwrap();
    assert!(script_text.contains("BERTH=/usr/local/bin/berth\n"));
    assert!(script_text.contains("### BEGIN INIT INFO"));
    let unit = fs::read_to_string(destdir.join("lib/systemd/system/berth.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/berth daemon -H fd:// $BERTH_OPTS"),
        "{unit}"
    );

    let socket = dir.join("service.sock");
    let pidfile = dir.join("service.pid");
    let logfile = dir.join("service.log");
    let config = write_config(&store, "{}");
    let defaults = dir.join("default-berth");
    fs::write(
        &defaults,
        format!(
            "BERTH={}\nBERTH_PIDFILE={}\nBERTH_LOGFILE={}\n\
             BERTH_OPTS=\"--data-root {} -H unix://{} --config-file {}\"\n",
            destdir.join("usr/local/bin/berth").display(),
            pidfile.display(),
            logfile.display(),
            store.root().display(),
            socket.display(),
            config.display()
        ),
    )
    .unwrap();
    let service = InitScript {
        script,
        defaults,
        pidfile: pidfile.clone(),
    };
    let log = || fs::read_to_string(&logfile).unwrap_or_default();
    let docker = |args: &[&str]| {
        Command::new(docker_cli())
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", dir.join("docker-client"))
            .output()
            .expect("run the docker CLI")
    };

    let stopped = service.run("status");
    assert_eq!(stopped.status.code(), Some(3), "{}", all_output(&stopped));
    let started = service.run("start");
    assert!(
        started.status.success(),
        "{}\n{}",
        all_output(&started),
        log()
    );
    let status = service.run("status");
    assert_eq!(status.status.code(), Some(0), "{}", all_output(&status));
    assert!(
        all_output(&status).contains("is running"),
        "{}",
        all_output(&status)
    );
    let again = service.run("start");
    assert!(again.status.success(), "{}", all_output(&again));
    assert!(all_output(&again).contains("already running"));

    // The pid file comes before the listener: wait for the socket to answer.
    wait_until("the daemon's socket", || {
        docker(&["version"]).status.success()
    });
    let version = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(server_api_version(&version), "1.41");
    assert!(log().contains("API listen on"), "{}", log());

    let reload = service.run("force-reload");
    assert!(reload.status.success(), "{}", all_output(&reload));
    wait_until("the reload in the log", || {
        log().contains("berth daemon: reloaded")
    });

    let stop = service.run("stop");
    assert!(stop.status.success(), "{}\n{}", all_output(&stop), log());
    let status = service.run("status");
    assert_eq!(status.status.code(), Some(3), "{}", all_output(&status));
    assert!(all_output(&status).contains("not running"));
    assert!(!pidfile.exists(), "the pid file stayed");
    assert!(!socket.exists(), "the socket stayed");
    assert!(!docker(&["version"]).status.success());
}

#[test]
fn a_daemon_that_cannot_start_fails_the_init_script_start() {
    let store = TestStore::on_host();
    let dir = store.dir.path();
    let destdir = dir.join("destdir");
    make_install(&[format!("DESTDIR={}", destdir.display())]);
    let pidfile = dir.join("service.pid");
    let logfile = dir.join("service.log");
    let defaults = dir.join("default-berth");
    fs::write(
        &defaults,
        format!(
            "BERTH={}\nBERTH_PIDFILE={}\nBERTH_LOGFILE={}\nBERTH_OPTS=\"-H bogus://x\"\n",
            destdir.join("usr/local/bin/berth").display(),
            pidfile.display(),
            logfile.display(),
        ),
    )
    .unwrap();
    let service = InitScript {
        script: destdir.join("etc/init.d/berth"),
        defaults,
        pidfile,
    };
    let start = service.run("start");
    assert!(!start.status.success(), "{}", all_output(&start));
    let log = fs::read_to_string(&logfile).unwrap_or_default();
    assert!(log.contains("invalid -H value"), "{log}");
    assert_eq!(service.run("status").status.code(), Some(3));
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: the units' syntax is not checked");
        return;
    }
    // Installed with a PREFIX that exists, so that verify finds ExecStart's binary.
    let store = TestStore::on_host();
    let dir = store.dir.path();
    let units = dir.join("units");
    make_install(&[
        format!("PREFIX={}", dir.join("prefix").display()),
        format!("INITDIR={}", dir.join("init.d").display()),
        format!("DEFAULTDIR={}", dir.join("default").display()),
        format!("UNITDIR={}", units.display()),
    ]);
    let socket_unit = fs::read_to_string(units.join("berth.socket")).unwrap();
    assert!(socket_unit.contains("ListenStream=/run/berth.sock"));
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(units.join("berth.socket"))
        .arg(units.join("berth.service"))
        .output()
        .expect("run systemd-analyze");
    assert!(
        out.status.success() && all_output(&out).trim().is_empty(),
        "systemd-analyze verify: {}",
        all_output(&out)
    );
}
