//! A damaged state.json hides nothing and orphans nothing: `list` reports it
//! and lists the others, and `delete --force` still ends the container's
//! processes before it removes anything, or refuses.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use integration::*;

fn state_file(t: &Test, id: &str) -> PathBuf {
    t.rt.root.join(id).join("state.json")
}

/// Overwrites state.json with garbage and gives the original back on drop
/// (if the runtime left the file there), so the fixture can still delete
/// the container whatever the test saw.
struct Damaged {
    path: PathBuf,
    original: Vec<u8>,
}

impl Damaged {
    fn new(path: PathBuf) -> Damaged {
        Damaged::with(path, b"{\"id\": \"trunc")
    }

    fn with(path: PathBuf, contents: &[u8]) -> Damaged {
        let original = fs::read(&path).expect("read state.json");
        fs::write(&path, contents).expect("damage state.json");
        Damaged { path, original }
    }
}

impl Drop for Damaged {
    fn drop(&mut self) {
        if self.path.exists() {
            let _ = fs::write(&self.path, &self.original);
        }
    }
}

#[test]
fn list_reports_a_damaged_state_and_lists_the_others() {
    let Some(t) = Test::new("list_damaged") else {
        return;
    };
    let good = t.bundle().args(&["sleep", "300"]);
    let bad = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&good.id, &good.path, &["-d"]));
    ok(&t.rt.run_with(&bad.id, &bad.path, &["-d"]));
    let _damaged = Damaged::new(state_file(&t, &bad.id));
    for extra in [&[][..], &["-q"], &["--format", "json"]] {
        let o = t.rt.list(extra);
        let out = ok(&o);
        assert!(out.contains(&good.id), "list {extra:?}: {out}");
        assert!(
            stderr(&o).contains(&bad.id),
            "list {extra:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn delete_force_of_a_damaged_state_kills_the_processes_or_refuses() {
    let Some(t) = Test::new("delete_damaged") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap() as i32;
    let damaged = Damaged::new(state_file(&t, &b.id));
    let o = t.rt.delete_force(&b.id);
    let state_dir = t.rt.root.join(&b.id);
    if o.status.success() {
        // Removed: then nothing of the container may be left running.
        assert!(
            wait_until(Duration::from_secs(5), || !pid_alive(pid)),
            "delete --force removed the state but init {pid} still runs"
        );
        assert!(!state_dir.exists());
    } else {
        // Refused: the state stays, so the container can still be found.
        assert!(state_dir.exists(), "{}", stderr(&o));
    }
    if !runtime_is_runc() {
        // runc 1.1.5 refuses; berth finds the processes through the cgroup.
        assert!(o.status.success(), "{}", stderr(&o));
    }
    drop(damaged);
}

#[test]
fn delete_force_of_a_damaged_state_removes_the_cgroups() {
    delete_force_removes_the_cgroups_of("delete_damaged_cg", b"{\"id\": \"trunc");
}

/// state.json is written without fsync, as runc's: on a disk-backed root a
/// power cut can leave it empty, and delete must still clean up after it.
#[test]
fn delete_force_of_an_empty_state_removes_the_cgroups() {
    delete_force_removes_the_cgroups_of("delete_empty_cg", b"");
}

fn delete_force_removes_the_cgroups_of(name: &str, state: &[u8]) {
    let Some(t) = Test::new(name) else {
        return;
    };
    if skip_under_runc("runc 1.1.5 refuses delete of a damaged state.json") {
        return;
    }
    let b = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let _damaged = Damaged::with(state_file(&t, &b.id), state);
    ok(&t.rt.delete_force(&b.id));
    let leaf = PathBuf::from("/sys/fs/cgroup/pids")
        .join(CGROUP_PARENT)
        .join(&b.id);
    let leaf = if PathBuf::from("/sys/fs/cgroup/cgroup.controllers").exists() {
        PathBuf::from("/sys/fs/cgroup")
            .join(CGROUP_PARENT)
            .join(&b.id)
    } else {
        leaf
    };
    assert!(!leaf.exists(), "{} left behind", leaf.display());
}
