//! `docker events` against `berth daemon`: what the berth CLI and the docker CLI do
//! to the same store, streamed as it happens and replayed with --since/--until.

mod support;

use support::daemon::{daemon_with, Daemon};
use support::{unix_now, ContainerEvents, TestStore};

#[test]
fn docker_events_streams_what_either_cli_does_and_replays_the_past() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    let since = unix_now();
    let mut events = ContainerEvents::follow(daemon.docker_command());
    store.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        "bycli",
        "busybox",
        "true",
    ]);
    daemon.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        "bydocker",
        "busybox",
        "true",
    ]);
    let seen = events.until("destroy bydocker");
    drop(events);
    let of = |name: &str| -> Vec<String> {
        seen.iter()
            .filter(|l| l.ends_with(&format!(" {name}")))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(of("bycli"), ["create", "start", "die", "destroy"]);
    // The docker CLI attaches before it starts the container.
    assert_eq!(of("bydocker"), ["create", "start", "die", "destroy"]);

    let until = unix_now();
    let past = daemon.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=bycli",
    ]);
    let lines: Vec<&str> = past.lines().collect();
    assert_eq!(lines.len(), 4, "{past}");
    assert!(
        lines[0].contains(" container create ")
            && lines[0].ends_with("(image=busybox, name=bycli)")
    );
    let json = daemon.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=die",
        "--format",
        "{{json .}}",
    ]);
    for line in json.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["Actor"]["Attributes"]["exitCode"], "0");
        assert_eq!(event["status"], "die");
    }
    assert_eq!(json.lines().count(), 2, "{json}");
}

#[test]
fn bad_event_queries_get_400s() {
    let store = TestStore::on_host();
    let daemon = Daemon::start(&store, &[]);
    let response = daemon.http(
        "GET",
        "/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
    );
    assert_eq!(response.status, 400, "{response:?}");
    assert!(response.json()["message"]
        .as_str()
        .unwrap()
        .contains("colour"));
    let response = daemon.http("GET", "/events?filters=not-json");
    assert_eq!(response.status, 400);
    let response = daemon.http("GET", "/events?since=soon");
    assert_eq!(response.status, 400);
    assert!(response.json()["message"]
        .as_str()
        .unwrap()
        .contains("since"));
}

#[test]
fn docker_exec_is_told_from_create_to_its_exit() {
    let (_store, daemon) = daemon_with(Some("ex"));
    let since = unix_now();
    let out = daemon.docker(&["exec", "ex", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    // exec_die is told once the daemon has read the exit; give it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let until = unix_now();
        let seen = daemon.docker_ok(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=ex",
            "--format",
            "{{.Action}} {{.Actor.Attributes.exitCode}}",
        ]);
        if seen.lines().count() >= 3 {
            let lines: Vec<&str> = seen.lines().collect();
            assert!(lines[0].starts_with("exec_create: sh -c exit 7"), "{seen}");
            assert!(lines[1].starts_with("exec_start: sh -c exit 7"), "{seen}");
            assert_eq!(lines[2], "exec_die 7", "{seen}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{seen}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    daemon.docker_ok(&["rm", "-f", "ex"]);
}
