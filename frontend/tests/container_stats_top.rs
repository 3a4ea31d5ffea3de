//! `container::stats` and `container::top` on a real container: busybox run detached by
//! the debug berth-runtime with a 64 MiB memory limit, holding a megabyte in a shell
//! variable while `sleep 100` runs. The harness deletes it (and its cgroup) at the end,
//! also when an assert fails.

use berth_engine::container::stats::{sample, table, Cgroups, StatsEntry};
use berth_engine::container::top::{container_pids, format_top, top, TopError};
use integration::{ok, wait_until, Test};
use serde_json::json;

const LIMIT: u64 = 64 * 1024 * 1024;
const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs the container; returns its cgroup path and init pid.
fn sleeper(t: &Test) -> (String, i32) {
    let b = t
        .bundle()
        .edit(|c| c["linux"]["resources"] = json!({"memory": {"limit": LIMIT}}))
        .sh("x=$(head -c 1000000 /dev/zero | tr '\\0' a); sleep 100; echo ${#x}");
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().expect("init pid") as i32;
    let cgroup = b.config()["linux"]["cgroupsPath"]
        .as_str()
        .expect("cgroupsPath")
        .to_string();
    (cgroup, pid)
}

#[test]
fn stats_show_the_containers_pids_memory_and_limit() {
    let Some(t) = Test::new("stats_sleeper") else {
        return;
    };
    let (cgroup, pid) = sleeper(&t);
    let cgroups = Cgroups::detect().expect("cgroup layout");
    // The shell has forked `sleep`: both count, and sleep's start shows in the procs.
    let forked = || sample(&cgroups, &cgroup, Some(pid)).is_ok_and(|s| s.pids == 2);
    assert!(wait_until(WAIT, forked), "sleep never started");
    let first = sample(&cgroups, &cgroup, Some(pid)).expect("sample");
    let second = sample(&cgroups, &cgroup, Some(pid)).expect("sample");
    assert_eq!(second.pids, 2, "sh and sleep");
    assert!(second.memory > 0, "memory in use: {second:?}");
    assert_eq!(second.memory_limit, LIMIT);
    assert!(second.cpu_ns >= first.cpu_ns && second.cpu_ns > 0);
    assert!(second.system_ns >= first.system_ns);
    // Its own network namespace with only lo: nothing counted.
    assert_eq!((second.net_rx, second.net_tx), (0, 0));

    let entry = StatsEntry {
        id: "f".repeat(64),
        name: "sleeper".into(),
        previous: Some(first),
        current: second,
    };
    let text = table(&[entry], true);
    let row = text.lines().nth(1).expect("a row");
    assert!(row.starts_with("ffffffffffff   sleeper"), "{text}");
    assert!(row.contains(" / 64MiB "), "{text}");
    assert!(row.contains("0B / 0B"), "{text}");
    assert!(row.ends_with("   2"), "{text}");
}

#[test]
fn top_lists_the_containers_processes_only() {
    let Some(t) = Test::new("top_sleeper") else {
        return;
    };
    let (cgroup, pid) = sleeper(&t);
    let cgroups = Cgroups::detect().expect("cgroup layout");
    let forked = || container_pids(&cgroups, &cgroup).is_ok_and(|p| p.len() == 2);
    assert!(wait_until(WAIT, forked), "sleep never started");
    let pids = container_pids(&cgroups, &cgroup).expect("pids");
    assert!(pids.contains(&pid), "{pids:?} holds the init {pid}");

    let out = top(&cgroups, &cgroup, &[]).expect("top");
    assert_eq!(out.titles.last().map(String::as_str), Some("CMD"));
    let pid_col = out.titles.iter().position(|t| t == "PID").expect("PID");
    let listed: Vec<i32> = out
        .processes
        .iter()
        .map(|p| p[pid_col].parse().expect("pid"))
        .collect();
    assert_eq!(listed.len(), 2, "{out:?}");
    assert!(listed.iter().all(|p| pids.contains(p)), "{out:?}");
    let text = format_top(&out);
    assert!(text.lines().any(|l| l.ends_with("sleep 100")), "{text}");
    assert!(text.starts_with("UID "), "{text}");

    let custom = ["-o".to_string(), "pid,comm".to_string()];
    let out = top(&cgroups, &cgroup, &custom).expect("top -o pid,comm");
    assert!(out.processes.iter().any(|p| p[1] == "sleep"), "{out:?}");
    let no_pid = top(&cgroups, &cgroup, &["-o".to_string(), "comm".to_string()]);
    assert!(
        matches!(no_pid, Err(TopError::NoPidColumn { .. })),
        "{no_pid:?}"
    );
}
