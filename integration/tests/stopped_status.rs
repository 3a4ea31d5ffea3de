//! Status is derived from the init process, and a dead init is never mistaken for a live one.

use std::time::Duration;

use integration::*;

fn init_pid(t: &Test, id: &str) -> i32 {
    t.rt.state_json(id)["pid"].as_i64().expect("pid") as i32
}

#[test]
fn exited_init_reads_stopped_before_and_after_reaping() {
    let Some(t) = Test::new("exited_init_stopped") else {
        return;
    };
    let b = t.bundle().args(&["true"]);
    ok(&t.rt.create(&b.id, &b.path));
    let pid = init_pid(&t, &b.id);
    ok(&t.rt.start(&b.id));
    // Not reaped yet: the init is a zombie child of this (subreaper) process.
    t.rt.wait_status(&b.id, "stopped");
    assert!(
        t.rt.reap_init(pid, Duration::from_secs(10)).is_some(),
        "init {pid} exited"
    );
    assert_eq!(t.rt.status(&b.id), "stopped");
    ok(&t.rt.delete(&b.id));
    fails_with(&t.rt.state(&b.id), 1);
}

#[test]
fn running_init_killed_from_outside_reads_stopped_and_deletes() {
    let Some(t) = Test::new("killed_running_stopped") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "60"]);
    ok(&t.rt.create(&b.id, &b.path));
    let pid = init_pid(&t, &b.id);
    ok(&t.rt.start(&b.id));
    assert_eq!(t.rt.status(&b.id), "running");
    // SAFETY: pid is this test's container init, still unreaped, so not reused.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    t.rt.wait_status(&b.id, "stopped");
    assert!(t.rt.reap_init(pid, Duration::from_secs(10)).is_some());
    assert_eq!(t.rt.status(&b.id), "stopped");
    ok(&t.rt.delete(&b.id));
    fails_with(&t.rt.state(&b.id), 1);
    assert_eq!(ok(&t.rt.list(&["-q"])), "");
}

#[test]
fn created_init_killed_from_outside_reads_stopped_and_deletes() {
    let Some(t) = Test::new("killed_created_stopped") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "60"]);
    ok(&t.rt.create(&b.id, &b.path));
    let pid = init_pid(&t, &b.id);
    // SAFETY: pid is this test's container init, still unreaped, so not reused.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    assert!(t.rt.reap_init(pid, Duration::from_secs(10)).is_some());
    assert_eq!(t.rt.status(&b.id), "stopped");
    fails_with(&t.rt.start(&b.id), 1);
    ok(&t.rt.delete(&b.id));
    fails_with(&t.rt.state(&b.id), 1);
}

/// A container that ran and exited, its init reaped, and its pid now held by an
/// unrelated sleep: (bundle, pid, the sleep's pid). None (the test skips) if the
/// pid could not be had again.
fn stopped_with_its_pid_reused(t: &Test) -> Option<(Bundle, i32, i32)> {
    let b = t.bundle().args(&["true"]);
    ok(&t.rt.create(&b.id, &b.path));
    let pid = init_pid(t, &b.id);
    ok(&t.rt.start(&b.id));
    assert!(t.rt.reap_init(pid, Duration::from_secs(10)).is_some());
    let Some(impostor) = spawn_sleep_with_pid(t, pid) else {
        eprintln!("skipped: could not get pid {pid} reused on this machine");
        return None;
    };
    Some((b, pid, impostor as i32))
}

/// Makes the next process spawned on the host get `pid`, by writing ns_last_pid. Other
/// threads fork too, so try a few times; returns the helper's pid when it got `pid`.
fn spawn_sleep_with_pid(t: &Test, pid: i32) -> Option<u32> {
    for _ in 0..50 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let mut cmd = std::process::Command::new("/bin/busybox");
        cmd.args(["sleep", "60"]);
        let got = t.spawn_helper(cmd);
        if got == pid as u32 {
            return Some(got);
        }
        t.kill_helper(got);
    }
    None
}

#[test]
fn reused_init_pid_is_not_mistaken_for_the_container() {
    let Some(t) = Test::new("reused_pid") else {
        return;
    };
    let Some((b, pid, impostor)) = stopped_with_its_pid_reused(&t) else {
        return;
    };
    assert_eq!(
        t.rt.status(&b.id),
        "stopped",
        "pid {pid} now belongs to an unrelated sleep"
    );
    fails_with(&t.rt.kill(&b.id, Some("KILL")), 1);
    ok(&t.rt.delete(&b.id));
    assert!(
        pid_alive(impostor),
        "delete must not signal the process that reused the pid"
    );
}

/// Kills every process of container `id` by pid, as a reboot would, and reaps the ones
/// that were the test process's children. Returns how many there were.
fn kill_all_by_pid(t: &Test, id: &str, init: i32) -> usize {
    let pids = procs_in_test_cgroup(id);
    for &p in &pids {
        // SAFETY: live processes of this test's container (checked just above); none of
        // them is reaped yet, so none of the pids can have been reused.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    for &p in &pids {
        if p == init {
            assert!(t.rt.reap_init(p, Duration::from_secs(10)).is_some());
        } else {
            // Orphaned by the init's death, they are this (subreaper) process's.
            reap(p, Duration::from_secs(10));
        }
    }
    pids.len()
}

/// What a host restart leaves: the state dir of a container whose processes are all
/// gone. It must read as stopped, refuse what needs a live container, and delete cleanly.
fn after_restart(name: &str, start: bool, forget_cgroups: bool) {
    let Some(t) = Test::new(name) else { return };
    let out = t.host_dir("out");
    // No PID namespace: the init's death does not take the others with it, so each one
    // must be gone by its own kill, as in a machine that went down.
    let b = t
        .bundle()
        .without_namespace("pid")
        .bind(&out, "/out", &["bind"])
        .sh("sleep 600 & sleep 600 & touch /out/ready; exec sleep 600");
    ok(&t.rt.create(&b.id, &b.path));
    let pid = init_pid(&t, &b.id);
    if start {
        ok(&t.rt.start(&b.id));
        assert!(wait_until(Duration::from_secs(10), || out
            .join("ready")
            .exists()));
        assert!(
            wait_until(Duration::from_secs(10), || procs_in_test_cgroup(&b.id)
                .len()
                == 3),
            "{:?}",
            procs_in_test_cgroup(&b.id)
        );
    }
    let killed = kill_all_by_pid(&t, &b.id, pid);
    assert_eq!(killed, if start { 3 } else { 1 });
    if forget_cgroups {
        // A reboot also wipes the cgroup filesystem.
        for dir in test_cgroup_dirs(&b.id) {
            std::fs::remove_dir(&dir).unwrap_or_else(|e| panic!("rmdir {}: {e}", dir.display()));
        }
    }
    assert_eq!(t.rt.status(&b.id), "stopped");
    assert_eq!(
        t.rt.state_json(&b.id)["pid"],
        0,
        "a stopped container has no pid"
    );
    fails_with(&t.rt.start(&b.id), 1);
    fails_with(&t.rt.kill(&b.id, Some("KILL")), 1);
    fails_with(&t.rt.exec(&["exec", &b.id, "true"]), 255);
    ok(&t.rt.delete(&b.id));
    fails_with(&t.rt.state(&b.id), 1);
    assert!(
        t.rt.state_entries().is_empty(),
        "{:?}",
        t.rt.state_entries()
    );
    assert!(procs_in_test_cgroup(&b.id).is_empty());
    assert!(
        test_cgroup_dirs(&b.id).is_empty(),
        "{:?}",
        test_cgroup_dirs(&b.id)
    );
    assert!(host_mounts_mentioning(&b.path).is_empty());
}

#[test]
fn running_container_with_every_process_killed_reads_stopped_and_deletes() {
    after_restart("restart_running", true, false);
}

#[test]
fn created_container_with_its_init_killed_reads_stopped_and_deletes() {
    after_restart("restart_created", false, false);
}

#[test]
fn container_gone_with_its_cgroups_after_a_reboot_deletes_cleanly() {
    after_restart("restart_no_cgroups", true, true);
}

#[test]
fn reused_init_pid_is_left_alone_by_every_command() {
    let Some(t) = Test::new("reused_pid_all") else {
        return;
    };
    let Some((b, pid, impostor)) = stopped_with_its_pid_reused(&t) else {
        return;
    };
    let s = t.rt.state_json(&b.id);
    assert_eq!(
        s["status"], "stopped",
        "pid {pid} is an unrelated sleep now: {s}"
    );
    assert_eq!(s["pid"], 0, "{s}");
    let listed = ok(&t.rt.list(&["--format", "json"]));
    assert!(listed.contains("\"stopped\""), "{listed}");
    for args in [
        vec!["kill", &b.id, "KILL"],
        vec!["kill", "--all", &b.id, "KILL"],
        vec!["pause", &b.id],
        vec!["resume", &b.id],
        vec!["start", &b.id],
    ] {
        let o = t.rt.exec(&args);
        // runc 1.1.5's `kill --all` signals the (empty) cgroup of a stopped container
        // and succeeds; what matters is who gets the signal.
        let allowed: &[i32] = if args[1] == "--all" { &[0, 1] } else { &[1] };
        assert!(
            o.status.code().is_some_and(|c| allowed.contains(&c)),
            "`{}`: {o:?}",
            args.join(" ")
        );
        assert!(
            pid_alive(impostor),
            "`{}` hit the unrelated process",
            args.join(" ")
        );
    }
    fails_with(&t.rt.exec(&["exec", &b.id, "true"]), 255);
    assert!(
        pid_alive(impostor),
        "exec joined or hit the unrelated process"
    );
    ok(&t.rt.delete_force(&b.id));
    assert!(
        pid_alive(impostor),
        "delete --force must not signal the process that reused the pid"
    );
    fails_with(&t.rt.state(&b.id), 1);
    assert!(t.rt.state_entries().is_empty());
}
