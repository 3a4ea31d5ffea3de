//! root, hostname, /dev, devices, masked and readonly paths, mounts, propagation.

use std::fs;

use integration::*;
use serde_json::json;

/// Mountinfo lines (split into fields) whose mount point is `target`, from `mountinfo`.
fn mounts_at<'a>(mountinfo: &'a str, target: &str) -> Vec<Vec<&'a str>> {
    mountinfo
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(4) == Some(&target))
        .collect()
}

/// Optional fields (between field 6 and the "-" separator) of a mountinfo line.
fn optional_fields<'a>(fields: &[&'a str]) -> Vec<&'a str> {
    fields[6..]
        .iter()
        .take_while(|f| **f != "-")
        .copied()
        .collect()
}

/// Filesystem type (the field after "-") of a mountinfo line.
fn fstype<'a>(fields: &[&'a str]) -> &'a str {
    let sep = fields.iter().position(|f| *f == "-").expect("separator");
    fields[sep + 1]
}

#[test]
fn hostname_is_set() {
    let Some(t) = Test::new("hostname_set") else {
        return;
    };
    let b = t.bundle().hostname("berth-box");
    assert_eq!(t.sh(b, "hostname").trim(), "berth-box");
}

#[test]
fn domainname_is_set() {
    let Some(t) = Test::new("domainname_set") else {
        return;
    };
    // runc 1.1.5 parses "domainname" but never sets it (support came in runc 1.2).
    if skip_under_runc("runc 1.1.5 ignores the domainname field") {
        return;
    }
    let b = t.bundle().edit(|c| c["domainname"] = json!("example.org"));
    assert_eq!(
        t.sh(b, "cat /proc/sys/kernel/domainname").trim(),
        "example.org"
    );
}

#[test]
fn readonly_root_rejects_writes() {
    let Some(t) = Test::new("root_readonly") else {
        return;
    };
    let b = t.bundle().readonly(true);
    let out = t.sh(b, "touch /newfile 2>&1 && echo writable || echo refused");
    assert!(out.contains("refused"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
}

#[test]
fn writable_root_accepts_writes() {
    let Some(t) = Test::new("root_writable") else {
        return;
    };
    let b = t.bundle().readonly(false);
    let rootfs = b.rootfs();
    t.sh(b, "touch /newfile");
    assert!(rootfs.join("newfile").exists());
}

#[test]
fn root_path_may_be_absolute() {
    let Some(t) = Test::new("root_abs") else {
        return;
    };
    let b = t.bundle();
    let abs = b.rootfs();
    fs::write(abs.join("etc/which"), "absolute\n").unwrap();
    let b = b.edit(|c| c["root"]["path"] = json!(abs));
    assert_eq!(t.sh(b, "cat /etc/which"), "absolute\n");
}

#[test]
fn root_path_relative_is_resolved_against_bundle() {
    let Some(t) = Test::new("root_rel") else {
        return;
    };
    let b = t.bundle();
    fs::rename(b.rootfs(), b.path.join("other-root")).unwrap();
    fs::write(b.path.join("other-root/etc/which"), "relative\n").unwrap();
    let b = b.edit(|c| c["root"]["path"] = json!("other-root"));
    assert_eq!(t.sh(b, "cat /etc/which"), "relative\n");
}

#[test]
fn dev_has_standard_devices_and_links() {
    let Some(t) = Test::new("dev_standard") else {
        return;
    };
    let b = t.bundle();
    let out = t.sh(b, "ls -1 /dev");
    let names: Vec<&str> = out.lines().collect();
    for want in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "fd", "stdin",
        "stdout", "stderr",
    ] {
        assert!(names.contains(&want), "/dev lacks {want}: {names:?}");
    }
}

#[test]
fn dev_null_is_char_device_1_3() {
    let Some(t) = Test::new("dev_null") else {
        return;
    };
    let b = t.bundle();
    assert_eq!(
        t.sh(b, "stat -c '%F %t,%T' /dev/null").trim(),
        "character special file 1,3"
    );
}

#[test]
fn dev_std_links_point_to_proc_fds() {
    let Some(t) = Test::new("dev_links") else {
        return;
    };
    let b = t.bundle();
    let out = t.sh(
        b,
        "for l in fd stdin stdout stderr; do readlink /dev/$l; done",
    );
    assert_eq!(
        out,
        "/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\n"
    );
}

#[test]
fn linux_devices_are_created_with_mode() {
    let Some(t) = Test::new("linux_devices") else {
        return;
    };
    let b = t.bundle().edit(|c| {
        c["linux"]["devices"] = json!([{
            "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
            "fileMode": 0o640, "uid": 0, "gid": 0
        }]);
    });
    // busybox stat prints major/minor in hex: 10 = a, 229 = e5.
    assert_eq!(
        t.sh(b, "stat -c '%F %t,%T %a' /dev/fuse").trim(),
        "character special file a,e5 640"
    );
}

#[test]
fn masked_file_reads_empty() {
    let Some(t) = Test::new("masked_file") else {
        return;
    };
    // /proc/keys rather than /proc/kcore: kernels without CONFIG_PROC_KCORE lack the latter.
    let b = t
        .bundle()
        .edit(|c| c["linux"]["maskedPaths"] = json!(["/proc/keys", "/proc/kcore"]));
    assert_eq!(t.sh(b, "wc -c < /proc/keys; cat /proc/keys").trim(), "0");
}

#[test]
fn masked_path_missing_from_rootfs_is_ignored() {
    let Some(t) = Test::new("masked_missing") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| c["linux"]["maskedPaths"] = json!(["/proc/no-such-file", "/nope"]));
    assert_eq!(t.sh(b, "echo ran"), "ran\n");
}

#[test]
fn masked_dir_is_empty_readonly_tmpfs() {
    let Some(t) = Test::new("masked_dir") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| c["linux"]["maskedPaths"] = json!(["/secret"]));
    fs::create_dir(b.rootfs().join("secret")).unwrap();
    fs::write(b.rootfs().join("secret/key"), "hunter2").unwrap();
    let out = t.sh(b, "ls -A /secret; echo --; cat /proc/self/mountinfo");
    let (listing, mountinfo) = out.split_once("--\n").unwrap();
    assert_eq!(listing, "", "masked dir is empty");
    let m = mounts_at(mountinfo, "/secret");
    assert_eq!(m.len(), 1, "{mountinfo}");
    assert_eq!(fstype(&m[0]), "tmpfs");
    assert!(
        m[0][5].split(',').any(|o| o == "ro"),
        "masked dir is read-only: {:?}",
        m[0]
    );
}

#[test]
fn readonly_paths_reject_writes() {
    let Some(t) = Test::new("readonly_proc_sys") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| c["linux"]["readonlyPaths"] = json!(["/proc/sys"]));
    // A new UTS namespace: even a runtime bug would only change the container's hostname.
    let out = t.sh(
        b,
        "{ echo x > /proc/sys/kernel/hostname; } 2>&1 && echo written || echo refused",
    );
    assert!(out.contains("refused"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
}

#[test]
fn bind_mount_ro_rejects_writes() {
    let Some(t) = Test::new("bind_ro") else {
        return;
    };
    let src = t.host_dir("src");
    fs::write(src.join("file"), "host data\n").unwrap();
    let b = t.bundle().bind(&src, "/data", &["bind", "ro"]);
    let out = t.sh(
        b,
        "cat /data/file; touch /data/new 2>&1 && echo written || echo refused",
    );
    assert!(out.starts_with("host data\n"), "{out}");
    assert!(
        out.contains("refused") && out.contains("Read-only file system"),
        "{out}"
    );
    assert!(!src.join("new").exists());
}

#[test]
fn bind_mount_rw_writes_through_to_host() {
    let Some(t) = Test::new("bind_rw") else {
        return;
    };
    let src = t.host_dir("src");
    let b = t.bundle().bind(&src, "/data", &["bind"]);
    t.sh(b, "echo hi > /data/new");
    assert_eq!(fs::read_to_string(src.join("new")).unwrap(), "hi\n");
}

#[test]
fn rbind_mount_includes_submounts() {
    let Some(t) = Test::new("rbind_submounts") else {
        return;
    };
    let src = t.host_dir("src");
    t.host_tmpfs(&src.join("sub"));
    fs::write(src.join("sub/inner"), "from submount\n").unwrap();
    let b = t.bundle().bind(&src, "/data", &["rbind"]);
    assert_eq!(t.sh(b, "cat /data/sub/inner"), "from submount\n");
}

#[test]
fn bind_mount_without_r_excludes_submounts() {
    let Some(t) = Test::new("bind_no_submounts") else {
        return;
    };
    let src = t.host_dir("src");
    t.host_tmpfs(&src.join("sub"));
    fs::write(src.join("sub/inner"), "from submount\n").unwrap();
    let b = t.bundle().bind(&src, "/data", &["bind"]);
    assert_eq!(t.sh(b, "ls -A /data/sub"), "");
}

#[test]
fn tmpfs_mount_options_show_in_mountinfo() {
    let Some(t) = Test::new("tmpfs_options") else {
        return;
    };
    let b = t.bundle().mount(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "size=2m", "mode=1770"]
    }));
    let out = t.sh(b, "cat /proc/self/mountinfo");
    let m = mounts_at(&out, "/scratch");
    assert_eq!(m.len(), 1, "{out}");
    assert_eq!(fstype(&m[0]), "tmpfs");
    let per_mount: Vec<&str> = m[0][5].split(',').collect();
    assert!(
        per_mount.contains(&"nosuid") && per_mount.contains(&"nodev"),
        "{:?}",
        m[0]
    );
    let sb = m[0].last().unwrap();
    assert!(sb.split(',').any(|o| o == "size=2048k"), "size: {sb}");
    assert!(sb.split(',').any(|o| o == "mode=1770"), "mode: {sb}");
}

#[test]
fn overlay_mount_merges_layers_and_writes_to_upper() {
    let Some(t) = Test::new("overlay_mount") else {
        return;
    };
    let lower = t.host_dir("lower");
    let upper = t.host_dir("upper");
    let work = t.host_dir("work");
    std::fs::write(lower.join("from-lower"), "lower\n").unwrap();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let b = t.bundle().mount(json!({
        "destination": "/merged", "type": "overlay", "source": "overlay",
        "options": [data]
    }));
    let out = t.sh(b, "cat /merged/from-lower; echo new > /merged/from-container; grep ' /merged ' /proc/self/mountinfo");
    assert!(out.starts_with("lower\n"), "{out}");
    assert!(out.contains(" - overlay "), "{out}");
    assert_eq!(
        std::fs::read_to_string(upper.join("from-container")).unwrap(),
        "new\n"
    );
    assert!(!lower.join("from-container").exists());
}

#[test]
fn root_propagation_private_leaves_no_peer_group_on_root() {
    let Some(t) = Test::new("rootfs_propagation") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| c["linux"]["rootfsPropagation"] = json!("private"));
    let out = t.sh(b, "cat /proc/self/mountinfo");
    let m = mounts_at(&out, "/");
    assert_eq!(m.len(), 1, "{out}");
    assert_eq!(optional_fields(&m[0]), Vec::<&str>::new(), "{:?}", m[0]);
}

#[test]
fn mount_propagation_rshared_shows_shared_peer_group() {
    let Some(t) = Test::new("propagation_shared") else {
        return;
    };
    let src = t.host_dir("src");
    let b = t.bundle().bind(&src, "/data", &["rbind", "rshared"]);
    let out = t.sh(b, "cat /proc/self/mountinfo");
    let m = mounts_at(&out, "/data");
    assert_eq!(m.len(), 1, "{out}");
    let opt = optional_fields(&m[0]);
    assert!(opt.iter().any(|o| o.starts_with("shared:")), "{:?}", m[0]);
}

#[test]
fn mount_propagation_private_has_no_peer_group() {
    let Some(t) = Test::new("propagation_private") else {
        return;
    };
    let src = t.host_dir("src");
    let b = t.bundle().bind(&src, "/data", &["rbind", "rprivate"]);
    let out = t.sh(b, "cat /proc/self/mountinfo");
    let m = mounts_at(&out, "/data");
    assert_eq!(m.len(), 1, "{out}");
    assert_eq!(optional_fields(&m[0]), Vec::<&str>::new(), "{:?}", m[0]);
}

#[test]
fn standard_filesystems_are_mounted() {
    let Some(t) = Test::new("std_filesystems") else {
        return;
    };
    let b = t.bundle();
    let out = t.sh(b, "cat /proc/self/mountinfo");
    for (target, fs_type) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev/pts", "devpts"),
        ("/dev/mqueue", "mqueue"),
        ("/dev/shm", "tmpfs"),
        ("/dev", "tmpfs"),
    ] {
        let m = mounts_at(&out, target);
        assert!(
            m.iter().any(|f| fstype(f) == fs_type),
            "no {fs_type} on {target}:\n{out}"
        );
    }
}

#[test]
fn root_is_the_only_view_of_the_filesystem() {
    let Some(t) = Test::new("root_pivoted") else {
        return;
    };
    let b = t.bundle();
    let rootfs = b.rootfs();
    let out = t.sh(b, "cat /proc/self/mountinfo");
    // After pivot_root and unmounting the old root, "/" is the rootfs and only that.
    let root = mounts_at(&out, "/");
    assert_eq!(root.len(), 1, "exactly one mount at /: {out}");
    // Field 4 is the path within its filesystem: the whole host path when
    // the rootfs's filesystem is mounted at /, its tail otherwise (a tmpfs
    // /tmp, for one).
    assert!(
        rootfs.ends_with(root[0][3].trim_start_matches('/')),
        "/ is the bundle's rootfs {}: {out}",
        rootfs.display()
    );
}

#[test]
fn mount_through_symlink_stays_inside_rootfs() {
    let Some(t) = Test::new("symlink_escape") else {
        return;
    };
    let host_target = t.host_dir("host-target");
    fs::write(host_target.join("untouched"), "host\n").unwrap();
    let src = t.host_dir("src");
    fs::write(src.join("marker"), "mounted\n").unwrap();
    let b = t.bundle();
    // An image symlink pointing at a host path: the runtime must resolve it in the rootfs.
    std::os::unix::fs::symlink(&host_target, b.rootfs().join("evil")).unwrap();
    let b = b.bind(&src, "/evil", &["bind"]);
    let out = t.sh(b, "cat /evil/marker; ls -A /evil");
    assert_eq!(out, "mounted\nmarker\n");
    let entries: Vec<_> = fs::read_dir(&host_target)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["untouched"], "host dir changed");
    assert!(
        host_mounts_mentioning(&host_target).is_empty(),
        "a mount landed on the host dir"
    );
}

#[test]
fn tmpfs_through_symlink_to_host_etc_stays_inside_rootfs() {
    let Some(t) = Test::new("symlink_escape_etc") else {
        return;
    };
    let b = t.bundle();
    std::os::unix::fs::symlink("/etc", b.rootfs().join("cfg")).unwrap();
    let b = b.mount(json!({
        "destination": "/cfg", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]
    }));
    let before = fs::read_dir("/etc").unwrap().count();
    // /cfg -> /etc resolves to the rootfs's own /etc, which the tmpfs then covers.
    let out = t.sh(b, "touch /cfg/berth-was-here && ls -A /cfg /etc");
    assert_eq!(out, "/cfg:\nberth-was-here\n\n/etc:\nberth-was-here\n");
    assert!(!std::path::Path::new("/etc/berth-was-here").exists());
    assert_eq!(fs::read_dir("/etc").unwrap().count(), before);
    assert!(!fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/etc")));
}

#[test]
fn no_pivot_runs_the_container() {
    let Some(t) = Test::new("no_pivot") else {
        return;
    };
    let b = t.bundle().sh("cat /etc/passwd | head -1");
    let o = t.rt.run_with(&b.id, &b.path, &["--no-pivot"]);
    assert_eq!(ok(&o), "root:x:0:0:root:/root:/bin/sh\n");
}
