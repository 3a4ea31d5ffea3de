//! process.scheduler, process.ioPriority, linux.personality, and the LSM
//! labels a host without AppArmor/SELinux must refuse.

use std::os::unix::fs::symlink;

use integration::*;
use serde_json::json;

/// Fields of /proc/self/stat after the command name: field N of proc(5) is
/// index N-3 here.
fn stat_fields(stat: &str) -> Vec<String> {
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split_whitespace().map(String::from).collect()
}

#[test]
fn scheduler_policy_and_nice_apply() {
    let Some(t) = Test::new("sched_batch") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 has no process.scheduler") {
        return;
    }
    let b = t
        .bundle()
        .edit(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7}));
    let out = t.sh(b, "cat /proc/self/stat");
    let fields = stat_fields(&out);
    assert_eq!(fields[19 - 3], "7", "nice: {out}");
    assert_eq!(fields[41 - 3], "3", "policy SCHED_BATCH: {out}");
}

#[test]
fn io_priority_applies() {
    let Some(t) = Test::new("sched_ioprio") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 has no process.ioPriority") {
        return;
    }
    let b = t
        .bundle()
        .edit(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6}));
    symlink("busybox", b.rootfs().join("bin/ionice")).unwrap();
    let out = t.sh(b, "ionice");
    assert!(out.contains("best-effort") && out.contains('6'), "{out}");
}

#[test]
fn personality_linux32_changes_uname() {
    let Some(t) = Test::new("sched_personality") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 ignores linux.personality") {
        return;
    }
    let b = t
        .bundle()
        .edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
    let out = t.sh(b, "uname -m");
    assert_eq!(out.trim(), "i686");
}

#[test]
fn exec_shares_the_container_personality() {
    let Some(t) = Test::new("sched_personality_exec") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 ignores linux.personality") {
        return;
    }
    let b = t.bundle().args(&["sleep", "60"]).edit(|c| {
        c["linux"]["personality"] = json!({"domain": "LINUX32"});
    });
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    let out = ok(&t.rt.exec(&["exec", &b.id, "uname", "-m"]));
    assert_eq!(out.trim(), "i686");
}

#[test]
fn unknown_personality_flag_is_refused() {
    let Some(t) = Test::new("sched_personality_bad") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 ignores linux.personality") {
        return;
    }
    let b = t.bundle().edit(|c| {
        c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["NO_SUCH_FLAG"]})
    });
    let err = fails_with(&t.rt.create(&b.id, &b.path), 1);
    assert!(err.contains("NO_SUCH_FLAG"), "{err}");
    assert!(t.rt.state_entries().is_empty());
}

#[test]
fn apparmor_profile_without_apparmor_is_refused() {
    let Some(t) = Test::new("lsm_apparmor") else {
        return;
    };
    if std::path::Path::new("/sys/module/apparmor/parameters/enabled").exists() {
        eprintln!("skipped: this host has AppArmor");
        return;
    }
    if skip_under_runc("runc 1.1.5 ignores an AppArmor profile on a host without AppArmor") {
        return;
    }
    let b = t
        .bundle()
        .edit(|c| c["process"]["apparmorProfile"] = json!("berth-test-profile"));
    let err = fails_with(&t.rt.create(&b.id, &b.path), 1);
    assert!(err.contains("apparmorProfile"), "{err}");
    assert!(t.rt.state_entries().is_empty());
}

#[test]
fn selinux_label_without_selinux_is_refused() {
    let Some(t) = Test::new("lsm_selinux") else {
        return;
    };
    if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        eprintln!("skipped: this host has SELinux");
        return;
    }
    if skip_under_runc("runc 1.1.5 ignores an SELinux label on a host without SELinux") {
        return;
    }
    let b = t
        .bundle()
        .edit(|c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0"));
    let err = fails_with(&t.rt.create(&b.id, &b.path), 1);
    assert!(err.contains("selinuxLabel"), "{err}");
}
