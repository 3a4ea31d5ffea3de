//! Device rules: the v1 devices.list and, on the cgroup2 directory, the eBPF
//! program, each checked by a child opening device nodes.

use nix::sys::wait::WaitStatus;

use super::{body, resources, Fixture};
use crate::cgroups::devices::DeviceState;
use crate::cgroups::{devices_bpf, Place};

/// A child that opens `path` read-only and exits with 0 or the errno.
fn open_in_cgroup(fx: &mut Fixture, path: &'static [u8]) -> i32 {
    let i = fx.run(move |_| body::open_errno(path, libc::O_RDONLY));
    match fx.children[i].wait() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("{other:?}"),
    }
}

const NULL: &[u8] = b"/dev/null\0";
const ZERO: &[u8] = b"/dev/zero\0";
const KMSG: &[u8] = b"/dev/kmsg\0";

#[test]
fn cgroups_devices_default_rules_allow_null_and_deny_kmsg() {
    let mut fx = Fixture::new("devdefault");
    fx.apply(&resources(
        r#"{"devices": [{"allow": false, "access": "rwm"}]}"#,
    ));
    if let Some(Place::V1(dir)) = fx.cg.place("devices") {
        let list = std::fs::read_to_string(dir.join("devices.list")).unwrap();
        for line in ["c 1:3 rwm", "c 136:* rwm", "c *:* m", "b *:* m"] {
            assert!(
                list.lines().any(|l| l == line),
                "{line} missing from {list}"
            );
        }
        assert!(!list.contains("a *:*"), "{list}");
    }
    assert_eq!(open_in_cgroup(&mut fx, NULL), 0);
    assert_eq!(open_in_cgroup(&mut fx, KMSG), libc::EPERM);
}

#[test]
fn cgroups_devices_spec_rules_apply_in_order_and_update_replaces_them() {
    let mut fx = Fixture::new("devspec");
    fx.apply(&resources(
        r#"{"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "w"}
        ]}"#,
    ));
    if let Some(Place::V1(dir)) = fx.cg.place("devices") {
        let list = std::fs::read_to_string(dir.join("devices.list")).unwrap();
        assert!(list.lines().any(|l| l == "c 1:11 rm"), "{list}");
    }
    assert_eq!(open_in_cgroup(&mut fx, KMSG), 0);
    // An update without devices keeps them.
    fx.cg
        .update(&resources(r#"{"pids": {"limit": 100}}"#), &[])
        .unwrap();
    assert_eq!(open_in_cgroup(&mut fx, KMSG), 0);
    // An update with devices replaces them, without a reset in between.
    fx.cg
        .update(
            &resources(r#"{"devices": [{"allow": false, "access": "rwm"}]}"#),
            &[],
        )
        .unwrap();
    assert_eq!(open_in_cgroup(&mut fx, KMSG), libc::EPERM);
    assert_eq!(open_in_cgroup(&mut fx, NULL), 0);
}

/// The eBPF path, on the cgroup2 directory of a hybrid or unified host.
#[test]
fn cgroups_devices_bpf_program_controls_opens_and_is_replaced() {
    let mut fx = Fixture::new("devbpf");
    let Some(dir) = fx.cg.unified.as_ref().map(|u| u.dir.clone()) else {
        eprintln!("skipped: no cgroup2 hierarchy");
        return;
    };
    // Only /dev/null (and mknod of anything, as the defaults do not apply
    // to this hand-made state).
    let mut only_null = DeviceState::deny_all();
    only_null
        .apply(
            crate::cgroups::devices::Rule::Node {
                allow: true,
                node: crate::cgroups::devices::Node {
                    typ: crate::cgroups::devices::DevType::Char,
                    major: Some(1),
                    minor: Some(3),
                },
                access: crate::cgroups::devices::ACC_ALL,
            },
            "test",
        )
        .unwrap();
    devices_bpf::apply(&dir, &only_null).unwrap();
    assert_eq!(devices_bpf::attached_count(&dir).unwrap(), 1);
    assert_eq!(open_in_cgroup(&mut fx, NULL), 0);
    assert_eq!(open_in_cgroup(&mut fx, ZERO), libc::EPERM);

    // Replacing: the defaults allow /dev/zero; the old program is detached.
    devices_bpf::apply(&dir, &DeviceState::for_spec(None, &[]).unwrap()).unwrap();
    assert_eq!(devices_bpf::attached_count(&dir).unwrap(), 1);
    assert_eq!(open_in_cgroup(&mut fx, ZERO), 0);
    assert_eq!(open_in_cgroup(&mut fx, KMSG), libc::EPERM);

    // An allow-all state (a privileged container) opens everything.
    let mut all = DeviceState::deny_all();
    all.apply(crate::cgroups::devices::Rule::All { allow: true }, "test")
        .unwrap();
    devices_bpf::apply(&dir, &all).unwrap();
    assert_eq!(open_in_cgroup(&mut fx, KMSG), 0);
}
