//! How the rootfs becomes the container's `/`: without a mount namespace of
//! its own, with `--no-pivot`, with `linux.rootfsPropagation`, and with bind
//! sources only the host's root can reach under a user namespace.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use integration::*;
use serde_json::json;

/// Optional fields of the mountinfo line of `/`.
fn root_optional_fields(mountinfo: &str) -> Vec<String> {
    let lines: Vec<Vec<&str>> = mountinfo
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(4) == Some(&"/"))
        .collect();
    assert_eq!(lines.len(), 1, "one mount at /:\n{mountinfo}");
    lines[0][6..]
        .iter()
        .take_while(|f| **f != "-")
        .map(|f| f.to_string())
        .collect()
}

/// A host process alone in a mount namespace of its own (a private copy of
/// ours): what a runtime does to "its caller's" mounts stays in there, and
/// goes with the helper.
fn mount_namespace_helper(t: &Test) -> u32 {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sleep", "600"]);
    let pid = t.spawn_helper(cmd);
    let ours = host_ns("mnt");
    assert!(
        wait_until(Duration::from_secs(10), || {
            fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok_and(|l| l.to_string_lossy() != ours)
        }),
        "helper {pid} never got a mount namespace of its own"
    );
    pid
}

#[test]
fn without_a_mount_namespace_the_container_shares_the_callers() {
    let Some(t) = Test::new("no_mount_namespace") else {
        return;
    };
    let helper = mount_namespace_helper(&t);
    let helper_ns = ns_of(&helper.to_string(), "mnt");
    let b = shared_mount_namespace_bundle(&t)
        .sh("readlink /proc/self/ns/mnt; cat /etc/passwd; grep -c ' - proc ' /proc/self/mountinfo");
    let rootfs = b.rootfs();
    let o = t.rt.run_cmd(&b.id, &b.path, &[], |cmd| {
        enter_mount_namespace_of(helper, cmd)
    });
    let out = ok(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], helper_ns,
        "the container's mount namespace is the caller's"
    );
    assert_eq!(lines[1], "root:x:0:0:root:/root:/bin/sh", "/ is the rootfs");
    assert_eq!(lines[2], "1", "its own /proc is mounted: {out}");
    // Its mounts were made in the caller's namespace, under the rootfs...
    let callers = fs::read_to_string(format!("/proc/{helper}/mountinfo")).unwrap();
    let proc_in_rootfs = format!(" {} ", rootfs.join("proc").display());
    assert!(
        callers.lines().any(|l| l.contains(&proc_in_rootfs)),
        "no proc on {proc_in_rootfs} in the caller's namespace:\n{callers}"
    );
    // ...and nowhere else.
    assert!(host_mounts_mentioning(&rootfs).is_empty());
}

/// A bundle without a mount namespace: the container shares its caller's.
/// (Masks and read-only paths are refused there: they would cover the
/// caller's own.)
fn shared_mount_namespace_bundle(t: &Test) -> Bundle {
    t.bundle().without_namespace("mount").edit(|c| {
        let linux = c["linux"].as_object_mut().expect("linux");
        linux.remove("maskedPaths");
        linux.remove("readonlyPaths");
    })
}

/// Makes `cmd` run in the mount namespace of `pid`.
fn enter_mount_namespace_of(pid: u32, cmd: &mut Command) {
    let ns = fs::File::open(format!("/proc/{pid}/ns/mnt")).expect("helper's mount namespace");
    // SAFETY: setns in the forked child before exec; the fd is open.
    unsafe {
        cmd.pre_exec(move || {
            use std::os::fd::AsRawFd;
            if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn exec_without_a_mount_namespace_shares_the_container_s_root() {
    let Some(t) = Test::new("no_mount_namespace_exec") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 execs such a process in the caller's root") {
        return;
    }
    let helper = mount_namespace_helper(&t);
    let b = shared_mount_namespace_bundle(&t).args(&["sleep", "60"]);
    let path = b.path.to_string_lossy().into_owned();
    let mut create = t.rt.command(&["create", "--bundle", &path, &b.id]);
    enter_mount_namespace_of(helper, &mut create);
    ok(&t.rt.create_from(&b.id, create));
    ok(&t.rt.start(&b.id));
    let mut exec =
        t.rt.command(&["exec", &b.id, "sh", "-c", "cat /etc/passwd; pwd"]);
    enter_mount_namespace_of(helper, &mut exec);
    let out = ok(&t.rt.output(exec));
    assert_eq!(out, "root:x:0:0:root:/root:/bin/sh\n/\n");
    ok(&t.rt.kill(&b.id, Some("KILL")));
    t.rt.wait_status(&b.id, "stopped");
}

#[test]
fn masked_paths_without_a_mount_namespace_are_refused() {
    let Some(t) = Test::new("no_mount_ns_masks") else {
        return;
    };
    let b = t.bundle().without_namespace("mount");
    let o = t.run(&b);
    let err = fails_with(&o, 1);
    assert!(
        err.to_lowercase().contains("namespace"),
        "names the missing mount namespace: {err}"
    );
    assert!(host_mounts_mentioning(&b.rootfs()).is_empty());
}

#[test]
fn root_propagation_shared_makes_the_new_root_shared() {
    let Some(t) = Test::new("root_shared") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 leaves the new root private (it privatizes the rootfs's parent and never re-applies rootfsPropagation)") {
        return;
    }
    let b = t
        .bundle()
        .edit(|c| c["linux"]["rootfsPropagation"] = json!("shared"));
    let out = t.sh(b, "cat /proc/self/mountinfo");
    let optional = root_optional_fields(&out);
    assert!(
        optional.iter().any(|o| o.starts_with("shared:")),
        "/ is shared: {optional:?}"
    );
}

#[test]
fn root_propagation_unbindable_makes_the_new_root_unbindable() {
    let Some(t) = Test::new("root_unbindable") else {
        return;
    };
    if skip_under_runc(
        "runc 1.1.5 makes / unbindable before binding the rootfs, and that bind fails",
    ) {
        return;
    }
    let b = t
        .bundle()
        .edit(|c| c["linux"]["rootfsPropagation"] = json!("unbindable"));
    let out = t.sh(b, "cat /proc/self/mountinfo");
    assert_eq!(root_optional_fields(&out), ["unbindable"]);
}

/// The bundle of runc's `--no-pivot must not expose bare /proc` scenario:
/// a process with the capabilities to make a user namespace and mount in it.
fn nested_proc_mount_bundle(t: &Test) -> Bundle {
    let b = t.bundle();
    std::os::unix::fs::symlink("busybox", b.rootfs().join("bin/unshare")).unwrap();
    b.edit(|c| {
        let caps = json!([
            "CAP_SYS_ADMIN",
            "CAP_SETUID",
            "CAP_SETGID",
            "CAP_SETFCAP",
            "CAP_SYS_CHROOT",
            "CAP_DAC_OVERRIDE",
            "CAP_KILL"
        ]);
        for set in ["bounding", "effective", "permitted", "inheritable"] {
            c["process"]["capabilities"][set] = caps.clone();
        }
        if let Some(linux) = c["linux"].as_object_mut() {
            linux.remove("seccomp");
        }
    })
    .args(&[
        "unshare",
        "-mrpf",
        "sh",
        "-c",
        "mount -t proc none /proc && echo mounted",
    ])
}

#[test]
fn nested_proc_mount_is_refused_with_pivot_root() {
    let Some(t) = Test::new("nested_proc_pivot") else {
        return;
    };
    let b = nested_proc_mount_bundle(&t);
    let o = t.run(&b);
    assert!(!stdout(&o).contains("mounted"), "{}", stdout(&o));
    assert!(!o.status.success());
}

#[test]
fn no_pivot_leaves_no_host_proc_to_mount_a_bare_proc_from() {
    let Some(t) = Test::new("nested_proc_no_pivot") else {
        return;
    };
    let b = nested_proc_mount_bundle(&t);
    let o = t.rt.run_with(&b.id, &b.path, &["--no-pivot"]);
    assert!(
        !stdout(&o).contains("mounted"),
        "a bare proc was mounted: {}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("permission denied") || stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    // The host's own /proc and /sys are where they were.
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(host
        .lines()
        .any(|l| l.contains(" /proc ") && l.contains(" - proc ")));
}

#[test]
fn bind_sources_only_host_root_reaches_work_in_a_user_namespace() {
    let Some(t) = Test::new("userns_bind_sources") else {
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let secret = t.dir.join("secret");
    fs::create_dir_all(secret.join("dir")).unwrap();
    fs::write(secret.join("dir/inside"), "in a dir\n").unwrap();
    fs::write(secret.join("file"), "a file\n").unwrap();
    // Only the host's root may enter: the container's root is uid 100000.
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o700)).unwrap();
    let b = t.bundle();
    // The container's root may not create them in a rootfs the host's root owns.
    fs::create_dir(b.rootfs().join("data")).unwrap();
    fs::write(b.rootfs().join("etc/from-host"), "").unwrap();
    let b = b
        .user_namespace()
        .bind(&secret.join("dir"), "/data", &["rbind", "ro"])
        .bind(&secret.join("file"), "/etc/from-host", &["bind"]);
    let out = t.sh(
        b,
        "cat /data/inside /etc/from-host; touch /data/new 2>&1 && echo written || echo refused",
    );
    assert!(out.starts_with("in a dir\na file\n"), "{out}");
    assert!(out.contains("refused"), "ro still applies: {out}");
}
