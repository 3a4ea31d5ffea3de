//! The shim's start-up and exit: the pid or the runtime's error on the sync pipe, exit
//! codes in the exit file (128+N for signal N) and the persist dir, the exit command,
//! reaping, and surviving its caller.
//!
//! Every test runs against conmon too: `BERTH_SHIM=/usr/bin/conmon`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use integration::shim::*;
use integration::*;

const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// A container that runs `script`, under a shim with a persist dir, started; returns the
/// code in the exit file.
fn exit_code_of(t: &Test, script: &str) -> (i32, String) {
    let b = t.bundle().sh(script);
    let s = t.shim(&b).persist().spawn();
    s.run();
    let code = s.exit_code(EXIT_TIMEOUT);
    assert!(
        s.wait_gone(EXIT_TIMEOUT),
        "the shim did not exit after its container"
    );
    let persisted = fs::read_to_string(s.persist_dir().join("exit")).unwrap_or_default();
    (code, persisted)
}

#[test]
fn exit_code_0_reaches_exit_file_and_persist_dir() {
    let Some(t) = Test::new("shim_exit0") else {
        return;
    };
    let (code, persisted) = exit_code_of(&t, "true");
    assert_eq!(code, 0);
    assert_eq!(persisted.trim(), "0");
}

#[test]
fn exit_code_1_reaches_exit_file_and_persist_dir() {
    let Some(t) = Test::new("shim_exit1") else {
        return;
    };
    let (code, persisted) = exit_code_of(&t, "exit 1");
    assert_eq!(code, 1);
    assert_eq!(persisted.trim(), "1");
}

/// A container killed by `signal` through the runtime: the exit file says 128+N.
fn killed_by(t: &Test, signal: &str, without_pid_ns: bool) -> (i32, String) {
    let out = t.host_dir("out");
    let mut b = t
        .bundle()
        .bind(&out, "/out", &["bind"])
        .sh("touch /out/up; exec sleep 600");
    if without_pid_ns {
        // As pid 1 of its own namespace, the process would ignore SIGTERM (no handler).
        b = b.without_namespace("pid");
    }
    let s = t.shim(&b).persist().spawn();
    s.run();
    assert!(
        wait_until(EXIT_TIMEOUT, || out.join("up").exists()),
        "container never ran"
    );
    ok(&t.rt.kill(&b.id, Some(signal)));
    let code = s.exit_code(EXIT_TIMEOUT);
    assert!(
        s.wait_gone(EXIT_TIMEOUT),
        "the shim did not exit after its container"
    );
    let persisted = fs::read_to_string(s.persist_dir().join("exit")).unwrap_or_default();
    (code, persisted)
}

#[test]
fn sigkill_gives_exit_code_137() {
    let Some(t) = Test::new("shim_exit137") else {
        return;
    };
    let (code, persisted) = killed_by(&t, "KILL", false);
    assert_eq!(code, 137);
    assert_eq!(persisted.trim(), "137");
}

#[test]
fn sigterm_gives_exit_code_143() {
    let Some(t) = Test::new("shim_exit143") else {
        return;
    };
    let (code, persisted) = killed_by(&t, "TERM", true);
    assert_eq!(code, 143);
    assert_eq!(persisted.trim(), "143");
}

#[test]
fn persist_dir_exit_is_in_place_when_the_exit_file_appears() {
    let Some(t) = Test::new("shim_persist_first") else {
        return;
    };
    let b = t.bundle().sh("exit 6");
    let s = t.shim(&b).persist().spawn();
    let exit_dir = s.exit_file().parent().unwrap().to_path_buf();
    let persist = s.persist_dir();
    let mut landed = DirWatch::new(&[&exit_dir, &persist]);
    s.run();
    assert!(
        landed.wait_for(&exit_dir, &s.cid, EXIT_TIMEOUT),
        "no exit file\n{}",
        s.diagnostics()
    );
    // The exit file is the notification (podman watches the exit dir): what else the shim
    // records must be in place before it, as conmon writes them.
    let persisted = landed.position(&persist, "exit");
    let exited = landed.position(&exit_dir, &s.cid);
    assert!(
        persisted.is_some() && persisted < exited,
        "<persist-dir>/exit landed after the exit file: {:?}",
        landed.landed
    );
    assert_eq!(fs::read_to_string(persist.join("exit")).unwrap(), "6");
}

#[test]
fn sync_pipe_carries_the_pid_of_the_container() {
    let Some(t) = Test::new("shim_sync_pid") else {
        return;
    };
    let b = t.bundle().sh("exec sleep 600");
    let s = t.shim(&b).spawn();
    let pid = s.created();
    let state = t.rt.state_json(&b.id);
    assert_eq!(state["pid"], pid, "state: {state}");
    assert_eq!(
        state["status"], "created",
        "the shim must not start the container itself"
    );
    assert_eq!(s.container_pidfile_pid(), Some(pid), "-p pidfile");
}

#[test]
fn runtime_error_text_reaches_the_sync_pipe() {
    let Some(t) = Test::new("shim_sync_error") else {
        return;
    };
    let b = t.bundle().args(&["/no-such-program-here"]);
    let s = t.shim(&b).spawn();
    let m = s.sync_message();
    assert_eq!(m["data"], -1, "a failed create reports -1: {m}");
    let message = m["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("/no-such-program-here"),
        "the runtime's error text names the program: {m}"
    );
    assert!(
        s.wait_gone(EXIT_TIMEOUT),
        "the shim exits after a failed create"
    );
    assert!(
        !s.exit_file().exists(),
        "no exit file for a container never created"
    );
}

#[test]
fn shim_survives_sigkill_of_its_caller_and_writes_the_exit_file() {
    let Some(t) = Test::new("shim_caller_killed") else {
        return;
    };
    let out = t.host_dir("out");
    let b = t
        .bundle()
        .bind(&out, "/out", &["bind"])
        .sh("while [ ! -e /out/go ]; do sleep 0.1; done; echo bye; exit 5");
    let s = t.shim(&b).log("k8s-file").via_caller().spawn();
    s.run();
    let caller = s.caller_pid();
    s.kill_caller();
    assert!(!pid_alive(caller), "the caller is gone");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        pid_alive(s.pid()),
        "the shim died with its caller\n{}",
        s.diagnostics()
    );
    fs::write(out.join("go"), "").unwrap();
    assert_eq!(s.exit_code(EXIT_TIMEOUT), 5);
    let lines = k8s_lines(&s.log_file("k8s-file"));
    assert_eq!(
        stream_texts(&lines),
        [("stdout".to_string(), "bye".to_string())]
    );
}

#[test]
fn shim_runs_in_its_own_session() {
    let Some(t) = Test::new("shim_setsid") else {
        return;
    };
    let b = t.bundle().sh("exec sleep 600");
    let s = t.shim(&b).spawn();
    s.created();
    let stat = fs::read_to_string(format!("/proc/{}/stat", s.pid())).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // Fields after the name: state ppid pgrp session.
    assert_eq!(
        fields[3],
        s.pid().to_string(),
        "session id of the shim: {stat}"
    );
}

#[test]
fn exit_command_runs_with_its_args_after_the_delay() {
    let Some(t) = Test::new("shim_exit_command") else {
        return;
    };
    let record = t.dir.join("exit-command.out");
    let script = t.dir.join("exit-command.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}.tmp\nmv {0}.tmp {0}\n",
            record.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let b = t.bundle().sh("exit 3");
    let s = t
        .shim(&b)
        .args(&["--exit-command", script.to_str().unwrap()])
        .args(&[
            "--exit-command-arg",
            "first arg",
            "--exit-command-arg",
            "--second",
        ])
        .args(&["--exit-delay", "2"])
        .spawn();
    s.run();
    assert_eq!(s.exit_code(EXIT_TIMEOUT), 3);
    let exited = Instant::now();
    assert!(
        wait_until(EXIT_TIMEOUT, || record.exists()),
        "the exit command never ran"
    );
    let delay = exited.elapsed();
    assert!(
        delay >= Duration::from_millis(1800),
        "the exit command ran {delay:?} after the exit file, before --exit-delay 2"
    );
    assert_eq!(
        fs::read_to_string(&record).unwrap(),
        "first arg\n--second\n"
    );
    assert!(
        s.wait_gone(EXIT_TIMEOUT),
        "the shim exits after the exit command"
    );
}

#[test]
fn orphans_reparented_to_the_shim_are_reaped() {
    let Some(t) = Test::new("shim_reaps_orphans") else {
        return;
    };
    let out = t.host_dir("out");
    // No pid namespace: the subshells' children are orphaned to the shim (the child
    // subreaper), not to a container init.
    let b = t
        .bundle()
        .without_namespace("pid")
        .bind(&out, "/out", &["bind"])
        .sh(
            "for i in 1 2 3 4 5; do (sleep 1 &); done; touch /out/forked; \
             while [ ! -e /out/go ]; do sleep 0.1; done",
        );
    let s = t.shim(&b).spawn();
    let init = s.run();
    assert!(
        wait_until(EXIT_TIMEOUT, || out.join("forked").exists()),
        "container never ran"
    );
    let orphans: Vec<i32> = children_of(s.pid())
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| *p != init)
        .collect();
    assert!(
        orphans.len() >= 5,
        "the sleeps were orphaned to the shim: {orphans:?}"
    );
    assert!(
        wait_until(EXIT_TIMEOUT, || orphans
            .iter()
            .all(|p| proc_parent_and_state(*p).is_none())),
        "orphans left as zombies of the shim: {:?}",
        zombie_children_of(s.pid())
    );
    fs::write(out.join("go"), "").unwrap();
    assert_eq!(s.exit_code(EXIT_TIMEOUT), 0);
}

#[test]
fn shim_is_a_child_subreaper() {
    let Some(t) = Test::new("shim_subreaper") else {
        return;
    };
    let b = t.bundle().sh("exec sleep 600");
    let s = t.shim(&b).spawn();
    let pid = s.run();
    let parent = proc_parent_and_state(pid).map(|(pp, _)| pp);
    assert_eq!(
        parent,
        Some(s.pid()),
        "the container's init is the shim's child"
    );
}

#[test]
fn attach_socket_closes_when_the_container_ends() {
    let Some(t) = Test::new("shim_attach_eof") else {
        return;
    };
    let out = t.host_dir("out");
    let b = t
        .bundle()
        .bind(&out, "/out", &["bind"])
        .sh("while [ ! -e /out/go ]; do sleep 0.1; done; echo done");
    let s = t.shim(&b).spawn();
    s.created();
    let mut a = s.attach();
    s.start();
    fs::write(out.join("go"), "").unwrap();
    a.read_to_eof(EXIT_TIMEOUT);
    assert_eq!(a.seen_text(STDOUT), "done\n");
    assert_eq!(s.exit_code(EXIT_TIMEOUT), 0);
}

#[test]
fn sigterm_to_the_shim_is_forwarded_to_the_container() {
    let Some(t) = Test::new("shim_sigterm_fwd") else {
        return;
    };
    let out = t.host_dir("out");
    // Without a pid namespace SIGTERM kills the process (pid 1 would ignore it).
    let b = t
        .bundle()
        .without_namespace("pid")
        .bind(&out, "/out", &["bind"])
        .sh("touch /out/up; exec sleep 600");
    let s = t.shim(&b).spawn();
    s.run();
    assert!(
        wait_until(EXIT_TIMEOUT, || out.join("up").exists()),
        "container never ran"
    );
    // SAFETY: a signal to the shim this test started, by the pid it wrote.
    unsafe { libc::kill(s.pid(), libc::SIGTERM) };
    assert_eq!(s.exit_code(EXIT_TIMEOUT), 143);
    assert!(s.wait_gone(EXIT_TIMEOUT));
}

/// `-T`: a container still running after the timeout is killed, and its exit code is -1
/// (as current conmon records a timed-out command), not the 137 of an ordinary SIGKILL.
#[test]
fn timeout_kills_the_container_and_records_minus_1() {
    if skip_under_conmon("Debian's conmon 2.1.6 exits at -T without an exit file") {
        return;
    }
    let Some(t) = Test::new("shim_timeout") else {
        return;
    };
    let b = t.bundle().sh("exec sleep 600");
    let s = t.shim(&b).persist().args(&["-T", "1"]).spawn();
    s.run();
    // Well before the container's 600 s: only the timeout can have ended it.
    let code = s.exit_code(EXIT_TIMEOUT);
    assert_eq!(code, -1);
    assert!(
        s.wait_gone(EXIT_TIMEOUT),
        "the shim did not exit after its container"
    );
}
