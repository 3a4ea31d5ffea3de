//! What the limits do to a process placed in the cgroup: OOM kill, fork
//! refused, frozen, listed, killed, counted.

use std::time::Duration;

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

use super::{body, resources, settle, Fixture, SharedCounter};
use crate::cgroups::{v2, OomEvent};

const MIB: usize = 1 << 20;

#[test]
fn cgroups_memory_limit_oom_kills_the_process() {
    let mut fx = Fixture::new("oom");
    fx.apply(&resources(&format!(
        r#"{{"memory": {{"limit": {0}, "swap": {0}}}}}"#,
        32 * MIB
    )));
    let mut oom = fx.cg.oom_events().unwrap();
    let i = fx.run(|_| {
        body::touch(256 * MIB);
        0
    });
    let status = fx.children[i].wait();
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGKILL, _)),
        "{status:?}"
    );
    match oom.wait(Some(Duration::from_secs(5))).unwrap() {
        OomEvent::Oom(n) => assert!(n >= 1),
        other => panic!("no OOM notification: {other:?}"),
    }
    let stats = fx.cg.stats().unwrap();
    // The peak reached the limit (v1 max_usage, v2 memory.peak), or the
    // kernel counted hitting it (memory.failcnt stays 0 on some kernels).
    let m = &stats.memory;
    assert!(
        m.usage.max >= 30 * MIB as u64 || m.usage.failcnt > 0,
        "{m:?}"
    );
    let (dir, v1) = fx.dir_of("memory").unwrap();
    let file = if v1 {
        "memory.oom_control"
    } else {
        "memory.events"
    };
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let kills = crate::cgroups::fs::keyed_value(&text, "oom_kill").unwrap();
    assert!(kills >= 1, "{text}");
}

#[test]
fn cgroups_pids_limit_makes_fork_fail() {
    let mut fx = Fixture::new("fork");
    fx.apply(&resources(r#"{"pids": {"limit": 1}}"#));
    let i = fx.run(|_| {
        // SAFETY: fork(2) from a single-threaded child; the grandchild, if
        // any, exits at once.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe { libc::_exit(0) };
        }
        if pid > 0 {
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            return 2;
        }
        // SAFETY: this thread's errno.
        if unsafe { *libc::__errno_location() } == libc::EAGAIN {
            0
        } else {
            3
        }
    });
    let status = fx.children[i].wait();
    assert_eq!(
        status,
        WaitStatus::Exited(fx.children[i].pid, 0),
        "fork must fail with EAGAIN"
    );
    let stats = fx.cg.stats().unwrap();
    assert_eq!(stats.pids.limit, 1);
}

#[test]
fn cgroups_frozen_process_does_not_advance() {
    let mut fx = Fixture::new("freeze");
    let counter = SharedCounter::new();
    fx.run(|_| counter.count_forever());
    settle();
    assert!(counter.get() > 0, "child never ran");
    fx.cg.freeze().unwrap();
    assert!(fx.cg.is_frozen());
    let at_freeze = counter.get();
    settle();
    assert_eq!(counter.get(), at_freeze, "frozen child advanced");
    fx.cg.thaw().unwrap();
    assert!(!fx.cg.is_frozen());
    settle();
    assert!(counter.get() > at_freeze, "thawed child did not run");
}

#[test]
fn cgroups_v2_freeze_works_on_the_cgroup2_directory() {
    let mut fx = Fixture::new("freeze2");
    let Some(dir) = fx.cg.unified.as_ref().map(|u| u.dir.clone()) else {
        eprintln!("skipped: no cgroup2 hierarchy");
        return;
    };
    let counter = SharedCounter::new();
    fx.run(|_| counter.count_forever());
    settle();
    v2::freeze(&dir).unwrap();
    assert!(v2::is_frozen(&dir).unwrap());
    let at_freeze = counter.get();
    settle();
    assert_eq!(counter.get(), at_freeze, "frozen child advanced");
    v2::thaw(&dir).unwrap();
    settle();
    assert!(counter.get() > at_freeze);
}

#[test]
fn cgroups_pids_lists_processes_of_nested_cgroups() {
    let mut fx = Fixture::new("ps");
    let a = fx.run(|_| body::sleep_forever());
    let b = fx.run(|_| body::sleep_forever());
    // The container makes a cgroup of its own and moves b there.
    let procs_dir = fx.cg.procs_dir().unwrap().to_path_buf();
    let nested = procs_dir.join("nested");
    std::fs::create_dir(&nested).unwrap();
    std::fs::write(nested.join("cgroup.procs"), fx.children[b].pid.to_string()).unwrap();
    let mut expected = vec![fx.children[a].pid, fx.children[b].pid];
    expected.sort();
    assert_eq!(fx.cg.pids().unwrap(), expected);
    // destroy (in Drop) removes the nested cgroup with the leaf.
}

#[test]
fn cgroups_kill_all_sigkill_kills_every_process() {
    let mut fx = Fixture::new("kill");
    let a = fx.run(|_| body::sleep_forever());
    let b = fx.run(|_| body::sleep_forever());
    fx.cg.kill_all(libc::SIGKILL).unwrap();
    for i in [a, b] {
        let status = fx.children[i].wait();
        assert!(
            matches!(status, WaitStatus::Signaled(_, Signal::SIGKILL, _)),
            "{status:?}"
        );
    }
}

#[test]
fn cgroups_kill_all_other_signal_reaches_every_process() {
    let mut fx = Fixture::new("term");
    let a = fx.run(|_| body::sleep_forever());
    fx.cg.kill_all(libc::SIGTERM).unwrap();
    let status = fx.children[a].wait();
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGTERM, _)),
        "{status:?}"
    );
    assert!(!fx.cg.is_frozen(), "thawed after signalling");
}

#[test]
fn cgroups_stats_count_memory_cpu_and_pids() {
    let mut fx = Fixture::new("stats");
    fx.apply(&resources(&format!(
        r#"{{"pids": {{"limit": 50}}, "memory": {{"limit": {}}}}}"#,
        256 * MIB
    )));
    let i = fx.run(|ready| {
        body::burn(100);
        body::touch(16 * MIB);
        body::say_ready(ready);
        body::sleep_forever()
    });
    fx.children[i].wait_ready();
    let stats = fx.cg.stats().unwrap();
    assert!(
        stats.memory.usage.usage >= 8 * MIB as u64,
        "{:?}",
        stats.memory.usage
    );
    assert_eq!(stats.memory.usage.limit, 256 * MIB as u64);
    assert!(stats.cpu.usage.total >= 50_000_000, "{:?}", stats.cpu.usage);
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, 50);
    if fx.dir_of("cpuacct").is_some_and(|(_, v1)| v1) {
        assert!(!stats.cpu.usage.percpu.is_empty());
    }
    let json = serde_json::to_value(&stats).unwrap();
    assert!(json["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert!(json["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
    assert_eq!(json["pids"]["current"], 1);
}

#[test]
fn cgroups_check_before_update_refuses_limit_below_usage() {
    let mut fx = Fixture::new("cbu");
    let i = fx.run(|ready| {
        body::touch(16 * MIB);
        body::say_ready(ready);
        body::sleep_forever()
    });
    fx.children[i].wait_ready();
    let before = fx.read("memory", "memory.limit_in_bytes", "memory.max");
    let r = resources(&format!(
        r#"{{"memory": {{"limit": {}, "checkBeforeUpdate": true}}}}"#,
        4 * MIB
    ));
    let err = fx.cg.update(&r, &[]).unwrap_err().to_string();
    assert!(err.contains("linux.resources.memory.limit"), "{err}");
    assert!(err.contains("checkBeforeUpdate"), "{err}");
    assert_eq!(
        fx.read("memory", "memory.limit_in_bytes", "memory.max"),
        before
    );
}

#[test]
fn cgroups_kill_all_keeps_a_paused_container_paused() {
    let mut fx = Fixture::new("pausedkill");
    let a = fx.run(|_| body::sleep_forever());
    fx.cg.freeze().unwrap();
    fx.cg.kill_all(libc::SIGTERM).unwrap();
    assert!(
        fx.cg.is_frozen(),
        "kill --all must not resume a paused container"
    );
    fx.cg.thaw().unwrap();
    let status = fx.children[a].wait();
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGTERM, _)),
        "{status:?}"
    );
}

#[test]
fn cgroups_oom_watcher_reports_the_end_of_the_container() {
    let mut fx = Fixture::new("oomgone");
    let i = fx.run(|_| body::sleep_forever());
    let mut oom = fx.cg.oom_events().unwrap();
    // The container ends: its last process dies (v2 sees `populated 0`)
    // and its cgroup is removed (v1's eventfd fires).
    nix::sys::signal::kill(fx.children[i].pid, Signal::SIGKILL).unwrap();
    fx.children[i].wait();
    fx.cg.destroy().unwrap();
    let event = oom.wait(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(event, OomEvent::Gone);
}
