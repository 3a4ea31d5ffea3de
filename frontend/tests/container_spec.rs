//! The generated OCI config run for real: a busybox bundle, `spec::generate` and
//! `write_etc_files`, then the debug berth-runtime's `run`, and what the container
//! saw printed on its stdout. Run as root.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use berth_engine::container::config::{Config, HostConfig, Ulimit};
use berth_engine::container::spec::{generate, SpecInput};
use berth_engine::container::{write_etc_files, ContainerPaths};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One container's bundle, its runtime state dir and its cgroup parent, all removed
/// on drop (the runtime's state and cgroup by `delete --force`), pass or fail.
struct Bundle {
    dir: tempfile::TempDir,
    id: String,
    paths: ContainerPaths,
    cgroup_parent: String,
}

impl Bundle {
    fn new(name: &str) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-spec-")
            .tempdir()
            .expect("temp dir");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("spec-{name}-{}-{n}", std::process::id());
        let paths = ContainerPaths::new(&dir.path().join("store"), &id);
        let rootfs = paths.rootfs();
        std::fs::create_dir_all(&rootfs).unwrap();
        let tar = support::busybox_rootfs_tar(dir.path());
        let status = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-xf")
            .arg(&tar)
            .status()
            .unwrap();
        assert!(status.success(), "untar the busybox rootfs");
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\nusers:x:100:nobody\nnogroup:x:65534:\n",
        )
        .unwrap();
        Bundle {
            cgroup_parent: format!("/berth-spec-test-{}-{n}", std::process::id()),
            dir,
            id,
            paths,
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Generates the config for `cmd` and runs it in the foreground.
    fn run(&self, cmd: &[&str], config: Config, mut host: HostConfig) -> Output {
        let config = Config {
            image: "busybox".into(),
            hostname: "0123456789ab".into(),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            ..config
        };
        host.cgroup_parent = self.cgroup_parent.clone();
        let input = SpecInput {
            id: &self.id,
            config: &config,
            host: &host,
            paths: &self.paths,
        };
        let spec = generate(&input).expect("generate the spec");
        write_etc_files(&input).expect("write the /etc files");
        std::fs::write(
            self.paths.config(),
            serde_json::to_vec_pretty(&spec).unwrap(),
        )
        .unwrap();
        let out = Command::new(integration::runtime_bin())
            .arg("--root")
            .arg(self.state())
            .args(["run", "--bundle"])
            .arg(self.paths.bundle())
            .arg(&self.id)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run berth-runtime");
        self.delete();
        out
    }

    fn delete(&self) {
        let _ = Command::new(integration::runtime_bin())
            .arg("--root")
            .arg(self.state())
            .args(["delete", "--force", &self.id])
            .output();
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        self.delete();
        // The runtime removes the container's cgroup; the parent is this test's own,
        // under the v2 root or under each v1 hierarchy.
        let root = Path::new("/sys/fs/cgroup");
        let parent = self.cgroup_parent.trim_start_matches('/');
        let _ = std::fs::remove_dir(root.join(parent));
        for hierarchy in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let _ = std::fs::remove_dir(hierarchy.path().join(parent));
        }
    }
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "the container failed ({:?}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn user_env_workdir_hostname_and_hosts_reach_the_process() {
    let bundle = Bundle::new("identity");
    let config = Config {
        user: "nobody".into(),
        env: vec!["GREETING=hello".into()],
        working_dir: "/srv/app".into(),
        ..Config::default()
    };
    let out = stdout(&bundle.run(
        &["sh", "-c", "id; echo GREETING=$GREETING; echo PATH=$PATH; pwd; hostname; cat /etc/hostname; cat /etc/hosts; cat /etc/resolv.conf"],
        config,
        HostConfig::default(),
    ));
    assert!(
        out.contains("uid=65534(nobody) gid=65534(nogroup) groups=100(users)"),
        "{out}"
    );
    assert!(out.contains("GREETING=hello\n"), "{out}");
    assert!(
        out.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"),
        "{out}"
    );
    assert!(out.contains("/srv/app\n"), "{out}");
    assert_eq!(out.matches("0123456789ab\n").count(), 2, "{out}");
    assert!(out.contains("127.0.0.1\tlocalhost\n"), "{out}");
    assert!(out.contains("ff02::2\tip6-allrouters\n"), "{out}");
    // The host's resolver, its loopback servers dropped (or Docker's public ones).
    assert!(out.contains("\nnameserver "), "{out}");
    assert!(!out.contains("nameserver 127."), "{out}");
}

#[test]
fn binds_tmpfs_and_a_read_only_root() {
    let bundle = Bundle::new("mounts");
    let shared = bundle.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("from-host"), "host says hi\n").unwrap();
    let host = HostConfig {
        binds: Some(vec![format!("{}:/data", shared.display())]),
        tmpfs: Some(BTreeMap::from([(
            "/run".to_string(),
            "size=64m".to_string(),
        )])),
        readonly_rootfs: true,
        ..HostConfig::default()
    };
    let script = "cat /data/from-host; echo written > /data/from-ctr; \
                  grep ' /run ' /proc/mounts; \
                  touch /run/ok && echo tmpfs-writable; \
                  touch /root-file 2>/dev/null && echo root-writable || echo root-read-only";
    let out = stdout(&bundle.run(&["sh", "-c", script], Config::default(), host));
    assert!(out.contains("host says hi\n"), "{out}");
    assert_eq!(
        std::fs::read_to_string(shared.join("from-ctr")).unwrap(),
        "written\n"
    );
    let run = out
        .lines()
        .find(|l| l.contains(" /run "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(run.starts_with("tmpfs /run tmpfs "), "{run}");
    assert!(
        run.contains("nosuid") && run.contains("nodev") && run.contains("noexec"),
        "{run}"
    );
    assert!(run.contains("size=65536k"), "{run}");
    assert!(out.contains("tmpfs-writable\n"), "{out}");
    assert!(out.contains("root-read-only\n"), "{out}");
}

#[test]
fn a_missing_bind_source_is_made_on_the_host() {
    let bundle = Bundle::new("mkbind");
    let missing = bundle.dir.path().join("not/yet");
    let host = HostConfig {
        binds: Some(vec![format!("{}:/data", missing.display())]),
        ..HostConfig::default()
    };
    let out = stdout(&bundle.run(
        &["sh", "-c", "echo x > /data/f && echo ok"],
        Config::default(),
        host,
    ));
    assert_eq!(out, "ok\n");
    assert!(missing.join("f").is_file());
}

const CHOWN: &str = "touch /tmp/f; chown 1:1 /tmp/f 2>/dev/null && echo chowned || echo denied";

#[test]
fn cap_drop_chown_denies_chown() {
    let bundle = Bundle::new("capdrop");
    let host = HostConfig {
        cap_drop: Some(vec!["CHOWN".into()]),
        ..HostConfig::default()
    };
    let out = stdout(&bundle.run(&["sh", "-c", CHOWN], Config::default(), host));
    assert_eq!(out, "denied\n");
}

#[test]
fn the_default_caps_allow_chown() {
    let bundle = Bundle::new("capdefault");
    let out = stdout(&bundle.run(
        &["sh", "-c", CHOWN],
        Config::default(),
        HostConfig::default(),
    ));
    assert_eq!(out, "chowned\n");
}

#[test]
fn a_ulimit_is_the_processs_rlimit() {
    let bundle = Bundle::new("ulimit");
    let host = HostConfig {
        ulimits: Some(vec![Ulimit {
            name: "nofile".into(),
            soft: 321,
            hard: 654,
        }]),
        ..HostConfig::default()
    };
    let out = stdout(&bundle.run(
        &["sh", "-c", "ulimit -n; ulimit -Hn"],
        Config::default(),
        host,
    ));
    assert_eq!(out, "321\n654\n");
}

#[test]
fn init_runs_as_pid_1_before_the_command() {
    let bundle = Bundle::new("init");
    let host = HostConfig {
        init: Some(true),
        ..HostConfig::default()
    };
    let config = Config::default();
    let out = bundle.run(
        &["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo"],
        config,
        host,
    );
    let out = stdout(&out);
    assert_eq!(
        out,
        "/sbin/docker-init -- sh -c tr '\\0' ' ' < /proc/1/cmdline; echo \n"
    );
}

#[test]
fn resources_land_in_the_containers_own_cgroup() {
    let bundle = Bundle::new("resources");
    let host = HostConfig {
        memory: 64 << 20,
        nano_cpus: 500_000_000,
        pids_limit: Some(50),
        ..HostConfig::default()
    };
    // The runtime mounts the container's own tree (cgroup namespace) on v1 or v2.
    let script = "cd /sys/fs/cgroup; if [ -e memory.max ]; \\
                  then cat memory.max pids.max; cut -d' ' -f1 cpu.max; \\
                  else cat memory/memory.limit_in_bytes pids/pids.max cpu/cpu.cfs_quota_us; fi";
    let out = stdout(&bundle.run(&["sh", "-c", script], Config::default(), host));
    assert_eq!(out, format!("{}\n50\n50000\n", 64 << 20));
}

const STATUS: &str = "grep -E '^(CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; \\
                      wc -c < /proc/interrupts; ls /sys/firmware | wc -l";

#[test]
fn the_default_is_dockers_caps_seccomp_and_masked_paths() {
    let bundle = Bundle::new("confined");
    let out = stdout(&bundle.run(
        &["sh", "-c", STATUS],
        Config::default(),
        HostConfig::default(),
    ));
    // Docker's 14 capabilities as the kernel's bit mask.
    assert!(out.contains("CapBnd:\t00000000a80425fb\n"), "{out}");
    assert!(out.contains("NoNewPrivs:\t0\n"), "{out}");
    assert!(out.contains("Seccomp:\t2\n"), "{out}");
    assert!(
        out.ends_with("\n0\n0\n"),
        "/proc/interrupts and /sys/firmware are masked: {out}"
    );
}

#[test]
fn security_opts_set_no_new_privs_and_lift_seccomp() {
    let bundle = Bundle::new("secopt");
    let host = HostConfig {
        security_opt: Some(vec![
            "no-new-privileges".into(),
            "seccomp=unconfined".into(),
        ]),
        ..HostConfig::default()
    };
    let out = stdout(&bundle.run(&["sh", "-c", STATUS], Config::default(), host));
    assert!(out.contains("NoNewPrivs:\t1\n"), "{out}");
    assert!(out.contains("Seccomp:\t0\n"), "{out}");
}

#[test]
fn privileged_has_every_cap_the_hosts_devices_and_no_seccomp() {
    let bundle = Bundle::new("privileged");
    let host = HostConfig {
        privileged: true,
        ..HostConfig::default()
    };
    let script = "grep -E '^(CapBnd|Seccomp):' /proc/self/status; \
                  test -c /dev/tty0 && echo has-tty0; wc -c < /proc/interrupts | grep -vx 0 >/dev/null && echo unmasked";
    let out = stdout(&bundle.run(&["sh", "-c", script], Config::default(), host));
    assert!(out.contains("Seccomp:\t0\n"), "{out}");
    assert!(!out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    if Path::new("/dev/tty0").exists() {
        assert!(out.contains("has-tty0\n"), "{out}");
    }
    assert!(out.contains("unmasked\n"), "{out}");
}
