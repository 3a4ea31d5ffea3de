//! seccomp: the default profile of `spec --seccomp-default` and custom profiles. Each check
//! runs the same command with and without the filter, so it shows that the
//! filter (not a missing capability) is what stops it.

use std::os::unix::fs::symlink;
use std::time::Duration;

use integration::*;
use serde_json::{json, Value};

const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_SYS_ADMIN",
    "CAP_SYS_MODULE",
    "CAP_SYS_PTRACE",
    "CAP_NET_ADMIN",
    "CAP_MKNOD",
    "CAP_AUDIT_WRITE",
    "CAP_NET_BIND_SERVICE",
];

fn privileged(c: &mut Value) {
    for set in ["bounding", "effective", "permitted"] {
        c["process"]["capabilities"][set] = json!(ALL_CAPS);
    }
}

/// Runs `script` in a privileged container with `profile` or none; returns
/// stdout.
fn run_privileged(t: &Test, script: &str, profile: Option<&Value>, links: &[&str]) -> String {
    let b = t.bundle().edit(privileged).edit(|c| match profile {
        Some(profile) => c["linux"]["seccomp"] = profile.clone(),
        None => {
            c["linux"].as_object_mut().unwrap().remove("seccomp");
        }
    });
    for link in links {
        let _ = symlink("busybox", b.rootfs().join("bin").join(link));
    }
    t.sh(b, script)
}

/// The profile of `spec --seccomp-default`, or None (the caller returns)
/// under runc, whose `spec` has no profile to offer.
fn default_profile(t: &Test) -> Option<Value> {
    if skip_under_runc("runc 1.1.5 has no default profile (berth: spec --seccomp-default)") {
        return None;
    }
    let dir = t.host_dir("seccomp-default");
    ok(&t
        .rt
        .spec(&["--bundle", &dir.to_string_lossy(), "--seccomp-default"]));
    let config = read_json(&dir.join("config.json"));
    let profile = config["linux"]["seccomp"].clone();
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO", "{config}");
    Some(profile)
}

#[test]
fn spec_has_no_profile_as_runcs() {
    let Some(t) = Test::new("seccomp_spec_none") else {
        return;
    };
    assert!(t.bundle().config()["linux"].get("seccomp").is_none());
}

#[test]
fn default_profile_blocks_mount_even_with_cap_sys_admin() {
    let Some(t) = Test::new("seccomp_mount") else {
        return;
    };
    let Some(profile) = default_profile(&t) else {
        return;
    };
    let script =
        "if mount -t tmpfs none /tmp 2>/dev/null; then echo mounted; else echo refused; fi";
    assert_eq!(run_privileged(&t, script, None, &[]), "mounted\n");
    assert_eq!(run_privileged(&t, script, Some(&profile), &[]), "refused\n");
}

#[test]
fn default_profile_blocks_unshare() {
    let Some(t) = Test::new("seccomp_unshare") else {
        return;
    };
    let Some(profile) = default_profile(&t) else {
        return;
    };
    let script = "if unshare -m true 2>/dev/null; then echo unshared; else echo refused; fi";
    assert_eq!(run_privileged(&t, script, None, &["unshare"]), "unshared\n");
    assert_eq!(
        run_privileged(&t, script, Some(&profile), &["unshare"]),
        "refused\n"
    );
}

#[test]
fn default_profile_blocks_kernel_module_loading() {
    let Some(t) = Test::new("seccomp_modules") else {
        return;
    };
    let Some(profile) = default_profile(&t) else {
        return;
    };
    // Not a module: without the filter the kernel itself rejects it (ENOEXEC),
    // with it the call never reaches the kernel (EPERM).
    let script = "insmod /bin/busybox 2>&1; true";
    let open = run_privileged(&t, script, None, &["insmod"]);
    let filtered = run_privileged(&t, script, Some(&profile), &["insmod"]);
    assert!(!open.contains("not permitted"), "{open}");
    assert!(filtered.contains("not permitted"), "{filtered}");
}

#[test]
fn errno_rule_returns_its_errno() {
    let Some(t) = Test::new("seccomp_errno") else {
        return;
    };
    let b = t.bundle().edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        });
    });
    let out = t.sh(b, "mkdir /tmp/x 2>&1; true");
    assert!(out.contains("Function not implemented"), "{out}");
}

#[test]
fn notify_sends_the_listener_fd_and_state_to_the_agent() {
    let Some(t) = Test::new("seccomp_notify") else {
        return;
    };
    let agent = ConsoleSocket::bind(&t.dir.join("agent.sock"));
    let b = t
        .bundle()
        .args(&["sh", "-c", "mkdir /tmp/x; echo status:$?"])
        .edit(|c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": agent.path,
                "listenerMetadata": "berth-test-metadata",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
            });
        });
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    let (listener, data) = agent.recv_fd(Duration::from_secs(10));
    let message: Value = serde_json::from_slice(&data).expect("container process state JSON");
    assert_eq!(message["fds"], json!(["seccompFd"]), "{message}");
    assert_eq!(message["metadata"], "berth-test-metadata", "{message}");
    assert_eq!(message["state"]["id"], b.id.as_str(), "{message}");
    // The agent goes away without answering: the notified call fails.
    drop(listener);
    t.rt.wait_status(&b.id, "stopped");
    let out = t.rt.container_stdout(&b.id);
    assert!(
        out.contains("status:") && !out.contains("status:0"),
        "{out}"
    );
}

#[test]
fn ptrace_access_to_a_host_process_is_denied() {
    let Some(t) = Test::new("seccomp_host_ptrace") else {
        return;
    };
    // The default profile allows ptrace (as Docker's does on kernels >= 4.8);
    // what keeps a host process out of reach is the PID namespace and the
    // missing CAP_SYS_PTRACE. Even sharing the host's PID namespace, reading
    // the test process's memory-derived files needs ptrace access.
    let me = std::process::id();
    let script =
        format!("if cat /proc/{me}/environ >/dev/null 2>&1; then echo read; else echo denied; fi");
    let own_ns = t.sh(t.bundle(), &script);
    assert_eq!(own_ns, "denied\n");
    let shared = t.sh(
        t.bundle().without_namespace("pid").edit(|c| {
            // An unprivileged user inside: root in the container would own the
            // same uid as the test process.
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        }),
        &script,
    );
    assert_eq!(shared, "denied\n");
}

/// Our default profile (Docker's policy) without the calls in `removed`.
fn default_profile_without(removed: &[&str]) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../specs/seccomp.json"
    ))
    .unwrap();
    let mut profile: Value = serde_json::from_str(&text).unwrap();
    for rule in profile["syscalls"].as_array_mut().unwrap() {
        rule["names"]
            .as_array_mut()
            .unwrap()
            .retain(|name| !removed.contains(&name.as_str().unwrap()));
    }
    profile
}

/// After the filter, the runtime's own steps make no call that a profile
/// which does not list them would deny: the fd sweep (close_range) and the
/// cwd check (getcwd) come before it, with and without no_new_privs, for
/// the init and for exec.
#[test]
fn a_profile_denying_close_range_and_getcwd_still_runs_the_container() {
    let Some(t) = Test::new("seccomp_no_close_range") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 checks its cwd with getcwd after the filter") {
        return;
    }
    let profile = default_profile_without(&["close_range", "getcwd"]);
    for no_new_privs in [true, false] {
        let b = t.bundle().args(&["sleep", "60"]).edit(|c| {
            c["linux"]["seccomp"] = profile.clone();
            c["process"]["noNewPrivileges"] = json!(no_new_privs);
        });
        ok(&t.rt.create(&b.id, &b.path));
        ok(&t.rt.start(&b.id));
        let o = t.rt.exec(&["exec", &b.id, "echo", "exec ok"]);
        assert_eq!(ok(&o), "exec ok\n", "noNewPrivileges {no_new_privs}");
        ok(&t.rt.kill(&b.id, Some("KILL")));
        t.rt.wait_status(&b.id, "stopped");
        ok(&t.rt.delete(&b.id));
    }
}

#[test]
fn getcwd_sent_to_an_agent_that_never_answers_does_not_hang_the_start() {
    let Some(t) = Test::new("seccomp_getcwd_notify") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 checks its cwd with getcwd after the filter") {
        return;
    }
    let agent = ConsoleSocket::bind(&t.dir.join("agent.sock"));
    let b = t.bundle().args(&["echo", "started"]).edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": agent.path,
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_NOTIFY"}]
        });
        // The filter then comes before capabilities and user, at create.
        c["process"]["noNewPrivileges"] = json!(false);
    });
    ok(&t.rt.create(&b.id, &b.path));
    // Held, never answered: a getcwd after the filter would block for good.
    let (_listener, _) = agent.recv_fd(Duration::from_secs(10));
    ok(&t.rt.start(&b.id));
    t.rt.wait_status(&b.id, "stopped");
    assert_eq!(t.rt.container_stdout(&b.id), "started\n");
}

/// With noNewPrivileges, as runc: the filter is in place when `create`
/// returns (its agent already has the listener), and the startContainer
/// hooks run with no_new_privs set and under the filter.
#[test]
fn with_no_new_privileges_the_filter_is_in_place_at_create() {
    let Some(t) = Test::new("seccomp_nnp_create") else {
        return;
    };
    let agent = ConsoleSocket::bind(&t.dir.join("agent.sock"));
    let dir = t.host_dir("hooklog");
    let b = t
        .bundle()
        .args(&["true"])
        .bind(&dir, "/hooklog", &["bind"])
        .hook(
            "startContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c",
                "grep NoNewPrivs /proc/self/status > /hooklog/nnp; \
                 mkdir /tmp/hook 2>/dev/null || echo refused >> /hooklog/nnp"]}),
        )
        .edit(|c| {
            c["process"]["noNewPrivileges"] = json!(true);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": agent.path,
                "syscalls": [
                    {"names": ["getpriority"], "action": "SCMP_ACT_NOTIFY"},
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}
                ]
            });
        });
    ok(&t.rt.create(&b.id, &b.path));
    let (_listener, _) = agent.recv_fd(Duration::from_secs(5));
    ok(&t.rt.start(&b.id));
    t.rt.wait_status(&b.id, "stopped");
    let nnp = std::fs::read_to_string(dir.join("nnp")).unwrap();
    let fields: Vec<&str> = nnp.split_whitespace().collect();
    assert_eq!(fields, ["NoNewPrivs:", "1", "refused"], "{nnp}");
}

/// A profile sending `names` to an agent at `listener`.
fn notify_profile(listener: &str, default: &str, names: &[&str]) -> Value {
    json!({
        "defaultAction": default,
        "listenerPath": listener,
        "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}]
    })
}

#[test]
fn notify_without_an_agent_fails_in_runcs_words() {
    let Some(t) = Test::new("seccomp_no_agent") else {
        return;
    };
    let listener = t.dir.join("nobody-listens.sock");
    let profile = notify_profile(&listener.to_string_lossy(), "SCMP_ACT_ALLOW", &["mkdir"]);
    let b = t
        .bundle()
        .args(&["true"])
        .edit(|c| c["linux"]["seccomp"] = profile);
    let err = fails_with(&t.run(&b), 1);
    assert!(
        err.contains("failed to connect with seccomp agent"),
        "{err}"
    );
}

#[test]
fn notify_rules_runc_refuses_are_refused_in_its_words() {
    let Some(t) = Test::new("seccomp_notify_rules") else {
        return;
    };
    // Nobody listens: the profile must be refused before a connection is tried.
    let listener = t.dir.join("nobody-listens.sock");
    let listener = listener.to_string_lossy();
    for (profile, words) in [
        (
            notify_profile(&listener, "SCMP_ACT_ALLOW", &["write"]),
            "SCMP_ACT_NOTIFY cannot be used for the write syscall",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": listener}),
            "SCMP_ACT_NOTIFY cannot be used as default action",
        ),
    ] {
        let b = t
            .bundle()
            .args(&["true"])
            .edit(|c| c["linux"]["seccomp"] = profile);
        let err = fails_with(&t.run(&b), 1);
        assert!(err.contains(words), "{err}");
    }
}

#[test]
fn listener_path_is_ignored_without_notify_rules() {
    let Some(t) = Test::new("seccomp_unused_listener") else {
        return;
    };
    let listener = t.dir.join("nobody-listens.sock");
    let b = t.bundle().args(&["true"]).edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": listener,
        })
    });
    ok(&t.run(&b));
}
