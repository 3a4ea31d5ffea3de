//! Soak: many container lives in a row and 8 at a time, with a census of the host after
//! each batch. Mounts, cgroups, processes, the test process's open fds and the entries
//! under the state root must be back to where they started, and the runtime's peak RSS
//! (ru_maxrss of each runtime process, from wait4) must not grow from the first batch to
//! the last.
//!
//! Short by default, so it runs in `make test`; `make soak` runs the long one with
//! `BERTH_SOAK_CYCLES=1000 BERTH_SOAK_CONTAINERS=200`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use integration::*;
use serde_json::Value;

/// The census counts the test process's fds and children: the soak tests must not
/// overlap (the harness may run them on two threads).
static SERIAL: Mutex<()> = Mutex::new(());

/// Cycles per census in the sequential soak.
const BATCH: usize = 10;
/// Runtimes working at once in the parallel soak (one round of them is a batch).
const LANES: usize = 8;

fn count_from_env(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?}: expected a number")),
        Err(_) => default,
    }
}

/// What a container can leave behind, counted on the host.
#[derive(Debug, Clone, PartialEq)]
struct Census {
    /// /proc/self/mountinfo lines, without the ones under other tests' dirs.
    mounts: Vec<String>,
    /// Cgroup dirs of this test's containers.
    cgroups: Vec<PathBuf>,
    /// Children of the test process (their subreaper) and processes in this test's
    /// cgroups: `pid state comm`.
    procs: Vec<String>,
    /// The test process's open fds.
    fds: Vec<String>,
    /// Entries under the state root.
    state: Vec<String>,
}

impl Census {
    fn take(t: &Test, prefix: &str) -> Census {
        let mounts = mountinfo_lines()
            .into_iter()
            .filter(|l| !in_another_test_dir(&mount_point(l), &t.dir))
            .collect();
        let mut procs: Vec<String> = children_of_self()
            .into_iter()
            .map(|(pid, state, comm)| format!("{pid} {state} {comm}"))
            .collect();
        procs.extend(
            procs_in_test_cgroup(&format!("{prefix}*"))
                .into_iter()
                .map(|pid| format!("{pid} in a test cgroup")),
        );
        procs.sort();
        procs.dedup();
        Census {
            mounts,
            cgroups: test_cgroup_dirs(&format!("{prefix}*")),
            procs,
            fds: open_fds(),
            state: t.rt.state_entries(),
        }
    }

    /// What is here now that was not at `base`, per kind (empty: nothing leaked).
    fn leaks_since(&self, base: &Census) -> Vec<String> {
        fn new<T: PartialEq + std::fmt::Debug>(kind: &str, now: &[T], base: &[T]) -> Vec<String> {
            now.iter()
                .filter(|x| !base.contains(x))
                .map(|x| format!("{kind}: {x:?}"))
                .collect()
        }
        let mut leaks = new("mount", &self.mounts, &base.mounts);
        leaks.extend(new("cgroup", &self.cgroups, &base.cgroups));
        leaks.extend(new("process", &self.procs, &base.procs));
        leaks.extend(new("state entry", &self.state, &base.state));
        if self.fds.len() != base.fds.len() {
            leaks.extend(new("fd", &self.fds, &base.fds));
            leaks.push(format!(
                "fds: {} now, {} at the start",
                self.fds.len(),
                base.fds.len()
            ));
        }
        leaks
    }

    fn summary(&self) -> String {
        format!(
            "{} mounts, {} cgroups, {} processes, {} fds, {} state entries",
            self.mounts.len(),
            self.cgroups.len(),
            self.procs.len(),
            self.fds.len(),
            self.state.len()
        )
    }
}

/// Waits up to 5 s for the host to be back to `base` (a killed process takes a moment
/// to go); panics with what is left otherwise.
#[track_caller]
fn assert_back_to(t: &Test, prefix: &str, base: &Census, batch: usize) {
    let mut leaks = Vec::new();
    let back = wait_until(Duration::from_secs(5), || {
        leaks = Census::take(t, prefix).leaks_since(base);
        leaks.is_empty()
    });
    assert!(
        back,
        "after batch {batch}, left on the host:\n{}",
        leaks.join("\n")
    );
}

/// Peak RSS per runtime command, in KiB.
type Peaks = BTreeMap<&'static str, i64>;

fn note(peaks: &mut Peaks, command: &'static str, inv: &Invocation) {
    if let Some(kb) = inv.max_rss_kb {
        let e = peaks.entry(command).or_insert(0);
        *e = (*e).max(kb);
    }
}

#[track_caller]
fn must(inv: Invocation, what: &str) -> Invocation {
    assert!(
        inv.output.status.success(),
        "{what} failed ({:?}): {}",
        inv.output.status,
        stderr(&inv.output)
    );
    inv
}

fn parse_state(inv: &Invocation) -> Value {
    serde_json::from_slice(&inv.output.stdout)
        .unwrap_or_else(|e| panic!("state: not JSON ({e}): {}", stdout(&inv.output)))
}

/// The peak RSS must not grow from the first batch to the last: 10% (at least 1 MiB)
/// of slack for the noise of page faults.
#[track_caller]
fn assert_rss_flat(what: &str, first: &Peaks, last: &Peaks) {
    if first.is_empty() {
        eprintln!("{what}: peak RSS not measured: {GNU_TIME} is missing (apt-get install time)");
    }
    for (command, &before) in first {
        let after = last.get(command).copied().unwrap_or(0);
        let slack = (before / 10).max(1024);
        assert!(
            after <= before + slack,
            "{what}: peak RSS of `{command}` grew from {before} KiB (first batch) to {after} KiB (last)"
        );
    }
}

#[test]
fn soak_create_start_wait_delete_cycles() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(t) = Test::new("soak_cycles") else {
        return;
    };
    let cycles = count_from_env("BERTH_SOAK_CYCLES", 50);
    let prefix = format!("{}-{}-", t.name, std::process::id());
    let mut b = t.bundle().args(&["true"]);
    let r = t.rt.remote();
    let began = Instant::now();
    let base = Census::take(&t, &prefix);
    let mut peaks: Vec<Peaks> = Vec::new();
    let mut done = 0;
    while done < cycles {
        let mut batch = Peaks::new();
        for _ in 0..BATCH.min(cycles - done) {
            let id = t.id();
            retarget(&mut b, &id);
            t.rt.adopt(&id);
            let bundle = b.path.to_str().unwrap();
            note(
                &mut batch,
                "create",
                &must(
                    r.run_measured(&["create", "--bundle", bundle, &id]),
                    "create",
                ),
            );
            let s = must(r.run_measured(&["state", &id]), "state");
            note(&mut batch, "state", &s);
            let pid = parse_state(&s)["pid"].as_i64().unwrap() as i32;
            note(
                &mut batch,
                "start",
                &must(r.run_measured(&["start", &id]), "start"),
            );
            assert!(
                reap(pid, Duration::from_secs(10)).is_some(),
                "{id}: init {pid} did not exit"
            );
            let s = must(r.run_measured(&["state", &id]), "state");
            assert_eq!(parse_state(&s)["status"], "stopped", "{id}");
            note(
                &mut batch,
                "delete",
                &must(r.run_measured(&["delete", &id]), "delete"),
            );
            t.rt.disown(&id);
            done += 1;
        }
        assert_back_to(&t, &prefix, &base, peaks.len());
        peaks.push(batch);
    }
    let (first, last) = (&peaks[0], &peaks[peaks.len() - 1]);
    eprintln!(
        "soak cycles: {cycles} create/start/wait/delete cycles in {} batches, {:.1} s; \
         nothing left after any batch ({}); peak RSS KiB first batch {first:?}, last batch {last:?}",
        peaks.len(),
        began.elapsed().as_secs_f64(),
        base.summary()
    );
    assert_rss_flat("cycles", first, last);
}

/// The whole life of one container from a lane thread; returns the runtime's peaks.
fn lane_life(r: &Remote, id: &str, bundle: &Path) -> Peaks {
    let mut peaks = Peaks::new();
    let create = r.run_measured(&["create", "--bundle", bundle.to_str().unwrap(), id]);
    note(
        &mut peaks,
        "create",
        &must(create, &format!("{id}: create")),
    );
    let s = must(r.run_measured(&["state", id]), "state");
    note(&mut peaks, "state", &s);
    let pid = parse_state(&s)["pid"].as_i64().unwrap() as i32;
    note(
        &mut peaks,
        "start",
        &must(r.run_measured(&["start", id]), &format!("{id}: start")),
    );
    // (Not /proc/1/cmdline: `start` returns once the init is released, which may be
    // just before it execs the program, as with runc.)
    let exec = must(
        r.run_measured(&["exec", id, "sh", "-c", "echo in $(hostname)"]),
        &format!("{id}: exec"),
    );
    assert!(
        stdout(&exec.output).starts_with("in "),
        "{id}: {}",
        stdout(&exec.output)
    );
    note(&mut peaks, "exec", &exec);
    note(
        &mut peaks,
        "kill",
        &must(
            r.run_measured(&["kill", id, "KILL"]),
            &format!("{id}: kill"),
        ),
    );
    assert!(
        reap(pid, Duration::from_secs(10)).is_some(),
        "{id}: init {pid} did not die"
    );
    let s = must(r.run_measured(&["state", id]), "state");
    assert_eq!(parse_state(&s)["status"], "stopped", "{id}");
    note(
        &mut peaks,
        "delete",
        &must(r.run_measured(&["delete", id]), &format!("{id}: delete")),
    );
    peaks
}

#[test]
fn soak_containers_eight_at_a_time() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(t) = Test::new("soak_parallel") else {
        return;
    };
    let containers = count_from_env("BERTH_SOAK_CONTAINERS", 16);
    let prefix = format!("{}-{}-", t.name, std::process::id());
    let mut bundles: Vec<Bundle> = (0..LANES)
        .map(|_| t.bundle().args(&["sleep", "600"]))
        .collect();
    // One container held for the whole run keeps the shared cgroup parent in place, made
    // and filled by a create alone: 8 creates making it at once race on its cpuset (see
    // races.rs, eight_creates_under_a_new_cgroup_parent_all_succeed).
    let anchor = t.bundle().args(&["sleep", "600"]);
    ok(&t.rt.create(&anchor.id, &anchor.path));
    let began = Instant::now();
    let base = Census::take(&t, &prefix);
    let mut peaks: Vec<Peaks> = Vec::new();
    let mut done = 0;
    // Each round of LANES containers at once is a batch, with a census after it.
    while done < containers {
        let n = LANES.min(containers - done);
        let lanes = run_lanes(&t, &mut bundles[..n], lane_life);
        let mut batch = Peaks::new();
        for (_, lane_peaks) in lanes {
            for (command, kb) in lane_peaks {
                let e = batch.entry(command).or_insert(0);
                *e = (*e).max(kb);
            }
        }
        done += n;
        assert_back_to(&t, &prefix, &base, peaks.len());
        peaks.push(batch);
    }
    let (first, last) = (&peaks[0], &peaks[peaks.len() - 1]);
    eprintln!(
        "soak parallel: {containers} containers, {LANES} at a time, in {} batches, {:.1} s; \
         nothing left after any batch ({}); peak RSS KiB first batch {first:?}, last batch {last:?}",
        peaks.len(),
        began.elapsed().as_secs_f64(),
        base.summary()
    );
    assert_rss_flat("parallel", first, last);
}
