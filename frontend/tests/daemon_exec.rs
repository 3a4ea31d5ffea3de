//! `berth daemon`'s exec endpoints driven by the docker CLI (`exec`, `-d`, `-i`,
//! `-it` on a tmux terminal, `-e/-u/-w`) and by plain HTTP for what a hostile or
//! careless client sends.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::daemon::{docker_cli, Daemon};
use support::TestStore;

/// Long enough for a loaded machine; only ever reached when something hangs.
const HANG: Duration = Duration::from_secs(120);

fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + HANG;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A store with busybox, its daemon, and a running container `box`.
fn daemon_with_a_running_container() -> (TestStore, Daemon) {
    support::daemon::daemon_with(Some("box"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Creates an exec through the API; its id.
fn create_exec(daemon: &Daemon, container: &str, body: &str) -> String {
    let created = daemon.http_with_body("POST", &format!("/containers/{container}/exec"), body);
    assert_eq!(created.status, 201, "{created:?}\n{}", daemon.log());
    created.json()["Id"].as_str().expect("an Id").to_string()
}

/// `POST /exec/{id}/start` taken over as the docker CLI takes it: the connection,
/// past the daemon's 101.
fn start_attached(daemon: &Daemon, id: &str) -> UnixStream {
    let mut stream = UnixStream::connect(&daemon.socket).expect("connect");
    let body = r#"{"Detach":false,"Tty":false}"#;
    let request = format!(
        "POST /v1.41/exec/{id}/start HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("send the start");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).expect("read the answer"),
            1,
            "{head:?}"
        );
        head.push(byte[0]);
    }
    assert!(
        text(&head).starts_with("HTTP/1.1 101"),
        "{}\n{}",
        text(&head),
        daemon.log()
    );
    stream
}

/// Reads multiplexed frames until `stdout` holds `want`; stdout and stderr.
fn read_frames_until(stream: &mut UnixStream, want: &str) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while !text(&out).contains(want) {
        let mut header = [0u8; 8];
        if stream.read_exact(&mut header).is_err() {
            break;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = vec![0u8; len];
        stream.read_exact(&mut data).expect("a whole frame");
        match header[0] {
            1 => out.extend(data),
            2 => err.extend(data),
            other => panic!("stream id {other}"),
        }
    }
    (text(&out), text(&err))
}

fn top_shows(daemon: &Daemon, container: &str, needle: &str) -> bool {
    daemon.docker_ok(&["top", container]).contains(needle)
}

#[test]
fn docker_exec_prints_the_output_and_exits_with_the_commands_code() {
    let (_store, daemon) = daemon_with_a_running_container();
    assert_eq!(
        daemon.docker_ok(&["exec", "box", "echo", "hello"]),
        "hello\n"
    );
    let failed = daemon.docker(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(failed.status.code(), Some(3), "{failed:?}");
    assert_eq!(text(&failed.stdout), "out\n");
    assert_eq!(text(&failed.stderr), "err\n");
    // With a terminal (and no input): the pty's raw output, one stream.
    let tty = daemon.docker(&["exec", "-t", "box", "sh", "-c", "echo on tty >&2; exit 4"]);
    assert_eq!(tty.status.code(), Some(4), "{tty:?}");
    assert_eq!(text(&tty.stdout), "on tty\r\n");
    // A command that cannot run: dockerd's 126, with the runtime's reason.
    let missing = daemon.docker(&["exec", "box", "nosuchcommand"]);
    assert_eq!(missing.status.code(), Some(126), "{missing:?}");
    let said = text(&missing.stdout) + &text(&missing.stderr);
    assert!(said.contains("OCI runtime exec failed"), "{said}");
    assert!(said.contains("nosuchcommand"), "{said}");
    // Nothing of the sessions is left in the container's directory.
    let id = daemon.docker_ok(&["inspect", "--format", "{{.Id}}", "box"]);
    let sessions = _store
        .root()
        .join("containers")
        .join(id.trim())
        .join("exec");
    let left: Vec<_> = std::fs::read_dir(&sessions)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn docker_exec_d_runs_in_the_background() {
    let (_store, daemon) = daemon_with_a_running_container();
    let out = daemon.docker_ok(&[
        "exec",
        "-d",
        "box",
        "sh",
        "-c",
        "sleep 1; echo done > /tmp/marker",
    ]);
    assert_eq!(out, "");
    assert!(
        wait_until(|| daemon.docker(&["exec", "box", "cat", "/tmp/marker"]).stdout == b"done\n"),
        "{}",
        daemon.log()
    );
    let missing = daemon.docker(&["exec", "-d", "box", "nosuchcommand"]);
    assert!(!missing.status.success(), "{missing:?}");
    assert!(
        text(&missing.stderr).contains("nosuchcommand"),
        "{missing:?}"
    );
}

#[test]
fn docker_exec_takes_env_user_workdir_and_privileged() {
    let (_store, daemon) = daemon_with_a_running_container();
    let out = daemon.docker_ok(&[
        "exec",
        "-e",
        "GREETING=hi there",
        "-u",
        "1000:1000",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "echo $GREETING; id -u; id -g; pwd",
    ]);
    assert_eq!(out, "hi there\n1000\n1000\n/tmp\n");
    let caps = |extra: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend(["box", "grep", "CapEff", "/proc/self/status"]);
        daemon.docker_ok(&args)
    };
    let plain = caps(&[]);
    let privileged = caps(&["--privileged"]);
    assert_ne!(plain, privileged, "--privileged adds capabilities");
}

#[test]
fn docker_exec_i_feeds_piped_stdin_to_the_command() {
    let (store, daemon) = daemon_with_a_running_container();
    let mut child = Command::new(docker_cli())
        .arg("-H")
        .arg(format!("unix://{}", daemon.socket.display()))
        .args(["exec", "-i", "box", "sh", "-c", "cat; echo end"])
        .env("DOCKER_CONFIG", store.dir.path().join("docker-config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker exec -i");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"piped in\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("docker exec -i");
    assert!(out.status.success(), "{out:?}\n{}", daemon.log());
    assert_eq!(text(&out.stdout), "piped in\nend\n");
}

#[test]
fn docker_exec_it_gives_a_shell_on_a_terminal_of_the_clients_size() {
    let (store, daemon) = daemon_with_a_running_container();
    let docker = format!(
        "DOCKER_CONFIG={} {} -H unix://{}",
        store.dir.path().join("docker-config").display(),
        docker_cli(),
        daemon.socket.display()
    );
    let tmux = support::tmux::Tmux::start(
        "daemon-exec-it",
        &format!("{docker} exec -it box sh; echo exec-exited-$?; sleep 600"),
    );
    assert!(tmux.type_until("echo $((6*7))", "42"), "{}", tmux.history());
    // tmux's pane is 100 columns by 30 rows: the resize reached the session's pty.
    assert!(tmux.type_until("stty size", "30 100"), "{}", tmux.history());
    tmux.keys(&["exit 5", "Enter"]);
    assert!(tmux.wait_text("exec-exited-5"), "{}", tmux.history());
    let ids = daemon.docker_ok(&["inspect", "--format", "{{json .ExecIDs}}", "box"]);
    assert_eq!(ids.trim(), "null");
    // Left with the detach keys, the shell runs on.
    let tmux = support::tmux::Tmux::start(
        "daemon-exec-detach",
        &format!("{docker} exec -it box sh; echo exec-left-$?; sleep 600"),
    );
    assert!(tmux.type_until("echo $((6*8))", "48"), "{}", tmux.history());
    tmux.keys(&["C-p", "C-q"]);
    assert!(tmux.wait_text("exec-left-"), "{}", tmux.history());
    let ids = daemon.docker_ok(&["inspect", "--format", "{{json .ExecIDs}}", "box"]);
    let ids: Vec<String> = serde_json::from_str(ids.trim()).expect("a list of ids");
    assert_eq!(ids.len(), 1);
    let exec = daemon.http("GET", &format!("/exec/{}/json", ids[0])).json();
    assert_eq!(exec["Running"], true, "{exec}");
    assert!(exec["Pid"].as_i64().is_some_and(|pid| pid > 0), "{exec}");
}

#[test]
fn inspect_shows_live_execs_and_exec_inspect_their_state() {
    let (_store, daemon) = daemon_with_a_running_container();
    let id = create_exec(
        &daemon,
        "box",
        r#"{"Cmd":["sh","-c","exit 7"],"AttachStdout":true,"User":"1000"}"#,
    );
    let ids = daemon.docker_ok(&["inspect", "--format", "{{json .ExecIDs}}", "box"]);
    assert_eq!(ids.trim(), format!("[\"{id}\"]"));
    let created = daemon.http("GET", &format!("/exec/{id}/json")).json();
    assert_eq!(created["Running"], false);
    assert_eq!(created["ExitCode"], serde_json::Value::Null);
    assert_eq!(created["ProcessConfig"]["entrypoint"], "sh");
    assert_eq!(
        created["ProcessConfig"]["arguments"],
        serde_json::json!(["-c", "exit 7"])
    );
    assert_eq!(created["ProcessConfig"]["user"], "1000");
    assert_eq!(created["OpenStdout"], true);
    assert_eq!(created["OpenStdin"], false);
    let full_id = daemon.docker_ok(&["inspect", "--format", "{{.Id}}", "box"]);
    assert_eq!(created["ContainerID"], full_id.trim());
    let started = daemon.http_with_body("POST", &format!("/exec/{id}/start"), r#"{"Detach":true}"#);
    assert_eq!(started.status, 200, "{started:?}");
    assert!(
        wait_until(|| daemon.http("GET", &format!("/exec/{id}/json")).json()["ExitCode"] == 7),
        "{}",
        daemon.log()
    );
    let ended = daemon.http("GET", &format!("/exec/{id}/json")).json();
    assert_eq!(ended["Running"], false);
    let ids = daemon.docker_ok(&["inspect", "--format", "{{json .ExecIDs}}", "box"]);
    assert_eq!(ids.trim(), "null");
    let again = daemon.http_with_body("POST", &format!("/exec/{id}/start"), r#"{"Detach":true}"#);
    assert_eq!(again.status, 409, "{again:?}");
    assert!(again.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("has already run")));
}

#[test]
fn bad_exec_requests_get_dockers_errors() {
    let (_store, daemon) = daemon_with_a_running_container();
    let message =
        |r: &support::daemon::Response| r.json()["message"].as_str().unwrap_or("").to_string();
    let malformed = daemon.http_with_body("POST", "/containers/box/exec", r#"{"Cmd":["sh""#);
    assert_eq!(malformed.status, 400, "{malformed:?}");
    let wrong_type = daemon.http_with_body("POST", "/containers/box/exec", r#"{"Cmd":"sh"}"#);
    assert_eq!(wrong_type.status, 400, "{wrong_type:?}");
    let no_command = daemon.http_with_body("POST", "/containers/box/exec", r#"{"Cmd":[]}"#);
    assert_eq!(no_command.status, 400);
    assert_eq!(message(&no_command), "No exec command specified");
    let keys = daemon.http_with_body(
        "POST",
        "/containers/box/exec",
        r#"{"Cmd":["sh"],"DetachKeys":"ctrl-"}"#,
    );
    assert_eq!(keys.status, 400, "{keys:?}");
    let nosuch = daemon.http_with_body("POST", "/containers/nosuch/exec", r#"{"Cmd":["sh"]}"#);
    assert_eq!(nosuch.status, 404);
    assert_eq!(message(&nosuch), "No such container: nosuch");
    for (method, path, body) in [
        ("POST", "/exec/0123abc/start", r#"{"Detach":true}"#),
        ("GET", "/exec/0123abc/json", ""),
        ("POST", "/exec/0123abc/resize?h=10&w=20", ""),
    ] {
        let unknown = daemon.http_with_body(method, path, body);
        assert_eq!(unknown.status, 404, "{path}: {unknown:?}");
        assert_eq!(message(&unknown), "No such exec instance: 0123abc");
    }
    let id = create_exec(&daemon, "box", r#"{"Cmd":["true"]}"#);
    let bad_start = daemon.http_with_body("POST", &format!("/exec/{id}/start"), "{");
    assert_eq!(bad_start.status, 400, "{bad_start:?}");
    let bad_size = daemon.http_with_body("POST", &format!("/exec/{id}/resize?h=x&w=1"), "");
    assert_eq!(bad_size.status, 400, "{bad_size:?}");
    // A stopped container takes no exec, and one made before the stop cannot start.
    daemon.docker_ok(&["stop", "-t", "0", "box"]);
    let full_id = daemon.docker_ok(&["inspect", "--format", "{{.Id}}", "box"]);
    let stopped = daemon.http_with_body("POST", "/containers/box/exec", r#"{"Cmd":["sh"]}"#);
    assert_eq!(stopped.status, 409, "{stopped:?}");
    assert_eq!(
        message(&stopped),
        format!("Container {} is not running", full_id.trim())
    );
    let late = daemon.http_with_body("POST", &format!("/exec/{id}/start"), r#"{"Detach":true}"#);
    assert_eq!(late.status, 409, "{late:?}");
    let cli = daemon.docker(&["exec", "box", "true"]);
    assert_eq!(cli.status.code(), Some(1), "{cli:?}");
    assert!(text(&cli.stderr).contains("is not running"), "{cli:?}");
}

#[test]
fn a_client_that_disconnects_mid_exec_takes_its_process_along() {
    let (_store, daemon) = daemon_with_a_running_container();
    // Over plain HTTP: the connection closes after the first output.
    let id = create_exec(
        &daemon,
        "box",
        r#"{"Cmd":["sh","-c","echo started; exec sleep 1201"],"AttachStdout":true,"AttachStderr":true}"#,
    );
    let mut stream = start_attached(&daemon, &id);
    let (out, _) = read_frames_until(&mut stream, "started");
    assert_eq!(out, "started\n");
    assert!(top_shows(&daemon, "box", "sleep 1201"));
    drop(stream);
    assert!(
        wait_until(|| !top_shows(&daemon, "box", "sleep 1201")),
        "{}",
        daemon.docker_ok(&["top", "box"])
    );
    assert!(wait_until(|| daemon
        .http("GET", &format!("/exec/{id}/json"))
        .json()["Running"]
        == false));
    // The docker CLI killed mid-exec: the shell and what it started go.
    let mut cli = Command::new(docker_cli())
        .arg("-H")
        .arg(format!("unix://{}", daemon.socket.display()))
        .args(["exec", "box", "sh", "-c", "sleep 1202; echo never"])
        .env("DOCKER_CONFIG", _store.dir.path().join("docker-config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker exec");
    assert!(wait_until(|| top_shows(&daemon, "box", "sleep 1202")));
    cli.kill().expect("kill the docker CLI");
    cli.wait().expect("reap the docker CLI");
    assert!(
        wait_until(|| !top_shows(&daemon, "box", "sleep 1202")),
        "{}",
        daemon.docker_ok(&["top", "box"])
    );
    // The container itself runs on.
    let running = daemon.docker_ok(&["inspect", "--format", "{{.State.Running}}", "box"]);
    assert_eq!(running.trim(), "true");
}
