//! `exec`: a new process in a running container, with runc's flags. Its own
//! failures exit 255, as runc's do, apart from the statuses of the process.

use std::fs;
use std::time::Duration;

use integration::*;
use serde_json::json;

/// A detached container that sleeps, for processes to be exec'd into.
fn sleeping_container(t: &Test) -> Bundle {
    let b = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    b
}

fn exec(t: &Test, id: &str, extra: &[&str], command: &[&str]) -> std::process::Output {
    let mut args = vec!["exec"];
    args.extend_from_slice(extra);
    args.push(id);
    args.extend_from_slice(command);
    t.rt.exec(&args)
}

#[test]
fn exec_joins_every_namespace_of_the_container() {
    let Some(t) = Test::new("exec_namespaces") else {
        return;
    };
    let b = sleeping_container(&t);
    let script = "for ns in pid net ipc uts mnt cgroup; do \
                  [ \"$(readlink /proc/1/ns/$ns)\" = \"$(readlink /proc/self/ns/$ns)\" ] || echo DIFFERENT $ns; \
                  done; hostname";
    let out = ok(&exec(&t, &b.id, &[], &["sh", "-c", script]));
    assert!(!out.contains("DIFFERENT"), "{out}");
    let init = t.rt.state_json(&b.id)["pid"].as_i64().unwrap();
    assert_ne!(ns_of(&init.to_string(), "pid"), host_ns("pid"));
}

#[test]
fn exec_exit_status_is_the_process_status() {
    let Some(t) = Test::new("exec_status") else {
        return;
    };
    let b = sleeping_container(&t);
    assert_eq!(
        exec(&t, &b.id, &[], &["sh", "-c", "exit 5"]).status.code(),
        Some(5)
    );
    let killed = exec(&t, &b.id, &[], &["sh", "-c", "kill -9 $$"]);
    assert_eq!(killed.status.code(), Some(137));
}

#[test]
fn exec_applies_env_cwd_user_and_groups() {
    let Some(t) = Test::new("exec_attributes") else {
        return;
    };
    let b = sleeping_container(&t);
    let out = ok(&exec(
        &t,
        &b.id,
        &[
            "--env",
            "GREETING=hi",
            "--cwd",
            "/tmp",
            "--user",
            "1000:1001",
            "--additional-gids",
            "2000",
        ],
        &["sh", "-c", "echo $GREETING; pwd; id -u; id -g; id -G"],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..4], ["hi", "/tmp", "1000", "1001"], "{out}");
    assert!(lines[4].split_whitespace().any(|g| g == "2000"), "{out}");
}

#[test]
fn exec_process_file_is_used_as_given() {
    let Some(t) = Test::new("exec_process_file") else {
        return;
    };
    let b = sleeping_container(&t);
    let file = t.dir.join("process.json");
    fs::write(
        &file,
        json!({
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c", "echo $FROM_FILE; pwd"],
            "env": ["PATH=/bin", "FROM_FILE=yes"],
            "cwd": "/dev"
        })
        .to_string(),
    )
    .unwrap();
    let out = ok(&exec(
        &t,
        &b.id,
        &["--process", file.to_str().unwrap()],
        &[],
    ));
    assert_eq!(out, "yes\n/dev\n");
}

#[test]
fn exec_bad_process_file_names_the_field() {
    let Some(t) = Test::new("exec_bad_process") else {
        return;
    };
    let b = sleeping_container(&t);
    let file = t.dir.join("process.json");
    fs::write(
        &file,
        r#"{"user": {"uid": "root"}, "args": ["true"], "cwd": "/"}"#,
    )
    .unwrap();
    let o = exec(&t, &b.id, &["--process", file.to_str().unwrap()], &[]);
    let err = fails_with(&o, 255);
    if !runtime_is_runc() {
        assert!(err.contains("user.uid"), "{err}");
    }
}

#[test]
fn exec_detached_writes_pid_file_and_runs_in_the_container_cgroup() {
    let Some(t) = Test::new("exec_detach") else {
        return;
    };
    let b = sleeping_container(&t);
    let pid_file = t.dir.join("exec.pid");
    ok(&exec(
        &t,
        &b.id,
        &["--detach", "--pid-file", pid_file.to_str().unwrap()],
        &["sleep", "300"],
    ));
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let init = t.rt.state_json(&b.id)["pid"].as_i64().unwrap();
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap(),
        fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap()
    );
    assert_eq!(
        ns_of(&pid.to_string(), "pid"),
        ns_of(&init.to_string(), "pid")
    );
    // Killing the container's pid 1 takes the exec'd process with it. The
    // test is its reaper (the runtime that started it is gone), and the
    // namespace's init only finishes exiting once it is reaped.
    ok(&t.rt.kill(&b.id, Some("KILL")));
    assert!(
        reap(pid, Duration::from_secs(10)).is_some(),
        "exec'd process survived its container"
    );
    ok(&t.rt.delete_force(&b.id));
}

#[test]
fn exec_with_tty_sends_the_pty_over_the_console_socket() {
    let Some(t) = Test::new("exec_tty") else {
        return;
    };
    let b = sleeping_container(&t);
    let sock = ConsoleSocket::bind(&t.dir.join("console.sock"));
    let pid_file = t.dir.join("exec.pid");
    let o = exec(
        &t,
        &b.id,
        &[
            "--tty",
            "--detach",
            "--console-socket",
            sock.path.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
        ],
        &["sh", "-c", "tty; echo done"],
    );
    ok(&o);
    let master = sock.recv_master(Duration::from_secs(10));
    // The test is the detached process's reaper (its runtime is gone); the
    // pty reports hang-up once it is reaped.
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = read_pty(&master, Duration::from_secs(1));
    reap(pid, Duration::from_secs(10));
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("done"), "{out:?}");
}

#[test]
fn exec_cap_adds_a_capability() {
    let Some(t) = Test::new("exec_cap") else {
        return;
    };
    let b = sleeping_container(&t);
    let out = ok(&exec(
        &t,
        &b.id,
        &["--cap", "CAP_SYS_ADMIN"],
        &["grep", "CapEff", "/proc/self/status"],
    ));
    let mask = u64::from_str_radix(out.split_whitespace().last().unwrap(), 16).unwrap();
    assert_ne!(mask & (1 << 21), 0, "CAP_SYS_ADMIN (21) missing: {out}");
    let out = ok(&exec(
        &t,
        &b.id,
        &[],
        &["grep", "CapEff", "/proc/self/status"],
    ));
    let mask = u64::from_str_radix(out.split_whitespace().last().unwrap(), 16).unwrap();
    assert_eq!(mask & (1 << 21), 0, "CAP_SYS_ADMIN without --cap: {out}");
}

#[test]
fn exec_no_new_privs_sets_the_flag() {
    let Some(t) = Test::new("exec_nnp") else {
        return;
    };
    let b = t
        .bundle()
        .args(&["sleep", "300"])
        .edit(|c| c["process"]["noNewPrivileges"] = json!(false));
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let out = ok(&exec(
        &t,
        &b.id,
        &[],
        &["grep", "NoNewPrivs", "/proc/self/status"],
    ));
    assert!(out.contains('0'), "{out}");
    let out = ok(&exec(
        &t,
        &b.id,
        &["--no-new-privs"],
        &["grep", "NoNewPrivs", "/proc/self/status"],
    ));
    assert!(out.contains('1'), "{out}");
}

#[test]
fn exec_process_gets_only_stdio() {
    let Some(t) = Test::new("exec_fds") else {
        return;
    };
    let b = sleeping_container(&t);
    let out = ok(&exec(&t, &b.id, &[], &["ls", "/proc/self/fd"]));
    // ls holds one fd of its own for the directory.
    let fds: Vec<u32> = out
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    assert_eq!(fds.iter().filter(|&&fd| fd > 3).count(), 0, "{out}");
    assert!(fds.len() <= 4, "{out}");
}

#[test]
fn exec_into_a_stopped_container_fails() {
    let Some(t) = Test::new("exec_stopped") else {
        return;
    };
    let b = t.bundle().args(&["true"]);
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    t.rt.wait_status(&b.id, "stopped");
    fails_with(&exec(&t, &b.id, &[], &["true"]), 255);
}

#[test]
fn exec_into_an_unknown_container_fails() {
    let Some(t) = Test::new("exec_unknown") else {
        return;
    };
    let err = fails_with(&exec(&t, "no-such-container", &[], &["true"]), 255);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn exec_of_a_missing_command_fails_with_its_name() {
    let Some(t) = Test::new("exec_missing_cmd") else {
        return;
    };
    let b = sleeping_container(&t);
    let err = fails_with(&exec(&t, &b.id, &[], &["no-such-command"]), 255);
    assert!(err.contains("no-such-command"), "{err}");
}

#[test]
fn exec_env_replaces_the_process_own_variable() {
    let Some(t) = Test::new("exec_env_replace") else {
        return;
    };
    let b = sleeping_container(&t);
    let out = ok(&exec(&t, &b.id, &["--env", "TERM=dumb"], &["env"]));
    let terms: Vec<&str> = out.lines().filter(|l| l.starts_with("TERM=")).collect();
    assert_eq!(terms, ["TERM=dumb"], "{out}");
}

#[test]
fn exec_env_without_a_value_is_refused() {
    let Some(t) = Test::new("exec_env_no_value") else {
        return;
    };
    let b = sleeping_container(&t);
    let o = exec(&t, &b.id, &["--env", "NO_VALUE"], &["env"]);
    let err = fails_with(&o, 255);
    assert!(err.contains("NO_VALUE"), "{err}");
    assert!(err.contains("invalid environment variable"), "{err}");
    assert_eq!(stdout(&o), "");
}
