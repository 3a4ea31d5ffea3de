//! `berth daemon` against clients that misbehave: bodies that are not what they
//! should be, clients that stall or vanish mid-stream, 200 requests at once, and a
//! daemon killed mid-create. Each gets a Docker-shaped answer or none, and nothing
//! is left behind: no fd, no session, no half-made container.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use support::daemon::Daemon;
use support::TestStore;

fn connect(daemon: &Daemon) -> UnixStream {
    let stream = UnixStream::connect(&daemon.socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Sends `request` and reads until the end of the response's head.
fn head_of(daemon: &Daemon, request: &str) -> (UnixStream, String) {
    let mut stream = connect(daemon);
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte);
        assert!(
            matches!(read, Ok(1)),
            "{request}: {read:?} after {head:?}\ndaemon log:\n{}",
            daemon.log()
        );
        head.push(byte[0]);
    }
    (stream, String::from_utf8_lossy(&head).into_owned())
}

/// A request whose answer may not come (a daemon killed meanwhile) or may come before
/// the whole body went (a body over the limit): the status, if any.
fn try_request(daemon: &Daemon, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = UnixStream::connect(&daemon.socket).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()));
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Waits for `pid`'s open fds to come back to `baseline` (what the daemon's own
/// background work may add aside); the count when it gave up otherwise.
fn settles_to(pid: u32, baseline: usize) -> Result<(), usize> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = open_fds(pid);
        if now <= baseline + 2 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(now);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn hostile_bodies_get_dockers_4xx_and_leave_nothing() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    let cases: &[(&str, &str, String, u16)] = &[
        ("POST", "/containers/create", "{".to_string(), 400),
        (
            "POST",
            "/containers/create",
            r#"{"Image": 5}"#.to_string(),
            400,
        ),
        (
            "POST",
            "/containers/create",
            r#"{"Image": "busybox", "Cmd": "not a list", "HostConfig": []}"#.to_string(),
            400,
        ),
        (
            "POST",
            "/containers/create",
            r#"{"Image": "no-such-image"}"#.to_string(),
            404,
        ),
        ("POST", "/networks/create", "[]".to_string(), 400),
        (
            "POST",
            "/containers/create",
            format!(
                r#"{{"Image": "busybox", "Env": ["{}"]}}"#,
                "x".repeat(3 << 20)
            ),
            413,
        ),
        ("POST", "/containers/create?name=%ZZ", "{}".to_string(), 400),
        ("PATCH", "/containers/json", String::new(), 405),
    ];
    for (method, path, body, status) in cases {
        let response = try_request(&daemon, method, path, body);
        let Some((got, text)) = response else {
            panic!("{method} {path}: no answer");
        };
        assert_eq!(got, *status, "{method} {path}: {text}");
        let json: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        let message = json["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{method} {path}: no message in {text}");
    }
    assert_eq!(daemon.docker_ok(&["ps", "-a", "-q"]), "");
    assert_eq!(store.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(daemon.http("GET", "/_ping").status, 200);
}

#[test]
fn slow_and_vanishing_clients_leak_nothing() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    store.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "quiet",
        "busybox",
        "sleep",
        "1000",
    ]);
    let daemon = Daemon::start(&store, &[]);
    let pid = daemon.pid();
    // Warm up what the daemon keeps open once used (worker threads, the runtime's
    // blocking pool), then count.
    daemon.docker_ok(&["inspect", "quiet"]);
    let baseline = open_fds(pid);

    // Clients that send half a request and stall do not hold up the others.
    let stalled: Vec<UnixStream> = (0..30)
        .map(|_| {
            let mut s = connect(&daemon);
            s.write_all(b"GET /_ping HTTP/1.1\r\nHo").unwrap();
            s
        })
        .collect();
    assert_eq!(
        daemon
            .docker_ok(&["inspect", "--format", "{{.Name}}", "quiet"])
            .trim(),
        "/quiet"
    );
    drop(stalled);

    // Clients that go away mid-stream, from a container that writes nothing.
    for _ in 0..10 {
        let streams = [
            "POST /containers/quiet/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
            "POST /containers/quiet/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
            "GET /containers/quiet/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: d\r\n\r\n",
            "GET /events HTTP/1.1\r\nHost: d\r\n\r\n",
            "GET /containers/quiet/stats HTTP/1.1\r\nHost: d\r\n\r\n",
        ];
        for request in streams {
            let (stream, head) = head_of(&daemon, request);
            assert!(
                head.starts_with("HTTP/1.1 101") || head.starts_with("HTTP/1.1 200"),
                "{head}"
            );
            drop(stream);
        }
    }
    if let Err(now) = settles_to(pid, baseline) {
        panic!(
            "the daemon holds {now} fds, {baseline} before the clients came:\n{}",
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .flatten()
                .map(|e| format!("{:?}\n", std::fs::read_link(e.path())))
                .collect::<String>()
        );
    }
    assert_eq!(
        daemon
            .docker_ok(&["inspect", "--format", "{{.State.Running}}", "quiet"])
            .trim(),
        "true"
    );
    // The daemon outlived every client that left (a write to one is EPIPE, not the
    // daemon's death), and what it starts has SIGPIPE as usual.
    let status = daemon.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "grep",
        "SigIgn",
        "/proc/self/status",
    ]);
    let ignored = u64::from_str_radix(status.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(
        ignored & (1 << (13 - 1)),
        0,
        "SIGPIPE ignored in the container: {status}"
    );
}

#[test]
fn two_hundred_concurrent_requests_are_all_answered() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    // 50 clients at once, each creating, starting, inspecting and removing its own
    // container: 200 requests, all in flight together.
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let daemon = &daemon;
                scope.spawn(move || -> Result<(), String> {
                    let name = format!("many{i}");
                    let body = r#"{"Image": "busybox", "Cmd": ["sleep", "1000"], "HostConfig": {"NetworkMode": "none"}}"#;
                    let created = daemon.http_with_body("POST", &format!("/containers/create?name={name}"), body);
                    if created.status != 201 {
                        return Err(format!("create {name}: {created:?}"));
                    }
                    let started = daemon.http_with_body("POST", &format!("/containers/{name}/start"), "");
                    if started.status != 204 {
                        return Err(format!("start {name}: {started:?}"));
                    }
                    let inspected = daemon.http("GET", &format!("/containers/{name}/json"));
                    if inspected.status != 200 || inspected.json()["State"]["Running"] != true {
                        return Err(format!("inspect {name}: {inspected:?}"));
                    }
                    let removed = daemon.http_with_body("DELETE", &format!("/containers/{name}?force=1"), "");
                    if removed.status != 204 {
                        return Err(format!("rm {name}: {removed:?}"));
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{failures:#?}\ndaemon log:\n{}",
        daemon.log()
    );
    assert_eq!(store.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn a_daemon_killed_mid_create_leaves_a_store_the_next_one_repairs() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let mut daemon = Daemon::start(&store, &[]);
    let pid = daemon.pid();
    // Creates and starts in flight when the daemon is killed.
    std::thread::scope(|scope| {
        for i in 0..12 {
            let daemon = &daemon;
            scope.spawn(move || {
                let body = r#"{"Image": "busybox", "Cmd": ["sleep", "1000"], "HostConfig": {"NetworkMode": "none"}}"#;
                let created =
                    try_request(daemon, "POST", &format!("/containers/create?name=cut{i}"), body);
                if created.is_some_and(|(status, _)| status == 201) {
                    let _ = try_request(daemon, "POST", &format!("/containers/cut{i}/start"), "");
                }
            });
        }
        std::thread::sleep(Duration::from_millis(400));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    });
    let _ = daemon.stop();
    // The next daemon repairs at its start; every container it lists is whole.
    let _ = std::fs::remove_file(&daemon.pidfile);
    let daemon = Daemon::start(&store, &[]);
    // The runtime's creates that the killed daemon's shims were running finish on
    // their own; what is to be removed is what they leave.
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.processes().contains(" create --bundle") {
        assert!(Instant::now() < deadline, "{}", store.processes());
        std::thread::sleep(Duration::from_millis(100));
    }
    let listed = daemon.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    for line in listed.lines() {
        let (name, state) = line.split_once(' ').unwrap();
        assert!(
            ["running", "created", "exited"].contains(&state),
            "{line}\n{}\n{}\n{:?}",
            daemon.docker_ok(&["inspect", name]),
            store.processes(),
            std::fs::read_dir(
                store
                    .root()
                    .join("containers")
                    .join(
                        daemon
                            .docker_ok(&["inspect", "--format", "{{.Id}}", name])
                            .trim()
                    )
                    .join("persist")
            )
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        );
        daemon.docker_ok(&["rm", "-f", name]);
    }
    assert_eq!(daemon.docker_ok(&["ps", "-a", "-q"]), "");
    let left: Vec<_> = std::fs::read_dir(store.root().join("containers"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "container directories left: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = store.root().display().to_string();
    assert!(!mounts.contains(&root), "mounts left under {root}");
}
