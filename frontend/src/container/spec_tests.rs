use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::Value;

use super::*;
use crate::container::config::Ulimit;

struct Bundle {
    _dir: tempfile::TempDir,
    paths: ContainerPaths,
}

fn bundle() -> Bundle {
    let dir = tempfile::tempdir().unwrap();
    let paths = ContainerPaths::new(dir.path(), "c0ffee");
    std::fs::create_dir_all(paths.rootfs().join("etc")).unwrap();
    std::fs::write(
        paths.rootfs().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        paths.rootfs().join("etc/group"),
        "root:x:0:\nusers:x:100:nobody\nnogroup:x:65534:\n",
    )
    .unwrap();
    Bundle { _dir: dir, paths }
}

fn config() -> Config {
    Config {
        image: "busybox".into(),
        hostname: "c0ffee000000".into(),
        cmd: Some(vec!["sh".into()]),
        ..Config::default()
    }
}

fn generate_with(config: &Config, host: &HostConfig) -> Result<(Spec, Value), SpecError> {
    let b = bundle();
    let spec = generate(&SpecInput {
        id: "c0ffee",
        config,
        host,
        paths: &b.paths,
    })?;
    let json = serde_json::to_value(&spec).unwrap();
    Ok((spec, json))
}

fn ok(config: &Config, host: &HostConfig) -> Value {
    generate_with(config, host).unwrap().1
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn mount<'a>(spec: &'a Value, destination: &str) -> Option<&'a Value> {
    spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == destination)
}

#[test]
fn args_are_entrypoint_then_cmd() {
    let mut c = config();
    c.entrypoint = Some(vec!["/bin/echo".into(), "-n".into()]);
    c.cmd = Some(vec!["hi".into()]);
    let spec = ok(&c, &HostConfig::default());
    assert_eq!(strings(&spec["process"]["args"]), ["/bin/echo", "-n", "hi"]);
}

#[test]
fn no_args_is_the_no_command_error() {
    let mut c = config();
    c.cmd = None;
    let err = generate_with(&c, &HostConfig::default()).unwrap_err();
    assert!(err.to_string().contains("no command specified"), "{err}");
}

#[test]
fn env_has_a_default_path_the_hostname_and_term_with_a_tty() {
    let mut c = config();
    c.env = vec!["FOO=bar".into()];
    let env = strings(&ok(&c, &HostConfig::default())["process"]["env"]);
    assert_eq!(
        env,
        [
            format!("PATH={DEFAULT_PATH}"),
            "HOSTNAME=c0ffee000000".into(),
            "FOO=bar".into()
        ]
    );
    c.tty = true;
    c.env = vec!["PATH=/bin".into()];
    let spec = ok(&c, &HostConfig::default());
    let env = strings(&spec["process"]["env"]);
    assert_eq!(env, ["PATH=/bin", "HOSTNAME=c0ffee000000", "TERM=xterm"]);
    assert_eq!(spec["process"]["terminal"], true);
}

#[test]
fn cwd_is_the_workdir_made_in_the_rootfs_or_root() {
    assert_eq!(ok(&config(), &HostConfig::default())["process"]["cwd"], "/");
    let b = bundle();
    let mut c = config();
    c.working_dir = "/srv/app".into();
    let host = HostConfig::default();
    let spec = generate(&SpecInput {
        id: "x",
        config: &c,
        host: &host,
        paths: &b.paths,
    })
    .unwrap();
    assert_eq!(
        spec.process().as_ref().unwrap().cwd().to_str(),
        Some("/srv/app")
    );
    assert!(b.paths.rootfs().join("srv/app").is_dir());
    c.working_dir = "relative".into();
    assert!(generate_with(&c, &host).is_err());
}

#[test]
fn the_user_is_resolved_in_the_images_passwd_and_group() {
    let mut c = config();
    c.user = "nobody".into();
    let user = &ok(&c, &HostConfig::default())["process"]["user"];
    assert_eq!(
        (user["uid"].as_u64(), user["gid"].as_u64()),
        (Some(65534), Some(65534))
    );
    assert_eq!(user["additionalGids"], serde_json::json!([100]));
    c.user = "ghost".into();
    let err = generate_with(&c, &HostConfig::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unable to find user ghost: no matching entries in passwd file"
    );
}

#[test]
fn group_add_appends_gids_by_number_or_name() {
    let host = HostConfig {
        group_add: Some(vec!["users".into(), "4242".into()]),
        ..HostConfig::default()
    };
    let user = &ok(&config(), &host)["process"]["user"];
    assert_eq!(user["additionalGids"], serde_json::json!([100, 4242]));
}

#[test]
fn hostname_cgroups_path_and_rootfs() {
    let b = bundle();
    let host = HostConfig::default();
    let c = config();
    let spec = generate(&SpecInput {
        id: "c0ffee",
        config: &c,
        host: &host,
        paths: &b.paths,
    })
    .unwrap();
    assert_eq!(spec.hostname().as_deref(), Some("c0ffee000000"));
    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(
        linux.cgroups_path().as_ref().unwrap().to_str(),
        Some("/berth/c0ffee")
    );
    let root = spec.root().as_ref().unwrap();
    assert_eq!(root.path(), &b.paths.rootfs());
    assert_eq!(root.readonly(), Some(false));
}

fn namespaces(spec: &Spec) -> Vec<LinuxNamespaceType> {
    let linux = spec.linux().as_ref().unwrap();
    linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| n.typ())
        .collect()
}

#[test]
fn namespaces_are_new_except_the_network_with_host_networking() {
    let (spec, _) = generate_with(&config(), &HostConfig::default()).unwrap();
    let all = namespaces(&spec);
    for kind in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Cgroup,
    ] {
        assert!(all.contains(&kind), "{kind:?} missing: {all:?}");
    }
    let host = HostConfig {
        network_mode: "host".into(),
        ..HostConfig::default()
    };
    let (spec, _) = generate_with(&config(), &host).unwrap();
    assert!(!namespaces(&spec).contains(&LinuxNamespaceType::Network));
    let joined = HostConfig {
        network_mode: "container:other".into(),
        ..HostConfig::default()
    };
    assert!(generate_with(&config(), &joined).is_err());
}

#[test]
fn resources_carry_memory_cpus_shares_and_pids() {
    let host = HostConfig {
        memory: 64 << 20,
        nano_cpus: 1_500_000_000,
        cpu_shares: 512,
        pids_limit: Some(100),
        ..HostConfig::default()
    };
    let r = &ok(&config(), &host)["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 64 << 20);
    assert_eq!(r["memory"]["swap"], 128 << 20);
    assert_eq!(r["cpu"]["quota"], 150_000);
    assert_eq!(r["cpu"]["period"], 100_000);
    assert_eq!(r["cpu"]["shares"], 512);
    assert_eq!(r["pids"]["limit"], 100);
    let none = &ok(&config(), &HostConfig::default())["linux"]["resources"];
    assert!(
        none.get("memory").is_none() && none.get("cpu").is_none() && none.get("pids").is_none()
    );
}

#[test]
fn ulimits_become_rlimits() {
    let host = HostConfig {
        ulimits: Some(vec![Ulimit {
            name: "nofile".into(),
            soft: 100,
            hard: 200,
        }]),
        ..HostConfig::default()
    };
    let r = &ok(&config(), &host)["process"]["rlimits"];
    assert_eq!(r[0]["type"], "RLIMIT_NOFILE");
    assert_eq!(
        (r[0]["soft"].as_u64(), r[0]["hard"].as_u64()),
        (Some(100), Some(200))
    );
    for bad in [
        Ulimit {
            name: "wings".into(),
            soft: 1,
            hard: 1,
        },
        Ulimit {
            name: "nofile".into(),
            soft: 2,
            hard: 1,
        },
    ] {
        let host = HostConfig {
            ulimits: Some(vec![bad]),
            ..HostConfig::default()
        };
        assert!(generate_with(&config(), &host)
            .unwrap_err()
            .to_string()
            .contains("--ulimit"));
    }
}

#[test]
fn the_default_is_confined_with_dockers_caps_seccomp_and_masked_paths() {
    let spec = ok(&config(), &HostConfig::default());
    // oci-spec keeps capabilities in a set: compare as sets.
    let mut caps = strings(&spec["process"]["capabilities"]["bounding"]);
    caps.sort();
    let mut expected = security::DEFAULT_CAPS.map(String::from).to_vec();
    expected.sort();
    assert_eq!(caps, expected);
    assert!(spec["process"]["capabilities"]
        .get("ambient")
        .is_none_or(|a| a.is_null()));
    assert_eq!(spec["process"]["noNewPrivileges"], false);
    assert!(spec["linux"]["seccomp"]["syscalls"].is_array());
    let masked = strings(&spec["linux"]["maskedPaths"]);
    assert!(masked.contains(&"/proc/kcore".into()) && masked.contains(&"/proc/interrupts".into()));
    assert!(strings(&spec["linux"]["readonlyPaths"]).contains(&"/proc/sys".into()));
    assert_eq!(spec["linux"]["resources"]["devices"][0]["allow"], false);
    let sys = mount(&spec, "/sys").unwrap();
    assert!(strings(&sys["options"]).contains(&"ro".into()));
}

#[test]
fn privileged_has_all_caps_all_devices_and_nothing_hidden() {
    let host = HostConfig {
        privileged: true,
        ..HostConfig::default()
    };
    let spec = ok(&config(), &host);
    assert!(strings(&spec["process"]["capabilities"]["bounding"]).contains(&"CAP_SYS_ADMIN".into()));
    assert!(spec["linux"].get("seccomp").is_none_or(|s| s.is_null()));
    assert!(spec["linux"].get("maskedPaths").is_none_or(|s| s.is_null()));
    assert!(spec["linux"]
        .get("readonlyPaths")
        .is_none_or(|s| s.is_null()));
    assert_eq!(spec["linux"]["resources"]["devices"][0]["allow"], true);
    assert!(!strings(&mount(&spec, "/sys").unwrap()["options"]).contains(&"ro".into()));
}

#[test]
fn security_opts_set_no_new_privileges_and_unconfine_seccomp() {
    let host = HostConfig {
        security_opt: Some(vec![
            "no-new-privileges".into(),
            "seccomp=unconfined".into(),
        ]),
        ..HostConfig::default()
    };
    let spec = ok(&config(), &host);
    assert_eq!(spec["process"]["noNewPrivileges"], true);
    assert!(spec["linux"].get("seccomp").is_none_or(|s| s.is_null()));
    let bad = HostConfig {
        security_opt: Some(vec!["apparmor=x".into()]),
        ..HostConfig::default()
    };
    assert!(generate_with(&config(), &bad).is_err());
}

#[test]
fn read_only_rootfs_is_the_roots_flag() {
    let host = HostConfig {
        readonly_rootfs: true,
        ..HostConfig::default()
    };
    assert_eq!(ok(&config(), &host)["root"]["readonly"], true);
}

#[test]
fn mounts_include_kernel_filesystems_shm_and_the_etc_files() {
    let b = bundle();
    let host = HostConfig {
        shm_size: 1 << 20,
        ..HostConfig::default()
    };
    let c = config();
    let spec = generate(&SpecInput {
        id: "c0ffee",
        config: &c,
        host: &host,
        paths: &b.paths,
    })
    .unwrap();
    let spec = serde_json::to_value(spec).unwrap();
    for dest in [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ] {
        assert!(mount(&spec, dest).is_some(), "{dest} missing");
    }
    let shm = mount(&spec, "/dev/shm").unwrap();
    assert!(strings(&shm["options"]).contains(&"size=1048576".into()));
    let hosts = mount(&spec, "/etc/hosts").unwrap();
    assert_eq!(hosts["source"], b.paths.hosts().to_str().unwrap());
    assert_eq!(hosts["type"], "bind");
    assert_eq!(
        mount(&spec, "/etc/hostname").unwrap()["source"],
        b.paths.hostname().to_str().unwrap()
    );
    assert_eq!(
        mount(&spec, "/etc/resolv.conf").unwrap()["source"],
        b.paths.resolv_conf().to_str().unwrap()
    );
}

#[test]
fn user_mounts_come_parents_first_and_replace_covered_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().display();
    let host = HostConfig {
        binds: Some(vec![
            format!("{src}/sub:/data/sub:ro"),
            format!("{src}:/data"),
        ]),
        tmpfs: Some(BTreeMap::from([(
            "/dev/shm".to_string(),
            "size=1m".to_string(),
        )])),
        ..HostConfig::default()
    };
    let spec = ok(&config(), &host);
    let dests: Vec<_> = spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    let data = dests.iter().position(|d| *d == "/data").unwrap();
    let sub = dests.iter().position(|d| *d == "/data/sub").unwrap();
    assert!(data < sub);
    assert_eq!(dests.iter().filter(|d| **d == "/dev/shm").count(), 1);
    assert_eq!(mount(&spec, "/dev/shm").unwrap()["type"], "tmpfs");
    assert!(strings(&mount(&spec, "/dev/shm").unwrap()["options"]).contains(&"size=1m".into()));
}

#[test]
fn init_prepends_the_bound_init_binary() {
    let host = HostConfig {
        init: Some(true),
        ..HostConfig::default()
    };
    match generate_with(&config(), &host) {
        Ok((_, spec)) => {
            assert_eq!(
                strings(&spec["process"]["args"]),
                [mounts::INIT_DESTINATION, "--", "sh"]
            );
            let m = mount(&spec, mounts::INIT_DESTINATION).unwrap();
            assert!(strings(&m["options"]).contains(&"ro".into()));
        }
        Err(e) => assert!(e.to_string().contains("--init"), "{e}"),
    }
}
