//! `berth events`: a container's life, an image's and a network's, in dockerd's
//! order, shape and filters, from the past (`--since`/`--until`) and as it happens.

mod support;

use support::{unix_now, ContainerEvents, TestStore};

fn store() -> TestStore {
    let store = TestStore::new();
    store.import_busybox("busybox");
    store
}

/// The events between `since` and now, one line each in `format`.
fn past(store: &TestStore, since: &str, filters: &[&str], format: &str) -> Vec<String> {
    let until = unix_now();
    let mut args = vec![
        "events", "--since", since, "--until", &until, "--format", format,
    ];
    for filter in filters {
        args.extend(["--filter", filter]);
    }
    store.ok(&args).lines().map(str::to_string).collect()
}

#[test]
fn a_containers_life_is_told_in_dockerds_order_and_shape() {
    let store = store();
    let since = unix_now();
    let id = store
        .ok(&[
            "run", "-d", "--name", "ev1", "--label", "tier=web", "busybox", "sleep", "60",
        ])
        .trim()
        .to_string();
    // sleep as pid 1 ignores SIGTERM: the stop ends with SIGKILL.
    store.ok(&["stop", "-t", "1", "ev1"]);
    store.ok(&["rename", "ev1", "ev1b"]);
    store.ok(&["rm", "ev1b"]);
    let actions: Vec<String> = past(
        &store,
        &since,
        &["type=container", &format!("container={}", &id[..12])],
        "{{.Action}} {{json .Actor.Attributes}}",
    )
    .iter()
    .map(|line| {
        let (action, attributes) = line.split_once(' ').unwrap();
        let attributes: serde_json::Value = serde_json::from_str(attributes).unwrap();
        let detail = attributes["signal"]
            .as_str()
            .or(attributes["exitCode"].as_str())
            .map(|d| format!(" {d}"))
            .unwrap_or_default();
        format!("{action}{detail}")
    })
    .collect();
    assert_eq!(
        actions,
        ["create", "start", "kill 15", "kill 9", "die 137", "stop", "rename", "destroy"]
    );
    let lines = past(&store, &since, &["event=create"], "");
    let create = store.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &unix_now(),
        "--filter",
        "event=create",
    ]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = create.trim_end();
    let (time, rest) = line.split_once(' ').unwrap();
    assert!(
        time.len() == 30 && time.ends_with('Z') && time.as_bytes()[19] == b'.',
        "the time as docker prints it: {line}"
    );
    assert_eq!(
        rest,
        format!("container create {id} (image=busybox, name=ev1, tier=web)")
    );
    let renamed = past(
        &store,
        &since,
        &["event=rename"],
        "{{json .Actor.Attributes}}",
    );
    assert_eq!(
        renamed,
        [r#"{"image":"busybox","name":"ev1b","oldName":"/ev1","tier":"web"}"#]
    );
    let json = past(&store, &since, &["event=destroy"], "json");
    let event: serde_json::Value = serde_json::from_str(&json[0]).unwrap();
    assert_eq!(event["status"], "destroy");
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["from"], "busybox");
    assert_eq!(event["Type"], "container");
    assert_eq!(event["scope"], "local");
    assert!(event["timeNano"].as_i64().unwrap() / 1_000_000_000 == event["time"].as_i64().unwrap());
}

#[test]
fn a_run_rm_dies_once_and_is_destroyed_and_networks_are_told_too() {
    let store = store();
    let since = unix_now();
    let run = store.berth(&[
        "run", "--rm", "--name", "ev2", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(run.status.code(), Some(3));
    store.ok(&["network", "create", "evnet"]);
    store.ok(&["network", "rm", "evnet"]);
    let container = past(
        &store,
        &since,
        &["container=ev2", "type=container"],
        "{{.Action}}",
    );
    assert_eq!(container, ["create", "start", "die", "destroy"]);
    let died = past(
        &store,
        &since,
        &["event=die"],
        "{{.Actor.Attributes.exitCode}}",
    );
    assert_eq!(died, ["3"]);
    let network = past(
        &store,
        &since,
        &["type=network", "network=evnet"],
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}",
    );
    assert_eq!(network, ["create evnet bridge", "destroy evnet bridge"]);
}

#[test]
fn events_follow_what_other_berth_commands_do() {
    let store = store();
    let mut events = ContainerEvents::follow(store.command());
    store.ok(&["run", "--rm", "--name", "ev3", "busybox", "true"]);
    let seen = events.until("destroy ev3");
    assert_eq!(seen, ["create ev3", "start ev3", "die ev3", "destroy ev3"]);
}

#[test]
fn bad_filters_and_times_are_refused_by_name() {
    let store = TestStore::on_host();
    let out = store.fails(&["events", "--filter", "colour=red"]);
    assert!(out.contains("invalid filter 'colour'"), "{out}");
    let out = store.fails(&["events", "--filter", "container"]);
    assert!(out.contains("bad format of filter"), "{out}");
    let out = store.fails(&["events", "--since", "yesterday-ish"]);
    assert!(out.contains("yesterday-ish"), "{out}");
}

#[test]
fn execs_are_told_with_their_command_and_exit_code() {
    let store = store();
    store.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "ev4",
        "busybox",
        "sleep",
        "60",
    ]);
    let since = unix_now();
    let run = store.berth(&["exec", "ev4", "sh", "-c", "exit 5"]);
    assert_eq!(run.status.code(), Some(5));
    store.ok(&["exec", "-d", "ev4", "true"]);
    let execs = past(
        &store,
        &since,
        &[
            "container=ev4",
            "event=exec_create",
            "event=exec_start",
            "event=exec_die",
        ],
        "{{.Action}}|{{json .Actor.Attributes}}",
    );
    let actions: Vec<&str> = execs.iter().map(|l| l.split('|').next().unwrap()).collect();
    assert_eq!(
        actions[..3],
        [
            "exec_create: sh -c exit 5",
            "exec_start: sh -c exit 5",
            "exec_die"
        ]
    );
    assert_eq!(actions[3..5], ["exec_create: true", "exec_start: true"]);
    let die: serde_json::Value = serde_json::from_str(execs[2].split_once('|').unwrap().1).unwrap();
    assert_eq!(die["exitCode"], "5");
    assert_eq!(die["execID"].as_str().unwrap().len(), 64);
    store.ok(&["rm", "-f", "ev4"]);
}

#[test]
fn images_are_told_as_dockerd_tells_them() {
    let store = TestStore::new();
    let since = unix_now();
    let id = store.import_busybox("evimg");
    store.ok(&["tag", "evimg", "evimg:v2"]);
    let archive = store.dir.path().join("evimg.tar");
    store.ok(&["save", "-o", archive.to_str().unwrap(), "evimg:v2"]);
    store.ok(&["rmi", "evimg:v2"]);
    store.ok(&["load", "-i", archive.to_str().unwrap()]);
    store.ok(&["rmi", "evimg", "evimg:v2"]);
    let told = past(
        &store,
        &since,
        &["type=image"],
        "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}",
    );
    assert_eq!(
        told,
        [
            format!("import {id} {id}"),
            format!("tag {id} evimg:v2"),
            format!("save {id} evimg:v2"),
            format!("untag {id} evimg:v2"),
            format!("load {id} evimg:v2"),
            format!("untag {id} evimg:latest"),
            format!("untag {id} evimg:v2"),
            format!("delete {id} {id}"),
        ]
    );
    let by_image = past(&store, &since, &["image=evimg:v2"], "{{.Action}}");
    assert!(by_image.contains(&"tag".to_string()), "{by_image:?}");
}
