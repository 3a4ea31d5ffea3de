//! Faults at every stage of create, start, exec and delete: an injected
//! error (failpoint `return`) and a real `kill -9` of the runtime while it
//! stands at that point (failpoint `sleep`). After each: `state` tells the
//! truth, `delete --force` succeeds, and nothing of the container is left
//! (state dir, fifo, cgroup, mount, process).
//!
//! Needs a runtime built with the `failpoints` feature:
//! `cargo build -p berth-runtime --features failpoints --target-dir target/failpoints`
//! (`make test` builds it; `$BERTH_FAILPOINTS_RUNTIME` overrides the path).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use integration::*;

fn fault_runtime() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BERTH_FAILPOINTS_RUNTIME") {
        return Some(PathBuf::from(path));
    }
    if runtime_is_runc() {
        return None;
    }
    let built =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/failpoints/debug/berth-runtime");
    assert!(
        built.is_file(),
        "{} missing: cargo build -p berth-runtime --features failpoints --target-dir target/failpoints",
        built.display()
    );
    Some(built)
}

fn faulty(t: &Test, bin: &Path, failpoint: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--root").arg(&t.rt.root).args(args);
    cmd.env("FAILPOINTS", failpoint).stdin(Stdio::null());
    cmd
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// The failpoint makes the step return an error.
    Error,
    /// The runtime stalls at the failpoint and is killed with SIGKILL.
    Kill,
}

/// Runs `args` with the fault at `point`; returns once the runtime is done
/// (or killed).
fn inject(t: &Test, bin: &Path, point: &str, fault: Fault, args: &[&str]) -> Option<i32> {
    match fault {
        Fault::Error => {
            let o =
                t.rt.output(faulty(t, bin, &format!("{point}=return"), args));
            assert!(!o.status.success(), "{point}: succeeded");
            let err = stderr(&o);
            assert!(err.contains("failpoint"), "{point}: {err}");
            o.status.code()
        }
        Fault::Kill => {
            let mut child = faulty(t, bin, &format!("{point}=sleep(3000)"), args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // Every stage is reached well within this in a debug build.
            std::thread::sleep(Duration::from_millis(700));
            // Its children become ours when it dies (we are their
            // subreaper): reap exactly those, never another test's.
            let orphans = children_of(child.id());
            let _ = child.kill();
            let code = child.wait().ok().and_then(|s| s.code());
            for pid in orphans {
                reap(pid, Duration::from_secs(5));
            }
            code
        }
    }
}

fn children_of(pid: u32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// What the container may have left on the host.
#[track_caller]
fn assert_nothing_left(t: &Test, b: &Bundle, init: Option<i32>) {
    assert!(
        !t.rt.state_entries().contains(&b.id),
        "state dir of {} left: {:?}",
        b.id,
        t.rt.state_entries()
    );
    for hierarchy in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let dir = hierarchy.path().join(CGROUP_PARENT).join(&b.id);
        assert!(!dir.exists(), "cgroup {} left", dir.display());
    }
    let flat = Path::new("/sys/fs/cgroup").join(CGROUP_PARENT).join(&b.id);
    assert!(!flat.exists(), "cgroup {} left", flat.display());
    assert!(
        host_mounts_mentioning(&b.path).is_empty(),
        "{:?}",
        host_mounts_mentioning(&b.path)
    );
    if let Some(pid) = init {
        assert!(
            wait_until(Duration::from_secs(5), || reap(
                pid,
                Duration::from_millis(10)
            )
            .is_some()
                || !pid_alive(pid)),
            "init {pid} survived"
        );
    }
}

/// The init pid as state.json recorded it, if it got that far.
fn recorded_init(t: &Test, id: &str) -> Option<i32> {
    let text = fs::read_to_string(t.rt.root.join(id).join("state.json")).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    state["pid"].as_i64().filter(|p| *p > 0).map(|p| p as i32)
}

/// After the fault: state is truthful, delete --force cleans everything.
#[track_caller]
fn recover(t: &Test, b: &Bundle, point: &str) {
    let init = recorded_init(t, &b.id);
    let o = t.rt.state(&b.id);
    if o.status.success() {
        let status = t.rt.state_json(&b.id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let alive = init.is_some_and(pid_alive);
        assert!(
            ["created", "creating", "running", "stopped"].contains(&status.as_str()),
            "{point}: status {status}"
        );
        if status == "stopped" {
            // A stopped container may still be a zombie waiting for us.
            let _ = init.map(|p| reap(p, Duration::from_millis(100)));
        } else {
            assert!(alive, "{point}: status {status} but the init is gone");
        }
    }
    ok(&t.rt.delete_force(&b.id));
    assert_nothing_left(t, b, init);
}

const CREATE_POINTS: &[&str] = &[
    "create:after-state-dir",
    "create:after-cgroup",
    "create:after-clone",
    "create:after-hooks",
    "create:before-save",
    "init:after-namespaces",
    "init:after-mounts",
    "init:after-pivot",
    "init:before-ready",
];

fn create_faults(fault: Fault) {
    let Some(t) = Test::new(&format!("faults_create_{fault:?}")) else {
        return;
    };
    let Some(bin) = fault_runtime() else {
        eprintln!("skipped: needs berth-runtime's failpoints build");
        return;
    };
    for point in CREATE_POINTS {
        let b = t.bundle().args(&["sleep", "300"]);
        let bundle = b.path.to_string_lossy().to_string();
        inject(
            &t,
            &bin,
            point,
            fault,
            &["create", "--bundle", &bundle, &b.id],
        );
        recover(&t, &b, point);
    }
}

#[test]
fn create_faults_leave_nothing() {
    create_faults(Fault::Error);
}

#[test]
fn create_killed_at_each_stage_leaves_nothing_after_delete() {
    create_faults(Fault::Kill);
}

#[test]
fn start_faults_leave_a_deletable_container() {
    let Some(t) = Test::new("faults_start") else {
        return;
    };
    let Some(bin) = fault_runtime() else {
        return;
    };
    // Before the fifo is opened nothing has started; after it, the
    // container is started even though that start failed or died.
    for (point, status) in [
        ("start:before-release", "created"),
        ("start:after-release", "running"),
    ] {
        for fault in [Fault::Error, Fault::Kill] {
            let b = t.bundle().args(&["sleep", "300"]);
            ok(&t.rt.create(&b.id, &b.path));
            inject(&t, &bin, point, fault, &["start", &b.id]);
            assert!(
                wait_until(Duration::from_secs(5), || t.rt.state_json(&b.id)["status"]
                    == status),
                "{point} {fault:?}: {}",
                t.rt.state_json(&b.id)["status"]
            );
            recover(&t, &b, point);
        }
    }
}

#[test]
fn exec_faults_leave_the_container_as_it_was() {
    let Some(t) = Test::new("faults_exec") else {
        return;
    };
    let Some(bin) = fault_runtime() else {
        return;
    };
    let b = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let count = || {
        serde_json::from_slice::<Vec<i64>>(&t.rt.exec(&["ps", "--format", "json", &b.id]).stdout)
            .map(|p| p.len())
            .unwrap_or(0)
    };
    for point in ["exec:after-clone", "exec:in-container"] {
        for fault in [Fault::Error, Fault::Kill] {
            inject(&t, &bin, point, fault, &["exec", &b.id, "sleep", "100"]);
            assert_eq!(
                t.rt.state_json(&b.id)["status"],
                "running",
                "{point} {fault:?}"
            );
            // The half-made process goes (a killed runtime's child finds its
            // channel closed and exits).
            assert!(
                wait_until(Duration::from_secs(5), || count() == 1),
                "{point} {fault:?}: {} processes",
                count()
            );
        }
    }
    recover(&t, &b, "exec");
}

#[test]
fn delete_faults_can_be_finished_by_another_delete() {
    let Some(t) = Test::new("faults_delete") else {
        return;
    };
    let Some(bin) = fault_runtime() else {
        return;
    };
    for point in ["delete:after-kill", "delete:before-remove"] {
        for fault in [Fault::Error, Fault::Kill] {
            let b = t.bundle().args(&["sleep", "300"]);
            ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
            inject(&t, &bin, point, fault, &["delete", "--force", &b.id]);
            recover(&t, &b, point);
        }
    }
}

/// A real `kill -9` of the runtime while a hook of `kind` runs, in the command that
/// runs it (`create` for createRuntime, `start` for poststart). The hook and what it
/// forked are host processes outside the container's cgroup, so killing the container
/// does not reach them: `delete --force` must end them itself.
fn runtime_killed_while_a_hook_runs(name: &str, kind: &str) {
    let Some(t) = Test::new(name) else {
        return;
    };
    if skip_under_runc("runc leaves a hook running when its runtime is killed") {
        return;
    }
    let pids_file = t.host_dir("hook").join("pids");
    let script = format!(
        "sleep 300 & echo $! $$ > {f}.tmp && mv {f}.tmp {f}; wait",
        f = pids_file.display()
    );
    let b = t.bundle().args(&["sleep", "300"]).edit(|c| {
        c["hooks"] = serde_json::json!({
            kind: [{"path": "/bin/sh", "args": ["sh", "-c", script]}]
        });
    });
    let r = t.rt.remote();
    let runtime = if kind == "poststart" {
        ok(&t.rt.create(&b.id, &b.path));
        r.spawn(&["start", &b.id])
    } else {
        r.spawn(&["create", "--bundle", b.path.to_str().unwrap(), &b.id])
    };
    assert!(
        wait_until(Duration::from_secs(20), || pids_file.exists()),
        "the {kind} hook never ran"
    );
    let hook_pids: Vec<i32> = fs::read_to_string(&pids_file)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let _cleanup = KillOnDrop(hook_pids.clone());
    // Its children become ours when it dies (we are their subreaper).
    let orphans = children_of(runtime.pid() as u32);
    // SAFETY: kill(2) on the runtime process this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(runtime.pid(), libc::SIGKILL) }, 0);
    let killed = runtime.finish(Duration::from_secs(10));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed.output.status),
        Some(libc::SIGKILL)
    );
    recover(&t, &b, &format!("a {kind} hook"));
    for pid in hook_pids.iter().chain(&orphans) {
        assert!(
            wait_until(Duration::from_secs(5), || reap(
                *pid,
                Duration::from_millis(10)
            )
            .is_some()
                || !pid_alive(*pid)),
            "{kind} hook process {pid} survived delete --force"
        );
    }
}

#[test]
fn create_killed_while_a_hook_runs_leaves_no_hook_behind() {
    runtime_killed_while_a_hook_runs("faults_hook_kill", "createRuntime");
}

#[test]
fn start_killed_while_a_poststart_hook_runs_leaves_no_hook_behind() {
    runtime_killed_while_a_hook_runs("faults_poststart_kill", "poststart");
}

/// Host processes a test started through a hook, children before parents: killed by
/// pid if the test fails before the runtime ended them (each is checked to be our
/// child first, so no reused pid is hit).
struct KillOnDrop(Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let me = std::process::id() as i32;
        // Parents first: their children are ours only once they are gone.
        for &pid in self.0.iter().rev() {
            if proc_parent_and_state(pid).is_some_and(|(parent, _)| parent == me) {
                // SAFETY: kill(2) on a child of this process, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                reap(pid, Duration::from_secs(5));
            }
        }
    }
}
