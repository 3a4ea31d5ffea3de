//! resolve, create, add_process, destroy: which directories, and only those.

use std::path::{Path, PathBuf};

use super::{body, resources, unique_path, Fixture};
use crate::cgroups::{detect, Cgroup, Mode};

/// Removes directories a test made by hand, deepest first.
struct HandMade(Vec<PathBuf>);

impl Drop for HandMade {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[test]
fn cgroups_resolve_absolute_path_in_every_hierarchy() {
    let mode = detect().unwrap();
    let cg = Cgroup::resolve(Path::new("/berth/c1"), mode).unwrap();
    for d in &cg.v1 {
        assert_eq!(d.dir, d.mount.join("berth/c1"));
    }
    if mode != Mode::Legacy {
        let u = cg.unified.as_ref().unwrap();
        assert_eq!(u.dir, u.mount.join("berth/c1"));
    }
    if mode == Mode::Hybrid {
        // Controllers on v2 are those not bound to v1 (hugetlb here).
        let u = cg.unified.as_ref().unwrap();
        for c in &u.controllers {
            assert!(
                !cg.v1.iter().any(|d| d.controllers.contains(c)),
                "{c} on both"
            );
        }
        assert!(cg.v1.iter().any(|d| d.controllers == ["name=systemd"]));
    }
    assert!(cg.created.is_empty(), "resolve creates nothing");
}

#[test]
fn cgroups_resolve_relative_path_under_own_cgroup() {
    let mode = detect().unwrap();
    let cg = Cgroup::resolve(Path::new("berth-rel/c1"), mode).unwrap();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for d in &cg.v1 {
        let line = own
            .lines()
            .find(|l| l.split(':').nth(1) == Some(&d.controllers.join(",")))
            .unwrap();
        let path = line.splitn(3, ':').nth(2).unwrap().trim_start_matches('/');
        assert_eq!(d.dir, d.mount.join(path).join("berth-rel/c1"), "{line}");
    }
    assert!(!cg.dirs().any(|d| d.exists()), "resolve creates nothing");
}

#[test]
fn cgroups_create_makes_every_dir_and_destroy_removes_them() {
    let path = unique_path("life");
    let fx = Fixture::at(&path);
    let dirs: Vec<PathBuf> = fx.cg.dirs().map(Path::to_path_buf).collect();
    assert!(!dirs.is_empty());
    for d in &dirs {
        assert!(d.is_dir(), "{} missing", d.display());
        assert!(fx.cg.created.contains(d));
    }
    fx.cg.destroy().unwrap();
    for d in &dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    // A second destroy (after a crash, say) is fine.
    fx.cg.destroy().unwrap();
}

#[test]
fn cgroups_state_round_trips_through_json() {
    let fx = Fixture::new("serde");
    let json = serde_json::to_string(&fx.cg).unwrap();
    let back: Cgroup = serde_json::from_str(&json).unwrap();
    assert_eq!(back, fx.cg);
    assert!(json.contains("\"created\""), "{json}");
}

#[test]
fn cgroups_destroy_leaves_dirs_it_did_not_create() {
    crate::test_support::require_root("a cgroup test (it makes cgroups on the host)");
    let parent = unique_path("pre");
    // The test, not the runtime, makes the parent in the first hierarchy.
    let mode = detect().unwrap();
    let probe = Cgroup::resolve(&parent, mode).unwrap();
    let foreign = probe.dirs().next().unwrap().to_path_buf();
    std::fs::create_dir(&foreign).unwrap();
    let _guard = HandMade(vec![foreign.clone()]);

    let fx = Fixture::at(&parent.join("child"));
    assert!(!fx.cg.created.contains(&foreign));
    fx.cg.destroy().unwrap();
    assert!(
        foreign.is_dir(),
        "a parent the runtime did not make is kept"
    );
    for d in fx.cg.dirs() {
        assert!(!d.exists());
    }
    // In the other hierarchies the runtime made the parent too, and removed it.
    for d in probe.dirs().skip(1) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn cgroups_shared_parent_stays_while_a_sibling_uses_it() {
    let parent = unique_path("shared");
    let a = Fixture::at(&parent.join("a"));
    let b = Fixture::at(&parent.join("b"));
    a.cg.destroy().unwrap();
    let parents: Vec<PathBuf> =
        a.cg.dirs()
            .map(|d| d.parent().unwrap().to_path_buf())
            .collect();
    for p in &parents {
        assert!(p.is_dir(), "{} removed under a sibling", p.display());
    }
    b.cg.destroy().unwrap();
    // b did not make the parent; a did, and removes it once it is unused.
    a.cg.destroy().unwrap();
    for p in &parents {
        assert!(!p.exists(), "{} left behind", p.display());
    }
}

#[test]
fn cgroups_existing_leaf_with_processes_is_joined_with_a_warning() {
    let path = unique_path("busy");
    let mut first = Fixture::at(&path);
    first.run(|_| body::sleep_forever());
    let mode = detect().unwrap();
    let mut second = Cgroup::resolve(&path, mode).unwrap();
    let warnings = second.create().unwrap();
    assert!(!warnings.is_empty());
    assert!(warnings[0].contains("not empty"), "{warnings:?}");
    assert!(second.shared);
    assert!(second.created.is_empty());
    // The first container's cgroups are untouched.
    for d in first.cg.dirs() {
        assert!(d.is_dir());
    }
}

#[test]
fn cgroups_frozen_leaf_is_refused_by_name() {
    let fx = Fixture::new("frozen");
    fx.cg.freeze().unwrap();
    let mut second = Cgroup::resolve(&fx.cg.path, detect().unwrap()).unwrap();
    let err = second.create().unwrap_err().to_string();
    fx.cg.thaw().unwrap();
    assert!(err.contains("frozen"), "{err}");
    assert!(
        fx.cg.dirs().any(|d| err.contains(&d.display().to_string())),
        "{err}"
    );
}

#[test]
fn cgroups_add_process_joins_every_hierarchy() {
    let mut fx = Fixture::new("join");
    let i = fx.run(|_| body::sleep_forever());
    let pid = fx.children[i].pid;
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let name = fx
        .cg
        .path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for line in text.lines() {
        let controllers = line.split(':').nth(1).unwrap();
        let joined = fx
            .cg
            .v1
            .iter()
            .any(|d| d.controllers.join(",") == controllers)
            || (controllers.is_empty() && fx.cg.unified.is_some());
        if joined {
            assert!(line.ends_with(&name), "{line}");
        }
    }
    assert_eq!(fx.cg.pids().unwrap(), [pid]);
}

#[test]
fn cgroups_leaf_fd_wherever_there_is_a_cgroup2_part() {
    let fx = Fixture::new("fd");
    let fd = fx.cg.leaf_fd().unwrap();
    // Pure v2, or the unified part of a hybrid host: clone3 can place a
    // child there; a legacy host has none.
    assert_eq!(fd.is_some(), fx.cg.unified.is_some());
    assert_eq!(fx.cg.mode == Mode::Legacy, fd.is_none());
}

#[test]
fn cgroups_check_refuses_before_anything_is_created() {
    let mode = detect().unwrap();
    let cg = Cgroup::resolve(&unique_path("precheck"), mode).unwrap();
    let r = resources(r#"{"network": {"classID": 1048577}}"#);
    let err = cg.check(&r).unwrap_err().to_string();
    assert!(err.contains("linux.resources.network.classID"), "{err}");
    assert!(!cg.dirs().any(|d| d.exists()));
}
