//! Attacks from inside a container on the host. Each test fails against a
//! runtime without the defence it names.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use integration::*;
use serde_json::json;

/// A private copy of the runtime binary: if a defence fails, the attack
/// corrupts this copy, not the build.
fn runtime_copy(t: &Test) -> PathBuf {
    let dir = t.host_dir("bin");
    let copy = dir.join("berth-runtime");
    fs::copy(runtime_bin(), &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

fn copy_cmd(t: &Test, copy: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(copy);
    cmd.arg("--root").arg(&t.rt.root).args(args);
    cmd.stdin(Stdio::null());
    cmd
}

/// Capabilities of a privileged container: everything the default spec
/// gives plus CAP_SYS_PTRACE, which lets it open `/proc/PID/exe` of any
/// process it can see, dumpable or not.
fn with_ptrace(c: &mut serde_json::Value) {
    let caps = json!([
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_PTRACE",
        "CAP_DAC_OVERRIDE"
    ]);
    for set in ["bounding", "effective", "permitted"] {
        c["process"]["capabilities"][set] = caps.clone();
    }
}

/// The attacker's container: no PID namespace (it sees every host process),
/// CAP_SYS_PTRACE. It opens `/proc/VICTIM/exe` once the test names the
/// victim, and once told the victim is gone tries to append to the file
/// (the CVE-2019-5736 overwrite), reporting in /out/result.
fn start_attacker(t: &Test, out: &Path) {
    let script = "while [ ! -s /out/victim ]; do sleep 0.02; done; \
                  exec 3< /proc/$(cat /out/victim)/exe && touch /out/holding; \
                  while [ ! -e /out/go ]; do sleep 0.02; done; \
                  if echo PWNED >> /proc/self/fd/3; then echo written; else echo denied; fi > /out/result";
    let b = t
        .bundle()
        .without_namespace("pid")
        .bind(out, "/out", &["rbind"])
        .edit(with_ptrace)
        .sh(script);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
}

fn wait_for(path: &Path) -> bool {
    wait_until(Duration::from_secs(15), || path.exists())
}

/// Waits until `path` has content: a shell redirect creates the file
/// before the command writes to it.
fn wait_for_content(path: &Path) -> bool {
    wait_until(Duration::from_secs(15), || {
        fs::metadata(path).is_ok_and(|m| m.len() > 0)
    })
}

/// Whether `/proc/PID/exe` already goes through a read-only mount: the
/// runtime seals itself first thing after it starts, and only from then on
/// is it a fair victim.
fn is_sealed(pid: u32) -> bool {
    let path = std::ffi::CString::new(format!("/proc/{pid}/exe")).unwrap();
    // SAFETY: statvfs writes one struct into the zeroed value we pass.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a live statvfs.
    let ret = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    ret == 0 && stat.f_flag & libc::ST_RDONLY != 0
}

/// Names the victim, lets the attacker take hold, runs `finish` (after
/// which no process may run the copy any more), then lets it write.
#[track_caller]
fn attack(copy: &Path, out: &Path, victim: u32, finish: impl FnOnce()) {
    let before = fs::read(copy).unwrap();
    fs::write(out.join("victim"), victim.to_string()).unwrap();
    assert!(
        wait_for(&out.join("holding")),
        "attacker could not open /proc/{victim}/exe"
    );
    finish();
    fs::write(out.join("go"), "").unwrap();
    assert!(
        wait_for_content(&out.join("result")),
        "attacker never finished"
    );
    let result = fs::read_to_string(out.join("result")).unwrap();
    assert!(
        fs::read(copy).unwrap() == before,
        "the runtime binary was modified from inside a container (attacker: {result:?})"
    );
    assert_eq!(result.trim(), "denied");
}

#[test]
fn runtime_binary_stays_unwritable_through_a_created_init() {
    let Some(t) = Test::new("harden_exe_create") else {
        return;
    };
    let copy = runtime_copy(&t);
    let out = t.host_dir("out");
    start_attacker(&t, &out);
    // The victim: a created container's init, a copy of the runtime
    // waiting for start.
    let b = t.bundle().args(&["true"]);
    let create = copy_cmd(
        &t,
        &copy,
        &["create", "--bundle", &b.path.to_string_lossy(), &b.id],
    );
    ok(&t.rt.create_from(&b.id, create));
    let victim = t.rt.state_json(&b.id)["pid"].as_u64().unwrap() as u32;
    attack(&copy, &out, victim, || {
        ok(&t.rt.start(&b.id));
        t.rt.wait_status(&b.id, "stopped");
        ok(&t.rt.delete(&b.id));
    });
}

#[test]
fn runtime_binary_stays_unwritable_through_an_exec() {
    let Some(t) = Test::new("harden_exe_exec") else {
        return;
    };
    let copy = runtime_copy(&t);
    let out = t.host_dir("out");
    start_attacker(&t, &out);
    let b = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    // The victim: the runtime running `exec` in the foreground.
    let mut exec = copy_cmd(&t, &copy, &["exec", &b.id, "sleep", "1"]);
    let mut child = exec
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || is_sealed(child.id())),
        "the runtime never ran sealed"
    );
    attack(&copy, &out, child.id(), || {
        child.wait().unwrap();
    });
}

#[test]
fn sysctl_write_cannot_be_redirected_by_a_mount_over_proc_sys() {
    let Some(t) = Test::new("harden_sysctl_redirect") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 writes through such a mount (CVE-2025-52881)") {
        return;
    }
    let decoy = t.host_dir("decoy").join("ip_forward");
    fs::write(&decoy, "host-file\n").unwrap();
    let b = t
        .bundle()
        .mount(json!({
            "destination": "/proc/sys/net/ipv4/ip_forward", "type": "bind",
            "source": decoy, "options": ["bind"]
        }))
        .edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"}))
        .args(&["true"]);
    let o = t.rt.create(&b.id, &b.path);
    let err = fails_with(&o, 1);
    assert!(err.contains("net.ipv4.ip_forward"), "{err}");
    assert_eq!(fs::read_to_string(&decoy).unwrap(), "host-file\n");
    assert!(t.rt.state_entries().is_empty());
}

#[test]
fn masked_paths_use_the_real_null_device_not_the_containers() {
    let Some(t) = Test::new("harden_masked_null") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 masks with the container's /dev/null (CVE-2025-31133)") {
        return;
    }
    // /dev comes from a volume whose "null" is an ordinary file.
    let dev = t.host_dir("dev");
    fs::write(dev.join("null"), "secret from the volume\n").unwrap();
    let b = t.bundle().edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| {
            !m["destination"]
                .as_str()
                .unwrap_or_default()
                .starts_with("/dev")
        });
        mounts.push(
            json!({"destination": "/dev", "type": "bind", "source": dev, "options": ["rbind"]}),
        );
        c["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/timer_list"]);
    });
    // Refusing to start is fine; showing the volume's file is not.
    let o = t.run(&b.sh("cat /proc/timer_list; echo end"));
    let out = stdout(&o);
    assert!(
        !out.contains("secret"),
        "a masked path showed the volume's file: {out}"
    );
    if !o.status.success() {
        assert!(stderr(&o).contains("/dev/null"), "{}", stderr(&o));
    }
}

#[test]
fn cwd_through_a_leaked_fd_is_refused() {
    let Some(t) = Test::new("harden_cwd_fd") else {
        return;
    };
    for fd in 3..10 {
        let b = t
            .bundle()
            .cwd(&format!("/proc/self/fd/{fd}"))
            .args(&["pwd"]);
        let o = t.run(&b);
        if o.status.success() {
            // Accepted only if it stayed inside the container.
            let pwd = stdout(&o);
            assert!(pwd.starts_with("/proc/self/fd/"), "cwd escaped to {pwd:?}");
        }
    }
    let b = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    for fd in 3..10 {
        let o = t.rt.exec(&[
            "exec",
            "--cwd",
            &format!("/proc/self/fd/{fd}"),
            &b.id,
            "pwd",
        ]);
        if o.status.success() {
            let pwd = stdout(&o);
            assert!(
                !pwd.contains("unreachable") && pwd.starts_with('/'),
                "exec cwd escaped to {pwd:?}"
            );
        }
    }
}
