//! linux.namespaces: new ones differ from the host's, `path` ones are joined.

use std::process::Command;

use integration::*;
use serde_json::json;

/// Runs `readlink /proc/self/ns/KIND` in a container with `b` and returns the link.
fn ns_inside(t: &Test, b: Bundle, kind: &str) -> String {
    t.sh(b, &format!("readlink /proc/self/ns/{kind}"))
        .trim()
        .to_string()
}

fn assert_new_namespace(name: &str, ns_type: &str, kind: &str) {
    let Some(t) = Test::new(name) else { return };
    let b = t.bundle().namespace(ns_type, None);
    let inside = ns_inside(&t, b, kind);
    assert!(inside.starts_with(&format!("{kind}:[")), "{inside}");
    assert_ne!(inside, host_ns(kind), "{ns_type} namespace must be new");
}

#[test]
fn new_pid_namespace_differs_from_host() {
    assert_new_namespace("ns_pid", "pid", "pid");
}

#[test]
fn new_network_namespace_differs_from_host() {
    assert_new_namespace("ns_net", "network", "net");
}

#[test]
fn a_new_network_namespace_has_loopback_up_as_with_runc() {
    let Some(t) = Test::new("ns_net_lo") else {
        return;
    };
    let b = t.bundle().namespace("network", None);
    // IFF_UP (0x1) in lo's flags: 127.0.0.1 is reachable inside.
    let flags = t.sh(b, "cat /sys/class/net/lo/flags");
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is down: flags {flags:#x}");
}

#[test]
fn new_ipc_namespace_differs_from_host() {
    assert_new_namespace("ns_ipc", "ipc", "ipc");
}

#[test]
fn new_uts_namespace_differs_from_host() {
    assert_new_namespace("ns_uts", "uts", "uts");
}

#[test]
fn new_mount_namespace_differs_from_host() {
    assert_new_namespace("ns_mnt", "mount", "mnt");
}

#[test]
fn new_cgroup_namespace_differs_from_host() {
    assert_new_namespace("ns_cgroup", "cgroup", "cgroup");
}

#[test]
fn cgroup_namespace_root_is_the_container_cgroup() {
    let Some(t) = Test::new("ns_cgroup_root") else {
        return;
    };
    let b = t.bundle().namespace("cgroup", None);
    // Unshared after joining its cgroup: every hierarchy reads as the namespace root.
    let out = t.sh(b, "cat /proc/self/cgroup");
    for line in out.lines() {
        assert!(
            line.ends_with(":/"),
            "cgroup path not at the namespace root: {out}"
        );
    }
}

#[test]
fn network_namespace_without_entry_is_shared_with_host() {
    let Some(t) = Test::new("ns_net_shared") else {
        return;
    };
    let b = t.bundle().without_namespace("network");
    assert_eq!(ns_inside(&t, b, "net"), host_ns("net"));
}

#[test]
fn network_namespace_path_is_joined() {
    let Some(t) = Test::new("ns_net_path") else {
        return;
    };
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "/bin/busybox", "sleep", "60"]);
    let pid = t.spawn_helper(cmd);
    // unshare execs sleep in the same process once the netns exists.
    assert!(wait_until(std::time::Duration::from_secs(5), || {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("busybox"))
    }));
    let helper_ns = ns_of(&pid.to_string(), "net");
    assert_ne!(helper_ns, host_ns("net"));
    let b = t
        .bundle()
        .namespace("network", Some(&format!("/proc/{pid}/ns/net")));
    assert_eq!(ns_inside(&t, b, "net"), helper_ns);
}

#[test]
fn uts_namespace_path_of_another_container_is_joined() {
    let Some(t) = Test::new("ns_uts_container") else {
        return;
    };
    let first = t.bundle().hostname("first").args(&["sleep", "60"]);
    ok(&t.rt.run_with(&first.id, &first.path, &["-d"]));
    let pid = t.rt.state_json(&first.id)["pid"].as_i64().unwrap();
    let second = t
        .bundle()
        .namespace("uts", Some(&format!("/proc/{pid}/ns/uts")))
        // A joined UTS namespace keeps its hostname; the spec forbids setting one.
        .edit(|c| {
            c.as_object_mut().unwrap().remove("hostname");
        });
    assert_eq!(t.sh(second, "hostname").trim(), "first");
}

#[test]
fn process_is_pid_1_in_new_pid_namespace() {
    let Some(t) = Test::new("ns_pid_1") else {
        return;
    };
    let b = t.bundle();
    assert_eq!(t.sh(b, "echo $$").trim(), "1");
}

fn userns_bundle(t: &Test) -> Bundle {
    t.bundle().user_namespace()
}

#[test]
fn user_namespace_maps_root_to_host_range() {
    let Some(t) = Test::new("ns_user_root") else {
        return;
    };
    let b = userns_bundle(&t);
    let out = t.sh(b, "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map");
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"], "{out}");
    assert_eq!(lines[1], ["0"], "{out}");
    assert_eq!(lines[2], ["0", "100000", "65536"], "uid_map: {out}");
    assert_eq!(lines[3], ["0", "100000", "65536"], "gid_map: {out}");
}

#[test]
fn user_namespace_process_runs_as_mapped_uid_on_host() {
    let Some(t) = Test::new("ns_user_host_uid") else {
        return;
    };
    let b = userns_bundle(&t).args(&["sleep", "60"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid.split_whitespace().nth(1), Some("100000"), "{uid}");
    assert_ne!(ns_of(&pid.to_string(), "user"), host_ns("user"));
}

fn timens_bundle(t: &Test) -> Bundle {
    t.bundle().namespace("time", None).edit(|c| {
        c["linux"]["timeOffsets"] = json!({
            "monotonic": {"secs": 86400, "nanosecs": 0},
            "boottime": {"secs": 172800, "nanosecs": 0}
        });
    })
}

#[test]
fn time_namespace_offsets_boottime() {
    let Some(t) = Test::new("ns_time_boottime") else {
        return;
    };
    // runc 1.1.5 has no time namespace support ("namespace time does not exist").
    if skip_under_runc("no time namespace in runc 1.1.5") {
        return;
    }
    let b = timens_bundle(&t);
    // /proc/uptime reads CLOCK_BOOTTIME, shifted by the boottime offset.
    let out = t.sh(b, "cat /proc/uptime");
    let up: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        up > 172800.0,
        "uptime {up} lacks the +172800s boottime offset"
    );
}

#[test]
fn time_namespace_differs_from_host_and_has_offsets() {
    let Some(t) = Test::new("ns_time_offsets") else {
        return;
    };
    // runc 1.1.5 has no time namespace support ("namespace time does not exist").
    if skip_under_runc("no time namespace in runc 1.1.5") {
        return;
    }
    let b = timens_bundle(&t);
    let out = t.sh(
        b,
        "readlink /proc/self/ns/time; cat /proc/self/timens_offsets",
    );
    let mut lines = out.lines();
    assert_ne!(lines.next().unwrap(), host_ns("time"));
    let offsets: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert!(offsets.contains(&vec!["monotonic", "86400", "0"]), "{out}");
    assert!(offsets.contains(&vec!["boottime", "172800", "0"]), "{out}");
}
