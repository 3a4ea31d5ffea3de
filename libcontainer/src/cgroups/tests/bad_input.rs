//! Resources the host cannot honour and malformed values: an error naming
//! the field, and nothing left behind once the caller destroys.

use std::path::PathBuf;

use super::{resources, unique_path, Fixture};
use crate::cgroups::{detect, Cgroup, Mode};

/// Creates a cgroup, applies `json`, expects an error naming `field`, then
/// destroys as the caller would and checks that nothing is left.
fn refused(json: &str, field: &str) -> String {
    crate::test_support::require_root("a cgroup test (it makes cgroups on the host)");
    let mode = detect().unwrap();
    let mut cg = Cgroup::resolve(&unique_path("bad"), mode).unwrap();
    cg.create().unwrap();
    let dirs: Vec<PathBuf> = cg.dirs().map(|d| d.to_path_buf()).collect();
    let result = cg.apply(&resources(json), &[]);
    cg.destroy().unwrap();
    for d in &dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    let err = result.expect_err(json).to_string();
    assert!(err.contains(field), "{err:?} does not name {field}");
    err
}

#[test]
fn cgroups_missing_net_cls_is_an_error_naming_the_field() {
    let fx = Fixture::new("netcls");
    if fx.has("net_cls") {
        eprintln!("skipped: net_cls is mounted here");
        return;
    }
    let err = refused(
        r#"{"network": {"classID": 1048577}}"#,
        "linux.resources.network.classID",
    );
    assert!(err.contains("net_cls"), "{err}");
}

#[test]
fn cgroups_missing_net_prio_is_an_error_naming_the_field() {
    let fx = Fixture::new("netprio");
    if fx.has("net_prio") {
        eprintln!("skipped: net_prio is mounted here");
        return;
    }
    refused(
        r#"{"network": {"priorities": [{"name": "eth0", "priority": 5}]}}"#,
        "linux.resources.network.priorities",
    );
}

#[test]
fn cgroups_missing_rdma_is_an_error_naming_the_field() {
    let fx = Fixture::new("rdma");
    if fx.has("rdma") {
        eprintln!("skipped: rdma is available here");
        return;
    }
    refused(
        r#"{"rdma": {"mlx5_0": {"hcaHandles": 2, "hcaObjects": 100}}}"#,
        "linux.resources.rdma",
    );
}

#[test]
fn cgroups_invalid_cpuset_is_an_error_naming_the_field() {
    refused(r#"{"cpu": {"cpus": "4096"}}"#, "linux.resources.cpu.cpus");
    refused(r#"{"cpu": {"mems": "x-y"}}"#, "linux.resources.cpu.mems");
}

#[test]
fn cgroups_shares_out_of_range_are_an_error_naming_the_field() {
    refused(
        r#"{"cpu": {"shares": 1000000}}"#,
        "linux.resources.cpu.shares",
    );
}

#[test]
fn cgroups_unknown_hugepage_size_is_an_error_naming_the_field() {
    let fx = Fixture::new("hugebad");
    if !fx.has("hugetlb") {
        eprintln!("skipped: no hugetlb controller");
        return;
    }
    refused(
        r#"{"hugepageLimits": [{"pageSize": "3MB", "limit": 1048576}]}"#,
        "linux.resources.hugepageLimits[0].pageSize",
    );
}

#[test]
fn cgroups_unified_on_a_v1_controller_is_an_error_naming_the_key() {
    let mode = detect().unwrap();
    if mode == Mode::Unified {
        eprintln!("skipped: every controller is on v2 here");
        return;
    }
    refused(
        r#"{"unified": {"memory.high": "1000000"}}"#,
        "linux.resources.unified.memory.high",
    );
}

#[test]
fn cgroups_unified_on_a_legacy_resolution_is_an_error() {
    let mode = detect().unwrap();
    if mode == Mode::Unified {
        eprintln!("skipped: no v1 hierarchies here");
        return;
    }
    let cg = Cgroup::resolve(&unique_path("legacy"), Mode::Legacy).unwrap();
    assert!(cg.unified.is_none());
    let err = cg
        .check(&resources(r#"{"unified": {"pids.max": "10"}}"#))
        .unwrap_err()
        .to_string();
    assert!(err.contains("linux.resources.unified.pids.max"), "{err}");
    assert!(err.contains("cgroup v1"), "{err}");
}

#[test]
fn cgroups_v1_only_memory_settings_are_refused_on_v2() {
    let fx = Fixture::new("memv2");
    if fx.dir_of("memory").is_none_or(|(_, v1)| v1) {
        eprintln!("skipped: memory is not on cgroup v2 here");
        return;
    }
    refused(
        r#"{"memory": {"swappiness": 10}}"#,
        "linux.resources.memory.swappiness",
    );
}

#[test]
fn cgroups_ignored_kernel_memory_limit_is_a_warning() {
    let fx = Fixture::new("kmem");
    let r = resources(r#"{"memory": {"kernel": 16777216}}"#);
    let warnings = fx.cg.apply(&r, &[]).unwrap();
    match fx.dir_of("memory") {
        Some((dir, true)) if dir.join("memory.kmem.limit_in_bytes").exists() => {
            let set = std::fs::read_to_string(dir.join("memory.kmem.limit_in_bytes")).unwrap();
            // Either the kernel enforces it, or the caller hears it does not.
            if set.trim() != "16777216" {
                assert_eq!(warnings.len(), 1, "{warnings:?}");
                assert!(
                    warnings[0].contains("linux.resources.memory.kernel"),
                    "{warnings:?}"
                );
                assert!(warnings[0].contains("no longer enforces"), "{warnings:?}");
            }
        }
        _ => {
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(
                warnings[0].contains("linux.resources.memory.kernel"),
                "{warnings:?}"
            );
        }
    }
}

#[test]
fn cgroups_bad_device_rule_is_an_error_naming_the_rule() {
    refused(
        r#"{"devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwx"}]}"#,
        "linux.resources.devices[0].access",
    );
}

#[test]
fn cgroups_cgroups_path_with_dotdot_is_refused() {
    let mode = detect().unwrap();
    let err = Cgroup::resolve(std::path::Path::new("/berth/../../x"), mode)
        .unwrap_err()
        .to_string();
    assert!(err.contains("linux.cgroupsPath"), "{err}");
}

#[test]
fn cgroups_empty_sections_need_no_controller() {
    let fx = Fixture::new("empty");
    fx.apply(&resources(
        r#"{"network": {}, "rdma": {}, "memory": {}, "blockIO": {}, "cpu": {},
            "hugepageLimits": [], "unified": {}, "pids": {"limit": 0}}"#,
    ));
}
