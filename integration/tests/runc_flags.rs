//! runc's flags beyond the lifecycle: `run --keep`, `run --no-subreaper`,
//! `exec --ignore-paused`, `exec --cgroup`, `--debug`, and `checkpoint` /
//! `restore` through CRIU (which fails on this kernel: the error must say
//! why, from criu's own log).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use integration::*;

fn sleeping_container(t: &Test) -> Bundle {
    let b = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    b
}

#[test]
fn run_keep_leaves_the_stopped_container() {
    let Some(t) = Test::new("flags_run_keep") else {
        return;
    };
    let b = t.bundle().args(&["true"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["--keep"]));
    assert_eq!(t.rt.status(&b.id), "stopped");
    ok(&t.rt.delete(&b.id));
}

#[test]
fn exec_in_a_paused_container_needs_ignore_paused() {
    let Some(t) = Test::new("flags_ignore_paused") else {
        return;
    };
    let b = sleeping_container(&t);
    ok(&t.rt.exec(&["pause", &b.id]));
    let refused = t.rt.exec(&["exec", &b.id, "true"]);
    assert!(!refused.status.success(), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("paused"), "{}", stderr(&refused));
    // Frozen with the container, the process runs once it is resumed.
    let out = t.dir.join("exec.out");
    let mut cmd =
        t.rt.command(&["exec", "--ignore-paused", &b.id, "echo", "ran"]);
    cmd.stdout(fs::File::create(&out).unwrap())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn exec");
    std::thread::sleep(Duration::from_millis(300));
    let resumed = t.rt.exec(&["resume", &b.id]);
    let status = wait_child_for(&mut child, Duration::from_secs(20));
    ok(&resumed);
    assert_eq!(status, Some(0));
    assert_eq!(fs::read_to_string(&out).unwrap(), "ran\n");
}

fn wait_child_for(child: &mut std::process::Child, timeout: Duration) -> Option<i32> {
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status.and_then(|s| s.code())
}

/// The container's directory in each mounted cgroup hierarchy.
fn container_cgroup_dirs(id: &str) -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" - cgroup ") || l.contains(" - cgroup2 "))
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(|mount| Path::new(mount).join(CGROUP_PARENT).join(id))
        .filter(|dir| dir.is_dir())
        .collect()
}

#[test]
fn exec_cgroup_runs_the_process_in_the_sub_cgroup() {
    let Some(t) = Test::new("flags_exec_cgroup") else {
        return;
    };
    let b = sleeping_container(&t);
    let dirs = container_cgroup_dirs(&b.id);
    assert!(!dirs.is_empty(), "no cgroup dir of {}", b.id);
    for dir in &dirs {
        fs::create_dir(dir.join("sub")).unwrap();
        // A new v1 cpuset starts empty: no task may join it until it has
        // cpus and mems (the caller's job, with runc too).
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(value) = fs::read_to_string(dir.join(file)) {
                fs::write(dir.join("sub").join(file), value.trim()).unwrap();
            }
        }
    }
    let out = ok(&t
        .rt
        .exec(&["exec", "--cgroup", "sub", &b.id, "cat", "/proc/self/cgroup"]));
    let suffix = format!("/{}/sub", b.id);
    let in_sub = out.lines().filter(|l| l.ends_with(&suffix)).count();
    assert!(in_sub >= dirs.len().min(2), "{out}");
    let escape = t.rt.exec(&["exec", "--cgroup", "../..", &b.id, "true"]);
    assert!(!escape.status.success());
}

/// The parent of the orphan a container without its own PID namespace leaves
/// behind while `run` waits in the foreground.
fn orphan_parent(t: &Test, extra: &[&str]) -> (i32, u32) {
    let b = t
        .bundle()
        .without_namespace("pid")
        .args(&["sh", "-c", "(sleep 300 &); sleep 300"]);
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    let bundle = b.path.to_string_lossy().to_string();
    args.extend_from_slice(&["--bundle", &bundle, &b.id]);
    let run_err = t.dir.join(format!("run-{}.stderr", b.id));
    let mut cmd = t.rt.command(&args);
    cmd.stdout(Stdio::null())
        .stderr(fs::File::create(&run_err).unwrap());
    let mut child = cmd.spawn().expect("spawn run");
    let run = child.id();
    let mut orphan = None;
    wait_until(Duration::from_secs(20), || {
        let pids = t.rt.exec(&["ps", "--format", "json", &b.id]);
        let pids: Vec<i32> = serde_json::from_str(&stdout(&pids)).unwrap_or_default();
        let state = t.rt.state(&b.id);
        let Ok(state) = serde_json::from_slice::<serde_json::Value>(&state.stdout) else {
            return false;
        };
        let init = state["pid"].as_i64().unwrap_or(0) as i32;
        orphan = pids
            .into_iter()
            .filter(|&p| p != init)
            .map(|p| (p, parent_of(p)))
            .find(|&(_, parent)| parent != init && parent != 0);
        orphan.is_some()
    });
    let killed = t.rt.kill(&b.id, Some("KILL"));
    let status = wait_child_for(&mut child, Duration::from_secs(20));
    let run_stderr = fs::read_to_string(&run_err).unwrap_or_default();
    let (_, parent) =
        orphan.unwrap_or_else(|| panic!("no orphaned sleep; run: {status:?} {run_stderr}"));
    assert!(
        killed.status.success(),
        "run: {status:?} {run_stderr}; kill: {}",
        stderr(&killed)
    );
    (parent, run)
}

fn parent_of(pid: i32) -> i32 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn run_adopts_orphans_as_subreaper() {
    let Some(t) = Test::new("flags_subreaper") else {
        return;
    };
    let (parent, run) = orphan_parent(&t, &[]);
    assert_eq!(parent, run as i32);
}

#[test]
fn run_no_subreaper_leaves_orphans_to_the_host() {
    let Some(t) = Test::new("flags_no_subreaper") else {
        return;
    };
    let (parent, run) = orphan_parent(&t, &["--no-subreaper"]);
    assert_ne!(parent, run as i32);
}

#[test]
fn debug_writes_a_line_at_each_stage() {
    let Some(t) = Test::new("flags_debug") else {
        return;
    };
    let b = t.bundle().args(&["true"]);
    let quiet = t.rt.run(&b.id, &b.path);
    ok(&quiet);
    assert!(
        !stderr(&quiet).contains("level=debug"),
        "{}",
        stderr(&quiet)
    );
    let b = t.bundle().args(&["true"]);
    let bundle = b.path.to_string_lossy().to_string();
    let o = t.rt.exec(&["--debug", "run", "--bundle", &bundle, &b.id]);
    ok(&o);
    let lines = stderr(&o)
        .lines()
        .filter(|l| l.contains("level=debug"))
        .count();
    assert!(lines >= 3, "{}", stderr(&o));
    let log = t.dir.join("debug.log");
    let b = t.bundle().args(&["true"]);
    let bundle = b.path.to_string_lossy().to_string();
    let log_arg = log.to_string_lossy().to_string();
    let o = t.rt.exec(&[
        "--debug", "--log", &log_arg, "run", "--bundle", &bundle, &b.id,
    ]);
    ok(&o);
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(text.matches("level=debug").count() >= 3, "{text}");
}

/// criu's first `Error (...)` line in `log`, without its timestamp.
fn first_criu_error(log: &Path) -> Option<String> {
    fs::read_to_string(log)
        .ok()?
        .lines()
        .find_map(|l| l.find("Error (").map(|at| l[at..].trim().to_string()))
}

/// Whether `criu check` passes here; a missing criu fails the test (make
/// test installs it).
fn criu_works() -> bool {
    let status = std::process::Command::new("criu")
        .arg("check")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(status) => status.success(),
        Err(e) => panic!("criu: {e}: not installed? (`make test` installs it)"),
    }
}

/// Where criu works, a checkpoint; where it does not (this machine's
/// kernel), an error quoting criu's own log.
#[test]
fn checkpoint_failure_quotes_crius_log() {
    let Some(t) = Test::new("flags_checkpoint") else {
        return;
    };
    let b = sleeping_container(&t);
    let images = t.dir.join("images");
    let images_arg = images.to_string_lossy().to_string();
    let o =
        t.rt.exec(&["checkpoint", "--image-path", &images_arg, &b.id]);
    if criu_works() {
        // A kernel criu supports: the dump works and the container is gone.
        ok(&o);
        assert!(images.join("inventory.img").exists());
        assert_ne!(t.rt.status(&b.id), "running");
        return;
    }
    let err = fails_with(&o, 1);
    assert!(err.contains("error"), "{err}");
    // A failed dump leaves the container as it was.
    assert_eq!(t.rt.status(&b.id), "running");
    if skip_under_runc("runc 1.1.5 names criu's log file without quoting it") {
        return;
    }
    let reason = first_criu_error(&images.join("dump.log")).expect("criu's dump.log");
    assert!(err.contains(&reason), "{err}\nexpected: {reason}");
    assert!(err.contains("dump.log"), "{err}");
}

#[test]
fn restore_failure_quotes_crius_log_and_leaves_nothing() {
    let Some(t) = Test::new("flags_restore") else {
        return;
    };
    // No images: criu fails on any kernel, and says why in restore.log.
    let b = t.bundle().args(&["sleep", "300"]);
    let images = t.host_dir("empty-images");
    let images_arg = images.to_string_lossy().to_string();
    let bundle = b.path.to_string_lossy().to_string();
    let o = t.rt.exec(&[
        "restore",
        "--image-path",
        &images_arg,
        "--bundle",
        &bundle,
        "--detach",
        &b.id,
    ]);
    let err = fails_with(&o, 1);
    assert!(err.contains("error"), "{err}");
    assert!(
        t.rt.state_entries().is_empty(),
        "{:?}",
        t.rt.state_entries()
    );
    if skip_under_runc("runc 1.1.5 names criu's log file without quoting it") {
        return;
    }
    let reason = first_criu_error(&images.join("restore.log")).expect("criu's restore.log");
    assert!(err.contains(&reason), "{err}\nexpected: {reason}");
}

#[test]
fn checkpoint_with_a_missing_criu_names_the_flag() {
    let Some(t) = Test::new("flags_criu_path") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 reports a missing criu without naming --criu") {
        return;
    }
    let b = sleeping_container(&t);
    let images = t.dir.join("images").to_string_lossy().to_string();
    let o = t.rt.exec(&[
        "--criu",
        "/no/such/criu",
        "checkpoint",
        "--image-path",
        &images,
        &b.id,
    ]);
    let line = single_error_line(&o);
    assert!(line.contains("--criu"), "{line}");
    assert!(line.contains("/no/such/criu"), "{line}");
    assert_eq!(t.rt.status(&b.id), "running");
}
