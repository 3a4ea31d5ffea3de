//! Restart policies kept by berth-shim itself (`--restart-policy`, ours): counts in
//! `<persist dir>/restart-count`, Docker's backoff (100 ms, doubling), no restart after a
//! stop by the user (ctl message `3 0 0`), log and attach socket kept across restarts.
//! conmon has none of this: every test here is skipped under it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::shim::*;
use integration::*;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A bundle that appends its start time (`/proc/uptime`, 10 ms steps) to `/out/runs` on
/// every run, then runs `script`.
fn counting(t: &Test, script: &str) -> (Bundle, PathBuf) {
    let out = t.host_dir("out");
    let b = t.bundle().bind(&out, "/out", &["bind"]).sh(&format!(
        "cut -d' ' -f1 /proc/uptime >> /out/runs; {script}"
    ));
    (b, out.join("runs"))
}

/// Start times of the runs so far, in seconds of uptime.
fn runs(file: &Path) -> Vec<f64> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The restart count the shim keeps, 0 when it wrote none.
fn restart_count(dir: &Path) -> u32 {
    let f = dir.join("restart-count");
    match fs::read_to_string(&f) {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{} holds {s:?}, not a number", f.display())),
        Err(_) => 0,
    }
}

#[test]
fn on_failure_n_restarts_n_times_with_doubling_delays() {
    let Some(t) = Test::new("shim_restart_onfail") else {
        return;
    };
    if skip_under_conmon("restart policies are berth-shim's") {
        return;
    }
    let (b, file) = counting(&t, "exit 3");
    let s = t
        .shim(&b)
        .persist()
        .args(&["--restart-policy", "on-failure:3"])
        .spawn();
    s.run();
    assert!(
        s.wait_gone(TIMEOUT),
        "the shim exits once the policy gives up\n{}",
        s.diagnostics()
    );
    let starts = runs(&file);
    assert_eq!(starts.len(), 4, "one run and three restarts: {starts:?}");
    assert_eq!(restart_count(&s.persist_dir()), 3);
    assert_eq!(s.exit_code(TIMEOUT), 3);
    let gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, delay) in gaps.iter().zip([0.1, 0.2, 0.4]) {
        // uptime has 10 ms steps.
        assert!(
            *gap >= delay - 0.011,
            "restart after {gap} s, before the {delay} s backoff: {gaps:?}"
        );
        assert!(
            *gap < delay + 3.0,
            "restart after {gap} s, far past the {delay} s backoff: {gaps:?}"
        );
    }
}

#[test]
fn on_failure_does_not_restart_after_exit_0() {
    let Some(t) = Test::new("shim_restart_success") else {
        return;
    };
    if skip_under_conmon("restart policies are berth-shim's") {
        return;
    }
    let (b, file) = counting(&t, "exit 0");
    let s = t
        .shim(&b)
        .persist()
        .args(&["--restart-policy", "on-failure"])
        .spawn();
    s.run();
    assert!(s.wait_gone(TIMEOUT));
    assert_eq!(s.exit_code(TIMEOUT), 0);
    assert_eq!(runs(&file).len(), 1);
    assert_eq!(restart_count(&s.persist_dir()), 0);
}

#[test]
fn policy_no_never_restarts() {
    let Some(t) = Test::new("shim_restart_no") else {
        return;
    };
    if skip_under_conmon("restart policies are berth-shim's") {
        return;
    }
    let (b, file) = counting(&t, "exit 1");
    let s = t
        .shim(&b)
        .persist()
        .args(&["--restart-policy", "no"])
        .spawn();
    s.run();
    assert!(s.wait_gone(TIMEOUT));
    assert_eq!(s.exit_code(TIMEOUT), 1);
    assert_eq!(runs(&file).len(), 1);
}

/// Under `policy`, a killed container comes back; after ctl `3 0 0` (stopped by the
/// user) a kill is final.
fn kill_restarts_until_stopped_by_the_user(name: &str, policy: &str) {
    let Some(t) = Test::new(name) else { return };
    if skip_under_conmon("restart policies are berth-shim's") {
        return;
    }
    let (b, file) = counting(&t, "exec sleep 600");
    let s = t
        .shim(&b)
        .persist()
        .args(&["--restart-policy", policy])
        .spawn();
    s.run();
    assert!(wait_until(TIMEOUT, || runs(&file).len() == 1), "never ran");
    ok(&t.rt.kill(&b.id, Some("KILL")));
    assert!(
        wait_until(TIMEOUT, || runs(&file).len() == 2),
        "{policy}: no restart after a kill\n{}",
        s.diagnostics()
    );
    assert!(
        wait_until(TIMEOUT, || restart_count(&s.persist_dir()) == 1),
        "restart-count 1"
    );
    t.rt.wait_status(&b.id, "running");
    s.ctl("3 0 0");
    // Nothing acknowledges a ctl message: give the shim time to read it.
    std::thread::sleep(Duration::from_secs(1));
    ok(&t.rt.kill(&b.id, Some("KILL")));
    assert_eq!(s.exit_code(TIMEOUT), 137);
    assert!(
        s.wait_gone(TIMEOUT),
        "the shim exits after a stop by the user"
    );
    assert_eq!(
        runs(&file).len(),
        2,
        "{policy}: restarted after a stop by the user"
    );
    assert_eq!(restart_count(&s.persist_dir()), 1);
}

#[test]
fn always_restarts_a_killed_container_but_not_after_a_stop_by_the_user() {
    kill_restarts_until_stopped_by_the_user("shim_restart_always", "always");
}

#[test]
fn unless_stopped_restarts_a_killed_container_but_not_after_a_stop_by_the_user() {
    kill_restarts_until_stopped_by_the_user("shim_restart_unless", "unless-stopped");
}

#[test]
fn always_restarts_after_exit_0_too() {
    let Some(t) = Test::new("shim_restart_always0") else {
        return;
    };
    if skip_under_conmon("restart policies are berth-shim's") {
        return;
    }
    let (b, file) = counting(
        &t,
        "[ $(wc -l < /out/runs) -ge 3 ] && exec sleep 600; exit 0",
    );
    let s = t
        .shim(&b)
        .persist()
        .args(&["--restart-policy", "always"])
        .spawn();
    s.run();
    assert!(
        wait_until(TIMEOUT, || runs(&file).len() == 3),
        "restarted twice\n{}",
        s.diagnostics()
    );
    assert!(wait_until(TIMEOUT, || restart_count(&s.persist_dir()) == 2));
}

#[test]
fn restart_count_goes_to_the_bundle_without_persist_dir() {
    let Some(t) = Test::new("shim_restart_bundle") else {
        return;
    };
    if skip_under_conmon("restart policies are berth-shim's") {
        return;
    }
    let (b, file) = counting(&t, "exit 2");
    let s = t
        .shim(&b)
        .args(&["--restart-policy", "on-failure:1"])
        .spawn();
    s.run();
    assert!(s.wait_gone(TIMEOUT));
    assert_eq!(runs(&file).len(), 2);
    assert_eq!(restart_count(&b.path), 1);
}

#[test]
fn log_and_attach_socket_are_kept_across_restarts() {
    let Some(t) = Test::new("shim_restart_keeps") else {
        return;
    };
    if skip_under_conmon("restart policies are berth-shim's") {
        return;
    }
    let (b, _) = counting(
        &t,
        "echo run-$(wc -l < /out/runs); [ $(wc -l < /out/runs) -ge 3 ] && exit 0; exit 1",
    );
    let s = t
        .shim(&b)
        .log("k8s-file")
        .args(&["--restart-policy", "on-failure"])
        .spawn();
    s.created();
    let mut a = s.attach();
    s.start();
    a.read_until(STDOUT, "run-3\n", TIMEOUT);
    assert_eq!(a.seen_text(STDOUT), "run-1\nrun-2\nrun-3\n");
    assert_eq!(s.exit_code(TIMEOUT), 0);
    assert!(s.wait_gone(TIMEOUT));
    let lines: Vec<String> = k8s_lines(&s.log_file("k8s-file"))
        .iter()
        .map(|l| l.text())
        .collect();
    assert_eq!(lines, ["run-1", "run-2", "run-3"]);
}

#[test]
fn sigterm_to_the_shim_stops_without_restart() {
    let Some(t) = Test::new("shim_restart_sigterm") else {
        return;
    };
    if skip_under_conmon("restart policies are berth-shim's") {
        return;
    }
    // Without a pid namespace the forwarded SIGTERM ends the process.
    let (b, file) = counting(&t, "exec sleep 600");
    let b = b.without_namespace("pid");
    let s = t
        .shim(&b)
        .persist()
        .args(&["--restart-policy", "always"])
        .spawn();
    s.run();
    assert!(wait_until(TIMEOUT, || runs(&file).len() == 1), "never ran");
    // SAFETY: a signal to the shim this test started, by the pid it wrote.
    unsafe { libc::kill(s.pid(), libc::SIGTERM) };
    assert_eq!(s.exit_code(TIMEOUT), 143);
    assert!(
        s.wait_gone(TIMEOUT),
        "the shim exits: a SIGTERM is a stop by the user"
    );
    assert_eq!(runs(&file).len(), 1, "restarted after SIGTERM to the shim");
}
