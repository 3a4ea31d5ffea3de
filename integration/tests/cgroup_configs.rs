//! cgroup settings runc accepts: kernel memory limits the kernel no longer
//! enforces (a warning), a cgroup that already holds processes (a warning),
//! device access `rwa`, and `linux.devices` entries that take the place of
//! the default device rules for the same path.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use integration::*;
use serde_json::json;

fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The container's cgroup leaf in one controller's hierarchy.
fn leaf(controller: &str, id: &str) -> PathBuf {
    let root = if unified() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        Path::new("/sys/fs/cgroup").join(controller)
    };
    root.join(CGROUP_PARENT).join(id)
}

#[test]
fn kernel_memory_limits_the_kernel_ignores_warn_and_the_container_runs() {
    let Some(t) = Test::new("kmem_warns") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| {
            c["linux"]["resources"] = json!({"memory": {
                "limit": 67108864, "kernel": 33554432, "kernelTCP": 16777216
            }})
        })
        .sh("echo ran");
    let o = t.run(&b);
    assert_eq!(ok(&o), "ran\n", "{}", stderr(&o));
    if !runtime_is_runc() {
        assert!(stderr(&o).contains("memory.kernel"), "{}", stderr(&o));
    }
}

#[test]
fn a_cgroup_that_already_holds_processes_is_joined_with_a_warning() {
    let Some(t) = Test::new("populated_cgroup") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "300"]);
    // runc 1.1.5 looks only at the devices hierarchy on cgroup v1.
    let dir = leaf("devices", &b.id);
    fs::create_dir_all(&dir).expect("mkdir cgroup");
    let helper = t.spawn_helper({
        let mut c = Command::new("sleep");
        c.arg("300");
        c
    });
    fs::write(dir.join("cgroup.procs"), helper.to_string()).expect("move helper");
    let o = t.rt.run_with(&b.id, &b.path, &["-d"]);
    ok(&o);
    assert!(
        stderr(&o).contains("not empty") || stderr(&o).contains("holds processes"),
        "{}",
        stderr(&o)
    );
    assert_eq!(t.rt.status(&b.id), "running");
    if runtime_is_runc() {
        return;
    }
    // The process berth did not start is not berth's to kill.
    ok(&t.rt.delete_force(&b.id));
    assert!(
        pid_alive(helper as i32),
        "delete killed a process it did not start"
    );
}

#[test]
fn a_linux_devices_entry_replaces_the_default_rule_for_its_path() {
    let Some(t) = Test::new("devices_spec_wins") else {
        return;
    };
    let b = t.bundle().edit(|c| {
        c["linux"]["devices"] = json!([{
            "path": "/dev/full", "type": "c", "major": 1, "minor": 7,
            "fileMode": 438, "uid": 0, "gid": 0
        }]);
        c["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    });
    let out = t.sh(
        b,
        "head -c1 /dev/full >/dev/null 2>&1 && echo full-open || echo full-denied; \
         head -c1 /dev/zero >/dev/null 2>&1 && echo zero-open || echo zero-denied",
    );
    assert_eq!(out, "full-denied\nzero-open\n");
}

#[test]
fn device_access_rwa_is_accepted() {
    let Some(t) = Test::new("devices_rwa") else {
        return;
    };
    let b = t.bundle().edit(|c| {
        c["linux"]["resources"] = json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwa"}
        ]});
    });
    let out = t.sh(b, "echo x > /dev/null && echo written");
    assert_eq!(out, "written\n");
}
