//! create / start / state / kill / delete / list / run, as runc does them.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use integration::*;
use serde_json::Value;

/// A bundle whose process touches `/out/started` (a host dir) and then sleeps.
fn sleeper(t: &Test) -> (Bundle, PathBuf) {
    let out = t.host_dir("out");
    let b = t
        .bundle()
        .bind(&out, "/out", &["bind"])
        .sh("touch /out/started; exec sleep 60");
    (b, out.join("started"))
}

#[test]
fn create_leaves_container_created_and_process_not_run() {
    let Some(t) = Test::new("create_leaves_created") else {
        return;
    };
    let (b, marker) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    assert_eq!(t.rt.status(&b.id), "created");
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap() as i32;
    assert!(pid_alive(pid), "init {pid} of a created container is alive");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!marker.exists(), "the process must not run before start");
}

#[test]
fn start_runs_the_process() {
    let Some(t) = Test::new("start_runs") else {
        return;
    };
    let (b, marker) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    assert!(
        wait_until(Duration::from_secs(10), || marker.exists()),
        "process did not run"
    );
    assert_eq!(t.rt.status(&b.id), "running");
}

#[test]
fn process_exit_makes_container_stopped() {
    let Some(t) = Test::new("exit_stopped") else {
        return;
    };
    let b = t.bundle().args(&["true"]);
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    t.rt.wait_status(&b.id, "stopped");
}

#[test]
fn state_json_has_oci_fields() {
    let Some(t) = Test::new("state_fields") else {
        return;
    };
    let (b, _) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    let s = t.rt.state_json(&b.id);
    assert!(
        s["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "ociVersion: {s}"
    );
    assert_eq!(s["id"], b.id.as_str(), "{s}");
    assert!(s["pid"].as_i64().is_some_and(|p| p > 0), "pid: {s}");
    assert_eq!(s["status"], "created", "{s}");
    assert_eq!(s["bundle"], b.path.to_str().unwrap(), "{s}");
}

#[test]
fn state_bundle_is_absolute_when_created_with_relative_path() {
    let Some(t) = Test::new("state_bundle_abs") else {
        return;
    };
    let (b, _) = sleeper(&t);
    let rel = b.path.file_name().unwrap().to_str().unwrap().to_string();
    let mut cmd = t.rt.command(&["create", "--bundle", &rel, &b.id]);
    cmd.current_dir(&t.dir);
    ok(&t.rt.create_from(&b.id, cmd));
    assert_eq!(t.rt.state_json(&b.id)["bundle"], b.path.to_str().unwrap());
}

#[test]
fn delete_removes_container() {
    let Some(t) = Test::new("delete_removes") else {
        return;
    };
    let (b, _) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.delete(&b.id));
    fails_with(&t.rt.state(&b.id), 1);
    assert_eq!(ok(&t.rt.list(&["-q"])), "");
}

#[test]
fn delete_running_container_fails_without_force() {
    let Some(t) = Test::new("delete_running_noforce") else {
        return;
    };
    let (b, marker) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    assert!(wait_until(Duration::from_secs(10), || marker.exists()));
    fails_with(&t.rt.delete(&b.id), 1);
    assert_eq!(t.rt.status(&b.id), "running");
}

#[test]
fn delete_force_removes_running_container() {
    let Some(t) = Test::new("delete_force_running") else {
        return;
    };
    let (b, marker) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap() as i32;
    ok(&t.rt.start(&b.id));
    assert!(wait_until(Duration::from_secs(10), || marker.exists()));
    ok(&t.rt.delete_force(&b.id));
    fails_with(&t.rt.state(&b.id), 1);
    assert!(
        t.rt.reap_init(pid, Duration::from_secs(5)).is_some(),
        "init {pid} was killed"
    );
}

#[test]
fn start_twice_fails() {
    let Some(t) = Test::new("start_twice") else {
        return;
    };
    let (b, marker) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    assert!(wait_until(Duration::from_secs(10), || marker.exists()));
    fails_with(&t.rt.start(&b.id), 1);
    assert_eq!(t.rt.status(&b.id), "running");
}

#[test]
fn kill_defaults_to_sigterm() {
    let Some(t) = Test::new("kill_default_term") else {
        return;
    };
    let out = t.host_dir("out");
    // PID 1 ignores signals it has no handler for, so trap TERM and record it.
    let b = t.bundle().bind(&out, "/out", &["bind"]).sh(
        "trap 'echo TERM > /out/signal; exit 0' TERM; touch /out/ready; while :; do sleep 0.1; done",
    );
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    assert!(wait_until(Duration::from_secs(10), || out
        .join("ready")
        .exists()));
    ok(&t.rt.kill(&b.id, None));
    // The file exists a moment before `echo` has written to it.
    assert!(
        wait_until(Duration::from_secs(10), || fs::read_to_string(
            out.join("signal")
        )
        .is_ok_and(|s| s.trim() == "TERM")),
        "no TERM seen"
    );
    t.rt.wait_status(&b.id, "stopped");
}

fn kill_with(name: &str, signal: &str) {
    let Some(t) = Test::new(name) else { return };
    let (b, marker) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    assert!(wait_until(Duration::from_secs(10), || marker.exists()));
    ok(&t.rt.kill(&b.id, Some(signal)));
    t.rt.wait_status(&b.id, "stopped");
}

#[test]
fn kill_accepts_signal_name_without_sig_prefix() {
    kill_with("kill_name", "KILL");
}

#[test]
fn kill_accepts_signal_name_with_sig_prefix() {
    kill_with("kill_signame", "SIGKILL");
}

#[test]
fn kill_accepts_signal_number() {
    kill_with("kill_number", "9");
}

#[test]
fn kill_rejects_unknown_signal_name() {
    let Some(t) = Test::new("kill_bad_signal") else {
        return;
    };
    let (b, _) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    let err = fails_with(&t.rt.kill(&b.id, Some("NOSUCHSIG")), 1);
    assert!(err.contains("NOSUCHSIG"), "error names the signal: {err}");
    assert_eq!(t.rt.status(&b.id), "created");
}

#[test]
fn list_prints_table_with_header() {
    let Some(t) = Test::new("list_table") else {
        return;
    };
    let (b, _) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap().to_string();
    let out = ok(&t.rt.list(&[]));
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{out}"
    );
    let row: Vec<&str> = lines.next().expect("one row").split_whitespace().collect();
    assert_eq!(
        row[..4],
        [
            b.id.as_str(),
            pid.as_str(),
            "created",
            b.path.to_str().unwrap()
        ],
        "{out}"
    );
    assert_eq!(row.len(), 6, "{out}");
    assert!(lines.next().is_none(), "{out}");
}

#[test]
fn list_quiet_prints_ids_only() {
    let Some(t) = Test::new("list_quiet") else {
        return;
    };
    let (b, _) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    assert_eq!(ok(&t.rt.list(&["-q"])), format!("{}\n", b.id));
}

#[test]
fn list_json_is_array_of_states() {
    let Some(t) = Test::new("list_json") else {
        return;
    };
    let (b, _) = sleeper(&t);
    ok(&t.rt.create(&b.id, &b.path));
    let out = ok(&t.rt.list(&["--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let a = v.as_array().expect("a JSON array");
    assert_eq!(a.len(), 1, "{out}");
    assert_eq!(a[0]["id"], b.id.as_str());
    assert_eq!(a[0]["status"], "created");
    assert_eq!(a[0]["bundle"], b.path.to_str().unwrap());
    assert!(a[0]["pid"].as_i64().is_some_and(|p| p > 0), "{out}");
}

#[test]
fn run_returns_container_exit_code() {
    let Some(t) = Test::new("run_exit_code") else {
        return;
    };
    let b = t.bundle().sh("exit 7");
    assert_eq!(t.run(&b).status.code(), Some(7));
}

#[test]
fn run_prints_container_output() {
    let Some(t) = Test::new("run_output") else {
        return;
    };
    let b = t.bundle().sh("echo out; echo err >&2");
    let o = t.run(&b);
    assert_eq!(ok(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
}

#[test]
fn run_detach_returns_while_container_runs() {
    let Some(t) = Test::new("run_detach") else {
        return;
    };
    let (b, marker) = sleeper(&t);
    let started = std::time::Instant::now();
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(wait_until(Duration::from_secs(10), || marker.exists()));
    assert_eq!(t.rt.status(&b.id), "running");
}

#[test]
fn pid_file_contains_init_pid() {
    let Some(t) = Test::new("pid_file") else {
        return;
    };
    let (b, _) = sleeper(&t);
    let pid_file = t.dir.join("init.pid");
    ok(&t
        .rt
        .create_with(&b.id, &b.path, &["--pid-file", pid_file.to_str().unwrap()]));
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap();
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
}

#[test]
fn spec_writes_default_config() {
    let Some(t) = Test::new("spec_default") else {
        return;
    };
    let dir = t.dir.join("fresh");
    fs::create_dir(&dir).unwrap();
    ok(&t.rt.spec(&["--bundle", dir.to_str().unwrap()]));
    let c = read_json(&dir.join("config.json"));
    assert!(
        c["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{c}"
    );
    assert_eq!(c["root"]["path"], "rootfs");
    assert_eq!(c["process"]["args"], serde_json::json!(["sh"]));
}
