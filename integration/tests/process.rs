//! process: env, cwd, user, umask, rlimits, capabilities, noNewPrivileges, oomScoreAdj,
//! and linux.sysctl.

use std::os::unix::fs::PermissionsExt;

use integration::*;
use serde_json::json;

/// A line of /proc/self/status inside the container, e.g. `status_field(out, "CapEff")`.
fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
}

#[test]
fn env_is_visible() {
    let Some(t) = Test::new("env_visible") else {
        return;
    };
    let b = t.bundle().env("GREETING=hello world").env("EMPTY=");
    let out = t.sh(b, "env");
    let vars: Vec<&str> = out.lines().collect();
    assert!(vars.contains(&"GREETING=hello world"), "{out}");
    assert!(vars.contains(&"EMPTY="), "{out}");
    assert!(vars.iter().any(|v| v.starts_with("PATH=")), "{out}");
}

#[test]
fn args_are_resolved_through_path() {
    let Some(t) = Test::new("args_path") else {
        return;
    };
    let b = t.bundle().args(&["echo", "a  b", "c"]);
    assert_eq!(ok(&t.run(&b)), "a  b c\n");
}

#[test]
fn cwd_is_set() {
    let Some(t) = Test::new("cwd_set") else {
        return;
    };
    let b = t.bundle().cwd("/tmp");
    assert_eq!(t.sh(b, "pwd"), "/tmp\n");
}

#[test]
fn cwd_missing_from_rootfs_is_created() {
    let Some(t) = Test::new("cwd_created") else {
        return;
    };
    let b = t.bundle().cwd("/work/deep/here");
    let rootfs = b.rootfs();
    assert_eq!(t.sh(b, "pwd"), "/work/deep/here\n");
    assert!(rootfs.join("work/deep/here").is_dir());
}

#[test]
fn cwd_only_root_can_enter_works_for_another_user() {
    let Some(t) = Test::new("cwd_root_only") else {
        return;
    };
    let b = t.bundle().cwd("/secret").edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        // No CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH for the user.
        c["process"]["capabilities"] = json!({});
    });
    let secret = b.rootfs().join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Entered as root before the switch to uid 1000; listing it is still
    // refused to the user.
    let out = t.sh(b, "pwd; id -u; ls . >/dev/null 2>&1 || echo refused");
    assert_eq!(out, "/secret\n1000\nrefused\n");
}

#[test]
fn stdio_belongs_to_the_container_user() {
    let Some(t) = Test::new("stdio_owner") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    // stdout and stderr are pipes of the caller's, handed to the user.
    let out = t.sh(b, "stat -L -c %u /proc/self/fd/1 /proc/self/fd/2");
    assert_eq!(out, "1000\n1000\n");
}

#[test]
fn user_uid_gid_and_additional_gids_apply() {
    let Some(t) = Test::new("user_ids") else {
        return;
    };
    let b = t.bundle().edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]});
    });
    let out = t.sh(b, "id -u; id -g; id -G");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000", "{out}");
    assert_eq!(lines[1], "1001", "{out}");
    let mut groups: Vec<&str> = lines[2].split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["10", "1001", "20"], "{out}");
}

#[test]
fn user_without_additional_gids_has_no_supplementary_groups() {
    let Some(t) = Test::new("user_no_groups") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    let out = t.sh(b, "cat /proc/self/status");
    assert_eq!(status_field(&out, "Groups"), "", "{out}");
}

#[test]
fn user_umask_applies() {
    let Some(t) = Test::new("user_umask") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| c["process"]["user"]["umask"] = json!(0o077));
    assert_eq!(t.sh(b, "umask"), "0077\n");
}

#[test]
fn rlimit_nofile_soft_and_hard_apply() {
    let Some(t) = Test::new("rlimit_nofile") else {
        return;
    };
    let b = t.bundle().edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}]);
    });
    assert_eq!(t.sh(b, "ulimit -n; ulimit -Hn"), "1024\n4096\n");
}

#[test]
fn rlimit_above_hard_limit_fails_create() {
    let Some(t) = Test::new("rlimit_too_high") else {
        return;
    };
    // Without CAP_SYS_RESOURCE the hard limit cannot be raised past the caller's.
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) },
        0
    );
    if caller_has_cap(24) {
        eprintln!("skipped: CAP_SYS_RESOURCE is held, the limit could be raised");
        return;
    }
    let over = hard.rlim_max + 1;
    let b = t.bundle().edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": over, "hard": over}]);
    });
    let o = t.rt.create(&b.id, &b.path);
    let err = fails_with(&o, 1);
    assert!(
        err.to_lowercase().contains("rlimit"),
        "names the rlimit: {err}"
    );
    assert!(
        t.rt.state_entries().is_empty(),
        "{:?}",
        t.rt.state_entries()
    );
}

fn caller_has_cap(bit: u32) -> bool {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = u64::from_str_radix(status_field(&s, "CapEff"), 16).unwrap();
    eff & (1 << bit) != 0
}

#[test]
fn capabilities_reduced_set_is_exact() {
    let Some(t) = Test::new("caps_exact") else {
        return;
    };
    let set = json!(["CAP_CHOWN", "CAP_KILL"]);
    let b = t.bundle().edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": set, "effective": set, "permitted": set, "inheritable": set, "ambient": set
        });
    });
    let out = t.sh(b, "cat /proc/self/status");
    // CAP_CHOWN is bit 0, CAP_KILL bit 5.
    for key in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(status_field(&out, key), "0000000000000021", "{key}:\n{out}");
    }
}

#[test]
fn capabilities_bounding_is_applied_separately() {
    let Some(t) = Test::new("caps_bounding") else {
        return;
    };
    let b = t.bundle().edit(|c| {
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": [],
            "ambient": []
        });
    });
    let out = t.sh(b, "cat /proc/self/status");
    assert_eq!(status_field(&out, "CapBnd"), "0000000000000421", "{out}");
    // execve as uid 0 under no_new_privs: permitted stays the old permitted set, and
    // effective becomes all of permitted.
    assert_eq!(status_field(&out, "CapPrm"), "0000000000000021", "{out}");
    assert_eq!(status_field(&out, "CapEff"), "0000000000000021", "{out}");
    assert_eq!(status_field(&out, "CapInh"), "0000000000000000", "{out}");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000000", "{out}");
}

#[test]
fn capabilities_empty_for_non_root_user() {
    let Some(t) = Test::new("caps_nonroot") else {
        return;
    };
    let set = json!(["CAP_CHOWN", "CAP_KILL"]);
    let b = t.bundle().edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({
            "bounding": set, "effective": set, "permitted": set, "inheritable": [], "ambient": []
        });
    });
    let out = t.sh(b, "cat /proc/self/status");
    // A non-root execve without ambient caps drops permitted and effective.
    assert_eq!(status_field(&out, "CapEff"), "0000000000000000", "{out}");
    assert_eq!(status_field(&out, "CapPrm"), "0000000000000000", "{out}");
    assert_eq!(status_field(&out, "CapBnd"), "0000000000000021", "{out}");
}

#[test]
fn no_new_privileges_is_set() {
    let Some(t) = Test::new("nnp_set") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| c["process"]["noNewPrivileges"] = json!(true));
    let out = t.sh(b, "cat /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
}

#[test]
fn no_new_privileges_false_leaves_it_unset() {
    let Some(t) = Test::new("nnp_unset") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| c["process"]["noNewPrivileges"] = json!(false));
    let out = t.sh(b, "cat /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");
}

#[test]
fn oom_score_adj_applies() {
    let Some(t) = Test::new("oom_score_adj") else {
        return;
    };
    // Raise, never lower: lowering needs CAP_SYS_RESOURCE.
    let b = t
        .bundle()
        .edit(|c| c["process"]["oomScoreAdj"] = json!(500));
    assert_eq!(t.sh(b, "cat /proc/self/oom_score_adj"), "500\n");
}

#[test]
fn sysctl_net_applies_in_new_network_namespace() {
    let Some(t) = Test::new("sysctl_net") else {
        return;
    };
    let b = t
        .bundle()
        .namespace("network", None)
        .edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"}));
    assert_eq!(t.sh(b, "cat /proc/sys/net/ipv4/ip_forward"), "1\n");
}

#[test]
fn sysctl_ipc_applies_in_new_ipc_namespace() {
    let Some(t) = Test::new("sysctl_ipc") else {
        return;
    };
    let b = t
        .bundle()
        .namespace("ipc", None)
        .edit(|c| c["linux"]["sysctl"] = json!({"kernel.shmmax": "68719476736"}));
    assert_eq!(t.sh(b, "cat /proc/sys/kernel/shmmax"), "68719476736\n");
}

#[test]
fn sysctl_net_without_network_namespace_is_refused() {
    let Some(t) = Test::new("sysctl_net_hostns") else {
        return;
    };
    // Writing it would change the host's own setting.
    let b = t
        .bundle()
        .without_namespace("network")
        .edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"}));
    let before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let err = fails_with(&t.rt.create(&b.id, &b.path), 1);
    assert!(
        err.contains("net.ipv4.ip_forward"),
        "names the sysctl: {err}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        before
    );
}
