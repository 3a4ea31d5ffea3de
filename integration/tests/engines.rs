//! Real engines on top of the runtime under test: containerd 1.6 (`ctr run --runc-binary`),
//! dockerd 20.10 (`--add-runtime berth=RUNTIME`, `docker run --runtime berth`) and podman
//! 4.3 (`podman --runtime RUNTIME`), each with its own daemon, root, state, sockets and cgroup
//! parent per test (see `integration::engines`). Every check runs once per engine: test
//! `<check>::<engine>`. A test skips (passes, printing why) only when its engine is not
//! installed.
//!
//! Written against runc (`BERTH_RUNTIME=/usr/sbin/runc`): they encode what the engines
//! really do with a runc-compatible runtime.

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use integration::engines::{container_file_len, memory_cgroup, Engine, Kind, RunOpts, MIB_64};
use integration::{pid_alive, stderr, stdout, wait_until};

/// One `#[test]` per engine for a check `fn check(kind: Kind)`.
macro_rules! per_engine {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            use super::*;
            #[test]
            fn containerd() {
                $check(Kind::Containerd)
            }
            #[test]
            fn docker() {
                $check(Kind::Docker)
            }
            #[test]
            fn podman() {
                $check(Kind::Podman)
            }
        }
    )*};
}

per_engine!(
    run_prints_and_exits_with_its_code,
    exec_runs_in_the_container_and_returns_its_status,
    top_lists_the_container_processes,
    stats_report_the_container_cgroup,
    pause_freezes_and_unpause_thaws,
    memory_limit_update_reaches_the_cgroup,
    stop_then_rm_and_force_rm,
    read_only_root_with_writable_tmp,
);

fn start(kind: Kind, what: &str) -> Option<Engine> {
    Engine::start(kind, &format!("e-{}-{what}", kind.name()))
}

const SLEEP: &[&str] = &["sleep", "300"];

/// `run --rm IMAGE sh -c 'echo hi; exit 3'`: the output comes back, the exit code is the
/// container's, and nothing is left.
fn run_prints_and_exits_with_its_code(kind: Kind) {
    let Some(e) = start(kind, "run") else {
        return;
    };
    let o = e.run_rm(&["sh", "-c", "echo hi; exit 3"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{kind:?}: run --rm should exit 3\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
        stdout(&o),
        stderr(&o),
        e.daemon_log_tail(15)
    );
    assert_eq!(stdout(&o), "hi\n", "stderr: {}", stderr(&o));
    assert!(
        wait_until(Duration::from_secs(10), || e.containers().is_empty()),
        "left after run --rm: {:?}",
        e.containers()
    );
}

/// `exec` into a running container: same PID namespace as its init, output back, the
/// process's exit status returned.
fn exec_runs_in_the_container_and_returns_its_status(kind: Kind) {
    let Some(e) = start(kind, "exec") else {
        return;
    };
    let name = e.run_detached(&RunOpts::default(), SLEEP);
    let script = "[ \"$(readlink /proc/1/ns/pid)\" = \"$(readlink /proc/self/ns/pid)\" ] \
                  && echo same-pid-ns; cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 4";
    let o = e.exec(&name, &["sh", "-c", script]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{kind:?}: exec should exit 4\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
        stdout(&o),
        stderr(&o),
        e.daemon_log_tail(15)
    );
    assert_eq!(stdout(&o), "same-pid-ns\nsleep 300 \n");
    let o = e.exec(&name, &["true"]);
    e.ok(&o);
}

/// `top` (docker, podman) / `ctr task ps`: both processes of the container, and only them.
fn top_lists_the_container_processes(kind: Kind) {
    let Some(e) = start(kind, "top") else {
        return;
    };
    let name = e.run_detached(
        &RunOpts::default(),
        &["sh", "-c", "sleep 300 & exec sleep 301"],
    );
    let mut procs = Vec::new();
    let both = wait_until(Duration::from_secs(10), || {
        procs = e.processes(&name);
        procs.len() == 2
    });
    assert!(both, "{kind:?}: expected 2 processes, got {procs:?}");
    procs.sort();
    assert_eq!(procs, ["sleep 300", "sleep 301"]);
}

/// `stats --no-stream` (docker, podman) / `ctr task metrics`: the container's own cgroup,
/// with one process and the 64 MiB limit it was started with.
fn stats_report_the_container_cgroup(kind: Kind) {
    let Some(e) = start(kind, "stats") else {
        return;
    };
    let opts = RunOpts {
        memory: Some(MIB_64),
        ..RunOpts::default()
    };
    let name = e.run_detached(&opts, SLEEP);
    let s = e.stats(&name);
    assert_eq!(s.pids, 1, "{kind:?}: stats: {}", s.raw);
    let off = (s.mem_limit - MIB_64 as f64).abs() / MIB_64 as f64;
    assert!(
        off < 0.01,
        "{kind:?}: stats memory limit {} is not 64 MiB: {}",
        s.mem_limit,
        s.raw
    );
}

/// `pause` freezes every process of the container (a shell appending to a file stops
/// writing) and the engine reports it paused; `unpause` lets it run again.
fn pause_freezes_and_unpause_thaws(kind: Kind) {
    let Some(e) = start(kind, "pause") else {
        return;
    };
    let script = "while :; do echo x >> /tmp/ticks; usleep 20000; done";
    let name = e.run_detached(&RunOpts::default(), &["sh", "-c", script]);
    let pid = e.pid(&name);
    let ticks = || container_file_len(pid, "/tmp/ticks").unwrap_or(0);
    assert!(
        wait_until(Duration::from_secs(10), || ticks() > 0),
        "the container never wrote /tmp/ticks"
    );
    e.ok(&e.pause(&name));
    assert_eq!(e.status(&name), "paused");
    let frozen = ticks();
    sleep(Duration::from_millis(400));
    assert_eq!(ticks(), frozen, "{kind:?}: the container ran while paused");
    e.ok(&e.unpause(&name));
    assert_eq!(e.status(&name), "running");
    assert!(
        wait_until(Duration::from_secs(5), || ticks() > frozen),
        "{kind:?}: the container did not run again after unpause"
    );
}

/// `update --memory 64m` (docker, podman) sets the limit of the container's own cgroup,
/// under the engine's cgroup parent. `ctr` 1.6 has no update command: for containerd the
/// limit is given at create (`ctr run --memory-limit`) and checked the same way.
fn memory_limit_update_reaches_the_cgroup(kind: Kind) {
    let Some(e) = start(kind, "update") else {
        return;
    };
    let plain = e.run_detached(&RunOpts::default(), SLEEP);
    let name = match e.update_memory(&plain, MIB_64) {
        Some(o) => {
            e.ok(&o);
            plain
        }
        None => {
            eprintln!("{kind:?}: ctr 1.6 has no update command: checking a limit set at create");
            e.run_detached(
                &RunOpts {
                    memory: Some(MIB_64),
                    ..RunOpts::default()
                },
                SLEEP,
            )
        }
    };
    let pid = e.pid(&name);
    let (cgroup, limit) = memory_cgroup(pid);
    assert!(
        cgroup.starts_with(&format!("{}/", e.cgroup_parent)),
        "{kind:?}: the container (pid {pid}) is in memory cgroup {cgroup:?}, not under the engine's cgroup parent {}",
        e.cgroup_parent
    );
    assert_eq!(limit, Some(MIB_64), "{kind:?}: memory limit of {cgroup}");
}

/// `stop` sends SIGTERM (the container's trap exits 7), the engine records the exit, `rm`
/// removes it with its cgroup; `rm --force` kills and removes a running one.
fn stop_then_rm_and_force_rm(kind: Kind) {
    let Some(e) = start(kind, "stop") else {
        return;
    };
    let script = "trap 'exit 7' TERM; while :; do usleep 50000; done";
    let name = e.run_detached(&RunOpts::default(), &["sh", "-c", script]);
    let pid = e.pid(&name);
    let (cgroup, _) = memory_cgroup(pid);
    e.ok(&e.stop(&name, 10));
    assert_eq!(e.status(&name), "exited");
    if let Some(code) = e.exit_code(&name) {
        assert_eq!(code, 7, "{kind:?}: exit code after stop");
    }
    let o = e.rm(&name);
    e.ok(&o);
    if kind == Kind::Containerd {
        // ctr reports a task's non-zero exit only when deleting it.
        assert!(
            stderr(&o).contains("exit code 7"),
            "ctr task rm: {}",
            stderr(&o)
        );
    }
    assert!(!e.exists(&name), "{kind:?}: {name} still exists after rm");
    assert!(!pid_alive(pid), "{kind:?}: init {pid} alive after rm");
    if cgroup.starts_with(&format!("{}/", e.cgroup_parent)) {
        let dir = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            Path::new("/sys/fs/cgroup").join(cgroup.trim_start_matches('/'))
        } else {
            Path::new("/sys/fs/cgroup/memory").join(cgroup.trim_start_matches('/'))
        };
        assert!(
            wait_until(Duration::from_secs(5), || !dir.exists()),
            "{kind:?}: cgroup {} left after rm",
            dir.display()
        );
    }

    let name = e.run_detached(&RunOpts::default(), SLEEP);
    let pid = e.pid(&name);
    e.ok(&e.force_rm(&name));
    assert!(
        !e.exists(&name),
        "{kind:?}: {name} still exists after rm --force"
    );
    assert!(
        wait_until(Duration::from_secs(5), || !pid_alive(pid)),
        "{kind:?}: init {pid} alive after rm --force"
    );
}

/// `run --read-only`: the root is read-only; podman (whose `--read-only`
/// mounts /tmp as a tmpfs with `tmpcopyup`) gives a writable /tmp too.
fn read_only_root_with_writable_tmp(kind: Kind) {
    let Some(e) = start(kind, "ro") else {
        return;
    };
    let opts = RunOpts {
        read_only: true,
        ..RunOpts::default()
    };
    let script = "touch /in-root 2>/dev/null && echo root-writable || echo root-read-only; \
                  touch /tmp/x 2>/dev/null && echo tmp-writable || echo tmp-read-only";
    let o = e.run_rm_with(&opts, &["sh", "-c", script]);
    let out = e.ok(&o);
    let tmp = if kind == Kind::Podman {
        "tmp-writable"
    } else {
        "tmp-read-only"
    };
    assert_eq!(
        out,
        format!("root-read-only\n{tmp}\n"),
        "stderr: {}",
        stderr(&o)
    );
}
