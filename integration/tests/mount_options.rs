//! Mount options runc and crun know beyond the kernel's: the recursive
//! attributes (`rro`, `rnosuid`, ...), `tmpcopyup`, and read-only tmpfs and
//! /dev mounts that are filled before they are made read-only.

use std::fs;

use integration::*;
use serde_json::json;

/// Fields of the mountinfo lines whose mount point is `target`.
fn mounts_at<'a>(mountinfo: &'a str, target: &str) -> Vec<Vec<&'a str>> {
    mountinfo
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(4) == Some(&target))
        .collect()
}

/// The per-mount options (field 6) of the only mount at `target`.
fn per_mount_options<'a>(mountinfo: &'a str, target: &str) -> Vec<&'a str> {
    let m = mounts_at(mountinfo, target);
    assert_eq!(m.len(), 1, "one mount at {target}:\n{mountinfo}");
    m[0][5].split(',').collect()
}

/// The superblock options (last field) of the only mount at `target`.
fn superblock_options<'a>(mountinfo: &'a str, target: &str) -> &'a str {
    let m = mounts_at(mountinfo, target);
    assert_eq!(m.len(), 1, "one mount at {target}:\n{mountinfo}");
    m[0].last().expect("superblock options")
}

/// Replaces the options of the config's mount at `destination`.
fn set_options(b: Bundle, destination: &str, options: &[&str]) -> Bundle {
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().expect("mounts");
        let m = mounts
            .iter_mut()
            .find(|m| m["destination"] == destination)
            .expect("mount in the template");
        m["options"] = json!(options);
    })
}

#[test]
fn rro_makes_the_submounts_of_an_rbind_read_only_too() {
    let Some(t) = Test::new("rro_submounts") else {
        return;
    };
    let src = t.host_dir("src");
    t.host_tmpfs(&src.join("sub"));
    let b = t.bundle().bind(&src, "/data", &["rbind", "rro"]);
    let out = t.sh(
        b,
        "for f in /data/top /data/sub/below; do touch $f 2>&1 && echo written || echo refused; done",
    );
    assert_eq!(
        out.matches("refused").count(),
        2,
        "both levels read-only: {out}"
    );
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!src.join("top").exists() && !src.join("sub/below").exists());
}

#[test]
fn recursive_options_are_attributes_not_filesystem_data() {
    let Some(t) = Test::new("recursive_not_data") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 applies the recursive attributes to bind mounts only") {
        return;
    }
    let b = t.bundle().mount(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["size=1m", "rnosuid", "rnodev", "rnoexec", "rnoatime"]
    }));
    let out = t.sh(b, "cat /proc/self/mountinfo");
    let per_mount = per_mount_options(&out, "/scratch");
    for want in ["nosuid", "nodev", "noexec", "noatime"] {
        assert!(per_mount.contains(&want), "{want}: {per_mount:?}");
    }
    let sb = superblock_options(&out, "/scratch");
    assert!(!sb.contains("rno"), "passed to tmpfs as data: {sb}");
}

#[test]
fn rrw_and_rexec_clear_what_the_source_had() {
    let Some(t) = Test::new("recursive_clear") else {
        return;
    };
    let src = t.host_dir("src");
    let b = t
        .bundle()
        .bind(&src, "/data", &["rbind", "ro", "noexec", "rrw", "rexec"]);
    let out = t.sh(b, "touch /data/new && cat /proc/self/mountinfo");
    let per_mount = per_mount_options(&out, "/data");
    assert!(per_mount.contains(&"rw"), "{per_mount:?}");
    assert!(!per_mount.contains(&"noexec"), "{per_mount:?}");
    assert!(src.join("new").exists());
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_the_directory_it_covers() {
    let Some(t) = Test::new("tmpcopyup") else {
        return;
    };
    let b = t.bundle();
    let dir = b.rootfs().join("opt/app");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("config"), "from the image\n").unwrap();
    fs::write(dir.join("sub/deeper"), "deeper\n").unwrap();
    std::os::unix::fs::symlink("config", dir.join("link")).unwrap();
    let b = b.mount(json!({
        "destination": "/opt/app", "type": "tmpfs", "source": "tmpfs",
        "options": ["rw", "nosuid", "nodev", "tmpcopyup"]
    }));
    let out = t.sh(
        b,
        "cat /opt/app/config /opt/app/sub/deeper /opt/app/link; echo changed > /opt/app/config; \
         grep ' /opt/app ' /proc/self/mountinfo",
    );
    assert!(
        out.starts_with("from the image\ndeeper\nfrom the image\n"),
        "{out}"
    );
    assert!(out.contains(" - tmpfs "), "a tmpfs covers /opt/app: {out}");
    assert!(!out.contains("tmpcopyup"), "passed to tmpfs as data: {out}");
    // Writes went to the tmpfs, not to the image.
    assert_eq!(
        fs::read_to_string(dir.join("config")).unwrap(),
        "from the image\n"
    );
}

#[test]
fn tmpcopyup_on_a_read_only_tmpfs_copies_before_it_is_made_read_only() {
    let Some(t) = Test::new("tmpcopyup_ro") else {
        return;
    };
    let b = t.bundle();
    fs::create_dir_all(b.rootfs().join("srv")).unwrap();
    fs::write(b.rootfs().join("srv/page"), "hello\n").unwrap();
    let b = b.mount(json!({
        "destination": "/srv", "type": "tmpfs", "source": "tmpfs",
        "options": ["ro", "tmpcopyup"]
    }));
    let out = t.sh(
        b,
        "cat /srv/page; touch /srv/new 2>&1 && echo written || echo refused",
    );
    assert!(out.starts_with("hello\n"), "{out}");
    assert!(
        out.contains("refused") && out.contains("Read-only file system"),
        "{out}"
    );
}

#[test]
fn read_only_dev_gets_its_devices_and_links_first() {
    let Some(t) = Test::new("dev_readonly") else {
        return;
    };
    let b = set_options(
        t.bundle(),
        "/dev",
        &["nosuid", "strictatime", "mode=755", "size=65536k", "ro"],
    );
    let out = t.sh(
        b,
        "ls -1 /dev; echo --; touch /dev/new 2>&1 && echo written || echo refused; \
         echo --; cat /proc/self/mountinfo",
    );
    let parts: Vec<&str> = out.split("--\n").collect();
    let names: Vec<&str> = parts[0].lines().collect();
    for want in [
        "null", "zero", "urandom", "tty", "ptmx", "pts", "shm", "fd", "stdin",
    ] {
        assert!(names.contains(&want), "/dev lacks {want}: {names:?}");
    }
    assert!(
        parts[1].contains("refused") && parts[1].contains("Read-only file system"),
        "{}",
        parts[1]
    );
    assert!(per_mount_options(parts[2], "/dev").contains(&"ro"));
    assert!(
        !mounts_at(parts[2], "/dev/pts").is_empty(),
        "devpts under a read-only /dev"
    );
}

#[test]
fn podman_read_only_mounts_work_on_a_read_only_root() {
    let Some(t) = Test::new("podman_read_only") else {
        return;
    };
    let b = t.bundle().readonly(true);
    fs::create_dir_all(b.rootfs().join("run/lock")).unwrap();
    fs::create_dir_all(b.rootfs().join("var/tmp")).unwrap();
    // What `podman run --read-only` adds to the spec.
    let mut b = b;
    for dest in ["/run", "/tmp", "/var/tmp"] {
        b = b.mount(json!({
            "destination": dest, "type": "tmpfs", "source": "tmpfs",
            "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
        }));
    }
    let out = t.sh(
        b,
        "ls -d /run/lock && touch /run/x /tmp/x /var/tmp/x && echo writable; \
         touch /etc/x 2>&1 || echo root-read-only",
    );
    assert!(out.contains("/run/lock\n"), "{out}");
    assert!(out.contains("writable"), "{out}");
    assert!(out.contains("root-read-only"), "{out}");
}

#[test]
fn tmpcopyup_works_in_a_user_namespace() {
    let Some(t) = Test::new("tmpcopyup_userns") else {
        return;
    };
    let b = t.bundle();
    fs::create_dir_all(b.rootfs().join("opt/app")).unwrap();
    fs::write(b.rootfs().join("opt/app/config"), "from the image\n").unwrap();
    let b = b.user_namespace().mount(json!({
        "destination": "/opt/app", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "tmpcopyup"]
    }));
    let out = t.sh(
        b,
        "cat /opt/app/config; touch /opt/app/new && echo writable",
    );
    assert_eq!(out, "from the image\nwritable\n");
}
