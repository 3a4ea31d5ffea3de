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
    let b = t.bundle().args(&["true"]);
    ok(&t.rt.create(&b.id, &b.path));
    let pid = init_pid(&t, &b.id);
    ok(&t.rt.start(&b.id));
    assert!(t.rt.reap_init(pid, Duration::from_secs(10)).is_some());
    let Some(impostor) = spawn_sleep_with_pid(&t, pid) else {
        eprintln!("skipped: could not get pid {pid} reused on this machine");
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
        pid_alive(impostor as i32),
        "delete must not signal the process that reused the pid"
    );
}
