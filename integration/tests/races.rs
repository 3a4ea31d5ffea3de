//! Races: runtime invocations that overlap on one container, and many runtimes at once.
//! Each race repeats a number of rounds with the two sides started together; every
//! invocation runs under a time bound (a hang fails the test), and after each round
//! nothing of the container is left: no state entry, no process in its cgroup, no cgroup
//! dir, no host mount.

use std::path::Path;
use std::thread;
use std::time::Duration;

use integration::*;
use serde_json::{json, Value};

/// Bound on one runtime invocation in a race.
const RACE_TIMEOUT: Duration = Duration::from_secs(30);

fn parse_state(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("state: not JSON ({e}): {}", stdout(o)))
}

/// A failed invocation failed as an error, not a crash: exit `code`, one line on stderr.
#[track_caller]
fn failed_cleanly(inv: &Invocation, code: i32, what: &str) -> String {
    let o = &inv.output;
    assert!(!looks_like_a_crash(o), "{what} crashed: {o:?}");
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: expected exit {code}\nstderr: {}",
        stderr(o)
    );
    if runtime_is_runc() {
        // runc logs several lines (nsexec's, then its own); the last one is the error.
        let err = stderr(o);
        return err.lines().last().unwrap_or_default().to_string();
    }
    single_error_line(o)
}

/// Nothing of container `id` (bundle `bundle`) is left on the host.
#[track_caller]
fn assert_nothing_left(t: &Test, id: &str, bundle: &Path) {
    assert!(
        !t.rt.root.join(id).exists(),
        "state dir of {id} left: {:?}",
        dir_names(&t.rt.root.join(id))
    );
    assert!(
        wait_until(Duration::from_secs(5), || procs_in_test_cgroup(id)
            .is_empty()),
        "processes left in the cgroup of {id}: {:?}",
        procs_in_test_cgroup(id)
    );
    let cgroups = test_cgroup_dirs(id);
    assert!(cgroups.is_empty(), "cgroups of {id} left: {cgroups:?}");
    let mounts = host_mounts_mentioning(bundle);
    assert!(mounts.is_empty(), "host mounts left: {mounts:?}");
}

#[test]
fn two_creates_of_one_id_one_wins_and_the_loser_leaves_nothing() {
    let Some(t) = Test::new("race_create_same_id") else {
        return;
    };
    if skip_under_runc(
        "runc 1.1.5 checks the id with stat() before mkdir(): both creates pass the check, \
         and then both fail (exec.fifo exists / cgroup.procs ENODEV)",
    ) {
        return;
    }
    // Two bundles, so the state tells which create won.
    let mut a = t.bundle().args(&["sleep", "60"]);
    let mut b = t.bundle().args(&["sleep", "60"]);
    let r = t.rt.remote();
    for round in 0..20 {
        let id = t.id();
        // Both ask for the same cgroup: the loser must not remove the winner's.
        retarget(&mut a, &id);
        retarget(&mut b, &id);
        t.rt.adopt(&id);
        let (pa, pb) = {
            let ca = ["create", "--bundle", a.path.to_str().unwrap(), &id];
            let cb = ["create", "--bundle", b.path.to_str().unwrap(), &id];
            if round % 2 == 0 {
                let pa = r.spawn(&ca);
                (pa, r.spawn(&cb))
            } else {
                let pb = r.spawn(&cb);
                (r.spawn(&ca), pb)
            }
        };
        let (ia, ib) = (pa.finish(RACE_TIMEOUT), pb.finish(RACE_TIMEOUT));
        let (winner, loser, loser_inv) =
            match (ia.output.status.success(), ib.output.status.success()) {
                (true, false) => (&a, &b, &ib),
                (false, true) => (&b, &a, &ia),
                (x, y) => panic!(
                    "round {round}: expected exactly one create to succeed, got {x} and {y}\n\
                 a: {}\nb: {}",
                    stderr(&ia.output),
                    stderr(&ib.output)
                ),
            };
        let line = failed_cleanly(loser_inv, 1, "losing create");
        assert!(
            line.contains(&id) && line.contains("exist"),
            "round {round}: the error should say {id} exists: {line}"
        );
        let s = t.rt.state_json(&id);
        assert_eq!(s["status"], "created", "round {round}: {s}");
        assert_eq!(s["bundle"], winner.path.to_str().unwrap(), "round {round}");
        let pid = s["pid"].as_i64().unwrap() as i32;
        t.rt.adopt_init(pid);
        assert_eq!(
            procs_in_test_cgroup(&id),
            [pid],
            "round {round}: only the winner's init may be in the cgroup"
        );
        assert!(
            !test_cgroup_dirs(&id).is_empty(),
            "round {round}: the loser removed the winner's cgroup"
        );
        assert_eq!(t.rt.state_entries(), [id.as_str()], "round {round}");
        assert!(host_mounts_mentioning(&loser.path).is_empty());
        // The winner is whole: it starts and runs.
        ok(&t.rt.start(&id));
        assert_eq!(t.rt.status(&id), "running", "round {round}");
        ok(&t.rt.delete_force(&id));
        assert!(t.rt.reap_init(pid, Duration::from_secs(10)).is_some());
        assert_nothing_left(&t, &id, &a.path);
        assert_nothing_left(&t, &id, &b.path);
        t.rt.disown(&id);
    }
}

#[test]
fn kill_and_delete_force_racing_both_end_and_leave_nothing() {
    let Some(t) = Test::new("race_kill_delete") else {
        return;
    };
    let mut b = t.bundle().args(&["sleep", "60"]);
    let r = t.rt.remote();
    for round in 0..30 {
        let id = t.id();
        retarget(&mut b, &id);
        ok(&t.rt.create(&id, &b.path));
        let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
        // Half the rounds race against a created container, half against a running one.
        if round % 2 == 1 {
            ok(&t.rt.start(&id));
        }
        let (kill, delete) = if round % 4 < 2 {
            let k = r.spawn(&["kill", &id, "KILL"]);
            (k, r.spawn(&["delete", "--force", &id]))
        } else {
            let d = r.spawn(&["delete", "--force", &id]);
            (r.spawn(&["kill", &id, "KILL"]), d)
        };
        let (kill, delete) = (kill.finish(RACE_TIMEOUT), delete.finish(RACE_TIMEOUT));
        assert!(
            delete.output.status.success(),
            "round {round}: delete --force failed: {}",
            stderr(&delete.output)
        );
        if !kill.output.status.success() {
            // Lost the race: the container was gone or stopped. An error, not a crash.
            failed_cleanly(&kill, 1, "kill");
        }
        fails_with(&t.rt.state(&id), 1);
        assert!(
            t.rt.reap_init(pid, Duration::from_secs(10)).is_some(),
            "round {round}: init {pid} did not die"
        );
        assert_nothing_left(&t, &id, &b.path);
        t.rt.disown(&id);
    }
}

#[test]
fn two_delete_force_racing_both_end_and_leave_nothing() {
    let Some(t) = Test::new("race_delete_delete") else {
        return;
    };
    let mut b = t.bundle().args(&["sleep", "60"]);
    let r = t.rt.remote();
    for round in 0..20 {
        let id = t.id();
        retarget(&mut b, &id);
        ok(&t.rt.create(&id, &b.path));
        let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
        ok(&t.rt.start(&id));
        let d1 = r.spawn(&["delete", "--force", &id]);
        let d2 = r.spawn(&["delete", "--force", &id]);
        let (d1, d2) = (d1.finish(RACE_TIMEOUT), d2.finish(RACE_TIMEOUT));
        let wins = [&d1, &d2]
            .iter()
            .filter(|d| d.output.status.success())
            .count();
        assert!(
            wins >= 1,
            "round {round}: neither delete --force succeeded: {} / {}",
            stderr(&d1.output),
            stderr(&d2.output)
        );
        for d in [&d1, &d2] {
            if !d.output.status.success() {
                failed_cleanly(d, 1, "delete --force");
            }
        }
        fails_with(&t.rt.state(&id), 1);
        assert!(t.rt.reap_init(pid, Duration::from_secs(10)).is_some());
        assert_nothing_left(&t, &id, &b.path);
        t.rt.disown(&id);
    }
}

#[test]
fn exec_while_the_container_exits_works_or_fails_cleanly() {
    let Some(t) = Test::new("race_exec_exit") else {
        return;
    };
    // The container lives ~150 ms; each exec starts at a different point of that life.
    let mut b = t.bundle().args(&["sleep", "0.15"]);
    let r = t.rt.remote();
    let (mut worked, mut refused, mut strays) = (0, 0, 0);
    for round in 0..40u64 {
        let id = t.id();
        retarget(&mut b, &id);
        ok(&t.rt.create(&id, &b.path));
        let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
        ok(&t.rt.start(&id));
        thread::sleep(Duration::from_millis(round * 7 % 250));
        let detached = round % 2 == 1;
        let pid_file = t.dir.join(format!("exec-{round}.pid"));
        let exec = if detached {
            r.spawn(&[
                "exec",
                "-d",
                "--pid-file",
                pid_file.to_str().unwrap(),
                &id,
                "sleep",
                "1",
            ])
        } else {
            r.spawn(&["exec", &id, "true"])
        }
        .finish(RACE_TIMEOUT);
        match exec.output.status.code() {
            Some(0) => worked += 1,
            // The exec'd process was killed with the container's PID namespace.
            Some(137) => worked += 1,
            _ => {
                failed_cleanly(&exec, 255, "exec into an exiting container");
                refused += 1;
            }
        }
        if let Some(p) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            // A detached exec'd process dies with the container's PID namespace; it is
            // this (subreaper) process's child by now, and the namespace's init only
            // finishes exiting once it is reaped.
            assert!(
                reap(p, Duration::from_secs(10)).is_some(),
                "round {round}: exec'd process {p} outlived the container"
            );
        }
        // A failed exec may leave its helpers (joined to the container's PID namespace)
        // as zombies for the subreaper to reap, as runc's do; reap them like a shim.
        let init_gone = wait_until(Duration::from_secs(10), || {
            strays += reap_strays_in_pid_ns_of(pid).len();
            t.rt.reap_init(pid, Duration::ZERO).is_some()
        });
        assert!(init_gone, "round {round}: init {pid} did not exit");
        assert_eq!(t.rt.status(&id), "stopped", "round {round}");
        ok(&t.rt.delete(&id));
        assert_nothing_left(&t, &id, &b.path);
        t.rt.disown(&id);
    }
    eprintln!(
        "exec into an exiting container: {worked} ran, {refused} refused, \
         {strays} stray zombies reaped"
    );
}

/// One lane of the parallel test: a whole life of one container, from another thread.
/// Returns the container's init pid.
fn lane_life(r: &Remote, id: &str, bundle: &Path) -> i32 {
    let inv = r.run(&["create", "--bundle", bundle.to_str().unwrap(), id]);
    assert!(
        inv.output.status.success(),
        "{id}: create: {}",
        stderr(&inv.output)
    );
    let s = parse_state(&r.run(&["state", id]).output);
    assert_eq!(s["status"], "created", "{id}: {s}");
    assert_eq!(s["bundle"], bundle.to_str().unwrap(), "{id}: {s}");
    let pid = s["pid"].as_i64().unwrap() as i32;
    let inv = r.run(&["start", id]);
    assert!(
        inv.output.status.success(),
        "{id}: start: {}",
        stderr(&inv.output)
    );
    // (Not /proc/1/cmdline: `start` returns once the init is released, which may be
    // just before it execs the program, as with runc.)
    let inv = r.run(&["exec", id, "sh", "-c", "echo in $(hostname)"]);
    assert!(
        inv.output.status.success(),
        "{id}: exec: {}",
        stderr(&inv.output)
    );
    assert!(
        stdout(&inv.output).starts_with("in "),
        "{id}: {}",
        stdout(&inv.output)
    );
    let s = parse_state(&r.run(&["state", id]).output);
    assert_eq!(s["status"], "running", "{id}: {s}");
    assert_eq!(s["pid"], pid, "{id}: {s}");
    let inv = r.run(&["kill", id, "KILL"]);
    assert!(
        inv.output.status.success(),
        "{id}: kill: {}",
        stderr(&inv.output)
    );
    assert!(
        reap(pid, Duration::from_secs(10)).is_some(),
        "{id}: init {pid} did not die"
    );
    let s = parse_state(&r.run(&["state", id]).output);
    assert_eq!(s["status"], "stopped", "{id}: {s}");
    let inv = r.run(&["delete", id]);
    assert!(
        inv.output.status.success(),
        "{id}: delete: {}",
        stderr(&inv.output)
    );
    pid
}

#[test]
fn eight_runtimes_on_eight_containers_at_once_all_succeed() {
    let Some(t) = Test::new("race_eight_lanes") else {
        return;
    };
    const LANES: usize = 8;
    let mut bundles: Vec<Bundle> = (0..LANES)
        .map(|_| t.bundle().args(&["sleep", "60"]))
        .collect();
    // Held for the whole test: the shared cgroup parent stays, made by one create alone
    // (8 creates making it at once once raced on its cpuset: the tests below check that).
    let anchor = t.bundle().args(&["sleep", "600"]);
    ok(&t.rt.create(&anchor.id, &anchor.path));
    for round in 0..4 {
        let lanes = run_lanes(&t, &mut bundles, lane_life);
        for ((id, _), b) in lanes.iter().zip(&bundles) {
            assert_nothing_left(&t, id, &b.path);
        }
        assert_eq!(t.rt.state_entries(), [anchor.id.as_str()], "round {round}");
    }
}

/// Points the bundle's cgroup at `/berth-test/<parent>/<id>`.
fn retarget_under(b: &mut Bundle, parent: &str, id: &str) {
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/{CGROUP_PARENT}/{parent}/{id}"));
    b.save();
}

/// Removes `berth-test/<parent>` in every hierarchy once its children are gone (the
/// runtime removes only the cgroups it made, and a parent may outlive its maker).
fn remove_parent_cgroup(parent: &str) {
    for dir in test_cgroup_dirs(parent) {
        let _ = std::fs::remove_dir(&dir);
    }
}

#[test]
fn eight_creates_under_a_new_cgroup_parent_all_succeed() {
    let Some(t) = Test::new("race_new_parent") else {
        return;
    };
    const LANES: usize = 8;
    let mut bundles: Vec<Bundle> = (0..LANES)
        .map(|_| t.bundle().args(&["sleep", "60"]))
        .collect();
    let r = t.rt.remote();
    for round in 0..20 {
        // A parent none of them finds: each create may be the one that makes it.
        let parent = t.id();
        let ids: Vec<String> = bundles
            .iter_mut()
            .map(|b| {
                let id = t.id();
                retarget_under(b, &parent, &id);
                t.rt.adopt(&id);
                id
            })
            .collect();
        // Each from its own thread, released together.
        let barrier = std::sync::Barrier::new(LANES);
        let done: Vec<Invocation> = thread::scope(|s| {
            let handles: Vec<_> = ids
                .iter()
                .zip(&bundles)
                .map(|(id, b)| {
                    let (r, barrier) = (r.clone(), &barrier);
                    let path = b.path.clone();
                    s.spawn(move || {
                        let cmd = r.command(&["create", "--bundle", path.to_str().unwrap(), id]);
                        barrier.wait();
                        spawn_logged(cmd, &r.logs).finish(RACE_TIMEOUT)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let failed: Vec<String> = ids
            .iter()
            .zip(&done)
            .filter(|(_, inv)| !inv.output.status.success())
            .map(|(id, inv)| format!("{id}: {}", stderr(&inv.output).trim()))
            .collect();
        for (id, inv) in ids.iter().zip(&done) {
            if inv.output.status.success() {
                let pid = t.rt.state_json(id)["pid"].as_i64().unwrap() as i32;
                t.rt.adopt_init(pid);
                ok(&t.rt.delete_force(id));
                t.rt.reap_init(pid, Duration::from_secs(10));
            }
            t.rt.disown(id);
        }
        remove_parent_cgroup(&parent);
        assert!(
            failed.is_empty(),
            "round {round}: {} of {LANES} creates failed:\n{}",
            failed.len(),
            failed.join("\n")
        );
        for (id, b) in ids.iter().zip(&bundles) {
            assert_nothing_left(&t, id, &b.path);
        }
    }
}

#[test]
fn delete_and_create_under_one_cgroup_parent_both_succeed() {
    let Some(t) = Test::new("race_parent_delete_create") else {
        return;
    };
    let mut a = t.bundle().args(&["sleep", "60"]);
    let mut b = t.bundle().args(&["sleep", "60"]);
    let r = t.rt.remote();
    for round in 0..20 {
        let parent = t.id();
        let (ida, idb) = (t.id(), t.id());
        retarget_under(&mut a, &parent, &ida);
        retarget_under(&mut b, &parent, &idb);
        // A makes the parent; its delete (which removes what A made, the parent too
        // when empty) races B's create under that parent.
        ok(&t.rt.create(&ida, &a.path));
        let pa = t.rt.state_json(&ida)["pid"].as_i64().unwrap() as i32;
        t.rt.adopt(&idb);
        let create = ["create", "--bundle", b.path.to_str().unwrap(), &idb];
        let delete = ["delete", "--force", &ida];
        let (c, d) = if round % 2 == 0 {
            let c = r.spawn(&create);
            (c, r.spawn(&delete))
        } else {
            let d = r.spawn(&delete);
            (r.spawn(&create), d)
        };
        let (c, d) = (c.finish(RACE_TIMEOUT), d.finish(RACE_TIMEOUT));
        t.rt.reap_init(pa, Duration::from_secs(10));
        let pb = c
            .output
            .status
            .success()
            .then(|| t.rt.state_json(&idb)["pid"].as_i64().unwrap() as i32);
        if let Some(pb) = pb {
            t.rt.adopt_init(pb);
            ok(&t.rt.delete_force(&idb));
            t.rt.reap_init(pb, Duration::from_secs(10));
        }
        let _ = t.rt.delete_force(&ida);
        remove_parent_cgroup(&parent);
        assert!(
            d.output.status.success(),
            "round {round}: delete --force of {ida} failed: {}",
            stderr(&d.output)
        );
        assert!(
            c.output.status.success(),
            "round {round}: create of {idb} failed: {}",
            stderr(&c.output)
        );
        assert_nothing_left(&t, &ida, &a.path);
        assert_nothing_left(&t, &idb, &b.path);
        t.rt.disown(&idb);
    }
}

#[test]
fn create_under_a_cgroup_parent_another_create_has_just_made() {
    let Some(t) = Test::new("race_fresh_parent") else {
        return;
    };
    let cpuset = Path::new("/sys/fs/cgroup/cpuset");
    if !cpuset.join("cpuset.cpus").exists() {
        eprintln!("skipped: no cgroup v1 cpuset hierarchy");
        return;
    }
    // What a concurrent create (or one killed half-way) leaves for a moment: the parent
    // dir made, its cpus and mems not yet copied in. A v1 cpuset dir starts empty, and
    // no process can join a cpuset below an empty one.
    let parent = t.id();
    let id = t.id();
    let top = cpuset.join(CGROUP_PARENT);
    let made_top = std::fs::create_dir(&top).is_ok();
    if made_top {
        // As the harness's first create would have made it.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let v = std::fs::read_to_string(cpuset.join(f)).unwrap();
            std::fs::write(top.join(f), v.trim()).unwrap();
        }
    }
    std::fs::create_dir(top.join(&parent)).unwrap();
    let mut b = t.bundle().args(&["true"]);
    retarget_under(&mut b, &parent, &id);
    t.rt.adopt(&id);
    let o = t.rt.create(&id, &b.path);
    if o.status.success() {
        let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
        ok(&t.rt.delete_force(&id));
        t.rt.reap_init(pid, Duration::from_secs(10));
    }
    remove_parent_cgroup(&parent);
    assert!(
        o.status.success(),
        "create under a parent with an empty cpuset failed: {}",
        stderr(&o)
    );
    assert_nothing_left(&t, &id, &b.path);
}
