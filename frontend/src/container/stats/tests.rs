use std::fs;

use super::*;

#[test]
fn go_g_matches_gos_formatting() {
    assert_eq!(go_g(0.0, 4), "0");
    assert_eq!(go_g(1.5, 4), "1.5");
    assert_eq!(go_g(64.0, 4), "64");
    assert_eq!(go_g(7.7553, 4), "7.755");
    assert_eq!(go_g(1023.99, 4), "1024");
    assert_eq!(go_g(12.345, 3), "12.3");
    assert_eq!(go_g(100.0, 3), "100");
    assert_eq!(go_g(999.95, 3), "1e+03");
    assert_eq!(go_g(0.00001234, 3), "1.23e-05");
}

#[test]
fn memory_in_binary_units_and_io_in_decimal_ones() {
    assert_eq!(bytes_size(0.0), "0B");
    assert_eq!(bytes_size(1536.0), "1.5KiB");
    assert_eq!(bytes_size(64.0 * 1024.0 * 1024.0), "64MiB");
    assert_eq!(bytes_size(8_327_294_976.0), "7.755GiB");
    assert_eq!(human_size(0.0, 3), "0B");
    assert_eq!(human_size(999.0, 3), "999B");
    assert_eq!(human_size(1240.0, 3), "1.24kB");
    assert_eq!(human_size(12_345_678.0, 3), "12.3MB");
    assert_eq!(human_size(1e6, 3), "1MB");
    assert_eq!(percent(0.0), "0.00%");
    assert_eq!(percent(12.345_6), "12.35%");
}

const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

const UNIFIED: &str = "\
30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
";

#[test]
fn a_hybrid_host_is_read_as_v1_and_a_unified_one_as_v2() {
    let v1 = Cgroups::from_mountinfo(HYBRID).expect("cgroups");
    assert_eq!(
        v1.dir("cpuacct", "/berth/abc"),
        Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/berth/abc"))
    );
    assert_eq!(
        v1.dir("memory", "/berth/abc"),
        Some(PathBuf::from("/sys/fs/cgroup/memory/berth/abc"))
    );
    assert_eq!(v1.dirs("/berth/abc").len(), 4);
    let v2 = Cgroups::from_mountinfo(UNIFIED).expect("cgroups");
    assert_eq!(v2, Cgroups::V2(PathBuf::from("/sys/fs/cgroup"), "/".into()));
    assert_eq!(
        v2.dir("memory", "berth/abc"),
        Some(PathBuf::from("/sys/fs/cgroup/berth/abc"))
    );
    assert_eq!(
        Cgroups::from_mountinfo("1 2 0:1 / / rw - ext4 /dev/sda rw\n"),
        None
    );
}

#[test]
fn a_mount_showing_a_subtree_holds_the_cgroups_below_it() {
    let text = "30 23 0:26 /docker/xyz /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    let cg = Cgroups::from_mountinfo(text).expect("cgroups");
    assert_eq!(
        cg.dir("", "/docker/xyz/berth/abc"),
        Some(PathBuf::from("/sys/fs/cgroup/berth/abc"))
    );
}

fn write(dir: &Path, file: &str, text: &str) {
    fs::create_dir_all(dir).expect("mkdir");
    fs::write(dir.join(file), text).expect("write");
}

#[test]
fn v1_figures_come_from_each_controller() {
    let root = tempfile::tempdir().expect("tempdir");
    let mount = |c: &str| (root.path().join(c), "/".to_string());
    let cg = Cgroups::V1(BTreeMap::from([
        ("cpuacct".to_string(), mount("cpu,cpuacct")),
        ("memory".to_string(), mount("memory")),
        ("pids".to_string(), mount("pids")),
        ("blkio".to_string(), mount("blkio")),
    ]));
    let d = |c: &str| root.path().join(c).join("berth/c1");
    write(&d("cpu,cpuacct"), "cpuacct.usage", "123456789\n");
    write(&d("memory"), "memory.usage_in_bytes", "10485760\n");
    write(
        &d("memory"),
        "memory.stat",
        "cache 4096\ninactive_file 1\ntotal_inactive_file 2097152\n",
    );
    write(&d("memory"), "memory.limit_in_bytes", "67108864\n");
    write(&d("pids"), "pids.current", "3\n");
    write(
        &d("blkio"),
        "blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\n8:0 Async 2\n8:0 Discard 0\n8:0 Total 12288\n\
         8:16 Read 1000\nTotal 13288\n",
    );
    let s = sample(&cg, "/berth/c1", None).expect("sample");
    assert_eq!(s.cpu_ns, 123_456_789);
    assert_eq!(s.memory, 8 * 1024 * 1024);
    assert_eq!(s.memory_limit, 64 * 1024 * 1024);
    assert_eq!(s.pids, 3);
    assert_eq!((s.block_read, s.block_write), (5096, 8192));
    assert!(s.system_ns > 0 && s.online_cpus >= 1);

    // No limit: the host's memory bounds it.
    write(
        &d("memory"),
        "memory.limit_in_bytes",
        "9223372036854771712\n",
    );
    let s = sample(&cg, "/berth/c1", None).expect("sample");
    assert_eq!(s.memory_limit, host_memory().expect("meminfo"));

    let err = sample(&cg, "/berth/gone", None).expect_err("no such cgroup");
    assert!(err.to_string().contains("/berth/gone"), "{err}");
}

#[test]
fn v2_figures_come_from_the_unified_cgroup() {
    let root = tempfile::tempdir().expect("tempdir");
    let cg = Cgroups::V2(root.path().to_path_buf(), "/".to_string());
    let d = root.path().join("berth/c2");
    write(
        &d,
        "cpu.stat",
        "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
    );
    write(&d, "memory.current", "1000000\n");
    write(&d, "memory.stat", "anon 500000\ninactive_file 200000\n");
    write(&d, "memory.max", "max\n");
    write(&d, "pids.current", "1\n");
    write(
        &d,
        "io.stat",
        "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=5 wbytes=6\n",
    );
    let s = sample(&cg, "/berth/c2", None).expect("sample");
    assert_eq!(s.cpu_ns, 2_500_000);
    assert_eq!(s.memory, 800_000);
    assert_eq!(s.memory_limit, host_memory().expect("meminfo"));
    assert_eq!(s.pids, 1);
    assert_eq!((s.block_read, s.block_write), (105, 206));
}

#[test]
fn net_io_sums_every_interface_but_lo() {
    let text = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  999999      10    0    0    0     0          0         0   999999      10    0    0    0     0       0          0
  eth0:    1500      12    0    0    0     0          0         0     700       7    0    0    0     0       0          0
  eth1:     500       2    0    0    0     0          0         0     300       3    0    0    0     0       0          0
";
    assert_eq!(parse_net_dev(text), (2000, 1000));
    // The test's own namespace is the host's: nothing to count, as Docker shows it.
    assert_eq!(net_io(std::process::id() as i32).expect("net"), (0, 0));
}

fn entry(prev_cpu: u64, cpu: u64) -> StatsEntry {
    let current = Sample {
        cpu_ns: cpu,
        system_ns: 2_000_000_000,
        online_cpus: 4,
        memory: 3 * 1024 * 1024 / 2,
        memory_limit: 64 * 1024 * 1024,
        pids: 2,
        block_read: 1240,
        block_write: 0,
        net_rx: 0,
        net_tx: 12_345_678,
    };
    StatsEntry {
        id: "0123456789abcdef0123".into(),
        name: "happy_turing".into(),
        previous: Some(Sample {
            cpu_ns: prev_cpu,
            system_ns: 1_000_000_000,
            ..current.clone()
        }),
        current,
    }
}

#[test]
fn cpu_percent_is_dockers_formula() {
    // A quarter of the host's time on a 4-CPU host: one CPU's worth.
    let e = entry(0, 250_000_000);
    assert!((e.cpu_percent() - 100.0).abs() < 1e-9);
    let mut first = entry(0, 250_000_000);
    first.previous = None;
    assert_eq!(first.cpu_percent(), 0.0);
    assert_eq!(entry(300, 200).cpu_percent(), 0.0);
}

#[test]
fn the_table_reads_as_dockers() {
    let text = table(&[entry(0, 250_000_000)], true);
    let want = "\
CONTAINER ID   NAME           CPU %     MEM USAGE / LIMIT   MEM %     NET I/O       BLOCK I/O     PIDS
0123456789ab   happy_turing   100.00%   1.5MiB / 64MiB      2.34%     0B / 12.3MB   1.24kB / 0B   2
";
    assert_eq!(text, want);
    let fields = entry(0, 1).fields(false);
    assert_eq!(fields["ID"], "0123456789abcdef0123");
    assert_eq!(fields["MemPerc"], "2.34%");
}

#[test]
fn mountinfo_escapes_are_undone() {
    let text = "30 23 0:26 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw\n";
    let cg = Cgroups::from_mountinfo(text).expect("cgroups");
    assert_eq!(cg.dir("", "/x"), Some(PathBuf::from("/mnt/cg two/x")));
    assert_eq!(unescape("a\\134b\\"), "a\\b\\");
}
