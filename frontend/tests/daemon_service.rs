//! How `berth daemon` is started, configured and secured, as dockerd is: TLS on its
//! TCP listeners (certificates made by the openssl CLI, checked by the docker CLI),
//! daemon.json and its reload on SIGHUP, systemd's socket activation (`fd://`, with a
//! launcher standing in for systemd), and `make install`'s init script and units.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        all_output(&out)
    );
}

/// A CA (`NAME-ca.pem`, `NAME-ca-key.pem`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    let key = format!("{name}-ca-key.pem");
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-sha256",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-out",
            &format!("{name}-ca.pem"),
        ],
    );
}

/// A certificate `NAME-cert.pem` with key `NAME-key.pem`, signed by CA `ca`, with the
/// given extensions (openssl's extfile syntax).
fn make_cert(dir: &Path, ca: &str, name: &str, extensions: &str) {
    let key = format!("{name}-key.pem");
    let csr = format!("{name}.csr");
    let ext = format!("{name}.ext");
    fs::write(dir.join(&ext), extensions).expect("extensions file");
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}-ca.pem"),
            "-CAkey",
            &format!("{ca}-ca-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            &ext,
            "-out",
            &format!("{name}-cert.pem"),
        ],
    );
}

/// The certificates of the TLS tests, under the store's dir: a CA with a server and
/// a client certificate, and a client certificate of another CA.
fn make_certificates(store: &TestStore) -> PathBuf {
    let dir = store.dir.path().join("certs");
    fs::create_dir_all(&dir).expect("certs dir");
    make_ca(&dir, "berth");
    make_ca(&dir, "stranger");
    make_cert(
        &dir,
        "berth",
        "server",
        "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n",
    );
    make_cert(&dir, "berth", "client", "extendedKeyUsage = clientAuth\n");
    make_cert(
        &dir,
        "stranger",
        "intruder",
        "extendedKeyUsage = clientAuth\n",
    );
    dir
}

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
