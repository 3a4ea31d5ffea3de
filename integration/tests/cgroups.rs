//! cgroups: linux.resources read back from the cgroup files and checked by
//! their effect, and pause/resume, ps, events, update, kill --all on them.
//! Runs on this machine's v1 hierarchies and, under `make test-cgroup2`, on
//! a pure cgroup2 kernel.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::*;
use serde_json::{json, Value};

fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The file of a controller in the test container's cgroup
/// (`linux.cgroupsPath` is `/berth-test/<id>` in every test bundle).
fn cgroup_file(controller: &str, id: &str, file: &str) -> PathBuf {
    let root = if unified() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        Path::new("/sys/fs/cgroup").join(controller)
    };
    root.join(CGROUP_PARENT).join(id).join(file)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

fn with_resources(t: &Test, resources: Value) -> Bundle {
    t.bundle()
        .edit(move |c| c["linux"]["resources"] = resources)
}

fn start_detached(t: &Test, b: &Bundle) -> i64 {
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    t.rt.state_json(&b.id)["pid"].as_i64().unwrap()
}

#[test]
fn init_is_placed_in_its_cgroup_and_the_cgroup_goes_with_delete() {
    let Some(t) = Test::new("cg_placement") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "300"]);
    let pid = start_detached(&t, &b);
    let procs = cgroup_file("pids", &b.id, "cgroup.procs");
    assert!(
        read(&procs).lines().any(|p| p == pid.to_string()),
        "{}",
        read(&procs)
    );
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!("/{CGROUP_PARENT}/{}", b.id)), "{own}");
    ok(&t.rt.delete_force(&b.id));
    assert!(
        !procs.parent().unwrap().exists(),
        "cgroup left after delete"
    );
}

#[test]
fn memory_limit_is_written_and_enforced() {
    let Some(t) = Test::new("cg_memory") else {
        return;
    };
    let b = with_resources(&t, json!({"memory": {"limit": 33554432, "swap": 33554432}}));
    let b = b.sh("dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo survived");
    let o = t.run(&b);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // dd was killed by the OOM killer; the shell goes on.
    assert_eq!(stdout(&o), "survived\n");
    let b = with_resources(&t, json!({"memory": {"limit": 33554432}})).args(&["sleep", "300"]);
    start_detached(&t, &b);
    let file = if unified() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read(&cgroup_file("memory", &b.id, file)), "33554432");
}

#[test]
fn pids_limit_makes_fork_fail() {
    let Some(t) = Test::new("cg_pids") else {
        return;
    };
    let b = with_resources(&t, json!({"pids": {"limit": 5}}));
    let out = t.sh(
        b,
        "(for i in 1 2 3 4 5 6 7 8; do sleep 2 & done) 2>&1; echo done",
    );
    assert!(
        out.contains("fork"),
        "every fork succeeded under pids.max=5: {out}"
    );
}

#[test]
fn cpu_settings_are_written() {
    let Some(t) = Test::new("cg_cpu") else {
        return;
    };
    let b = with_resources(
        &t,
        json!({"cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}}),
    )
    .args(&["sleep", "300"]);
    start_detached(&t, &b);
    if unified() {
        assert_eq!(read(&cgroup_file("cpu", &b.id, "cpu.max")), "50000 100000");
        // runc's conversion of 512 shares.
        assert_eq!(read(&cgroup_file("cpu", &b.id, "cpu.weight")), "20");
    } else {
        assert_eq!(read(&cgroup_file("cpu", &b.id, "cpu.shares")), "512");
        assert_eq!(
            read(&cgroup_file("cpu", &b.id, "cpu.cfs_quota_us")),
            "50000"
        );
        assert_eq!(
            read(&cgroup_file("cpu", &b.id, "cpu.cfs_period_us")),
            "100000"
        );
    }
    assert_eq!(read(&cgroup_file("cpuset", &b.id, "cpuset.cpus")), "0");
}

#[test]
fn device_rules_deny_what_they_deny() {
    let Some(t) = Test::new("cg_devices") else {
        return;
    };
    // /dev/fuse exists in the container either way; only the rules differ.
    let bundle = |allow_fuse: bool| {
        let mut rules = vec![json!({"allow": false, "access": "rwm"})];
        if allow_fuse {
            rules.push(
                json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}),
            );
        }
        with_resources(&t, json!({"devices": rules})).edit(|c| {
            c["linux"]["devices"] =
                json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]);
        })
    };
    let script = "head -c 0 /dev/fuse 2>&1; echo; head -c 1 /dev/zero >/dev/null && echo zero-ok";
    let denied = t.sh(bundle(false), script);
    assert!(denied.contains("not permitted"), "{denied}");
    assert!(
        denied.contains("zero-ok"),
        "default devices stay allowed: {denied}"
    );
    let allowed = t.sh(bundle(true), script);
    assert!(!allowed.contains("not permitted"), "{allowed}");
}

#[test]
fn a_controller_the_host_lacks_is_an_error_not_silence() {
    let Some(t) = Test::new("cg_missing_controller") else {
        return;
    };
    if unified() || Path::new("/sys/fs/cgroup/net_cls").exists() {
        eprintln!("skipped: this host has net_cls");
        return;
    }
    if skip_under_runc("runc 1.1.5 ignores a classID it cannot set") {
        return;
    }
    let b = with_resources(&t, json!({"network": {"classID": 1048577}}));
    let err = fails_with(&t.rt.create(&b.id, &b.path), 1);
    assert!(err.contains("network") || err.contains("classID"), "{err}");
    assert!(t.rt.state_entries().is_empty());
    assert!(
        !cgroup_file("pids", &b.id, "").exists(),
        "cgroup left after a failed create"
    );
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let Some(t) = Test::new("cg_pause") else {
        return;
    };
    let out = t.host_dir("out");
    let b = t
        .bundle()
        .bind(&out, "/out", &["rbind"])
        .sh("i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done");
    start_detached(&t, &b);
    let n = out.join("n");
    assert!(wait_until(Duration::from_secs(5), || n.exists()));
    ok(&t.rt.exec(&["pause", &b.id]));
    assert_eq!(t.rt.state_json(&b.id)["status"], "paused");
    let frozen = read(&n);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(read(&n), frozen, "a paused container went on");
    fails_with(&t.rt.exec(&["pause", &b.id]), 1);
    ok(&t.rt.exec(&["resume", &b.id]));
    assert_eq!(t.rt.state_json(&b.id)["status"], "running");
    assert!(wait_until(Duration::from_secs(5), || read(&n) != frozen));
}

#[test]
fn delete_force_removes_a_paused_container() {
    let Some(t) = Test::new("cg_delete_paused") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "300"]);
    let pid = start_detached(&t, &b);
    ok(&t.rt.exec(&["pause", &b.id]));
    ok(&t.rt.delete_force(&b.id));
    assert!(reap(pid as i32, Duration::from_secs(10)).is_some() || !pid_alive(pid as i32));
    assert!(!cgroup_file("freezer", &b.id, "").exists());
}

#[test]
fn ps_lists_the_container_processes() {
    let Some(t) = Test::new("cg_ps") else {
        return;
    };
    let b = t.bundle().sh("sleep 300 & sleep 300");
    let pid = start_detached(&t, &b);
    assert!(wait_until(Duration::from_secs(5), || {
        let o = t.rt.exec(&["ps", "--format", "json", &b.id]);
        serde_json::from_slice::<Vec<i64>>(&o.stdout).is_ok_and(|p| p.len() >= 2)
    }));
    let pids: Vec<i64> =
        serde_json::from_slice(&t.rt.exec(&["ps", "--format", "json", &b.id]).stdout).unwrap();
    assert!(pids.contains(&pid), "{pids:?}");
    let table = ok(&t.rt.exec(&["ps", &b.id]));
    assert!(table.lines().next().unwrap().contains("PID"), "{table}");
    assert_eq!(
        table.lines().filter(|l| l.contains("sleep")).count(),
        2,
        "{table}"
    );
}

#[test]
fn kill_all_signals_every_process() {
    let Some(t) = Test::new("cg_kill_all") else {
        return;
    };
    // Without its own PID namespace the init's death does not take the
    // others with it: only --all reaches them.
    let b = t
        .bundle()
        .without_namespace("pid")
        .sh("sleep 300 & sleep 300 & wait");
    start_detached(&t, &b);
    let pids = || -> Vec<i64> {
        serde_json::from_slice(&t.rt.exec(&["ps", "--format", "json", &b.id]).stdout)
            .unwrap_or_default()
    };
    assert!(wait_until(Duration::from_secs(5), || pids().len() == 3));
    let before = pids();
    ok(&t.rt.exec(&["kill", "--all", &b.id, "KILL"]));
    for pid in before {
        assert!(
            wait_until(Duration::from_secs(5), || reap(
                pid as i32,
                Duration::from_millis(10)
            )
            .is_some()
                || !pid_alive(pid as i32)),
            "{pid} survived kill --all"
        );
    }
}

#[test]
fn events_stats_reports_usage() {
    let Some(t) = Test::new("cg_events") else {
        return;
    };
    let b = with_resources(&t, json!({"pids": {"limit": 50}})).args(&["sleep", "300"]);
    start_detached(&t, &b);
    let out = ok(&t.rt.exec(&["events", "--stats", &b.id]));
    let event: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(event["type"], "stats", "{event}");
    assert_eq!(event["id"], b.id.as_str());
    let data = &event["data"];
    assert!(
        data["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{data}"
    );
    assert!(data["pids"]["current"].as_u64().unwrap_or(0) >= 1, "{data}");
    assert_eq!(data["pids"]["limit"].as_u64(), Some(50), "{data}");
    assert!(data["cpu"]["usage"]["total"].is_u64(), "{data}");
}

#[test]
fn update_changes_limits_from_flags_and_from_stdin() {
    let Some(t) = Test::new("cg_update") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "300"]);
    start_detached(&t, &b);
    ok(&t
        .rt
        .exec(&["update", "--memory", "64m", "--pids-limit", "20", &b.id]));
    let mem = if unified() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(
        read(&cgroup_file("memory", &b.id, mem)),
        (64u64 << 20).to_string()
    );
    assert_eq!(read(&cgroup_file("pids", &b.id, "pids.max")), "20");
    let mut cmd = t.rt.command(&["update", "--resources", "-", &b.id]);
    cmd.stdin(std::process::Stdio::piped());
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn update");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), br#"{"pids": {"limit": 30}}"#)
        .unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert_eq!(read(&cgroup_file("pids", &b.id, "pids.max")), "30");
}

#[test]
fn events_reports_an_oom_as_it_happens() {
    let Some(t) = Test::new("cg_events_oom") else {
        return;
    };
    if skip_under_runc("timing of runc's oom events differs") {
        return;
    }
    // The OOM happens only once `events` is watching (under emulation a
    // fixed delay is not enough).
    let out = t.host_dir("out");
    let b = with_resources(&t, json!({"memory": {"limit": 33554432, "swap": 33554432}}))
        .bind(&out, "/out", &["rbind"])
        .sh("while [ ! -e /out/go ]; do sleep 0.05; done; \
             dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; sleep 300");
    start_detached(&t, &b);
    let mut events =
        t.rt.command(&["events", "--interval", "10s", &b.id])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn events");
    let stdout = events.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Its first stats line says the watcher is in place.
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("no event from events");
    fs::write(out.join("go"), "").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = vec![first];
    let mut oom = false;
    while std::time::Instant::now() < deadline && !oom {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            oom = event["type"] == "oom" && event["id"] == b.id.as_str();
            seen.push(line);
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    assert!(oom, "no oom event in {seen:?}");
}
