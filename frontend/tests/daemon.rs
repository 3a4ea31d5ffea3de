//! `berth daemon` driven by real clients: the docker CLI and plain HTTP, on the same
//! store as the berth CLI and at the same time.

mod support;

use support::daemon::{http_tcp, Daemon};
use support::TestStore;

fn store_with_a_running_container() -> TestStore {
    let store = TestStore::new();
    store.import_busybox("busybox");
    store.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "web",
        "busybox",
        "sleep",
        "1000",
    ]);
    store
}

#[test]
fn the_docker_cli_sees_what_the_berth_cli_made() {
    let store = store_with_a_running_container();
    let daemon = Daemon::start(&store, &[]);
    let version = daemon.docker_ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(version.trim(), "1.41");
    let ps = daemon.docker_ok(&[
        "ps",
        "--format",
        "{{.Names}}|{{.Image}}|{{.Command}}|{{.Status}}",
    ]);
    let row = ps.trim();
    assert!(row.starts_with("web|busybox|\"sleep 1000\"|Up "), "{row}");
    let berth_ids = store.ok(&["ps", "-a", "-q", "--no-trunc"]);
    assert_eq!(
        daemon.docker_ok(&["ps", "-a", "-q", "--no-trunc"]),
        berth_ids
    );
    let exited = daemon.docker_ok(&["ps", "-a", "-q", "--filter", "status=exited"]);
    assert_eq!(exited, "");
    let images = daemon.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.trim(), "busybox:latest");
    let inspect = daemon.docker_ok(&["inspect", "--format", "{{.Name}} {{.State.Running}}", "web"]);
    assert_eq!(inspect.trim(), "/web true");
    // The image's layers under the container, as dockerd names its lower dirs.
    let lower = daemon.docker_ok(&[
        "inspect",
        "--format",
        "{{.GraphDriver.Data.LowerDir}}",
        "web",
    ]);
    assert_eq!(
        lower,
        store.ok(&[
            "inspect",
            "--format",
            "{{.GraphDriver.Data.LowerDir}}",
            "web"
        ])
    );
    assert!(
        lower
            .trim()
            .split(':')
            .all(|dir| dir.starts_with('/') && std::path::Path::new(dir).is_dir()),
        "{lower}"
    );
    let image = daemon.docker_ok(&["image", "inspect", "--format", "{{.RepoTags}}", "busybox"]);
    assert_eq!(image.trim(), "[busybox:latest]");
    let info = daemon.docker_ok(&[
        "info",
        "--format",
        "{{.Containers}} {{.ContainersRunning}} {{.Images}} {{.Driver}}",
    ]);
    assert_eq!(info.trim(), "1 1 1 overlay2");
    let missing = daemon.docker(&["inspect", "nosuch"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("No such object: nosuch"),
        "{missing:?}"
    );
    // A container the berth CLI makes while the daemon runs shows at once.
    store.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "later",
        "busybox",
        "true",
    ]);
    let names = daemon.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert!(names.contains("later created"), "{names}");
    store.ok(&["rm", "-f", "web", "later"]);
}

#[test]
fn versions_and_errors_are_dockers() {
    let store = store_with_a_running_container();
    let daemon = Daemon::start(&store, &[]);
    let ping = daemon.http("GET", "/_ping");
    assert_eq!((ping.status, ping.body.as_str()), (200, "OK"));
    assert_eq!(ping.header("api-version"), Some("1.41"));
    assert_eq!(ping.header("ostype"), Some("linux"));
    let info = daemon.http("GET", "/info").json();
    assert_eq!(
        info["RegistryConfig"]["IndexConfigs"]["docker.io"]["Official"],
        true
    );
    assert_eq!(
        info["RegistryConfig"]["InsecureRegistryCIDRs"][0],
        "127.0.0.0/8"
    );
    let head = daemon.http("HEAD", "/v1.41/_ping");
    assert_eq!(head.status, 200);
    let listed = daemon.http("GET", "/v1.41/containers/json");
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()[0]["Names"][0], "/web");
    let new = daemon.http("GET", "/v1.99/_ping");
    assert_eq!(new.status, 400);
    assert_eq!(
        new.json()["message"],
        "client version 1.99 is too new. Maximum supported API version is 1.41"
    );
    let old = daemon.http("GET", "/v1.12/info");
    assert_eq!(old.status, 400);
    assert!(old.json()["message"].as_str().unwrap().contains("too old"));
    let missing = daemon.http("GET", "/v1.41/containers/nosuch/json");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "No such container: nosuch");
    let no_image = daemon.http("GET", "/images/nosuch:1/json");
    assert_eq!(no_image.status, 404);
    assert!(no_image.json()["message"]
        .as_str()
        .unwrap()
        .contains("No such image"));
    let no_history = daemon.http("GET", "/images/nosuch/history");
    assert_eq!(no_history.status, 404);
    assert_eq!(no_history.json()["message"], "No such image: nosuch:latest");
    let nowhere = daemon.http("GET", "/v1.41/nowhere");
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.json()["message"], "page not found");
    for bad in [
        "/containers/json?filters=notjson",
        "/containers/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
        "/containers/json?limit=many",
    ] {
        let refused = daemon.http("GET", bad);
        assert_eq!(refused.status, 400, "{bad}: {refused:?}");
        assert!(refused.json()["message"].is_string(), "{bad}");
    }
    store.ok(&["rm", "-f", "web"]);
}

#[test]
fn sigterm_ends_the_daemon_and_the_containers_run_on() {
    let store = store_with_a_running_container();
    let mut daemon = Daemon::start(&store, &[]);
    assert!(daemon.pidfile.exists());
    let status = daemon.stop();
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    assert!(!daemon.socket.exists(), "the socket outlived the daemon");
    assert!(!daemon.pidfile.exists(), "the pid file outlived the daemon");
    let ps = store.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), "web running");
    // And a new daemon on the same store sees it as it is.
    let daemon = Daemon::start(&store, &[]);
    let ps = daemon.docker_ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), "web running");
    store.ok(&["rm", "-f", "web"]);
}

#[test]
fn tcp_is_refused_beyond_loopback_without_tls_and_served_on_loopback() {
    let store = TestStore::on_host();
    let refused = store.berth(&["daemon", "-H", "tcp://0.0.0.0:2375"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("without TLS"), "{stderr}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let address = format!("127.0.0.1:{port}");
    let _daemon = Daemon::start(&store, &["-H", &format!("tcp://{address}")]);
    let ping = http_tcp(&address, "GET", "/_ping").expect("the TCP listener answers");
    assert_eq!((ping.status, ping.body.as_str()), (200, "OK"));
}

#[test]
fn bad_daemon_flags_are_clear_errors() {
    let store = TestStore::on_host();
    let socket = format!("unix://{}/x.sock", store.dir.path().display());
    for (flags, expected) in [
        (
            vec!["-H", "http://x"],
            "expected unix://PATH, tcp://HOST:PORT or fd://",
        ),
        (
            vec!["-H", "tcp://nohost:port"],
            "expected an address and a port",
        ),
        (
            vec!["-H", &socket, "--group", "no-such-group-here"],
            "no such group",
        ),
    ] {
        let mut args = vec!["daemon"];
        args.extend(flags.iter().copied());
        let stderr = store.fails(&args);
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
    assert!(
        !store.dir.path().join("x.sock").exists(),
        "a refused daemon left its socket"
    );
}

#[test]
fn the_docker_cli_runs_stops_starts_and_removes_containers() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    let id = daemon.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "w1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let state = |name: &str| {
        store
            .ok(&["inspect", "--format", "{{.State.Status}}", name])
            .trim()
            .to_string()
    };
    // The berth CLI sees what the daemon made.
    assert_eq!(state(id.trim()), "running");
    daemon.docker_ok(&["stop", "-t", "0", "w1"]);
    assert_eq!(state("w1"), "exited");
    daemon.docker_ok(&["start", "w1"]);
    assert_eq!(state("w1"), "running");
    daemon.docker_ok(&["restart", "-t", "0", "w1"]);
    daemon.docker_ok(&["pause", "w1"]);
    assert_eq!(state("w1"), "paused");
    let refused = daemon.docker(&["rm", "w1"]);
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        format!(
            "Error response from daemon: You cannot remove a paused container {}. \
             Unpause and then stop the container before attempting removal or force remove\n",
            id.trim()
        )
    );
    daemon.docker_ok(&["unpause", "w1"]);
    daemon.docker_ok(&["rename", "w1", "w2"]);
    let refused = daemon.docker(&["rm", "w2"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(&format!(
            "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
            id.trim()
        )),
        "{refused:?}"
    );
    daemon.docker_ok(&["kill", "w2"]);
    // A kill returns once the signal is sent, as dockerd's does.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while state("w2") != "exited" {
        assert!(
            std::time::Instant::now() < deadline,
            "w2 still {}",
            state("w2")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    daemon.docker_ok(&["rm", "w2"]);
    // create, start and wait, with the container's status.
    daemon.docker_ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "three",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    daemon.docker_ok(&["start", "three"]);
    assert_eq!(daemon.docker_ok(&["wait", "three"]).trim(), "3");
    daemon.docker_ok(&["rm", "three"]);
    let missing = daemon.docker(&["start", "nosuch"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("No such container: nosuch"));
    assert_eq!(daemon.docker_ok(&["ps", "-a", "-q"]), "");
    // prune takes the stopped ones and leaves the running one.
    daemon.docker_ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "idle",
        "busybox",
        "true",
    ]);
    daemon.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "busy",
        "busybox",
        "sleep",
        "1000",
    ]);
    let pruned = daemon.docker_ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers:"), "{pruned}");
    let left = daemon.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(left.trim(), "busy");
    daemon.docker_ok(&["rm", "-f", "busy"]);
}

#[test]
fn bad_create_bodies_get_400s_and_leave_nothing() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    for (body, expected) in [
        ("{not json", "invalid JSON"),
        (r#"{"Image": 7}"#, "invalid JSON"),
        (r#"{"Cmd": ["true"]}"#, "no image"),
        (
            r#"{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#,
            "AutoRemove",
        ),
    ] {
        let answer = daemon.http_with_body("POST", "/v1.41/containers/create", body);
        assert_eq!(answer.status, 400, "{body}: {answer:?}");
        assert!(
            answer.json()["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{body}: {answer:?}"
        );
    }
    let answer = daemon.http_with_body("POST", "/containers/create", r#"{"Image":"nosuch:1"}"#);
    assert_eq!(answer.status, 404, "{answer:?}");
    assert_eq!(store.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn logs_follow_and_top_through_the_docker_cli() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    daemon.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2; echo three; exec sleep 1000",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let out = loop {
        let out = daemon.docker(&["logs", "talker"]);
        if String::from_utf8_lossy(&out.stdout).contains("three") {
            break out;
        }
        assert!(std::time::Instant::now() < deadline, "no logs: {out:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // The CLI splits the multiplexed stream back into stdout and stderr.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\nthree\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "two\n");
    // The last line, of whichever stream the shim read it from last.
    let tail = daemon.docker(&["logs", "--tail", "1", "talker"]);
    let lines = String::from_utf8_lossy(&tail.stdout).lines().count()
        + String::from_utf8_lossy(&tail.stderr).lines().count();
    assert_eq!(lines, 1, "{tail:?}");
    let stamped = daemon.docker_ok(&["logs", "-t", "talker"]);
    let first = stamped.lines().next().unwrap_or_default();
    assert!(first.ends_with("Z one") && first.len() > 25, "{stamped}");
    let top = daemon.docker_ok(&["top", "talker"]);
    assert!(
        top.lines().next().unwrap_or_default().contains("PID"),
        "{top}"
    );
    assert!(top.contains("sleep 1000"), "{top}");
    // Followed until the container ends, then the CLI returns.
    daemon.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.3; done",
    ]);
    let followed = daemon.docker_ok(&["logs", "-f", "counter"]);
    assert_eq!(followed, "tick 1\ntick 2\ntick 3\n");
    // With a terminal the log is raw.
    daemon.docker_ok(&[
        "run",
        "-d",
        "-t",
        "--network",
        "none",
        "--name",
        "tty",
        "busybox",
        "echo",
        "hi",
    ]);
    daemon.docker_ok(&["wait", "tty"]);
    assert_eq!(daemon.docker_ok(&["logs", "tty"]), "hi\r\n");
    daemon.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--log-driver",
        "none",
        "--name",
        "silent",
        "busybox",
        "true",
    ]);
    let refused = daemon.docker(&["logs", "silent"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not support reading"),
        "{refused:?}"
    );
    let stopped = daemon.docker(&["top", "silent"]);
    assert!(!stopped.status.success());
    daemon.docker_ok(&["rm", "-f", "talker", "counter", "tty", "silent"]);
}

#[test]
fn networks_through_the_docker_cli() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    let id = daemon.docker_ok(&["network", "create", "--subnet", "10.77.0.0/24", "backend"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let names = daemon.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(names, "backend\nbridge\nhost\nnone\n");
    let subnet = daemon.docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{(index .IPAM.Config 0).Subnet}}",
        "backend",
    ]);
    assert_eq!(subnet.trim(), "10.77.0.0/24");
    let taken = daemon.docker(&["network", "create", "backend"]);
    assert!(
        String::from_utf8_lossy(&taken.stderr).contains("already exists"),
        "{taken:?}"
    );
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "backend",
        "--network-alias",
        "database",
        "busybox",
        "sleep",
        "1000",
    ]);
    daemon.docker_ok(&["run", "-d", "--name", "app", "busybox", "sleep", "1000"]);
    daemon.docker_ok(&["network", "connect", "backend", "app"]);
    // The berth CLI looks from inside (exec through the API comes later).
    let ping = store.berth(&["exec", "app", "ping", "-c", "1", "-W", "5", "database"]);
    assert!(ping.status.success(), "{ping:?}");
    let in_use = daemon.docker(&["network", "rm", "backend"]);
    assert!(
        String::from_utf8_lossy(&in_use.stderr).contains("has active endpoints"),
        "{in_use:?}"
    );
    daemon.docker_ok(&["network", "disconnect", "backend", "app"]);
    daemon.docker_ok(&["rm", "-f", "db", "app"]);
    daemon.docker_ok(&["network", "rm", "backend"]);
    let missing = daemon.docker(&["network", "inspect", "backend"]);
    assert!(!missing.status.success());
    daemon.docker_ok(&["network", "create", "spare"]);
    let pruned = daemon.docker_ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("spare"), "{pruned}");
}

#[test]
fn docker_run_in_the_foreground_attaches_and_exits_with_the_containers_status() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    let out = daemon.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "fg",
        "busybox",
        "sh",
        "-c",
        "echo hello; echo oops >&2; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    // --rm: gone when run returns.
    let out = daemon.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "echo",
        "gone",
    ]);
    assert_eq!(out, "gone\n");
    assert_eq!(daemon.docker_ok(&["ps", "-a", "-q"]).lines().count(), 1);
    // --rm keeps the container's status (the CLI waits for the removal).
    let out = daemon.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // -i: stdin reaches the container, and its end ends cat.
    let mut child = std::process::Command::new(support::daemon::docker_cli())
        .arg("-H")
        .arg(format!("unix://{}", daemon.socket.display()))
        .args(["run", "-i", "--rm", "--network", "none", "busybox", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("docker run -i");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"piped in\n").expect("write");
    }
    let out = child.wait_with_output().expect("docker run -i");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped in\n");
    // start -a of the stopped one: attached before its start, so nothing is missed.
    let again = daemon.docker(&["start", "-a", "fg"]);
    assert_eq!(again.status.code(), Some(4), "{again:?}");
    assert_eq!(String::from_utf8_lossy(&again.stdout), "hello\n");
    daemon.docker_ok(&["rm", "fg"]);
}

#[test]
fn docker_run_it_gives_a_shell_on_a_terminal_and_attach_detaches_with_the_keys() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    let docker = format!(
        "DOCKER_CONFIG={} {} -H unix://{}",
        store.dir.path().join("docker-config").display(),
        support::daemon::docker_cli(),
        daemon.socket.display()
    );
    let tmux = support::tmux::Tmux::start(
        "daemon-run-it",
        &format!("{docker} run -it --network none --name shell busybox sh; echo docker-exited-$?; sleep 600"),
    );
    assert!(tmux.type_until("echo $((6*7))", "42"), "{}", tmux.history());
    tmux.keys(&["exit 3", "Enter"]);
    assert!(tmux.wait_text("docker-exited-3"), "{}", tmux.history());
    // A detached shell, attached to and left again with ctrl-p ctrl-q.
    daemon.docker_ok(&[
        "run",
        "-d",
        "-i",
        "-t",
        "--network",
        "none",
        "--name",
        "bg",
        "busybox",
        "sh",
    ]);
    let tmux = support::tmux::Tmux::start(
        "daemon-attach",
        &format!("{docker} attach bg; echo attach-exited-$?; sleep 600"),
    );
    assert!(tmux.type_until("echo $((6*8))", "48"), "{}", tmux.history());
    tmux.keys(&["C-p", "C-q"]);
    assert!(tmux.wait_text("attach-exited-"), "{}", tmux.history());
    let state = daemon.docker_ok(&["inspect", "--format", "{{.State.Running}}", "bg"]);
    assert_eq!(state.trim(), "true");
    daemon.docker_ok(&["rm", "-f", "shell", "bg"]);
}

#[test]
fn images_are_tagged_listed_with_history_and_removed_through_the_docker_cli() {
    let store = TestStore::new();
    let id = store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    daemon.docker_ok(&["tag", "busybox", "localhost:5000/team/box:v1"]);
    let tags = daemon.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(tags.contains("localhost:5000/team/box:v1"), "{tags}");
    assert_eq!(
        daemon
            .docker_ok(&[
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                "localhost:5000/team/box:v1"
            ])
            .trim(),
        id.trim()
    );
    // API 1.41's image shape, fields a later dockerd dropped included.
    let image = daemon.http("GET", "/images/busybox/json").json();
    assert_eq!(image["VirtualSize"], image["Size"]);
    assert_eq!(image["Container"], "");
    assert_eq!(image["ContainerConfig"]["Cmd"], serde_json::Value::Null);
    assert_eq!(image["ContainerConfig"]["Hostname"], "");
    let history = daemon.docker_ok(&["history", "--format", "{{.ID}}", "busybox"]);
    assert!(history.lines().count() >= 1, "{history}");
    // In use: refused without -f, as Docker refuses it.
    daemon.docker_ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "user",
        "busybox",
        "true",
    ]);
    let untag = daemon.docker_ok(&["rmi", "localhost:5000/team/box:v1"]);
    assert!(
        untag.contains("Untagged: localhost:5000/team/box:v1"),
        "{untag}"
    );
    let refused = daemon.docker(&["rmi", "busybox"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("conflict"),
        "{refused:?}"
    );
    daemon.docker_ok(&["rm", "user"]);
    let removed = daemon.docker_ok(&["rmi", "busybox"]);
    assert!(removed.contains("Deleted:"), "{removed}");
    assert_eq!(daemon.docker_ok(&["images", "-q"]), "");
    let missing = daemon.docker(&["rmi", "busybox"]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("No such image"),
        "{missing:?}"
    );
    let pruned = daemon.docker_ok(&["image", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
}
