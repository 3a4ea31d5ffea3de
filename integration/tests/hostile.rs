//! Hostile bundles: symlinks in the image that point at the host, a rootfs that is a
//! symlink, device nodes of the host's disk, mounts reaching out of the bundle, hooks
//! that hang or flood, a directory as the program, huge env and args. Each one ends in
//! a clear error (exit 1, one line, nothing left) or in a container that stayed inside
//! its rootfs, and never in a write or a mount on the host.
//!
//! Symlink targets are either the literal host paths an image would name (`/`, `/etc`,
//! `/proc/self`), checked read-only on the host, or a sentinel dir of the test (an
//! absolute host path that does not exist inside the rootfs), where a runtime that
//! followed the link on the host would leave files or directories behind.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use integration::*;
use serde_json::{json, Value};

/// How a hostile bundle ended.
#[derive(Debug)]
enum Outcome {
    /// `create` (or `start`) failed with this error line.
    Refused(String),
    /// The container ran to the end and printed this.
    Ran(String),
}

/// The error line of a failed runtime command: the single line berth prints, or the
/// last of the lines runc logs.
#[track_caller]
fn error_line(o: &std::process::Output) -> String {
    assert!(!looks_like_a_crash(o), "the runtime crashed: {o:?}");
    assert_eq!(o.status.code(), Some(1), "expected exit 1: {}", stderr(o));
    if runtime_is_runc() {
        let err = stderr(o);
        let last = err.lines().last().unwrap_or_default().to_string();
        assert!(!last.is_empty(), "runc printed no error");
        return last;
    }
    single_error_line(o)
}

/// Nothing of container `id` left: no state, process, cgroup or host mount.
#[track_caller]
fn assert_nothing_left(t: &Test, id: &str, bundle: &Path) {
    assert!(!t.rt.root.join(id).exists(), "state of {id} left");
    assert!(
        wait_until(Duration::from_secs(5), || procs_in_test_cgroup(id)
            .is_empty()),
        "processes left: {:?}",
        procs_in_test_cgroup(id)
    );
    assert!(
        test_cgroup_dirs(id).is_empty(),
        "{:?}",
        test_cgroup_dirs(id)
    );
    assert!(
        host_mounts_mentioning(bundle).is_empty(),
        "{:?}",
        host_mounts_mentioning(bundle)
    );
}

/// Creates and starts the bundle's container and waits for it to end; a refusal must be
/// a clean error. Either way nothing of it is left afterwards.
#[track_caller]
fn attempt(t: &Test, b: &Bundle) -> Outcome {
    let o = t.rt.create(&b.id, &b.path);
    if !o.status.success() {
        let line = error_line(&o);
        assert_nothing_left(t, &b.id, &b.path);
        return Outcome::Refused(line);
    }
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap() as i32;
    let o = t.rt.start(&b.id);
    if !o.status.success() {
        let line = error_line(&o);
        let _ = t.rt.delete_force(&b.id);
        t.rt.reap_init(pid, Duration::from_secs(10));
        assert_nothing_left(t, &b.id, &b.path);
        return Outcome::Refused(line);
    }
    assert!(
        t.rt.reap_init(pid, Duration::from_secs(30)).is_some(),
        "container {} did not finish",
        b.id
    );
    let out = t.rt.container_stdout(&b.id);
    ok(&t.rt.delete(&b.id));
    assert_nothing_left(t, &b.id, &b.path);
    Outcome::Ran(out)
}

/// What the host looks like at a few places, to compare after an attempt.
struct HostWatch {
    dirs: Vec<(PathBuf, Vec<String>)>,
    mounts: Vec<String>,
    own_dir: PathBuf,
}

impl HostWatch {
    fn new(t: &Test, dirs: &[&Path]) -> HostWatch {
        HostWatch {
            dirs: dirs
                .iter()
                .map(|d| (d.to_path_buf(), dir_names(d)))
                .collect(),
            mounts: mountinfo_lines(),
            own_dir: t.dir.clone(),
        }
    }

    /// No entry appeared or vanished in the watched dirs, and no mount appeared on the
    /// host, except under other tests' dirs (other test binaries may run meanwhile).
    #[track_caller]
    fn assert_untouched(&self, what: &str) {
        for (dir, before) in &self.dirs {
            assert_eq!(
                &dir_names(dir),
                before,
                "{what}: the host dir {} changed",
                dir.display()
            );
        }
        let new: Vec<String> = mountinfo_lines()
            .into_iter()
            .filter(|l| !self.mounts.contains(l))
            .filter(|l| !in_another_test_dir(&mount_point(l), &self.own_dir))
            .collect();
        assert!(new.is_empty(), "{what}: new mounts on the host: {new:?}");
    }
}

/// A sentinel host dir with one file; a runtime following an image symlink on the host
/// would write here.
fn sentinel(t: &Test, name: &str) -> PathBuf {
    let dir = t.host_dir(name);
    fs::write(dir.join("untouched"), "host\n").unwrap();
    dir
}

/// Replaces `rel` in the rootfs (a dir of the busybox rootfs, or nothing) with a symlink
/// to `target`.
fn plant_symlink(b: &Bundle, rel: &str, target: &Path) {
    let p = b.rootfs().join(rel);
    if p.is_dir() && !p.is_symlink() {
        fs::remove_dir_all(&p).unwrap();
    }
    symlink(target, &p).unwrap();
}

fn without_mount(c: &mut Value, dest: &str) {
    if let Some(m) = c["mounts"].as_array_mut() {
        m.retain(|m| {
            m["destination"] != dest
                && !m["destination"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(&format!("{dest}/"))
        });
    }
}

/// Runs a bundle whose `/<dir>` is a symlink to each of `targets` in turn, and checks
/// each ends in a clean refusal or a container that ran, with the host untouched (and
/// a refusal where the mount kept is a new proc or sysfs).
fn symlinked_system_dir(name: &str, dir: &str, keep_mount: bool) {
    let Some(t) = Test::new(name) else { return };
    if dir == "dev"
        && skip_under_runc(
            "runc 1.1.5 makes /dev/fd, /dev/ptmx and /dev/std* through a /dev symlink, \
             on the host",
        )
    {
        return;
    }
    let sent = sentinel(&t, "sentinel");
    let mut targets: Vec<PathBuf> = vec![sent.clone()];
    if keep_mount {
        // Only mounts go on these (in the container's own namespace): safe to name the
        // real host paths.
        targets.extend(["/", "/etc", "/proc/self"].map(PathBuf::from));
    }
    let watch = HostWatch::new(&t, &[Path::new("/"), Path::new("/etc"), &sent]);
    for target in &targets {
        let b = t.bundle();
        plant_symlink(&b, dir, target);
        let b = if keep_mount {
            b
        } else {
            // Without the mount, whatever the runtime puts in /<dir> (device nodes,
            // links) is written through the symlink.
            b.edit(|c| without_mount(c, &format!("/{dir}")))
        };
        let b = b.sh(&format!(
            "ls -A /{dir} > /dev/null; touch /{dir}/berth-hostile 2>/dev/null; echo ran"
        ));
        let outcome = attempt(&t, &b);
        eprintln!(
            "/{dir} -> {} (mount kept: {keep_mount}): {outcome:?}",
            target.display()
        );
        watch.assert_untouched(&format!("/{dir} -> {}", target.display()));
        assert_eq!(
            dir_names(&sent),
            ["untouched"],
            "/{dir} -> {}: written on the host",
            target.display()
        );
        if let Outcome::Ran(out) = &outcome {
            assert_eq!(out, "ran\n");
        }
        // A new proc or sysfs never goes through a symlink (runc refuses it too).
        if keep_mount && dir != "dev" {
            let Outcome::Refused(line) = &outcome else {
                panic!("/{dir} -> {}: ran through the symlink", target.display());
            };
            assert!(
                line.contains("ordinary directory") && line.contains(&format!("/{dir}")),
                "/{dir} -> {}: {line}",
                target.display()
            );
        }
    }
}

#[test]
fn proc_symlinked_anywhere_is_refused() {
    symlinked_system_dir("hostile_proc_link", "proc", true);
}

#[test]
fn dev_symlinked_to_the_host_is_refused_or_contained() {
    symlinked_system_dir("hostile_dev_link", "dev", true);
}

#[test]
fn dev_symlinked_to_the_host_without_a_dev_mount_writes_nothing_there() {
    symlinked_system_dir("hostile_dev_link_nomount", "dev", false);
}

#[test]
fn sys_symlinked_anywhere_is_refused() {
    symlinked_system_dir("hostile_sys_link", "sys", true);
}

#[test]
fn proc_that_is_a_file_is_refused_naming_it() {
    let Some(t) = Test::new("hostile_proc_file") else {
        return;
    };
    let b = t.bundle().sh("echo ran");
    let proc = b.rootfs().join("proc");
    if proc.is_dir() {
        fs::remove_dir_all(&proc).unwrap();
    }
    fs::write(&proc, "not a dir\n").unwrap();
    let Outcome::Refused(line) = attempt(&t, &b) else {
        panic!("proc was mounted on a file");
    };
    assert!(
        line.contains("/proc") && line.contains("ordinary directory"),
        "{line}"
    );
    assert_eq!(fs::read_to_string(&proc).unwrap(), "not a dir\n");
}

#[test]
fn mount_targets_through_symlinks_stay_in_the_rootfs() {
    let Some(t) = Test::new("hostile_mount_link") else {
        return;
    };
    let sent = sentinel(&t, "sentinel");
    let src = t.host_dir("src");
    fs::write(src.join("marker"), "mounted\n").unwrap();
    let watch = HostWatch::new(&t, &[Path::new("/etc"), &sent, Path::new("/")]);
    // (symlink target, mount destination): the destination goes through the link, and
    // the deeper ones need directories made below it.
    let cases: [(PathBuf, &str); 5] = [
        (PathBuf::from("/etc"), "/data"),
        (PathBuf::from("/proc/self"), "/data"),
        (PathBuf::from("/"), "/data/sub"),
        (sent.clone(), "/data"),
        (sent.clone(), "/data/sub/deeper"),
    ];
    for (target, dest) in &cases {
        for tmpfs in [false, true] {
            let b = t.bundle();
            plant_symlink(&b, "data", target);
            let b = if tmpfs {
                b.mount(
                    json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                               "options": ["size=1m"]}),
                )
            } else {
                b.bind(&src, dest, &["bind", "ro"])
            };
            let b = b.sh(&format!(
                "cat {dest}/marker 2>/dev/null; touch {dest}/berth-hostile 2>/dev/null; echo ran"
            ));
            let what = format!("{dest} via /data -> {} (tmpfs: {tmpfs})", target.display());
            let outcome = attempt(&t, &b);
            eprintln!("{what}: {outcome:?}");
            watch.assert_untouched(&what);
            assert_eq!(
                dir_names(&sent),
                ["untouched"],
                "{what}: written on the host"
            );
            assert_eq!(
                dir_names(&src),
                ["marker"],
                "{what}: the read-only source was written"
            );
            if let Outcome::Ran(out) = outcome {
                let want = if tmpfs { "ran\n" } else { "mounted\nran\n" };
                assert_eq!(out, want, "{what}");
            }
        }
    }
}

#[test]
fn mount_destination_with_dotdot_stays_in_the_rootfs() {
    let Some(t) = Test::new("hostile_dest_dotdot") else {
        return;
    };
    let sent = sentinel(&t, "sentinel");
    let src = t.host_dir("src");
    fs::write(src.join("marker"), "mounted\n").unwrap();
    let watch = HostWatch::new(&t, &[&sent, Path::new("/")]);
    let s = sent.to_str().unwrap();
    for dest in [
        format!("/../../../../..{s}/made"),
        format!("/tmp/../../../..{s}/made"),
    ] {
        let b = t
            .bundle()
            .bind(&src, &dest, &["bind", "ro"])
            .sh(&format!("cat {s}/made/marker; echo ran"));
        let outcome = attempt(&t, &b);
        eprintln!("destination {dest}: {outcome:?}");
        watch.assert_untouched(&dest);
        assert_eq!(
            dir_names(&sent),
            ["untouched"],
            "{dest}: a dir was made on the host"
        );
        if let Outcome::Ran(out) = outcome {
            // `..` stops at the container's root, as in a path walk there.
            assert_eq!(out, "mounted\nran\n", "{dest}");
        }
    }
}

#[test]
fn relative_bind_source_with_dotdot_is_relative_to_the_bundle() {
    let Some(t) = Test::new("hostile_source_dotdot") else {
        return;
    };
    // runtime-spec: a relative bind source is relative to the bundle, wherever the
    // runtime is run from; `..` in it is a host path like any other (the config's author
    // owns the host side), so it reaches next to the bundle and no further.
    let outside = t.host_dir("outside");
    fs::write(outside.join("marker"), "next to the bundle\n").unwrap();
    let b = t
        .bundle()
        .bind(Path::new("../outside"), "/mnt/outside", &["bind", "ro"])
        .sh("cat /mnt/outside/marker; touch /mnt/outside/x 2>/dev/null || echo read-only");
    let mut cmd =
        t.rt.command(&["run", "--bundle", b.path.to_str().unwrap(), &b.id]);
    cmd.current_dir("/");
    t.rt.adopt(&b.id);
    let o = t.rt.output(cmd);
    assert_eq!(ok(&o), "next to the bundle\nread-only\n");
    assert_eq!(dir_names(&outside), ["marker"]);
    assert_nothing_left(&t, &b.id, &b.path);
}

#[test]
fn rootfs_that_is_a_symlink_to_a_dir_is_followed_on_the_host_side() {
    let Some(t) = Test::new("hostile_rootfs_link") else {
        return;
    };
    // The bundle's own root is a host path chosen by the config's author: runc follows a
    // symlink there, and so may we. The container must see that dir, and its writes land
    // in it.
    let b = t.bundle();
    let real = t.dir.join("real-rootfs");
    fs::rename(b.rootfs(), &real).unwrap();
    symlink(&real, b.rootfs()).unwrap();
    let b = b.sh("touch /written; echo ran");
    match attempt(&t, &b) {
        Outcome::Ran(out) => {
            assert_eq!(out, "ran\n");
            assert!(real.join("written").exists());
        }
        // runc 1.1.5 refuses it ("invalid rootfs: not an absolute path, or a symlink").
        Outcome::Refused(line) => {
            eprintln!("a symlinked rootfs was refused: {line}");
            assert!(!real.join("written").exists());
        }
    }
    assert!(b.rootfs().is_symlink(), "the bundle's symlink was replaced");
}

#[test]
fn rootfs_symlink_that_leads_nowhere_is_a_clear_error() {
    let Some(t) = Test::new("hostile_rootfs_bad_link") else {
        return;
    };
    let file = t.dir.join("a-file");
    fs::write(&file, "not a dir\n").unwrap();
    let cases: [(&str, PathBuf); 3] = [
        ("dangling", t.dir.join("nothing-here")),
        ("file", file.clone()),
        ("loop", PathBuf::from("rootfs")),
    ];
    for (what, target) in cases {
        let b = t.bundle().args(&["true"]);
        fs::remove_dir_all(b.rootfs()).unwrap();
        symlink(&target, b.rootfs()).unwrap();
        match attempt(&t, &b) {
            Outcome::Refused(line) => {
                eprintln!("rootfs -> {what}: {line}");
                if !runtime_is_runc() {
                    assert!(
                        line.contains("rootfs"),
                        "{what}: the error names the rootfs: {line}"
                    );
                }
            }
            Outcome::Ran(out) => panic!("rootfs -> {what} ran: {out}"),
        }
        assert_eq!(fs::read_to_string(&file).unwrap(), "not a dir\n");
    }
}

/// major:minor of the block device that holds the host's `/`.
fn host_root_disk() -> (u64, u64) {
    let dev = fs::metadata("/").unwrap().dev();
    (libc::major(dev) as u64, libc::minor(dev) as u64)
}

fn mknod(path: &Path, kind: libc::mode_t, major: u64, minor: u64) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; the node is made in this test's own rootfs.
    let r = unsafe {
        libc::mknod(
            c.as_ptr(),
            kind | 0o666,
            libc::makedev(major as u32, minor as u32),
        )
    };
    assert_eq!(
        r,
        0,
        "mknod {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

#[test]
fn device_nodes_in_the_image_give_no_access_beyond_the_device_cgroup() {
    let Some(t) = Test::new("hostile_device_nodes") else {
        return;
    };
    let (major, minor) = host_root_disk();
    let b = t.bundle();
    // The host's disk, /dev/kmsg and /dev/mem as the image ships them, and a null
    // device as the control: the nodes themselves work, only the cgroup says no.
    mknod(&b.rootfs().join("hostdisk"), libc::S_IFBLK, major, minor);
    mknod(&b.rootfs().join("kmsg"), libc::S_IFCHR, 1, 11);
    mknod(&b.rootfs().join("mem"), libc::S_IFCHR, 1, 1);
    mknod(&b.rootfs().join("mynull"), libc::S_IFCHR, 1, 3);
    // Reads only: a bug here must not write to the host's disk.
    let b = b.sh(&"for d in hostdisk kmsg mem mynull; do \
           if head -c 512 /$d > /dev/null 2>&1; then echo $d readable; else echo $d denied; fi; \
         done; \
         /bin/busybox mknod /tmp/disk2 b MAJOR MINOR 2>/dev/null \
           && echo mknod allowed || echo mknod denied"
        .replace("MAJOR", &major.to_string())
        .replace("MINOR", &minor.to_string()));
    match attempt(&t, &b) {
        Outcome::Ran(out) => assert_eq!(
            out, "hostdisk denied\nkmsg denied\nmem denied\nmynull readable\nmknod denied\n",
            "host disk {major}:{minor}"
        ),
        Outcome::Refused(line) => panic!("refused: {line}"),
    }
}

/// Creates with a prestart, createRuntime or createContainer hook that never exits and
/// whose child outlives it; the timeout must fail create in time, leave no container,
/// and end the hook (and, with `children`, its child too).
fn hanging_hook(name: &str, children: bool) {
    let Some(t) = Test::new(name) else { return };
    if skip_under_runc(
        "runc 1.1.5 kills the hook but then waits for its output pipes, which the hook's \
         child holds open: create hangs until that child exits",
    ) {
        return;
    }
    let mut survivors = Vec::new();
    for (i, stage) in ["prestart", "createRuntime", "createContainer"]
        .into_iter()
        .enumerate()
    {
        // A number no other process uses names the hook and its child on the host
        // (the createContainer hook runs in the container's PID namespace, so its own
        // idea of its pid would not do).
        let tag = 700_000 + (std::process::id() % 10_000) * 10 + u32::from(children) * 5 + i as u32;
        // The hook forks a child that holds its stdout and outlives it, ignores TERM, and
        // never exits itself.
        let script = format!("trap '' TERM; sleep {tag} & while :; do sleep 1; done");
        let b = t.bundle().args(&["true"]).hook(
            stage,
            json!({"path": "/bin/busybox", "args": ["sh", "-c", script], "timeout": 1}),
        );
        let began = Instant::now();
        let o = t.rt.create(&b.id, &b.path);
        let took = began.elapsed();
        let line = error_line(&o);
        assert!(
            took < Duration::from_secs(15),
            "{stage}: create took {took:?}"
        );
        assert!(
            line.contains("timed out") || line.contains("timeout"),
            "{stage}: {line}"
        );
        assert_nothing_left(&t, &b.id, &b.path);
        let tag = tag.to_string();
        let left = || {
            procs_running(&tag)
                .into_iter()
                .filter(|(_, cmd)| children || cmd.starts_with("sh "))
                .collect::<Vec<_>>()
        };
        let gone = wait_until(Duration::from_secs(5), || left().is_empty());
        let stayed = left();
        // The test process is the orphans' subreaper: whatever is left is ours to end.
        for (pid, _) in procs_running(&tag) {
            if proc_parent_and_state(pid).is_some_and(|(ppid, _)| ppid == std::process::id() as i32)
            {
                // SAFETY: our own unreaped child, so the pid is not reused.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                reap(pid, Duration::from_secs(5));
            }
        }
        if !gone {
            survivors.push(format!("{stage}: {stayed:?}"));
        }
    }
    assert!(
        survivors.is_empty(),
        "processes of a timed-out hook outlived it: {survivors:?}"
    );
}

#[test]
fn hook_that_never_exits_is_killed_at_its_timeout() {
    hanging_hook("hostile_hook_hang", false);
}

#[test]
fn hook_that_never_exits_is_killed_at_its_timeout_with_its_children() {
    hanging_hook("hostile_hook_hang_children", true);
}

/// Live processes whose command line has `word` as one of its arguments: (pid, cmdline).
fn procs_running(word: &str) -> Vec<(i32, String)> {
    all_pids()
        .into_iter()
        .filter(|&pid| matches!(proc_parent_and_state(pid), Some((_, s)) if s != 'Z'))
        .filter_map(|pid| {
            let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.iter()
                .any(|a| a == word || a.contains(&format!("sleep {word} ")))
                .then(|| (pid, args.join(" ")))
        })
        .collect()
}

#[test]
fn hook_output_of_many_lines_still_makes_one_error_line() {
    let Some(t) = Test::new("hostile_hook_lines") else {
        return;
    };
    let b = t.bundle().args(&["true"]).hook(
        "createRuntime",
        json!({"path": "/bin/busybox",
            "args": ["sh", "-c", "echo first; echo second >&2; echo third; exit 2"]}),
    );
    let o = t.rt.create(&b.id, &b.path);
    fails_with(&o, 1);
    let line = single_error_line(&o);
    assert!(line.contains("first") && line.contains("third"), "{line}");
    assert_nothing_left(&t, &b.id, &b.path);
}

/// The runtime's peak RSS running `create` of a bundle whose createRuntime hook runs
/// `script`, and its (failed) output.
fn create_with_hook(t: &Test, script: &str, timeout: Option<u64>) -> Invocation {
    let mut hook = json!({"path": "/bin/busybox", "args": ["sh", "-c", script]});
    if let Some(s) = timeout {
        hook["timeout"] = json!(s);
    }
    let b = t.bundle().args(&["true"]).hook("createRuntime", hook);
    t.rt.adopt(&b.id);
    let inv =
        t.rt.remote()
            .spawn_measured(&["create", "--bundle", b.path.to_str().unwrap(), &b.id])
            .finish(Duration::from_secs(60));
    if inv.output.status.success() {
        let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap() as i32;
        t.rt.adopt_init(pid);
        ok(&t.rt.delete(&b.id));
        t.rt.reap_init(pid, Duration::from_secs(10));
    }
    assert_nothing_left(t, &b.id, &b.path);
    inv
}

/// A create failed by a flooding hook: exit 1, no crash, a bounded report. Returns the
/// first line of stderr.
#[track_caller]
fn flood_failed(o: &std::process::Output) -> String {
    assert!(!looks_like_a_crash(o), "{o:?}");
    assert_eq!(o.status.code(), Some(1));
    // runc 1.1.5 prints all of it (and keeps it in memory first).
    if !runtime_is_runc() {
        assert!(
            o.stderr.len() < 64 * 1024,
            "{} bytes on stderr",
            o.stderr.len()
        );
    }
    stderr(o).lines().next().unwrap_or_default().to_string()
}

#[test]
fn hook_that_floods_its_output_neither_hangs_nor_grows_the_runtime() {
    let Some(t) = Test::new("hostile_hook_flood") else {
        return;
    };
    let quiet = create_with_hook(&t, "echo small >&2; exit 1", None);
    error_line(&quiet.output);
    // 256 MiB on each of stdout and stderr, then a failure.
    let flood = create_with_hook(
        &t,
        "head -c 268435456 /dev/zero | tr '\\0' x & head -c 268435456 /dev/zero | tr '\\0' y >&2; wait; exit 1",
        None,
    );
    // The error carries some of the output, not all of it.
    flood_failed(&flood.output);
    // The same flood that succeeds: create goes on.
    let fine = create_with_hook(&t, "head -c 268435456 /dev/zero", None);
    ok(&fine.output);
    if skip_under_runc("runc 1.1.5 keeps all of a hook's output in memory") {
        return;
    }
    // A flood that never ends: the timeout still fires.
    let began = Instant::now();
    let endless = create_with_hook(&t, "exec yes flood", Some(2));
    let err = flood_failed(&endless.output);
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "took {:?}",
        began.elapsed()
    );
    assert!(
        err.contains("timed out") || err.contains("timeout"),
        "{err}"
    );
    let kb = |inv: &Invocation| inv.max_rss_kb.unwrap_or(0);
    eprintln!(
        "peak RSS of create: quiet hook {} KiB, failing flood {} KiB, succeeding flood {} KiB, \
         endless flood {} KiB",
        kb(&quiet),
        kb(&flood),
        kb(&fine),
        kb(&endless)
    );
    if quiet.max_rss_kb.is_none() {
        eprintln!("peak RSS not measured: {GNU_TIME} is missing (apt-get install time)");
        return;
    }
    for (what, inv) in [
        ("failing", &flood),
        ("succeeding", &fine),
        ("endless", &endless),
    ] {
        assert!(
            kb(inv) < kb(&quiet) + 16 * 1024,
            "{what} flood: the runtime grew to {} KiB (quiet: {} KiB)",
            kb(inv),
            kb(&quiet)
        );
    }
}

#[test]
fn program_that_is_a_directory_is_a_clear_error() {
    let Some(t) = Test::new("hostile_args_dir") else {
        return;
    };
    for args in [&["/bin"][..], &["/tmp/"], &["subdir"], &["."]] {
        let b = t.bundle().args(args);
        // "subdir" is found in PATH as a directory, and must be skipped there.
        fs::create_dir(b.rootfs().join("bin/subdir")).unwrap();
        match attempt(&t, &b) {
            Outcome::Refused(line) => {
                eprintln!("args {args:?}: {line}");
                if !runtime_is_runc() {
                    assert!(
                        line.contains(args[0]),
                        "{args:?}: the error names it: {line}"
                    );
                }
            }
            Outcome::Ran(out) => panic!("args {args:?} ran: {out}"),
        }
    }
    // And through exec into a running container: exec's own failure, the container
    // untouched.
    let b = t.bundle().args(&["sleep", "60"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let o = t.rt.exec(&["exec", &b.id, "/bin"]);
    assert!(!looks_like_a_crash(&o), "{o:?}");
    assert_eq!(o.status.code(), Some(255), "{}", stderr(&o));
    assert_eq!(t.rt.status(&b.id), "running");
}

#[test]
fn hundred_thousand_env_entries_reach_the_process() {
    let Some(t) = Test::new("hostile_env_many") else {
        return;
    };
    // 100k short entries, about 1.7 MB with their pointers: within ARG_MAX (2 MB with an
    // 8 MB stack).
    let b = t.bundle().edit(|c| {
        let env = c["process"]["env"].as_array_mut().unwrap();
        env.extend((0..100_000).map(|i| json!(format!("E{i:05}=v"))));
    });
    // `env` itself, not a busybox shell: that one takes a minute to import 100k vars.
    let b = b.args(&["env"]);
    match attempt(&t, &b) {
        Outcome::Ran(out) => {
            let n = out.lines().filter(|l| l.starts_with('E')).count();
            assert_eq!(n, 100_000);
        }
        Outcome::Refused(line) => panic!("refused: {line}"),
    }
}

/// A process too big for execve must end as an error (at create, or at start where the
/// execve happens), or, for runc, as a container that stopped without running; never as
/// a panic, a hang or a leak.
fn too_big(name: &str, edit: impl FnOnce(&mut Value)) {
    let Some(t) = Test::new(name) else { return };
    let b = t.bundle().sh("echo ran").edit(edit);
    match attempt(&t, &b) {
        Outcome::Refused(line) => {
            eprintln!("{name}: {line}");
            if !runtime_is_runc() {
                assert!(
                    line.contains("too long") || line.contains("E2BIG") || line.contains("too big"),
                    "the error says what: {line}"
                );
            }
        }
        Outcome::Ran(out) => {
            assert!(out.is_empty(), "a process beyond ARG_MAX ran: {out}");
            assert!(runtime_is_runc(), "the execve failure was lost");
        }
    }
}

#[test]
fn one_megabyte_argument_is_a_clean_error() {
    too_big("hostile_arg_1mb", |c| {
        c["process"]["args"] = json!(["echo", "x".repeat(1 << 20)]);
    });
}

#[test]
fn environment_beyond_arg_max_is_a_clean_error() {
    too_big("hostile_env_4mb", |c| {
        let env = c["process"]["env"].as_array_mut().unwrap();
        env.extend((0..100_000).map(|i| json!(format!("E{i:05}={}", "v".repeat(40)))));
    });
}

#[test]
fn huge_exec_process_is_a_clean_error() {
    let Some(t) = Test::new("hostile_exec_huge") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "60"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let process = t.dir.join("process.json");
    let mut p = b.config()["process"].clone();
    p["args"] = json!(["echo", "x".repeat(1 << 20)]);
    fs::write(&process, serde_json::to_vec(&p).unwrap()).unwrap();
    let o =
        t.rt.exec(&["exec", "--process", process.to_str().unwrap(), &b.id]);
    assert!(!looks_like_a_crash(&o), "{o:?}");
    if runtime_is_runc() {
        // runc 1.1.5 exits 1 here ("exec /bin/echo: argument list too long").
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    } else {
        assert_eq!(o.status.code(), Some(255), "{}", stderr(&o));
        let line = single_error_line(&o);
        assert!(
            line.contains("too long") || line.contains("E2BIG"),
            "{line}"
        );
    }
    assert_eq!(t.rt.status(&b.id), "running");
    let procs = procs_in_test_cgroup(&b.id);
    assert_eq!(
        procs.len(),
        1,
        "only the init is left in the container: {procs:?}"
    );
}
