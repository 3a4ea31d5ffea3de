//! Each linux.resources field, read back from the cgroup files after apply.

use super::{resources, Fixture};
use crate::cgroups::host_page_sizes;

const MIB: u64 = 1 << 20;

#[test]
fn cgroups_memory_limit_swap_and_reservation_are_written() {
    let fx = Fixture::new("mem");
    fx.apply(&resources(&format!(
        r#"{{"memory": {{"limit": {}, "swap": {}, "reservation": {}}}}}"#,
        64 * MIB,
        128 * MIB,
        32 * MIB
    )));
    let limit = fx.read("memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(limit, (64 * MIB).to_string());
    let reservation = fx.read("memory", "memory.soft_limit_in_bytes", "memory.low");
    assert_eq!(reservation, (32 * MIB).to_string());
    // v1: memory+swap; v2: swap alone.
    let swap = fx.read("memory", "memory.memsw.limit_in_bytes", "memory.swap.max");
    let (_, v1) = fx.dir_of("memory").unwrap();
    let expected = if v1 { 128 * MIB } else { 64 * MIB };
    assert_eq!(swap, expected.to_string());

    // Lowering both below the current values works in either order.
    fx.apply(&resources(&format!(
        r#"{{"memory": {{"limit": {}, "swap": {}}}}}"#,
        16 * MIB,
        16 * MIB
    )));
    assert_eq!(
        fx.read("memory", "memory.limit_in_bytes", "memory.max"),
        (16 * MIB).to_string()
    );
    fx.apply(&resources(r#"{"memory": {"limit": -1}}"#));
    let unlimited = fx.read("memory", "memory.limit_in_bytes", "memory.max");
    assert!(unlimited == "max" || unlimited.parse::<u64>().unwrap() > 1 << 60);
}

#[test]
fn cgroups_memory_v1_only_settings_are_written_on_v1() {
    let fx = Fixture::new("memv1");
    if !fx.dir_of("memory").is_some_and(|(_, v1)| v1) {
        eprintln!("skipped: memory is not on cgroup v1 here");
        return;
    }
    fx.apply(&resources(&format!(
        r#"{{"memory": {{"swappiness": 10, "disableOOMKiller": true, "kernelTCP": {}}}}}"#,
        16 * MIB
    )));
    assert_eq!(fx.read("memory", "memory.swappiness", ""), "10");
    let oom = fx.read("memory", "memory.oom_control", "");
    assert!(oom.contains("oom_kill_disable 1"), "{oom}");
    assert_eq!(
        fx.read("memory", "memory.kmem.tcp.limit_in_bytes", ""),
        (16 * MIB).to_string()
    );
}

#[test]
fn cgroups_cpu_shares_quota_period_burst_are_written() {
    let fx = Fixture::new("cpu");
    fx.apply(&resources(
        r#"{"cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000}}"#,
    ));
    let (_, v1) = fx.dir_of("cpu").unwrap();
    if v1 {
        assert_eq!(fx.read("cpu", "cpu.shares", ""), "512");
        assert_eq!(fx.read("cpu", "cpu.cfs_quota_us", ""), "50000");
        assert_eq!(fx.read("cpu", "cpu.cfs_period_us", ""), "100000");
        assert_eq!(fx.read("cpu", "cpu.cfs_burst_us", ""), "10000");
    } else {
        // 1 + (512 - 2) * 9999 / 262142
        assert_eq!(fx.read("cpu", "", "cpu.weight"), "20");
        assert_eq!(fx.read("cpu", "", "cpu.max"), "50000 100000");
        assert_eq!(fx.read("cpu", "", "cpu.max.burst"), "10000");
    }
    // A period alone keeps the quota.
    fx.apply(&resources(r#"{"cpu": {"period": 200000}}"#));
    let quota = fx.read("cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(quota.starts_with("50000"), "{quota}");
    // Unlimited again.
    fx.apply(&resources(r#"{"cpu": {"quota": -1}}"#));
    let quota = fx.read("cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(quota == "-1" || quota.starts_with("max"), "{quota}");
}

#[test]
fn cgroups_cpu_realtime_is_written_on_v1() {
    let fx = Fixture::new("rt");
    if !fx
        .dir_of("cpu")
        .is_some_and(|(d, v1)| v1 && d.join("cpu.rt_runtime_us").exists())
    {
        eprintln!("skipped: no v1 real-time group scheduling here");
        return;
    }
    fx.apply(&resources(
        r#"{"cpu": {"realtimePeriod": 500000, "realtimeRuntime": 5000}}"#,
    ));
    assert_eq!(fx.read("cpu", "cpu.rt_period_us", ""), "500000");
    assert_eq!(fx.read("cpu", "cpu.rt_runtime_us", ""), "5000");
}

#[test]
fn cgroups_cpu_idle_is_written() {
    let fx = Fixture::new("idle");
    let (dir, _) = fx.dir_of("cpu").unwrap();
    if !dir.join("cpu.idle").exists() {
        eprintln!("skipped: no cpu.idle here");
        return;
    }
    fx.apply(&resources(r#"{"cpu": {"idle": 1}}"#));
    assert_eq!(fx.read("cpu", "cpu.idle", "cpu.idle"), "1");
}

#[test]
fn cgroups_cpuset_cpus_and_mems_are_written() {
    let fx = Fixture::new("cpuset");
    fx.apply(&resources(r#"{"cpu": {"cpus": "0", "mems": "0"}}"#));
    assert_eq!(fx.read("cpuset", "cpuset.cpus", "cpuset.cpus"), "0");
    assert_eq!(fx.read("cpuset", "cpuset.mems", "cpuset.mems"), "0");
}

#[test]
fn cgroups_pids_limit_is_written() {
    let fx = Fixture::new("pidsmax");
    fx.apply(&resources(r#"{"pids": {"limit": 10}}"#));
    assert_eq!(fx.read("pids", "pids.max", "pids.max"), "10");
    fx.apply(&resources(r#"{"pids": {"limit": -1}}"#));
    assert_eq!(fx.read("pids", "pids.max", "pids.max"), "max");
}

/// A whole disk of this host (throttles need one, not a partition).
fn some_disk() -> Option<(u32, u32)> {
    for entry in std::fs::read_dir("/sys/block").ok()?.flatten() {
        let name = entry.file_name().into_string().ok()?;
        if name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram") {
            continue;
        }
        let dev = std::fs::read_to_string(entry.path().join("dev")).ok()?;
        let (major, minor) = dev.trim().split_once(':')?;
        return Some((major.parse().ok()?, minor.parse().ok()?));
    }
    None
}

#[test]
fn cgroups_blkio_throttles_are_written() {
    let Some((major, minor)) = some_disk() else {
        eprintln!("skipped: no disk to throttle");
        return;
    };
    let fx = Fixture::new("blkio");
    fx.apply(&resources(&format!(
        r#"{{"blockIO": {{
            "throttleReadBpsDevice": [{{"major": {major}, "minor": {minor}, "rate": 1048576}}],
            "throttleWriteIOPSDevice": [{{"major": {major}, "minor": {minor}, "rate": 100}}]
        }}}}"#
    )));
    let dev = format!("{major}:{minor}");
    let (_, v1) = fx.dir_of("blkio").or_else(|| fx.dir_of("io")).unwrap();
    if v1 {
        let read = fx.read("blkio", "blkio.throttle.read_bps_device", "");
        assert_eq!(read, format!("{dev} 1048576"));
        let write = fx.read("blkio", "blkio.throttle.write_iops_device", "");
        assert_eq!(write, format!("{dev} 100"));
    } else {
        let max = fx.read("io", "", "io.max");
        assert!(
            max.contains(&format!("{dev} rbps=1048576 wbps=max riops=max wiops=100")),
            "{max}"
        );
    }
}

#[test]
fn cgroups_blkio_weight_is_written_or_named_as_unsupported() {
    let fx = Fixture::new("weight");
    let r = resources(r#"{"blockIO": {"weight": 500}}"#);
    let (dir, v1) = fx.dir_of("blkio").or_else(|| fx.dir_of("io")).unwrap();
    let files: &[&str] = if v1 {
        &["blkio.bfq.weight", "blkio.weight"]
    } else {
        &["io.bfq.weight", "io.weight"]
    };
    if files.iter().any(|f| dir.join(f).exists()) {
        fx.cg.apply(&r, &[]).unwrap();
    } else {
        let err = fx.cg.apply(&r, &[]).unwrap_err().to_string();
        assert!(err.contains("linux.resources.blockIO.weight"), "{err}");
    }
}

#[test]
fn cgroups_hugepage_limits_are_written() {
    let fx = Fixture::new("huge");
    if !fx.has("hugetlb") {
        eprintln!("skipped: no hugetlb controller");
        return;
    }
    let sizes = host_page_sizes();
    let size = sizes.first().expect("hugetlb without page sizes");
    fx.apply(&resources(&format!(
        r#"{{"hugepageLimits": [{{"pageSize": "{size}", "limit": {}}}]}}"#,
        4 * MIB
    )));
    let v1 = format!("hugetlb.{size}.limit_in_bytes");
    let v2 = format!("hugetlb.{size}.max");
    assert_eq!(fx.read("hugetlb", &v1, &v2), (4 * MIB).to_string());
    let (dir, is_v1) = fx.dir_of("hugetlb").unwrap();
    let rsvd = if is_v1 {
        format!("hugetlb.{size}.rsvd.limit_in_bytes")
    } else {
        format!("hugetlb.{size}.rsvd.max")
    };
    if dir.join(&rsvd).exists() {
        let text = std::fs::read_to_string(dir.join(&rsvd)).unwrap();
        assert_eq!(text.trim(), (4 * MIB).to_string());
    }
}

#[test]
fn cgroups_unified_keys_of_v2_controllers_are_written() {
    let fx = Fixture::new("unified");
    let Some((_, false)) = fx.dir_of("hugetlb") else {
        eprintln!("skipped: hugetlb is not on cgroup v2 here");
        return;
    };
    let size = host_page_sizes().into_iter().next().unwrap();
    let key = format!("hugetlb.{size}.max");
    fx.apply(&resources(&format!(
        r#"{{"unified": {{"{key}": "{}"}}}}"#,
        2 * MIB
    )));
    assert_eq!(fx.read("hugetlb", "", &key), (2 * MIB).to_string());
}

#[test]
fn cgroups_update_leaves_absent_fields_alone() {
    let fx = Fixture::new("update");
    fx.apply(&resources(
        r#"{"pids": {"limit": 7}, "cpu": {"shares": 300}}"#,
    ));
    fx.cg
        .update(&resources(r#"{"pids": {"limit": 9}}"#), &[])
        .unwrap();
    assert_eq!(fx.read("pids", "pids.max", "pids.max"), "9");
    let shares = fx.read("cpu", "cpu.shares", "cpu.weight");
    assert!(shares == "300" || shares == "12", "{shares}");
}
