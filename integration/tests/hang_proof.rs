//! No command blocks for ever: a frozen cgroup found at create is an error,
//! `events` ends with the container, and `events --stats` and `ps` of a
//! stopped container answer at once (as runc).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use integration::*;

fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The container's cgroup leaf in the freezer's hierarchy (the bundles'
/// `linux.cgroupsPath` is `/berth-test/<id>`).
fn freezer_leaf(id: &str) -> PathBuf {
    let root = if unified() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        PathBuf::from("/sys/fs/cgroup/freezer")
    };
    root.join(CGROUP_PARENT).join(id)
}

/// A cgroup frozen by the test; thawed again on drop (the fixture removes
/// the directory).
struct Frozen(PathBuf);

impl Frozen {
    fn make(leaf: PathBuf) -> Frozen {
        fs::create_dir_all(&leaf).expect("mkdir cgroup");
        let frozen = Frozen(leaf);
        frozen.write(true);
        frozen
    }

    fn write(&self, freeze: bool) {
        let (file, value) = match (unified(), freeze) {
            (true, f) => ("cgroup.freeze", if f { "1" } else { "0" }),
            (false, true) => ("freezer.state", "FROZEN"),
            (false, false) => ("freezer.state", "THAWED"),
        };
        fs::write(self.0.join(file), value).expect("write freezer");
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.write(false);
    }
}

#[test]
fn create_in_a_frozen_cgroup_is_an_error_naming_it() {
    let Some(t) = Test::new("frozen_cgroup") else {
        return;
    };
    let b = t.bundle().args(&["true"]);
    let leaf = freezer_leaf(&b.id);
    let _frozen = Frozen::make(leaf.clone());
    let started = Instant::now();
    let o = t.rt.run_with(&b.id, &b.path, &["-d"]);
    let err = fails_with(&o, 1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.contains("frozen"), "{err}");
    if !runtime_is_runc() {
        assert!(err.contains(&leaf.display().to_string()), "{err}");
    }
    assert!(
        t.rt.state_entries().is_empty(),
        "{:?}",
        t.rt.state_entries()
    );
}

#[test]
fn events_exits_when_the_container_stops() {
    let Some(t) = Test::new("events_stop") else {
        return;
    };
    if skip_under_runc("runc 1.1.5's events goes on polling a stopped container") {
        return;
    }
    let b = t.bundle().args(&["sleep", "2"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let mut events =
        t.rt.command(&["events", "--interval", "60s", &b.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn events");
    let exited = wait_until(Duration::from_secs(15), || {
        matches!(events.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = events.kill();
    }
    let _ = events.wait();
    // Well before the next stats event was due.
    assert!(
        exited,
        "events still running 13 s after the container stopped"
    );
}

#[test]
fn events_stats_of_a_stopped_container_is_an_error() {
    let Some(t) = Test::new("events_stats_stopped") else {
        return;
    };
    let b = t.bundle().args(&["true"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    t.rt.wait_status(&b.id, "stopped");
    let o = t.rt.exec(&["events", "--stats", &b.id]);
    let err = fails_with(&o, 1);
    assert!(err.contains("not running"), "{err}");
    assert_eq!(stdout(&o), "");
}

#[test]
fn ps_of_a_stopped_container_prints_the_header_only() {
    let Some(t) = Test::new("ps_stopped") else {
        return;
    };
    let b = t.bundle().args(&["true"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    t.rt.wait_status(&b.id, "stopped");
    let out = ok(&t.rt.exec(&["ps", &b.id]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].contains("PID"), "{out}");
}
